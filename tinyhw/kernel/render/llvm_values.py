"""Emitting kernel IR values as LLVM IR instructions: the value half of the LLVM renderer.

`ValueEmitter` turns values into instructions where they are first needed and remembers them per
block (a `_Scope`), so each is emitted once where it dominates its uses. Values that read memory
carry the memory they read ("global", "local:NAME", "acc:NAME"); a store, an accumulator update,
a barrier, or entering a loop that writes that memory forgets them, so the next use reads again.
Statements, the function and the module are `tinyhw.kernel.render.llvm`'s.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from tinyhw.kernel.dtypes import DType, bool_, int64
from tinyhw.kernel.ir import BINARY_OPS, UNARY_OPS, Buf, IRError, Kernel, Value
from tinyhw.kernel.render.llvm_dialects import Dialect
from tinyhw.kernel.render.llvm_ops import (
    BINARY,
    IDENTITY,
    TO_BOOL,
    UNARY,
    Intrinsic,
    cast_instruction,
    constant,
    intrinsic_suffix,
    llvm_type,
    memory_type,
)

__all__ = ["ALL_MEMORY", "OUTSIDE_BLOCK", "ValueEmitter", "memory_class"]

_NOT_NAME = re.compile(r"[^-a-zA-Z$._0-9]")
ALL_MEMORY = "*"
"""The memory class that stands for every buffer (what a barrier may have changed)."""
OUTSIDE_BLOCK = "accumulator %{} is used outside the block that defines it"
"""The IRError for an accumulator read after the block defining it ended ({} is its name)."""


class _Namer:
    """Unique LLVM local names: the IR's own where free, with a numeric suffix otherwise."""

    def __init__(self) -> None:
        self.taken: set[str] = set()

    def __call__(self, base: str) -> str:
        base = _NOT_NAME.sub("_", base) or "v"
        base = f"_{base}" if base[0].isdigit() else base
        name, n = base, 0
        while name in self.taken:
            n += 1
            name = f"{base}.{n}"
        self.taken.add(name)
        return name


@dataclass
class _Scope:
    """What one block can see: emitted values (pure, and memory-dependent with their memory) and accumulators."""

    values: dict = field(default_factory=dict)
    memory: dict = field(default_factory=dict)
    accs: set = field(default_factory=set)
    exit_reason: str = OUTSIDE_BLOCK


def memory_class(buf: Buf) -> str:
    """The memory class of `buf`: "global" (buffers may alias), or "local:NAME"."""
    return "global" if buf.space == "global" else f"local:{buf.name}"


