"""Text form of the kernel IR: one SSA line per value, statements indented by nesting.

The text is deterministic, so it also serves as the kernel's identity for compile caches.
"""

from __future__ import annotations

from tinyhw.kernel.ir import Barrier, Buf, DefineAcc, If, Kernel, Range, Store, UpdateAcc, Value

__all__ = ["format_kernel", "format_value"]

LEAVES = ("const", "param", "group_id", "local_id", "loop", "acc")


def _leaf(v: Value) -> str:
    if v.op == "const":
        return f"{v.value!r}:{v.dtype}"
    if v.op in ("group_id", "local_id"):
        return f"{v.op}.{'xyz'[v.args[0]]}"
    return f"%{v.args[0]}"


def format_value(v: Value, depth: int = 3) -> str:
    """A short nested rendering of one value (for error messages and repr)."""
    if v.op in LEAVES:
        return _leaf(v)
    if depth == 0:
        return f"<{v.op}>"
    args = [a.name if isinstance(a, Buf) else format_value(a, depth - 1) if isinstance(a, Value) else repr(a)
            for a in v.args if a is not None]  # fmt: skip
    return f"{v.op}:{v.dtype}({', '.join(args)})"


class _Printer:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.names: dict[Value, str] = {}

    def ref(self, v: Value, indent: str) -> str:
        if v.op in LEAVES:
            return _leaf(v)
        if v not in self.names:
            args = [self.arg(a, indent) for a in v.args]
            name = self.names[v] = f"%v{len(self.names)}"
            self.lines.append(f"{indent}{name} = {v.op}:{v.dtype} {', '.join(args)}")
        return self.names[v]

    def arg(self, a: object, indent: str) -> str:
        if isinstance(a, Value):
            return self.ref(a, indent)
        return a.name if isinstance(a, Buf) else "_" if a is None else repr(a)

    def block(self, body: tuple, indent: str) -> None:
        for stmt in body:
            self.statement(stmt, indent)

    def statement(self, s: object, indent: str) -> None:
        if isinstance(s, Store):
            mask = f" if {self.ref(s.mask, indent)}" if s.mask is not None else ""
            self.lines.append(f"{indent}{s.buf.name}[{self.ref(s.index, indent)}] = {self.ref(s.value, indent)}{mask}")
        elif isinstance(s, Range):
            start, end = self.ref(s.start, indent), self.ref(s.end, indent)
            self.lines.append(f"{indent}for %{s.var.args[0]} in [{start}, {end}):")
            self.block(s.body, indent + "  ")
        elif isinstance(s, If):
            self.lines.append(f"{indent}if {self.ref(s.cond, indent)}:")
            self.block(s.body, indent + "  ")
        elif isinstance(s, DefineAcc):
            self.lines.append(f"{indent}%{s.acc.args[0]} = acc:{s.acc.dtype} {self.ref(s.init, indent)}")
        elif isinstance(s, UpdateAcc):
            self.lines.append(f"{indent}%{s.acc.args[0]} <- {self.ref(s.value, indent)}")
        elif isinstance(s, Barrier):
            self.lines.append(f"{indent}barrier")


def format_kernel(kernel: Kernel) -> str:
    """The whole kernel as text."""
    params = ", ".join(f"{p.dtype}* {p.name}" if isinstance(p, Buf) else f"{p.dtype} %{p.args[0]}"
                       for p in kernel.params)  # fmt: skip
    printer = _Printer()
    printer.lines.append(f"kernel {kernel.name}({params}) local_size={kernel.local_size}")
    printer.lines += [f"  local {b.dtype} {b.name}[{b.size}]" for b in kernel.locals]
    printer.block(kernel.body, "  ")
    return "\n".join(printer.lines)
