"""The WebGPU backend's kernel convention: how a WGSL module declares a tinyhw kernel's parameters.

A kernel is one `@compute` entry point. Buffer parameters are storage arrays in group 0,
bindings 0, 1, ... in launch order among the buffers; the whole launch signature, buffers and
scalars interleaved in launch order, is the uniform struct `Args` bound after the last buffer:

    struct Args { a: u32, b: u32, out: u32, n: i32 }
    @group(0) @binding(0) var<storage, read_write> a: array<f32>;
    @group(0) @binding(1) var<storage, read_write> b: array<f32>;
    @group(0) @binding(2) var<storage, read_write> out: array<f32>;
    @group(0) @binding(3) var<uniform> args: Args;
    @compute @workgroup_size(64) fn add(@builtin(workgroup_id) gid: vec3<u32>, ...) { ... }

A field named like a storage array is that buffer's parameter: the device sets it to the view's
offset in elements (buffers are bound whole, since WebGPU binding offsets must be 32-byte
aligned), and the kernel adds it to every index. Any other field is a scalar parameter of the
kind its WGSL type gives (`u32` uint32, `i32` int32, `f32` float32, `f16`, `i64`, `u64`, `f64`).
A kernel with no parameters has no `Args`.

The binary is a magic line, a JSON line (name, params, element sizes, local size, features),
then the WGSL source.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from tinyhw import CompileError, Param

__all__ = ["KernelInfo", "MAGIC", "SCALAR_TYPES", "ELEMENT_SIZES", "parse", "pack", "unpack"]

MAGIC = b"tinyhw-webgpu kernel v1\n"
SCALAR_TYPES = {"u32": "uint32", "i32": "int32", "f32": "float32", "f16": "float16", "i64": "int64",
                "u64": "uint64", "f64": "float64"}  # fmt: skip
"""WGSL type of a uniform field -> tinyhw scalar parameter kind."""
ELEMENT_SIZES = {"u32": 4, "i32": 4, "f32": 4, "f16": 2, "i64": 8, "u64": 8, "f64": 8}
"""Bytes per element of a storage array of each WGSL scalar type."""
FEATURES = {"f16": "shader-f16", "i64": "shader-int64", "u64": "shader-int64", "f64": "shader-f64"}
"""The adapter feature (a wgpu-native extension for i64/f64) each optional WGSL type needs."""

_ENTRY = re.compile(r"@compute\s+@workgroup_size\(([^)]*)\)\s*fn\s+(\w+)")
_STORAGE = re.compile(r"var<storage\s*,\s*read_write>\s+(\w+)\s*:\s*array<\s*(\w+)\s*>")
_ARGS = re.compile(r"struct\s+Args\s*\{([^}]*)\}")
_FIELD = re.compile(r"(\w+)\s*:\s*(\w+)")


@dataclass(frozen=True)
class KernelInfo:
    """What a compiled kernel declares: entry name, parameters, element size per buffer, local size."""

    name: str
    params: tuple[Param, ...]
    element_sizes: tuple[int, ...]
    local_size: tuple[int, int, int]
    types: frozenset[str]


def parse(source: str, entry: str | None) -> KernelInfo:
    """The kernel `source` declares under the convention above; CompileError naming what is wrong."""
    entries = _ENTRY.findall(source)
    chosen = [e for e in entries if entry is None or e[1] == entry]
    if len(chosen) != 1:
        names, wanted = [e[1] for e in entries], f" {entry!r}" if entry else ""
        raise CompileError(f"wgsl: expected one @compute @workgroup_size(..) entry point{wanted}, found {names}")
    sizes, name = chosen[0]
    local = tuple(int(s.strip().rstrip("u")) for s in sizes.split(",") if s.strip())
    buffers = dict(_STORAGE.findall(source))
    params, elements = _params(source, buffers)
    types = frozenset(re.findall(r"\b(f16|i64|u64|f64)\b", source))
    return KernelInfo(name, params, elements, (local + (1, 1, 1))[:3], types)  # type: ignore[arg-type]


def _params(source: str, buffers: dict[str, str]) -> tuple[tuple[Param, ...], tuple[int, ...]]:
    match = _ARGS.search(source)
    fields = _FIELD.findall(match.group(1)) if match else []
    params, elements = [], []
    for field, wgsl_type in fields:
        if field in buffers:
            params.append(Param(field, "buffer"))
            elements.append(ELEMENT_SIZES.get(buffers[field], 4))
        elif wgsl_type in SCALAR_TYPES:
            params.append(Param(field, SCALAR_TYPES[wgsl_type]))
        else:
            raise CompileError(
                f"wgsl: Args field {field!r} has type {wgsl_type}; scalars are {', '.join(SCALAR_TYPES)}"
            )
    if len(elements) != len(buffers):
        missing = sorted(set(buffers) - {p.name for p in params})
        raise CompileError(f"wgsl: storage arrays {missing} have no field in struct Args (their offset)")
    return tuple(params), tuple(elements)


def pack(info: KernelInfo, source: str) -> bytes:
    """The binary for `source` described by `info`."""
    header = {
        "name": info.name,
        "params": [[p.name, p.kind] for p in info.params],
        "elements": list(info.element_sizes),
        "local": list(info.local_size),
        "types": sorted(info.types),
    }
    return MAGIC + json.dumps(header).encode() + b"\n" + source.encode()


def unpack(binary: bytes) -> tuple[KernelInfo, str]:
    """The KernelInfo and WGSL source of a binary from `pack`; CompileError if it is not one."""
    if not binary.startswith(MAGIC):
        raise CompileError("not a tinyhw-webgpu kernel binary (wrong header); recompile the source")
    header, _, source = binary[len(MAGIC) :].partition(b"\n")
    try:
        meta = json.loads(header)
        params = tuple(Param(name, kind) for name, kind in meta["params"])
        info = KernelInfo(meta["name"], params, tuple(meta["elements"]), tuple(meta["local"]), frozenset(meta["types"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise CompileError(f"malformed tinyhw-webgpu kernel binary: {exc}") from None
    return info, source.decode()
