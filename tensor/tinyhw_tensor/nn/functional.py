"""Neural-network functions with PyTorch's names and semantics: `import tinyhw_tensor.nn.functional as F`.

Everything here is a composition of Tensor operations, so it stays lazy and fuses like any other
chain: `F.gelu(F.linear(x, w, b))` is a matmul kernel followed by one fused elementwise kernel
(or fewer, where the scheduler folds the bias and activation into the matmul's output).
Convolution and pooling live in `tinyhw_tensor.nn.conv` and are re-exported here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from tinyhw_tensor import creation
from tinyhw_tensor.nn.conv import avg_pool2d, conv2d, max_pool2d
from tinyhw_tensor.tensor import Tensor

__all__ = [
    "linear",
    "conv2d",
    "max_pool2d",
    "avg_pool2d",
    "layer_norm",
    "rms_norm",
    "embedding",
    "scaled_dot_product_attention",
    "dropout",
    "pad",
    "relu",
    "gelu",
    "silu",
    "sigmoid",
    "tanh",
    "softmax",
    "log_softmax",
]


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """x @ weight.T + bias, with weight [out_features, in_features] like PyTorch's."""
    if weight.ndim != 2 or x.ndim == 0 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: input of shape {x.shape} does not fit weight of shape {weight.shape} "
                         "(expected [..., in_features] and [out_features, in_features])")  # fmt: skip
    out = x @ weight.T
    return out if bias is None else out + bias


