"""The conformance suite's kernels (tinyhw/testing/kernels.py) in WGSL, under this backend's convention (kernel.py)."""

from __future__ import annotations

__all__ = ["KERNELS"]

_GID = "@builtin(workgroup_id) g: vec3<u32>"

KERNELS = {
    "empty": f"@compute @workgroup_size(1) fn empty({_GID}) {{}}\n",
    "fill_u32": f"""
struct Args {{ tinyhw_group_base: vec3<u32>, out: u32, value: u32 }}
@group(0) @binding(0) var<storage, read_write> out: array<u32>;
@group(0) @binding(1) var<uniform> args: Args;
@compute @workgroup_size(1) fn fill_u32({_GID}) {{ out[args.out + args.tinyhw_group_base.x + g.x] = args.value; }}
""",
    "add_f32": f"""
struct Args {{ a: u32, b: u32, out: u32 }}
@group(0) @binding(0) var<storage, read_write> a: array<f32>;
@group(0) @binding(1) var<storage, read_write> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> args: Args;
@compute @workgroup_size(1) fn add_f32({_GID}) {{ out[args.out + g.x] = a[args.a + g.x] + b[args.b + g.x]; }}
""",
    "increment_u32": f"""
struct Args {{ x: u32 }}
@group(0) @binding(0) var<storage, read_write> x: array<u32>;
@group(0) @binding(1) var<uniform> args: Args;
@compute @workgroup_size(1) fn increment_u32({_GID}) {{ x[args.x + g.x] += 1u; }}
""",
    "scale_f32": f"""
struct Args {{ x: u32, s: f32 }}
@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<uniform> args: Args;
@compute @workgroup_size(1) fn scale_f32({_GID}) {{ x[args.x + g.x] *= args.s; }}
""",
    "grid_u32": f"""
struct Args {{ out: u32, nx: u32, ny: u32 }}
@group(0) @binding(0) var<storage, read_write> out: array<u32>;
@group(0) @binding(1) var<uniform> args: Args;
@compute @workgroup_size(1) fn grid_u32({_GID}) {{
  let i = (g.z * args.ny + g.y) * args.nx + g.x;
  out[args.out + i] = i;
}}
""",
    "scalars_i64": f"""
struct Args {{ out: u32, a: i64, b: f64 }}
@group(0) @binding(0) var<storage, read_write> out: array<i64>;
@group(0) @binding(1) var<uniform> args: Args;
@compute @workgroup_size(1) fn scalars_i64({_GID}) {{
  if (g.x == 0u) {{
    out[args.out] = args.a;
    out[args.out + 1u] = i64(args.b);
  }}
}}
""",
}
"""Kernel name -> WGSL source holding that one kernel."""
