"""The conformance suite's kernels for AMD GPUs: written once in kernel IR, rendered by the AMDGPU dialect.

`tinyhw.testing.kernels` defines what each kernel does (one element per workgroup, indexed by the
workgroup ids); here they are built with `KernelBuilder` and rendered with the "llvm-amdgpu"
renderer, so the suite (and `tinyhw selftest`) runs exactly the LLVM IR the tensor frontend would.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from tinyhw.kernel.dtypes import float32, float64, int64, uint32
from tinyhw.kernel.ir import Kernel, KernelBuilder, load
from tinyhw.kernel.render import render

__all__ = ["conformance_kernels"]


def _empty(k: KernelBuilder) -> None:
    pass


def _fill_u32(k: KernelBuilder) -> None:
    out, value = k.buffer("out", uint32), k.scalar("value", uint32)
    k.store(out, k.group_id(0), value)


def _add_f32(k: KernelBuilder) -> None:
    a, b, out = k.buffer("a", float32), k.buffer("b", float32), k.buffer("out", float32)
    gx = k.group_id(0)
    k.store(out, gx, load(a, gx) + load(b, gx))


def _increment_u32(k: KernelBuilder) -> None:
    x = k.buffer("x", uint32)
    gx = k.group_id(0)
    k.store(x, gx, load(x, gx) + 1)


def _scale_f32(k: KernelBuilder) -> None:
    x, s = k.buffer("x", float32), k.scalar("s", float32)
    gx = k.group_id(0)
    k.store(x, gx, load(x, gx) * s)


def _grid_u32(k: KernelBuilder) -> None:
    out, nx, ny = k.buffer("out", uint32), k.scalar("nx", uint32), k.scalar("ny", uint32)
    gx, gy, gz = (k.group_id(axis).cast(uint32) for axis in range(3))
    index = (gz * ny + gy) * nx + gx
    k.store(out, index, index)


def _scalars_i64(k: KernelBuilder) -> None:
    out, a, b = k.buffer("out", int64), k.scalar("a", int64), k.scalar("b", float64)
    with k.if_(k.group_id(0).eq(0)):
        k.store(out, 0, a)
        k.store(out, 1, b.cast(int64))


_BUILDERS: dict[str, Callable[[KernelBuilder], None]] = {
    "empty": _empty,
    "fill_u32": _fill_u32,
    "add_f32": _add_f32,
    "increment_u32": _increment_u32,
    "scale_f32": _scale_f32,
    "grid_u32": _grid_u32,
    "scalars_i64": _scalars_i64,
}


def _kernel(name: str) -> Kernel:
    k = KernelBuilder(name)
    _BUILDERS[name](k)
    return k.build()


@functools.cache
def conformance_kernels(renderer: str) -> dict[str, str]:
    """{kernel name: source} of every conformance kernel, rendered by `renderer` ("llvm-amdgpu")."""
    return {name: render(_kernel(name), renderer).source for name in _BUILDERS}
