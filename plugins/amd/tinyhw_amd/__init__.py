"""tinyhw-amd: AMD Radeon GPUs through the amdgpu kernel driver's KFD interface, with no ROCm."""

from __future__ import annotations

__version__ = "0.1.0"
