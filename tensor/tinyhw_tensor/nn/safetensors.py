"""Reading and writing safetensors files (Hugging Face's weight format) without the `safetensors` package.

The format: an 8-byte little-endian header length N, then N bytes of JSON mapping each tensor
name to {"dtype", "shape", "data_offsets": [begin, end]} (offsets into the data that follows the
header; tensors tile it with no gaps or overlaps), plus an optional "__metadata__" of strings.

The file is memory-mapped, so host-side access is zero-copy: `SafetensorsFile.get_numpy` is a
view of the mapped bytes, and `get_tensor` copies those bytes straight into device memory (BF16
passes through float32 on the host, exactly). Every problem with a file — truncated, a header
running past the end, bad JSON, offsets outside the data or overlapping, an unknown dtype, a
Git LFS pointer where the weights should be — raises SafetensorsError naming the file.

    from tinyhw_tensor.nn.safetensors import load_file
    model.load_state_dict(load_file("model.safetensors"))
"""

from __future__ import annotations

import json
import math
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinyhw_tensor import dtypes as dt
from tinyhw_tensor.tensor import Tensor

__all__ = ["SafetensorsError", "SafetensorsFile", "safe_open", "load_file", "save_file"]

DTYPES: dict[str, tuple[dt.DType, str]] = {
    "F64": (dt.float64, "<f8"),
    "F32": (dt.float32, "<f4"),
    "F16": (dt.float16, "<f2"),
    "BF16": (dt.bfloat16, "<u2"),
    "I64": (dt.int64, "<i8"),
    "I32": (dt.int32, "<i4"),
    "I16": (dt.int16, "<i2"),
    "I8": (dt.int8, "i1"),
    "U8": (dt.uint8, "u1"),
    "BOOL": (dt.bool_, "?"),
}
"""safetensors dtype code -> (tensor dtype, numpy dtype of the stored bytes; BF16 as its uint16 bits)."""
CODES = {tensor_dtype: code for code, (tensor_dtype, _) in DTYPES.items()}
MAX_HEADER = 100 * 1024 * 1024
"""The largest header accepted (the `safetensors` package's limit too)."""
LFS_POINTER = b"version https://git-lfs"


class SafetensorsError(ValueError):
    """A file that is not valid safetensors; the message names the file and what is wrong."""


@dataclass(frozen=True, slots=True)
class _Entry:
    """Where one tensor's bytes lie in the data section, and how to read them."""

    code: str
    shape: tuple[int, ...]
    begin: int
    end: int


def _fail(path: str, message: str) -> SafetensorsError:
    return SafetensorsError(f"{path}: {message}")


def _header(path: str, raw: np.ndarray) -> tuple[dict[str, Any], int]:
    """(the parsed JSON header, the offset where the data starts) of the file mapped as `raw`."""
    if bytes(raw[: len(LFS_POINTER)]) == LFS_POINTER:
        raise _fail(path, "this is a Git LFS pointer, not the weights: fetch the real file (e.g. `git lfs pull`)")
    if raw.size < 8:
        raise _fail(path, f"truncated: {raw.size} bytes, but a safetensors file starts with an 8-byte header length")
    (length,) = struct.unpack("<Q", bytes(raw[:8]))
    if 8 + length > raw.size or length > MAX_HEADER:
        raise _fail(path, f"header length {length} runs past the end of the file ({raw.size} bytes): "
                    "truncated or not a safetensors file")  # fmt: skip
    try:
        header = json.loads(bytes(raw[8 : 8 + length]).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise _fail(path, f"the header is not valid JSON ({error})") from None
    if not isinstance(header, dict):
        raise _fail(path, f"the header must be a JSON object, got {type(header).__name__}")
    return header, 8 + length


def _entry(path: str, name: str, info: Any) -> _Entry:
    """One header entry, checked: a known dtype, a shape of ints >= 0, offsets that fit the shape."""
    if not isinstance(info, dict) or not {"dtype", "shape", "data_offsets"} <= info.keys():
        raise _fail(path, f"tensor {name!r}: expected {{'dtype', 'shape', 'data_offsets'}}, got {info!r}")
    code, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
    if code not in DTYPES:
        raise _fail(path, f"tensor {name!r} has unknown or unsupported dtype {code!r} (known: {', '.join(DTYPES)})")
    if not isinstance(shape, list) or not all(isinstance(s, int) and s >= 0 for s in shape):
        raise _fail(path, f"tensor {name!r} has an invalid shape {shape!r}")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)):
        raise _fail(path, f"tensor {name!r} has invalid data_offsets {offsets!r}")
    begin, end = offsets
    nbytes = math.prod(shape) * np.dtype(DTYPES[code][1]).itemsize
    if end - begin != nbytes:
        raise _fail(path, f"tensor {name!r} of dtype {code} and shape {tuple(shape)} needs {nbytes} bytes, "
                    f"but its data_offsets {offsets} span {end - begin}")  # fmt: skip
    return _Entry(code, tuple(shape), begin, end)


