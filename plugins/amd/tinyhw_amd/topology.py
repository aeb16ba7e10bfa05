"""The GPUs KFD reports, read from its sysfs topology through the OS-access seam.

KFD lists every HSA agent as a node under /sys/devices/virtual/kfd/kfd/topology/nodes/<n>: CPU
nodes (their `gpu_id` file holds 0; node 0 is usually the CPU) and GPU nodes. Each node's `properties` file holds
"key value" lines (simd_count, gfx_target_version, drm_render_minor, ...), and mem_banks/<m>/
properties describes its memory heaps. tinyhw-amd numbers the GPU nodes amd:0, amd:1, ... in
node order. Malformed files raise PluginError naming the file and the line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from tinyhw.errors import PluginError
from tinyhw.hcq.os_access import OSAccess
from tinyhw_amd.arch import target_name

__all__ = ["GPUNode", "MemoryBank", "KFD_DEVICE", "TOPOLOGY", "gpu_nodes", "no_gpu_reason", "parse_properties"]

KFD_DEVICE = "/dev/kfd"
TOPOLOGY = "/sys/devices/virtual/kfd/kfd/topology"

HEAP_SYSTEM, HEAP_FB_PUBLIC, HEAP_FB_PRIVATE = 0, 1, 2
"""mem_banks heap_type values: system memory the GPU reaches (GTT), and VRAM (host-visible or not)."""

CAPABILITY_DOORBELL_SHIFT, CAPABILITY_DOORBELL_MASK = 12, 0x3
"""HSA_CAP_DOORBELL_TYPE in a node's `capability`: 0 pre-1.0 (32-bit), 1 = 1.0 and 2 = 2.0 (64-bit)."""

_REQUIRED = ("simd_count", "gfx_target_version", "simd_per_cu", "wave_front_size", "lds_size_in_kb")


@dataclass(frozen=True)
class MemoryBank:
    """One memory heap of a node: its HSA heap type, size in bytes, and the raw properties."""

    heap_type: int
    size: int
    properties: Mapping[str, int] = field(repr=False)


@dataclass(frozen=True)
class GPUNode:
    """One GPU as KFD's topology describes it.

    node: the KFD node id (its directory name); gpu_id: what KFD ioctls call it. name: the node's
    `name` file, else its target. target: the gfx target ("gfx1100"). compute_units, simds,
    simd_per_cu, wave_size, lds_size (bytes per workgroup): its compute shape. memory_banks: its
    heaps; vram_size and system_size sum the VRAM and GTT heaps. drm_render_minor: of
    /dev/dri/renderD<minor>. doorbell_type: HSA_CAP_DOORBELL_TYPE (2 for 64-bit SOC15 doorbells).
    properties: every key of the node's `properties` file.
    """

    node: int
    gpu_id: int
    name: str
    target: str
    compute_units: int
    simds: int
    simd_per_cu: int
    wave_size: int
    lds_size: int
    memory_banks: tuple[MemoryBank, ...]
    drm_render_minor: int
    doorbell_type: int
    properties: Mapping[str, int] = field(repr=False)

    @property
    def vram_size(self) -> int:
        """Bytes of VRAM (host-visible and private frame buffer heaps)."""
        return sum(b.size for b in self.memory_banks if b.heap_type in (HEAP_FB_PUBLIC, HEAP_FB_PRIVATE))

    @property
    def system_size(self) -> int:
        """Bytes of system memory the GPU reaches (GTT heaps)."""
        return sum(b.size for b in self.memory_banks if b.heap_type == HEAP_SYSTEM)


def gpu_nodes(access: OSAccess) -> tuple[GPUNode, ...]:
    """The GPU nodes of KFD's topology in node order; () without /dev/kfd (see `no_gpu_reason`)."""
    if not access.exists(KFD_DEVICE) or not access.exists(f"{TOPOLOGY}/nodes"):
        return ()
    nodes = sorted(_node_ids(access), key=int)
    found = (_gpu(access, int(n), f"{TOPOLOGY}/nodes/{n}") for n in nodes)
    return tuple(gpu for gpu in found if gpu is not None)


