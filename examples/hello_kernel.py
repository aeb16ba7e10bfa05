"""Run a hand-written kernel on the default device: out = a * x + y (saxpy), checked against numpy.

    python examples/hello_kernel.py [DEVICE]

The kernel is LLVM IR for the built-in CPU device's ABI: the kernel's parameters, then three i32
workgroup ids; each workgroup handles 1024 elements.
"""

from __future__ import annotations

import sys
import time

import numpy as np

import tinyhw

SAXPY = """
define void @saxpy(ptr noalias %out, ptr noalias %x, ptr noalias %y, float %a, i32 %n,
                   i32 %group_x, i32 %group_y, i32 %group_z) {
entry:
  %start = mul i32 %group_x, 1024
  %limit = add i32 %start, 1024
  %over = icmp sgt i32 %limit, %n
  %end = select i1 %over, i32 %n, i32 %limit
  %empty = icmp sge i32 %start, %end
  br i1 %empty, label %done, label %loop
loop:
  %i = phi i32 [ %start, %entry ], [ %next, %loop ]
  %px = getelementptr inbounds float, ptr %x, i32 %i
  %py = getelementptr inbounds float, ptr %y, i32 %i
  %po = getelementptr inbounds float, ptr %out, i32 %i
  %vx = load float, ptr %px
  %vy = load float, ptr %py
  %ax = fmul float %a, %vx
  %r = fadd float %ax, %vy
  store float %r, ptr %po
  %next = add i32 %i, 1
  %more = icmp slt i32 %next, %end
  br i1 %more, label %loop, label %done
done:
  ret void
}
"""


def main() -> None:
    dev = tinyhw.Device(sys.argv[1] if len(sys.argv) > 1 else None)
    n = 1 << 22
    x, y = np.random.rand(n).astype(np.float32), np.random.rand(n).astype(np.float32)
    bx, by, bout = dev.allocate(x.nbytes), dev.allocate(y.nbytes), dev.allocate(x.nbytes)
    dev.copy(bx, x)
    dev.copy(by, y)
    saxpy = dev.compile(SAXPY)
    start = time.perf_counter()
    dev.launch(saxpy, bout, bx, by, 2.0, n, global_size=-(-n // 1024))
    dev.sync()
    elapsed = time.perf_counter() - start
    out = np.empty_like(x)
    dev.copy(out, bout)
    dev.sync()
    ok = np.allclose(out, 2.0 * x + y)
    print(f"{dev.name} ({dev.info.name}): {saxpy.signature} over {n} floats in {elapsed * 1e3:.2f} ms: "
          f"{'matches numpy' if ok else 'WRONG'}")  # fmt: skip
    for buffer in (bx, by, bout):
        dev.free(buffer)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