def _check_layout(path: str, entries: dict[str, _Entry], data_size: int) -> None:
    """The tensors' byte ranges must tile the data section [0, data_size) in order, without overlap."""
    at = 0
    for name, entry in sorted(entries.items(), key=lambda item: (item[1].begin, item[1].end)):
        if entry.begin != at:
            kind = "overlaps the tensor before it" if entry.begin < at else "leaves a gap before it"
            raise _fail(path, f"tensor {name!r} at data_offsets [{entry.begin}, {entry.end}] {kind} (expected {at})")
        at = entry.end
    if at != data_size:
        raise _fail(path, f"the tensors cover {at} bytes of data, but the file holds {data_size} after the "
                    "header: offsets outside the data, or a truncated file")  # fmt: skip


class SafetensorsFile:
    """An open safetensors file: its tensor names, metadata, and each tensor on demand.

    Made by `safe_open` (usable as a context manager). The file stays mapped until `close()`;
    numpy views from `get_numpy` keep the mapping alive on their own. Not thread-safe to close
    while another thread reads.
    """

    def __init__(self, path: str | os.PathLike, device: Any = None) -> None:
        self.path, self.device = os.fspath(path), device
        size = os.path.getsize(self.path)
        self._raw = np.memmap(self.path, dtype=np.uint8, mode="r") if size else np.zeros(0, np.uint8)
        header, start = _header(self.path, self._raw)
        meta = header.pop("__metadata__", None)
        if meta is not None and not (isinstance(meta, dict) and all(isinstance(v, str) for v in meta.values())):
            raise _fail(self.path, f"__metadata__ must map strings to strings, got {meta!r}")
        self._metadata = meta
        self._entries = {name: _entry(self.path, name, info) for name, info in header.items()}
        _check_layout(self.path, self._entries, size - start)
        self._data = self._raw[start:]

    def keys(self) -> list[str]:
        """The tensor names, sorted."""
        return sorted(self._entries)

    def metadata(self) -> dict[str, str] | None:
        """The `__metadata__` strings, or None when the file has none."""
        return self._metadata

    def _lookup(self, name: str) -> _Entry:
        entry = self._entries.get(name)
        if entry is None:
            raise KeyError(f"{self.path} has no tensor {name!r}")
        return entry

    def get_numpy(self, name: str) -> np.ndarray:
        """Tensor `name` as a read-only numpy view of the mapped file (no copy; BF16 as its uint16 bits)."""
        entry = self._lookup(name)
        return self._data[entry.begin : entry.end].view(DTYPES[entry.code][1]).reshape(entry.shape)

    def get_tensor(self, name: str) -> Tensor:
        """Tensor `name` on the device given to `safe_open` (default: the default device)."""
        entry = self._lookup(name)
        array, dtype = self.get_numpy(name), DTYPES[entry.code][0]
        if dtype == dt.bfloat16:
            array = dt.from_numpy(array, dtype)  # exact as float32; the upload rounds back to the same bits
        return Tensor(array, dtype=dtype, device=self.device)

    def close(self) -> None:
        """Drop this object's mapping of the file (views already handed out stay valid)."""
        self._raw = self._data = np.zeros(0, np.uint8)

    def __enter__(self) -> SafetensorsFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def safe_open(path: str | os.PathLike, framework: str = "tinyhw", device: Any = None) -> SafetensorsFile:
    """Open a safetensors file for lazy access (the `safetensors` package's call; `framework` is ignored)."""
    return SafetensorsFile(path, device)


def load_file(path: str | os.PathLike, device: Any = None) -> dict[str, Tensor]:
    """Every tensor of a safetensors file, by name, on `device` (default: the default device)."""
    with safe_open(path, device=device) as f:
        return {name: f.get_tensor(name) for name in f.keys()}


def _stored(value: Tensor | np.ndarray) -> tuple[str, tuple[int, ...], bytes]:
    """(dtype code, shape, little-endian bytes) of a tensor or numpy array."""
    array = value.numpy() if isinstance(value, Tensor) else np.asarray(value)
    dtype = value.dtype if isinstance(value, Tensor) else dt.as_dtype(array.dtype)
    if dtype not in CODES:
        raise TypeError(f"save_file cannot store dtype {dtype} (it stores: {', '.join(str(d) for d in CODES)})")
    code = CODES[dtype]
    stored = dt.to_numpy(array, dtype).astype(DTYPES[code][1], copy=False)
    return code, tuple(array.shape), np.ascontiguousarray(stored).tobytes()


def save_file(tensors: Mapping[str, Tensor | np.ndarray], path: str | os.PathLike,
              metadata: Mapping[str, str] | None = None) -> None:  # fmt: skip
    """Write `tensors` (Tensors or numpy arrays, by name) to a safetensors file, with optional string metadata."""
    header: dict[str, Any] = {}
    blobs, offset = [], 0
    for name in sorted(tensors):
        code, shape, blob = _stored(tensors[name])
        header[name] = {"dtype": code, "shape": list(shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    if metadata is not None:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the data starts 8-byte aligned, as the reference writer does
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for blob in blobs:
            f.write(blob)
