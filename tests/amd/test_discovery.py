"""IP discovery: NBIO's register bases read from amdgpu's sysfs, with errors naming the file."""

from __future__ import annotations

import pytest
from amd_fake_os import NBIO_BASES, FakeOS, nbio_discovery_path, rx7900xtx_files

from tinyhw.errors import PluginError
from tinyhw_amd.discovery import NBIO_BLOCK, block_bases


def test_the_nbio_bases_of_an_rx_7900_xtx() -> None:
    assert block_bases(FakeOS(rx7900xtx_files()), 128, NBIO_BLOCK) == NBIO_BASES


def test_each_gpu_is_read_through_its_own_render_node() -> None:
    files = rx7900xtx_files(gpus=2) | {nbio_discovery_path(129): "0x00000000\n0x00000014\n0x00000D30\n"}
    assert block_bases(FakeOS(files), 129, NBIO_BLOCK) == (0, 0x14, 0xD30)


def test_a_kernel_without_ip_discovery_is_a_plugin_error_naming_the_file() -> None:
    files = rx7900xtx_files()
    del files[nbio_discovery_path(128)]
    with pytest.raises(PluginError, match=r"renderD128/device/ip_discovery/die/0/NBIF/0/base_addr"):
        block_bases(FakeOS(files), 128, NBIO_BLOCK)


@pytest.mark.parametrize("text", ["", "0xD20\nbase\n"])
def test_a_malformed_base_addr_file_is_a_plugin_error(text: str) -> None:
    files = rx7900xtx_files() | {nbio_discovery_path(128): text}
    with pytest.raises(PluginError, match="malformed IP discovery file"):
        block_bases(FakeOS(files), 128, NBIO_BLOCK)
