"""A hand-written kernel in tinyhw's kernel IR: a row-wise softmax, run on any device, checked against numpy.

    python examples/custom_kernel.py [DEVICE]

The same kernel renders to LLVM IR for the CPU (and, with their plugins, to AMD, NVIDIA and
OpenCL devices): one workgroup per row; three loops with accumulators (max, sum, write).
"""

from __future__ import annotations

import sys

import numpy as np

import tinyhw
from tinyhw.kernel.dtypes import float32, int32
from tinyhw.kernel.ir import Kernel, KernelBuilder, const
from tinyhw.kernel.render import compile_kernel


def softmax_kernel() -> Kernel:
    """out[r, :] = softmax(x[r, :]) for rows of `cols` floats; one workgroup per row."""
    k = KernelBuilder("softmax_rows")
    x, out = k.buffer("x", float32), k.buffer("out", float32)
    cols = k.scalar("cols", int32)
    row = k.group_id(0) * cols
    peak = k.accumulator("peak", const(-np.inf, float32))
    with k.range(cols) as i:
        k.update(peak, peak.max(x[row + i]))
    total = k.accumulator("total", const(0.0, float32))
    with k.range(cols) as i:
        k.update(total, total + (x[row + i] - peak).unary("exp"))
    with k.range(cols) as i:
        k.store(out, row + i, (x[row + i] - peak).unary("exp") / total)
    return k.build()


def main() -> None:
    dev = tinyhw.Device(sys.argv[1] if len(sys.argv) > 1 else None)
    rows, cols = 512, 1000
    x = np.random.default_rng(0).standard_normal((rows, cols), dtype=np.float32)
    bx, bout = dev.allocate(x.nbytes), dev.allocate(x.nbytes)
    dev.copy(bx, x)
    kernel = softmax_kernel()
    program = compile_kernel(dev, kernel)
    dev.launch(program, bx, bout, cols, global_size=rows)
    out = np.empty_like(x)
    dev.copy(out, bout)
    dev.sync()
    expected = np.exp(x - x.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    ok = np.allclose(out, expected, rtol=1e-5, atol=1e-6)
    print(kernel)
    print(f"{dev.name}: softmax over {rows}x{cols}: {'matches numpy' if ok else 'WRONG'}")
    dev.free(bx)
    dev.free(bout)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
