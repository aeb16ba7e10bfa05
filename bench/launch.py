"""Launch overhead of the CPU device: eager launches with and without a layer, and graph replay.

    python bench/launch.py [--device cpu] [--launches 10000]

Prints microseconds per launch, launches per second, the ratio of layered to direct launches,
and how many pluggy frames run per launch (expected: 0 with layers off).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import pluggy

import tinyhw
from tinyhw.hcq import Graph
from tinyhw.testing.kernels import kernels_for

PLUGGY_DIR = os.path.dirname(pluggy.__file__)


def open_device(name: str, layers: str) -> tinyhw.Device:
    """A freshly opened device with TINYHW_LAYERS set to `layers`."""
    os.environ["TINYHW_LAYERS"] = layers
    try:
        return tinyhw.Device(name)
    finally:
        os.environ.pop("TINYHW_LAYERS")


def pluggy_frames_per_launch(dev: tinyhw.Device, program: tinyhw.Program, launches: int = 100) -> float:
    """Python frames entered inside pluggy per launch call."""
    count = 0

    def profile(frame, event, arg):  # noqa: ARG001 - sys.setprofile's signature
        nonlocal count
        if event == "call" and frame.f_code.co_filename.startswith(PLUGGY_DIR):
            count += 1

    sys.setprofile(profile)
    try:
        for _ in range(launches):
            dev.launch(program)
    finally:
        sys.setprofile(None)
    dev.sync()
    return count / launches


def eager(dev: tinyhw.Device, program: tinyhw.Program, launches: int) -> tuple[float, float]:
    """(µs per enqueue, launches per second including the final sync)."""
    for _ in range(200):
        dev.launch(program)
    dev.sync()
    start = time.perf_counter()
    for _ in range(launches):
        dev.launch(program)
    enqueued = time.perf_counter()
    dev.sync()
    done = time.perf_counter()
    return (enqueued - start) / launches * 1e6, launches / (done - start)


def graph_replay(dev: tinyhw.Device, program: tinyhw.Program, kernels: int, replays: int) -> float:
    """µs per kernel when replaying a graph of `kernels` launches."""
    graph = Graph(dev)
    for _ in range(kernels):
        graph.launch(program)
    graph.replay()
    dev.sync()
    start = time.perf_counter()
    for _ in range(replays):
        graph.replay()
    dev.sync()
    elapsed = time.perf_counter() - start
    graph.free()
    return elapsed / (replays * kernels) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--launches", type=int, default=10_000)
    args = parser.parse_args()
    results = {}
    for layers in ("", "trace", "validate"):
        dev = open_device(args.device, layers)
        program = dev.compile(kernels_for(dev)["empty"], "empty")
        frames = pluggy_frames_per_launch(dev, program) if layers != "trace" else float("nan")
        if layers == "trace":
            import logging

            logging.getLogger("tinyhw.trace").setLevel(logging.WARNING)
        results[layers or "none"] = (*eager(dev, program, args.launches), frames)
        if not layers and "graph" in dev.backend.capabilities.features:
            results["graph"] = graph_replay(dev, program, kernels=100, replays=max(args.launches // 100, 10))
        dev.close()
    direct_us = results["none"][0]
    print(f"device {args.device}: empty kernel, {args.launches} launches then one sync")
    print(f"{'layers':<10} {'us/launch':>10} {'launch/s':>12} {'vs direct':>10} {'pluggy frames/launch':>22}")
    for name in ("none", "validate", "trace"):
        us, rate, frames = results[name]
        print(f"{name:<10} {us:>10.2f} {rate:>12,.0f} {us / direct_us:>9.2f}x {frames:>22.1f}")
    if "graph" in results:
        graph_us = results["graph"]
        print(f"graph replay: {graph_us:.2f} us per kernel ({direct_us / graph_us:.1f}x faster than eager)")
    print("targets: < 20 us per eager launch with layers off; < 5 us per kernel in graph replay; 0 pluggy frames")


if __name__ == "__main__":
    main()
