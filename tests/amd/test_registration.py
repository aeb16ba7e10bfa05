"""The "amd" backend as users meet it: `tinyhw devices`, explicit requests for amd:N, the default device."""

from __future__ import annotations

import os
import warnings

import pytest
from amd_fake_os import rx7900xtx_files

import tinyhw
import tinyhw_amd
from tinyhw.cli import main
from tinyhw.registry import registry
from tinyhw.testing.kernels import KERNEL_NAMES
from tinyhw_amd.code_object import compile_gfx, load_code_object


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def amd_backend() -> tinyhw.Backend:
    return next(b for b in registry.backends() if b.name == "amd")


def test_the_plugin_is_installed_and_registered() -> None:
    registry.discover()
    assert registry.plugins["amd"].error is None and registry.plugins["amd"].version == tinyhw_amd.__version__
    backend = amd_backend()
    assert (backend.renderer, backend.api_version, backend.priority) == ("llvm-amdgpu", tinyhw.API_VERSION, 10)


@pytest.mark.skipif(os.path.exists("/dev/kfd"), reason="this machine has /dev/kfd")
def test_devices_here_shows_why_there_is_no_amd_gpu(capsys, this_machine) -> None:
    code, out, _ = run(capsys, "devices")
    assert code == 0 and "  amd 0.1.0: ok (amd)" in out
    assert "backend amd (plugin amd 0.1.0, API 1.0, priority 10)" in out
    assert "  devices: none: no AMD GPU found (no /dev/kfd)" in out


def test_an_explicit_request_names_the_reason(capsys, machine) -> None:
    machine({})
    code, _, err = run(capsys, "selftest", "amd:0")
    assert code == 2
    assert "no device 'amd:0' (amd has 0: no AMD GPU found (no /dev/kfd))" in err
    with pytest.raises(tinyhw.DeviceNotFound, match=r"amd has 0: no AMD GPU found \(no /dev/kfd\)"):
        tinyhw.Device("amd")


def test_the_default_device_skips_an_empty_backend_quietly(machine, monkeypatch) -> None:
    monkeypatch.delenv("TINYHW_DEVICE", raising=False)
    machine({})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert tinyhw.Device().name != "amd:0"
    assert not [w for w in caught if "amd" in str(w.message)]


def test_gpus_in_kfd_topology_are_counted_in_node_order(machine) -> None:
    machine(rx7900xtx_files(gpus=2))
    assert amd_backend().device_count() == 2
    assert {"amd:0", "amd:1"} <= set(tinyhw.devices())


def test_a_user_outside_the_render_group_is_told_how_to_join_it(capsys, machine) -> None:
    machine(rx7900xtx_files())  # its /dev/kfd refuses to open, as LinuxOSAccess does for such a user
    code, out, _ = run(capsys, "devices")
    (line,) = [line for line in out.splitlines() if line.startswith("  amd:0: error: ")]
    assert "permission denied opening /dev/kfd" in line and "`sudo usermod -aG render,video $USER`" in line
    with pytest.raises(tinyhw.PluginError, match="permission denied opening /dev/kfd"):
        tinyhw.Device("amd:0")


def test_an_unsupported_gpu_is_refused_by_name(machine) -> None:
    machine(rx7900xtx_files(gfx_target_version=90402, wave_front_size=64))
    with pytest.raises(tinyhw.PluginError, match=r"gfx942 \(CDNA3: Instinct MI300X.*\) is not supported"):
        tinyhw.Device("amd:0")


def test_a_malformed_topology_shows_as_a_device_count_error(capsys, machine) -> None:
    files = rx7900xtx_files()
    files["/sys/devices/virtual/kfd/kfd/topology/nodes/1/properties"] += "simd_count many\n"
    machine(files)
    code, out, _ = run(capsys, "devices")
    assert "backend amd" in out and "devices: error: PluginError: malformed KFD topology file" in out


def test_the_conformance_kernels_compile_for_rdna3() -> None:
    kernels = tinyhw_amd.tinyhw_conformance_kernels("llvm-amdgpu")
    assert tuple(kernels) == KERNEL_NAMES and tinyhw_amd.tinyhw_conformance_kernels("llvm-cpu") is None
    loaded = {name: load_code_object(compile_gfx(source)).kernels for name, source in kernels.items()}
    assert all(list(kernels_of) == [name] for name, kernels_of in loaded.items())
    assert loaded["scalars_i64"]["scalars_i64"].kernarg_size == 8 + 8 + 8  # out, int64 a, float64 b
    assert loaded["grid_u32"]["grid_u32"].rsrc2 >> 7 & 0b111 == 0b111  # workgroup ids x, y and z enabled
