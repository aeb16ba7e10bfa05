"""The simulated GPU: its virtual address space, its hardware queues and the command processor that runs them.

Like the real command processor (CP), a thread polls each queue's doorbell: when the write pointer it
announces is ahead of the queue's read pointer, the queue's packet processor (PM4 for compute, SDMA for
copies) decodes and executes the packets in the ring between them and writes the read pointer back to
the queue's read-pointer address. A packet that waits (WAIT_REG_MEM, POLL_REGMEM) leaves its queue
blocked while the other queues keep running. A bad packet or a GPU page fault stops the queue and is
reported to the KFD model as an exception event; a kernel that runs past its instruction budget leaves
its queue hung, as a real hang would, so the driver's wait times out.

GPU memory is one `GPUMemory` shared by every queue; host threads (the KFD model's map/unmap ioctls)
and the CP thread take `lock` around every access, since GPUMemory itself is not thread-safe.
"""

from __future__ import annotations

import logging
import struct
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from tests.sim.amd.isa.errors import InstructionBudgetExceeded
from tests.sim.amd.memory import GPUMemory, PageFault

__all__ = ["QueueFault", "HardwareQueue", "PacketProcessor", "SimulatedGPU", "GPU_CLOCK_HZ"]

log = logging.getLogger(__name__)

GPU_CLOCK_HZ = 100_000_000
"""gfx11's CP timestamp counter (RELEASE_MEM GPU clock, SDMA global timestamp) runs at 100 MHz."""
IDLE_POLL_S, MAX_IDLE_POLL_S = 0.0002, 0.001  # doorbell polling: back off from 0.2 ms to 1 ms while idle


class QueueFault(Exception):
    """A queue stopped on an error the hardware reports: a malformed packet, or a page fault at `address`."""

    def __init__(self, message: str, address: int | None = None) -> None:
        super().__init__(message)
        self.address = address


@dataclass
class HardwareQueue:
    """One hardware queue: a ring in GPU memory, its read-pointer address and doorbell slot.

    Pointers count `unit`-byte units from the queue's creation and never wrap (64-bit); the ring
    offset of a pointer is `pointer * unit % ring_size`. The write pointer is the doorbell's value
    (the CP does not poll the write-pointer copy in memory). `state` is "active", "faulted" or "hung".
    """

    queue_id: int
    kind: str
    ring_va: int
    ring_size: int
    rptr_va: int
    doorbell_offset: int
    unit: int
    read_pointer: int = 0
    state: str = "active"
    fault: str | None = None
    processor: PacketProcessor | None = field(default=None, repr=False)


class PacketProcessor(ABC):
    """Decodes and executes one queue's packets; PM4 and SDMA processors subclass it.

    `step` runs at most one packet: it returns False when there is nothing to do or the packet
    waits for a condition, and raises QueueFault when the packet is malformed or faults.
    """

    def __init__(self, gpu: SimulatedGPU, queue: HardwareQueue) -> None:
        self.gpu = gpu
        self.queue = queue

    @abstractmethod
    def packet_dwords(self, header: int, address: int) -> int:
        """The length in dwords of the packet whose first dword is `header`; QueueFault if not a packet."""

    @abstractmethod
    def execute(self, packet: np.ndarray, address: int) -> bool:
        """Execute `packet` (uint32 dwords) fetched from `address`; False if it must wait and be retried."""

    def step(self, write_pointer: int) -> bool:
        """Run the packet at the queue's read pointer if the write pointer covers it; True if it ran."""
        queue = self.queue
        pending = (write_pointer - queue.read_pointer) * queue.unit
        if pending <= 0:
            return False
        position = queue.read_pointer * queue.unit % queue.ring_size
        header = int(self.ring_dwords(position, 1)[0])
        length = self.packet_dwords(header, queue.ring_va + position)
        if length * 4 > pending:
            raise QueueFault(
                f"{queue.kind} packet at {queue.ring_va + position:#x} is {length} dwords long but the doorbell "
                f"announced only {pending // 4} more dwords (header {header:#010x})"
            )
        if not self.execute(self.ring_dwords(position, length), queue.ring_va + position):
            return False
        queue.read_pointer += length * 4 // queue.unit
        self.gpu.write(queue.rptr_va, struct.pack("<Q", queue.read_pointer))
        return True

    def ring_dwords(self, position: int, count: int) -> np.ndarray:
        """`count` dwords of the ring from byte `position`, wrapping at its end."""
        queue = self.queue
        first = min(count * 4, queue.ring_size - position)
        data = self.gpu.read(queue.ring_va + position, first)
        if first < count * 4:
            data += self.gpu.read(queue.ring_va, count * 4 - first)
        return np.frombuffer(data, "<u4")


