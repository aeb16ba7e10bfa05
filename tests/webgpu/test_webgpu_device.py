"""webgpu:0's queue: launches batched in order, launches split past the workgroup limit, hangs and lost devices."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from webgpu_support import require_webgpu, run_kernel

import tinyhw
from tinyhw.kernel.dtypes import int32, uint32
from tinyhw.kernel.ir import KernelBuilder
from tinyhw.kernel.render import RENDERERS, compile_kernel, renderers
from tinyhw.registry import registry


def accumulate() -> tinyhw.kernel.ir.Kernel:
    """x[0] = x[0] * m + n."""
    k = KernelBuilder("accumulate")
    x, m, n = k.buffer("x", int32), k.scalar("m", int32), k.scalar("n", int32)
    k.store(x, 0, x[0] * m + n)
    return k.build()


def test_batched_launches_keep_their_own_arguments_and_order(webgpu: tinyhw.Device) -> None:
    program, x = compile_kernel(webgpu, accumulate()), webgpu.allocate(4)
    webgpu.copy(x, memoryview(np.zeros(1, np.int32)).cast("B"))
    expect = 0
    for i in range(700):  # several submissions' worth (MAX_PENDING), with a host write in the middle
        if i == 400:
            webgpu.copy(x, memoryview(np.array([5], np.int32)).cast("B"))
            expect = 5
        webgpu.launch(program, x, 1 + i % 2, i)
        expect = (expect * (1 + i % 2) + i) & 0xFFFFFFFF
    got = np.empty(1, np.int32)
    webgpu.copy(memoryview(got).cast("B"), x)
    webgpu.sync()
    assert got[0] == np.int32(np.uint32(expect).view(np.int32))
    webgpu.free(x)


@pytest.mark.parametrize("groups", [(70_000, 1, 1), (3, 65_537, 1)])
def test_launches_past_the_workgroup_limit_are_split(webgpu: tinyhw.Device, groups: tuple) -> None:
    k = KernelBuilder("ids")
    out = k.buffer("out", uint32)
    k.store(out, k.group_id(1) * groups[0] + k.group_id(0), (k.group_id(0) * 7 + k.group_id(1)).cast(uint32))
    out_buffer = webgpu.allocate(groups[0] * groups[1] * 4)
    webgpu.launch(compile_kernel(webgpu, k.build()), out_buffer, global_size=groups)
    got = np.empty(groups[0] * groups[1], np.uint32)
    webgpu.copy(memoryview(got).cast("B"), out_buffer)
    webgpu.sync()
    y, x = np.divmod(np.arange(got.size), groups[0])
    np.testing.assert_array_equal(got, x * 7 + y)
    webgpu.free(out_buffer)


class HeldFence:
    """Stands in for the fence's staging buffer: its map completes only once `release` is called (a stuck GPU).

    lavapipe finishes work inside `queue.submit`, so a real kernel cannot outlast a sync's timeout there.
    """

    def __init__(self) -> None:
        self.gate = threading.Event()

    def map_async(self, mode: int) -> HeldFence:
        return self  # the promise, too

    def sync_wait(self) -> None:
        self.gate.wait()

    def unmap(self) -> None:
        pass


def test_a_sync_past_the_timeout_is_a_device_hang(webgpu: tinyhw.Device, monkeypatch) -> None:
    fence = HeldFence()
    monkeypatch.setattr(webgpu.impl, "_fence", lambda: fence)
    monkeypatch.setenv("TINYHW_WAIT_TIMEOUT_MS", "50")
    start = time.monotonic()
    with pytest.raises(tinyhw.DeviceHang, match=r"webgpu:0: .*within 50 ms \(TINYHW_WAIT_TIMEOUT_MS\)"):
        webgpu.sync()
    assert time.monotonic() - start < 5
    fence.gate.set()  # the GPU comes back: the next sync finishes the same wait
    monkeypatch.undo()
    webgpu.sync()
    assert run_kernel(webgpu, accumulate(), [], np.array([3], np.int32), 2, 1)[0] == 7


def test_a_lost_device_is_a_fault_and_other_devices_keep_working() -> None:
    require_webgpu()
    device = tinyhw.Device("webgpu")
    buffer = device.allocate(16)
    device.impl.gpu.destroy()  # what a driver reset or a removed GPU does to the GPUDevice
    with pytest.raises(tinyhw.DeviceFault, match="webgpu:0: the WebGPU device was lost"):
        device.copy(buffer, memoryview(np.zeros(4, np.float32)).cast("B"))
        device.sync()
    with pytest.raises(tinyhw.DeviceFault, match="lost"):
        device.allocate(16)  # and every later operation
    cpu = tinyhw.Device("cpu")
    cpu_buffer = cpu.allocate(4)
    cpu.copy(cpu_buffer, memoryview(np.ones(1, np.float32)).cast("B"))
    cpu.sync()
    cpu.free(cpu_buffer)
    device.close()
    reopened = tinyhw.Device("webgpu")  # a new GPUDevice on the same adapter
    assert run_kernel(reopened, accumulate(), [], np.array([2], np.int32), 3, 4)[0] == 10
    reopened.close()


def test_the_wgsl_renderer_comes_from_the_registration_hook() -> None:
    require_webgpu()
    assert "wgsl" not in RENDERERS  # the core does not know it; the plugin's tinyhw_renderers provides it
    assert "wgsl" in renderers() and "wgsl" in registry.plugins["webgpu"].renderers
