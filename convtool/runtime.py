"""The one thread pool, its work-sharing runners, and per-thread scratch arrays.

Owns: how many threads the numeric code may use, the pool they run on, the ways work is
shared over them (a shared queue, one task per thread, two ordered lanes), and the work
arrays each thread keeps between calls. The engine and the matcher both run on it; batch
workers lower the thread count with :func:`set_threads` so that jobs x threads stays within
the cores.

Must not import: anything else of convtool, click, rich, PIL.

numpy's ufuncs, matmul and FFTs release the GIL, so threads that share read-only arrays and
write disjoint parts of an output need no locks.
"""

from __future__ import annotations

import collections
import itertools
import os
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

import numpy as np

__all__ = [
    "Latch",
    "after",
    "in_worker",
    "parallel",
    "release_scratch",
    "run_all",
    "run_lanes",
    "run_queue",
    "scratch",
    "set_threads",
    "submit",
    "threads",
]

# Two workers: the machine this was tuned on has 2 cores, and OpenBLAS adds its own threads.
_threads = max(1, min(2, os.cpu_count() or 1))
_PREFIX = "convtool"
_pool_lock = threading.Lock()


class _DaemonPool:
    """A fixed set of daemon threads taking tasks from one queue (the ``submit`` and
    ``shutdown`` of :class:`concurrent.futures.ThreadPoolExecutor`, no more).

    Not ThreadPoolExecutor: its threads are not daemons, and the interpreter joins them at
    exit after an atexit hook has woken them. A SIGTERM that unwound through that hook once
    left a finished run waiting for minutes on a worker blocked in ``SimpleQueue.get``.
    Daemon threads are never waited for: every exit path (normal, error, signal) ends the
    process, whatever the threads are doing; the caller always waits for its own tasks.
    """

    def __init__(self, workers: int) -> None:
        self._tasks: queue.SimpleQueue = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._serve, name=f"{_PREFIX}_{i}", daemon=True)
            for i in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def _serve(self) -> None:
        while True:
            item = self._tasks.get()
            if item is None:
                return
            future, fn, args = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # handed to the caller by future.result()
                future.set_exception(exc)

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        future: Future = Future()
        self._tasks.put((future, fn, args))
        return future

    def shutdown(self, wait: bool = True) -> None:
        for _ in self._threads:
            self._tasks.put(None)
        if wait:
            for thread in self._threads:
                if thread is not threading.current_thread():
                    thread.join()


_pool_instance: _DaemonPool | None = None


def threads() -> int:
    """How many threads (the calling one included) numeric work may use.

    Examples
    --------
    >>> threads() >= 1
    True
    """
    return _threads


def set_threads(n: int) -> None:
    """Use at most ``n`` threads from now on (a batch worker process sets 1 or a share).

    Examples
    --------
    >>> before = threads(); set_threads(1); threads()
    1
    >>> set_threads(before)
    """
    global _threads, _pool_instance
    n = max(1, int(n))
    with _pool_lock:
        if n != _threads and _pool_instance is not None:
            _pool_instance.shutdown(wait=True)
            _pool_instance = None
        _threads = n


# Set on the calling thread while it drains a queue beside the pool workers: the pool is busy
# then, so a runner nested in one of the tasks works inline (as on a pool thread).
_busy = threading.local()


def in_worker() -> bool:
    """True on a pool thread, or on a thread running a queue's tasks beside the pool: a nested
    runner then works inline instead of waiting on a pool whose threads are all taken."""
    return getattr(_busy, "on", False) or threading.current_thread().name.startswith(_PREFIX)


def _pool() -> _DaemonPool:
    global _pool_instance
    with _pool_lock:
        if _pool_instance is None:
            _pool_instance = _DaemonPool(max(1, _threads))
        return _pool_instance


def parallel(work: Callable[[], None], n: int | None = None) -> None:
    """Run ``work`` on the calling thread and on ``n - 1`` pool workers at once.

    ``work`` pulls its items from a shared iterator (``next`` on a list iterator is atomic
    under the GIL), so a worker that starts late or runs slow takes fewer: on this VM a core
    left idle for tens of milliseconds ran at about half speed for the next few runs, and
    fixed halves then took 2x as long. The calling thread is already running, so it works too.
    """
    n = _threads if n is None else min(n, _threads)
    if n <= 1 or in_worker():
        work()
        return
    futures = [_pool().submit(work) for _ in range(n - 1)]
    try:
        work()
    finally:
        for future in futures:
            future.result()  # waits, and re-raises a worker's exception here


def submit(task: Callable[[], Any]) -> Future:
    """Start ``task`` on a pool thread and return its future (for pipelines that keep a few
    tasks in flight and take their results in order). With one thread, or on a pool
    thread, ``task`` runs here and now and the future is already done."""
    if _threads <= 1 or in_worker():
        future: Future = Future()
        try:
            future.set_result(task())
        except Exception as exc:  # handed over as the pool would
            future.set_exception(exc)
        return future
    return _pool().submit(task)


