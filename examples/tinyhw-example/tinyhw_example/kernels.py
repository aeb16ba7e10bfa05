"""The conformance suite's kernels in this backend's language (renderer "python").

The suite (`pytest --pyargs tinyhw.testing --tinyhw-device=example`) asks every plugin's
`tinyhw_conformance_kernels` hook for these sources by name; see compiler.py for the language.
"""

from __future__ import annotations

__all__ = ["KERNELS"]

KERNELS = {
    "empty": """
def empty(gx, gy, gz):
    pass
""",
    "fill_u32": """
def fill_u32(gx, gy, gz, out: "buffer", value: "uint32"):
    view(out, np.uint32)[gx] = value
""",
    "add_f32": """
def add_f32(gx, gy, gz, a: "buffer", b: "buffer", out: "buffer"):
    view(out, np.float32)[gx] = view(a, np.float32)[gx] + view(b, np.float32)[gx]
""",
    "increment_u32": """
def increment_u32(gx, gy, gz, x: "buffer"):
    view(x, np.uint32)[gx : gx + 1] += 1  # an array op: wraps at 2**32 without a warning
""",
    "scale_f32": """
def scale_f32(gx, gy, gz, x: "buffer", s: "float32"):
    view(x, np.float32)[gx] *= s
""",
    "grid_u32": """
def grid_u32(gx, gy, gz, out: "buffer", nx: "uint32", ny: "uint32"):
    i = (gz * int(ny) + gy) * int(nx) + gx
    view(out, np.uint32)[i] = i
""",
    "scalars_i64": """
def scalars_i64(gx, gy, gz, out: "buffer", a: "int64", b: "float64"):
    if gx == 0:
        view(out, np.int64)[0:2] = (a, int(b))
""",
}
"""Kernel name -> Python source defining that one kernel."""
