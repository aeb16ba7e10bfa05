"""The generator end to end on a small header of its own: filtering, packing, ioctls, functions, stubs."""

from __future__ import annotations

import importlib.util
import shutil

import pytest
from cprobe import constant_rows, function_rows, layout_rows, mismatches

from autogen.generate import generate
from autogen.sources import PACKAGES, Package
from autogen.spec import Target

HEADER = """
#include <linux/ioctl.h>
#include <vendor/types.h>
#define DEMO_BASE 'D'
#define DEMO_MAX_RINGS (2 * 4)
#define DEMO_FLAG_HIGH (1 << 31)
#define DEMO_NAME "not a number"
struct demo_ring { u32 size; u64 base; u8 prio[DEMO_MAX_RINGS]; };
struct demo_args { struct demo_ring rings[2]; u32 count; };
struct unrelated { int x; };
enum demo_kind { DEMO_KIND_A, DEMO_KIND_B = 1 << 4, DEMO_KIND_C };
#pragma pack(push, 1)
struct demo_packed { u8 tag; u32 value; };
#pragma pack(pop)
#define DEMO_IOC_SUBMIT _IOWR(DEMO_BASE, 1, struct demo_args)
#define DEMO_IOC_PACKED _IOW(DEMO_BASE, 2, struct demo_packed)
#define DEMO_FIELD(x) (((x) & 0xff) << 8)
#define DEMO_HEADER(op, n) ((3 << 30) | DEMO_FIELD(op) | ((n) & 0xff))
#define DEMO_HALF(x) ((x) / 2)
static inline u32 demo_shift(u32 v) { return (v & 0xf) << 4; }
"""


class FixturePackage(Package):
    """A 'package' rooted in a temporary directory, with a fixed version."""

    def version(self) -> str:
        return "1.0-test"


@pytest.fixture
def target(tmp_path, monkeypatch):
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    (tmp_path / "demo.h").write_text(HEADER)
    monkeypatch.setitem(PACKAGES, "demo-dev", FixturePackage("demo-dev", str(tmp_path)))
    return Target(
        name="demo",
        title="Demo bindings.",
        package="demo-dev",
        headers=("demo.h",),
        output="demo.py",
        constants=("DEMO_*", "demo_*"),
        types=("demo_args",),
        exclude=("DEMO_IOC_PACKED",),  # its sizeof would bring the packed struct in: see test_mixed_packing
        stubs={"vendor/types.h": "typedef unsigned char u8; typedef unsigned int u32; typedef unsigned long long u64;"},
    )


def load(text: str, tmp_path):
    path = tmp_path / "demo_generated.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("demo_generated", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_module_holds_what_the_spec_asks_for(target, tmp_path):
    text = generate(target)
    assert text.startswith('"""Demo bindings.\n\nSource: demo-dev 1.0-test\n')
    assert "python -m autogen demo" in text
    demo = load(text, tmp_path)
    assert "struct demo_args" in demo.CDEF and "struct demo_ring" in demo.CDEF  # asked for, and what it uses
    assert "struct unrelated" not in demo.CDEF
    assert (demo.DEMO_MAX_RINGS, demo.DEMO_KIND_B, demo.DEMO_KIND_C) == (8, 16, 17)
    assert demo.DEMO_FLAG_HIGH == 0x80000000
    assert not hasattr(demo, "DEMO_NAME") and not hasattr(demo, "DEMO_HALF")
    assert demo.DEMO_HEADER(0x12, 5) == 0xC0001205
    assert demo.demo_shift(0x1F) == 0xF0


def test_mixed_packing_is_refused(target):
    mixed = Target(**{**target.__dict__, "types": ("demo_args", "demo_packed")})
    with pytest.raises(ValueError, match="different #pragma pack"):
        generate(mixed)


def test_packed_structs_and_ioctls_match_gcc(target, tmp_path):
    packed = Target(**{**target.__dict__, "types": ("demo_packed",), "constants": ("DEMO_IOC_PACKED",), "exclude": ()})
    demo = load(generate(packed), tmp_path)
    assert demo.PACK == 1
    assert mismatches(packed, layout_rows(demo) + constant_rows(demo)) == []


def test_everything_generated_matches_gcc(target, tmp_path):
    demo = load(generate(target), tmp_path)
    assert demo.DEMO_IOC_SUBMIT >> 30 == 3  # _IOWR: read and write
    assert mismatches(target, layout_rows(demo) + constant_rows(demo) + function_rows(demo)) == []


def test_generation_is_deterministic(target):
    assert generate(target) == generate(target)
