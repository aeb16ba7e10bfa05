"""The conformance suite's kernels: a fixed set every backend provides in its own source language.

Every kernel runs one element per workgroup (the suite launches with local_size (1, 1, 1)) and
indexes by the workgroup ids gx, gy, gz. Buffers hold little-endian elements; 32-bit scalar
parameters may be declared int32 or uint32 (the suite passes only values in [0, 2**31)).

    empty()                                    does nothing.
    fill_u32(buffer out, uint32 value)         out[gx] = value                 (out: uint32[])
    add_f32(buffer a, buffer b, buffer out)    out[gx] = a[gx] + b[gx]         (float32[])
    increment_u32(buffer x)                    x[gx] += 1                      (uint32[], wraps)
    scale_f32(buffer x, float32 s)             x[gx] *= s                      (float32[])
    grid_u32(buffer out, uint32 nx, uint32 ny) i = (gz*ny + gy)*nx + gx; out[i] = i   (uint32[])
    scalars_i64(buffer out, int64 a, float64 b) when gx == 0: out[0] = a; out[1] = (int64) trunc(b)
                                               (out: int64[]; other workgroups write nothing)

Parameters appear in exactly this order. A backend supplies the sources through the registration
hook `tinyhw_conformance_kernels(renderer)`, returning {kernel name: source} where each source
holds that one kernel (the suite compiles it with `entry=None`) and `Device.compile` accepts it.
Sources for the built-in renderers ("llvm-cpu") live here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tinyhw.device import Device

__all__ = ["KERNEL_NAMES", "LLVM_CPU", "kernels_for"]

KERNEL_NAMES = ("empty", "fill_u32", "add_f32", "increment_u32", "scale_f32", "grid_u32", "scalars_i64")
"""The kernels every backend must provide, by name."""

_GROUP_IDS = "i32 %gx, i32 %gy, i32 %gz"


def _cpu_kernel(name: str, params: str, body: str) -> str:
    """An LLVM IR CPU kernel `name(params..., group ids)` whose entry block is `body`."""
    separator = ", " if params else ""
    return f"define void @{name}({params}{separator}{_GROUP_IDS}) {{\nentry:\n{body}\n}}\n"


def _element(array: str, type_: str, index: str = "%gx") -> str:
    """IR putting the address of `array`[`index`] (an i32) in %`array`.p."""
    return f"  %{array}.i = zext i32 {index} to i64\n  %{array}.p = getelementptr inbounds {type_}, ptr %{array}, i64 %{array}.i\n"


LLVM_CPU: dict[str, str] = {
    "empty": _cpu_kernel("empty", "", "  ret void"),
    "fill_u32": _cpu_kernel(
        "fill_u32", "ptr %out, i32 %value", _element("out", "i32") + "  store i32 %value, ptr %out.p\n  ret void"
    ),
    "add_f32": _cpu_kernel(
        "add_f32",
        "ptr %a, ptr %b, ptr %out",
        _element("a", "float") + _element("b", "float") + _element("out", "float")
        + "  %av = load float, ptr %a.p\n  %bv = load float, ptr %b.p\n  %r = fadd float %av, %bv\n"
        + "  store float %r, ptr %out.p\n  ret void",
    ),  # fmt: skip
    "increment_u32": _cpu_kernel(
        "increment_u32",
        "ptr %x",
        _element("x", "i32") + "  %v = load i32, ptr %x.p\n  %r = add i32 %v, 1\n  store i32 %r, ptr %x.p\n  ret void",
    ),
    "scale_f32": _cpu_kernel(
        "scale_f32",
        "ptr %x, float %s",
        _element("x", "float") + "  %v = load float, ptr %x.p\n  %r = fmul float %v, %s\n  store float %r, ptr %x.p\n"
        "  ret void",
    ),
    "grid_u32": _cpu_kernel(
        "grid_u32",
        "ptr %out, i32 %nx, i32 %ny",
        "  %zy = mul i32 %gz, %ny\n  %row = add i32 %zy, %gy\n  %rx = mul i32 %row, %nx\n  %idx = add i32 %rx, %gx\n"
        + _element("out", "i32", "%idx") + "  store i32 %idx, ptr %out.p\n  ret void",
    ),  # fmt: skip
    "scalars_i64": _cpu_kernel(
        "scalars_i64",
        "ptr %out, i64 %a, double %b",
        "  %first = icmp eq i32 %gx, 0\n  br i1 %first, label %write, label %done\nwrite:\n  store i64 %a, ptr %out\n"
        "  %t = fptosi double %b to i64\n  %p1 = getelementptr inbounds i64, ptr %out, i64 1\n  store i64 %t, ptr %p1\n"
        "  br label %done\ndone:\n  ret void",
    ),
}
"""The suite's kernels in LLVM IR for the CPU kernel ABI (see `tinyhw.cpu.compiler`)."""

BUILTIN: dict[str, dict[str, str]] = {"llvm-cpu": LLVM_CPU}
"""Built-in kernel sources by renderer name."""


def kernels_for(device: Device) -> dict[str, str]:
    """The conformance kernels' sources for `device`'s renderer: built-in, else from its plugin.

    Plugins answer the `tinyhw_conformance_kernels(renderer=...)` registration hook; the first
    non-None answer wins. Raises LookupError when no source is known for the renderer.
    """
    renderer = device.backend.renderer
    if renderer in BUILTIN:
        return dict(BUILTIN[renderer])
    from tinyhw.registry import registry

    found = registry.manager.hook.tinyhw_conformance_kernels(renderer=renderer) if renderer else None
    if found is None:
        raise LookupError(f"backend {device.backend.name} (renderer {renderer}) provides no conformance kernels; "
                          "implement tinyhw_conformance_kernels")  # fmt: skip
    return dict(found)