class SimulatedGPU:
    """A gfx1100 GPU: GPU memory, hardware queues polled by a command-processor thread, and a 100 MHz clock.

    `on_interrupt(ctxid)` is called for packets that raise an interrupt (end-of-pipe signals);
    `on_fault(queue, message, address)` when a queue stops on a fault. `budget` is the instruction
    budget of one wave. The CP thread starts with the first queue and stops at `shutdown`.

    Why a fixed 200,000 per wave: the tensor frontend gives GPUs (capability "simt") one output per work-item
    in workgroups of 64-256 that reduce long rows together, so a wave's work grows with one row's length
    over its workgroup, not with the tensor; the longest wave of the whole tensor op suite runs 3,844
    instructions. 200,000 is 50 times that (rows of millions of elements) and still stops a kernel that
    loops forever within seconds of emulation (about 10-20 us an instruction).
    """

    def __init__(self, doorbells: memoryview, *, budget: int = 200_000) -> None:
        self.memory = GPUMemory()
        self.lock = threading.RLock()
        self.doorbells = doorbells
        self.budget = budget
        self.queues: dict[int, HardwareQueue] = {}
        self.on_interrupt: Callable[[int], None] = lambda ctxid: None
        self.on_fault: Callable[[HardwareQueue, str, int | None], None] = lambda queue, message, address: None
        self._interrupts: list[int] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def clock(self) -> int:
        """The GPU timestamp counter (ticks of GPU_CLOCK_HZ)."""
        return time.monotonic_ns() // (1_000_000_000 // GPU_CLOCK_HZ)

    def interrupt(self, ctxid: int) -> None:
        """Raise an interrupt with context id `ctxid`; delivered to `on_interrupt` once the CP drops its lock."""
        self._interrupts.append(ctxid)

    def read(self, va: int, n: int) -> bytes:
        """`n` bytes of GPU memory at `va` (PageFault if unmapped)."""
        with self.lock:
            return self.memory.read(va, n)

    def write(self, va: int, data: bytes) -> None:
        """Store `data` in GPU memory at `va` (PageFault if unmapped)."""
        with self.lock:
            self.memory.write(va, data)

    def map(self, va: int, backing) -> None:
        """Back GPU addresses [va, va + len(backing)) with host memory."""
        with self.lock:
            self.memory.map(va, backing)

    def unmap(self, va: int) -> None:
        """Remove the GPU mapping at `va`."""
        with self.lock:
            self.memory.unmap(va)

    def add_queue(self, queue: HardwareQueue, processor: PacketProcessor) -> None:
        """Start running `queue` with `processor`; starts the CP thread if needed."""
        queue.processor = processor
        with self.lock:
            self.queues[queue.queue_id] = queue
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="simulated-amd-cp", daemon=True)
            self._thread.start()

    def remove_queue(self, queue_id: int) -> None:
        """Stop running the queue (it is unmapped from the hardware); packets in flight are dropped."""
        with self.lock:
            del self.queues[queue_id]

    def doorbell(self, queue: HardwareQueue) -> int:
        """The 64-bit write pointer last written to the queue's doorbell."""
        return struct.unpack_from("<Q", self.doorbells, queue.doorbell_offset)[0]

    def run_pending(self) -> bool:
        """One round over the queues: each active queue runs packets until it is idle or waits. True if any ran."""
        progress = False
        with self.lock:
            queues = [q for q in self.queues.values() if q.state == "active"]
        for queue in queues:
            progress |= self._run_queue(queue)
        return progress

    def _run_queue(self, queue: HardwareQueue) -> bool:
        progress = False
        try:
            with self.lock:
                if queue.queue_id not in self.queues:
                    return False
                while queue.processor.step(self.doorbell(queue)):
                    progress = True
        except (QueueFault, PageFault) as fault:
            self._fault(queue, str(fault), fault.address)
        except InstructionBudgetExceeded as exc:
            queue.state, queue.fault = "hung", str(exc)
            log.error("simulated GPU: %s queue %d hangs: %s", queue.kind, queue.queue_id, exc)
        except Exception as exc:  # a simulator bug: stop the queue loudly rather than let the CP thread die
            log.exception("simulated GPU: internal error on %s queue %d", queue.kind, queue.queue_id)
            self._fault(queue, f"simulator error: {exc!r}", None)
        while self._interrupts:
            self.on_interrupt(self._interrupts.pop(0))
        return progress

    def _fault(self, queue: HardwareQueue, message: str, address: int | None) -> None:
        queue.state, queue.fault = "faulted", message
        log.error("simulated GPU: %s queue %d stopped: %s", queue.kind, queue.queue_id, message)
        self.on_fault(queue, message, address)

    def _run(self) -> None:
        idle = IDLE_POLL_S
        while not self._stop.is_set():
            if self.run_pending():
                idle = IDLE_POLL_S
            else:
                self._stop.wait(idle)
                idle = min(idle * 2, MAX_IDLE_POLL_S)

    def shutdown(self) -> None:
        """Stop the CP thread and drop every queue (the KFD file was closed)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=120)  # a dispatch in flight ends within its budget
        self.queues.clear()
