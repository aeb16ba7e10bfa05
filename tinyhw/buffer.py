"""Device buffers: what `allocate` returns, and views into them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Buffer", "BufferOptions"]


@dataclass(frozen=True, slots=True)
class BufferOptions:
    """Placement hints for `allocate`.

    host_visible: the host can map the memory (GPU: system memory or a BAR window). Needed for
    staging buffers, signals and kernel arguments; slower for kernels on discrete GPUs.
    uncached: the host mapping bypasses CPU caches (for memory the device polls).
    """

    host_visible: bool = False
    uncached: bool = False


DEFAULT_OPTIONS = BufferOptions()


class Buffer:
    """A range of device memory: a whole allocation, or a view into one.

    Owned by the device that allocated it (`device` is that device's implementation object);
    lives until `free` is called on the whole allocation — views never free. A Buffer may be
    passed between threads, but operations on one device must not race each other. After `free`
    the buffer is dead: any use raises ValueError. Nearest equivalents: VkBuffer bound to
    VkDeviceMemory; an HSA memory region allocation.

    `handle` is the backend's own object for the allocation (an address range on a GPU, a wgpu
    buffer, ...); backends read it as `buffer.root.handle` and add `buffer.offset`.
    """

    __slots__ = ("device", "size", "offset", "options", "root", "handle")

    def __init__(self, device: Any, size: int, options: BufferOptions, handle: Any) -> None:
        self.device, self.size, self.offset, self.options = device, size, 0, options
        self.root: Buffer = self
        self.handle = handle

    @property
    def freed(self) -> bool:
        """True once the allocation this buffer belongs to has been freed."""
        return self.root.handle is None

    @property
    def is_view(self) -> bool:
        """True for a view made by `view`, False for a whole allocation."""
        return self.root is not self

    def view(self, offset: int, size: int) -> Buffer:
        """A buffer for bytes [offset, offset+size) of this one, sharing its memory."""
        if self.freed:
            raise ValueError(f"{self!r} was freed; it cannot be viewed")
        if offset < 0 or size <= 0 or offset + size > self.size:
            raise ValueError(f"view [{offset}, {offset + size}) is outside {self!r} of {self.size} bytes")
        view = object.__new__(Buffer)
        view.device, view.size, view.offset, view.options = self.device, size, self.offset + offset, self.options
        view.root, view.handle = self.root, None
        return view

    def __repr__(self) -> str:
        state = " freed" if self.freed else ""
        where = f" view at +{self.offset}" if self.is_view else ""
        return f"<Buffer {self.size} bytes{where}{state}>"
