"""The WebGPU device: one wgpu adapter's GPUDevice, driven through tinyhw's DeviceOperations hooks directly.

WebGPU is not command-queue shaped in tinyhw's sense (no user-visible rings or signals), so this
device implements the hookspecs itself. Ordering comes from the one GPUQueue. Launches and
device-side copies are recorded into one command encoder, which is submitted (`flush`) at sync,
before a host->device copy (`queue.write_buffer` is ordered between submissions, so recorded work
must go first), and every `MAX_PENDING` launches. Each launch's `Args` goes into the next slot of
one uniform arena buffer, bound with a dynamic offset and written once per submission. Device->host
copies go to a MAP_READ staging buffer that `sync` maps (`waiting.py`). Buffers are bound whole and
a view's offset travels in `Args` (see kernel.py), because WebGPU binding offsets must be 32-byte
aligned. Copies whose offsets or size are not multiples of 4 bytes (WebGPU's copy granularity)
go through a small byte-merging kernel.

Failures: wgpu errors at submission are recorded and raised by the next sync as DeviceFault; a
lost GPUDevice (wgpu reports "device is lost") is a DeviceFault from then on for every operation,
and the next open of the same adapter creates a new GPUDevice. A sync that does not finish within
`TINYHW_WAIT_TIMEOUT_MS` is a DeviceHang; a later sync waits for the same work again.
"""

from __future__ import annotations

import struct
from typing import Any

import wgpu

from tinyhw import Buffer, BufferOptions, CompileError, DeviceFault, DeviceInfo, OutOfMemory, hookimpl
from tinyhw_webgpu import __version__
from tinyhw_webgpu.kernel import FEATURES, pack, parse, unpack
from tinyhw_webgpu.program import WebGPUProgram
from tinyhw_webgpu.waiting import Waits

__all__ = ["WebGPUDevice", "OPTIONAL_FEATURES", "MAX_PENDING"]

OPTIONAL_FEATURES = ("shader-f16", "shader-int64", "shader-f64")
"""Adapter features requested when present: they enable f16, i64/u64 and f64 in WGSL."""
MAX_PENDING = 256
"""Launches recorded before the command encoder is submitted without waiting for a sync."""
_ARENA_BYTES = 1 << 18
"""Bytes of `Args` slots per submission (a launch's slot is aligned to minUniformBufferOffsetAlignment)."""
_STORAGE = wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_SRC | wgpu.BufferUsage.COPY_DST
_STAGING = wgpu.BufferUsage.MAP_READ | wgpu.BufferUsage.COPY_DST
_BYTE_COPY = """
struct Args { dst: u32, src: u32, dst_at: u32, src_at: u32, n: u32 }
@group(0) @binding(0) var<storage, read_write> dst: array<u32>;
@group(0) @binding(1) var<storage, read_write> src: array<u32>;
@group(0) @binding(2) var<uniform> args: Args;
fn src_byte(i: u32) -> u32 { return (src[i >> 2u] >> ((i & 3u) * 8u)) & 0xffu; }
@compute @workgroup_size(64) fn copy_bytes(@builtin(global_invocation_id) id: vec3<u32>) {
  let w = (args.dst_at >> 2u) + id.x;
  var word = dst[w];
  for (var b = 0u; b < 4u; b++) {
    let at = w * 4u + b;
    if (at >= args.dst_at && at < args.dst_at + args.n) {
      word = (word & ~(0xffu << (b * 8u))) | (src_byte(args.src_at + at - args.dst_at) << (b * 8u));
    }
  }
  dst[w] = word;
}
"""
"""Merges n bytes from src[src_at..] into dst[dst_at..]: one work-item per destination word, so no races."""
_BYTE_COPY_WORDS = 64 * 65535
"""Destination words one byte-copy dispatch covers (workgroups per dimension x workgroup size)."""

_GPU_DEVICES: dict[int, Any] = {}


