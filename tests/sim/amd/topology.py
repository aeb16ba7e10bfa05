"""The KFD topology of the simulated machine: one CPU node and one gfx1100 (Radeon RX 7900 XTX-like) GPU node.

KFD publishes its topology under /sys/devices/virtual/kfd/kfd/topology (also reachable through the
/sys/class/kfd/kfd symlink): `generation_id`, `system_properties`, and per node `gpu_id`, `name`,
`properties` ("key value" lines, in the order kfd_topology.c prints them) and `mem_banks/N/properties`.
amdgpu's IP discovery of each GPU (GC and NBIF `base_addr` files under /sys/class/drm/renderD<minor>/
device/ip_discovery) is published too. The values are those of a real RX 7900 XTX, except that VRAM
is a modest virtual size so tests can allocate all of it; its backing is made lazily (sparse memfds),
never up front.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["GC_BASE", "GFX1100", "GPUProperties", "NBIO_BASE", "SimulatedTopology", "TOPOLOGY_ROOTS", "discovery_files"]

TOPOLOGY_ROOTS = ("/sys/devices/virtual/kfd/kfd/topology", "/sys/class/kfd/kfd/topology")
HEAP_TYPE_FB_PUBLIC = 1  # kfd_crat.h HSA_MEM_HEAP_TYPE_FB_PUBLIC: VRAM the CPU can map through the BAR
HEAP_TYPE_SYSTEM = 0


@dataclass(frozen=True)
class GPUProperties:
    """The KFD node properties of one simulated GPU (names as in the sysfs `properties` file)."""

    gpu_id: int
    vram_size: int
    name: str = "gfx1100"
    simd_count: int = 192  # 96 CUs x 2 SIMDs
    max_waves_per_simd: int = 16
    lds_size_in_kb: int = 64
    wave_front_size: int = 32
    array_count: int = 12  # 6 shader engines x 2 shader arrays
    simd_arrays_per_engine: int = 2
    cu_per_simd_array: int = 8
    simd_per_cu: int = 2
    max_slots_scratch_cu: int = 32
    gfx_target_version: int = 110000
    vendor_id: int = 0x1002
    device_id: int = 0x744C
    location_id: int = 0x300
    drm_render_minor: int = 128
    num_sdma_engines: int = 2
    num_sdma_queues_per_engine: int = 6
    num_cp_queues: int = 8
    max_engine_clk_fcompute: int = 2482
    mem_clk_max: int = 1249

    def properties(self) -> str:
        """The node's `properties` file."""
        values = {
            "cpu_cores_count": 0, "simd_count": self.simd_count, "mem_banks_count": 1, "caches_count": 0,
            "io_links_count": 0, "p2p_links_count": 0, "cpu_core_id_base": 0, "simd_id_base": 0x80000000,
            "max_waves_per_simd": self.max_waves_per_simd, "lds_size_in_kb": self.lds_size_in_kb,
            "gds_size_in_kb": 0, "num_gws": 64, "wave_front_size": self.wave_front_size,
            "array_count": self.array_count, "simd_arrays_per_engine": self.simd_arrays_per_engine,
            "cu_per_simd_array": self.cu_per_simd_array, "simd_per_cu": self.simd_per_cu,
            "max_slots_scratch_cu": self.max_slots_scratch_cu, "gfx_target_version": self.gfx_target_version,
            "vendor_id": self.vendor_id, "device_id": self.device_id, "location_id": self.location_id,
            "domain": 0, "drm_render_minor": self.drm_render_minor, "hive_id": 0,
            "num_sdma_engines": self.num_sdma_engines, "num_sdma_xgmi_engines": 0,
            "num_sdma_queues_per_engine": self.num_sdma_queues_per_engine, "num_cp_queues": self.num_cp_queues,
            "max_engine_clk_fcompute": self.max_engine_clk_fcompute, "local_mem_size": 0, "fw_version": 2090,
            "capability": 0x28A680, "debug_prop": 0x527, "sdma_fw_version": 20, "unique_id": 0x5A17_0000_0001,
            "num_xcc": 1, "max_engine_clk_ccompute": 3000,
        }  # fmt: skip
        return "".join(f"{key} {value}\n" for key, value in values.items())

    def mem_bank_properties(self) -> str:
        """The `mem_banks/0/properties` file: the VRAM heap."""
        return f"heap_type {HEAP_TYPE_FB_PUBLIC}\nsize_in_bytes {self.vram_size}\nflags 0\nwidth 384\n" \
               f"mem_clk_max {self.mem_clk_max}\n"  # fmt: skip


GFX1100 = GPUProperties(gpu_id=0xB5E1, vram_size=2 << 30)
"""The simulated GPU of a test run: 2 GiB of (virtual, lazily backed) VRAM."""


