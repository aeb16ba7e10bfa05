"""tinyhw_tensor.nn.functional against numpy references: linear, norms, embedding, attention, dropout, activations."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tinyhw_tensor as tt
import tinyhw_tensor.nn.functional as F


def softmax_ref(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - x.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


def attention_ref(q, k, v, mask=None, causal=False, scale=None) -> np.ndarray:
    scores = q @ np.swapaxes(k, -1, -2) * (1 / math.sqrt(q.shape[-1]) if scale is None else scale)
    if causal:
        mask = np.tril(np.ones((q.shape[-2], k.shape[-2]), bool))
    if mask is not None:
        scores = np.where(mask, scores, -np.inf) if mask.dtype == bool else scores + mask
    return softmax_ref(scores) @ v


@pytest.fixture(scope="module")
def data() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    shapes = {
        "x": (2, 5, 8),
        "w": (6, 8),
        "b": (6,),
        "g": (8,),
        "q": (2, 3, 5, 4),
        "k": (2, 3, 7, 4),
        "v": (2, 3, 7, 4),
    }
    return {name: rng.standard_normal(shape).astype(np.float32) for name, shape in shapes.items()}


def test_linear(data, check):
    x, w, b = (tt.Tensor(data[n]) for n in "xwb")
    check(F.linear(x, w, b), data["x"] @ data["w"].T + data["b"], rtol=1e-5, atol=1e-5)
    check(F.linear(x, w), data["x"] @ data["w"].T, rtol=1e-5, atol=1e-5)


def test_linear_names_both_shapes_on_mismatch(data):
    with pytest.raises(ValueError, match=r"\(2, 5, 8\).*\(8, 6\)"):
        F.linear(tt.Tensor(data["x"]), tt.Tensor(data["w"].T))


def test_layer_norm(data, check):
    x, g, b = data["x"], data["g"], data["g"][::-1].copy()
    mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    want = (x - mean) / np.sqrt(var + 1e-5) * g + b
    check(F.layer_norm(tt.Tensor(x), 8, tt.Tensor(g), tt.Tensor(b)), want, rtol=1e-4, atol=1e-5)


def test_layer_norm_over_two_dims_without_affine(data, check):
    x = data["x"]
    mean, var = x.mean((1, 2), keepdims=True), x.var((1, 2), keepdims=True)
    check(F.layer_norm(tt.Tensor(x), (5, 8), eps=1e-3), (x - mean) / np.sqrt(var + 1e-3), rtol=1e-4, atol=1e-5)


def test_rms_norm(data, check):
    x, g = data["x"], data["g"]
    want = x / np.sqrt((x * x).mean(-1, keepdims=True) + 1e-6) * g
    check(F.rms_norm(tt.Tensor(x), [8], tt.Tensor(g)), want, rtol=1e-4, atol=1e-5)


def test_norms_reject_a_shape_that_is_not_the_last_dims(data):
    with pytest.raises(ValueError, match=r"normalized_shape \(5,\).*\(2, 5, 8\)"):
        F.layer_norm(tt.Tensor(data["x"]), 5)


@pytest.mark.parametrize("ids", [[[0, 3, 5], [5, 5, 1]], np.array([2, 0], np.int32)])
def test_embedding_picks_rows(data, check, ids):
    table = data["w"]
    check(F.embedding(ids, tt.Tensor(table)), table[np.asarray(ids)])
    check(F.embedding(tt.Tensor(np.asarray(ids)), tt.Tensor(table)), table[np.asarray(ids)])


@pytest.mark.parametrize("bad", [6, -1])
def test_embedding_out_of_range_names_id_and_table_size(data, bad):
    with pytest.raises(IndexError, match=f"id {bad} .* 6 rows"):
        F.embedding(tt.Tensor([0, bad]), tt.Tensor(data["w"]))


def test_embedding_rejects_float_ids(data):
    with pytest.raises(TypeError, match="integers"):
        F.embedding([0.5], tt.Tensor(data["w"]))


@pytest.mark.parametrize("mode", ["plain", "causal", "bool mask", "float mask", "scale"])
def test_scaled_dot_product_attention(data, check, mode):
    q, k, v = data["q"], data["k"], data["v"]
    mask = None
    if mode == "bool mask":
        mask = np.random.default_rng(1).random((2, 1, 5, 7)) > 0.3
        mask[..., 0] = True  # no fully masked row
    elif mode == "float mask":
        mask = np.random.default_rng(2).standard_normal((5, 7)).astype(np.float32)
    causal, scale = mode == "causal", 0.3 if mode == "scale" else None
    out = F.scaled_dot_product_attention(tt.Tensor(q), tt.Tensor(k), tt.Tensor(v),
                                         None if mask is None else tt.Tensor(mask), causal, scale)  # fmt: skip
    check(out, attention_ref(q, k, v, mask, causal, scale), rtol=1e-4, atol=1e-5)


def test_attention_rejects_mismatched_head_dims(data):
    with pytest.raises(ValueError, match=r"\(2, 3, 5, 4\).*\(2, 3, 7, 3\)"):
        F.scaled_dot_product_attention(tt.Tensor(data["q"]), tt.zeros(2, 3, 7, 3), tt.Tensor(data["v"]))


def test_dropout_eval_is_identity(data):
    x = tt.Tensor(data["x"])
    assert F.dropout(x, 0.5) is x
    assert F.dropout(x, 0.0, training=True) is x


def test_dropout_training_zeroes_and_rescales_reproducibly(data):
    x = np.abs(data["x"]) + 1
    tt.manual_seed(11)
    first = F.dropout(tt.Tensor(x), 0.25, training=True).numpy()
    tt.manual_seed(11)
    np.testing.assert_array_equal(first, F.dropout(tt.Tensor(x), 0.25, training=True).numpy())
    kept = first != 0
    np.testing.assert_allclose(first[kept], x[kept] / 0.75, rtol=1e-6)
    assert 0.05 < 1 - kept.mean() < 0.5
    assert not F.dropout(tt.Tensor(x), 1.0, training=True).numpy().any()


def test_dropout_rejects_bad_probability(data):
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        F.dropout(tt.Tensor(data["x"]), 1.5, training=True)


def test_activation_wrappers(data, check):
    x = data["x"]
    t = tt.Tensor(x)
    erf = np.vectorize(math.erf)
    check(F.relu(t), np.maximum(x, 0))
    check(F.silu(t), x / (1 + np.exp(-x)), rtol=1e-5, atol=1e-6)
    check(F.gelu(t), (0.5 * x * (1 + erf(x / math.sqrt(2)))).astype(np.float32), rtol=1e-5, atol=1e-6)
    check(F.softmax(t, 1), softmax_ref(x, 1), rtol=1e-5, atol=1e-6)
    check(F.log_softmax(t), np.log(softmax_ref(x)), rtol=1e-5, atol=1e-5)


def test_pad_is_pytorchs(data, check):
    x = data["x"]
    check(F.pad(tt.Tensor(x), (1, 2), value=3.0), np.pad(x, ((0, 0), (0, 0), (1, 2)), constant_values=3.0))
