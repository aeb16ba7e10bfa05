"""Layers: off means no pluggy frame on the launch path; on means every operation goes through them."""

from __future__ import annotations

import logging
import os
import sys
import types

import numpy as np
import pluggy
import pytest

import tinyhw

EMPTY = "define void @empty(i32 %x, i32 %y, i32 %z) {\n  ret void\n}\n"
PLUGGY_DIR = os.path.dirname(pluggy.__file__)


def reopen(monkeypatch, layers: str) -> tinyhw.Device:
    tinyhw.Device("cpu").close()
    monkeypatch.setenv("TINYHW_LAYERS", layers)
    return tinyhw.Device("cpu")


def pluggy_frames(action) -> int:
    frames = []

    def profile(frame, event, arg):
        if event == "call" and frame.f_code.co_filename.startswith(PLUGGY_DIR):
            frames.append(frame.f_code.co_name)

    sys.setprofile(profile)
    try:
        action()
    finally:
        sys.setprofile(None)
    return len(frames)


@pytest.fixture
def closing():
    yield
    tinyhw.Device("cpu").close()


def test_no_pluggy_frame_on_the_launch_path_with_layers_off(monkeypatch, closing):
    dev = reopen(monkeypatch, "")
    program = dev.compile(EMPTY)
    assert pluggy_frames(lambda: [dev.launch(program) for _ in range(10)]) == 0
    dev.sync()


def test_layers_on_route_operations_through_pluggy(monkeypatch, closing):
    dev = reopen(monkeypatch, "validate")
    program = dev.compile(EMPTY)
    assert pluggy_frames(lambda: dev.launch(program)) > 0
    dev.sync()


def test_trace_logs_every_operation_with_sizes(monkeypatch, closing, caplog):
    dev = reopen(monkeypatch, "trace")
    logger = logging.getLogger("tinyhw.trace")
    monkeypatch.setattr(logger, "propagate", True)
    with caplog.at_level(logging.INFO, logger="tinyhw.trace"):
        buffer = dev.allocate(64)
        dev.copy(buffer, np.zeros(16, np.float32))
        dev.launch(dev.compile(EMPTY + "; trace test\n"), global_size=4)
        dev.sync()
        dev.free(buffer)
    text = caplog.text
    for expected in ("cpu:0 allocate 64 bytes", "copy host[64] -> buffer[64] 64 bytes", "launch empty",
                     "global=(4, 1, 1)", "sync", "free buffer[64]"):  # fmt: skip
        assert expected in text


def test_validate_catches_buffers_of_another_device_and_bad_scalars(monkeypatch, closing):
    dev = reopen(monkeypatch, "validate")
    program = dev.compile("define void @k(ptr %p, i32 %n, i32 %x, i32 %y, i32 %z) {\n  ret void\n}\n")
    mine = dev.allocate(4)
    foreign = tinyhw.Buffer(object(), 64, tinyhw.BufferOptions(), handle=None)
    with pytest.raises(TypeError, match=r"k\(buffer p, int32 n\)"):
        dev.launch(program, mine, 2**31)
    with pytest.raises(ValueError, match="another device"):
        dev.launch(program, foreign, 1)
    dev.free(mine)


def test_first_listed_layer_is_outermost(monkeypatch, closing, plugin):
    calls = []

    class Recorder:
        def __init__(self, tag):
            self.tag = tag

        @tinyhw.hookimpl(wrapper=True)
        def sync(self):
            calls.append(self.tag)
            return (yield)

    module = types.ModuleType("order_layers")
    module.tinyhw_layers = tinyhw.hookimpl(
        lambda: [tinyhw.Layer(tag, lambda name, impl, tag=tag: Recorder(tag)) for tag in ("outer", "inner")]
    )
    plugin(module, "order_layers")
    reopen(monkeypatch, "outer,inner").sync()
    assert calls == ["outer", "inner"]
