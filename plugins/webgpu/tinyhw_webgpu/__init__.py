"""tinyhw-webgpu: WebGPU devices through wgpu-native (Vulkan, Metal, D3D12; Mesa's lavapipe on a CPU).

tinyhw loads this module through the `tinyhw` entry point and calls its registration hooks:

- `tinyhw_backends`: the "webgpu" backend; devices `webgpu:0`, ... are the wgpu adapters on the
  Vulkan, Metal and D3D12 backends (wgpu's OpenGL backend is left out: its compute support is
  partial). No adapter gives no devices, not an error;
- `tinyhw_conformance_kernels`: the conformance suite's kernels in WGSL.

Importing it also registers the WGSL renderer as "wgsl" in `tinyhw.kernel.render.RENDERERS`, so the
tensor frontend and `compile_kernel` can render kernel IR for these devices. The wgpu package is
imported only when adapters are counted or a device opens.
"""

from __future__ import annotations

import functools
from typing import Any

from tinyhw import Backend, Capabilities, hookimpl

__all__ = ["tinyhw_backends", "tinyhw_conformance_kernels", "adapters", "CAPABILITIES"]

__version__ = "0.1.0"

API_VERSION = "1.0"
"""The tinyhw API this plugin was written for (a literal, so another major is refused)."""

RENDERER = "wgsl"
BACKENDS = ("Vulkan", "Metal", "D3D12")
"""wgpu backends whose adapters become devices."""

_NO_8_16 = "WGSL has no 8- or 16-bit integer storage (and tinyhw-webgpu does not emulate it)"
CAPABILITIES = Capabilities(
    features=frozenset(),
    unsupported={
        "hcq": "WebGPU exposes no command rings or timeline signals; the device implements the hooks directly",
        "graph": "no command queues to record; WebGPU launches are submitted one by one",
        "host-visible-memory": "WebGPU storage buffers cannot be mapped by the host; copies stage through the queue",
        "dtype:int8": _NO_8_16,
        "dtype:uint8": _NO_8_16,
        "dtype:int16": _NO_8_16,
        "dtype:uint16": _NO_8_16,
        "dtype:bool": "WGSL has no 8-bit storage for bools (tinyhw stores bools as bytes)",
        "dtype:bfloat16": "WGSL has no bfloat16",
        "dtype:float16": "needs the adapter feature shader-f16; the WGSL renderer does not emit f16 yet",
        "dtype:int64": "WGSL has no 64-bit integers (wgpu-native's shader-int64 is used by hand-written kernels only)",
        "dtype:uint64": "WGSL has no 64-bit integers (wgpu-native's shader-int64 is used by hand-written kernels only)",
        "dtype:float64": "WGSL has no f64 (wgpu-native's shader-f64 is used by hand-written kernels only)",
    },
    expected_failures={
        "test_fill[65536]": "WebGPU caps workgroups per dimension at maxComputeWorkgroupsPerDimension (65535 here)",
    },
)


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


@hookimpl
def tinyhw_conformance_kernels(renderer: str) -> dict[str, str] | None:
    if renderer != RENDERER:
        return None
    from tinyhw_webgpu.conformance import KERNELS

    return dict(KERNELS)


def _register_renderer() -> None:
    from tinyhw.kernel.render import RENDERERS
    from tinyhw_webgpu.wgsl import render_wgsl

    RENDERERS.setdefault(RENDERER, render_wgsl)


_register_renderer()
