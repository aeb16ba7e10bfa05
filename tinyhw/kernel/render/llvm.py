"""Render kernel IR as LLVM IR text for one LLVM dialect (host CPU, AMDGPU, NVPTX).

The kernel becomes one function. Values are emitted where first needed, each once per block that
can see it; names come from the IR (`%a` buffers, `%i` loop indices, `%acc` accumulator reads,
`%add.3` for the rest), so the text is readable and the same kernel always gives the same text.

Semantics the output keeps:
- memory is read in statement order: a load (or an accumulator read) used again after a store
  to its memory, an accumulator update, a barrier, or inside a loop that writes its memory is
  read again; global buffers may alias one another, so a store to any of them re-reads all;
- buffer parameters are not `noalias`: the tensor frontend may pass one buffer as two inputs,
  and views may overlap. LLVM's vectoriser then adds a runtime overlap check before a loop;
- a masked-off load touches no memory (a branch around it, the `other` value through a phi),
  and a masked store is a branch; `inbounds` is used only on addresses that are accessed;
- integer arithmetic wraps (no `nsw`, except on loop counters, which stay below their bound);
  integer division by zero gives an unspecified value and never traps (nor does INT_MIN / -1);
- accumulators are stack slots that LLVM promotes to registers; Range loops are rotated loops
  with an index phi and a signed (or unsigned) compare against the bound, as the loop vectoriser
  expects.

Dialects whose work-items are loops (the CPU) run a workgroup's work-items as loops inside the
kernel; the body splits at top-level barriers (and at barriers inside loops and ifs whose bounds
and conditions do not depend on the work-item) into phases, each a loop over all work-items.
Values do not live across a barrier: pure ones are recomputed, memory is read again, and an
accumulator read across one raises IRError.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from tinyhw.kernel.dtypes import int32
from tinyhw.kernel.ir import Barrier, Buf, DefineAcc, If, IRError, Kernel, Range, Store, UpdateAcc, Value, const
from tinyhw.kernel.render.base import RenderedKernel
from tinyhw.kernel.render.llvm_dialects import CPU, Dialect
from tinyhw.kernel.render.llvm_ops import llvm_type, memory_type
from tinyhw.kernel.render.llvm_values import ALL_MEMORY, OUTSIDE_BLOCK, ValueEmitter, memory_class

__all__ = ["render_llvm"]

_NOT_NAME = re.compile(r"[^-a-zA-Z$._0-9]")
_ACROSS_BARRIER = "accumulator %{} is used across a barrier: not supported by the cpu dialect"


def render_llvm(kernel: Kernel, dialect: Dialect = CPU) -> RenderedKernel:
    """Render `kernel` as an LLVM IR module for `dialect`; IRError for IR the dialect cannot express."""
    return RenderedKernel(_Renderer(kernel, dialect).module(), kernel.name, dialect.renderer)


def _writes(body: tuple) -> set[str]:
    """The memory classes a block may write (for invalidating reads before a loop)."""
    found: set[str] = set()
    for stmt in body:
        if isinstance(stmt, Store):
            found.add(memory_class(stmt.buf))
        elif isinstance(stmt, DefineAcc | UpdateAcc):
            found.add(f"acc:{stmt.acc.args[0]}")
        elif isinstance(stmt, Barrier):
            found.add(ALL_MEMORY)
        elif isinstance(stmt, Range | If):
            found |= _writes(stmt.body)
    return found


def _has_barrier(stmt: object) -> bool:
    return isinstance(stmt, Barrier) or (isinstance(stmt, Range | If) and any(map(_has_barrier, stmt.body)))


def _quote(name: str) -> str:
    return name if not _NOT_NAME.search(name) and not name[:1].isdigit() else '"' + name.replace('"', "_") + '"'


class _Renderer(ValueEmitter):
    """Renders one kernel: statements, the function and the module; `module()` returns the text."""

    def __init__(self, kernel: Kernel, dialect: Dialect) -> None:
        super().__init__(kernel, dialect)
        self.globals: list[str] = []
        self.work_items = 1 if dialect.local_id else kernel.local_size[0] * kernel.local_size[1] * kernel.local_size[2]

    # -- the module --

    def module(self) -> str:
        """The whole LLVM module: globals, the kernel function, declarations, attributes."""
        function = self._function()
        local = self.kernel.local_size[0] * self.kernel.local_size[1] * self.kernel.local_size[2]
        parts = [f"; kernel {self.kernel.name}, rendered by tinyhw for {self.dialect.renderer}"]
        parts += [f'target triple = "{self.dialect.triple}"'] if self.dialect.triple else []
        parts += ["\n".join(self.globals), function, "\n".join(sorted(self.declarations))]
        parts.append(f"attributes #0 = {{ {self.dialect.attributes.replace('{local}', str(local))} }}")
        parts.append(self._module_flags())
        return "\n\n".join(part for part in parts if part) + "\n"

    def _function(self) -> str:
        signature = self._signature()  # parameters keep their IR names; the entry label comes after
        self.block = entry = self.names("entry")
        self._local_arrays()
        (self._workgroup if self.work_items > 1 else self._block)(self.kernel.body)
        cc = f"{self.dialect.calling_convention} " if self.dialect.calling_convention else ""
        header = f"define {cc}void @{_quote(self.kernel.name)}({signature}) #0 {{"
        return "\n".join([header, f"{entry}:", *self.entry, *self.lines, "  ret void", "}"])

    def _module_flags(self) -> str:
        flags = self.dialect.module_flags
        if not flags:
            return ""
        refs = ", ".join(f"!{i}" for i in range(len(flags)))
        return "\n".join([f"!llvm.module.flags = !{{{refs}}}", *(f"!{i} = !{{{f}}}" for i, f in enumerate(flags))])

    def _signature(self) -> str:
        params = [self._param(p) for p in self.kernel.params]
        if not self.dialect.group_id:
            for axis in range(3):
                name = "%" + self.names(f"group_{'xyz'[axis]}")
                self.scopes[0].values[Value("group_id", int32, (axis,))] = name
                params.append(f"i32 {name}")
        return ", ".join(params)

    def _param(self, p: Buf | Value) -> str:
        if isinstance(p, Buf):
            if p in self.pointers or p.space != "global":
                raise IRError(f"kernel parameter {p.name} is listed twice or is not a global buffer")
            self.pointers[p] = "%" + self.names(p.name)
            return f"{self.dialect.pointer('global')} noundef {self.pointers[p]}"
        if p.op != "param" or p.dtype.count != 1:
            raise IRError(f"kernel parameter {p!r} must be a buffer or a scalar param value")
        name = "%" + self.names(p.args[0])
        self.params[p.args[0]] = name
        if p.dtype.kind == "b":  # passed as a byte, as in memory
            self.params[p.args[0]] = f"%{self.names(p.args[0] + '.bool')}"
            self.entry.append(f"  {self.params[p.args[0]]} = icmp ne i8 {name}, 0")
        unsigned = " zeroext" if p.dtype.kind in "ub" else ""  # the CPU ABI reads zeroext as an unsigned parameter
        return f"{memory_type(p.dtype)}{unsigned} {name}"

    def _local_arrays(self) -> None:
        for buf in self.kernel.locals:
            array = f"[{buf.size} x {memory_type(buf.dtype)}]"
            if self.dialect.local_arrays == "alloca":
                self.pointers[buf] = "%" + self.names(buf.name)
                self.entry.append(f"  {self.pointers[buf]} = alloca {array}, align 64")
            else:
                self.pointers[buf] = "@" + _quote(f"{self.kernel.name}.{buf.name}")
                self.globals.append(f"{self.pointers[buf]} = internal addrspace({self.dialect.local_space}) "
                                    f"global {array} poison, align 64")  # fmt: skip

    # -- statements --

    def _block(self, body: tuple) -> None:
        for stmt in body:
            handler = _STATEMENTS.get(type(stmt))
            if handler is None:
                raise IRError(f"unknown kernel IR statement {stmt!r}")
            handler(self, stmt)

    def _store(self, s: Store) -> None:
        if s.value.dtype.scalar != s.buf.dtype:
            raise IRError(f"cannot store {s.value.dtype} into {s.buf.name} of {s.buf.dtype}")
        memory, align = self._access(s.buf, s.value.dtype)
        value = self.value(s.value)
        if s.value.dtype.kind == "b":
            value = self.assign("byte", f"zext {llvm_type(s.value.dtype)} {value} to {memory}")
        pointer_type = self.dialect.pointer(s.buf.space)
        if s.mask is None:
            self.emit(f"store {memory} {value}, {pointer_type} {self._address(s.buf, s.index)}, {align}")
        else:
            condition, offset = self._mask(s.mask), self._index(s.index)
            with self.guard(condition, f"{s.buf.name}.store"):
                self.emit(f"store {memory} {value}, {pointer_type} {self._gep(s.buf, offset)}, {align}")
        self.invalidate({memory_class(s.buf)})

    def _range(self, r: Range, body: Callable[[tuple], None] | None = None) -> None:
        if r.start.dtype != r.var.dtype or r.end.dtype != r.var.dtype or r.var.dtype.kind not in "iu":
            raise IRError(f"range %{r.var.args[0]}: index and bounds must share one integer dtype")
        start, end = self.value(r.start), self.value(r.end)
        self.loop(r.var, r.var.args[0], (r.start, start), (r.end, end), lambda: (body or self._block)(r.body),
                  _writes(r.body))  # fmt: skip

    def loop(self, var: Value, name: str, start: tuple[Value, str], end: tuple[Value, str], body: Callable[[], None],
             writes: set[str], exit_reason: str = OUTSIDE_BLOCK) -> None:  # fmt: skip
        """A rotated counted loop `for var in [start, end)`: guard, index phi, body, increment, compare."""
        t, signed = llvm_type(var.dtype), var.dtype.kind == "i"
        head, latch, done = self.names(f"{name}.body"), self.names(f"{name}.latch"), self.names(f"{name}.exit")
        index, after = "%" + self.names(name), "%" + self.names(f"{name}.next")
        self.invalidate(writes)
        self._skip_empty(name, var, start, end, head, done)
        entered = self.block
        self.start_block(head)
        self.emit(f"{index} = phi {t} [ {start[1]}, %{entered} ], [ {after}, %{latch} ]")
        with self.scope({var: index}, exit_reason):
            body()
        self.emit(f"br label %{latch}")
        self.start_block(latch)
        self.emit(f"{after} = add {'nsw' if signed else 'nuw'} {t} {index}, 1")
        more = self.assign(f"{name}.more", f"icmp {'slt' if signed else 'ult'} {t} {after}, {end[1]}")
        self.emit(f"br i1 {more}, label %{head}, label %{done}")
        self.start_block(done)

    def _skip_empty(self, name: str, var: Value, start: tuple[Value, str], end: tuple[Value, str], head: str,
                    done: str) -> None:  # fmt: skip
        """Branch into the loop's body, or past it when the range may be empty."""
        if start[0].op == "const" and end[0].op == "const" and start[0].value < end[0].value:
            self.emit(f"br label %{head}")
            return
        compare = "slt" if var.dtype.kind == "i" else "ult"
        runs = self.assign(f"{name}.run", f"icmp {compare} {llvm_type(var.dtype)} {start[1]}, {end[1]}")
        self.emit(f"br i1 {runs}, label %{head}, label %{done}")

    def _if(self, s: If, body: Callable[[tuple], None] | None = None) -> None:
        with self.guard(self._mask(s.cond), "if"), self.scope():
            (body or self._block)(s.body)

    def _define(self, s: DefineAcc) -> None:
        if s.acc.op != "acc" or s.init.dtype != s.acc.dtype:
            raise IRError(f"DefineAcc needs an accumulator and a {s.acc.dtype} initial value, got {s.init!r}")
        init = self.value(s.init)
        self.emit(f"store {llvm_type(s.acc.dtype)} {init}, {self.dialect.pointer('private')} {self._acc_slot(s.acc)}")
        self.scopes[-1].accs.add(s.acc.args[0])
        self.invalidate({f"acc:{s.acc.args[0]}"})

    def _update(self, s: UpdateAcc) -> None:
        slot, value = self._check_acc(s.acc), self.value(s.value)
        self.emit(f"store {llvm_type(s.acc.dtype)} {value}, {self.dialect.pointer('private')} {slot}")
        self.invalidate({f"acc:{s.acc.args[0]}"})

    def _barrier(self, s: Barrier) -> None:
        for line in self.dialect.barrier:
            self.emit(line)
        for declaration in self.dialect.barrier_declarations:
            self.declare(declaration)
        self.invalidate({ALL_MEMORY})

    # -- work-items as loops (the cpu dialect) --

    def _workgroup(self, body: tuple) -> None:
        """Statements run by the whole workgroup: runs of barrier-free statements become work-item loops."""
        run: list = []
        for stmt in body:
            if not _has_barrier(stmt):
                run.append(stmt)
                continue
            self._work_items(tuple(run))
            run = []
            if isinstance(stmt, Barrier):
                self.invalidate({ALL_MEMORY})
            else:  # a loop or if around barriers: uniform over the workgroup, so it stays outside
                (self._range if isinstance(stmt, Range) else self._if)(stmt, self._workgroup)
        self._work_items(tuple(run))

    def _work_items(self, run: tuple) -> None:
        """One phase: `run` inside loops over the work-items (z outermost, x innermost)."""
        if not run:
            return
        axes = [axis for axis in (2, 1, 0) if self.kernel.local_size[axis] > 1]
        writes = _writes(run)

        def nest(depth: int) -> None:
            if depth == len(axes):
                self._block(run)
                return
            axis, size = axes[depth], self.kernel.local_size[axes[depth]]
            lid = Value("local_id", int32, (axis,))
            bounds = (const(0, int32), "0"), (const(size, int32), str(size))
            reason = _ACROSS_BARRIER if depth == len(axes) - 1 else OUTSIDE_BLOCK
            self.loop(lid, f"lid.{'xyz'[axis]}", *bounds, lambda: nest(depth + 1), writes, reason)

        nest(0)


_STATEMENTS: dict[type, Callable] = {
    Store: _Renderer._store,
    Range: _Renderer._range,
    If: _Renderer._if,
    DefineAcc: _Renderer._define,
    UpdateAcc: _Renderer._update,
    Barrier: _Renderer._barrier,
}
