"""A fake OS holding only files: KFD's topology as an RX 7900 XTX machine shows it, or anything a test writes.

Values follow a real Radeon RX 7900 XTX (Navi 31, gfx1100: 96 CUs, 24 GiB VRAM) on a 16-core host.
Devices cannot be opened or mapped here: `open` raises what LinuxOSAccess raises for a user outside
the render group.
"""

from __future__ import annotations

from typing import Any

import tinyhw
from tinyhw.hcq.os_access import GPU_GROUPS, DeviceAccessDenied, OSAccess

TOPOLOGY = "/sys/devices/virtual/kfd/kfd/topology"

CPU_PROPERTIES = {
    "cpu_cores_count": 16, "simd_count": 0, "mem_banks_count": 1, "caches_count": 0, "io_links_count": 1,
    "p2p_links_count": 0, "cpu_core_id_base": 0, "simd_id_base": 0, "max_waves_per_simd": 0, "lds_size_in_kb": 0,
    "gds_size_in_kb": 0, "num_gws": 0, "wave_front_size": 0, "array_count": 0, "simd_arrays_per_engine": 0,
    "cu_per_simd_array": 0, "simd_per_cu": 0, "max_slots_scratch_cu": 0, "gfx_target_version": 0, "vendor_id": 0,
    "device_id": 0, "location_id": 0, "domain": 0, "drm_render_minor": 0, "hive_id": 0, "num_sdma_engines": 0,
    "num_sdma_xgmi_engines": 0, "num_sdma_queues_per_engine": 0, "num_cp_queues": 0, "max_engine_clk_ccompute": 5083,
}  # fmt: skip

RX7900XTX_PROPERTIES = {
    "cpu_cores_count": 0, "simd_count": 192, "mem_banks_count": 1, "caches_count": 206, "io_links_count": 1,
    "p2p_links_count": 0, "cpu_core_id_base": 0, "simd_id_base": 2147487744, "max_waves_per_simd": 16,
    "lds_size_in_kb": 64, "gds_size_in_kb": 0, "num_gws": 64, "wave_front_size": 32, "array_count": 12,
    "simd_arrays_per_engine": 2, "cu_per_simd_array": 8, "simd_per_cu": 2, "max_slots_scratch_cu": 32,
    "gfx_target_version": 110000, "vendor_id": 4098, "device_id": 29772, "location_id": 768, "domain": 0,
    "drm_render_minor": 128, "hive_id": 0, "num_sdma_engines": 2, "num_sdma_xgmi_engines": 0,
    "num_sdma_queues_per_engine": 6, "num_cp_queues": 8, "max_engine_clk_fcompute": 2526, "local_mem_size": 0,
    "fw_version": 2200, "capability": 0x28A680, "debug_prop": 0x527, "sdma_fw_version": 21,
    "unique_id": 11093297431049457929, "num_xcc": 1, "max_engine_clk_ccompute": 5083,
}  # fmt: skip

VRAM = 24 << 30
NBIO_BASES = (0x0, 0x14, 0xD20, 0x10400, 0x241B000, 0x4040000)
"""The NBIF block's register segment bases (navi10_ip_offset.h's NBIO_BASE, taken as gfx1100's)."""
HOST_MEMORY = 64 << 30


def properties_text(values: dict[str, int]) -> str:
    return "".join(f"{key} {value}\n" for key, value in values.items())


def bank_text(heap_type: int, size: int, width: int) -> str:
    return f"heap_type {heap_type}\nsize_in_bytes {size}\nflags 0\nwidth {width}\nmem_clk_max 1249\n"


def nbio_discovery_path(render_minor: int) -> str:
    """amdgpu's sysfs IP discovery `base_addr` file of the NBIF (NBIO) block, die 0, instance 0."""
    return f"/sys/class/drm/renderD{render_minor}/device/ip_discovery/die/0/NBIF/0/base_addr"


def rx7900xtx_files(gpus: int = 1, **gpu_properties: int) -> dict[str, str]:
    """The /dev/kfd node, KFD topology and NBIO IP discovery of a host with `gpus` RX 7900 XTX cards (node 0: CPU)."""
    files = {
        "/dev/kfd": "",
        f"{TOPOLOGY}/generation_id": "1\n",
        f"{TOPOLOGY}/nodes/0/gpu_id": "0\n",
        f"{TOPOLOGY}/nodes/0/name": "\n",
        f"{TOPOLOGY}/nodes/0/properties": properties_text(CPU_PROPERTIES),
        f"{TOPOLOGY}/nodes/0/mem_banks/0/properties": bank_text(0, HOST_MEMORY, 64),
    }
    for node in range(1, gpus + 1):
        path = f"{TOPOLOGY}/nodes/{node}"
        props = RX7900XTX_PROPERTIES | {"drm_render_minor": 127 + node, "location_id": 768 + 256 * node}
        files[f"{path}/gpu_id"] = f"{0xB5E0 + node}\n"
        files[f"{path}/name"] = "gfx1100\n"
        files[f"{path}/properties"] = properties_text(props | gpu_properties)
        files[f"{path}/mem_banks/0/properties"] = bank_text(1, VRAM, 384)
        files[nbio_discovery_path(127 + node)] = "".join(f"0x{base:08X}\n" for base in NBIO_BASES)
    return files


class FakeOS(OSAccess):
    """An OS with only the files given (directories are implied by their paths)."""

    def __init__(self, files: dict[str, str]) -> None:
        self.files = files

    def _dirs(self, path: str) -> list[str]:
        prefix = path.rstrip("/") + "/"
        return sorted({p[len(prefix) :].split("/")[0] for p in self.files if p.startswith(prefix)})

    def open(self, path: str, flags: int) -> int:
        raise DeviceAccessDenied(path, GPU_GROUPS)

    def close(self, fd: int) -> None:
        raise OSError(9, "Bad file descriptor")

    def ioctl(self, fd: int, request: int, arg: Any) -> int:
        raise OSError(9, "Bad file descriptor")

    def mmap(self, address: int, length: int, prot: int, flags: int, fd: int, offset: int) -> int:
        raise OSError(19, "No such device")

    def munmap(self, address: int, length: int) -> None:
        raise OSError(22, "Invalid argument")

    def read_text(self, path: str) -> str:
        if path not in self.files:
            raise FileNotFoundError(2, "No such file or directory", path)
        return self.files[path]

    def list_dir(self, path: str) -> list[str]:
        names = self._dirs(path)
        if not names:
            raise FileNotFoundError(2, "No such file or directory", path)
        return names

    def exists(self, path: str) -> bool:
        return path in self.files or bool(self._dirs(path))


class FakeOSPlugin:
    """A test plugin answering `tinyhw_os_access` with a FakeOS."""

    def __init__(self, access: OSAccess) -> None:
        self.access = access

    @tinyhw.hookimpl
    def tinyhw_os_access(self) -> OSAccess:
        return self.access
