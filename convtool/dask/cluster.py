"""Batch runs on a Dask cluster: ``--scheduler ADDRESS|local[:N]`` to a concurrent.futures Executor.

Owns: parsing the ``--scheduler`` value, connecting a ``distributed.Client`` (or starting a
``LocalCluster`` on 127.0.0.1 for ``local[:N]``), the engine threads each local worker may use,
and the executor the batch runner submits its per-file jobs to (with Dask's retries).

Must not import at module level: dask, distributed (the CLI imports this module and the base
install has neither; :data:`MISSING_EXTRA` is the one-line error then), click, rich, PIL.

What is retried: a file whose worker dies (killed, out of memory, machine lost) is computed
again on another worker by the scheduler (up to ``distributed.scheduler.allowed-failures``
times, 3 by default), and ``retries`` more times if the job itself raises (the batch's
per-file functions never do: a bad file is a per-file error, reported once, not retried).
A file is written by the one atomic writer on the worker, so a killed attempt leaves no
partial output, only a temp file the batch runner removes at the end.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import os
import re
from collections.abc import Iterator

from .. import runtime

__all__ = [
    "MISSING_EXTRA",
    "SchedulerError",
    "check_scheduler",
    "parse_scheduler",
    "scheduler_executor",
]

MISSING_EXTRA = "--scheduler needs the dask extra: pip install 'convtool[dask]'"


class SchedulerError(ValueError):
    """A bad ``--scheduler`` value, a missing extra or an unreachable scheduler (one line)."""


def parse_scheduler(text: str) -> tuple[str, int | None]:
    """Return ``("local", workers or None)`` or ``("address", address)``-style pairs.

    Examples
    --------
    >>> parse_scheduler("local"), parse_scheduler("local:4")
    (('local', None), ('local', 4))
    >>> parse_scheduler("tcp://10.0.0.5:8786")
    ('tcp://10.0.0.5:8786', None)
    """
    value = text.strip()
    if not value:
        raise SchedulerError("--scheduler is empty (give ADDRESS, local or local:N)")
    m = re.fullmatch(r"local(?::(.*))?", value)
    if m is None:
        return value, None
    if m.group(1) is None:
        return "local", None
    if not re.fullmatch(r"\d+", m.group(1)) or int(m.group(1)) < 1:
        raise SchedulerError(f"--scheduler local:N needs a worker count N >= 1, got {value!r}")
    return "local", int(m.group(1))


def check_scheduler(text: str) -> tuple[str, int | None]:
    """:func:`parse_scheduler`, and the dask extra importable: before any work is planned."""
    parsed = parse_scheduler(text)
    _distributed()
    return parsed


def _distributed():
    try:
        import distributed
    except ImportError:
        raise SchedulerError(MISSING_EXTRA) from None
    return distributed


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _threads_plugin(distributed, threads: int):
    class EngineThreads(distributed.WorkerPlugin):
        def setup(self, worker) -> None:
            runtime.set_threads(threads)

    return EngineThreads()


@contextlib.contextmanager
def _glibc_malloc_as_usual() -> Iterator[None]:
    """Start local workers without distributed's ``MALLOC_TRIM_THRESHOLD_``.

    Any explicit trim threshold also turns off glibc's dynamic mmap threshold (``man
    mallopt``), so every image-sized array becomes a fresh mmap that page-faults anew: per-file
    time in such workers measured 0.44-0.60 s against 0.33-0.36 s without it (40 photos,
    gaussian:2, 2 workers, loaded machine). The local process pool does not set it either.
    A nanny sets it in its own process's environment before spawning (so that the worker
    inherits it); a value an earlier cluster left there is taken out while this one runs.
    """
    import dask

    key, name = "distributed.nanny.pre-spawn-environ", "MALLOC_TRIM_THRESHOLD_"
    environ = dask.config.get(key, {})
    left = os.environ.get(name)
    from_dask = left is not None and left == str(environ.get(name))
    with dask.config.set({key: {k: v for k, v in environ.items() if k != name}}):
        if from_dask:
            del os.environ[name]
        try:
            yield
        finally:
            if from_dask:
                os.environ[name] = left


@contextlib.contextmanager
def scheduler_executor(scheduler: str, *, retries: int = 2) -> Iterator[cf.Executor]:
    """An Executor whose jobs run on the Dask cluster ``scheduler`` names; closed on exit.

    Parameters
    ----------
    scheduler : str
        ``local`` (a ``LocalCluster`` of one single-threaded worker process per core, on
        127.0.0.1, no dashboard), ``local:N`` (N such workers), or the address of a running
        scheduler (``tcp://host:8786``, ``host:8786``, anything ``distributed.Client`` takes).
    retries : int
        Extra attempts for a job that raises (a job whose worker dies is rescheduled anyway).

    Raises
    ------
    SchedulerError
        The value is malformed, the dask extra is missing, or the scheduler cannot be reached.
    """
    kind, workers = check_scheduler(scheduler)
    distributed = _distributed()
    with contextlib.ExitStack() as stack:
        if kind == "local":
            n = workers or _cores()
            stack.enter_context(_glibc_malloc_as_usual())
            cluster = stack.enter_context(
                distributed.LocalCluster(
                    n_workers=n,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=None,
                )
            )
            client = stack.enter_context(distributed.Client(cluster))
            # As the local process pool: the cores shared out, no oversubscription (a plugin,
            # so that a worker the nanny restarts after a crash gets it too).
            client.register_plugin(_threads_plugin(distributed, max(1, _cores() // n)))
        else:
            try:
                client = stack.enter_context(distributed.Client(kind, timeout="10s"))
            except (OSError, TimeoutError) as exc:
                text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise SchedulerError(f"cannot reach the Dask scheduler {kind}: {text}") from None
        executor = client.get_executor(retries=max(0, int(retries)), pure=False)
        yield executor
