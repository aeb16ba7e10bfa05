"""The kernels tinyhw generates compile for CPUs other than this one without LLVM aborting the process.

llvmlite's LLVM is built with assertions, and an assertion (or a fatal "cannot select") ends the
process: no exception reaches the user. Which code trips one depends on the CPU's cost model: a
float max reduction (llvm.maxnum) aborted LLVM 22's loop vectoriser on Zen 4 only. So a child
process runs a sample of tensor ops on cpu:0 with every kernel also compiled for other CPU
models of this machine's architecture.
"""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

CPUS = {
    "x86_64": ["znver3", "znver4", "znver5", "haswell", "skylake-avx512", "icelake-server", "sapphirerapids",
               "alderlake", "x86-64-v3"],
    "aarch64": ["apple-m1", "apple-m2", "neoverse-n1", "neoverse-v2", "cortex-a72"],
}  # fmt: skip
CPUS["amd64"], CPUS["arm64"] = CPUS["x86_64"], CPUS["aarch64"]

CHILD = """
import sys
import numpy as np
import tinyhw.cpu.compiler as compiler
import tinyhw_tensor as tt
import tinyhw_tensor.nn.functional as F

compile_for_host = compiler.compile_llvm_ir

def compile_everywhere(source, triple, cpu="", features="", opt_level=2):
    for other in sys.argv[1:]:
        print("compiling for", other, flush=True)  # the last line names the CPU when LLVM aborts
        compile_for_host(source, triple, other, "", opt_level)
    return compile_for_host(source, triple, cpu, features, opt_level)

compiler.compile_llvm_ir = compile_everywhere
rng = np.random.default_rng(0)
x = tt.Tensor(rng.standard_normal((3, 5, 7)).astype(np.float32))
for axis in (None, 1, -1):
    for op in (x.sum, x.max, x.min, x.argmax):
        op(axis).numpy()
for dtype in ("int32", "uint8", "bool", "float16"):
    t = tt.Tensor(rng.integers(0, 5, (4, 33)).astype(dtype))
    t.sum(1).numpy(), t.max(0).numpy(), t.min().numpy()
(tt.Tensor(rng.integers(-9, 9, 40).astype(np.int64)) ** 7).numpy()
a = tt.Tensor(rng.standard_normal((17, 70)).astype(np.float32))
b = tt.Tensor(rng.standard_normal((70, 48)).astype(np.float32))
(a @ b).numpy(), a.softmax(-1).numpy(), F.gelu(a).numpy(), F.layer_norm(a, (70,)).numpy(), a.cumsum(1).numpy()
print("done")
"""


@pytest.mark.slow
def test_generated_kernels_compile_for_other_cpus_of_this_architecture(tmp_path) -> None:
    cpus = CPUS.get(platform.machine().lower())
    if cpus is None:
        pytest.skip(f"no CPU models listed for {platform.machine()}")
    env = {"TINYHW_CACHE": "0", "TINYHW_DEVICE": "cpu", "PYTHONPATH": ":".join(sys.path)}
    result = subprocess.run([sys.executable, "-c", CHILD, *cpus], capture_output=True, text=True, timeout=600,
                            env=env, cwd=tmp_path)  # fmt: skip
    last = result.stdout.strip().splitlines()[-1:] or [""]
    assert result.returncode == 0 and last == ["done"], f"{last[0]}: {result.stderr[-1500:]}"