def no_gpu_reason(access: OSAccess) -> str:
    """Why `gpu_nodes` finds nothing, in words a user can act on."""
    if not access.exists(KFD_DEVICE):
        return f"no AMD GPU found (no {KFD_DEVICE})"
    if not access.exists(f"{TOPOLOGY}/nodes"):
        return f"no AMD GPU found ({KFD_DEVICE} exists but {TOPOLOGY}/nodes does not)"
    return "no AMD GPU found (KFD's topology lists no GPU node)"


def _node_ids(access: OSAccess) -> list[str]:
    names = access.list_dir(f"{TOPOLOGY}/nodes")
    bad = [n for n in names if not n.isdigit()]
    if bad:
        raise PluginError(f"malformed KFD topology: {TOPOLOGY}/nodes holds {bad}, expected node numbers")
    return names


def _gpu(access: OSAccess, node: int, path: str) -> GPUNode | None:
    """The GPU of topology node `node`, or None for a CPU node."""
    gpu_id = _integer(access, f"{path}/gpu_id")
    if gpu_id == 0:
        return None
    props = parse_properties(access, f"{path}/properties")
    missing = [key for key in _REQUIRED if key not in props]
    if missing:
        raise PluginError(f"malformed KFD topology: {path}/properties lacks {', '.join(missing)}")
    try:
        target = target_name(props["gfx_target_version"])
    except ValueError as exc:
        raise PluginError(f"malformed KFD topology: {path}/properties: {exc}") from None
    name = access.read_text(f"{path}/name").strip() if access.exists(f"{path}/name") else ""
    return GPUNode(
        node=node,
        gpu_id=gpu_id,
        name=name or target,
        target=target,
        compute_units=props["simd_count"] // max(props["simd_per_cu"], 1),
        simds=props["simd_count"],
        simd_per_cu=props["simd_per_cu"],
        wave_size=props["wave_front_size"],
        lds_size=props["lds_size_in_kb"] << 10,
        memory_banks=_memory_banks(access, path),
        drm_render_minor=props.get("drm_render_minor", -1),
        doorbell_type=props.get("capability", 0) >> CAPABILITY_DOORBELL_SHIFT & CAPABILITY_DOORBELL_MASK,
        properties=props,
    )


def _memory_banks(access: OSAccess, path: str) -> tuple[MemoryBank, ...]:
    if not access.exists(f"{path}/mem_banks"):
        return ()
    banks = []
    for bank in sorted(access.list_dir(f"{path}/mem_banks"), key=lambda n: (len(n), n)):
        props = parse_properties(access, f"{path}/mem_banks/{bank}/properties")
        if "heap_type" not in props or "size_in_bytes" not in props:
            raise PluginError(f"malformed KFD topology: {path}/mem_banks/{bank}/properties lacks heap_type or "
                              "size_in_bytes")  # fmt: skip
        banks.append(MemoryBank(props["heap_type"], props["size_in_bytes"], props))
    return tuple(banks)


def _integer(access: OSAccess, path: str) -> int:
    """A sysfs file holding one integer (a node's gpu_id)."""
    text = _read(access, path)
    try:
        return int(text.strip())
    except ValueError:
        raise PluginError(f"malformed KFD topology file {path}: {text.strip()!r} is not an integer") from None


def _read(access: OSAccess, path: str) -> str:
    try:
        return access.read_text(path)
    except OSError as exc:
        raise PluginError(f"cannot read KFD topology file {path}: {exc}") from None


def parse_properties(access: OSAccess, path: str) -> dict[str, int]:
    """A KFD `properties` file as {key: integer}; PluginError naming the file and line when malformed."""
    text = _read(access, path)
    props = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        key, _, value = line.strip().partition(" ")
        try:
            props[key] = int(value.strip())
        except ValueError:
            raise PluginError(f"malformed KFD topology file {path}, line {number}: {line.strip()!r} "
                              "is not 'key integer'") from None  # fmt: skip
    return props
