"""The contract's text: every hookspec documents the same parts, in order."""

from __future__ import annotations

import inspect

import pytest

from tinyhw.hookspec import DeviceOperations, Registration

PARTS = ("Returns:", "Sync:", "Errors:", "Implementers:")
HOOKS = [
    (cls, name) for cls in (Registration, DeviceOperations) for name, _ in inspect.getmembers(cls, inspect.isfunction)
]


def test_the_contract_has_every_device_operation():
    names = {name for cls, name in HOOKS if cls is DeviceOperations}
    assert {"allocate", "free", "copy", "compile", "load", "launch", "sync", "close"} <= names


@pytest.mark.parametrize(("cls", "name"), HOOKS, ids=[name for _, name in HOOKS])
def test_hookspec_docstring_has_every_part_in_order(cls, name):
    doc = inspect.getdoc(getattr(cls, name))
    positions = [doc.find(part) for part in PARTS]
    assert all(p > 0 for p in positions), f"{name} lacks one of {PARTS}"
    assert positions == sorted(positions), f"{name} documents {PARTS} out of order"


@pytest.mark.parametrize(("cls", "name"), HOOKS, ids=[name for _, name in HOOKS])
def test_hookspec_is_only_a_docstring(cls, name):
    source = inspect.getsource(getattr(cls, name))
    body = source.split('"""')[-1].strip()
    assert body == "", f"{name} has code besides its docstring"
