"""tinyhw: drive accelerators from Python through allocate, copy, compile, launch, sync.

import numpy as np, tinyhw
dev = tinyhw.Device("cpu")             # or tinyhw.Device() for the default device
buf = dev.allocate(4096)
dev.copy(buf, np.arange(1024, dtype=np.float32))
dev.sync()
"""

from tinyhw.backend import API_VERSION, Backend, Capabilities, DeviceInfo, Layer
from tinyhw.buffer import Buffer, BufferOptions
from tinyhw.device import Device
from tinyhw.errors import (
    CompileError,
    DeviceFault,
    DeviceHang,
    DeviceNotFound,
    OutOfMemory,
    PluginError,
    TinyHWError,
    TransportError,
)
from tinyhw.hookspec import hookimpl
from tinyhw.program import Param, Program
from tinyhw.registry import devices, registry

__version__ = "0.1.0"

__all__ = [
    "API_VERSION",
    "Backend",
    "Buffer",
    "BufferOptions",
    "Capabilities",
    "CompileError",
    "Device",
    "DeviceFault",
    "DeviceHang",
    "DeviceInfo",
    "DeviceNotFound",
    "Layer",
    "OutOfMemory",
    "Param",
    "PluginError",
    "Program",
    "TinyHWError",
    "TransportError",
    "devices",
    "hookimpl",
    "registry",
]
