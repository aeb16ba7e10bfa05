"""conv2d, max_pool2d and avg_pool2d against numpy references (PyTorch semantics, NCHW)."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

import tinyhw_tensor as tt
import tinyhw_tensor.nn.functional as F
from tinyhw_tensor.nn.conv import sliding_windows


def windows_ref(x: np.ndarray, kernel, stride, dilation) -> np.ndarray:
    """numpy's windows over the last two dims: (..., oH, oW, kH, kW)."""
    span = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    view = sliding_window_view(x, span, axis=(-2, -1))
    return view[..., :: stride[0], :: stride[1], :: dilation[0], :: dilation[1]]


def conv2d_ref(x, w, b=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1) -> np.ndarray:
    xp = np.pad(x, ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2))
    win = windows_ref(xp, w.shape[2:], stride, dilation)
    n, c, oh, ow, kh, kw = win.shape
    win = win.reshape(n, groups, c // groups, oh, ow, kh, kw)
    wg = w.reshape(groups, w.shape[0] // groups, *w.shape[1:])
    out = np.einsum("ngchwij,gocij->ngohw", win, wg).reshape(n, w.shape[0], oh, ow)
    return out if b is None else out + b.reshape(1, -1, 1, 1)


def pool_ref(x, kernel, stride, padding, kind, ceil_mode=False, count_include_pad=True) -> np.ndarray:
    """PyTorch's pooling loops, element by element (dilation 1)."""
    h, w = x.shape[-2:]
    sizes = []
    for i, k, s, p in zip((h, w), kernel, stride, padding):
        span = i + 2 * p - k
        o = (-(-span // s) if ceil_mode else span // s) + 1
        sizes.append(o - 1 if ceil_mode and (o - 1) * s >= i + p else o)
    out = np.zeros(x.shape[:-2] + tuple(sizes), np.float32)
    for oy in range(sizes[0]):
        for ox in range(sizes[1]):
            y0, x0 = oy * stride[0] - padding[0], ox * stride[1] - padding[1]
            y1, x1 = min(y0 + kernel[0], h + padding[0]), min(x0 + kernel[1], w + padding[1])
            area = (y1 - y0) * (x1 - x0)
            y0, x0, y1, x1 = max(y0, 0), max(x0, 0), min(y1, h), min(x1, w)
            patch = x[..., y0:y1, x0:x1]
            if kind == "max":
                out[..., oy, ox] = patch.max((-2, -1))
            else:
                out[..., oy, ox] = patch.sum((-2, -1)) / (area if count_include_pad else (y1 - y0) * (x1 - x0))
    return out


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return np.random.default_rng(7).standard_normal((2, 4, 9, 11)).astype(np.float32)


@pytest.mark.parametrize("kernel, stride, dilation", [((3, 3), (1, 1), (1, 1)), ((3, 2), (2, 3), (1, 1)),
                                                      ((2, 3), (1, 2), (2, 1)), ((2, 2), (2, 2), (1, 1))])  # fmt: skip
def test_sliding_windows_match_numpy(image, check, kernel, stride, dilation):
    check(sliding_windows(tt.Tensor(image), kernel, stride, dilation), windows_ref(image, kernel, stride, dilation))


CONV_CASES = {
    "plain 3x3": dict(cout=6, k=(3, 3)),
    "odd kernel, padding, bias": dict(cout=5, k=(3, 5), padding=(1, 2), bias=True),
    "stride 2": dict(cout=6, k=(3, 3), stride=(2, 2), padding=(1, 1)),
    "dilation 2": dict(cout=3, k=(3, 3), dilation=(2, 2), padding=(2, 2)),
    "groups 2": dict(cout=6, k=(3, 3), groups=2, bias=True),
    "depthwise": dict(cout=4, k=(3, 3), groups=4, padding=(1, 1)),
    "1x1": dict(cout=7, k=(1, 1)),
}


@pytest.mark.parametrize("case", CONV_CASES, ids=list(CONV_CASES))
def test_conv2d_matches_numpy(image, check, rng, case):
    c = dict(stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1, bias=False) | CONV_CASES[case]
    w = rng.standard_normal((c["cout"], 4 // c["groups"], *c["k"])).astype(np.float32)
    b = rng.standard_normal(c["cout"]).astype(np.float32) if c["bias"] else None
    out = F.conv2d(tt.Tensor(image), tt.Tensor(w), None if b is None else tt.Tensor(b), c["stride"], c["padding"],
                   c["dilation"], c["groups"])  # fmt: skip
    check(out, conv2d_ref(image, w, b, c["stride"], c["padding"], c["dilation"], c["groups"]), rtol=1e-4, atol=1e-4)


def test_conv2d_int_args_same_padding_and_unbatched(image, check, rng):
    w = rng.standard_normal((2, 4, 3, 3)).astype(np.float32)
    check(F.conv2d(tt.Tensor(image), tt.Tensor(w), stride=2, padding=1), conv2d_ref(image, w, None, (2, 2), (1, 1)),
          rtol=1e-4, atol=1e-4)  # fmt: skip
    same = F.conv2d(tt.Tensor(image[0]), tt.Tensor(w), padding="same")
    check(same, conv2d_ref(image[:1], w, None, padding=(1, 1))[0], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("weight_shape, groups, message", [((6, 3, 3, 3), 1, "has 4 channels"),
                                                           ((6, 2, 3, 3), 3, "groups=3 must divide")])  # fmt: skip
def test_conv2d_rejects_mismatched_shapes(image, weight_shape, groups, message):
    with pytest.raises(ValueError, match=message):
        F.conv2d(tt.Tensor(image), tt.zeros(*weight_shape), groups=groups)


def test_conv2d_rejects_a_kernel_larger_than_the_input(image):
    with pytest.raises(ValueError, match="smaller than the kernel"):
        F.conv2d(tt.Tensor(image), tt.zeros(1, 4, 10, 3))


POOL_CASES = {
    "2x2": dict(kernel=(2, 2), stride=(2, 2), padding=(0, 0)),
    "3x3 stride 2 pad 1": dict(kernel=(3, 3), stride=(2, 2), padding=(1, 1)),
    "3x2 stride 1": dict(kernel=(3, 2), stride=(1, 1), padding=(1, 0)),
}


@pytest.mark.parametrize("case", POOL_CASES, ids=list(POOL_CASES))
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pool_matches_pytorch_semantics(image, check, case, kind):
    c = POOL_CASES[case]
    fn = F.max_pool2d if kind == "max" else F.avg_pool2d
    out = fn(tt.Tensor(image), c["kernel"], c["stride"], c["padding"])
    check(out, pool_ref(image, c["kernel"], c["stride"], c["padding"], kind), rtol=1e-5, atol=1e-5)


def test_max_pool_pads_with_minus_infinity(check):
    x = -np.arange(1, 17, dtype=np.float32).reshape(1, 1, 4, 4)
    check(F.max_pool2d(tt.Tensor(x), 3, 2, 1), pool_ref(x, (3, 3), (2, 2), (1, 1), "max"))


def test_max_pool_ceil_mode_and_int_input(image, check):
    check(F.max_pool2d(tt.Tensor(image), 2, ceil_mode=True), pool_ref(image, (2, 2), (2, 2), (0, 0), "max", True))
    ints = (image * 10).astype(np.int32)
    check(F.max_pool2d(tt.Tensor(ints), 3, 2, 1), pool_ref(ints, (3, 3), (2, 2), (1, 1), "max").astype(np.int32))


@pytest.mark.parametrize("ceil_mode, count_include_pad", [(False, False), (True, True), (True, False)])
def test_avg_pool_divisors(image, check, ceil_mode, count_include_pad):
    out = F.avg_pool2d(tt.Tensor(image), 3, 2, 1, ceil_mode=ceil_mode, count_include_pad=count_include_pad)
    want = pool_ref(image, (3, 3), (2, 2), (1, 1), "avg", ceil_mode, count_include_pad)
    check(out, want, rtol=1e-5, atol=1e-6)


def test_pool_rejects_padding_over_half_the_kernel(image):
    with pytest.raises(ValueError, match="at most half"):
        F.max_pool2d(tt.Tensor(image), 2, padding=2)
