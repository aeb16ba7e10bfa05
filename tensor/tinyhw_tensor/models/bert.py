"""A BERT encoder (Devlin et al. 2018) on tinyhw tensors, loading Hugging Face checkpoints unchanged.

    from tinyhw_tensor.models.bert import BertModel
    model = BertModel.from_pretrained("path/to/model")   # config.json + model.safetensors, nothing downloaded
    hidden = model(input_ids, attention_mask)              # [batch, seq, hidden], lazy
    vectors = model.embed(input_ids, attention_mask)       # sentence embeddings, numpy [batch, hidden]

Parameter names are those of transformers' `BertModel` (`encoder.layer.0.attention.self.query.weight`),
so a checkpoint's state dict loads as it is; a `bert.` prefix (from `BertFor...` heads) is stripped.
Loading is strict: a missing or unexpected tensor, a shape that differs, or a config field this
implementation does not know is an error naming it. Parameters start as lazy zeros (no memory,
no kernels) until weights are loaded. `mean_pool` and `l2_normalize` turn the encoder's output into
sentence-transformers' sentence embeddings; `BertModel.embed` computes them through a `Jit`, so
repeated batches of one shape replay the recorded kernels.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from tinyhw_tensor import creation
from tinyhw_tensor.jit import jit
from tinyhw_tensor.nn import functional as F
from tinyhw_tensor.nn import layers
from tinyhw_tensor.nn.module import Module
from tinyhw_tensor.nn.safetensors import SafetensorsError, safe_open
from tinyhw_tensor.tensor import Tensor

__all__ = ["BertConfig", "BertModel", "ModelFileError", "mean_pool", "l2_normalize"]

ACTIVATIONS = {"gelu": "none", "gelu_new": "tanh", "gelu_pytorch_tanh": "tanh"}
"""Supported `hidden_act` values -> F.gelu's `approximate` (transformers' names)."""
IGNORED_FIELDS = frozenset({
    "_name_or_path", "architectures", "attention_probs_dropout_prob", "hidden_dropout_prob", "classifier_dropout",
    "gradient_checkpointing", "initializer_range", "transformers_version", "use_cache", "torch_dtype", "dtype",
    "pad_token_id", "bos_token_id", "eos_token_id", "output_past", "id2label", "label2id", "problem_type",
})  # fmt: skip
"""Config fields that do not change inference (dropout, training and bookkeeping settings)."""
FIXED_FIELDS = {"model_type": "bert", "position_embedding_type": "absolute", "is_decoder": False,
                "add_cross_attention": False, "chunk_size_feed_forward": 0}  # fmt: skip
"""Config fields this implementation accepts only with these values."""
BUFFERS = frozenset({"embeddings.position_ids", "embeddings.token_type_ids"})
"""Non-parameter tensors some checkpoints carry (arange / zeros buffers); dropped on load."""


class ModelFileError(ValueError):
    """A model directory whose config or weights cannot be used; the message names the file and the problem."""


@dataclasses.dataclass(frozen=True)
class BertConfig:
    """The shape of a BERT encoder, with transformers' field names and defaults (bert-base)."""

    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12

    def __post_init__(self) -> None:
        if self.hidden_act not in ACTIVATIONS:
            raise ValueError(f"hidden_act {self.hidden_act!r} is not supported (supported: {', '.join(ACTIVATIONS)})")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(f"hidden_size {self.hidden_size} is not a multiple of "
                             f"num_attention_heads {self.num_attention_heads}")  # fmt: skip

    @classmethod
    def from_dict(cls, fields: Mapping[str, Any]) -> BertConfig:
        """The config from a parsed `config.json`; ValueError naming every unknown or unsupported field."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(fields) - known - IGNORED_FIELDS - set(FIXED_FIELDS))
        if unknown:
            raise ValueError(f"unknown config field(s) for a BERT encoder: {', '.join(unknown)}")
        wrong = [f"{k}={fields[k]!r} (supported: {v!r})" for k, v in FIXED_FIELDS.items() if fields.get(k, v) != v]
        if wrong:
            raise ValueError(f"unsupported config value(s): {', '.join(wrong)}")
        return cls(**{k: v for k, v in fields.items() if k in known})

    @classmethod
    def from_json_file(cls, path: str | os.PathLike) -> BertConfig:
        """The config read from a `config.json`; ModelFileError naming the file for any problem."""
        try:
            with open(path, encoding="utf-8") as f:
                return cls.from_dict(json.load(f))
        except (OSError, ValueError, TypeError) as error:
            raise ModelFileError(f"{path}: {error}") from None


def _zeros(*shape: int, device: Any) -> Tensor:
    """A lazy placeholder parameter (no memory until used; replaced when weights load)."""
    return creation.zeros(*shape, device=device)


class _Linear(layers.Linear):
    """nn.Linear with placeholder parameters."""

    def __init__(self, in_features: int, out_features: int, device: Any = None) -> None:
        self.in_features, self.out_features = in_features, out_features
        self.weight, self.bias = _zeros(out_features, in_features, device=device), _zeros(out_features, device=device)


class _LayerNorm(layers.LayerNorm):
    """nn.LayerNorm with placeholder parameters."""

    def __init__(self, size: int, eps: float, device: Any = None) -> None:
        self.normalized_shape, self.eps = (size,), eps
        self.weight, self.bias = _zeros(size, device=device), _zeros(size, device=device)


class _Embedding(layers.Embedding):
    """nn.Embedding with a placeholder table."""

    def __init__(self, num_embeddings: int, embedding_dim: int, device: Any = None) -> None:
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.weight = _zeros(num_embeddings, embedding_dim, device=device)


class BertEmbeddings(Module):
    """Word + absolute position + token-type embeddings, then LayerNorm."""

    def __init__(self, config: BertConfig, device: Any = None) -> None:
        self.word_embeddings = _Embedding(config.vocab_size, config.hidden_size, device)
        self.position_embeddings = _Embedding(config.max_position_embeddings, config.hidden_size, device)
        self.token_type_embeddings = _Embedding(config.type_vocab_size, config.hidden_size, device)
        self.LayerNorm = _LayerNorm(config.hidden_size, config.layer_norm_eps, device)  # noqa: N815 - HF's name

    def forward(self, input_ids: Tensor, token_type_ids: Tensor | None = None) -> Tensor:
        """[batch, seq] integer ids (already checked to be in range) -> [batch, seq, hidden]."""
        seq = input_ids.shape[1]
        if seq > self.position_embeddings.num_embeddings:
            raise ValueError(f"sequence of {seq} tokens is longer than the model's "
                             f"{self.position_embeddings.num_embeddings} positions")  # fmt: skip
        x = self.word_embeddings.weight[input_ids] + self.position_embeddings.weight[:seq]
        if token_type_ids is None:
            x = x + self.token_type_embeddings.weight[0]
        else:
            x = x + self.token_type_embeddings.weight[token_type_ids]
        return self.LayerNorm(x)


class BertSelfAttention(Module):
    """The query, key and value projections of multi-head self-attention, and the attention itself."""

    def __init__(self, config: BertConfig, device: Any = None) -> None:
        self.num_heads = config.num_attention_heads
        self.query = _Linear(config.hidden_size, config.hidden_size, device)
        self.key = _Linear(config.hidden_size, config.hidden_size, device)
        self.value = _Linear(config.hidden_size, config.hidden_size, device)

    def _heads(self, x: Tensor) -> Tensor:
        """[batch, seq, hidden] -> [batch, heads, seq, head_dim]."""
        batch, seq, hidden = x.shape
        return x.reshape(batch, seq, self.num_heads, hidden // self.num_heads).permute(0, 2, 1, 3)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """Attention of x [batch, seq, hidden] with an additive mask [batch, 1, 1, seq]."""
        q, k, v = self._heads(self.query(x)), self._heads(self.key(x)), self._heads(self.value(x))
        scores = (q @ k.mT) * (1 / math.sqrt(q.shape[-1])) + mask
        out = scores.softmax(-1) @ v  # F.scaled_dot_product_attention
        return out.permute(0, 2, 1, 3).reshape(x.shape)


class BertSelfOutput(Module):
    """Attention output projection, residual and LayerNorm."""

    def __init__(self, config: BertConfig, device: Any = None) -> None:
        self.dense = _Linear(config.hidden_size, config.hidden_size, device)
        self.LayerNorm = _LayerNorm(config.hidden_size, config.layer_norm_eps, device)  # noqa: N815

    def forward(self, x: Tensor, residual: Tensor) -> Tensor:
        """LayerNorm(dense(x) + residual)."""
        return self.LayerNorm(self.dense(x) + residual)


class BertAttention(Module):
    """Self-attention followed by its output block."""

    def __init__(self, config: BertConfig, device: Any = None) -> None:
        self.self = BertSelfAttention(config, device)
        self.output = BertSelfOutput(config, device)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """[batch, seq, hidden] -> [batch, seq, hidden]."""
        return self.output(self.self(x, mask), x)


class BertIntermediate(Module):
    """The feed-forward block's expansion: dense then GELU."""

    def __init__(self, config: BertConfig, device: Any = None) -> None:
        self.dense = _Linear(config.hidden_size, config.intermediate_size, device)
        self._approximate = ACTIVATIONS[config.hidden_act]

    def forward(self, x: Tensor) -> Tensor:
        """gelu(dense(x))."""
        return F.gelu(self.dense(x), self._approximate)


