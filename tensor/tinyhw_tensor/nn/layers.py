"""Layers with PyTorch's constructor arguments, parameter names and default initialisation.

`Linear`, `Conv2d`: weight and bias drawn from U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (PyTorch's
kaiming-uniform default); `Embedding`: weight from N(0, 1); `LayerNorm`: weight ones, bias zeros.
Random values come from the generator `tinyhw_tensor.manual_seed` seeds, so a seeded model is
reproducible, and a checkpoint saved by PyTorch loads with `load_state_dict` unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from tinyhw_tensor.nn import functional as F
from tinyhw_tensor.nn import init
from tinyhw_tensor.nn.conv import IntPair, as_pair
from tinyhw_tensor.nn.module import Module
from tinyhw_tensor.tensor import Tensor

__all__ = ["Linear", "Conv2d", "LayerNorm", "Embedding"]


class Linear(Module):
    """y = x @ weight.T + bias, with weight [out_features, in_features] and bias [out_features]."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device: Any = None,
                 dtype: Any = "float32") -> None:  # fmt: skip
        self.in_features, self.out_features = in_features, out_features
        self.weight = init.kaiming_uniform((out_features, in_features), in_features, dtype=dtype, device=device)
        bound = 1 / math.sqrt(in_features) if in_features else 0.0
        self.bias = init.uniform((out_features,), -bound, bound, dtype, device) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        """The affine map of x [..., in_features]."""
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Conv2d(Module):
    """2-D convolution over NCHW input; weight [out_channels, in_channels / groups, kH, kW], bias [out_channels]."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntPair, stride: IntPair = 1,
                 padding: IntPair | str = 0, dilation: IntPair = 1, groups: int = 1, bias: bool = True,
                 device: Any = None, dtype: Any = "float32") -> None:  # fmt: skip
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(f"groups={groups} must divide in_channels={in_channels} and out_channels={out_channels}")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size, self.stride, self.dilation = as_pair(kernel_size, "kernel_size"), stride, dilation
        self.padding = padding
        shape = (out_channels, in_channels // groups, *self.kernel_size)
        fan_in = math.prod(shape[1:])
        self.weight = init.kaiming_uniform(shape, fan_in, dtype=dtype, device=device)
        bound = 1 / math.sqrt(fan_in) if fan_in else 0.0
        self.bias = init.uniform((out_channels,), -bound, bound, dtype, device) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        """The convolution of x [N, in_channels, H, W]."""
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, dilation={self.dilation}, groups={self.groups}")  # fmt: skip


class LayerNorm(Module):
    """Normalisation over the last dims named by `normalized_shape`, then weight * x + bias."""

    def __init__(self, normalized_shape: int | Sequence[int], eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, device: Any = None, dtype: Any = "float32") -> None:  # fmt: skip
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.normalized_shape, self.eps = shape, eps
        self.weight = init.ones(shape, dtype, device) if elementwise_affine else None
        self.bias = init.zeros(shape, dtype, device) if elementwise_affine and bias else None

    def forward(self, x: Tensor) -> Tensor:
        """x normalised over its last dims."""
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}"


class Embedding(Module):
    """A table of `num_embeddings` vectors of `embedding_dim`; calling it with integer ids picks rows."""

    def __init__(self, num_embeddings: int, embedding_dim: int, device: Any = None, dtype: Any = "float32") -> None:
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.weight = init.normal((num_embeddings, embedding_dim), dtype=dtype, device=device)

    def forward(self, ids: Any) -> Tensor:
        """The rows for `ids` (shape ids.shape + (embedding_dim,)); IndexError for an id out of range."""
        return F.embedding(ids, self.weight)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}"
