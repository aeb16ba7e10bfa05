"""Convolution and pooling over sliding windows, built from views (NCHW, PyTorch semantics).

`sliding_windows` turns the last dims of a tensor into (output position, kernel offset) pairs
with movement ops only — pad, repeat, slicing and reshape, so no data is copied: the window
view is index arithmetic that fuses into the kernel reading it. `conv2d` multiplies the windows
with the weight and sums over (input channel, kernel row, kernel column), like a matmul;
`max_pool2d` and `avg_pool2d` reduce the windows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from tinyhw_tensor import creation

if TYPE_CHECKING:
    from tinyhw_tensor.tensor import Tensor

__all__ = ["sliding_windows", "conv2d", "max_pool2d", "avg_pool2d", "as_pair", "IntPair"]

IntPair = int | Sequence[int]


def as_pair(value: IntPair, name: str) -> tuple[int, int]:
    """An int or a pair of ints as a pair (ValueError otherwise)."""
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) for v in pair):
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    return pair


def _shrink(x: Tensor, bounds: Sequence[tuple[int, int]]) -> Tensor:
    """x[b0:e0, b1:e1, ...] for the given (begin, end) bounds of the first dims."""
    return x[tuple(slice(b, e) for b, e in bounds)]


def _output_sizes(
    sizes: Sequence[int], kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int]
) -> list[int]:
    out = [(i - d * (k - 1) - 1) // s + 1 for i, k, s, d in zip(sizes, kernel, stride, dilation)]
    if any(o <= 0 for o in out):
        raise ValueError(f"input of spatial size {tuple(sizes)} is smaller than the kernel {tuple(kernel)} "
                         f"with dilation {tuple(dilation)}")  # fmt: skip
    return out


def sliding_windows(x: Tensor, kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int]) -> Tensor:
    """The windows over x's last len(kernel) dims as a view of shape (..., *out_sizes, *kernel):
    element (..., o1, o2, k1, k2) is x[..., o1 * s1 + k1 * d1, o2 * s2 + k2 * d2]."""
    lead = x.ndim - len(kernel)
    out = _output_sizes(x.shape[lead:], kernel, stride, dilation)
    if all(k <= s and d == 1 for k, s, d in zip(kernel, stride, dilation)):
        x = _strided_windows(x, lead, kernel, stride, out)
    else:
        x = _repeated_windows(x, lead, kernel, stride, dilation, out)
    n = len(kernel)
    return x.permute(*range(lead), *(lead + 2 * i for i in range(n)), *(lead + 2 * i + 1 for i in range(n)))


def _strided_windows(x: Tensor, lead: int, kernel: Sequence[int], stride: Sequence[int], out: list[int]) -> Tensor:
    """Windows that do not overlap (kernel <= stride, no dilation) as (..., o1, k1, o2, k2): one plain view."""
    noop = [(0, s) for s in x.shape[:lead]]
    x = x.pad([None] * lead + [(0, max(0, o * s - i)) for o, s, i in zip(out, stride, x.shape[lead:])])
    x = _shrink(x, noop + [(0, o * s) for o, s in zip(out, stride)])
    x = x.reshape(*x.shape[:lead], *(v for o, s in zip(out, stride) for v in (o, s)))
    return _shrink(x, noop + [b for o, k in zip(out, kernel) for b in ((0, o), (0, k))])


def _repeated_windows(x: Tensor, lead: int, kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int],
                      out: list[int]) -> Tensor:  # fmt: skip
    """Overlapping or dilated windows as (..., o1, k1, o2, k2), by tinygrad's trick: repeat each dim
    k times with a row length of i * f + d, so row j starts at element j * d; then step by the stride."""
    shape, noop = x.shape[:lead], [(0, s) for s in x.shape[:lead]]
    sizes = x.shape[lead:]
    f = [1 + int(o * s > i + d) for o, s, i, d in zip(out, stride, sizes, dilation)]
    rows = [i * fi + d for i, fi, d in zip(sizes, f, dilation)]
    x = x.repeat(*([1] * lead), *(-(-k * r // i) for k, r, i in zip(kernel, rows, sizes)))
    x = _shrink(x, noop + [(0, k * r) for k, r in zip(kernel, rows)])
    x = x.reshape(*shape, *(v for k, r in zip(kernel, rows) for v in (k, r)))
    x = _shrink(x, noop + [b for k, o, s in zip(kernel, out, stride) for b in ((0, k), (0, o * s))])
    x = x.reshape(*shape, *(v for k, o, s in zip(kernel, out, stride) for v in (k, o, s)))
    x = _shrink(x, noop + [b for k, o in zip(kernel, out) for b in ((0, k), (0, o), (0, 1))])
    x = x.reshape(*shape, *(v for k, o in zip(kernel, out) for v in (k, o)))
    return x.permute(*range(lead), *(lead + j for i in range(len(kernel)) for j in (2 * i + 1, 2 * i)))


def _padding(padding: IntPair | str, kernel: tuple[int, int], stride: tuple[int, int],
             dilation: tuple[int, int]) -> list[tuple[int, int]]:  # fmt: skip
    """Per-dim (before, after) padding from an int, a pair, "valid" or "same" (stride 1 only)."""
    if padding == "valid":
        return [(0, 0), (0, 0)]
    if padding == "same":
        if stride != (1, 1):
            raise ValueError(f"padding='same' needs stride 1, got stride {stride}")
        total = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return [(t // 2, t - t // 2) for t in total]
    return [(p, p) for p in as_pair(padding, "padding")]


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntPair = 1, padding: IntPair | str = 0,
           dilation: IntPair = 1, groups: int = 1) -> Tensor:  # fmt: skip
    """2-D convolution (cross-correlation, like PyTorch) of x [N, C_in, H, W] (or [C_in, H, W]) with
    weight [C_out, C_in / groups, kH, kW], plus bias [C_out]; padding is an int, a pair, "valid" or "same"."""
    if x.ndim == 3:
        return conv2d(x.unsqueeze(0), weight, bias, stride, padding, dilation, groups).squeeze(0)
    n, cin, _, _ = _check_conv(x, weight, groups)
    cout, cin_g, kh, kw = weight.shape
    stride, dilation = as_pair(stride, "stride"), as_pair(dilation, "dilation")
    x = x.pad([None, None, *_padding(padding, (kh, kw), stride, dilation)])
    win = sliding_windows(x, (kh, kw), stride, dilation)  # [N, C_in, oH, oW, kH, kW]
    oh, ow = win.shape[2:4]
    win = win.reshape(n, groups, 1, cin_g, oh, ow, kh, kw).permute(0, 1, 2, 4, 5, 3, 6, 7)
    w = weight.reshape(1, groups, cout // groups, 1, 1, cin_g, kh, kw)
    out = (win * w).sum((-3, -2, -1)).reshape(n, cout, oh, ow)
    return out if bias is None else out + bias.reshape(1, cout, 1, 1)


def _check_conv(x: Tensor, weight: Tensor, groups: int) -> tuple[int, ...]:
    """x's shape, after checking x, weight and groups fit together (ValueError naming the shapes)."""
    if x.ndim != 4 or weight.ndim != 4:
        raise ValueError(f"conv2d needs a 4-D input and a 4-D weight, got shapes {x.shape} and {weight.shape}")
    if groups < 1 or x.shape[1] % groups or weight.shape[0] % groups:
        raise ValueError(f"groups={groups} must divide the input channels {x.shape[1]} and the output channels "
                         f"{weight.shape[0]}")  # fmt: skip
    if weight.shape[1] * groups != x.shape[1]:
        raise ValueError(f"conv2d input of shape {x.shape} has {x.shape[1]} channels, but weight of shape "
                         f"{weight.shape} with groups={groups} expects {weight.shape[1] * groups}")  # fmt: skip
    return x.shape


