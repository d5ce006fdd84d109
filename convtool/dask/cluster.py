"""Batch runs on a Dask cluster: ``--scheduler ADDRESS|local[:N]`` to a concurrent.futures Executor.

Owns: parsing the ``--scheduler`` value, connecting a ``distributed.Client`` (or starting a
``LocalCluster`` on 127.0.0.1 for ``local[:N]``), the set-up of every worker (engine threads,
glibc's malloc thresholds), what the batch runner needs to know of the cluster (absolute
paths sent, whether the scheduler or every worker was lost) and distributed's log lines
(silent unless asked for).

Must not import at module level: distributed (imported when the option is given; a missing
extra is an ``ImportError`` the CLI turns into its one-line error), click, rich, PIL.

What is retried: a file whose worker dies (killed, out of memory, machine lost) is computed
again on another worker by the scheduler (up to ``distributed.scheduler.allowed-failures``
times, 3 by default), and ``retries`` more times if the job itself raises (the batch's
per-file functions never do: a bad file is a per-file error, reported once, not retried).
A file is written by the one atomic writer on the worker, so a killed attempt leaves no
partial output, only a temp file the batch runner removes at the end.
"""

from __future__ import annotations

import atexit
import concurrent.futures as cf
import contextlib
import dataclasses
import logging
import os
import re
import sys
import time
from collections.abc import Iterator

from .. import runtime
from .._blas import set_blas_threads
from .._malloc import keep_freed_memory

__all__ = [
    "ClusterExecutor",
    "SchedulerError",
    "check_scheduler",
    "parse_scheduler",
    "quiet_logs",
    "scheduler_executor",
]

# local:N at most this many workers per core: more only queue for the same cores (and each
# worker is a process of ~100 MB; local:100000 kept starting for minutes).
WORKERS_PER_CORE = 4
# Every worker gone for this long (a nanny restarts a killed one within a few seconds): lost.
NO_WORKERS_GRACE = 20.0
# glibc's dynamic mmap threshold grows to at most 32 MiB (64-bit), the trim threshold to twice
# that: the state a worker without MALLOC_TRIM_THRESHOLD_ reaches after a few images.
_MMAP_THRESHOLD, _TRIM_THRESHOLD = 32 << 20, 64 << 20


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
    most = WORKERS_PER_CORE * _cores()
    if int(m.group(1)) > most:
        raise SchedulerError(
            f"--scheduler local:N allows at most {most} workers here ({WORKERS_PER_CORE} per "
            f"core), got {value!r}"
        )
    return "local", int(m.group(1))


def check_scheduler(text: str) -> tuple[str, int | None]:
    """:func:`parse_scheduler`, and the dask extra importable: before any work is planned."""
    parsed = parse_scheduler(text)
    _distributed()
    return parsed


def _distributed():
    """distributed, imported (an ImportError without the extra: the CLI's one-line error)."""
    import distributed

    return distributed


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _malloc_as_usual() -> None:
    """Undo a nanny's ``MALLOC_TRIM_THRESHOLD_`` in this (worker) process.

    Any explicit trim threshold turns off glibc's dynamic mmap threshold (``man mallopt``):
    every image-sized array then becomes a fresh mmap that page-faults anew (per-file time
    0.44-0.60 s against 0.33-0.36 s without it). The variable is read at process start, so
    the thresholds the dynamic rule would have grown to are set here instead.
    """
    if os.environ.pop("MALLOC_TRIM_THRESHOLD_", None) is None:
        return
    keep_freed_memory(_MMAP_THRESHOLD, _TRIM_THRESHOLD)


_BLAS_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _blas_as_usual() -> None:
    """Undo a nanny's ``OMP_NUM_THREADS=1`` (and OpenBLAS's, MKL's) in this worker process.

    OpenBLAS reads them at load: a worker then runs every BLAS call outside the engine (the
    engine holds BLAS to one thread itself) on one thread, unlike a ``--jobs`` worker.
    OpenBLAS is given back its usual thread count, the cores (a no-op without OpenBLAS).
    Every variable is taken out (``any()`` over the pops stopped at the first one and left
    ``OPENBLAS_NUM_THREADS=1`` and ``MKL_NUM_THREADS=1`` for the worker's subprocesses).
    """
    found = [name for name in _BLAS_VARIABLES if os.environ.pop(name, None) is not None]
    if found:
        set_blas_threads(os.cpu_count() or 1)


