"""OpenBLAS's own thread count, lowered while convtool's threads already fill the cores.

Owns :func:`single_threaded_blas` and :func:`set_blas_threads` (the one place convtool
talks to OpenBLAS). OpenBLAS splits a GEMM over its own threads, which spin
while they wait for each other; when convtool's pool threads each run GEMMs at once (a stream
filters two frames side by side), those threads fight over the same cores: 20 frames of 1080p
RGB ``gaussian:2`` (the separable GEMM path) took 63 s with OpenBLAS's default threads and
5.9 s with one, on 2 busy cores (tests/bench/bench_streams.py). The library is found among
the process's mapped files and called through ctypes, as threadpoolctl does; where it is not
found (another BLAS, another system) nothing changes.
Must not import: anything else of convtool, click, rich, PIL.
"""

from __future__ import annotations

import contextlib
import ctypes
import re
import threading
from collections.abc import Iterator

__all__ = ["set_blas_threads", "single_threaded_blas"]

_NAMES = ("scipy_openblas{}64_", "scipy_openblas{}", "openblas{}64_", "openblas{}")
_lock = threading.Lock()
_lookup_lock = threading.Lock()
_state = {"depth": 0, "saved": None, "api": None}


def _api():
    """``(get, set)`` of the OpenBLAS numpy uses, or None.

    Looked up once, under a lock: two pool threads entering :func:`single_threaded_blas` at
    once used to see the lookup half done, and one of them ran its GEMMs outside the count,
    on OpenBLAS's own threads once the other left; the last bit of a filter then depended on
    timing (the same command wrote other bytes from run to run on busy cores).
    """
    if _state["api"] is None:
        with _lookup_lock:
            if _state["api"] is None:
                _state["api"] = _find() or False
    return _state["api"] or None


def _find():
    """Search the process's mapped files for OpenBLAS's thread-count functions."""
    try:
        import numpy  # noqa: F401 (loads the BLAS)

        with open("/proc/self/maps") as fh:
            paths = sorted(set(re.findall(r"(/\S*openblas\S*\.so\S*)", fh.read())))
    except OSError:
        paths = []
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for pattern in _NAMES:
            get_name = pattern.format("_get_num_threads")
            set_name = pattern.format("_set_num_threads")
            if hasattr(lib, get_name) and hasattr(lib, set_name):
                getter, setter = getattr(lib, get_name), getattr(lib, set_name)
                getter.restype = ctypes.c_int
                setter.argtypes = [ctypes.c_int]
                return getter, setter
    return None


def set_blas_threads(count: int) -> bool:
    """Give OpenBLAS ``count`` threads from now on; False where no OpenBLAS was found.

    Examples
    --------
    >>> set_blas_threads(1) in (True, False)
    True
    """
    api = _api()
    if api is None:
        return False
    api[1](max(1, int(count)))
    return True


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[None]:
    """OpenBLAS on one thread inside the block (nested blocks allowed), as before after it.

    Examples
    --------
    >>> with single_threaded_blas():
    ...     pass
    """
    api = _api()
    if api is None:
        yield
        return
    getter, setter = api
    with _lock:
        if _state["depth"] == 0:
            _state["saved"] = getter()
            setter(1)
        _state["depth"] += 1
    try:
        yield
    finally:
        with _lock:
            _state["depth"] -= 1
            if _state["depth"] == 0 and _state["saved"]:
                setter(_state["saved"])
