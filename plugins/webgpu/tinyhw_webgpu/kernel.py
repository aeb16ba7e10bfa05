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
aligned), and the kernel adds it to every index. An element is the array's type, or 1 or 2
bytes when the field's type is `offset8` or `offset16` (aliases of u32 the module declares:
`alias offset8 = u32;`), for 8- and 16-bit elements packed in an `array<u32>` or
`array<atomic<u32>>` (see packing.py). Any other field is a scalar parameter of the kind its
WGSL type gives (`u32` uint32, `i32` int32, `f32` float32, `f16`, `i64`, `u64`, `f64`), except a
first field `tinyhw_group_base: vec3<u32>`, which is no parameter: a launch over more workgroups
than one dispatch allows (maxComputeWorkgroupsPerDimension) becomes several dispatches, each
with this field set to its first workgroup id, which the kernel adds to `workgroup_id`. A
kernel without it is refused such launches. A kernel with no parameters needs no `Args`.

The binary is a magic line, a JSON line (name, params, element sizes, local size, features),
then the WGSL source.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from tinyhw import CompileError, Param

__all__ = ["KernelInfo", "MAGIC", "SCALAR_TYPES", "ELEMENT_SIZES", "PACKED_OFFSETS", "GROUP_BASE", "parse", "pack",
           "unpack"]  # fmt: skip

MAGIC = b"tinyhw-webgpu kernel v2\n"
SCALAR_TYPES = {"u32": "uint32", "i32": "int32", "f32": "float32", "f16": "float16", "i64": "int64",
                "u64": "uint64", "f64": "float64"}  # fmt: skip
"""WGSL type of a uniform field -> tinyhw scalar parameter kind."""
ELEMENT_SIZES = {"u32": 4, "i32": 4, "f32": 4, "f16": 2, "i64": 8, "u64": 8, "f64": 8}
"""Bytes per element of a storage array of each WGSL scalar type."""
PACKED_OFFSETS = {"offset8": 1, "offset16": 2}
"""Args field types (u32 aliases) giving a packed buffer's element size in bytes."""
GROUP_BASE = "tinyhw_group_base"
"""The optional first Args field: the first workgroup id of the dispatch (see above)."""
FEATURES = {"f16": "shader-f16", "i64": "shader-int64", "u64": "shader-int64", "f64": "shader-f64"}
"""The adapter feature (a wgpu-native extension for i64/f64) each optional WGSL type needs."""

_ENTRY = re.compile(r"@compute\s+@workgroup_size\(([^)]*)\)\s*fn\s+(\w+)")
_STORAGE = re.compile(r"var<storage\s*,\s*read_write>\s+(\w+)\s*:\s*array<\s*(?:atomic<\s*)?(\w+)\s*>")
_ARGS = re.compile(r"struct\s+Args\s*\{([^}]*)\}")
_FIELD = re.compile(r"(\w+)\s*:\s*(\w+)")


@dataclass(frozen=True)
class KernelInfo:
    """What a compiled kernel declares: entry name, parameters, element size per buffer, local size, optional
    WGSL types used, and whether `Args` starts with the group base."""

    name: str
    params: tuple[Param, ...]
    element_sizes: tuple[int, ...]
    local_size: tuple[int, int, int]
    types: frozenset[str]
    group_base: bool


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
    params, elements, group_base = _params(source, buffers)
    types = frozenset(re.findall(r"\b(f16|i64|u64|f64)\b", source))
    return KernelInfo(name, params, elements, (local + (1, 1, 1))[:3], types, group_base)  # type: ignore[arg-type]


def _params(source: str, buffers: dict[str, str]) -> tuple[tuple[Param, ...], tuple[int, ...], bool]:
    match = _ARGS.search(source)
    fields = _FIELD.findall(match.group(1)) if match else []
    group_base = bool(fields) and fields[0] == (GROUP_BASE, "vec3")
    params, elements = [], []
    for field, wgsl_type in fields[group_base:]:
        if field in buffers:
            params.append(Param(field, "buffer"))
            elements.append(PACKED_OFFSETS.get(wgsl_type) or ELEMENT_SIZES.get(buffers[field], 4))
        elif wgsl_type in SCALAR_TYPES:
            params.append(Param(field, SCALAR_TYPES[wgsl_type]))
        else:
            raise CompileError(
                f"wgsl: Args field {field!r} has type {wgsl_type}; scalars are {', '.join(SCALAR_TYPES)}"
            )
    if len(elements) != len(buffers):
        missing = sorted(set(buffers) - {p.name for p in params})
        raise CompileError(f"wgsl: storage arrays {missing} have no field in struct Args (their offset)")
    return tuple(params), tuple(elements), group_base


def pack(info: KernelInfo, source: str) -> bytes:
    """The binary for `source` described by `info`."""
    header = {
        "name": info.name,
        "params": [[p.name, p.kind] for p in info.params],
        "elements": list(info.element_sizes),
        "local": list(info.local_size),
        "types": sorted(info.types),
        "group_base": info.group_base,
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
        info = KernelInfo(meta["name"], params, tuple(meta["elements"]), tuple(meta["local"]),
                          frozenset(meta["types"]), meta["group_base"])  # fmt: skip
    except (ValueError, KeyError, TypeError) as exc:
        raise CompileError(f"malformed tinyhw-webgpu kernel binary: {exc}") from None
    return info, source.decode()
