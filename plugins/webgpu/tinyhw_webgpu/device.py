"""The WebGPU device: one wgpu adapter's GPUDevice, driven through tinyhw's DeviceOperations hooks directly.

WebGPU is not command-queue shaped in tinyhw's sense (no user-visible rings or signals), so this
device implements the hookspecs itself. Ordering comes from the one GPUQueue: every copy and
launch is submitted (or `queue.write_buffer`-ed, which wgpu orders between submissions) in call
order. Device->host copies go to a MAP_READ staging buffer and are copied into the host
destination by `sync`, which maps them (that waits for the GPU). Buffers are bound whole and a
view's offset travels in the kernel's uniform `Args` (see kernel.py), because WebGPU binding
offsets must be 32-byte aligned. Copies whose offsets or size are not multiples of 4 bytes
(WebGPU's copy granularity) go through a small byte-merging kernel.
"""

from __future__ import annotations

from typing import Any

import wgpu

from tinyhw import Buffer, BufferOptions, CompileError, DeviceFault, DeviceInfo, OutOfMemory, hookimpl
from tinyhw_webgpu import __version__
from tinyhw_webgpu.kernel import FEATURES, pack, parse, unpack
from tinyhw_webgpu.program import WebGPUProgram, uniform_layout

__all__ = ["WebGPUDevice", "OPTIONAL_FEATURES"]

OPTIONAL_FEATURES = ("shader-f16", "shader-int64", "shader-f64")
"""Adapter features requested when present: they enable f16, i64/u64 and f64 in WGSL."""
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
    """The adapter's GPUDevice, created once per process: lavapipe keeps ~28 MiB per created device."""
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


