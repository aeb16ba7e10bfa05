"""HCQ: the framework for devices driven through hardware command queues.

A backend subclasses HWQueue (packet encoding), HCQAllocator (memory), HCQProgram (binaries and
kernel arguments) and HCQDevice (ties them together); the device operations of the contract,
staging copies, timeline ordering, hang detection and graph replay come from here.
"""

from tinyhw.hcq.allocator import Allocation, HCQAllocator
from tinyhw.hcq.device import HCQDevice, HostRing
from tinyhw.hcq.graph import Graph, Var
from tinyhw.hcq.program import HCQProgram
from tinyhw.hcq.queue import HWQueue, Sym
from tinyhw.hcq.signal import Signal, wait_timeout_ms

__all__ = ["Allocation", "Graph", "HCQAllocator", "HCQDevice", "HCQProgram", "HWQueue", "HostRing", "Signal", "Sym",
           "Var", "wait_timeout_ms"]  # fmt: skip
