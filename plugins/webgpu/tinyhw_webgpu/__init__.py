"""tinyhw-webgpu: WebGPU devices through wgpu-native (Vulkan, Metal, D3D12; Mesa's lavapipe on a CPU).

tinyhw loads this module through the `tinyhw` entry point and calls its registration hooks:

- `tinyhw_backends`: the "webgpu" backend; devices `webgpu:0`, ... are the wgpu adapters on the
  Vulkan, Metal and D3D12 backends (wgpu's OpenGL backend is left out: its compute support is
  partial). No adapter gives no devices, not an error;
- `tinyhw_renderers`: the WGSL renderer as "wgsl", so the tensor frontend and `compile_kernel`
  render kernel IR for these devices;
- `tinyhw_conformance_kernels`: the conformance suite's kernels in WGSL.

The wgpu package is imported only when adapters are counted or a device opens.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from tinyhw import Backend, Capabilities, hookimpl

__all__ = ["tinyhw_backends", "tinyhw_renderers", "tinyhw_conformance_kernels", "adapters", "CAPABILITIES"]

__version__ = "0.1.0"

API_VERSION = "1.0"
"""The tinyhw API this plugin was written for (a literal, so another major is refused)."""

RENDERER = "wgsl"
BACKENDS = ("Vulkan", "Metal", "D3D12")
"""wgpu backends whose adapters become devices."""

_NO_64 = "WGSL has no 64-bit integers (wgpu-native's shader-int64 is used by hand-written kernels only)"
CAPABILITIES = Capabilities(
    features=frozenset({"simt"}),
    unsupported={
        "hcq": "WebGPU exposes no command rings or timeline signals; the device implements the hooks directly",
        "graph": "no command queues to record; WebGPU launches are recorded and submitted in batches at sync",
        "host-visible-memory": "WebGPU storage buffers cannot be mapped by the host; copies stage through the queue",
        "dtype:int64": _NO_64,
        "dtype:uint64": _NO_64,
        "dtype:float64": "WGSL has no f64 (wgpu-native's shader-f64 is used by hand-written kernels only)",
    },
)
"""bool, 8- and 16-bit integers, float16 and bfloat16 are packed in 32-bit words (packing.py); 64-bit dtypes
are refused."""


@functools.cache
def adapters() -> tuple[Any, ...]:
    """The wgpu adapters that become devices, in wgpu's order; () when there is none."""
    import wgpu

    try:
        from wgpu.backends.wgpu_native.extras import set_instance_extras

        set_instance_extras(backends=["Vulkan", "Metal", "DX12"])  # keeps the GL backend from probing displays
    except Exception:  # the instance may exist already; filtering below still applies
        pass
    return tuple(a for a in wgpu.gpu.enumerate_adapters_sync() if a.info["backend_type"] in BACKENDS)


def _open(index: int) -> Any:
    from tinyhw_webgpu.device import WebGPUDevice

    return WebGPUDevice(f"webgpu:{index}", adapters()[index])


@hookimpl
def tinyhw_backends() -> list[Backend]:
    return [Backend(name="webgpu", version=__version__, api_version=API_VERSION, device_count=lambda: len(adapters()),
                    open=_open, priority=-5, renderer=RENDERER, capabilities=CAPABILITIES)]  # fmt: skip


def _render_wgsl(kernel: Any) -> Any:
    """tinyhw_webgpu.wgsl.render_wgsl, imported on first use (every process that opens a device collects renderers)."""
    from tinyhw_webgpu.wgsl import render_wgsl

    return render_wgsl(kernel)


@hookimpl
def tinyhw_renderers() -> dict[str, Callable]:
    return {RENDERER: _render_wgsl}


@hookimpl
def tinyhw_conformance_kernels(renderer: str) -> dict[str, str] | None:
    if renderer != RENDERER:
        return None
    from tinyhw_webgpu.conformance import KERNELS

    return dict(KERNELS)
