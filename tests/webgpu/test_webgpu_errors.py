"""Bad input on webgpu:0: invalid WGSL, buffers over the adapter's limit, dtypes WGSL cannot hold."""

from __future__ import annotations

import pytest

import tinyhw
from tinyhw.kernel.dtypes import float64, int64, uint32, uint64
from tinyhw.kernel.ir import IRError, KernelBuilder
from tinyhw.kernel.render import render

BAD = """struct Args { out: u32 }
@group(0) @binding(0) var<storage, read_write> out: array<u32>;
@group(0) @binding(1) var<uniform> args: Args;
@compute @workgroup_size(1) fn bad() {
  out[args.out] = 1.5f;
}
"""


def test_invalid_wgsl_is_a_compile_error_with_the_line(webgpu: tinyhw.Device) -> None:
    with pytest.raises(tinyhw.CompileError, match=r"(?s)webgpu:0.*wgsl:5"):
        webgpu.compile(BAD)


def test_source_without_an_entry_point_is_a_compile_error(webgpu: tinyhw.Device) -> None:
    with pytest.raises(tinyhw.CompileError, match="entry point"):
        webgpu.compile("fn helper() {}")


def test_a_buffer_over_the_adapter_limit_names_the_limit(webgpu: tinyhw.Device) -> None:
    limit = webgpu.info.memory
    with pytest.raises(tinyhw.OutOfMemory, match=f"{limit} bytes"):
        webgpu.allocate(limit + 4)
    webgpu.free(webgpu.allocate(64))  # still usable


@pytest.mark.parametrize("dtype", [int64, uint64, float64])
def test_unsupported_dtypes_are_refused_by_name(dtype) -> None:
    k = KernelBuilder("k")
    buf = k.buffer("x", dtype)
    k.store(buf, 0, buf[1])
    with pytest.raises(IRError, match=f"{dtype.name}.*not supported on WebGPU"):
        render(k.build(), "wgsl")


def test_unsupported_dtypes_are_declared_as_capabilities(webgpu: tinyhw.Device) -> None:
    unsupported = webgpu.backend.capabilities.unsupported
    assert {"dtype:int64", "dtype:uint64", "dtype:float64", "hcq", "graph"} <= set(unsupported)
    assert not {"dtype:bool", "dtype:int8", "dtype:uint8", "dtype:float16"} & set(unsupported)  # packed in words


def test_too_many_storage_buffers_is_a_clear_error(webgpu: tinyhw.Device) -> None:
    limit = webgpu.info.details["limits"].split("max-storage-buffers-per-shader-stage=")[1].split(",")[0]
    k = KernelBuilder("many")
    bufs = [k.buffer(f"b{i}", uint32) for i in range(int(limit) + 1)]
    k.store(bufs[0], 0, bufs[-1][0])
    with pytest.raises(tinyhw.CompileError, match=f"storage buffers; this adapter allows {limit}"):
        webgpu.compile(render(k.build(), "wgsl").source)