def _gpu_device(adapter: Any) -> Any:
    """The adapter's GPUDevice, created once per process (lavapipe keeps ~28 MiB per created device)."""
    device = _GPU_DEVICES.get(id(adapter))
    if device is None:
        features = [f for f in OPTIONAL_FEATURES if f in adapter.features]
        names = ("max-buffer-size", "max-storage-buffer-binding-size", "max-storage-buffers-per-shader-stage")
        limits = {name: adapter.limits[name] for name in names}
        device = _GPU_DEVICES[id(adapter)] = adapter.request_device_sync(required_features=features,
                                                                          required_limits=limits)  # fmt: skip
    return device


def _limit(limits: Any, name: str) -> int:
    return int(limits[name])


def _chunks(count: int, limit: int) -> range:
    return range(0, count, limit)


class WebGPUDevice:
    """One WebGPU device over a wgpu adapter; `tinyhw.Device("webgpu:N")` opens it through the backend."""

    def __init__(self, name: str, adapter: Any) -> None:
        self.name, self.adapter = name, adapter
        self.gpu = _gpu_device(adapter)
        self.features = frozenset(self.gpu.features)
        self.max_buffer = min(_limit(self.gpu.limits, "max-buffer-size"),
                              _limit(self.gpu.limits, "max-storage-buffer-binding-size"))  # fmt: skip
        self.max_groups = _limit(self.gpu.limits, "max-compute-workgroups-per-dimension")
        self.align = _limit(self.gpu.limits, "min-uniform-buffer-offset-alignment")
        self.programs: list[WebGPUProgram] = []
        self.fault: DeviceFault | None = None
        self.lost: DeviceFault | None = None
        self.waits = Waits(name)
        self.info = self._info()
        self.arena = self.gpu.create_buffer(
            size=_ARENA_BYTES, usage=wgpu.BufferUsage.UNIFORM | wgpu.BufferUsage.COPY_DST
        )
        self.args, self.args_used = bytearray(_ARENA_BYTES), 0
        self.encoder: Any = None
        self.compute: Any = None
        self.bound: tuple = (None, None, None)
        """(pipeline, bind group, dynamic offsets) last set in the open compute pass."""
        self.pending = 0
        self._fence_src = self.gpu.create_buffer(size=4, usage=_STORAGE)
        self._byte_copy = self.load(self.compile(_BYTE_COPY, "copy_bytes"))

    def _info(self) -> DeviceInfo:
        info = self.adapter.info
        limits = {k: v for k, v in self.gpu.limits.items() if "texture" not in k and "vertex" not in k}
        details = {"backend": info["backend_type"], "adapter type": info["adapter_type"],
                   "description": info["description"], "features": ", ".join(sorted(self.features)),
                   "limits": ", ".join(f"{k}={v}" for k, v in sorted(limits.items()))}  # fmt: skip
        return DeviceInfo(
            name=info["device"],
            memory=self.max_buffer,
            compute_units=1,
            target=f"wgsl-{info['backend_type'].lower()}-{info['device']}",
            compiler=f"wgpu-native {wgpu.__version__}; tinyhw-webgpu {__version__}",
            details=details,
        )

    # -- memory --

    @hookimpl
    def allocate(self, size: int, options: BufferOptions) -> Buffer:
        self._check_lost()
        if size > self.max_buffer:
            raise OutOfMemory(
                f"{self.name}: cannot allocate {size} bytes: the adapter's buffer limit is "
                f"{self.max_buffer} bytes (min of maxBufferSize, maxStorageBufferBindingSize)"
            )
        try:
            handle = self.gpu.create_buffer(size=-(-size // 4) * 4, usage=_STORAGE)  # packed dtypes read whole words
        except wgpu.GPUError as exc:
            self._raise_if_lost(exc)
            raise OutOfMemory(f"{self.name}: cannot allocate {size} bytes: {exc}") from None
        return Buffer(self, size, options, handle)

    @hookimpl
    def free(self, buffer: Buffer) -> None:
        handle, buffer.handle = buffer.handle, None
        for program in self.programs:
            for key in [key for key in program.bind_groups if handle in key]:
                del program.bind_groups[key]
        # wgpu-native keeps the memory until recorded and submitted work using it has finished

    @hookimpl
    def copy(self, dst: Buffer | memoryview, src: Buffer | memoryview, size: int) -> None:
        self._check()
        try:
            if isinstance(dst, Buffer) and isinstance(src, Buffer):
                self._device_to_device(dst, src, size)
            elif isinstance(dst, Buffer):
                self._host_to_device(dst, src, size)
            else:
                self._device_to_host(dst, src, size)
        except wgpu.GPUError as exc:
            self._raise_if_lost(exc)
            raise DeviceFault(f"{self.name}: copy failed: {exc}") from None

    def _host_to_device(self, dst: Buffer, src: memoryview, size: int) -> None:
        if dst.offset % 4 == 0 and size % 4 == 0:
            self.flush()  # recorded work that reads dst runs before the write
            self.gpu.queue.write_buffer(dst.root.handle, dst.offset, src)
            return
        staging = self.gpu.create_buffer(size=-(-size // 4) * 4, usage=_STORAGE)
        self.gpu.queue.write_buffer(staging, 0, bytes(src) + bytes(-size % 4))
        self._merge_bytes(dst.root.handle, dst.offset, staging, 0, size)

    def _device_to_device(self, dst: Buffer, src: Buffer, size: int) -> None:
        aligned = dst.offset % 4 == 0 and src.offset % 4 == 0 and size % 4 == 0
        if aligned and dst.root is not src.root:
            self._encoder().copy_buffer_to_buffer(src.root.handle, src.offset, dst.root.handle, dst.offset, size)
            return
        first = src.offset & ~3
        staging = self.gpu.create_buffer(size=-(-(src.offset + size - first) // 4) * 4, usage=_STORAGE)
        self._encoder().copy_buffer_to_buffer(src.root.handle, first, staging, 0, staging.size)
        self._merge_bytes(dst.root.handle, dst.offset, staging, src.offset - first, size)

    def _device_to_host(self, dst: memoryview, src: Buffer, size: int) -> None:
        first = src.offset & ~3
        staging = self.gpu.create_buffer(size=-(-(src.offset + size - first) // 4) * 4, usage=_STAGING)
        self._encoder().copy_buffer_to_buffer(src.root.handle, first, staging, 0, staging.size)
        self.waits.readbacks.append((staging, dst, src.offset - first, size))

    def _merge_bytes(self, dst: Any, dst_at: int, src: Any, src_at: int, size: int) -> None:
        """Record the byte-copy kernel for an unaligned copy, in chunks of one dispatch each."""
        done = 0
        while done < size:
            words = min(_BYTE_COPY_WORDS, ((dst_at + done) % 4 + size - done + 3) // 4)
            n = min(size - done, words * 4 - (dst_at + done) % 4)
            args = struct.pack(self._byte_copy.fmt, 0, 0, dst_at + done, src_at + done, n)
            self._dispatch(self._byte_copy, (dst, src), args, (-(-words // 64), 1, 1), cache=False)
            done += n

    # -- kernels --

    @hookimpl
    def compile(self, source: str | bytes, entry: str | None) -> bytes:
        self._check_lost()
        text = source.decode() if isinstance(source, bytes) else source
        info = parse(text, entry)
        missing = sorted(f"{t} (needs {FEATURES[t]})" for t in info.types if FEATURES[t] not in self.features)
        if missing:
            raise CompileError(f"{self.name} ({self.info.name}) cannot run WGSL types {', '.join(missing)}: "
                               "the adapter lacks the feature")  # fmt: skip
        buffers = len(info.element_sizes)
        if buffers > _limit(self.gpu.limits, "max-storage-buffers-per-shader-stage"):
            raise CompileError(
                f"{self.name}: kernel {info.name} uses {buffers} storage buffers; this adapter allows "
                f"{self.gpu.limits['max-storage-buffers-per-shader-stage']} per shader stage"
            )
        self._shader(text)  # validates: CompileError with naga's message, line and column
        return pack(info, text)

    def _shader(self, text: str) -> Any:
        enables = "".join(f"enable {t};\n" for t in ("f16",) if t in text and "enable f16" not in text)
        try:
            return self.gpu.create_shader_module(code=enables + text)
        except wgpu.GPUError as exc:
            self._raise_if_lost(exc)
            raise CompileError(f"{self.name}: WGSL does not validate:\n{exc}") from None

    @hookimpl
    def load(self, binary: bytes) -> WebGPUProgram:
        self._check_lost()
        info, source = unpack(binary)
        module = self._shader(source)
        entries = [{"binding": i, "visibility": wgpu.ShaderStage.COMPUTE, "buffer": {"type": "storage"}}
                   for i in range(len(info.element_sizes))]  # fmt: skip
        if info.params or info.group_base:
            entries.append({"binding": len(entries), "visibility": wgpu.ShaderStage.COMPUTE,
                            "buffer": {"type": "uniform", "has_dynamic_offset": True}})  # fmt: skip
        try:
            layout = self.gpu.create_bind_group_layout(entries=entries)
            pipeline = self.gpu.create_compute_pipeline(
                layout=self.gpu.create_pipeline_layout(bind_group_layouts=[layout]),
                compute={"module": module, "entry_point": info.name},
            )
        except wgpu.GPUError as exc:
            self._raise_if_lost(exc)
            raise CompileError(f"{self.name}: kernel {info.name} does not fit its binding layout:\n{exc}") from None
        program = WebGPUProgram(self, info, pipeline, layout)
        self.programs.append(program)
        return program

    @hookimpl
    def launch(self, program: WebGPUProgram, args: tuple, global_size: tuple, local_size: tuple) -> None:
        self._check()
        handles, uniform = program.pack_args(args)
        if max(global_size) > self.max_groups and not program.info.group_base:
            raise ValueError(f"{self.name}: global_size {global_size} exceeds {self.max_groups} workgroups per "
                             f"dimension and {program.name} has no Args.tinyhw_group_base to split by")  # fmt: skip
        if tuple(local_size) not in ((1, 1, 1), program.info.local_size):
            raise ValueError(f"{self.name}: kernel {program.signature} has @workgroup_size"
                             f"{program.info.local_size}; launched with local_size {tuple(local_size)}")  # fmt: skip
        try:
            self._dispatch(program, handles, uniform, tuple(global_size))
        except wgpu.GPUError as exc:
            self._raise_if_lost(exc)
            raise DeviceFault(f"{self.name}: launch of {program.name} failed: {exc}") from None

    def _dispatch(
        self, program: WebGPUProgram, handles: tuple, uniform: bytes, groups: tuple, cache: bool = True
    ) -> None:
        """Record `program` over `groups` workgroups: one dispatch per maxComputeWorkgroupsPerDimension chunk."""
        bind_group = program.bind_groups.get(handles) or self._bind_group(program, handles, cache)
        limit, (gx, gy, gz) = self.max_groups, groups
        for z in _chunks(gz, limit):
            for y in _chunks(gy, limit):
                for x in _chunks(gx, limit):
                    args = bytearray(uniform)
                    if program.info.group_base:
                        struct.pack_into("<III", args, 0, x, y, z)
                    self._record(
                        program, bind_group, args, (min(limit, gx - x), min(limit, gy - y), min(limit, gz - z))
                    )
        if self.pending >= MAX_PENDING:
            self.flush()

    def _record(self, program: WebGPUProgram, bind_group: Any, args: bytes, counts: tuple) -> None:
        """Record one dispatch, setting only the pipeline and bindings that differ from the previous one's."""
        offsets = [self._args_slot(args)] if args else []
        compute = self._compute_pass()
        if self.bound[0] is not program.pipeline:
            compute.set_pipeline(program.pipeline)
        if self.bound[1] is not bind_group or self.bound[2] != offsets:
            compute.set_bind_group(0, bind_group, offsets)
        self.bound = (program.pipeline, bind_group, offsets)
        compute.dispatch_workgroups(*counts)
        self.pending += 1

    def _bind_group(self, program: WebGPUProgram, handles: tuple, cache: bool) -> Any:
        entries = [
            {"binding": i, "resource": {"buffer": h, "offset": 0, "size": h.size}} for i, h in enumerate(handles)
        ]
        if program.info.params or program.info.group_base:
            entries.append({"binding": len(handles), "resource": {"buffer": self.arena, "offset": 0,
                                                                  "size": program.size}})  # fmt: skip
        bind_group = self.gpu.create_bind_group(layout=program.layout, entries=entries)
        if cache:
            program.bind_groups[handles] = bind_group
        return bind_group

    def _args_slot(self, args: bytes) -> int:
        """The arena offset where `args` will be when the recorded work runs (submitting first if full)."""
        if self.args_used + len(args) > _ARENA_BYTES:
            self.flush()
        at = self.args_used
        self.args[at : at + len(args)] = args
        self.args_used = -(-(at + len(args)) // self.align) * self.align
        return at

    def _encoder(self) -> Any:
        """The command encoder being recorded, outside any compute pass."""
        if self.compute is not None:
            self.compute.end()
            self.compute = None
        if self.encoder is None:
            self.encoder = self.gpu.create_command_encoder()
        return self.encoder

    def _compute_pass(self) -> Any:
        if self.compute is None:
            self.compute = self._encoder().begin_compute_pass()
            self.bound = (None, None, None)
        return self.compute

    # -- synchronisation --

    def flush(self) -> None:
        """Submit the recorded work (after writing its `Args` to the arena); a failure is a fault for `sync`."""
        if self.encoder is None:
            return
        encoder, used = self._encoder(), self.args_used
        self.encoder, self.args_used, self.pending = None, 0, 0
        try:
            if used:
                self.gpu.queue.write_buffer(self.arena, 0, self.args, 0, used)
            self.gpu.queue.submit([encoder.finish()])
        except wgpu.GPUError as exc:
            self._record_loss(exc)
            self.fault = self.fault or DeviceFault(f"{self.name}: submission failed: {exc}")

    def _raise_if_lost(self, exc: Exception) -> None:
        """Raise (and from now on keep raising) DeviceFault when `exc` says the GPUDevice is lost."""
        self._record_loss(exc)
        self._check_lost()

    def _record_loss(self, exc: Exception) -> None:
        """Record a lost GPUDevice when `exc` says so; later opens of the adapter get a new one."""
        if "lost" in str(exc).lower() and self.lost is None:
            self.lost = DeviceFault(f"{self.name}: the WebGPU device was lost; close it and open it again: {exc}")
            if _GPU_DEVICES.get(id(self.adapter)) is self.gpu:
                del _GPU_DEVICES[id(self.adapter)]

    def _check_lost(self) -> None:
        if self.lost is not None:
            raise self.lost

    def _check(self) -> None:
        self._check_lost()
        if self.fault is not None:
            fault, self.fault = self.fault, None
            raise fault

    @hookimpl
    def sync(self) -> None:
        self._check_lost()
        self.flush()
        if self.fault is None:
            try:
                self.waits.fence(self._fence())
                self.waits.wait()
            except DeviceFault as exc:
                self._raise_if_lost(exc)
                raise
        self._check()

    def _fence(self) -> Any:
        """A staging buffer the last submission writes: mapping it waits for every submission so far."""
        try:
            staging = self.gpu.create_buffer(size=4, usage=_STAGING)
            encoder = self.gpu.create_command_encoder()
            encoder.copy_buffer_to_buffer(self._fence_src, 0, staging, 0, 4)
            self.gpu.queue.submit([encoder.finish()])
        except wgpu.GPUError as exc:
            raise DeviceFault(f"{self.name}: submission failed: {exc}") from None
        return staging

    @hookimpl
    def close(self) -> None:
        try:
            self.sync()
        except (DeviceFault, TimeoutError):
            pass
        self.programs.clear()  # drops pipelines and bind groups; the GPUDevice is shared by later opens
