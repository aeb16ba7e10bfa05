"""IP discovery: the register base addresses of a GPU's IP blocks, as amdgpu publishes them in sysfs.

amdgpu reads the IP discovery table from the GPU and lists it under
/sys/class/drm/renderD<minor>/device/ip_discovery/die/<die>/<block>/<instance>/, where <block> is a
hardware id number with a symlink named after the block ("GC", "NBIF", ...). Each instance's
`base_addr` file holds one hex dword address per line: the block's register segments, indexed by a
register's BASE_IDX in the generated tables. Read through the OS-access seam; a missing or
malformed file raises PluginError naming it.
"""

from __future__ import annotations

from tinyhw.errors import PluginError
from tinyhw.hcq.os_access import OSAccess

__all__ = ["NBIO_BLOCK", "block_bases", "discovery_path"]

NBIO_BLOCK = "NBIF"
"""The discovery name of the NBIO block (amdgpu maps its NBIO IP to hardware id NBIF)."""


def discovery_path(render_minor: int, block: str, die: int = 0, instance: int = 0) -> str:
    """The sysfs `base_addr` file of instance `instance` of IP block `block` on die `die`."""
    return f"/sys/class/drm/renderD{render_minor}/device/ip_discovery/die/{die}/{block}/{instance}/base_addr"


def block_bases(access: OSAccess, render_minor: int, block: str) -> tuple[int, ...]:
    """The register segment bases (dword addresses) of IP block `block`, instance 0 on die 0."""
    path = discovery_path(render_minor, block)
    try:
        text = access.read_text(path)
    except OSError as exc:
        raise PluginError(f"cannot read amdgpu's IP discovery file {path} ({exc}): tinyhw-amd needs a kernel "
                          "whose amdgpu driver publishes ip_discovery in sysfs") from None  # fmt: skip
    try:
        bases = tuple(int(line, 16) for line in text.split())
    except ValueError:
        raise PluginError(f"malformed IP discovery file {path}: {text.strip()!r} is not hex addresses") from None
    if not bases:
        raise PluginError(f"malformed IP discovery file {path}: it lists no base address")
    return bases
