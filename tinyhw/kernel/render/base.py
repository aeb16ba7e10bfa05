"""What every renderer returns: the source text, the kernel's entry point, and the renderer's name."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RenderedKernel"]


@dataclass(frozen=True, slots=True)
class RenderedKernel:
    """A kernel rendered to a backend's source language.

    source: the text `Device.compile` accepts (one module holding the kernel).
    entry: the kernel's function name in `source`, passed to `Device.compile` as `entry`.
    renderer: the `Backend.renderer` name it was rendered for ("llvm-cpu", "opencl", ...).
    """

    source: str
    entry: str
    renderer: str
