"""Scalar and vector data types shared by the kernel IR, its renderers and the tensor frontend."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "DType",
    "bool_",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float16",
    "bfloat16",
    "float32",
    "float64",
    "DTYPES",
    "dtype_of",
]


@dataclass(frozen=True, slots=True)
class DType:
    """A data type: `kind` is "b" (bool), "i" (signed), "u" (unsigned) or "f" (float); `count` > 1
    makes it a vector of `count` scalars of the same kind and size."""

    name: str
    kind: str
    itemsize: int
    count: int = 1

    @property
    def scalar(self) -> DType:
        """The element type of a vector type (itself for scalars)."""
        return DTYPES[self.name] if self.count > 1 else self

    def vec(self, count: int) -> DType:
        """The vector of `count` elements of this scalar type."""
        if self.count != 1 or count < 1:
            raise ValueError(f"cannot make a {count}-vector of {self}")
        return self if count == 1 else DType(self.name, self.kind, self.itemsize, count)

    @property
    def is_float(self) -> bool:
        return self.kind == "f"

    @property
    def is_int(self) -> bool:
        """Signed or unsigned integer (bool excluded)."""
        return self.kind in "iu"

    @property
    def bits(self) -> int:
        return 1 if self.kind == "b" else 8 * self.itemsize

    @property
    def numpy(self) -> np.dtype:
        """The numpy dtype of the scalar type (bfloat16 has none: its bits as uint16)."""
        return np.dtype("uint16") if self.name == "bfloat16" else np.dtype("bool" if self.kind == "b" else self.name)

    def __repr__(self) -> str:
        return self.name if self.count == 1 else f"{self.name}x{self.count}"


bool_ = DType("bool", "b", 1)
int8, int16, int32, int64 = (DType(f"int{8 * n}", "i", n) for n in (1, 2, 4, 8))
uint8, uint16, uint32, uint64 = (DType(f"uint{8 * n}", "u", n) for n in (1, 2, 4, 8))
float16, bfloat16 = DType("float16", "f", 2), DType("bfloat16", "f", 2)
float32, float64 = DType("float32", "f", 4), DType("float64", "f", 8)

DTYPES = {
    d.name: d
    for d in (bool_, int8, int16, int32, int64, uint8, uint16, uint32, uint64, float16, bfloat16, float32, float64)
}
"""Every scalar type by name."""


def dtype_of(name: str | DType | np.dtype | type) -> DType:
    """The DType for a name ("float32"), a numpy dtype or scalar type, or a DType; ValueError otherwise."""
    if isinstance(name, DType):
        return name
    key = name if isinstance(name, str) else np.dtype(name).name
    if key not in DTYPES:
        raise ValueError(f"unsupported dtype {name!r}; supported: {', '.join(DTYPES)}")
    return DTYPES[key]
