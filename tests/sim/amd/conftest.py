"""Fixtures for the simulated-GPU tests: a SimulatedOS driven through raw KFD ioctls, as a driver would."""

from __future__ import annotations

import ctypes
import os
import time
from collections.abc import Iterator

import pytest

from tests.sim.amd.gpu import HardwareQueue
from tests.sim.amd.kfd import DOORBELL_SLICE, ffi
from tests.sim.amd.os import SimulatedOS
from tests.sim.amd.topology import GFX1100
from tinyhw.hcq.os_access import (
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_NORESERVE,
    MAP_PRIVATE,
    MAP_SHARED,
    PROT_NONE,
    PROT_READ,
    PROT_WRITE,
)
from tinyhw_amd.autogen import kfd


class KFDClient:
    """A minimal KFD user: opens the nodes, acquires the VM, allocates memory mapped on host and GPU alike."""

    def __init__(self, sim: SimulatedOS) -> None:
        self.os = sim
        self.kfd = sim.open("/dev/kfd", os.O_RDWR)
        self.render = sim.open("/dev/dri/renderD128", os.O_RDWR)
        self.gpu_id = GFX1100.gpu_id
        self.process = sim.process
        self.gpu = self.process.gpu
        self.call("ACQUIRE_VM", "acquire_vm", drm_fd=self.render, gpu_id=self.gpu_id)

    def call(self, ioctl: str, struct: str, **fields: int):
        """Issue AMDKFD_IOC_<ioctl> with a `struct kfd_ioctl_<struct>_args` holding `fields`; returns the struct."""
        args = ffi.new(f"struct kfd_ioctl_{struct}_args *")
        for name, value in fields.items():
            setattr(args, name, value)
        self.os.ioctl(self.kfd, getattr(kfd, f"AMDKFD_IOC_{ioctl}"), ffi.buffer(args))
        return args

    def alloc(self, size: int, kind: str = "GTT", *, map_gpu: bool = True) -> tuple[int, int]:
        """(address, handle) of a new object, mapped at the same address on the host and (optionally) the GPU."""
        va = self.os.mmap(0, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        flags = getattr(kfd, f"KFD_IOC_ALLOC_MEM_FLAGS_{kind}") | kfd.KFD_IOC_ALLOC_MEM_FLAGS_WRITABLE
        args = self.call("ALLOC_MEMORY_OF_GPU", "alloc_memory_of_gpu", va_addr=va, size=size, gpu_id=self.gpu_id,
                         flags=flags & 0xFFFFFFFF)  # fmt: skip
        self.os.mmap(va, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, self.render, args.mmap_offset)
        if map_gpu:
            self.map(args.handle)
        return va, args.handle

    def map(self, handle: int, ioctl: str = "MAP_MEMORY_TO_GPU", struct: str = "map_memory_to_gpu"):
        """Map (or unmap) object `handle` on this GPU."""
        ids = ffi.new("unsigned int[1]", [self.gpu_id])
        return self.call(ioctl, struct, handle=handle, device_ids_array_ptr=int(ffi.cast("uintptr_t", ids)),
                         n_devices=1)  # fmt: skip

    def host(self, address: int, ctype: str):
        """A cffi pointer to `ctype` values at host `address`."""
        return ffi.cast(f"{ctype} *", address)

    def close(self) -> None:
        """Close the nodes; ends the KFD process and stops its GPU."""
        self.os.close(self.render)
        self.os.close(self.kfd)


class QueueHarness:
    """A hardware queue fed by hand: packets are written into its ring and announced through the doorbell."""

    def __init__(self, client: KFDClient, queue_type: int, ring_size: int = 4096) -> None:
        self.client = client
        self.ring, _ = client.alloc(ring_size)
        self.pointers, _ = client.alloc(4096)
        args = client.call("CREATE_QUEUE", "create_queue", ring_base_address=self.ring, ring_size=ring_size,
                           read_pointer_address=self.pointers, write_pointer_address=self.pointers + 8,
                           gpu_id=client.gpu_id, queue_type=queue_type, queue_percentage=100)  # fmt: skip
        self.queue_id, self.ring_size = args.queue_id, ring_size
        self.unit = 4 if queue_type == kfd.KFD_IOC_QUEUE_TYPE_COMPUTE else 1
        base = args.doorbell_offset - args.doorbell_offset % DOORBELL_SLICE
        slice_ = client.os.mmap(0, DOORBELL_SLICE, PROT_READ | PROT_WRITE, MAP_SHARED, client.kfd, base)
        self.doorbell = client.host(slice_ + args.doorbell_offset % DOORBELL_SLICE, "uint64_t")
        self.write_pointer = 0

    @property
    def queue(self) -> HardwareQueue:
        """The simulated GPU's view of this queue (state, fault)."""
        return self.client.gpu.queues[self.queue_id]

    @property
    def read_pointer(self) -> int:
        """The read pointer the GPU wrote back."""
        return self.client.host(self.pointers, "uint64_t")[0]

    def submit(self, *dwords: int) -> None:
        """Copy `dwords` into the ring at the write pointer (wrapping) and ring the doorbell."""
        ring = self.client.host(self.ring, "uint32_t")
        for i, dword in enumerate(dwords):
            ring[(self.write_pointer * self.unit // 4 + i) % (self.ring_size // 4)] = dword & 0xFFFFFFFF
        self.write_pointer += len(dwords) * 4 // self.unit
        self.client.host(self.pointers + 8, "uint64_t")[0] = self.write_pointer
        self.doorbell[0] = self.write_pointer

    def wait(self, timeout: float = 10.0) -> str:
        """Wait until the queue consumed everything or stopped; returns its state ("active", "faulted", "hung")."""
        deadline = time.monotonic() + timeout
        while self.read_pointer != self.write_pointer and self.queue.state == "active":
            if time.monotonic() > deadline:
                raise TimeoutError(f"queue {self.queue_id} stuck at {self.read_pointer}/{self.write_pointer}")
            time.sleep(0.001)
        return self.queue.state


@pytest.fixture
def client() -> Iterator[KFDClient]:
    """A fresh simulated machine with the VM acquired; closed after the test."""
    sim = SimulatedOS(budget=20_000)
    client = KFDClient(sim)
    yield client
    sim.shutdown()


def host_bytes(address: int, n: int) -> bytes:
    """`n` bytes of host memory at `address`."""
    return ctypes.string_at(address, n)
