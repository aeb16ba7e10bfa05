"""all-MiniLM-L6-v2 on the simulated amd:0: the smaller check issue 4 allows where the emulator is slow.

The whole model over the reference sentences would take the RDNA3 emulator many minutes, so this runs
the real weights through the embeddings and the first encoder layer for one short sentence, and
compares the pooled, normalised output with the same truncated model on cpu:0 (which the full
reference check in tests/tensor/models/test_minilm.py covers).
"""

from __future__ import annotations

import numpy as np
import pytest

import tinyhw
from tinyhw_tensor.models.bert import BertModel
from tinyhw_tensor.models.sentence import SentenceEncoder, find_model_dir

LAYERS = 1


def _truncated_embedding(device: str, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    model = BertModel.from_pretrained(find_model_dir(), device=device)
    model.encoder.layer = model.encoder.layer[:LAYERS]
    return model.embed(ids, mask)


@pytest.mark.slow
@pytest.mark.timeout(900)  # about 5 minutes in the emulator on a loaded 2-core machine
def test_first_layer_of_minilm_on_amd_matches_cpu() -> None:
    amd = tinyhw.Device("amd:0")  # the simulated gfx1100 tests.sim.plugin installs for the run
    tokenizer = SentenceEncoder.from_pretrained(find_model_dir(), device="cpu")
    ids, mask = tokenizer.tokenize(["A man is eating food."])
    want = _truncated_embedding("cpu", ids, mask)
    got = _truncated_embedding(amd.name, ids, mask)
    assert got.shape == want.shape == (1, 384)
    cosine = float((got * want).sum() / (np.linalg.norm(got) * np.linalg.norm(want)))
    assert cosine >= 0.9999, f"cosine similarity with cpu:0: {cosine}"
    np.testing.assert_allclose(got, want, atol=2e-4)
