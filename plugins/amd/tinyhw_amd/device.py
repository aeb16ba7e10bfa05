"""AMDDevice: one AMD GPU under the amdgpu kernel driver's KFD, as an HCQ device.

Opening acquires the GPU's VM through KFD and creates two user-mode queues: a PM4 compute queue
(kernels, signals, waits) and an SDMA queue (copies). Both fetch from rings in GTT and are
started by doorbell writes. Signals live in uncached GTT; kernel arguments and staging buffers
in GTT too, device buffers and code in VRAM. A wait that stops progressing raises DeviceHang; a
GPU page fault reported by KFD raises DeviceFault with the faulting address.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tinyhw.backend import DeviceInfo
from tinyhw.buffer import BufferOptions
from tinyhw.errors import CompileError
from tinyhw.hcq.allocator import Allocation
from tinyhw.hcq.device import HCQDevice
from tinyhw.hcq.signal import Signal
from tinyhw.hookspec import hookimpl
from tinyhw.kernel.llvm import compiler_version
from tinyhw_amd.arch import arch
from tinyhw_amd.autogen import kfd as kfd_ioctl
from tinyhw_amd.code_object import load_code_object
from tinyhw_amd.discovery import NBIO_BLOCK, block_bases
from tinyhw_amd.kfd import PAGE, KFDInterface, KFDMemory, QueueBuffers, context_save_sizes
from tinyhw_amd.memory import KFDAllocator, Ring, memory_flags
from tinyhw_amd.pm4 import ComputeQueue
from tinyhw_amd.program import AMDProgram, compile_kernel, read_signature
from tinyhw_amd.sdma import SDMAQueue

if TYPE_CHECKING:
    from tinyhw.buffer import Buffer
    from tinyhw.hcq.os_access import OSAccess
    from tinyhw_amd.topology import GPUNode

__all__ = ["AMDDevice", "AMDSignal"]

RING_BYTES = 1 << 16
WAVES_PER_CU, MAX_SCRATCH_WAVES = 32, 0xFFF
"""Waves a GFX 11 CU runs at once (16 per SIMD, 2 SIMDs); COMPUTE_TMPRING_SIZE.WAVES is 12 bits."""
_RING_MEMORY = memory_flags(BufferOptions(host_visible=True, uncached=True))
_VRAM = memory_flags(BufferOptions())


class AMDSignal(Signal):
    """A signal whose waits also poll KFD for GPU faults (memory and hardware exceptions), raised as DeviceFault."""

    __slots__ = ("_amd",)

    def _block(self, value: int, seconds: float) -> None:
        device = self._amd
        if device.error is None and (fault := device.kfd.check_fault()) is not None:
            device.record_fault(fault)
        if device.error is not None:
            raise device.error
        super()._block(value, seconds)


class AMDDevice(HCQDevice):
    """An AMD GPU driven through KFD (see the module docstring)."""

    compute_queue_type = ComputeQueue
    copy_queue_type = SDMAQueue

    def __init__(self, node: GPUNode, name: str, osa: OSAccess | None = None) -> None:
        self.arch = arch(node.target)
        self.node = node
        self.kfd = KFDInterface(node.gpu_id, node.drm_render_minor, name, osa)
        self._queue_memory: list[KFDMemory] = []
        self._queues: list[int] = []
        self._images: list[Buffer] = []
        self._scratch: Buffer | None = None
        try:
            nbio_bases = block_bases(self.kfd.os, node.drm_render_minor, NBIO_BLOCK)
            self.compute_queue_type = ComputeQueue.for_nbio(nbio_bases)
            super().__init__(name, self._describe(), KFDAllocator(self, self.kfd))
            self.compute_ring = self._create_ring("compute", kfd_ioctl.KFD_IOC_QUEUE_TYPE_COMPUTE, 4)
            self.copy_ring = self._create_ring("SDMA", kfd_ioctl.KFD_IOC_QUEUE_TYPE_SDMA, 1)
            self.kfd.check_fault()  # creates KFD's fault events before any work can fault
        except BaseException:
            self._release_queues()
            raise

    def _describe(self) -> DeviceInfo:
        node = self.node
        return DeviceInfo(
            name=node.name,
            memory=node.vram_size,
            compute_units=node.compute_units,
            target=self.arch.target,
            compiler=f"tinyhw-amd/{compiler_version()}",
            details=dict(family=self.arch.family, gpu_id=node.gpu_id, kfd_node=node.node, wave_size=node.wave_size,
                         kfd_version=".".join(map(str, self.kfd.version)), lds_size=node.lds_size,
                         gtt=node.system_size),
        )  # fmt: skip

    def _queue_alloc(self, size: int, flags: int, host_visible: bool) -> KFDMemory:
        memory = self.kfd.alloc(size, flags, host_visible=host_visible)
        self._queue_memory.append(memory)
        return memory

    def _create_ring(self, name: str, queue_type: int, unit: int) -> Ring:
        """A KFD queue of `queue_type` on a new ring; compute queues also get their EOP buffer and CWSR area."""
        ring = self._queue_alloc(RING_BYTES, _RING_MEMORY, True)
        pointers = self._queue_alloc(PAGE, _RING_MEMORY, True)
        buffers = None
        if queue_type == kfd_ioctl.KFD_IOC_QUEUE_TYPE_COMPUTE:
            cwsr, ctl_stack, debug, eop = context_save_sizes(self.node.properties)
            xccs = max(self.node.properties.get("num_xcc", 1), 1)
            buffers = QueueBuffers(eop=self._queue_alloc(eop, _VRAM, False),
                                   cwsr=self._queue_alloc((cwsr + debug) * xccs, _VRAM, False),
                                   cwsr_size=cwsr, ctl_stack_size=ctl_stack)  # fmt: skip
        queue_id, doorbell = self.kfd.create_queue(queue_type, ring, pointers.va + Ring.RPTR, pointers.va + Ring.WPTR,
                                                   buffers)  # fmt: skip
        self._queues.append(queue_id)
        return Ring(f"{self.name} {name}", ring, pointers, doorbell, unit)

    def make_signal(self, name: str, memory: memoryview, va: int) -> Signal:
        signal = AMDSignal(self.name, name, memory, va, ticks_per_us=100.0)
        signal._amd = self
        return signal

    def host_address(self, va: int, size: int) -> memoryview:
        """A host view of `size` bytes of host-visible memory at GPU address `va` (KFD maps it at the same address)."""
        return Allocation(va=va, size=size, cpu_addr=va).cpu_view()

    def scratch(self, per_wave: int) -> tuple[int, int]:
        """(address, waves) of scratch backing for `per_wave` bytes per wave, for as many waves as can run at once.

        Grown when a kernel needs more; the old backing is freed behind the timeline like any buffer.
        """
        waves = min(self.node.compute_units * WAVES_PER_CU, MAX_SCRATCH_WAVES)
        if self._scratch is None or self._scratch.size < waves * per_wave:
            if self._scratch is not None:
                self.allocator.free(self._scratch)
            self._scratch = self.allocator.alloc(waves * per_wave, BufferOptions())
        return self._scratch.handle.va, min(self._scratch.size // per_wave, MAX_SCRATCH_WAVES)

    def compile_binary(self, source: str | bytes, entry: str | None) -> bytes:
        return compile_kernel(source.decode() if isinstance(source, bytes) else source, entry, self.arch.target)

    def load_program(self, binary: bytes) -> AMDProgram:
        name, params = read_signature(binary)
        code = load_code_object(binary)
        if code.target != self.arch.target:
            raise CompileError(f"{self.name} is a {self.arch.target}, but this kernel was compiled for {code.target}")
        if code.alignment > PAGE:
            raise CompileError(f"code object wants {code.alignment}-byte alignment; device memory is {PAGE}-aligned")
        image = self.allocator.alloc(code.size, BufferOptions())
        try:
            program = AMDProgram(self, code, name, params, image)
        except Exception:
            self.allocator.free(image)
            raise
        self._images.append(image)
        data = code.image(image.handle.va)
        self.copy(image, memoryview(data), len(data))
        return program

    @hookimpl  # an override is not a hook implementation unless marked again
    def close(self) -> None:
        try:
            for image in [*self._images, *([self._scratch] if self._scratch else [])]:
                self.allocator.free(image)
            self._images.clear()
            self._scratch = None
            super().close()
        finally:
            self._release_queues()

    def _release_queues(self) -> None:
        """Destroy the queues (the engines stop reading their memory), free that memory, close KFD."""
        try:
            while self._queues:
                self.kfd.destroy_queue(self._queues.pop())
            while self._queue_memory:
                self.kfd.free(self._queue_memory.pop())
        finally:
            self.kfd.close()
