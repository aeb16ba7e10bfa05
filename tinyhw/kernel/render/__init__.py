"""Renderers: kernel IR to a backend's source language, and compiling kernels on a device.

A renderer is a function `Kernel -> RenderedKernel`, found by the name a backend gives as
`Backend.renderer`: the core's own are in `RENDERERS`, and plugins add theirs through the
`tinyhw_renderers` registration hook (so "wgsl" exists whenever tinyhw-webgpu is installed).
`compile_kernel(device, kernel)` renders with the device's renderer and compiles through
`Device.compile`, remembering the Program per device and kernel.

    from tinyhw.kernel.render import compile_kernel
    program = compile_kernel(tinyhw.Device("cpu"), kernel)
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from tinyhw.kernel.ir import Kernel
from tinyhw.kernel.render.base import RenderedKernel, SourceRenderer
from tinyhw.kernel.render.llvm import render_llvm
from tinyhw.kernel.render.llvm_dialects import AMDGPU, CPU, NVPTX
from tinyhw.kernel.render.opencl import render_opencl

if TYPE_CHECKING:
    from tinyhw.device import Device
    from tinyhw.program import Program

__all__ = ["RENDERERS", "RenderedKernel", "SourceRenderer", "compile_kernel", "render", "render_for", "renderers"]

RENDERERS: dict[str, Callable[[Kernel], RenderedKernel]] = {
    "llvm-cpu": partial(render_llvm, dialect=CPU),
    "llvm-amdgpu": partial(render_llvm, dialect=AMDGPU),
    "llvm-nvptx": partial(render_llvm, dialect=NVPTX),
    "opencl": render_opencl,
}
"""The core's renderer functions by `Backend.renderer` name (plugins' come from the registry)."""


def renderers() -> dict[str, Callable[[Kernel], RenderedKernel]]:
    """Every known renderer by name: the core's (`RENDERERS`) and those plugins provide (`tinyhw_renderers`)."""
    from tinyhw.registry import registry

    return {**registry.renderers(), **RENDERERS}


def render(kernel: Kernel, renderer: str) -> RenderedKernel:
    """Render `kernel` with the renderer named `renderer`; ValueError listing the known ones if unknown."""
    function = RENDERERS.get(renderer)
    if function is None:
        known = renderers()
        function = known.get(renderer)
        if function is None:
            raise ValueError(f"unknown renderer {renderer!r}; known: {', '.join(sorted(known))}")
    return function(kernel)


def render_for(device: Device, kernel: Kernel) -> RenderedKernel:
    """`kernel` rendered with `device.backend.renderer`; ValueError when the device has none."""
    renderer = device.backend.renderer
    if renderer is None:
        raise ValueError(f"device {device.name} (backend {device.backend.name}) has no kernel renderer")
    return render(kernel, renderer)


class _Programs:
    """One device's compiled kernels: by identity first (one dict lookup), then by value."""

    __slots__ = ("by_id", "by_kernel")

    def __init__(self) -> None:
        self.by_id: dict[int, tuple[Kernel, Program]] = {}
        self.by_kernel: dict[Kernel, Program] = {}


_PROGRAMS: weakref.WeakKeyDictionary[Device, _Programs] = weakref.WeakKeyDictionary()


def compile_kernel(device: Device, kernel: Kernel) -> Program:
    """The Program for `kernel` on `device`: rendered with `device.backend.renderer` and compiled once.

    A kernel seen before (the same object, or an equal one) costs a dict lookup; a new one is
    rendered and passed to `Device.compile` (which has its own cache by source text, in memory and
    on disk). Raises ValueError when the device has no renderer, IRError for IR the renderer
    cannot express, and CompileError from the device's compiler.
    """
    programs = _PROGRAMS.get(device)
    if programs is None:
        programs = _PROGRAMS[device] = _Programs()
    hit = programs.by_id.get(id(kernel))
    if hit is not None and hit[0] is kernel:
        return hit[1]
    program = programs.by_kernel.get(kernel)
    if program is None:
        rendered = render_for(device, kernel)
        program = programs.by_kernel[kernel] = device.compile(rendered.source, rendered.entry)
    programs.by_id[id(kernel)] = (kernel, program)  # holds `kernel`, so its id is not reused
    return program
