"""Batch runner: drives per-file functions over any ``concurrent.futures.Executor``.

Owns: the default process pool (each worker gets ``cores // jobs`` engine threads through
:func:`convtool.runtime.set_threads` and leaves Ctrl-C to the parent), result order (input
order out, completion order to ``on_done``), ``--fail-fast``, Ctrl-C and dead workers, and the
removal of temp files a killed writer left. Must not import: click, rich, PIL.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import multiprocessing
import os
import re
import signal
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .. import runtime
from .work import FileResult, watch_parent


class WorkerError(RuntimeError):
    """The executor failed (a worker process died, a cluster was lost): the run stopped;
    results so far were yielded. ``what`` says it in a few words for the summary line."""

    def __init__(self, message: str, what: str = "a worker process died") -> None:
        super().__init__(message)
        self.what = what


# A file that killed every worker it was tried on (a Dask cluster gives up on it): its error.
KILLED_SUFFIX = "workers (out of memory?)"
KILLED = "killed {} " + KILLED_SUFFIX
# How often a waiting run asks an executor whether its cluster is still there.
_POLL_SECONDS = 1.0


# forkserver, not fork: the parent may run threads (the progress display, the engine's pool)
# and forking a threaded process can copy a held lock into the child. Workers start from a
# server that has imported this module once, so each costs a fork, not a fresh interpreter.
START_METHOD = "forkserver"


def default_jobs() -> int:
    """The number of CPUs this process may run on (the default ``--jobs``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _worker_init(threads: int, parent: int) -> None:
    """Pool worker start-up: its share of the cores, Ctrl-C left to the parent, and an exit
    of its own when the parent dies (:func:`watch_parent`)."""
    runtime.set_threads(threads)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    watch_parent(parent)


def _make_pool(jobs: int, tasks: int) -> cf.ProcessPoolExecutor:
    context = multiprocessing.get_context(START_METHOD)
    if START_METHOD == "forkserver":
        context.set_forkserver_preload(["convtool.batch"])
    workers = max(1, min(jobs, tasks))
    return cf.ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=_worker_init,
        initargs=(max(1, default_jobs() // workers), os.getpid()),  # jobs x threads <= cores
    )


def _close_pool(pool: cf.ProcessPoolExecutor, *, terminate: bool) -> None:
    if terminate:  # Ctrl-C, --fail-fast, a dead worker: stop the others at once
        for process in list((getattr(pool, "_processes", None) or {}).values()):
            if process.is_alive():
                process.terminate()
    pool.shutdown(wait=True, cancel_futures=True)


def _targets_of(job: Any) -> list[str]:
    paths = (getattr(job, name, None) for name in ("target", "heatmap", "annotate"))
    return [p for p in paths if isinstance(p, str) and p != "-"]


def remove_stale_temps(targets: Iterable[str]) -> int:
    """Delete temp files the writer left beside ``targets`` (a killed writer cannot).

    The writer names them ``.NAME.XXXXXXXX.part`` (8 characters of :mod:`tempfile`) beside
    ``NAME``; only those of the given targets are touched. Returns how many were removed.
    """
    by_dir: dict[str, set[str]] = {}
    for target in targets:
        by_dir.setdefault(os.path.dirname(target) or ".", set()).add(os.path.basename(target))
    removed = 0
    for directory, names in by_dir.items():
        try:
            entries = [e.name for e in os.scandir(directory) if e.name.endswith(".part")]
        except OSError:
            continue
        for entry in entries:
            m = re.fullmatch(r"\.(.+)\.[a-z0-9_]{8}\.part", entry)
            if m and m.group(1) in names:
                try:
                    os.unlink(os.path.join(directory, entry))
                    removed += 1
                except OSError:
                    pass
    return removed


def _skipped(job: Any) -> FileResult:
    return FileResult(job.index, job.source, getattr(job, "target", None), skipped=True)


def _as_given(result: FileResult, job: Any) -> FileResult:
    """The result named by the job's own paths (a cluster's jobs were sent absolute)."""
    if result.source == job.source:
        return result
    return dataclasses.replace(result, source=job.source, target=getattr(job, "target", None))


def _killer(exc: BaseException, job: Any) -> FileResult | None:
    """A per-file failure for a job that killed every worker it ran on (distributed's
    ``KilledWorker``): rerunning it will kill them again, so the file is named."""
    if type(exc).__name__ != "KilledWorker":
        return None
    m = re.search(r"on (\d+) different workers", str(exc))
    error = KILLED.format(m.group(1) if m else "several")
    return FileResult(job.index, job.source, getattr(job, "target", None), ok=False, error=error)


def _on_disk(job: Any, since: float) -> FileResult | None:
    """A job whose result never came back but whose output was written during this run (a
    lost cluster's worker finished it): counted as done, as the disk says."""
    target = getattr(job, "target", None)
    try:
        written = isinstance(target, str) and os.stat(target).st_mtime >= since
    except OSError:
        written = False
    return FileResult(job.index, job.source, target) if written else None


def _lost(pool: Any) -> str | None:
    """What the executor says its cluster lost (``lost()``, see convtool.dask.cluster)."""
    lost = getattr(pool, "lost", None)
    return lost() if callable(lost) else None


def run(
    work: Iterable[Any],
    fn: Callable[[Any], FileResult],
    *,
    executor: cf.Executor | None = None,
    jobs: int | None = None,
    fail_fast: bool = False,
    on_done: Callable[[FileResult], None] | None = None,
) -> Iterator[FileResult]:
    """Run ``fn`` on every job and yield the results in input order.

    Parameters
    ----------
    work : iterable of jobs
        :class:`FilterJob`, :class:`FindJob` or any picklable object with ``index`` and
        ``source`` (and ``skip``: such a job is reported skipped, never run).
    fn : callable
        A top-level function (it must pickle) that never raises: :func:`filter_one`,
        :func:`find_one`.
    executor : concurrent.futures.Executor, optional
        Where to run. Default: a process pool of ``jobs`` workers, each allowed
        ``cores // jobs`` engine threads, shut down at the end. A given executor (for example
        ``distributed.Client.get_executor()``) is left running.
    jobs : int, optional
        Worker processes when ``executor`` is None (default: the CPU count); 1 runs in this
        process, without a pool.
    fail_fast : bool
        Stop at the first failed file: pending jobs are cancelled, own workers terminated; the
        results already finished are still yielded (in input order).
    on_done : callable, optional
        Called with each result as it completes (completion order), e.g. for progress.

    Raises
    ------
    WorkerError
        The executor failed (a worker process was killed): after the finished results.
    KeyboardInterrupt
        Passed on once pending jobs are cancelled and own workers terminated.

    Once no worker can write any more, the temp files of this run's targets are removed
    (:func:`remove_stale_temps`): none is left by an interrupted or killed run.
    """
    work = list(work)
    jobs = default_jobs() if jobs is None else max(1, int(jobs))
    todo = sum(1 for job in work if not getattr(job, "skip", False))
    if executor is None and (jobs == 1 or todo <= 1):
        runner = _run_inline(work, fn, fail_fast=fail_fast, on_done=on_done)
    else:
        runner = _run_executor(
            work, fn, executor=executor, jobs=jobs, fail_fast=fail_fast, on_done=on_done
        )
    yield from runner


def _run_inline(work, fn, *, fail_fast, on_done) -> Iterator[FileResult]:
    try:
        for job in work:
            result = _skipped(job) if getattr(job, "skip", False) else fn(job)
            if on_done is not None:
                on_done(result)
            yield result
            if fail_fast and not result.ok:
                return
    finally:
        remove_stale_temps(p for job in work for p in _targets_of(job))


def _run_executor(work, fn, *, executor, jobs, fail_fast, on_done) -> Iterator[FileResult]:
    own = executor is None
    pool = _make_pool(jobs, len(work)) if own else executor
    results: list[FileResult | None] = [None] * len(work)
    futures: dict[cf.Future, int] = {}
    clean = False
    started = time.time() - 1.0  # file times may be rounded down to the second
    try:
        for i, job in enumerate(work):
            if getattr(job, "skip", False):
                results[i] = _skipped(job)
                if on_done is not None:
                    on_done(results[i])
            else:
                futures[pool.submit(fn, job)] = i
        pending, emitted, broken, stop = set(futures), 0, None, False
        while True:
            while emitted < len(work) and results[emitted] is not None:
                yield results[emitted]
                emitted += 1
            if not pending or stop or broken is not None:
                break
            done, pending = cf.wait(pending, timeout=_POLL_SECONDS, return_when=cf.FIRST_COMPLETED)
            if not done and (lost := _lost(pool)):
                broken = WorkerError(lost, what=lost)
            for future in sorted(done, key=futures.__getitem__):
                i = futures[future]
                try:
                    result = _as_given(future.result(), work[i])
                except cf.CancelledError:  # not by this loop: the executor gave up on it
                    lost = _lost(pool) or "the executor cancelled a job"
                    broken = broken or WorkerError(lost, what=lost)
                    continue
                except Exception as exc:  # the executor's failure, not the file's
                    result = _killer(exc, work[i])
                    if result is None:
                        broken = broken or exc
                        continue
                results[i] = result
                if on_done is not None:
                    on_done(result)
                stop = stop or (fail_fast and not result.ok)
        clean = not pending and broken is None
        for future in pending:
            future.cancel()
        if own:
            _close_pool(pool, terminate=not clean)
            clean = True  # the pool is closed; the finally has nothing left to stop
        if broken is not None:
            # No worker of this run may write any more: its temp files go, then the disk
            # says which files were finished although their results never came back.
            remove_stale_temps(p for job in work for p in _targets_of(job))
            for i, job in enumerate(work):
                if results[i] is None and (found := _on_disk(job, started)) is not None:
                    results[i] = found
                    if on_done is not None:
                        on_done(found)
        for result in results[emitted:]:
            if result is not None:
                yield result
        if broken is not None:
            missing = sum(1 for r in results if r is None)
            if isinstance(broken, WorkerError):
                raise WorkerError(f"{broken}; {missing} file(s) not processed", what=broken.what)
            text = str(broken).splitlines()[0] if str(broken) else type(broken).__name__
            raise WorkerError(f"a worker failed ({text}); {missing} file(s) not processed")
    finally:
        if own and not clean:
            _close_pool(pool, terminate=True)
        live = {i for f, i in futures.items() if not f.done()}  # still running elsewhere
        remove_stale_temps(
            p for i, job in enumerate(work) if i not in live for p in _targets_of(job)
        )
