"""Keeping memory-mapped arrays out of the resident set once their rows are done.

Must not import: anything else of convtool, click, rich, PIL.
"""

from __future__ import annotations

import mmap

import numpy as np

__all__ = ["anonymous_array", "discard_rows", "release_rows"]


def anonymous_array(shape: tuple[int, ...], dtype) -> np.ndarray:
    """A zero-filled array in an anonymous memory map, whose rows :func:`discard_rows` can
    give back to the system once they have been used (``np.empty`` memory cannot be)."""
    dtype = np.dtype(dtype)
    count = int(np.prod(shape))
    # Private: MADV_DONTNEED frees its pages (a shared anonymous map would keep them in shmem).
    flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS
    mm = mmap.mmap(-1, max(1, count * dtype.itemsize), flags=flags)
    return np.frombuffer(mm, dtype, count).reshape(shape)


def _mapping(arr: np.ndarray) -> mmap.mmap | None:
    mm = getattr(arr, "_mmap", None)
    if isinstance(mm, mmap.mmap):
        return mm
    base = arr
    while base is not None:
        if isinstance(base, memoryview):
            return base.obj if isinstance(base.obj, mmap.mmap) else None
        if isinstance(base, mmap.mmap):
            return base
        base = getattr(base, "base", None)
    return None


def _advise(mm: mmap.mmap, arr: np.ndarray, r0: int, r1: int) -> None:
    if r1 <= r0 or not hasattr(mm, "madvise"):
        return
    base = np.frombuffer(mm, np.uint8).ctypes.data
    start = arr.ctypes.data - base + r0 * arr.strides[0]
    stop = arr.ctypes.data - base + r1 * arr.strides[0]
    page = mmap.PAGESIZE
    start, stop = -(-start // page) * page, min(stop // page * page, len(mm))
    if stop > start:
        mm.madvise(mmap.MADV_DONTNEED, start, stop - start)


def discard_rows(arr: np.ndarray, r0: int, r1: int) -> None:
    """Give rows ``r0:r1`` of an :func:`anonymous_array` back to the system: they read as
    zeros afterwards. File-backed maps keep their data (as :func:`release_rows`).

    Examples
    --------
    >>> a = anonymous_array((4, 4096), np.uint8)
    >>> a[:] = 7
    >>> discard_rows(a, 1, 3)
    >>> a[:, 0].tolist()
    [7, 0, 0, 7]
    """
    mm = _mapping(arr)
    if mm is not None:
        _advise(mm, arr, r0, r1)


def release_rows(arr: np.ndarray, r0: int, r1: int) -> None:
    """Drop rows ``r0:r1`` of a file-backed memory-mapped array from the resident set.

    The pages stay in the page cache (pages written to stay dirty there and still reach the
    file, as on munmap), so later reads fault them back in; but a run over a file larger than
    memory does not keep all of it mapped in: without this, a 1.6 GB .npy read or written
    through a map counts 1.6 GB of resident memory. Other arrays are left alone.

    Examples
    --------
    >>> release_rows(np.zeros((4, 4)), 0, 4)  # not mapped: nothing to do
    """
    mm = getattr(arr, "_mmap", None)  # np.memmap: file-backed (np.load(mmap_mode=...))
    if isinstance(mm, mmap.mmap):
        _advise(mm, arr, r0, r1)
