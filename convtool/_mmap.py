"""Keeping memory-mapped arrays out of the resident set once their rows are done.

Must not import: anything else of convtool, click, rich, PIL.
"""

from __future__ import annotations

import mmap

import numpy as np

__all__ = ["release_rows"]


def release_rows(arr: np.ndarray, r0: int, r1: int) -> None:
    """Drop rows ``r0:r1`` of a memory-mapped array (``np.memmap``) from the resident set.

    The pages stay in the page cache (pages written to stay dirty there and still reach the
    file, as on munmap), so later reads fault them back in; but a run over a file larger than
    memory does not keep all of it mapped in: without this, a 1.6 GB .npy read or written
    through a map counts 1.6 GB of resident memory. Other arrays are left alone.

    Examples
    --------
    >>> release_rows(np.zeros((4, 4)), 0, 4)  # not mapped: nothing to do
    """
    mm = getattr(arr, "_mmap", None)
    if not isinstance(mm, mmap.mmap) or r1 <= r0 or not hasattr(mm, "madvise"):
        return
    base = np.frombuffer(mm, np.uint8).ctypes.data
    start = arr.ctypes.data - base + r0 * arr.strides[0]
    stop = arr.ctypes.data - base + r1 * arr.strides[0]
    page = mmap.PAGESIZE
    start, stop = -(-start // page) * page, min(stop // page * page, len(mm))
    if stop > start:
        mm.madvise(mmap.MADV_DONTNEED, start, stop - start)
