"""HWQueue: fluent building, symbolic values patched in place, binding."""

from __future__ import annotations

import pytest

from tinyhw.hcq import HWQueue, Sym


class RecordingQueue(HWQueue):
    """Encodes signal as [1, va lo, va hi, value lo, value hi] and keeps what was submitted."""

    __slots__ = ("submitted",)

    def _signal(self, signal, value):
        self._emit(1)
        self._emit64(signal.va)
        self._emit64(value)

    def _bind(self, device):
        return list(self.words)

    def _submit(self, device):
        device.append(list(self._bound if self._bound is not None else self.words))


class FakeSignal:
    va = 0x1_0000_0040


def test_commands_chain_and_encode_64_bit_values():
    submitted = []
    RecordingQueue().signal(FakeSignal(), 0x2_0000_0003).submit(submitted)
    assert submitted == [[1, 0x40, 0x1, 0x3, 0x2]]


def test_symbolic_values_are_patched_at_each_submit():
    submitted = []
    queue = RecordingQueue().signal(FakeSignal(), Sym("v") + 1)
    queue.submit(submitted, {"v": 1}).submit(submitted, {"v": (5 << 32) + 1})
    assert [words[3:] for words in submitted] == [[2, 0], [2, 5]]


def test_bound_queue_is_patched_in_its_device_memory():
    submitted = []
    queue = RecordingQueue().signal(FakeSignal(), Sym("v")).bind(None)
    queue.submit(submitted, {"v": 7})
    assert submitted[0][3] == 7 and queue.words[3] == 0


def test_missing_value_names_the_symbol():
    with pytest.raises(KeyError, match="'v'"):
        RecordingQueue().signal(FakeSignal(), Sym("v")).submit([], {})


def test_commands_a_queue_cannot_run_raise_type_error():
    with pytest.raises(TypeError, match="RecordingQueue cannot copy"):
        RecordingQueue().copy(0, 0, 4)
