"""Tensor frontend speed on a tinyhw device, as ratios against numpy (and tinygrad's CPU device) in one run.

    python bench/tensor_ops.py [--device cpu] [--runs 7] [--elements 16777216]

Times fused elementwise chains, a 1024x1024 matmul, softmax and layer_norm over 4096x1024 rows,
the eager latency of a one-element op, and kernel compile time (first run vs cached). Every
number is the median of `--runs` runs after two warm-up runs; a tinyhw run ends with the device's
sync, so it includes all the work. Ratios are throughput ratios (> 1: tinyhw is faster). tinygrad
is measured when `import tinygrad` works (its CPU device needs clang); the script runs without it.
The compile cache is pointed at a fresh empty folder, so first runs show real compile times.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version

import numpy as np

os.environ["TINYHW_CACHE_DIR"] = tempfile.mkdtemp(prefix="tinyhw-bench-cache-")  # before tinyhw reads it

from timing import median_seconds  # noqa: E402

import tinyhw  # noqa: E402
import tinyhw_tensor as tt  # noqa: E402
import tinyhw_tensor.nn.functional as F  # noqa: E402


@dataclass
class Case:
    """One benchmarked operation: how to run it on each library, its work, and the target ratio."""

    name: str
    work: float  # bytes moved (GB/s) or flops (GFLOP/s), per run
    unit: str
    tinyhw: Callable[[], object]
    numpy: Callable[[], object]
    tinygrad: Callable[[], object] | None
    target: float


def tinyhw_run(device, build: Callable[[], tt.Tensor]) -> Callable[[], object]:
    """A function that builds the lazy result, realizes it and waits for the device."""

    def run() -> None:
        build().realize()
        device.sync()

    return run


def load_tinygrad() -> object | None:
    """tinygrad's module when it imports and its CPU device runs a kernel; else None (reason printed)."""
    try:
        import tinygrad
    except ImportError:
        print("tinygrad not installed: skipping the tinygrad comparison")
        return None
    try:
        tinygrad.Tensor([1.0], device="CPU").add(1).numpy()
    except Exception as error:  # e.g. no clang for its CPU device
        print(f"tinygrad {version('tinygrad')} installed but its CPU device fails: {error!r}")
        return None
    return tinygrad


def tinygrad_run(tg, build: Callable[[], object]) -> Callable[[], object]:
    """Like tinyhw_run, for tinygrad's CPU device."""

    def run() -> None:
        build().realize()
        tg.Device["CPU"].synchronize()

    return run


def elementwise_cases(device, tg, n: int, rng: np.random.Generator) -> list[Case]:
    """x*2+1 and relu(x*y+z) over n float32 elements (work: bytes read and written)."""
    x, y, z = (rng.standard_normal(n, dtype=np.float32) for _ in range(3))
    tx, ty, tz = (tt.Tensor(a, device=device) for a in (x, y, z))
    size = f"{n / 2**20:g}M f32"
    cases = [Case(f"x*2+1 ({size})", 8.0 * n, "GB/s", tinyhw_run(device, lambda: tx * 2 + 1),
                  lambda: x * 2 + 1, None, 1.5),
             Case(f"relu(x*y+z) ({size})", 16.0 * n, "GB/s", tinyhw_run(device, lambda: (tx * ty + tz).relu()),
                  lambda: np.maximum(x * y + z, 0), None, 1.5)]  # fmt: skip
    if tg is not None:
        gx, gy, gz = (tg.Tensor(a, device="CPU").realize() for a in (x, y, z))
        cases[0].tinygrad = tinygrad_run(tg, lambda: gx * 2 + 1)
        cases[1].tinygrad = tinygrad_run(tg, lambda: (gx * gy + gz).relu())
    return cases


def matmul_case(device, tg, rng: np.random.Generator, n: int = 1024) -> Case:
    """An n x n float32 matmul (work: 2 n^3 flops)."""
    a, b = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
    ta, tb = tt.Tensor(a, device=device), tt.Tensor(b, device=device)
    case = Case(f"matmul {n}x{n} f32", 2.0 * n**3, "GFLOP/s", tinyhw_run(device, lambda: ta @ tb), lambda: a @ b,
                None, 0.5)  # fmt: skip
    if tg is not None:
        ga, gb = tg.Tensor(a, device="CPU").realize(), tg.Tensor(b, device="CPU").realize()
        case.tinygrad = tinygrad_run(tg, lambda: ga @ gb)
    return case