class ValueEmitter:
    """Emits the values of one kernel for one dialect into `lines` (and `entry`, the entry block)."""

    def __init__(self, kernel: Kernel, dialect: Dialect) -> None:
        self.kernel, self.dialect = kernel, dialect
        self.names = _Namer()
        self.entry: list[str] = []
        self.lines: list[str] = []
        self.block = "entry"
        self.scopes = [_Scope()]
        self.declarations: set[str] = set()
        self.sources: dict[Value, frozenset[str]] = {}
        self.rewrites: dict[Value, Value | None] = {}
        self.acc_slots: dict[str, str] = {}
        self.retired: dict[str, str] = {}
        self.pointers: dict[Buf, str] = {}
        self.params: dict[str, str] = {}

    # -- emitting --

    def emit(self, line: str) -> None:
        """Append an instruction to the current block."""
        self.lines.append(f"  {line}")

    def assign(self, base: str, instruction: str) -> str:
        """Emit `%name = instruction` and return %name."""
        name = "%" + self.names(base)
        self.emit(f"{name} = {instruction}")
        return name

    def start_block(self, label: str) -> None:
        """Start basic block `label`; what follows is emitted into it."""
        self.lines.append(f"{label}:")
        self.block = label

    def declare(self, declaration: str) -> None:
        """Add a `declare ...` line (each is written once, sorted) to the module."""
        self.declarations.add(declaration)

    @contextlib.contextmanager
    def scope(self, bindings: dict | None = None, exit_reason: str = OUTSIDE_BLOCK) -> Iterator[None]:
        """A nested block: what it emits and the accumulators it defines are not seen after it."""
        self.scopes.append(_Scope(values=dict(bindings or {}), exit_reason=exit_reason))
        yield
        scope = self.scopes.pop()
        self.retired.update((name, scope.exit_reason.format(name)) for name in scope.accs)

    @contextlib.contextmanager
    def guard(self, condition: str, label: str) -> Iterator[str]:
        """Code in the block runs only where `condition` (an i1) is true; yields the block's label."""
        then, done = self.names(f"{label}.then"), self.names(f"{label}.end")
        self.emit(f"br i1 {condition}, label %{then}, label %{done}")
        self.start_block(then)
        yield then
        self.emit(f"br label %{done}")
        self.start_block(done)

    def invalidate(self, classes: set[str]) -> None:
        """Forget emitted reads of memory in `classes` ("*": every buffer), so later uses read again."""
        every = ALL_MEMORY in classes
        for scope in self.scopes:
            stale = [key for key, (_, sources) in scope.memory.items()
                     if sources & classes or (every and any(not s.startswith("acc:") for s in sources))]  # fmt: skip
            for key in stale:
                del scope.memory[key]

    # -- values --

    def lookup(self, key: object) -> str | None:
        """The operand text of an emitted value (or derived key) visible here, else None."""
        if isinstance(key, Value) and key.op == "const":
            return constant(key.value, key.dtype)
        if isinstance(key, Value) and key.op == "param":
            if key.args[0] not in self.params:
                raise IRError(f"scalar %{key.args[0]} is not a parameter of kernel {self.kernel.name}")
            return self.params[key.args[0]]
        for scope in reversed(self.scopes):
            if (text := scope.values.get(key)) is not None:
                return text
            if (hit := scope.memory.get(key)) is not None:
                return hit[0]
        return None

    def remember(self, key: object, text: str, sources: frozenset[str]) -> str:
        """Make `text` the operand of `key` in the current block; `sources`: the memory it read."""
        if sources:
            self.scopes[-1].memory[key] = (text, sources)
        else:
            self.scopes[-1].values[key] = text
        return text

    def value(self, v: Value) -> str:
        """The operand text of `v`, emitting it (and what it needs, depth first) where not yet visible."""
        if (text := self.lookup(v)) is not None:
            return text
        pending = [v]
        while pending:
            top = pending[-1]
            if self.lookup(top) is not None:
                pending.pop()
                continue
            missing = [d for d in self._operands(top) if self.lookup(d) is None]
            if missing:
                pending.extend(reversed(missing))
                continue
            pending.pop()
            self._emit(top)
        return self.lookup(v)

    def _rewrite(self, v: Value) -> Value | None:
        if v not in self.rewrites:
            self.rewrites[v] = self.dialect.rewrite(v)
        return self.rewrites[v]

    def _operands(self, v: Value) -> list[Value]:
        rewritten = self._rewrite(v)
        return [rewritten] if rewritten is not None else [a for a in v.args if isinstance(a, Value)]

    def _emit(self, v: Value) -> None:
        operands = self._operands(v)
        sources = frozenset().union(*(self.sources.get(a, frozenset()) for a in operands))
        if v.op == "load":
            sources |= {memory_class(v.args[0])}
        elif v.op == "acc":
            sources |= {f"acc:{v.args[0]}"}
        self.sources[v] = sources
        self.remember(v, self._instructions(v), sources)

    def _instructions(self, v: Value) -> str:
        """Emit what computes `v` (its operands are visible) and return its operand text."""
        if (rewritten := self._rewrite(v)) is not None:
            return self.lookup(rewritten)
        if v.op in _VALUE_EMITTERS:
            return _VALUE_EMITTERS[v.op](self, v)
        if v.op in UNARY_OPS:
            return self._unary(v)
        if v.op in BINARY_OPS:
            return self._binary(v)
        raise IRError(f"unknown kernel IR op {v.op!r} in {v!r}")

    # -- leaves --

    def _entry_call(self, v: Value, template: str) -> str:
        """An id read once in the entry block (it dominates every use)."""
        intrinsic = template.format(axis="xyz"[v.args[0]])
        self.declare(f"declare i32 @{intrinsic}()")
        name = "%" + self.names(f"{'group' if v.op == 'group_id' else 'local'}_{'xyz'[v.args[0]]}")
        self.entry.append(f"  {name} = call i32 @{intrinsic}()")
        self.scopes[0].values[v] = name
        return name

    def _group_id(self, v: Value) -> str:
        return self._entry_call(v, self.dialect.group_id)

    def _local_id(self, v: Value) -> str:
        if self.dialect.local_id:
            return self._entry_call(v, self.dialect.local_id)
        if self.kernel.local_size[v.args[0]] == 1:
            return "0"
        raise IRError(
            f"{v!r} is used where it is not defined: the bounds and conditions of loops and ifs "
            "that contain a barrier must not depend on the work-item (not supported by the cpu dialect)"
        )

    def _loop_index(self, v: Value) -> str:
        raise IRError(f"loop index %{v.args[0]} is used outside its range")

    def _acc_slot(self, acc: Value) -> str:
        name = acc.args[0]
        if name not in self.acc_slots:
            self.acc_slots[name] = "%" + self.names(f"{name}.slot")
            self.entry.append(f"  {self.acc_slots[name]} = {self.dialect.alloca(llvm_type(acc.dtype))}")
        return self.acc_slots[name]

    def _check_acc(self, acc: Value) -> str:
        name = acc.args[0]
        if not any(name in scope.accs for scope in self.scopes):
            raise IRError(self.retired.get(name, f"accumulator %{name} is used before its DefineAcc"))
        return self._acc_slot(acc)

    def _acc_read(self, v: Value) -> str:
        slot = self._check_acc(v)
        return self.assign(v.args[0], f"load {llvm_type(v.dtype)}, {self.dialect.pointer('private')} {slot}")

    # -- memory --

    def _pointer(self, buf: Buf) -> str:
        if buf not in self.pointers:
            raise IRError(f"buffer {buf.name} is neither a parameter nor a local array of kernel {self.kernel.name}")
        return self.pointers[buf]

    def _index(self, index: Value) -> str:
        """`index` as an i64 operand (sign- or zero-extended by its dtype)."""
        if index.dtype.kind not in "iu" or index.dtype.count != 1:
            raise IRError(f"an index must be a scalar integer, got {index!r}")
        if index.op == "const":
            return constant(index.value, int64)
        if index.dtype.itemsize == 8:
            return self.value(index)
        key = ("i64", index)
        if (text := self.lookup(key)) is None:
            extend = "sext" if index.dtype.kind == "i" else "zext"
            text = self.assign("idx", f"{extend} {llvm_type(index.dtype)} {self.value(index)} to i64")
            self.remember(key, text, self.sources.get(index, frozenset()))
        return text

    def _gep(self, buf: Buf, index: str) -> str:
        scalar = memory_type(buf.dtype)
        pointer_type = self.dialect.pointer(buf.space)
        return self.assign(f"{buf.name}.ptr", f"getelementptr inbounds {scalar}, {pointer_type} "
                                              f"{self._pointer(buf)}, i64 {index}")  # fmt: skip

    def _address(self, buf: Buf, index: Value) -> str:
        key = ("address", buf, index)
        if (text := self.lookup(key)) is None:
            text = self.remember(key, self._gep(buf, self._index(index)), self.sources.get(index, frozenset()))
        return text

    def _access(self, buf: Buf, dtype: DType) -> tuple[str, str]:
        """(memory type, alignment) of a `dtype` access to `buf`."""
        if dtype.scalar != buf.dtype:
            raise IRError(f"cannot access {buf.name} of {buf.dtype} as {dtype}")
        return memory_type(dtype), f"align {buf.dtype.itemsize}"

    def _read(self, buf: Buf, address: str, dtype: DType) -> str:
        memory, align = self._access(buf, dtype)
        loaded = self.assign(buf.name, f"load {memory}, {self.dialect.pointer(buf.space)} {address}, {align}")
        if dtype.kind != "b":
            return loaded
        zero = "0" if dtype.count == 1 else "zeroinitializer"
        return self.assign(f"{buf.name}.bool", f"icmp ne {memory} {loaded}, {zero}")

    def _load(self, v: Value) -> str:
        buf, index, mask, other = v.args
        if mask is None:
            return self._read(buf, self._address(buf, index), v.dtype)
        condition, fallback, start = self._mask(mask), self.value(other), self.block
        offset = self._index(index)
        with self.guard(condition, f"{buf.name}.load") as then:
            loaded = self._read(buf, self._gep(buf, offset), v.dtype)
        return self.assign(buf.name, f"phi {llvm_type(v.dtype)} [ {loaded}, %{then} ], [ {fallback}, %{start} ]")

    def _mask(self, mask: Value) -> str:
        if mask.dtype != bool_:
            raise IRError(f"a mask must be a scalar bool, got {mask!r}")
        return self.value(mask)

    # -- operations --

    def _unary(self, v: Value) -> str:
        x = v.args[0]
        operand = self.value(x)
        function = self.dialect.functions.get((v.op, x.dtype.scalar.name))
        if function is not None:
            return self._call(function, x.dtype, [operand], v.op)
        if (v.op, x.dtype.kind) not in UNARY:
            raise IRError(f"{v.op} is not defined for {x.dtype} (in the {self.dialect.name} dialect)")
        entry = UNARY[v.op, x.dtype.kind]
        if entry == IDENTITY:
            return operand
        if isinstance(entry, Intrinsic):
            return self._intrinsic(entry, x.dtype, [operand])
        t, d = llvm_type(x.dtype), x.dtype
        text = entry.format(t=t, x=operand, zero=constant(0, d), one=constant(1, d), ones=constant(-1, d))
        return self.assign(v.op, text)

    def _binary(self, v: Value) -> str:
        a, b = v.args
        if (v.op, a.dtype.kind) not in BINARY:
            raise IRError(f"{v.op} is not defined for {a.dtype}")
        entry, left, right = BINARY[v.op, a.dtype.kind], self.value(a), self.value(b)
        if isinstance(entry, Intrinsic):
            return self._intrinsic(entry, a.dtype, [left, right])
        if v.op in ("div", "mod") and a.dtype.kind in "iu" and not (b.op == "const" and b.value not in (0, -1)):
            return self._safe_divide(v, entry, left, right)
        return self.assign(v.op, f"{entry} {llvm_type(a.dtype)} {left}, {right}")

    def _safe_divide(self, v: Value, instruction: str, left: str, right: str) -> str:
        """Integer division that cannot trap: a zero divisor (and -1 when signed) divides by 1 instead."""
        dtype = v.dtype
        t, flags = llvm_type(dtype), llvm_type(bool_.vec(dtype.count))
        zero = self.assign("zero", f"icmp eq {t} {right}, {constant(0, dtype)}")
        bad = zero
        if dtype.kind == "i":
            minus = self.assign("minus1", f"icmp eq {t} {right}, {constant(-1, dtype)}")
            bad = self.assign("bad", f"or {flags} {zero}, {minus}")
        divisor = self.assign("divisor", f"select {flags} {bad}, {t} {constant(1, dtype)}, {t} {right}")
        result = self.assign(v.op, f"{instruction} {t} {left}, {divisor}")
        if dtype.kind == "i" and v.op == "div":  # x / -1 == -x (wrapping)
            negated = self.assign("neg", f"sub {t} {constant(0, dtype)}, {left}")
            result = self.assign(v.op, f"select {flags} {minus}, {t} {negated}, {t} {result}")
        return result

    def _intrinsic(self, intrinsic: Intrinsic, dtype: DType, operands: list[str]) -> str:
        t = llvm_type(dtype)
        name = f"llvm.{intrinsic.name}.{intrinsic_suffix(dtype)}"
        types = [t] * len(operands) + [extra.split()[0] for extra in intrinsic.extra]
        self.declare(f"declare {t} @{name}({', '.join(types)})")
        args = ", ".join([f"{t} {x}" for x in operands] + list(intrinsic.extra))
        return self.assign(intrinsic.name, f"call {t} @{name}({args})")

    def _call(self, function: str, dtype: DType, operands: list[str], name: str) -> str:
        """A call of a scalar function; a vector operand is done lane by lane."""
        if dtype.count > 1:
            lanes = [self._call(function, dtype.scalar, [self._lane(x, dtype, i) for x in operands], name)
                     for i in range(dtype.count)]  # fmt: skip
            return self._insert(lanes, dtype)
        t = llvm_type(dtype)
        self.declare(f"declare {t} @{function}({', '.join([t] * len(operands))})")
        return self.assign(name, f"call {t} @{function}({', '.join(f'{t} {x}' for x in operands)})")

    def _lane(self, vector: str, dtype: DType, lane: int) -> str:
        return self.assign("lane", f"extractelement {llvm_type(dtype)} {vector}, i32 {lane}")

    def _insert(self, lanes: list[str], dtype: DType) -> str:
        vector, t, scalar = "poison", llvm_type(dtype), llvm_type(dtype.scalar)
        for i, lane in enumerate(lanes):
            vector = self.assign("vec", f"insertelement {t} {vector}, {scalar} {lane}, i32 {i}")
        return vector

    def _cast(self, v: Value) -> str:
        x = v.args[0]
        src, dst, operand = x.dtype, v.dtype, self.value(x)
        if src.count != dst.count:
            raise IRError(f"cannot cast {src} to {dst}: lane counts differ")
        if dst.kind == "b":
            return self.assign("bool", f"{TO_BOOL[src.kind]} {llvm_type(src)} {operand}, {constant(0, src)}")
        instruction = cast_instruction(src.scalar, dst.scalar)
        if instruction is None:
            return operand
        return self.assign("cast", f"{instruction} {llvm_type(src)} {operand} to {llvm_type(dst)}")

    def _bitcast(self, v: Value) -> str:
        x = v.args[0]
        src, dst, operand = llvm_type(x.dtype), llvm_type(v.dtype), self.value(x)
        return operand if src == dst else self.assign("bits", f"bitcast {src} {operand} to {dst}")

    def _where(self, v: Value) -> str:
        cond, a, b = (self.value(x) for x in v.args)
        t = llvm_type(v.dtype)
        return self.assign("where", f"select {llvm_type(v.args[0].dtype)} {cond}, {t} {a}, {t} {b}")

    def _gep_lane(self, v: Value) -> str:
        vector, lane = v.args
        return self._lane(self.value(vector), vector.dtype, lane)

    def _vectorize(self, v: Value) -> str:
        return self._insert([self.value(x) for x in v.args], v.dtype)


_VALUE_EMITTERS: dict[str, Callable[[ValueEmitter, Value], str]] = {
    "group_id": ValueEmitter._group_id,
    "local_id": ValueEmitter._local_id,
    "loop": ValueEmitter._loop_index,
    "acc": ValueEmitter._acc_read,
    "load": ValueEmitter._load,
    "cast": ValueEmitter._cast,
    "bitcast": ValueEmitter._bitcast,
    "where": ValueEmitter._where,
    "gep": ValueEmitter._gep_lane,
    "vectorize": ValueEmitter._vectorize,
}
