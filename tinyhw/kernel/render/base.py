"""What every renderer returns, and the statement walker that source-text renderers (OpenCL C, WGSL) share."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from tinyhw.kernel.dtypes import DType
from tinyhw.kernel.ir import Barrier, Buf, DefineAcc, If, Kernel, Range, Store, UpdateAcc, Value

__all__ = ["RenderedKernel", "SourceRenderer"]


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


_STATEMENTS = {Store: "store", Range: "loop", If: "if_", DefineAcc: "define_acc", UpdateAcc: "update_acc",
               Barrier: "barrier"}  # fmt: skip
"""The method that renders each statement type."""


class SourceRenderer(ABC):
    """Walks one kernel's statements and collects source lines in a C-like language; subclasses spell it.

    Every non-leaf value becomes one line (`declare`) named `vN`, emitted where it is first used,
    depth first, so the text is deterministic. Leaves (constants, loop variables, accumulators,
    ids, scalar parameters) are spelled inline (`leaf`). A value is visible in the block that
    defined it and the blocks nested in it. Memory reads follow the IR's order: a value that reads
    a buffer is computed again after a store to that buffer, after a barrier, and inside a loop
    that writes it; likewise a value that reads an accumulator after the accumulator's update.

    A subclass gives the language's spelling: identifiers (`legal_ident`, `SEPARATOR`), types
    (`reg`), values (`leaf`, `expr`), declarations, loop headers, and the statements that differ
    between languages (`define_acc`, `barrier`, `store`). One renderer object renders one kernel.
    """

    SEPARATOR = "_"
    """Put between an identifier and the number that tells apart two IR names it would merge."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel, self.lines = kernel, []
        self.scopes: list[dict[Value, str]] = [{}]
        self.reads_memo: dict[Value, frozenset] = {}
        self.counter, self.taken, self.idents = 0, set(), {}
        self.entry = self.ident(kernel.name)

    # -- what a language spells --

    @abstractmethod
    def legal_ident(self, name: str) -> str:
        """IR name `name` as a legal identifier that is no keyword, builtin or name of the renderer's own."""

    @abstractmethod
    def reg(self, dtype: DType) -> str:
        """The register (variable) type of `dtype`."""

    @abstractmethod
    def leaf(self, v: Value) -> str | None:
        """The inline text of leaf value `v`, or None when `v` needs a line of its own."""

    @abstractmethod
    def expr(self, v: Value) -> str:
        """The right-hand side of the line computing non-leaf value `v`."""

    @abstractmethod
    def declare(self, name: str, dtype: DType, expr: str) -> str:
        """The line defining the immutable value `name` of `dtype` as `expr`."""

    @abstractmethod
    def loop_opener(self, var: str, start: str, end: str) -> str:
        """The header (without `{`) of a loop of int32 `var` over [start, end)."""

    @abstractmethod
    def define_acc(self, s: DefineAcc) -> None:
        """Emit the declaration of a mutable accumulator."""

    @abstractmethod
    def barrier(self, s: Barrier) -> None:
        """Emit a workgroup barrier (then call `forget` with what it may have changed)."""

    @abstractmethod
    def store(self, s: Store) -> None:
        """Emit a (masked) store (then call `forget` with the buffer)."""

    # -- names and values --

    def ident(self, name: str) -> str:
        """The identifier for IR name `name`: `legal_ident`, numbered where two names would clash."""
        if name not in self.idents:
            base = self.legal_ident(name)
            ident, n = base, 0
            while ident in self.taken:
                n, ident = n + 1, f"{base}{self.SEPARATOR}{n + 1}"
            self.taken.add(ident)
            self.idents[name] = ident
        return self.idents[name]

    def ref(self, v: Value) -> str:
        """Text for `v`: a leaf inline, any other value its SSA name (emitting its line first)."""
        leaf = self.leaf(v)
        if leaf is not None:
            return leaf
        for scope in reversed(self.scopes):
            if v in scope:
                return scope[v]
        expr = self.expr(v)
        name = f"v{self.counter}"
        self.counter += 1
        self.emit(self.declare(name, v.dtype, expr))
        self.scopes[-1][v] = name
        return name

    # -- statements --

    def emit(self, line: str) -> None:
        """Append `line`, indented to the current block depth."""
        self.lines.append("  " * len(self.scopes) + line)

    def block(self, body: tuple, opener: str, loop_writes: frozenset = frozenset()) -> None:
        """Emit `opener {`, then `body` in a new scope, then `}`."""
        self.emit(opener + " {")
        self.forget(loop_writes)
        self.scopes.append({})
        for stmt in body:
            self.statement(stmt)
        self.scopes.pop()
        self.emit("}")

    def statement(self, s: object) -> None:
        """Emit one statement (and the lines its values need first)."""
        getattr(self, _STATEMENTS[type(s)])(s)

    def loop(self, s: Range) -> None:
        """Emit a loop; values reading what the body writes are computed again inside it."""
        start, end, i = self.ref(s.start), self.ref(s.end), self.ident(s.var.args[0])
        self.block(s.body, self.loop_opener(i, start, end), self.writes(s.body))

    def if_(self, s: If) -> None:
        """Emit `if (cond) { body }`."""
        self.block(s.body, f"if ({self.ref(s.cond)})")

    def update_acc(self, s: UpdateAcc) -> None:
        """Emit `acc = value;`."""
        self.emit(f"{self.ident(s.acc.args[0])} = {self.ref(s.value)};")
        self.forget(frozenset({s.acc}))

    # -- what reads and writes what --

    def reads(self, v: Value) -> frozenset:
        """The buffers and accumulators `v` reads."""
        if v not in self.reads_memo:
            found = frozenset().union(*(self.reads(a) for a in v.args if isinstance(a, Value)))
            own = {v.args[0]} if v.op == "load" else {v} if v.op == "acc" else set()
            self.reads_memo[v] = found | own
        return self.reads_memo[v]

    def writes(self, body: tuple) -> frozenset:
        """The buffers and accumulators `body` may change (a barrier: every buffer)."""
        found: set = set()
        for s in body:
            if isinstance(s, Store):
                found.add(s.buf)
            elif isinstance(s, UpdateAcc):
                found.add(s.acc)
            elif isinstance(s, Barrier):
                found.update(p for p in (*self.kernel.params, *self.kernel.locals) if isinstance(p, Buf))
            elif isinstance(s, Range | If):
                found |= self.writes(s.body)
        return frozenset(found)

    def forget(self, changed: frozenset) -> None:
        """Drop SSA values that read anything in `changed`, so later uses read again."""
        for scope in self.scopes:
            for v in [v for v in scope if self.reads(v) & changed]:
                del scope[v]
