"""AMDGPU LLVM IR kernels that fault or never end, shared by the plugin's and the simulator's fault tests."""

from __future__ import annotations

STORE_TO = """
define amdgpu_kernel void @store_to(i64 %address) {
  %p = inttoptr i64 %address to ptr addrspace(1)
  store i32 1, ptr addrspace(1) %p
  ret void
}
"""
"""Stores 1 at the address given as its argument (a page fault when nothing is mapped there)."""

SPIN = """
define amdgpu_kernel void @spin(ptr addrspace(1) %flag) {
entry:
  br label %loop
loop:
  %v = load volatile i32, ptr addrspace(1) %flag
  %stop = icmp eq i32 %v, 12345
  br i1 %stop, label %done, label %loop
done:
  ret void
}
"""
"""Loops until its flag holds 12345 (never, in the tests): a hang."""