class BertOutput(Module):
    """The feed-forward block's projection back, residual and LayerNorm."""

    def __init__(self, config: BertConfig, device: Any = None) -> None:
        self.dense = _Linear(config.intermediate_size, config.hidden_size, device)
        self.LayerNorm = _LayerNorm(config.hidden_size, config.layer_norm_eps, device)  # noqa: N815

    def forward(self, x: Tensor, residual: Tensor) -> Tensor:
        """LayerNorm(dense(x) + residual)."""
        return self.LayerNorm(self.dense(x) + residual)


class BertLayer(Module):
    """One encoder layer: attention block, then feed-forward block."""

    def __init__(self, config: BertConfig, device: Any = None) -> None:
        self.attention = BertAttention(config, device)
        self.intermediate = BertIntermediate(config, device)
        self.output = BertOutput(config, device)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """[batch, seq, hidden] -> [batch, seq, hidden]."""
        x = self.attention(x, mask)
        return self.output(self.intermediate(x), x)


class BertEncoder(Module):
    """The stack of encoder layers."""

    def __init__(self, config: BertConfig, device: Any = None) -> None:
        self.layer = [BertLayer(config, device) for _ in range(config.num_hidden_layers)]

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """Every layer in turn."""
        for layer in self.layer:
            x = layer(x, mask)
        return x