class SimulatedTopology:
    """The sysfs files and directories of the KFD topology for one CPU node and the GPU nodes given."""

    def __init__(self, gpus: tuple[GPUProperties, ...] = (GFX1100,), host_memory: int = 16 << 30) -> None:
        self.gpus = gpus
        self.files: dict[str, str] = {}
        for root in TOPOLOGY_ROOTS:
            self._add_tree(root, host_memory)
        for gpu in gpus:
            self.files |= discovery_files(gpu.drm_render_minor)
        self.dirs: dict[str, list[str]] = {}
        for path in self.files:
            parts = path.split("/")
            for depth in range(2, len(parts)):
                self.dirs.setdefault("/".join(parts[:depth]), [])
                name = parts[depth]
                entries = self.dirs["/".join(parts[:depth])]
                if name not in entries:
                    entries.append(name)
        for entries in self.dirs.values():
            entries.sort()

    def _add_tree(self, root: str, host_memory: int) -> None:
        self.files[f"{root}/generation_id"] = "1\n"
        self.files[f"{root}/system_properties"] = "platform_oem 0\nplatform_id 0\nplatform_rev 0\n"
        cpu = f"{root}/nodes/0"
        self.files[f"{cpu}/gpu_id"] = "0\n"
        self.files[f"{cpu}/name"] = "\n"
        self.files[f"{cpu}/properties"] = (
            "cpu_cores_count 16\nsimd_count 0\nmem_banks_count 1\ncaches_count 0\nio_links_count 0\n"
            "p2p_links_count 0\ncpu_core_id_base 0\nsimd_id_base 0\nmax_waves_per_simd 0\nlds_size_in_kb 0\n"
            "gds_size_in_kb 0\nnum_gws 0\nwave_front_size 0\narray_count 0\nsimd_arrays_per_engine 0\n"
            "cu_per_simd_array 0\nsimd_per_cu 0\nmax_slots_scratch_cu 0\ngfx_target_version 0\nvendor_id 0\n"
            "device_id 0\nlocation_id 0\ndomain 0\ndrm_render_minor 0\nhive_id 0\nnum_sdma_engines 0\n"
            "num_sdma_xgmi_engines 0\nnum_sdma_queues_per_engine 0\nnum_cp_queues 0\nmax_engine_clk_ccompute 4000\n"
        )
        self.files[f"{cpu}/mem_banks/0/properties"] = (
            f"heap_type {HEAP_TYPE_SYSTEM}\nsize_in_bytes {host_memory}\nflags 0\nwidth 64\nmem_clk_max 4800\n"
        )
        for index, gpu in enumerate(self.gpus, start=1):
            node = f"{root}/nodes/{index}"
            self.files[f"{node}/gpu_id"] = f"{gpu.gpu_id}\n"
            self.files[f"{node}/name"] = f"{gpu.name}\n"
            self.files[f"{node}/properties"] = gpu.properties()
            self.files[f"{node}/mem_banks/0/properties"] = gpu.mem_bank_properties()

    def read_text(self, path: str) -> str:
        """The text of a topology file; FileNotFoundError (or IsADirectoryError) as sysfs would raise."""
        path = _normal(path)
        if path in self.files:
            return self.files[path]
        if path in self.dirs:
            raise IsADirectoryError(21, "Is a directory", path)
        raise FileNotFoundError(2, "No such file or directory", path)

    def list_dir(self, path: str) -> list[str]:
        """The sorted names in a topology directory; FileNotFoundError/NotADirectoryError otherwise."""
        path = _normal(path)
        if path in self.dirs:
            return list(self.dirs[path])
        if path in self.files:
            raise NotADirectoryError(20, "Not a directory", path)
        raise FileNotFoundError(2, "No such file or directory", path)

    def exists(self, path: str) -> bool:
        """Whether a topology file or directory exists."""
        path = _normal(path)
        return path in self.files or path in self.dirs


def _normal(path: str) -> str:
    return "/" + "/".join(part for part in path.split("/") if part and part != ".")


GC_BASE = (0x1260, 0xA000)
"""The GC block's register segment bases (dword addresses) that IP discovery reports for GC 11.0.0."""

NBIO_BASE = (0x0, 0x14, 0xD20, 0x10400, 0x241B000, 0x4040000)
"""The NBIO (NBIF) block's register segment bases : navi10_ip_offset.h's NBIO_BASE, taken as gfx1100's."""


def discovery_files(render_minor: int) -> dict[str, str]:
    """amdgpu's sysfs IP discovery `base_addr` files of the GC and NBIF blocks ("0x%08X" lines, die 0, instance 0)."""
    root = f"/sys/class/drm/renderD{render_minor}/device/ip_discovery/die/0"
    return {f"{root}/{block}/0/base_addr": "".join(f"0x{base:08X}\n" for base in bases)
            for block, bases in (("GC", GC_BASE), ("NBIF", NBIO_BASE))}  # fmt: skip
