"""Layers on the device under test: trace logs every operation, validate refuses what the device trusts."""

from __future__ import annotations

import numpy as np
import pytest

import tinyhw
from tinyhw.testing.support import download, upload


@pytest.fixture
def validated(tinyhw_open, monkeypatch: pytest.MonkeyPatch) -> tinyhw.Device:
    """The device reopened with `TINYHW_LAYERS=validate`."""
    monkeypatch.setenv("TINYHW_LAYERS", "validate")
    return tinyhw_open()


def test_no_layer_is_on_by_default(tinyhw_open, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TINYHW_LAYERS", raising=False)
    assert tinyhw_open().layers == ()


def test_trace_logs_each_operation_to_stderr(tinyhw_open, tinyhw_kernel, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    monkeypatch.setenv("TINYHW_LAYERS", "trace")
    device = tinyhw_open()
    assert device.layers == ("trace",)
    buffer = upload(device, np.zeros(16, np.uint32))
    device.launch(tinyhw_kernel("fill_u32", device), buffer, 3, global_size=16)
    assert np.all(download(device, buffer, "uint32") == 3)
    device.free(buffer)
    log = capsys.readouterr().err
    for operation in ("allocate", "copy", "load", "launch", "sync", "free"):  # compile may come from the cache
        assert f"{device.name} {operation}" in log, f"no {operation!r} line in the trace:\n{log}"
    assert "fill_u32" in log and "Logging error" not in log


@pytest.mark.parametrize(("kernel", "args"), [("fill_u32", (2**40,)), ("fill_u32", (-(2**40),)),
                                              ("scalars_i64", (2**63, 1.0)), ("scalars_i64", (True, 1.0))])  # fmt: skip
def test_validate_refuses_scalars_out_of_range(validated: tinyhw.Device, tinyhw_kernel, kernel: str,
                                               args: tuple) -> None:  # fmt: skip
    program = tinyhw_kernel(kernel, validated)
    out = upload(validated, np.full(4, 9, np.int64))
    with pytest.raises(TypeError) as error:
        validated.launch(program, out, *args)
    assert program.signature in str(error.value)
    assert np.all(download(validated, out, "int64") == 9), "a refused launch still ran"
    validated.free(out)


def test_validate_refuses_launch_arguments_of_another_device(tinyhw_open, tinyhw_kernel,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    stale = tinyhw_open().allocate(64)
    monkeypatch.setenv("TINYHW_LAYERS", "validate")
    device = tinyhw_open()
    with pytest.raises(ValueError, match="another device"):
        device.launch(tinyhw_kernel("fill_u32", device), stale, 1, global_size=16)
    device.sync()


def test_validate_refuses_launch_arguments_already_freed(validated: tinyhw.Device, tinyhw_kernel) -> None:
    buffer = validated.allocate(64)
    validated.free(buffer)
    with pytest.raises(ValueError, match="not a live allocation|freed"):
        validated.launch(tinyhw_kernel("fill_u32", validated), buffer, 1, global_size=16)
    validated.sync()


def test_validated_device_still_computes(validated: tinyhw.Device, tinyhw_kernel) -> None:
    a, b = np.arange(64, dtype=np.float32), np.ones(64, np.float32)
    da, db, out = upload(validated, a), upload(validated, b), validated.allocate(a.nbytes)
    validated.launch(tinyhw_kernel("add_f32", validated), da, db, out, global_size=64)
    np.testing.assert_array_equal(download(validated, out, "float32"), a + b)
    for buffer in (da, db, out):
        validated.free(buffer)