class BertPooler(Module):
    """tanh(dense(first token's hidden state)): transformers' pooler, kept so checkpoints load strictly."""

    def __init__(self, config: BertConfig, device: Any = None) -> None:
        self.dense = _Linear(config.hidden_size, config.hidden_size, device)

    def forward(self, hidden: Tensor) -> Tensor:
        """[batch, seq, hidden] -> [batch, hidden]."""
        return self.dense(hidden[:, 0]).tanh()


def _additive_mask(attention_mask: np.ndarray, device: Any) -> Tensor:
    """[batch, seq] of 1 (attend) / 0 (padding) -> [batch, 1, 1, seq] of 0 / -inf-like, as transformers does."""
    mask = np.where(np.asarray(attention_mask) != 0, 0.0, np.finfo(np.float32).min).astype(np.float32)
    return Tensor(mask[:, None, None, :], device=device)


def _ids(name: str, values: Any, shape: tuple[int, ...] | None, size: int, device: Any) -> Tensor:
    """Host ids as a device tensor, after checking their shape and that each is in [0, size)."""
    ids = np.asarray(values)
    if ids.ndim != 2 or (shape is not None and ids.shape != shape):
        raise ValueError(f"{name} must be [batch, seq]{f' like input_ids {shape}' if shape else ''}, "
                         f"got shape {ids.shape}")  # fmt: skip
    if ids.dtype.kind not in "iu":
        raise TypeError(f"{name} must be integers, got {ids.dtype}")
    bad = ids[(ids < 0) | (ids >= size)]
    if bad.size:
        raise IndexError(f"{name}: id {int(bad.flat[0])} is out of range for a table of {size} rows")
    return Tensor(ids.astype(np.int32), device=device)  # in range, so exact; and devices without int64 take it


