"""The error hierarchy of tinyhw, rooted at TinyHWError.

Two kinds of failure exist, and every backend reports them the same way:

- *validation errors* (bad sizes, offsets, argument kinds, kernel source) are raised by the call
  that enqueues the work, before anything reaches the device — usually as ValueError/TypeError or
  CompileError;
- *execution errors* (faults, hangs) happen on the device later. They are recorded on the device
  (or signal) and raised at the next `sync`/`wait`, and again by every later operation on a device
  that can no longer run work.
"""

from __future__ import annotations

__all__ = [
    "TinyHWError",
    "DeviceNotFound",
    "PluginError",
    "CompileError",
    "OutOfMemory",
    "DeviceHang",
    "DeviceFault",
    "TransportError",
]


class TinyHWError(Exception):
    """Base class of every error tinyhw raises on its own behalf."""


class DeviceNotFound(TinyHWError, LookupError):
    """No device answers to the requested name; the message lists the devices that exist."""


class PluginError(TinyHWError):
    """A plugin failed to import, register, or open a device; carries the plugin's own error."""


class CompileError(TinyHWError):
    """Kernel source was rejected by a compiler or loader; the message is the compiler's own."""


class OutOfMemory(TinyHWError, MemoryError):
    """An allocation failed even after freeing cached buffers; says what was asked and what is free."""


class DeviceHang(TinyHWError, TimeoutError):
    """A signal stopped making progress; names the device, queue, expected and last-seen values."""


class DeviceFault(TinyHWError):
    """The device reported an execution fault (page fault, bad packet, lost device)."""


class TransportError(TinyHWError, OSError):
    """A bus transport (PCI sysfs, VFIO, USB bridge) failed to deliver a message."""
