"""tinyhw-qcom: Qualcomm Adreno GPUs (not usable yet: only generated register and packet bindings so far)."""

from __future__ import annotations

__version__ = "0.1.0"
