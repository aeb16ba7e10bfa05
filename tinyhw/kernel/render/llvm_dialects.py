"""LLVM dialects: what differs between the LLVM targets tinyhw renders kernels for.

A `Dialect` is declarative: the kernel's calling convention and attributes, where workgroup and
work-item ids come from, the address spaces of global and local memory, how a barrier is
spelled, how local arrays are declared, and which math the target lacks (computed from other
ops, or refused for float64). The renderer (tinyhw.kernel.render.llvm) does the rest.

- CPU: the ABI of tinyhw.cpu.compiler — group ids are the trailing `i32 %group_x/y/z` params and
  one call runs one workgroup, so a workgroup's work-items are loops the renderer emits around
  the body, split into phases at barriers; local arrays are stack arrays; float64 erf comes from libm.
- AMDGPU: `amdgpu_kernel`, addrspace(1) buffers, addrspace(3) local arrays, `llvm.amdgcn.*` ids,
  `s_barrier` between workgroup-scope fences; no float64 transcendentals (no device libraries).
- NVPTX: `ptx_kernel`, addrspace(1)/(3), `llvm.nvvm.read.ptx.sreg.*` ids, `barrier0`; exp/log/
  sin/cos/log2 through the approximate `ex2`/`lg2`/`sin`/`cos` instructions, float32 only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from tinyhw.kernel.dtypes import float32
from tinyhw.kernel.ir import IRError, Value, binary
from tinyhw.kernel.render.llvm_ops import EXPANSIONS, MATH_OPS

__all__ = ["AMDGPU", "CPU", "DIALECTS", "NVPTX", "Dialect"]

_PROMOTED = MATH_OPS | {"mod"}
"""Ops computed in float32 for float16/bfloat16 operands (exact for mod; what GPUs do for the rest)."""


@dataclass(frozen=True)
class Dialect:
    """How kernels are spelled in LLVM IR for one target.

    renderer: the `Backend.renderer` name ("llvm-cpu", ...). triple: written into the module
    (compilers replace it anyway); "" writes none. calling_convention: of the kernel function.
    global_space, local_space, private_space: address spaces of buffers, local arrays and allocas.
    group_id, local_id: intrinsic names with "{axis}" for x/y/z; "" for group_id means trailing
    `i32 %group_x, %group_y, %group_z` parameters, "" for local_id means the renderer loops over
    the work-items itself (and splits the body at barriers).
    barrier: instructions of a workgroup barrier; barrier_declarations: what they call.
    local_arrays: "alloca" (a stack array per kernel call) or "global" (module globals in local_space).
    attributes: the kernel's function attributes; "{local}" is replaced by work-items per group.
    module_flags: `!llvm.module.flags` entries. functions: (op, scalar dtype name) -> a function
    (libm or a target intrinsic that is not overloaded) computing that op, called per lane.
    expand: ops computed from other ops (see llvm_ops.EXPANSIONS); "op:float16" or "op:bfloat16"
    expands only that type's op, in float32. float64_math: MATH_OPS available for float64; the
    others raise IRError.
    """

    name: str
    renderer: str
    triple: str = ""
    calling_convention: str = ""
    global_space: int = 0
    local_space: int = 0
    private_space: int = 0
    group_id: str = ""
    local_id: str = ""
    barrier: tuple[str, ...] = ()
    barrier_declarations: tuple[str, ...] = ()
    local_arrays: str = "alloca"
    attributes: str = "nounwind"
    module_flags: tuple[str, ...] = ()
    functions: Mapping[tuple[str, str], str] = field(default_factory=dict)
    expand: frozenset[str] = frozenset()
    float64_math: frozenset[str] = MATH_OPS

    def pointer(self, space: str) -> str:
        """The pointer type of "global", "local" or "private" (alloca) memory."""
        number = {"global": self.global_space, "local": self.local_space, "private": self.private_space}[space]
        return "ptr" if number == 0 else f"ptr addrspace({number})"

    def alloca(self, type_: str) -> str:
        """The alloca instruction for a `type_` slot in private memory."""
        return f"alloca {type_}" + (f", addrspace({self.private_space})" if self.private_space else "")

    def rewrite(self, v: Value) -> Value | None:
        """The value `v` is computed as on this target, or None to emit `v` itself."""
        op, dtype = v.op, v.dtype.scalar
        if op == "rsqrt":
            return v.args[0].unary("sqrt").unary("recip")
        if op in ("cast", "bitcast"):
            return _convert(v)
        if dtype.kind != "f" or op not in _PROMOTED:
            return None
        if dtype.itemsize == 2:
            args = [a.cast(float32.vec(v.dtype.count)) for a in v.args]
            if f"{op}:{dtype.name}" in self.expand:
                return EXPANSIONS[op](*args).cast(v.dtype)
            return (args[0].unary(op) if len(args) == 1 else binary(op, *args)).cast(v.dtype)
        if dtype.itemsize == 8 and op in MATH_OPS and op not in self.float64_math:
            raise IRError(f"float64 {op} is not supported by the {self.name} dialect (no device math library); "
                          "cast to float32 first")  # fmt: skip
        key = f"{op}:{dtype.name}"
        if key in self.expand:
            return (EXPANSIONS[key] if key in EXPANSIONS else EXPANSIONS[op])(*v.args)
        return EXPANSIONS[op](*v.args) if op in self.expand else None


def _convert(v: Value) -> Value | None:
    """Casts between the two 16-bit float types go through float32; bool bitcasts are casts."""
    src, dst = v.args[0].dtype.scalar, v.dtype.scalar
    if v.op == "bitcast":
        return v.args[0].cast(v.dtype) if "b" in (src.kind, dst.kind) else None
    if src.kind == dst.kind == "f" and src.itemsize == dst.itemsize == 2 and src != dst:
        return v.args[0].cast(float32.vec(v.dtype.count)).cast(v.dtype)
    return None


CPU = Dialect(
    name="cpu",
    renderer="llvm-cpu",
    functions={("erf", "float64"): "erf"},
    expand=frozenset({"exp:float32", "exp2:float32", "erf:float32"}),  # polynomials that vectorise; libm's do not
)
"""The host CPU under tinyhw.cpu.compiler's ABI."""