class BertModel(Module):
    """The BERT encoder: embeddings, `num_hidden_layers` encoder layers, and (optionally) the pooler.

    `BertModel(config, pooler=True, device=None)` has placeholder parameters; use `from_pretrained`
    or `load_state_dict` to give it weights. Calling it with host arrays `input_ids` and
    `attention_mask` [batch, seq] returns the last hidden states [batch, seq, hidden] (lazy).
    """

    def __init__(self, config: BertConfig, pooler: bool = True, device: Any = None) -> None:
        self.config = config
        self._device = device
        self.embeddings = BertEmbeddings(config, device)
        self.encoder = BertEncoder(config, device)
        self.pooler = BertPooler(config, device) if pooler else None
        self._embed, self._embed_weights = jit(self._pooled_embeddings), ()

    def _inputs(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> tuple[Tensor, np.ndarray, Any]:
        """(ids, host mask, type ids or None) checked: shapes [batch, seq], ids within the tables."""
        device = self.embeddings.word_embeddings.weight.device
        ids = _ids("input_ids", input_ids, None, self.config.vocab_size, device)
        mask = np.ones(ids.shape, np.int64) if attention_mask is None else np.asarray(attention_mask)
        if mask.shape != ids.shape:
            raise ValueError(f"attention_mask shape {mask.shape} differs from input_ids shape {ids.shape}")
        types = None if token_type_ids is None else _ids("token_type_ids", token_type_ids, ids.shape,
                                                         self.config.type_vocab_size, device)  # fmt: skip
        return ids, mask, types

    def forward(self, input_ids: Any, attention_mask: Any = None, token_type_ids: Any = None) -> Tensor:
        """The last hidden states [batch, seq, hidden] for integer ids [batch, seq] (numpy arrays or lists)."""
        ids, mask, types = self._inputs(input_ids, attention_mask, token_type_ids)
        return self.encoder(self.embeddings(ids, types), _additive_mask(mask, ids.device))

    def embed(self, input_ids: Any, attention_mask: Any = None) -> np.ndarray:
        """Sentence embeddings, float32 [batch, hidden]: `mean_pool` then `l2_normalize` of the last hidden
        states, as sentence-transformers computes them. The forward pass runs through a `Jit`: from the
        third batch of one shape on, its recorded kernels are replayed."""
        ids, mask, _ = self._inputs(input_ids, attention_mask, None)
        weights = tuple(p.node for p in self.parameters())
        if weights != self._embed_weights:  # new weights (or the first call): the recorded kernels read the old
            self._embed, self._embed_weights = jit(self._pooled_embeddings), weights
        return self._embed(ids, _additive_mask(mask, ids.device), _pool_weights(mask, ids.device)).numpy()

    def _pooled_embeddings(self, ids: Tensor, mask: Tensor, pool_weights: Tensor) -> Tensor:
        hidden = self.encoder(self.embeddings(ids), mask)
        return l2_normalize((hidden * pool_weights).sum(1))

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, device: Any = None) -> BertModel:
        """The model in directory `path` (`config.json` and `model.safetensors`), its weights on `device`.

        Reads local files only. ModelFileError names the file for a missing, corrupt or truncated
        file, a Git LFS pointer, a config field that is unknown or unsupported, or weights that do
        not fit the config (missing, unexpected or mis-shaped tensors)."""
        folder = Path(path)
        config = BertConfig.from_json_file(_existing(folder / "config.json"))
        weights = _existing(folder / "model.safetensors")
        state = _read_state(weights, device)
        model = cls(config, pooler="pooler.dense.weight" in state, device=device)
        try:
            model.load_state_dict(state)
        except ValueError as error:
            raise ModelFileError(f"{weights}: {error}") from None
        return model


def _existing(path: Path) -> Path:
    """`path` when it is a file; ModelFileError otherwise."""
    if not path.is_file():
        raise ModelFileError(f"{path}: no such file (a model directory holds config.json and model.safetensors)")
    return path


def _read_state(path: Path, device: Any) -> dict[str, Tensor]:
    """The checkpoint's tensors under BertModel's names (a `bert.` prefix stripped, buffers dropped)."""
    try:
        with safe_open(path, device=device) as f:
            names = {name: name.removeprefix("bert.") for name in f.keys()}
            return {new: f.get_tensor(old) for old, new in names.items() if new not in BUFFERS}
    except SafetensorsError as error:
        raise ModelFileError(str(error)) from None


def _pool_weights(attention_mask: Any, device: Any) -> Tensor:
    """[batch, seq, 1]: each position's weight in the mean over the positions where attention_mask is 1."""
    mask = np.asarray(attention_mask, dtype=np.float32)
    counts = np.maximum(mask.sum(1, keepdims=True), 1e-9).astype(np.float32)
    return Tensor((mask / counts)[:, :, None], device=device)


def mean_pool(hidden: Tensor, attention_mask: Any) -> Tensor:
    """The mean of hidden [batch, seq, dim] over the positions where attention_mask [batch, seq] is 1."""
    return (hidden * _pool_weights(attention_mask, hidden.device)).sum(1)


def l2_normalize(x: Tensor, eps: float = 1e-12) -> Tensor:
    """Each row of x [..., dim] divided by its L2 norm (at least eps), like F.normalize."""
    norm = (x * x).sum(-1, keepdim=True).sqrt()
    return x / norm.maximum(eps)
