"""The tinyhw contract: pluggy hook specifications. Each docstring is normative.

Two groups of hooks:

- `Registration` hooks are called once on the *plugin modules* found through the `tinyhw`
  entry-point group: they return backend and layer descriptors.
- `DeviceOperations` hooks — allocate, free, copy, compile, load, launch, sync, close — are implemented
  by each opened device object (and wrapped by layers). Every opened device gets its own small
  plugin manager holding its implementation plus the enabled layers; with no layer on, the device
  binds the implementation's methods directly, so no pluggy frame sits on the launch path.

Every operation speaks of one ordering primitive: the device's *timeline*, a 64-bit monotonic
counter. Operations are executed in the order they were enqueued on a device, as if one after
another; `sync` waits until the timeline has passed the last enqueued operation.

Errors come in two kinds (see `tinyhw.errors`): validation errors are raised by the enqueuing
call, before the device sees anything; execution errors are recorded on the device and raised by
the next `sync` (and by every later operation if the device cannot recover).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from collections.abc import Callable

    from tinyhw.backend import Backend, Layer
    from tinyhw.buffer import Buffer, BufferOptions
    from tinyhw.hcq.os_access import OSAccess
    from tinyhw.kernel.ir import Kernel
    from tinyhw.kernel.render.base import RenderedKernel
    from tinyhw.program import Program

__all__ = ["hookspec", "hookimpl", "Registration", "DeviceOperations", "PROJECT"]

PROJECT = "tinyhw"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class Registration:
    """Hooks a plugin *module* implements to announce what it provides."""

    @hookspec
    def tinyhw_backends(self) -> list[Backend]:
        """Describe the device backends this plugin provides.

        Returns: a list of `tinyhw.Backend` descriptors (name, priority, API version, device
        count, device factory, renderer, capabilities); an empty list if none.

        Sync: called once, when the registry first loads plugins; must not open devices.

        Errors: an exception here marks the whole plugin broken; it is recorded with its
        traceback, shown by `tinyhw devices`, and every other plugin keeps working.

        Implementers: optional; all results are collected; wrappers not allowed.
        """

    @hookspec
    def tinyhw_layers(self) -> list[Layer]:
        """Describe the layers this plugin provides (see `tinyhw.Layer`).

        Returns: a list of `tinyhw.Layer` descriptors; an empty list if none.

        Sync: called once, when the registry first loads plugins.

        Errors: an exception marks the plugin broken, exactly as for `tinyhw_backends`.

        Implementers: optional; all results are collected; wrappers not allowed.
        """

    @hookspec
    def tinyhw_renderers(self) -> dict[str, Callable[[Kernel], RenderedKernel]]:
        """Provide kernel renderers: kernel IR to a backend's source language (see `tinyhw.kernel.render`).

        Returns: a mapping from renderer name (what a `Backend.renderer` names) to a function
        `Kernel -> RenderedKernel`, called like the entries of `tinyhw.kernel.render.RENDERERS`;
        an empty mapping if none. A name the core already renders, or one an earlier plugin gave,
        is not replaced.

        Sync: called once, when the registry first loads plugins; the functions are called later,
        whenever a kernel is rendered, and must not keep state between kernels.

        Errors: an exception here marks the whole plugin broken, exactly as for `tinyhw_backends`;
        a renderer function raises `tinyhw.kernel.ir.IRError` for IR it cannot express.

        Implementers: optional; all results are collected; wrappers not allowed.
        """

    @hookspec(firstresult=True)
    def tinyhw_conformance_kernels(self, renderer: str) -> dict[str, str] | None:
        """Provide kernel sources for the conformance suite in a backend's source language.

        renderer: the `Backend.renderer` name of the device under test.

        Returns: a mapping from the suite's kernel names (see `tinyhw.testing.kernels`) to source
        text the backend's `compile` accepts, or None if this plugin does not know `renderer`.

        Sync: called by the conformance suite only, at collection time.

        Errors: an exception fails the suite's set-up for that device.

        Implementers: optional; first non-None result wins; wrappers not allowed.
        """

    @hookspec(firstresult=True)
    def tinyhw_os_access(self) -> OSAccess | None:
        """Provide the OS that kernel-driver paths (KFD, NVIDIA RM, KGSL) open, ioctl and mmap through.

        Returns: a `tinyhw.hcq.os_access.OSAccess` used by every driver that asks
        `tinyhw.hcq.os_access.os_access()` from now on, or None to leave the real OS
        (`LinuxOSAccess`) in place.

        Sync: called whenever a driver asks for its OS access (when it counts or opens devices); an
        answer should stay the same for the plugin's lifetime.

        Errors: an exception propagates to the driver that asked, which reports it as its own
        error (a failed device count or open).

        Implementers: optional, and meant for test-only plugins that simulate hardware (tests/sim);
        first non-None result wins, the most recently registered plugin asked first (so one test
        can stand its own OS in for the run's); wrappers not allowed.
        """


class DeviceOperations:
    """Hooks an opened device object implements; layers wrap them."""

    @hookspec(firstresult=True)
    def allocate(self, size: int, options: BufferOptions) -> Buffer:
        """Allocate device memory.

        size: bytes, > 0 (checked by the caller). options: placement and visibility hints.

        Returns: a new `tinyhw.Buffer` of exactly `size` bytes owned by this device. Contents are
        undefined.

        Sync: immediate; does not wait for or enqueue device work. The memory may be handed out
        again only after `free` *and* after every operation enqueued before `free` completed.

        Errors: OutOfMemory (after freeing any cached memory and retrying once) naming the
        requested and free sizes.

        Implementers: required; first result wins; wrappers allowed.
        """

    @hookspec
    def free(self, buffer: Buffer) -> None:
        """Release a buffer returned by `allocate`.

        buffer: a whole (non-view) buffer of this device, not yet freed (checked by the caller).

        Returns: None.

        Sync: non-blocking; operations already enqueued that use the buffer still complete
        correctly — the memory is reused only once they have.

        Errors: none at call time.

        Implementers: required; wrappers allowed.
        """

    @hookspec
    def copy(self, dst: Buffer | memoryview, src: Buffer | memoryview, size: int) -> None:
        """Copy `size` bytes host->device, device->host or device->device.

        dst, src: a `Buffer` (possibly a view) of this device, or a contiguous host memoryview of
        format 'B'; at least one is a Buffer. Both already hold exactly `size` bytes (the caller
        slices and bounds-checks them). size: > 0.

        Returns: None.

        Sync: asynchronous and ordered with every other operation on this device. A host source
        is read before the call returns (the caller may reuse it at once). A host destination
        must stay alive and untouched until the next `sync` returns; only then does it hold the
        data.

        Errors: validation errors at call time; transfer faults at the next `sync`.

        Implementers: required; wrappers allowed.
        """

    @hookspec(firstresult=True)
    def compile(self, source: str | bytes, entry: str | None) -> bytes:
        """Compile kernel source in the backend's language into a binary.

        source: text (or bytes) in the language named by the backend's `renderer`.
        entry: the kernel's function name, or None when the source defines exactly one kernel.

        Returns: a self-describing binary that `load` accepts; it must depend only on `source`,
        `entry`, the device's target and the compiler version (it is cached on disk by them).

        Sync: pure; touches no device state and may run on any thread.

        Errors: CompileError carrying the compiler's own message (line and column where known).

        Implementers: required; first result wins; wrappers allowed.
        """

    @hookspec(firstresult=True)
    def load(self, binary: bytes) -> Program:
        """Load a binary produced by `compile` (now or from the cache) onto the device.

        binary: bytes from `compile` for this device's target.

        Returns: a `tinyhw.Program` with its name and parameter list.

        Sync: immediate; may allocate device memory for code.

        Errors: CompileError if the binary is malformed or was built for another target.

        Implementers: required; first result wins; wrappers allowed.
        """

    @hookspec
    def launch(
        self, program: Program, args: tuple, global_size: tuple[int, int, int], local_size: tuple[int, int, int]
    ) -> None:
        """Enqueue one run of `program`.

        program: a Program loaded on this device. args: one value per `program.params` entry —
        a Buffer (or view) of this device for a buffer parameter, a Python int/float for a scalar.
        global_size: number of workgroups in x, y, z (each >= 1). local_size: work-items per
        workgroup in x, y, z (each >= 1).

        Returns: None.

        Sync: asynchronous; runs after every previously enqueued operation and before every
        later one. Arguments are captured at call time: a later change of a scalar or a freed
        buffer does not affect this launch.

        Errors: TypeError naming the kernel's signature when the number or kinds of arguments
        are wrong; ValueError for sizes the device cannot run; faults at the next `sync`.

        Implementers: required; wrappers allowed.
        """

    @hookspec
    def close(self) -> None:
        """Release the device: wait for outstanding work (unless it failed), free its resources.

        Returns: None. After `close` the implementation object is not used again.

        Sync: blocks like `sync`, but never raises for an earlier recorded execution error.

        Errors: none expected; an exception is reported to the caller of `Device.close`.

        Implementers: optional; every implementation is called; wrappers allowed (the validate
        layer reports leaked buffers here).
        """

    @hookspec
    def sync(self) -> None:
        """Wait until every operation enqueued so far on this device has completed.

        Returns: None, once the timeline has passed the last enqueued operation and host
        destinations of device->host copies hold their data.

        Sync: blocks the calling thread; interruptible with Ctrl-C.

        Errors: DeviceHang when the device stops making progress for the wait timeout
        (`TINYHW_WAIT_TIMEOUT_MS`, default 30 s); DeviceFault for a recorded execution fault.

        Implementers: required; wrappers allowed.
        """