AMDGPU = Dialect(
    name="amdgpu",
    renderer="llvm-amdgpu",
    triple="amdgcn-amd-amdhsa",
    calling_convention="amdgpu_kernel",
    global_space=1,
    local_space=3,
    private_space=5,
    group_id="llvm.amdgcn.workgroup.id.{axis}",
    local_id="llvm.amdgcn.workitem.id.{axis}",
    barrier=(
        'fence syncscope("workgroup") release',
        "call void @llvm.amdgcn.s.barrier()",
        'fence syncscope("workgroup") acquire',
    ),  # fmt: skip
    barrier_declarations=("declare void @llvm.amdgcn.s.barrier()",),
    local_arrays="global",
    attributes='nounwind "amdgpu-flat-work-group-size"="{local},{local}" "uniform-work-group-size"="true"',
    module_flags=('i32 1, !"amdhsa_code_object_version", i32 500',),
    expand=frozenset({"tanh", "erf:float32", "mod:bfloat16"}),  # LLVM narrows a float32 frem back to bfloat16's
    float64_math=frozenset(),
)
"""AMD GPUs (HSA code objects, code object v5)."""

NVPTX = Dialect(
    name="nvptx",
    renderer="llvm-nvptx",
    triple="nvptx64-nvidia-cuda",
    calling_convention="ptx_kernel",
    global_space=1,
    local_space=3,
    group_id="llvm.nvvm.read.ptx.sreg.ctaid.{axis}",
    local_id="llvm.nvvm.read.ptx.sreg.tid.{axis}",
    barrier=("call void @llvm.nvvm.barrier0()",),
    barrier_declarations=("declare void @llvm.nvvm.barrier0()",),
    local_arrays="global",
    functions={
        ("log2", "float32"): "llvm.nvvm.lg2.approx.f",
        ("sin", "float32"): "llvm.nvvm.sin.approx.f",
        ("cos", "float32"): "llvm.nvvm.cos.approx.f",
    },  # fmt: skip
    expand=frozenset({"exp", "log", "tanh", "erf", "pow"}),
    float64_math=frozenset(),
)
"""NVIDIA GPUs (PTX)."""

DIALECTS = {d.renderer: d for d in (CPU, AMDGPU, NVPTX)}
"""Every dialect by renderer name."""
