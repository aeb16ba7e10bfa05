"""`Module`: the base of neural-network layers, holding parameters and a state dict like PyTorch's.

A module's state is found by walking its attributes in assignment order: every Tensor is a
parameter named by its attribute, every Module (or list/tuple of Modules and Tensors) is a child
whose names are prefixed with the attribute's name and a dot (`"layers.0.weight"`). Attributes
whose names start with `_` are private and skipped. There is no separate kind for buffers: every
Tensor attribute is state. Tensors never change in place, so loading a state dict or moving a
module to a device replaces the attributes with new tensors.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from tinyhw_tensor.tensor import Tensor

__all__ = ["Module", "StateDictError", "IncompatibleKeys"]


class StateDictError(ValueError):
    """A state dict does not fit a module: keys missing or unexpected, or tensor shapes that differ.

    `missing`, `unexpected` and `mismatched` (key -> (checkpoint shape, module shape)) say exactly what.
    """

    def __init__(self, module: str, missing: list[str], unexpected: list[str], mismatched: dict[str, tuple]) -> None:
        self.missing, self.unexpected, self.mismatched = missing, unexpected, mismatched
        lines = [f"error(s) loading the state dict of {module}:"]
        if missing:
            lines.append(f"  missing key(s): {', '.join(missing)}")
        if unexpected:
            lines.append(f"  unexpected key(s): {', '.join(unexpected)}")
        for key, (got, want) in mismatched.items():
            lines.append(f"  shape mismatch for {key}: the state dict has shape {got}, the module has shape {want}")
        super().__init__("\n".join(lines))


class IncompatibleKeys(NamedTuple):
    """What `load_state_dict(..., strict=False)` skipped: keys the module has that the dict lacks, and back."""

    missing_keys: list[str]
    unexpected_keys: list[str]


def _children(name: str, value: Any) -> Iterator[tuple[str, Any]]:
    """(name, value) of the tensors and modules inside one attribute (lists and tuples are numbered)."""
    if isinstance(value, Tensor | Module):
        yield name, value
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            if isinstance(item, Tensor | Module):
                yield f"{name}.{i}", item


class Module:
    """Base class of layers: subclasses set parameters and child modules as attributes in `__init__`
    and define `forward`; calling the module calls `forward`. See the module docstring for naming."""

    training: bool = True
    """True in training mode (`train()`), False in evaluation mode (`eval()`); dropout reads it."""

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The computation; every subclass defines it."""
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """(name, module) of the direct child modules, in assignment order."""
        for attr, value in vars(self).items():
            if not attr.startswith("_"):
                yield from ((n, v) for n, v in _children(attr, value) if isinstance(v, Module))

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        """(dotted name, tensor) of every parameter of this module and its children, depth first."""
        for attr, value in vars(self).items():
            if attr.startswith("_"):
                continue
            for name, item in _children(prefix + attr, value):
                yield from item.named_parameters(name + ".") if isinstance(item, Module) else [(name, item)]

    def parameters(self) -> list[Tensor]:
        """Every parameter tensor, in `named_parameters` order (a plain walk: models check their
        weights on every call, and generators of names cost several times more)."""
        found: list[Tensor] = []
        _collect_parameters(self, found)
        return found

    def state_dict(self) -> dict[str, Tensor]:
        """{dotted name: tensor} of every parameter (the tensors themselves; they never change in place)."""
        return dict(self.named_parameters())

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Replace the parameters by the tensors (or numpy arrays) of `state_dict`, converted to each
        parameter's dtype and device. Shapes must match. With `strict`, the keys must match exactly;
        StateDictError names every missing and unexpected key and every shape mismatch."""
        own = self.state_dict()
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        shapes = {k: _shape(v) for k, v in state_dict.items() if k in own}
        mismatched = {k: (shape, own[k].shape) for k, shape in shapes.items() if shape != own[k].shape}
        if mismatched or (strict and (missing or unexpected)):
            raise StateDictError(type(self).__name__, missing if strict else [], unexpected if strict else [],
                                 mismatched)  # fmt: skip
        for key, value in state_dict.items():
            if key in own:
                self._replace(key, _converted(value, own[key]))
        return IncompatibleKeys(missing, unexpected)

    def _replace(self, name: str, value: Tensor) -> None:
        """Set the parameter at dotted `name` (through child modules and lists) to `value`."""
        *path, last = name.split(".")
        owner: Any = self
        for part in path:
            owner = owner[int(part)] if isinstance(owner, list | tuple) else getattr(owner, part)
        if isinstance(owner, list):
            owner[int(last)] = value
        else:
            setattr(owner, last, value)

    def to(self, device: Any) -> Module:
        """Move every parameter to `device` (a tinyhw.Device or a name); returns self."""
        for name, tensor in list(self.named_parameters()):
            self._replace(name, tensor.to(device))
        return self

    def train(self, mode: bool = True) -> Module:
        """Set training mode on this module and its children; returns self."""
        self.training = mode
        for _, child in self.named_children():
            child.train(mode)
        return self

    def eval(self) -> Module:
        """Set evaluation mode (`train(False)`); returns self."""
        return self.train(False)

    def extra_repr(self) -> str:
        """The arguments shown inside this module's repr (subclasses override it)."""
        return ""

    def __repr__(self) -> str:
        children = [f"  ({name}): {child!r}".replace("\n", "\n  ") for name, child in self.named_children()]
        body = self.extra_repr() if not children else "\n" + "\n".join(children) + "\n"
        return f"{type(self).__name__}({body})"


def _collect_parameters(module: Module, found: list[Tensor]) -> None:
    for attr, value in vars(module).items():
        if attr.startswith("_"):
            continue
        for item in value if isinstance(value, list | tuple) else (value,):
            if isinstance(item, Tensor):
                found.append(item)
            elif isinstance(item, Module):
                _collect_parameters(item, found)


def _shape(value: Any) -> tuple[int, ...]:
    return value.shape if isinstance(value, Tensor) else tuple(np.shape(value))


def _converted(value: Any, like: Tensor) -> Tensor:
    """`value` as a realized tensor of like's dtype on like's device (itself when it already is one)."""
    if isinstance(value, Tensor) and value.dtype == like.dtype and value.device is like.device:
        return value
    return Tensor(value, dtype=like.dtype, device=like.device).realize()
