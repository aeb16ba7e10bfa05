"""tinyhw-amd: AMD Radeon GPUs through the amdgpu kernel driver's KFD interface, with no ROCm.

tinyhw loads this module through the `tinyhw` entry point and calls `tinyhw_backends`: the "amd"
backend, whose devices `amd:0`, `amd:1`, ... are the GPU nodes of KFD's topology in node order
(read through the core's OS-access seam, so a simulated machine can stand in for a real one).
Kernels are rendered by the core's LLVM renderer in its AMDGPU dialect ("llvm-amdgpu"), compiled
by llvmlite for the GPU's gfx target and loaded by tinyhw's own code-object loader.

Without /dev/kfd there are no devices, not an error: `tinyhw devices` says "no AMD GPU found (no
/dev/kfd)". Opening one creates its KFD compute (PM4) and SDMA queues (tinyhw_amd.device). See docs/amd.md.
"""

from __future__ import annotations

from typing import Any

from tinyhw import Backend, Capabilities, hookimpl
from tinyhw.hcq.os_access import os_access
from tinyhw_amd.topology import gpu_nodes, no_gpu_reason

__all__ = ["tinyhw_backends", "tinyhw_conformance_kernels", "CAPABILITIES", "RENDERER"]

__version__ = "0.1.0"

API_VERSION = "1.0"
"""The tinyhw API this plugin was written for (a literal, so another major is refused)."""

RENDERER = "llvm-amdgpu"
PRIORITY = 10
"""Above the CPU (0): a working GPU is the better default device."""

CAPABILITIES = Capabilities(
    features=frozenset({"hcq", "graph", "simt"}),
    unsupported={
        "float64-math": "no device math library: float64 exp/log/sin/... are refused; cast to float32 first",
    },
)


def _device_count() -> int:
    return len(gpu_nodes(os_access()))


def _no_devices_reason() -> str:
    return no_gpu_reason(os_access())


def _open(index: int) -> Any:
    from tinyhw_amd.device import AMDDevice  # imported on open: listing devices stays cheap

    node = gpu_nodes(os_access())[index]  # the registry checked `index` against the device count
    return AMDDevice(node, f"amd:{index}")  # refuses targets tinyhw-amd cannot drive, by name


@hookimpl
def tinyhw_backends() -> list[Backend]:
    return [Backend(name="amd", version=__version__, api_version=API_VERSION, device_count=_device_count,
                    open=_open, priority=PRIORITY, renderer=RENDERER, capabilities=CAPABILITIES,
                    no_devices_reason=_no_devices_reason)]  # fmt: skip


@hookimpl
def tinyhw_conformance_kernels(renderer: str) -> dict[str, str] | None:
    if renderer != RENDERER:
        return None
    from tinyhw_amd.conformance import conformance_kernels

    return dict(conformance_kernels(renderer))
