"""A kernel of local memory and barriers that several test files run (the CPU's LLVM renderer, the RDNA3 emulator)."""

from __future__ import annotations

from tinyhw.kernel.dtypes import float32
from tinyhw.kernel.ir import Kernel, KernelBuilder

ITEMS = 64


def reverse_and_tree_sum(items: int = ITEMS) -> Kernel:
    """Parameters (a, rev, sums): each workgroup of `items` work-items (a power of two) writes its `items` values
    of `a` reversed into `rev` through local memory, then sums them pairwise (a barrier per round) into sums[group]."""
    k = KernelBuilder("local", local_size=(items, 1, 1))
    a, rev, sums = k.buffer("a", float32), k.buffer("rev", float32), k.buffer("sums", float32)
    tmp = k.local("tmp", float32, items)
    lid, g = k.local_id(0), k.group_id(0)
    k.store(tmp, lid, a[g * items + lid])
    k.barrier()
    k.store(rev, g * items + lid, tmp[items - 1 - lid])
    k.barrier()
    step = items // 2
    while step:
        with k.if_(lid < step):
            k.store(tmp, lid, tmp[lid] + tmp[lid + step])
        k.barrier()
        step //= 2
    with k.if_(lid.eq(0)):
        k.store(sums, g, tmp[0])
    return k.build()