def _normalized_axes(x: Tensor, normalized_shape: int | Sequence[int], name: str) -> tuple[int, ...]:
    """The last axes of x that `normalized_shape` names (ValueError naming both shapes otherwise)."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if len(shape) > x.ndim or x.shape[x.ndim - len(shape) :] != shape:
        raise ValueError(f"{name}: normalized_shape {shape} does not match the last dims of input shape {x.shape}")
    return tuple(range(-len(shape), 0))


def layer_norm(x: Tensor, normalized_shape: int | Sequence[int], weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:  # fmt: skip
    """(x - mean) / sqrt(var + eps) * weight + bias over the last dims named by `normalized_shape`."""
    axes = _normalized_axes(x, normalized_shape, "layer_norm")
    centered = x - x.mean(axes, keepdim=True)
    out = centered * ((centered * centered).mean(axes, keepdim=True) + eps).rsqrt()
    out = out if weight is None else out * weight
    return out if bias is None else out + bias


def rms_norm(x: Tensor, normalized_shape: int | Sequence[int], weight: Tensor | None = None,
             eps: float = 1e-6) -> Tensor:  # fmt: skip
    """x / sqrt(mean(x ** 2) + eps) * weight over the last dims named by `normalized_shape`."""
    axes = _normalized_axes(x, normalized_shape, "rms_norm")
    out = x * ((x * x).mean(axes, keepdim=True) + eps).rsqrt()
    return out if weight is None else out * weight


def _check_ids(ids: np.ndarray, size: int) -> None:
    """IndexError naming the first id outside [0, size)."""
    bad = ids[(ids < 0) | (ids >= size)]
    if bad.size:
        raise IndexError(f"embedding id {int(bad.flat[0])} is out of range for a table of {size} rows")


def embedding(ids: Any, weight: Tensor) -> Tensor:
    """Rows of `weight` [num_embeddings, dim] picked by integer `ids` (a Tensor, list or array): the
    result has shape ids.shape + (dim,). The ids are checked on the host first (a device tensor of ids
    is read back), so an out-of-range id raises IndexError instead of reading garbage."""
    if weight.ndim != 2:
        raise ValueError(f"embedding weight must be 2-D [num_embeddings, dim], got shape {weight.shape}")
    host = ids.numpy() if isinstance(ids, Tensor) else np.asarray(ids)
    if host.dtype.kind not in "iu":
        raise TypeError(f"embedding ids must be integers, got {host.dtype}")
    _check_ids(host, weight.shape[0])
    index = ids if isinstance(ids, Tensor) else Tensor(host, device=weight.device)
    return weight[index]


def _causal_mask(length: int, source: int, device: Any) -> Tensor:
    """True where query i may attend to key j, i.e. j <= i (PyTorch's top-left aligned causal mask)."""
    rows = creation.arange(length, dtype="int32", device=device).reshape(length, 1)
    return rows >= creation.arange(source, dtype="int32", device=device).reshape(1, source)


def _apply_mask(scores: Tensor, mask: Any) -> Tensor:
    """scores where a bool mask is True (else -inf), or scores + a float mask."""
    mask = mask if isinstance(mask, Tensor) else Tensor(np.asarray(mask), device=scores.device)
    if mask.dtype.kind == "b":
        return scores.where(mask, -math.inf)
    return scores + mask


def scaled_dot_product_attention(q: Tensor, k: Tensor, v: Tensor, attn_mask: Any = None, is_causal: bool = False,
                                 scale: float | None = None) -> Tensor:  # fmt: skip
    """softmax(q @ k^T * scale + mask) @ v for q [..., L, D], k [..., S, D], v [..., S, Dv] (leading
    dims such as [batch, heads] broadcast). A bool mask keeps scores where True; a float mask is added;
    `is_causal` keeps key j for query i when j <= i. `scale` defaults to 1 / sqrt(D)."""
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2 or q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ValueError(f"attention needs q [..., L, D], k [..., S, D], v [..., S, Dv], got shapes "
                         f"{q.shape}, {k.shape}, {v.shape}")  # fmt: skip
    if is_causal and attn_mask is not None:
        raise ValueError("give attn_mask or is_causal=True, not both")
    scores = (q @ k.mT) * (1 / math.sqrt(q.shape[-1]) if scale is None else scale)
    if is_causal:
        attn_mask = _causal_mask(q.shape[-2], k.shape[-2], q.device)
    if attn_mask is not None:
        scores = _apply_mask(scores, attn_mask)
    return scores.softmax(-1) @ v


def dropout(x: Tensor, p: float = 0.5, training: bool = False) -> Tensor:
    """In training, each element zeroed with probability `p` and the rest scaled by 1 / (1 - p), drawn
    from the generator `tinyhw_tensor.manual_seed` seeds; otherwise (the default) x unchanged."""
    if not 0 <= p <= 1:
        raise ValueError(f"dropout probability must be in [0, 1], got {p}")
    if not training or p == 0:
        return x
    if p == 1:
        return creation.zeros_like(x)
    keep = creation.rand(*x.shape, device=x.device) >= p
    return x.where(keep, 0) * (1 / (1 - p))


def pad(x: Tensor, pad: Sequence[int], mode: str = "constant", value: float = 0) -> Tensor:
    """PyTorch's F.pad: `pad` lists (before, after) pairs starting from the last dim; negative crops."""
    if mode != "constant":
        raise ValueError(f"only mode='constant' padding is supported, got {mode!r}")
    return x.pad(list(pad), value)


def relu(x: Tensor) -> Tensor:
    """max(x, 0)."""
    return x.relu()


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """GELU, exact (erf) or with `approximate="tanh"`."""
    return x.gelu(approximate)


def silu(x: Tensor) -> Tensor:
    """x * sigmoid(x)."""
    return x.silu()


def sigmoid(x: Tensor) -> Tensor:
    """1 / (1 + exp(-x))."""
    return x.sigmoid()


def tanh(x: Tensor) -> Tensor:
    """Hyperbolic tangent."""
    return x.tanh()


def softmax(x: Tensor, dim: int = -1) -> Tensor:
    """exp(x) / sum(exp(x)) along `dim`, computed stably."""
    return x.softmax(dim)


def log_softmax(x: Tensor, dim: int = -1) -> Tensor:
    """log(softmax(x)) along `dim`, computed stably."""
    return x.log_softmax(dim)
