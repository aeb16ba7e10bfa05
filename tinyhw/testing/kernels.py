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

LLVM_CPU: dict[str, str] = {
    "empty": """
define void @empty(i32 %group_x, i32 %group_y, i32 %group_z) {
  ret void
}
""",
    "fill_u32": """
define void @fill_u32(ptr %out, i32 %value, i32 %group_x, i32 %group_y, i32 %group_z) {
  %i = zext i32 %group_x to i64
  %p = getelementptr inbounds i32, ptr %out, i64 %i
  store i32 %value, ptr %p
  ret void
}
""",
    "add_f32": """
define void @add_f32(ptr %a, ptr %b, ptr %out, i32 %group_x, i32 %group_y, i32 %group_z) {
  %i = zext i32 %group_x to i64
  %pa = getelementptr inbounds float, ptr %a, i64 %i
  %pb = getelementptr inbounds float, ptr %b, i64 %i
  %po = getelementptr inbounds float, ptr %out, i64 %i
  %va = load float, ptr %pa
  %vb = load float, ptr %pb
  %r = fadd float %va, %vb
  store float %r, ptr %po
  ret void
}
""",
    "increment_u32": """
define void @increment_u32(ptr %x, i32 %group_x, i32 %group_y, i32 %group_z) {
  %i = zext i32 %group_x to i64
  %p = getelementptr inbounds i32, ptr %x, i64 %i
  %v = load i32, ptr %p
  %r = add i32 %v, 1
  store i32 %r, ptr %p
  ret void
}
""",
    "scale_f32": """
define void @scale_f32(ptr %x, float %s, i32 %group_x, i32 %group_y, i32 %group_z) {
  %i = zext i32 %group_x to i64
  %p = getelementptr inbounds float, ptr %x, i64 %i
  %v = load float, ptr %p
  %r = fmul float %v, %s
  store float %r, ptr %p
  ret void
}
""",
    "grid_u32": """
define void @grid_u32(ptr %out, i32 %nx, i32 %ny, i32 %group_x, i32 %group_y, i32 %group_z) {
  %zy = mul i32 %group_z, %ny
  %row = add i32 %zy, %group_y
  %rx = mul i32 %row, %nx
  %idx = add i32 %rx, %group_x
  %i = zext i32 %idx to i64
  %p = getelementptr inbounds i32, ptr %out, i64 %i
  store i32 %idx, ptr %p
  ret void
}
""",
    "scalars_i64": """
define void @scalars_i64(ptr %out, i64 %a, double %b, i32 %group_x, i32 %group_y, i32 %group_z) {
entry:
  %first = icmp eq i32 %group_x, 0
  br i1 %first, label %write, label %done
write:
  store i64 %a, ptr %out
  %t = fptosi double %b to i64
  %p1 = getelementptr inbounds i64, ptr %out, i64 1
  store i64 %t, ptr %p1
  br label %done
done:
  ret void
}
""",
}
"""The suite's kernels in LLVM IR for the CPU kernel ABI (see `tinyhw.cpu.compiler`): user
parameters, then the workgroup ids `i32 %group_x, i32 %group_y, i32 %group_z`."""

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
