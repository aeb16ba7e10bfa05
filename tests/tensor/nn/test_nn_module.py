"""nn.Module (parameters, state dicts, modes, devices) and the layers against numpy references."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tinyhw_tensor as tt
from tinyhw_tensor import nn


class Block(nn.Module):
    def __init__(self) -> None:
        self.norm = nn.LayerNorm(4)
        self.layers = [nn.Linear(4, 3), nn.Linear(3, 2, bias=False)]
        self.scale = tt.ones(2)
        self._cache = tt.zeros(1)

    def forward(self, x: tt.Tensor) -> tt.Tensor:
        x = self.norm(x)
        for layer in self.layers:
            x = layer(x)
        return x * self.scale


NAMES = ["norm.weight", "norm.bias", "layers.0.weight", "layers.0.bias", "layers.1.weight", "scale"]


def test_named_parameters_follow_pytorch_naming():
    block = Block()
    assert [name for name, _ in block.named_parameters()] == NAMES
    assert [p.shape for p in block.parameters()] == [(4,), (4,), (3, 4), (3,), (2, 3), (2,)]
    assert list(block.state_dict()) == NAMES


def test_load_state_dict_replaces_and_converts(check):
    block = Block()
    rng = np.random.default_rng(0)
    state = {name: rng.standard_normal(p.shape) for name, p in block.named_parameters()}  # float64 arrays
    assert block.load_state_dict(state) == ([], [])
    for name, p in block.named_parameters():
        check(p, state[name].astype(np.float32))
    x = rng.standard_normal((5, 4)).astype(np.float32)
    h = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5) * state["norm.weight"]
    h = (h + state["norm.bias"]) @ state["layers.0.weight"].T + state["layers.0.bias"]
    check(block(tt.Tensor(x)), (h @ state["layers.1.weight"].T * state["scale"]).astype(np.float32), rtol=1e-4,
          atol=1e-5)  # fmt: skip


def test_load_state_dict_shares_a_fitting_tensor():
    layer = nn.Linear(2, 2)
    weight = tt.Tensor(np.eye(2, dtype=np.float32))
    layer.load_state_dict({"weight": weight, "bias": tt.zeros(2)})
    assert layer.weight is weight


def test_strict_load_names_missing_and_unexpected_keys():
    block = Block()
    state = block.state_dict()
    del state["layers.1.weight"]
    state["layers.2.weight"] = tt.zeros(1)
    with pytest.raises(nn.StateDictError, match="missing key\\(s\\): layers.1.weight") as info:
        block.load_state_dict(state)
    assert "unexpected key(s): layers.2.weight" in str(info.value)
    assert info.value.missing == ["layers.1.weight"] and info.value.unexpected == ["layers.2.weight"]


def test_non_strict_load_reports_skipped_keys():
    block = Block()
    result = block.load_state_dict({"scale": np.full(2, 3.0), "extra": np.zeros(1)}, strict=False)
    assert result.missing_keys == NAMES[:-1] and result.unexpected_keys == ["extra"]
    assert block.scale.tolist() == [3.0, 3.0]


def test_shape_mismatch_names_key_and_both_shapes():
    with pytest.raises(nn.StateDictError, match=r"layers.0.weight: the state dict has shape \(4, 3\), the module "
                       r"has shape \(3, 4\)"):  # fmt: skip
        Block().load_state_dict({"layers.0.weight": np.zeros((4, 3))}, strict=False)


def test_train_eval_and_to():
    block = Block()
    assert block.eval() is block and not block.training and not block.layers[1].training and not block.norm.training
    assert block.train().training and block.layers[0].training
    weight = block.layers[0].weight
    assert block.to(weight.device) is block and block.layers[0].weight is weight


def test_forward_is_required_and_repr_shows_children():
    with pytest.raises(NotImplementedError, match="Module does not define forward"):
        nn.Module()(1)
    assert repr(nn.Linear(2, 3)) == "Linear(in_features=2, out_features=3, bias=True)"
    assert "(layers.1): Linear(in_features=3, out_features=2, bias=False)" in repr(Block())


def test_default_init_is_seeded_kaiming_uniform():
    tt.manual_seed(5)
    conv = nn.Conv2d(4, 6, 3, groups=2)
    tt.manual_seed(5)
    again = nn.Conv2d(4, 6, 3, groups=2)
    np.testing.assert_array_equal(conv.weight.numpy(), again.weight.numpy())
    bound = 1 / math.sqrt(2 * 3 * 3)
    for p in (conv.weight, conv.bias):
        values = p.numpy()
        assert np.abs(values).max() <= bound and values.std() > bound / 4
    assert conv.weight.shape == (6, 2, 3, 3) and conv.bias.shape == (6,)


def test_layers_match_numpy(check):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 4, 6, 6)).astype(np.float32)
    conv = nn.Conv2d(4, 2, 3, stride=2, padding=1, bias=False)
    w = conv.weight.numpy()
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    want = np.stack([np.stack([np.einsum("ncij,ocij->no", xp[:, :, 2 * i : 2 * i + 3, 2 * j : 2 * j + 3], w)
                               for j in range(3)], -1) for i in range(3)], -2)  # fmt: skip
    check(conv(tt.Tensor(x)), want, rtol=1e-4, atol=1e-5)
    emb = nn.Embedding(10, 3)
    check(emb([[1, 9]]), emb.weight.numpy()[[[1, 9]]])
    with pytest.raises(IndexError, match="id 10 .* 10 rows"):
        emb([10])


def test_layers_reject_bad_groups():
    with pytest.raises(ValueError, match="groups=3"):
        nn.Conv2d(4, 6, 3, groups=3)
