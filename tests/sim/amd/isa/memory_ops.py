"""Memory instructions: scalar loads (SMEM), per-lane global/flat/scratch loads and stores, LDS (DS).

Global and flat addresses go through the GPU address space (tests/sim/amd/memory.py), which
raises PageFault for unmapped bytes. Scratch is each lane's private memory (the wave's
`scratch` rows, sized from the dispatch's private bytes per lane); LDS is the workgroup's
`lds` bytes. Accesses outside either raise PageFault naming the offset. Memory operations
complete in program order, so s_waitcnt has nothing to wait for.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..memory import PageFault
from .decoder import Instruction
from .wave import LANES, NULL, Wave, scalar_reader, vector_writer

__all__ = ["build_memory"]

_SMEM_DWORDS = {"s_load_b32": 1, "s_load_b64": 2, "s_load_b128": 4, "s_load_b256": 8, "s_load_b512": 16}


def _smem(ins: Instruction) -> Callable[[Wave], None]:
    f = ins.fields
    dwords, base, sdata = _SMEM_DWORDS[ins.name], scalar_reader(f["sbase"], None, 64), f["sdata"]
    soffset = scalar_reader(f["soffset"], None) if f["soffset"] != NULL else (lambda w: 0)
    offset = f["offset"]

    def load(w: Wave) -> None:
        address = (base(w) + offset + soffset(w)) & ~3
        data = np.frombuffer(w.memory.read(address, 4 * dwords), "<u4")
        w.sgpr[sdata : sdata + dwords] = data.tolist()

    return load


def _access(name: str) -> tuple[bool, int, str, bool]:
    """(is a store, bytes, where loaded data lands: "lo"/"hi" half (d16) or "dwords", sign-extends) from a name."""
    op = name.split("_", 1)[1]
    kind = op.split("_")[-1]
    nbytes = {"b8": 1, "u8": 1, "i8": 1, "b16": 2, "u16": 2, "i16": 2, "b32": 4, "b64": 8, "b96": 12, "b128": 16}
    land = "hi" if "d16_hi" in op else "lo" if "d16" in op else "dwords"
    return op.startswith("store"), nbytes[kind], land, kind.startswith("i")


def _load_writer(vdst: int, nbytes: int, land: str, signed: bool):
    """Store loaded bytes (uint8[lanes, nbytes]) into VGPRs: whole dwords, sub-dwords extended to 32 bits, or
    (d16 loads) 8/16 bits extended to 16 into one half of `vdst`, keeping the other half."""
    narrow = {1: np.int8 if signed else np.uint8, 2: np.int16 if signed else np.uint16}.get(nbytes)
    if land != "dwords":
        write16 = vector_writer(vdst, 16, land == "hi")
        return lambda w, data, mask: write16(w, data.view(narrow)[:, 0].astype(np.int16).view(np.uint16), mask)

    def write(w: Wave, data: np.ndarray, mask: np.ndarray) -> None:
        rows = data.view("<u4").T if narrow is None else data.view(narrow).astype(np.int64).astype(np.uint32).T
        for i, row in enumerate(rows):
            np.copyto(w.vgpr[vdst + i], row, where=mask)

    return write


def _store_bytes(w: Wave, vdata: int, nbytes: int, land: str) -> np.ndarray:
    """The bytes each lane stores: uint8[lanes, nbytes] from VGPRs starting at `vdata`."""
    if land == "hi":
        return (w.vgpr[vdata] >> 16).astype("<u2").view(np.uint8).reshape(LANES, 2)[:, :nbytes]
    dwords = max(1, nbytes // 4)
    regs = np.ascontiguousarray(w.vgpr[vdata : vdata + dwords].T).astype("<u4")
    return regs.view(np.uint8).reshape(LANES, 4 * dwords)[:, :nbytes]


def _flat_address(ins: Instruction) -> Callable[[Wave], np.ndarray]:
    """Per-lane addresses: scratch offsets (SGPR + optional VGPR + offset) or 64-bit global/flat addresses."""
    f = ins.fields
    offset, vaddr, saddr = f["offset"], f["addr"], f["saddr"]
    scalar = scalar_reader(saddr, None, 32 if ins.name.startswith("scratch_") else 64)
    if ins.name.startswith("scratch_"):
        vector = (lambda w: w.vgpr[vaddr].astype(np.int64)) if f["sve"] else (lambda w: np.zeros(LANES, np.int64))
        return lambda w: scalar(w) + offset + vector(w)
    if saddr != NULL:
        return lambda w: np.uint64(scalar(w) + offset) + w.vgpr[vaddr].astype(np.uint64)
    high, wrapped = np.uint64(32), np.uint64(offset % (1 << 64))
    return lambda w: (w.vgpr[vaddr].astype(np.uint64) | w.vgpr[vaddr + 1].astype(np.uint64) << high) + wrapped


def _flat(ins: Instruction) -> Callable[[Wave], None]:
    f = ins.fields
    store, nbytes, land, signed = _access(ins.name)
    address = _flat_address(ins)
    access = _scratch_access if ins.name.startswith("scratch_") else _global_access
    if store:
        vdata = f["data"]
        return lambda w: access(w, address(w), nbytes, _store_bytes(w, vdata, nbytes, land))
    write = _load_writer(f["vdst"], nbytes, land, signed)
    return lambda w: write(w, access(w, address(w), nbytes, None), w.exec_mask())


def _global_access(w: Wave, address: np.ndarray, nbytes: int, data: np.ndarray | None) -> np.ndarray | None:
    address = address.astype(np.uint64)
    if data is None:
        return w.memory.gather(address, nbytes, w.exec_mask())
    w.memory.scatter(address, data, nbytes, w.exec_mask())
    return None


def _lane_bytes(space: np.ndarray, offsets: np.ndarray, nbytes: int, mask: np.ndarray, access: str, what: str):
    """(lanes, byte index array) for per-lane accesses of `space`; PageFault naming the offset if out of range."""
    lanes = np.flatnonzero(mask)
    start = offsets[lanes].astype(np.int64)
    limit = space.shape[-1]
    bad = (start < 0) | (start + nbytes > limit)
    if bad.any():
        raise PageFault(int(start[np.argmax(bad)]), access, f"outside the {limit} bytes of {what}")
    return lanes, start[:, None] + np.arange(nbytes)


def _scratch_access(w: Wave, offsets: np.ndarray, nbytes: int, data: np.ndarray | None) -> np.ndarray | None:
    mask = w.exec_mask()
    lanes, index = _lane_bytes(
        w.scratch, offsets, nbytes, mask, "read" if data is None else "write", "the lane's scratch"
    )
    if data is None:
        out = np.zeros((LANES, nbytes), np.uint8)
        out[lanes] = w.scratch[lanes[:, None], index]
        return out
    w.scratch[lanes[:, None], index] = data[lanes]
    return None


_DS_ATOMIC = {"add_u32": np.add, "sub_u32": np.subtract, "min_i32": np.minimum, "max_i32": np.maximum,
              "min_u32": np.minimum, "max_u32": np.maximum, "and_b32": np.bitwise_and, "or_b32": np.bitwise_or,
              "xor_b32": np.bitwise_xor, "min_f32": np.fmin, "max_f32": np.fmax, "add_f32": np.add}  # fmt: skip
_DS_TYPES = {"i32": np.int32, "u32": np.uint32, "b32": np.uint32, "f32": np.float32}


def _ds_atomic(ins: Instruction, op: str) -> Callable[[Wave], None]:
    f = ins.fields
    fn, dtype, offset = _DS_ATOMIC[op], _DS_TYPES[op[-3:]], f["offset0"] | f["offset1"] << 8

    def atomic(w: Wave) -> None:
        addresses = w.vgpr[f["addr"]].astype(np.int64) + offset
        lanes, index = _lane_bytes(w.lds, addresses, 4, w.exec_mask(), "write", "LDS")
        words = w.lds.view(dtype) if w.lds.size % 4 == 0 else None
        for lane, first in zip(lanes, index[:, 0]):  # lane order, so repeated addresses combine like the hardware
            value = w.vgpr[f["data0"], lane : lane + 1].view(dtype)
            if words is not None and first % 4 == 0:
                words[first // 4] = fn(words[first // 4], value[0])
            else:
                cell = w.lds[first : first + 4].view(dtype)
                cell[0] = fn(cell[0], value[0])

    return atomic


def _ds(ins: Instruction) -> Callable[[Wave], None]:
    f = ins.fields
    op = ins.name[3:]
    if op in _DS_ATOMIC:
        return _ds_atomic(ins, op)
    store, nbytes, land, signed = _access(ins.name.replace("2addr_", "").replace("stride64_", ""))
    if "2addr" in ins.name:
        unit = nbytes * (64 if "stride64" in ins.name else 1)  # offsets count elements, or 64-element strides
        offsets = (f["offset0"] * unit, f["offset1"] * unit)
    else:
        offsets = (f["offset0"] | f["offset1"] << 8,)
    datas = (f["data0"], f["data1"])
    access = "write" if store else "read"
    writers = [_load_writer(f["vdst"] + i * max(1, nbytes // 4), nbytes, land, signed) for i in range(len(offsets))]

    def run(w: Wave) -> None:
        mask = w.exec_mask()
        base = w.vgpr[f["addr"]].astype(np.int64)
        for i, offset in enumerate(offsets):
            lanes, index = _lane_bytes(w.lds, base + offset, nbytes, mask, access, "LDS")
            if store:
                w.lds[index] = _store_bytes(w, datas[i], nbytes, land)[lanes]
            else:
                data = np.zeros((LANES, nbytes), np.uint8)
                data[lanes] = w.lds[index]
                writers[i](w, data, mask)

    return run


_BUILDERS = {"SMEM": _smem, "FLAT": _flat, "DS": _ds, "MUBUF": lambda ins: lambda w: None}


def build_memory(ins: Instruction) -> Callable[[Wave], None]:
    """The executor of a memory instruction (buffer_gl0_inv/gl1_inv, cache invalidations, are no-ops)."""
    return _BUILDERS[ins.format](ins)
