"""The copy queue: SDMA 6 packets (GFX 11's system DMA engines).

Packets and fields come from the generated sdma_v6_0_0_pkt_open.h tables (`autogen.sdma_v6`):
each field has a dword `_offset`, `_mask` and `_shift`. Copies are COPY_LINEAR packets of at most
`MAX_COPY_BYTES` each; a signal is two 32-bit FENCE writes (low word first, so a reader never
sees a value above the one being written); a wait is POLL_REGMEM, a 32-bit compare.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tinyhw.hcq.queue import HWQueue, Sym
from tinyhw_amd.autogen import sdma_v6 as sdma

if TYPE_CHECKING:
    from tinyhw.hcq.signal import Signal

__all__ = ["MAX_COPY_BYTES", "SDMAQueue"]


def _field(name: str, value: int) -> int:
    """`value` placed in SDMA packet field `name` (e.g. "COPY_LINEAR_HEADER_op")."""
    return (value & getattr(sdma, f"SDMA_PKT_{name}_mask")) << getattr(sdma, f"SDMA_PKT_{name}_shift")


MAX_COPY_BYTES = sdma.SDMA_PKT_COPY_LINEAR_COUNT_count_mask + 1
"""COPY_LINEAR's COUNT field holds the byte count minus one."""

FUNCTION_GREATER_EQUAL = 5
"""POLL_REGMEM FUNC ">=" (reference <= the masked value read)."""
MTYPE_UNCACHED = 3
"""FENCE MTYPE UC: the write bypasses caches, so the host and other engines see it at once."""
POLL_INTERVAL, RETRY_FOREVER = 10, 0xFFF
"""POLL_REGMEM: poll every 10 (x 16 clocks); a retry count of 0xFFF retries until the compare passes."""

_COPY = _field("COPY_LINEAR_HEADER_op", sdma.SDMA_OP_COPY) | _field("COPY_LINEAR_HEADER_sub_op",
                                                                     sdma.SDMA_SUBOP_COPY_LINEAR)  # fmt: skip
_FENCE = _field("FENCE_HEADER_op", sdma.SDMA_OP_FENCE) | _field("FENCE_HEADER_mtype", MTYPE_UNCACHED)
_POLL = (_field("POLL_REGMEM_HEADER_op", sdma.SDMA_OP_POLL_REGMEM) | _field("POLL_REGMEM_HEADER_mem_poll", 1)
         | _field("POLL_REGMEM_HEADER_func", FUNCTION_GREATER_EQUAL))  # fmt: skip
_POLL_DW5 = _field("POLL_REGMEM_DW5_interval", POLL_INTERVAL) | _field("POLL_REGMEM_DW5_retry_count", RETRY_FOREVER)
_TIMESTAMP = (_field("TIMESTAMP_GET_GLOBAL_HEADER_op", sdma.SDMA_OP_TIMESTAMP)
              | _field("TIMESTAMP_GET_GLOBAL_HEADER_sub_op", sdma.SDMA_SUBOP_TIMESTAMP_GET_GLOBAL))  # fmt: skip


class SDMAQueue(HWQueue):
    """Commands for a KFD SDMA queue: linear copies, signals, waits and timestamps.

    Waits compare the low 32 bits of a signal (POLL_REGMEM has no 64-bit compare): correct while
    the awaited value and the signal's current value have the same upper 32 bits, which holds
    for a timeline until 2^32 operations have run on it.
    """

    __slots__ = ()
    submit_copies_commands = True

    def _copy(self, dst: int | Sym, src: int | Sym, size: int) -> None:
        for start in range(0, size, MAX_COPY_BYTES):
            self._emit(_COPY, min(MAX_COPY_BYTES, size - start) - 1, 0)
            self._emit64(src + start)
            self._emit64(dst + start)

    def _signal(self, signal: Signal, value: int | Sym) -> None:
        for half, address in enumerate((signal.va, signal.va + 4)):
            self._emit(_FENCE, address & 0xFFFFFFFF, address >> 32)
            self._emit_bits(value, 32 * half)

    def _emit_bits(self, value: int | Sym, shift: int) -> None:
        """Append bits shift..shift+31 of `value`, recording a patch for a Sym."""
        if isinstance(value, Sym):
            self._patches.append((len(self.words), value, shift))
            value = 0
        self.words.append((value >> shift) & 0xFFFFFFFF)

    def _wait(self, signal: Signal, value: int | Sym) -> None:
        self._emit(_POLL, signal.va & 0xFFFFFFFF, signal.va >> 32)
        self._emit32(value)
        self._emit(0xFFFFFFFF, _POLL_DW5)

    def _timestamp(self, signal: Signal) -> None:
        address = signal.va + 8
        self._emit(_TIMESTAMP, address & 0xFFFFFFFF, address >> 32)

    def _bind(self, device: Any) -> list[int]:
        return list(self.words)  # submissions copy the words into the ring, so a host copy is what gets patched

    def _submit(self, device: Any) -> None:
        device.copy_ring.write(self.words if self._bound is None else self._bound)