def _pool_geometry(x: Tensor, kernel_size: IntPair, stride: IntPair | None, padding: IntPair, dilation: IntPair,
                   ceil_mode: bool) -> tuple:  # fmt: skip
    """(kernel, stride, dilation, per-dim (before, after) padding) of a pooling, checked like PyTorch's."""
    if x.ndim not in (3, 4):
        raise ValueError(f"pooling needs a 3-D or 4-D input, got shape {x.shape}")
    kernel = as_pair(kernel_size, "kernel_size")
    stride = kernel if stride is None else as_pair(stride, "stride")
    dilation, pad = as_pair(dilation, "dilation"), as_pair(padding, "padding")
    if any(p > (d * (k - 1) + 1) // 2 for p, k, d in zip(pad, kernel, dilation)):
        raise ValueError(f"pad should be at most half of effective kernel size, got padding={pad}, kernel={kernel}")
    widths = [(p, p + (_ceil_extra(i, k, s, p, d) if ceil_mode else 0))
              for i, k, s, p, d in zip(x.shape[-2:], kernel, stride, pad, dilation)]  # fmt: skip
    return kernel, stride, dilation, widths


def _ceil_extra(size: int, k: int, s: int, p: int, d: int) -> int:
    """Extra right padding for ceil_mode: one more window when it starts inside the input or left padding."""
    span = size + 2 * p - d * (k - 1) - 1
    out = -(-span // s) + 1
    if (out - 1) * s >= size + p:
        out -= 1
    return (out - 1) * s - span


def max_pool2d(x: Tensor, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair = 0,
               dilation: IntPair = 1, ceil_mode: bool = False) -> Tensor:  # fmt: skip
    """The maximum of every window of x [N, C, H, W] (or [C, H, W]); padding counts as -inf. `stride`
    defaults to the kernel size."""
    kernel, stride, dilation, widths = _pool_geometry(x, kernel_size, stride, padding, dilation, ceil_mode)
    low = -math.inf if x.dtype.kind == "f" else _lowest(x)
    padded = x.pad([None] * (x.ndim - 2) + widths, value=low)
    return sliding_windows(padded, kernel, stride, dilation).max((-2, -1))


def _lowest(x: Tensor) -> int | bool:
    """The smallest value of x's integer or bool dtype (the padding of a max pool)."""
    if x.dtype.kind == "b":
        return False
    bits = 8 * x.dtype.itemsize
    return -(1 << (bits - 1)) if x.dtype.kind == "i" else 0


def avg_pool2d(x: Tensor, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair = 0,
               ceil_mode: bool = False, count_include_pad: bool = True) -> Tensor:  # fmt: skip
    """The mean of every window of x [N, C, H, W] (or [C, H, W]). Padding is zeros; with
    `count_include_pad` (default) it counts in the divisor, else only input elements do."""
    kernel, stride, _, widths = _pool_geometry(x, kernel_size, stride, padding, 1, ceil_mode)
    x = x.cast(x.dtype if x.dtype.kind == "f" else "float32")
    total = sliding_windows(x.pad([None] * (x.ndim - 2) + widths), kernel, stride, (1, 1)).sum((-2, -1))
    if not ceil_mode and count_include_pad:
        return total / math.prod(kernel)
    return total / _window_counts(x, kernel, stride, widths, count_include_pad)


def _window_counts(x: Tensor, kernel: tuple, stride: tuple, widths: list, count_include_pad: bool) -> Tensor:
    """How many elements of every pooling window count in its mean: those of the input, and of the
    padding when `count_include_pad` (never the extra right padding of ceil_mode)."""
    if count_include_pad:
        size = [i + 2 * b for i, (b, _) in zip(x.shape[-2:], widths)]
        counted = creation.ones(*size, dtype=x.dtype, device=x.device).pad([(0, a - b) for b, a in widths])
    else:
        counted = creation.ones(*x.shape[-2:], dtype=x.dtype, device=x.device).pad(widths)
    return sliding_windows(counted, kernel, stride, (1, 1)).sum((-2, -1))