class WebGPUDevice:
    """One WebGPU device over a wgpu adapter; `tinyhw.Device("webgpu:N")` opens it through the backend."""

    def __init__(self, name: str, adapter: Any) -> None:
        self.name, self.adapter = name, adapter
        self.gpu = _gpu_device(adapter)
        self.features = frozenset(self.gpu.features)
        self.max_buffer = min(_limit(self.gpu.limits, "max-buffer-size"),
                              _limit(self.gpu.limits, "max-storage-buffer-binding-size"))  # fmt: skip
        self.programs: list[WebGPUProgram] = []
        self.readbacks: list[tuple[Any, memoryview, int, int]] = []
        self.fault: DeviceFault | None = None
        self.info = self._info()
        self._fence_src = self.gpu.create_buffer(size=4, usage=_STORAGE)
        self._fence_dst = self.gpu.create_buffer(size=4, usage=_STAGING)
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
        if size > self.max_buffer:
            raise OutOfMemory(
                f"{self.name}: cannot allocate {size} bytes: the adapter's buffer limit is "
                f"{self.max_buffer} bytes (min of maxBufferSize, maxStorageBufferBindingSize)"
            )
        try:
            handle = self.gpu.create_buffer(size=-(-size // 4) * 4, usage=_STORAGE)
        except wgpu.GPUError as exc:
            raise OutOfMemory(f"{self.name}: cannot allocate {size} bytes: {exc}") from None
        return Buffer(self, size, options, handle)

    @hookimpl
    def free(self, buffer: Buffer) -> None:
        handle, buffer.handle = buffer.handle, None
        for program in self.programs:
            for key in [key for key in program.bind_groups if handle in key]:
                del program.bind_groups[key]
        # wgpu-native keeps the memory until submitted work using it has finished

    @hookimpl
    def copy(self, dst: Buffer | memoryview, src: Buffer | memoryview, size: int) -> None:
        self._check()
        if isinstance(dst, Buffer) and isinstance(src, Buffer):
            self._device_to_device(dst, src, size)
        elif isinstance(dst, Buffer):
            self._host_to_device(dst, src, size)
        else:
            self._device_to_host(dst, src, size)

    def _host_to_device(self, dst: Buffer, src: memoryview, size: int) -> None:
        if dst.offset % 4 == 0 and size % 4 == 0:
            self.gpu.queue.write_buffer(dst.root.handle, dst.offset, src)
            return
        staging = self.gpu.create_buffer(size=-(-size // 4) * 4, usage=_STORAGE)
        self.gpu.queue.write_buffer(staging, 0, bytes(src) + bytes(-size % 4))
        self._merge_bytes(dst.root.handle, dst.offset, staging, 0, size)

    def _device_to_device(self, dst: Buffer, src: Buffer, size: int) -> None:
        aligned = dst.offset % 4 == 0 and src.offset % 4 == 0 and size % 4 == 0
        if aligned and dst.root is not src.root:
            encoder = self.gpu.create_command_encoder()
            encoder.copy_buffer_to_buffer(src.root.handle, src.offset, dst.root.handle, dst.offset, size)
            self._submit(encoder)
            return
        first = src.offset & ~3
        staging = self.gpu.create_buffer(size=-(-(src.offset + size - first) // 4) * 4, usage=_STORAGE)
        encoder = self.gpu.create_command_encoder()
        encoder.copy_buffer_to_buffer(src.root.handle, first, staging, 0, staging.size)
        self._submit(encoder)
        self._merge_bytes(dst.root.handle, dst.offset, staging, src.offset - first, size)

    def _device_to_host(self, dst: memoryview, src: Buffer, size: int) -> None:
        first = src.offset & ~3
        staging = self.gpu.create_buffer(size=-(-(src.offset + size - first) // 4) * 4, usage=_STAGING)
        encoder = self.gpu.create_command_encoder()
        encoder.copy_buffer_to_buffer(src.root.handle, first, staging, 0, staging.size)
        self._submit(encoder)
        self.readbacks.append((staging, dst, src.offset - first, size))

    def _merge_bytes(self, dst: Any, dst_at: int, src: Any, src_at: int, size: int) -> None:
        """Enqueue the byte-copy kernel for an unaligned copy, in chunks of one dispatch each."""
        done = 0
        while done < size:
            words = min(_BYTE_COPY_WORDS, ((dst_at + done) % 4 + size - done + 3) // 4)
            n = min(size - done, words * 4 - (dst_at + done) % 4)
            args = uniform_layout(self._byte_copy.params)[0]
            uniform = __import__("struct").pack(args, 0, 0, dst_at + done, src_at + done, n)
            self._dispatch(self._byte_copy, (dst, src), uniform, (-(-words // 64), 1, 1), cache=False)
            done += n

    # -- kernels --

    @hookimpl
    def compile(self, source: str | bytes, entry: str | None) -> bytes:
        text = source.decode() if isinstance(source, bytes) else source
        info = parse(text, entry)
        missing = sorted(f"{t} (needs {FEATURES[t]})" for t in info.types if FEATURES[t] not in self.features)
        if missing:
            raise CompileError(f"{self.name} ({self.info.name if hasattr(self, 'info') else 'webgpu'}) cannot run "
                               f"WGSL types {', '.join(missing)}: the adapter lacks the feature")  # fmt: skip
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
            raise CompileError(f"{self.name}: WGSL does not validate:\n{exc}") from None

    @hookimpl
    def load(self, binary: bytes) -> WebGPUProgram:
        info, source = unpack(binary)
        module = self._shader(source)
        entries = [{"binding": i, "visibility": wgpu.ShaderStage.COMPUTE, "buffer": {"type": "storage"}}
                   for i in range(len(info.element_sizes))]  # fmt: skip
        uniform = None
        if info.params:
            entries.append({"binding": len(entries), "visibility": wgpu.ShaderStage.COMPUTE,
                            "buffer": {"type": "uniform"}})  # fmt: skip
            size = uniform_layout(info.params)[1]
            uniform = self.gpu.create_buffer(size=size, usage=wgpu.BufferUsage.UNIFORM | wgpu.BufferUsage.COPY_DST)
        try:
            layout = self.gpu.create_bind_group_layout(entries=entries)
            pipeline = self.gpu.create_compute_pipeline(
                layout=self.gpu.create_pipeline_layout(bind_group_layouts=[layout]),
                compute={"module": module, "entry_point": info.name},
            )
        except wgpu.GPUError as exc:
            raise CompileError(f"{self.name}: kernel {info.name} does not fit its binding layout:\n{exc}") from None
        program = WebGPUProgram(self, info, pipeline, layout, uniform)
        self.programs.append(program)
        return program

    @hookimpl
    def launch(self, program: WebGPUProgram, args: tuple, global_size: tuple, local_size: tuple) -> None:
        self._check()
        handles, uniform = program.pack_args(args)
        limit = _limit(self.gpu.limits, "max-compute-workgroups-per-dimension")
        if max(global_size) > limit:
            raise ValueError(f"{self.name}: global_size {global_size} exceeds {limit} workgroups per dimension")
        if tuple(local_size) not in ((1, 1, 1), program.info.local_size):
            raise ValueError(f"{self.name}: kernel {program.signature} has @workgroup_size"
                             f"{program.info.local_size}; launched with local_size {tuple(local_size)}")  # fmt: skip
        self._dispatch(program, handles, uniform, global_size)

    def _dispatch(
        self, program: WebGPUProgram, handles: tuple, uniform: bytes, groups: tuple, cache: bool = True
    ) -> None:
        bind_group = program.bind_groups.get(handles)
        if bind_group is None:
            entries = [
                {"binding": i, "resource": {"buffer": h, "offset": 0, "size": h.size}} for i, h in enumerate(handles)
            ]
            if program.uniform is not None:
                entries.append({"binding": len(handles), "resource": {"buffer": program.uniform}})
            bind_group = self.gpu.create_bind_group(layout=program.layout, entries=entries)
            if cache:
                program.bind_groups[handles] = bind_group
        if program.uniform is not None:
            self.gpu.queue.write_buffer(program.uniform, 0, uniform)
        encoder = self.gpu.create_command_encoder()
        compute = encoder.begin_compute_pass()
        compute.set_pipeline(program.pipeline)
        compute.set_bind_group(0, bind_group)
        compute.dispatch_workgroups(*groups)
        compute.end()
        self._submit(encoder)

    # -- synchronisation --

    def _submit(self, encoder: Any) -> None:
        try:
            self.gpu.queue.submit([encoder.finish()])
        except wgpu.GPUError as exc:
            self.fault = self.fault or DeviceFault(f"{self.name}: submission failed (device lost?): {exc}")

    def _check(self) -> None:
        if self.fault is not None:
            fault, self.fault = self.fault, None
            raise fault

    def _fence(self) -> None:
        """Block until every submission so far has finished: map a staging buffer the last submission wrote."""
        # (queue.on_submitted_work_done_sync is broken in wgpu 0.32: a callback signature mismatch)
        encoder = self.gpu.create_command_encoder()
        encoder.copy_buffer_to_buffer(self._fence_src, 0, self._fence_dst, 0, 4)
        self._submit(encoder)
        self._fence_dst.map_sync(wgpu.MapMode.READ)
        self._fence_dst.unmap()

    @hookimpl
    def sync(self) -> None:
        readbacks, self.readbacks = self.readbacks, []
        try:
            for staging, host, skip, size in readbacks:
                staging.map_sync(wgpu.MapMode.READ)
                host[:] = staging.read_mapped(copy=False)[skip : skip + size]
                staging.unmap()
            self._fence()
        except wgpu.GPUError as exc:
            self.fault = self.fault or DeviceFault(f"{self.name}: waiting for the GPU failed (device lost?): {exc}")
        self._check()

    @hookimpl
    def close(self) -> None:
        try:
            self.sync()
        except DeviceFault:
            pass
        self.programs.clear()  # drops pipelines and bind groups; the GPUDevice is shared by later opens
