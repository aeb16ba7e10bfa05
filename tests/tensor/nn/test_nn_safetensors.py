"""The safetensors reader and writer: round trips for every dtype, lazy access, and every malformed file."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

import tinyhw_tensor as tt
from tinyhw_tensor import nn
from tinyhw_tensor.nn.safetensors import SafetensorsError, load_file, safe_open, save_file


def write_raw(path, header: dict | bytes, data: bytes = b"") -> str:
    """A file in the safetensors layout written by hand (the header as given, unchecked)."""
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return str(path)


ARRAYS = {
    "f64": np.linspace(-2, 2, 6).reshape(2, 3),
    "f32": np.arange(12, dtype=np.float32).reshape(3, 4) / 7,
    "f16": np.array([1.5, -0.25, 65504], np.float16),
    "i64": np.array([[-(2**40), 7]], np.int64),
    "i32": np.array([-5, 2**30], np.int32),
    "i16": np.array([-300, 300], np.int16),
    "i8": np.array([-128, 127], np.int8),
    "u8": np.array([0, 255, 3], np.uint8),
    "bool": np.array([True, False, True]),
    "scalar": np.array(3.5, np.float32),
    "empty": np.zeros((0, 3), np.float32),
}


def test_round_trip_of_every_dtype(tmp_path, check):
    path = tmp_path / "all.safetensors"
    save_file({name: tt.Tensor(a) for name, a in ARRAYS.items()}, path, metadata={"format": "pt"})
    loaded = load_file(path)
    assert sorted(loaded) == sorted(ARRAYS)
    for name, array in ARRAYS.items():
        check(loaded[name], array, rtol=0, atol=0)
    with safe_open(path) as f:
        assert f.metadata() == {"format": "pt"} and f.keys() == sorted(ARRAYS)


def test_bfloat16_keeps_its_bits(tmp_path):
    values = np.array([1.0, -3.140625, 1e-20, np.inf], np.float32)
    save_file({"w": tt.Tensor(values, dtype=tt.bfloat16)}, tmp_path / "b.safetensors")
    with safe_open(tmp_path / "b.safetensors") as f:
        bits = f.get_numpy("w")
        tensor = f.get_tensor("w")
    assert bits.dtype == np.uint16 and tensor.dtype == tt.bfloat16
    np.testing.assert_array_equal((bits.astype(np.uint32) << 16).view(np.float32), tensor.numpy())
    np.testing.assert_array_equal(tensor.numpy()[[0, 1, 3]], values[[0, 1, 3]])


def test_reads_a_file_written_by_the_spec(tmp_path, check):
    a, b = np.arange(6, dtype="<f4").reshape(2, 3), np.array([1, -1], "<i8")
    header = {"b": {"dtype": "I64", "shape": [2], "data_offsets": [24, 40]},
              "__metadata__": {"k": "v"}, "a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}}  # fmt: skip
    path = write_raw(tmp_path / "spec.safetensors", json.dumps(header).encode() + b"   ", a.tobytes() + b.tobytes())
    with safe_open(path) as f:
        check(f.get_tensor("a"), a)
    check(load_file(path)["b"], b)


def test_numpy_access_is_a_view_of_the_mapping(tmp_path):
    save_file({"x": np.arange(4, dtype=np.float32)}, tmp_path / "x.safetensors")
    f = safe_open(tmp_path / "x.safetensors")
    view = f.get_numpy("x")
    assert not view.flags.owndata and not view.flags.writeable  # a read-only view of the mapped file
    f.close()
    assert view.tolist() == [0, 1, 2, 3]


def test_load_state_dict_from_a_file(tmp_path, check):
    tt.manual_seed(1)
    source, target = nn.Linear(3, 2), nn.Linear(3, 2)
    save_file(source.state_dict(), tmp_path / "linear.safetensors")
    target.load_state_dict(load_file(tmp_path / "linear.safetensors"))
    check(target.weight, source.weight.numpy())
    check(target.bias, source.bias.numpy())


def test_unknown_tensor_name_is_a_key_error(tmp_path):
    save_file({"x": np.zeros(1, np.float32)}, tmp_path / "x.safetensors")
    with safe_open(tmp_path / "x.safetensors") as f, pytest.raises(KeyError, match="no tensor 'y'"):
        f.get_tensor("y")


F32_2 = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
BAD_FILES = {
    "empty file": (b"", None, "truncated: 0 bytes"),
    "short file": (b"\x01\x00", None, "truncated: 2 bytes"),
    "header past the end": ({"x": F32_2}, b"", None),
    "invalid JSON": (b'{"x": ', b"", "not valid JSON"),
    "JSON that is not an object": (b"[1, 2]", b"", "must be a JSON object"),
    "unknown dtype": ({"x": F32_2 | {"dtype": "Q7"}}, bytes(8), "unknown or unsupported dtype 'Q7'"),
    "offsets past the data": ({"x": F32_2 | {"shape": [4], "data_offsets": [0, 16]}}, bytes(8), "cover 16 .* holds 8"),
    "gap before a tensor": ({"x": F32_2 | {"data_offsets": [8, 16]}}, bytes(16), "leaves a gap"),
    "data past the tensors": ({"x": F32_2}, bytes(12), "cover 8 bytes of data, but the file holds 12"),
    "overlapping tensors": (
        {"x": F32_2, "y": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}},
        bytes(8),
        "overlaps",
    ),  # fmt: skip
    "offsets out of order": ({"x": {"dtype": "F32", "shape": [0], "data_offsets": [8, 0]}}, bytes(8), "span -8"),
    "size that does not fit the shape": ({"x": F32_2 | {"shape": [3]}}, bytes(8), "needs 12 bytes"),
    "bad shape": ({"x": F32_2 | {"shape": [-2]}}, bytes(8), "invalid shape"),
    "missing fields": ({"x": {"dtype": "F32"}}, b"", "expected"),
    "bad metadata": ({"__metadata__": {"a": 1}}, b"", "__metadata__ must map strings"),
}


@pytest.mark.parametrize("case", BAD_FILES, ids=list(BAD_FILES))
def test_malformed_files_raise_value_errors_naming_the_file(tmp_path, case):
    header, data, message = BAD_FILES[case]
    path = tmp_path / "bad.safetensors"
    if data is None:
        path.write_bytes(header)
    else:
        write_raw(path, header, data)
    if case == "header past the end":
        path.write_bytes(path.read_bytes()[:20])
        message = "header length .* runs past the end of the file \\(20 bytes\\)"
    with pytest.raises(SafetensorsError, match=message) as info:
        load_file(path)
    assert isinstance(info.value, ValueError) and str(path) in str(info.value)


def test_git_lfs_pointer_says_to_fetch_the_weights(tmp_path):
    path = tmp_path / "model.safetensors"
    path.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:0123\nsize 5368709120\n")
    with pytest.raises(SafetensorsError, match="Git LFS pointer, not the weights: fetch the real file"):
        load_file(path)


def test_save_rejects_an_unstorable_dtype(tmp_path):
    with pytest.raises(TypeError, match="cannot store"):
        save_file({"x": np.zeros(2, np.uint32)}, tmp_path / "u.safetensors")