def _set_up_worker(threads: dict[str, int], default: int | None, worker) -> None:
    """A worker's engine threads (its host's cores shared out), BLAS and malloc as usual."""
    _malloc_as_usual()
    _blas_as_usual()
    host = worker.address.rsplit(":", 1)[0]
    share = threads.get(host, default or max(1, _cores() // max(1, worker.state.nthreads)))
    runtime.set_threads(share)


def _worker_plugin(distributed, threads: dict[str, int], default: int | None):
    class ConvtoolWorker(distributed.WorkerPlugin):
        name = "convtool-worker"  # one per worker, replaced by a later run's

        def setup(self, worker) -> None:
            _set_up_worker(threads, default, worker)

    return ConvtoolWorker()


def _host_threads(client) -> dict[str, int]:
    """Engine threads per task on each host: its cores over the task threads it runs.

    Each worker counts its own host's cores; the cores are divided by every worker thread
    on that host (two single-threaded workers on two cores: one engine thread each).
    """
    workers = client.scheduler_info().get("workers", {})
    try:
        cores = client.run(_cores) if workers else {}
    except Exception:  # a worker that cannot run this gets its own share
        return {}
    per_host: dict[str, list[int]] = {}
    for address, info in workers.items():
        host = address.rsplit(":", 1)[0]
        per_host.setdefault(host, [0, cores.get(address, 1)])[0] += int(info.get("nthreads", 1))
    return {h: max(1, c // max(1, t)) for h, (t, c) in per_host.items()}


def quiet_logs(verbose: bool) -> None:
    """Keep distributed's (and tornado's) log lines off stderr unless ``verbose``.

    Also silences what distributed's own exit handlers print when the run is interrupted
    while a cluster is still starting (``Exception ignored in atexit ... Status.init``).
    """
    if verbose:
        return
    roots = ("distributed", "tornado", "asyncio", "bokeh")
    names = [n for n in logging.Logger.manager.loggerDict if n.split(".")[0] in roots]
    for name in {*roots, *names}:  # children too: distributed's config gives some a level
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)
    # Worker processes started here configure their logging from the environment at import.
    os.environ["DASK_LOGGING__DISTRIBUTED"] = "critical"

    def silence_exit() -> None:  # registered after distributed's: runs before them
        sys.unraisablehook = lambda unraisable: None

    atexit.register(silence_exit)


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


_PATH_FIELDS = ("source", "target", "heatmap", "annotate")


def _absolute(job):
    """A batch job with its paths made absolute: a worker may run in another directory."""
    if not dataclasses.is_dataclass(job):
        return job
    changes = {
        name: os.path.abspath(value)
        for name in _PATH_FIELDS
        if isinstance(value := getattr(job, name, None), str) and value != "-"
    }
    settings = getattr(job, "settings", None)
    if dataclasses.is_dataclass(settings):
        paths = {
            name: os.path.abspath(value)
            for name in ("template", "mask")
            if isinstance(value := getattr(settings, name, None), str) and value != "-"
        }
        if paths:
            changes["settings"] = dataclasses.replace(settings, **paths)
    return dataclasses.replace(job, **changes) if changes else job


class ClusterExecutor(cf.Executor):
    """A Dask client's executor that sends absolute paths and says what was lost.

    ``lost()`` names the loss that ends a run (None while the cluster works): the scheduler
    (the client's connection is gone) or every worker (none for :data:`NO_WORKERS_GRACE` s).
    ``dashboard`` is the scheduler's dashboard link, when it has one.
    """

    def __init__(self, client, address: str, *, retries: int) -> None:
        self.client, self.address = client, address
        self._inner = client.get_executor(retries=max(0, int(retries)), pure=False)
        self._no_workers_since: float | None = None
        self.dashboard = None
        with contextlib.suppress(Exception):
            info = client.scheduler_info(n_workers=1)
            if info.get("services", {}).get("dashboard"):
                self.dashboard = client.dashboard_link

    def submit(self, fn, /, *args, **kwargs) -> cf.Future:
        return self._inner.submit(fn, *map(_absolute, args), **kwargs)

    def lost(self) -> str | None:
        if self.client.status not in ("running", "newly-created"):
            return f"lost the Dask scheduler {self.address}"
        try:
            workers = self.client.scheduler_info(n_workers=1).get("workers", {})
        except Exception:
            return f"lost the Dask scheduler {self.address}"
        now = time.monotonic()
        if workers:
            self._no_workers_since = None
        elif self._no_workers_since is None:
            self._no_workers_since = now
        elif now - self._no_workers_since > NO_WORKERS_GRACE:
            return f"lost every Dask worker of {self.address}"
        return None

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._inner.shutdown(wait=wait and self.client.status == "running")


@contextlib.contextmanager
def scheduler_executor(scheduler: str, *, retries: int = 2) -> Iterator[ClusterExecutor]:
    """An Executor whose jobs run on the Dask cluster ``scheduler`` names; closed on exit.

    Parameters
    ----------
    scheduler : str
        ``local`` (a ``LocalCluster`` of one single-threaded worker process per core, on
        127.0.0.1, no dashboard), ``local:N`` (N such workers, at most
        :data:`WORKERS_PER_CORE` per core), or the address of a running scheduler
        (``tcp://host:8786``, ``host:8786``, anything ``distributed.Client`` takes).
    retries : int
        Extra attempts for a job that raises (a job whose worker dies is rescheduled anyway).

    Every worker, already running or joining later (a nanny's restart too), gets its share of
    its host's cores for the engine and glibc's usual malloc thresholds (a worker plugin).

    Raises
    ------
    SchedulerError
        The value is malformed or the scheduler cannot be reached.
    ImportError
        The dask extra is missing.
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
            address = cluster.scheduler_address
            # As the local process pool: the cores shared out, no oversubscription.
            threads, default = {}, max(1, _cores() // n)
        else:
            try:
                client = stack.enter_context(distributed.Client(kind, timeout="10s"))
            except Exception as exc:
                text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise SchedulerError(f"cannot reach the Dask scheduler {kind}: {text}") from None
            address = kind
            threads, default = _host_threads(client), None
        client.register_plugin(_worker_plugin(distributed, threads, default))
        yield ClusterExecutor(client, address, retries=retries)