def run_all(tasks: Sequence[Callable[[], Any]]) -> list[Any]:
    """Run ``tasks`` concurrently, the first on the calling thread; return their results."""
    if len(tasks) == 1 or _threads <= 1 or in_worker():
        return [task() for task in tasks]
    futures = [_pool().submit(task) for task in tasks[1:]]
    try:
        first = tasks[0]()
    finally:
        rest = [f.result() for f in futures]
    return [first, *rest]


def run_queue(tasks: Sequence[Callable[[], Any]]) -> None:
    """Run independent ``tasks`` on the calling thread and the pool, each taking the next one.

    Unlike :func:`run_all` (one task per thread), many small tasks of uneven cost balance
    themselves over the threads; no more threads than :func:`threads` run at once.
    """
    if len(tasks) == 1 or _threads <= 1 or in_worker():
        for task in tasks:
            task()
        return
    counter = itertools.count()  # next() on a count is atomic under the GIL
    errors: list[BaseException] = []

    def drain() -> None:
        for i in counter:
            if i >= len(tasks) or errors:
                return
            try:
                tasks[i]()
            except BaseException as exc:  # re-raised on the calling thread
                errors.append(exc)

    futures = [_pool().submit(drain) for _ in range(min(_threads, len(tasks)) - 1)]
    _busy.on = True
    try:
        drain()
    finally:
        _busy.on = False
    for f in futures:
        f.result()
    if errors:
        raise errors[0]


class Latch:
    """Counts finished tasks of a group; :meth:`wait` blocks until all of them are done."""

    def __init__(self, count: int) -> None:
        self._count = count
        self._lock = threading.Lock()
        self._event = threading.Event()
        if count <= 0:
            self._event.set()

    def count_down(self) -> None:
        with self._lock:
            self._count -= 1
            if self._count <= 0:
                self._event.set()

    def wait(self) -> None:
        self._event.wait()


def after(
    work: Callable[[], None], needs: Sequence[Latch] = (), done: Latch | None = None
) -> Callable[[], None]:
    """``work`` as a task that first waits for ``needs`` and then counts down ``done``.

    ``done`` counts down even when ``work`` raises, so no other task waits forever (the
    error is re-raised by the runner; the half-made result is thrown away).
    """

    def task() -> None:
        try:
            for latch in needs:
                latch.wait()
            work()
        finally:
            if done is not None:
                done.count_down()

    return task


def run_lanes(first: Sequence[Callable[[], None]], second: Sequence[Callable[[], None]]) -> None:
    """Run two ordered task lists, one per thread; a thread whose list is empty steals.

    Meant for a lane of many small numpy calls (running sums, window statistics) beside a
    lane of FFTs: numpy releases the GIL inside each call, but two threads that both make
    many short calls mostly wait for each other's GIL hand-over (measured: 1.2x on two
    threads for 10 us calls, 2x for 40 us calls). The first thread steals from the front of
    the second list (tasks wait for what they need via :class:`Latch`), the second from
    the back of the first (the last window-statistics strips). With one thread the lanes run
    in order, first then second, which every latch dependency allows.
    """
    if _threads <= 1 or in_worker() or not first or not second:
        for task in [*first, *second]:
            task()
        return
    lanes = (collections.deque(first), collections.deque(second))
    lock = threading.Lock()
    errors: list[BaseException] = []

    def drain(own: int) -> None:
        mine, theirs = lanes[own], lanes[1 - own]
        while not errors:
            with lock:
                if mine:
                    task = mine.popleft()
                elif theirs:
                    task = theirs.popleft() if own == 0 else theirs.pop()
                else:
                    return
            try:
                task()
            except BaseException as exc:  # re-raised on the calling thread
                errors.append(exc)

    future = _pool().submit(drain, 1)
    drain(0)
    future.result()
    if errors:
        raise errors[0]


# Work arrays kept between calls, per (thread, name). Larger ones are not kept: at 1080p RGB
# the kept ones total ~20 MiB per thread.
_scratch_arrays: dict[tuple[int, str], np.ndarray] = {}
SCRATCH_KEEP_BYTES = 16 << 20


def scratch(name: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """A per-thread work array kept between calls (contents undefined).

    Strip buffers allocated afresh on every call went back to the OS when freed and were
    faulted in again on the next call: on this VM that cost the FFT path up to 2x (1080p grey
    k=31: 25 ms against 15 ms with the buffers kept). Each thread keeps one array per name,
    replaced when the shape or dtype changes; :func:`release_scratch` frees them all.
    """
    key = (threading.get_ident(), name)
    arr = _scratch_arrays.get(key)
    if arr is None or arr.shape != shape or arr.dtype != dtype:
        _scratch_arrays.pop(key, None)
        arr = np.empty(shape, dtype)
        if arr.nbytes <= SCRATCH_KEEP_BYTES:
            _scratch_arrays[key] = arr
    return arr


def release_scratch() -> None:
    """Free the work arrays that threads keep between calls.

    Each thread keeps its strip buffers (at most 16 MiB each, a few per strategy) so that
    repeated calls on same-sized images do not fault fresh memory in every time.

    Examples
    --------
    >>> release_scratch()
    """
    _scratch_arrays.clear()
