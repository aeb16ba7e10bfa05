"""The simulated AMD GPU's ISA emulator: emulated lane-instructions per second on kernels the compiler emits.

python bench/amd_sim.py

Each kernel is compiled for gfx1100 from kernel IR and dispatched on the emulator
(tests/sim/amd/isa, test-only simulated hardware); a lane-instruction is one wave instruction
times the 32 lanes of a wave32 (inactive lanes included, as the hardware issues them).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from timing import median_seconds

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the emulator lives in the repository's tests/

from tests.kernel.local_memory_kernel import reverse_and_tree_sum  # noqa: E402
from tests.sim.amd.isa.kernels import prepare  # noqa: E402
from tinyhw.kernel.dtypes import float32, int32  # noqa: E402
from tinyhw.kernel.ir import KernelBuilder, load  # noqa: E402

N, GROUP, REPEATS = 1 << 14, 256, 3


def vector_add():
    k = KernelBuilder("add", local_size=(GROUP, 1, 1))
    a, b, c, n = k.buffer("a", float32), k.buffer("b", float32), k.buffer("c", float32), k.scalar("n", int32)
    i = k.group_id(0) * GROUP + k.local_id(0)
    k.store(c, i, load(a, i, mask=i < n) + load(b, i, mask=i < n), mask=i < n)
    x = np.ones(N, np.float32)
    return prepare(k.build(), x, x, np.zeros_like(x), N, grid=(N // GROUP, 1, 1))


def transcendentals():
    k = KernelBuilder("math", local_size=(GROUP, 1, 1))
    a, out = k.buffer("a", float32), k.buffer("out", float32)
    i = k.group_id(0) * GROUP + k.local_id(0)
    x = a[i]
    k.store(out, i, x.unary("exp").unary("sin") + x.unary("log2") / x.unary("sqrt"))
    return prepare(k.build(), np.linspace(1, 2, N, dtype=np.float32), np.zeros(N, np.float32), grid=(N // GROUP, 1, 1))


def lds_reduction():
    x = np.ones(N, np.float32)
    return prepare(reverse_and_tree_sum(GROUP), x, np.zeros_like(x), np.zeros(N // GROUP, np.float32),
                   grid=(N // GROUP, 1, 1))  # fmt: skip


def dispatch_submit_seconds() -> float:
    """Python time of one `launch` on the simulated amd:0: kernel arguments, PM4 encoding, ring write, doorbell.

    The simulated GPU runs the dispatches on its own thread meanwhile (it shares the GIL with this one).
    """
    import tinyhw
    from tests.sim.plugin import SimulatedMachine
    from tinyhw.registry import registry

    machine = SimulatedMachine()
    registry.register(machine, "bench-simulated-os")
    device = tinyhw.Device("amd:0")
    try:
        kernel = device.compile("define amdgpu_kernel void @empty(ptr addrspace(1) %out) {\n  ret void\n}\n")
        out = device.allocate(4)
        seconds = median_seconds(lambda: device.launch(kernel, out), 100, warmup=5)
        device.sync()
        return seconds
    finally:
        device.close()
        registry.unregister("bench-simulated-os")
        machine.os.shutdown()


def main() -> None:
    print(f"{'kernel':<16}{'wave instr':>12}{'seconds':>10}{'Mlane-instr/s':>15}")
    for make in (vector_add, transcendentals, lds_reduction):
        launch = make()
        instructions = launch.run()
        seconds = median_seconds(launch.run, REPEATS, warmup=1)
        rate = instructions * 32 / seconds / 1e6
        print(f"{make.__name__:<16}{instructions:>12}{seconds:>10.3f}{rate:>15.1f}")
    print(f"encode and submit one dispatch (Python, amd:0 simulated): {dispatch_submit_seconds() * 1e6:.1f} us")


if __name__ == "__main__":
    main()
