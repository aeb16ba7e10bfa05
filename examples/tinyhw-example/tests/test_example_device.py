"""The example backend's own behaviour, beyond the shared conformance suite.

Run against the installed plugin: `pytest examples/tinyhw-example/tests` after
`pip install examples/tinyhw-example`, and the suite with `pytest --pyargs tinyhw.testing --tinyhw-device=example`.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

import tinyhw
from tinyhw_example.kernels import KERNELS


@pytest.fixture
def example() -> Iterator[tinyhw.Device]:
    """A freshly opened example:0, closed after the test."""
    tinyhw.Device("example").close()
    device = tinyhw.Device("example")
    yield device
    device.close()


def test_a_syntax_error_names_its_line(example: tinyhw.Device) -> None:
    with pytest.raises(tinyhw.CompileError, match=r"line 3, column \d+: .*x = = 1"):
        example.compile("def k(gx, gy, gz):\n    y = 1\n    x = = 1\n")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("def k(gx, gy, gz, a):\n    pass\n", "parameter 'a' of k needs its kind"),
        ('def k(gx, gy, gz, a: "complex"):\n    pass\n', "parameter 'a' of k needs its kind"),
        ("def k(x, gy, gz):\n    pass\n", "must be `def k"),
        (KERNELS["empty"] + KERNELS["fill_u32"], "defines 2 functions"),
    ],
)
def test_bad_kernels_are_refused_at_compile(example: tinyhw.Device, source: str, message: str) -> None:
    with pytest.raises(tinyhw.CompileError, match=message):
        example.compile(source)


def test_entry_picks_one_kernel_of_several(example: tinyhw.Device) -> None:
    program = example.compile(KERNELS["empty"] + KERNELS["fill_u32"], "fill_u32")
    assert program.signature == "fill_u32(buffer out, uint32 value)"


def test_memory_is_accounted_and_returned(example: tinyhw.Device) -> None:
    half = example.allocate(example.info.memory // 2)
    with pytest.raises(tinyhw.OutOfMemory, match=f"cannot allocate {example.info.memory} bytes; "):
        example.allocate(example.info.memory)
    example.free(half)
    example.free(example.allocate(example.info.memory))


@pytest.mark.parametrize("args", [(), (1, 2), ("buffer", 1), ("out", -1), ("out", 2**32), ("out", 1.5)])
def test_wrong_arguments_raise_type_error_naming_the_signature(example: tinyhw.Device, args: tuple) -> None:
    out = example.allocate(16)
    args = tuple(out if arg == "out" else arg for arg in args)
    with pytest.raises(TypeError, match=r"fill_u32\(buffer out, uint32 value\)"):
        example.launch(example.compile(KERNELS["fill_u32"]), *args, global_size=4)


def test_a_failing_kernel_is_reported_at_sync_and_the_device_recovers(example: tinyhw.Device) -> None:
    out = example.allocate(16)
    fill = example.compile(KERNELS["fill_u32"])
    example.launch(fill, out, 7, global_size=5)  # workgroup 4 writes past the 4 elements
    with pytest.raises(tinyhw.DeviceFault, match=r"fill_u32.*workgroup \(4, 0, 0\).*IndexError"):
        example.sync()
    example.launch(fill, out, 9, global_size=4)
    result = np.zeros(4, np.uint32)
    example.copy(result, out)
    example.sync()
    assert result.tolist() == [9, 9, 9, 9]


def test_count_layer_reports_launches_at_close(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    tinyhw.Device("example").close()
    monkeypatch.setenv("TINYHW_LAYERS", "count")
    device = tinyhw.Device("example")
    empty = device.compile(KERNELS["empty"])
    for _ in range(3):
        device.launch(empty)
    device.close()
    assert "tinyhw count example:0: 3 launches (empty x3)" in capsys.readouterr().err