def softmax_ref(s: np.ndarray) -> np.ndarray:
    e = np.exp(s - s.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def layer_norm_ref(s: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    mean, var = s.mean(-1, keepdims=True), s.var(-1, keepdims=True)
    return (s - mean) / np.sqrt(var + 1e-5) * w + b


def row_cases(device, tg, rng: np.random.Generator, rows: int = 4096, cols: int = 1024) -> list[Case]:
    """softmax and layer_norm (with weight and bias) over the last dim (work: bytes read and written)."""
    s = rng.standard_normal((rows, cols), dtype=np.float32)
    w, b = rng.standard_normal(cols, dtype=np.float32), rng.standard_normal(cols, dtype=np.float32)
    ts, tw, tb = (tt.Tensor(a, device=device) for a in (s, w, b))
    shape = f"{rows}x{cols} f32"
    softmax = tinyhw_run(device, lambda: ts.softmax(-1))
    norm = tinyhw_run(device, lambda: F.layer_norm(ts, cols, tw, tb))
    nbytes = 8.0 * s.size
    cases = [Case(f"softmax {shape}", nbytes, "GB/s", softmax, lambda: softmax_ref(s), None, 1.0),
             Case(f"layer_norm {shape}", nbytes, "GB/s", norm, lambda: layer_norm_ref(s, w, b), None, 1.0)]  # fmt: skip
    if tg is not None:
        gs, gw, gb = (tg.Tensor(a, device="CPU").realize() for a in (s, w, b))
        cases[0].tinygrad = tinygrad_run(tg, lambda: gs.softmax(-1))
        cases[1].tinygrad = tinygrad_run(tg, lambda: gs.layernorm(-1, 1e-5) * gw + gb)
    return cases


def first_run(fn: Callable[[], object]) -> tuple[float, int]:
    """(seconds, kernels built) of the first call of `fn` (compiles included)."""
    built = tt.counters.built
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start, tt.counters.built - built


def print_case(case: Case, runs: int) -> tuple[str, float, float, int]:
    """Time one case on every library and print its row; returns (name, first run s, cached s, kernels built)."""
    first, built = first_run(case.tinyhw)
    ours = median_seconds(case.tinyhw, runs)
    ref = median_seconds(case.numpy, runs)
    tg = median_seconds(case.tinygrad, runs) if case.tinygrad is not None else None
    ratio = ref / ours
    verdict = "met" if ratio >= case.target else "NOT met"
    tg_text = f"{tg * 1e3:>9.2f} {case.work / tg / 1e9:>7.1f} {tg / ours:>8.2f}x" if tg else f"{'-':>9} " * 3
    print(f"{case.name:<28} {ours * 1e3:>9.2f} {case.work / ours / 1e9:>7.1f} {ref * 1e3:>9.2f} "
          f"{case.work / ref / 1e9:>7.1f} {ratio:>7.2f}x  >={case.target}x {verdict:<8}{tg_text}"
          f"   {case.unit}")  # fmt: skip
    return case.name, first, ours, built


def eager_latency(device, tg, runs: int) -> None:
    """Median latency of (t + 1).numpy() on a one-element tensor, against the 100 µs target."""
    one = tt.Tensor(np.ones(1, np.float32), device=device)
    ours = median_seconds(lambda: (one + 1).numpy(), runs * 200, warmup=20)
    verdict = "met" if ours < 100e-6 else "NOT met"
    line = f"eager (t+1).numpy(), 1 element: tinyhw {ours * 1e6:.1f} us (target < 100 us: {verdict})"
    if tg is not None:
        g = tg.Tensor(np.ones(1, np.float32), device="CPU").realize()
        theirs = median_seconds(lambda: (g + 1).numpy(), runs * 20, warmup=5)
        line += f"; tinygrad {theirs * 1e6:.1f} us ({theirs / ours:.1f}x slower)"
    print(line)


def compile_time(device, runs: int, firsts: list[tuple[str, float, float, int]]) -> None:
    """Build time of a kernel never seen before (a new constant each time) vs its cached rerun, then
    the first-run cost of each benchmarked op (`firsts`: name, first run s, cached s, kernels built)."""
    x = tt.Tensor(np.ones(4096, np.float32), device=device)
    rng = np.random.default_rng(0)
    new, cached = [], []
    for _ in range(runs):
        c = float(rng.random()) + 3.0
        run = tinyhw_run(device, lambda c=c: (x * c + 1).exp())
        new.append(first_run(run)[0])
        cached.append(median_seconds(run, 5, warmup=0))
    first, again = statistics.median(new), statistics.median(cached)
    print(f"compile: new kernel (x*c+1).exp() first run {first * 1e3:.1f} ms, cached {again * 1e6:.0f} us "
          f"-> {(first - again) * 1e3:.1f} ms to lower + render + compile one kernel")  # fmt: skip
    for name, first, cached, built in firsts:
        per_kernel = (first - cached) / built * 1e3 if built else 0.0
        print(f"  {name:<28} first run {first * 1e3:8.1f} ms ({built} kernels built), cached {cached * 1e3:8.2f} ms, "
              f"~{per_kernel:.1f} ms per kernel")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--elements", type=int, default=1 << 24)
    args = parser.parse_args()
    device = tinyhw.Device(args.device)
    tg = load_tinygrad()
    rng = np.random.default_rng(0)
    others = f"numpy {np.__version__}" + (f", tinygrad {version('tinygrad')} (CPU device)" if tg else "")
    print(f"tinyhw_tensor on {device.name} ({device.info.compute_units} compute units) vs {others}; "
          f"python {sys.version.split()[0]}; median of {args.runs} runs")  # fmt: skip
    print(f"{'op':<28} {'tinyhw ms':>9} {'thr':>7} {'numpy ms':>9} {'thr':>7} {'vs numpy':>8}  target    "
          f"{'':<8}{'tgrad ms':>9} {'thr':>7} {'vs tgrad':>9}   unit")  # fmt: skip
    cases = elementwise_cases(device, tg, args.elements, rng) + [matmul_case(device, tg, rng)]
    firsts = [print_case(case, args.runs) for case in cases + row_cases(device, tg, rng)]
    eager_latency(device, tg, args.runs)
    compile_time(device, args.runs, firsts)


if __name__ == "__main__":
    main()
