"""glibc's malloc thresholds: when freed image-sized buffers go back to the kernel.

Owns :func:`keep_freed_memory` (the one place convtool talks to glibc's ``mallopt``). By
default glibc serves a large ``malloc`` with a fresh ``mmap`` and unmaps it on ``free``, so
an array allocated again and again (a band, a frame) page-faults anew each time: 60 frames of
1080p RGB through ``filter - --raw ... -k gaussian:2`` spent 1.2 s of system time in those
faults, 0.25 s with the thresholds raised (``tests/bench/bench_streams.py``). Raising them
keeps freed buffers in the heap for the next frame; the resident set then stays at the
largest working set seen (a few frames), which is what a stream holds anyway. The Dask worker
set-up (:mod:`convtool.dask.cluster`) sets the thresholds a nanny's environment had turned off.
Where glibc is not the C library (musl, macOS) nothing changes. Must not import: anything else of
convtool, click, rich, PIL.
"""

from __future__ import annotations

import contextlib
import ctypes

__all__ = ["keep_freed_memory"]

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def keep_freed_memory(mmap_threshold: int, trim_threshold: int) -> bool:
    """Serve allocations below ``mmap_threshold`` bytes from the heap and return freed heap
    memory to the kernel only above ``trim_threshold`` bytes; False where this is not glibc.

    Setting either turns off glibc's dynamic thresholds (``man mallopt``) for the process.

    Examples
    --------
    >>> keep_freed_memory(32 << 20, 64 << 20) in (True, False)
    True
    """
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6")
        done = libc.mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold)) == 1
        return libc.mallopt(_M_TRIM_THRESHOLD, int(trim_threshold)) == 1 and done
    return False
