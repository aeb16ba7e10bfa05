"""Graphs: launches and copies recorded once, replayed with changed buffers and scalars."""

from __future__ import annotations

import numpy as np
import pytest

import tinyhw
from tinyhw.hcq import Graph, Var
from tinyhw.testing.support import download, random_array, upload

pytestmark = pytest.mark.tinyhw_requires("graph")

N = 1000


def record_add_then_scale(device: tinyhw.Device, kernel, scratch: tinyhw.Buffer) -> Graph:
    """A graph computing out = (a + b) * s through `scratch`, with a, b, s and out given at replay."""
    graph = Graph(device)
    graph.launch(kernel("add_f32"), Var("a"), Var("b"), scratch, global_size=N)
    graph.launch(kernel("scale_f32"), scratch, Var("s"), global_size=N)
    graph.copy(Var("out"), scratch, N * 4)
    return graph


def test_replay_with_changed_buffers_and_scalars(tinyhw_device: tinyhw.Device, tinyhw_kernel) -> None:
    """Three replays with different inputs, scalars and outputs before one sync."""
    scratch = tinyhw_device.allocate(N * 4)
    graph = record_add_then_scale(tinyhw_device, tinyhw_kernel, scratch)
    cases = []
    for i, scale in enumerate((2.0, -0.5, 3.0)):
        a, b = random_array("float32", N, seed=2 * i), random_array("float32", N, seed=2 * i + 1)
        inputs = {"a": upload(tinyhw_device, a), "b": upload(tinyhw_device, b), "out": tinyhw_device.allocate(N * 4)}
        graph.replay(**inputs, s=scale)
        cases.append((inputs, (a + b) * np.float32(scale)))
    for inputs, expected in cases:
        np.testing.assert_array_equal(download(tinyhw_device, inputs["out"], "float32"), expected)
        for buffer in inputs.values():
            tinyhw_device.free(buffer)
    graph.free()
    tinyhw_device.free(scratch)


def test_replays_interleave_with_eager_work(tinyhw_device: tinyhw.Device, tinyhw_kernel) -> None:
    x = upload(tinyhw_device, np.zeros(N, np.uint32))
    increment = tinyhw_kernel("increment_u32")
    graph = Graph(tinyhw_device)
    graph.launch(increment, x, global_size=N)
    graph.launch(increment, x, global_size=N)
    snapshots = [np.zeros(N, np.uint32) for _ in range(5)]
    for snapshot in snapshots:
        graph.replay()
        tinyhw_device.launch(increment, x, global_size=N)
        tinyhw_device.copy(snapshot, x)
    tinyhw_device.sync()
    for i, snapshot in enumerate(snapshots):
        assert np.all(snapshot == 3 * (i + 1)), f"after replay {i}: {snapshot[:4]}..."
    graph.free()
    tinyhw_device.free(x)


def test_graph_copies_with_views_and_vars(tinyhw_device: tinyhw.Device) -> None:
    src = upload(tinyhw_device, np.arange(64, dtype=np.uint8))
    graph = Graph(tinyhw_device)
    graph.copy(Var("dst"), src.view(8, 16), 16)
    outs = [upload(tinyhw_device, np.zeros(32, np.uint8)) for _ in range(3)]
    for i, out in enumerate(outs):
        graph.replay(dst=out.view(i, 16))
    for i, out in enumerate(outs):
        expected = np.zeros(32, np.uint8)
        expected[i : i + 16] = np.arange(8, 24)
        np.testing.assert_array_equal(download(tinyhw_device, out, "uint8"), expected)
        tinyhw_device.free(out)
    graph.free()
    tinyhw_device.free(src)


def test_replay_without_a_var_value_is_a_type_error(tinyhw_device: tinyhw.Device, tinyhw_kernel) -> None:
    x = tinyhw_device.allocate(N * 4)
    graph = Graph(tinyhw_device)
    graph.launch(tinyhw_kernel("scale_f32"), x, Var("s"), global_size=N)
    with pytest.raises(TypeError, match="s"):
        graph.replay()
    graph.replay(s=1.0)
    tinyhw_device.sync()
    graph.free()
    tinyhw_device.free(x)


def test_recording_enqueues_nothing(tinyhw_device: tinyhw.Device, tinyhw_kernel) -> None:
    x = upload(tinyhw_device, np.zeros(N, np.uint32))
    graph = Graph(tinyhw_device)
    graph.launch(tinyhw_kernel("increment_u32"), x, global_size=N)
    assert np.all(download(tinyhw_device, x, "uint32") == 0)
    graph.free()
    tinyhw_device.free(x)
