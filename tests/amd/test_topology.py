"""KFD topology: GPU nodes in node order with their shape, memory and render node; clear errors for bad files."""

from __future__ import annotations

import pytest
from amd_fake_os import TOPOLOGY, VRAM, FakeOS, bank_text, rx7900xtx_files

from tinyhw.errors import PluginError
from tinyhw_amd.topology import gpu_nodes, no_gpu_reason


def test_an_rx_7900_xtx_as_kfd_describes_it() -> None:
    (gpu,) = gpu_nodes(FakeOS(rx7900xtx_files()))
    assert (gpu.node, gpu.gpu_id, gpu.name, gpu.target) == (1, 0xB5E1, "gfx1100", "gfx1100")
    assert (gpu.compute_units, gpu.simds, gpu.simd_per_cu, gpu.wave_size, gpu.lds_size) == (96, 192, 2, 32, 65536)
    assert gpu.vram_size == VRAM and gpu.system_size == 0 and gpu.memory_banks[0].properties["width"] == 384
    assert gpu.drm_render_minor == 128 and gpu.doorbell_type == 2  # 64-bit SOC15 doorbells
    assert gpu.properties["device_id"] == 0x744C and gpu.properties["num_sdma_engines"] == 2


def test_gpu_nodes_come_in_node_order_and_skip_cpu_nodes() -> None:
    files = rx7900xtx_files(gpus=11)
    gpus = gpu_nodes(FakeOS(files))
    assert [g.node for g in gpus] == list(range(1, 12))  # numeric order: node 10 after node 9
    assert [g.drm_render_minor for g in gpus] == list(range(128, 139))


def test_a_gpu_without_a_name_file_is_named_by_its_target() -> None:
    files = rx7900xtx_files(gfx_target_version=110001)
    del files[f"{TOPOLOGY}/nodes/1/name"]
    assert gpu_nodes(FakeOS(files))[0].name == "gfx1101"


def test_system_memory_heaps_count_as_gtt() -> None:
    files = rx7900xtx_files() | {f"{TOPOLOGY}/nodes/1/mem_banks/1/properties": bank_text(0, 8 << 30, 64)}
    gpu = gpu_nodes(FakeOS(files))[0]
    assert (gpu.vram_size, gpu.system_size) == (VRAM, 8 << 30)


def test_no_kfd_means_no_gpus_and_a_reason() -> None:
    access = FakeOS({})
    assert gpu_nodes(access) == () and no_gpu_reason(access) == "no AMD GPU found (no /dev/kfd)"


def test_kfd_without_gpu_nodes_says_so() -> None:
    files = {p: t for p, t in rx7900xtx_files().items() if "/nodes/1/" not in p}
    assert gpu_nodes(FakeOS(files)) == ()
    assert no_gpu_reason(FakeOS(files)) == "no AMD GPU found (KFD's topology lists no GPU node)"
    assert "exists but" in no_gpu_reason(FakeOS({"/dev/kfd": ""}))


@pytest.mark.parametrize(
    ("path", "text", "message"),
    [
        ("nodes/1/properties", "simd_count 192\nwave_front_size thirty-two\n",
         r"nodes/1/properties, line 2: 'wave_front_size thirty-two' is not 'key integer'"),
        ("nodes/1/properties", "simd_count 192\n", r"nodes/1/properties lacks gfx_target_version, simd_per_cu"),
        ("nodes/1/gpu_id", "gpu\n", r"nodes/1/gpu_id: 'gpu' is not an integer"),
        ("nodes/1/mem_banks/0/properties", "flags 0\n", r"mem_banks/0/properties lacks heap_type or size_in_bytes"),
        ("nodes/cpu/gpu_id", "0\n", r"nodes holds \['cpu'\], expected node numbers"),
    ],
)  # fmt: skip
def test_malformed_topology_files_are_named(path: str, text: str, message: str) -> None:
    files = rx7900xtx_files() | {f"{TOPOLOGY}/{path}": text}
    with pytest.raises(PluginError, match=message):
        gpu_nodes(FakeOS(files))


def test_an_unreadable_properties_file_is_named() -> None:
    files = rx7900xtx_files()
    del files[f"{TOPOLOGY}/nodes/1/properties"]
    with pytest.raises(PluginError, match=r"cannot read KFD topology file .*/nodes/1/properties: .*No such file"):
        gpu_nodes(FakeOS(files))
