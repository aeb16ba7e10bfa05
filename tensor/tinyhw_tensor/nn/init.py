"""Initial parameter values, drawn from the frontend's seedable generator (`tinyhw_tensor.manual_seed`).

Tensors never change in place, so these return new, realized tensors instead of filling one
(PyTorch's `nn.init.uniform_` is `uniform(shape, ...)` here).
"""

from __future__ import annotations

import math
from typing import Any

from tinyhw_tensor import creation
from tinyhw_tensor.tensor import Tensor

__all__ = ["uniform", "normal", "kaiming_uniform", "zeros", "ones"]


def uniform(shape: tuple[int, ...], low: float, high: float, dtype: Any = "float32", device: Any = None) -> Tensor:
    """Values drawn uniformly from [low, high)."""
    values = creation.rand(*shape, device=device) * (high - low) + low
    return values.cast(dtype).realize()


def normal(shape: tuple[int, ...], mean: float = 0.0, std: float = 1.0, dtype: Any = "float32",
           device: Any = None) -> Tensor:  # fmt: skip
    """Values drawn from a normal distribution."""
    return (creation.randn(*shape, device=device) * std + mean).cast(dtype).realize()


def kaiming_uniform(shape: tuple[int, ...], fan_in: int, a: float = math.sqrt(5), dtype: Any = "float32",
                    device: Any = None) -> Tensor:  # fmt: skip
    """PyTorch's kaiming_uniform_ for leaky-relu slope `a`: U(-b, b) with b = sqrt(6 / ((1 + a^2) fan_in)).
    The default `a` is what nn.Linear and nn.Conv2d use, giving b = 1 / sqrt(fan_in)."""
    bound = math.sqrt(6 / ((1 + a * a) * fan_in)) if fan_in else 0.0
    return uniform(shape, -bound, bound, dtype, device)


def zeros(shape: tuple[int, ...], dtype: Any = "float32", device: Any = None) -> Tensor:
    """Zeros in a buffer of their own."""
    return creation.zeros(*shape, dtype=dtype, device=device).contiguous().realize()


def ones(shape: tuple[int, ...], dtype: Any = "float32", device: Any = None) -> Tensor:
    """Ones in a buffer of their own."""
    return creation.ones(*shape, dtype=dtype, device=device).contiguous().realize()
