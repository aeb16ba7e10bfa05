"""Generated cdefs, constants and functions equal what gcc computes from the same headers."""

from __future__ import annotations

import pytest
from cprobe import constant_rows, ffi_of, function_rows, generated, layout_rows, mismatches

from autogen.targets import TARGETS
from tinyhw_amd.autogen import kfd


@pytest.mark.parametrize("target", TARGETS, ids=[t.name for t in TARGETS])
def test_module_matches_gcc(target):
    """One probe per target: struct sizes and member offsets, every constant, every function."""
    module = generated(target)
    layouts = layout_rows(module)
    assert bool(layouts) == bool(target.types), f"{target.output}: structs {'missing' if target.types else 'unasked'}"
    rows = layouts + constant_rows(module) + function_rows(module)
    assert mismatches(target, rows) == []


def test_ioctl_numbers_encode_direction_size_type_and_number():
    ffi = ffi_of(kfd)
    size = ffi.sizeof("struct kfd_ioctl_create_queue_args")
    assert kfd.AMDKFD_IOC_CREATE_QUEUE == (3 << 30) | (size << 16) | (ord("K") << 8) | 0x02  # _IOWR('K', 2, ...)
    assert kfd.AMDKFD_IOC_GET_VERSION >> 30 == 2  # _IOR: the kernel writes, user space reads
