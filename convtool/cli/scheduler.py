"""``--scheduler`` for the batch forms of ``filter`` and ``find``: their files on a Dask cluster.

Owns: the option, turning its value into the executor the batch runner submits to
(:mod:`convtool.dask.cluster` does the Dask side, imported only when the option is given),
the one-line errors (bad value, missing extra, unreachable scheduler), distributed's logging
(on stderr only with ``-v``) and the dashboard link. Must not import the group or a command,
dask or distributed at module level.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import Executor

import click

from .common import fail

__all__ = ["MISSING_EXTRA", "check_options", "executor_for", "scheduler_option", "split_one"]

MISSING_EXTRA = "--scheduler needs the dask extra: pip install 'convtool[dask]'"


def scheduler_option(command: Callable) -> Callable:
    """Add ``--scheduler ADDRESS|local[:N]`` (the value reaches the command as ``scheduler``)."""
    return click.option(
        "--scheduler",
        metavar="ADDRESS|local[:N]",
        default=None,
        help="Send the files of a batch to a Dask cluster instead of local worker processes: "
        "the scheduler's address (tcp://HOST:8786), or 'local' / 'local:N' to start one here "
        "with N single-threaded workers (at most 4 per core). Paths are sent absolute: every "
        "worker must see the same filesystem. One .npy input with a .npy or TIFF output is "
        "split in row bands over the workers. Needs the dask extra: pip install "
        "'convtool[dask]'.",
    )(command)


def _cluster():
    """convtool.dask.cluster, or the one-line error when the dask extra is missing."""
    try:
        from ..dask import cluster

        cluster._distributed()
    except ImportError:
        raise fail(MISSING_EXTRA) from None
    return cluster


def check_options(scheduler: str | None, workers: int | None) -> None:
    """Refuse a bad ``--scheduler`` (value, missing extra, with ``--jobs``) before any work."""
    if scheduler is None:
        return
    if workers is not None:
        raise fail("--jobs and --scheduler cannot be used together (use --scheduler local:N)")
    cluster = _cluster()
    try:
        cluster.check_scheduler(scheduler)
    except cluster.SchedulerError as exc:
        raise fail(str(exc)) from None


@contextlib.contextmanager
def executor_for(scheduler: str | None) -> Iterator[Executor | None]:
    """The Dask executor ``--scheduler`` asks for (None without it); errors as ``Error:`` lines.

    A ``local`` cluster is started here and shut down on exit; a scheduler given by address
    is left running (only this run's client is closed). Distributed's log lines reach stderr
    only with ``-v``; the dashboard link is printed with ``-v`` or when stderr is a terminal.
    """
    if scheduler is None:
        yield None
        return
    cluster = _cluster()
    verbose = bool(click.get_current_context().params.get("verbose"))
    cluster.quiet_logs(verbose)
    with contextlib.ExitStack() as stack:
        try:
            executor = stack.enter_context(cluster.scheduler_executor(scheduler))
        except cluster.SchedulerError as exc:
            raise fail(str(exc)) from None
        if executor.dashboard and (verbose or sys.stderr.isatty()):
            click.echo(f"Dask dashboard: {executor.dashboard}", err=True)
        yield executor


def _is_npy(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(6) == b"\x93NUMPY"
    except OSError:
        return False


def split_one(
    source: str,
    kernels: tuple[str, ...],
    output: str,
    opts,
    mapping: str | None,
    out_format: str | None,
    scheduler: str,
    depth: str | None = None,
    compression: int | None = None,
) -> None:
    """One ``.npy`` image into one ``.npy`` or uncompressed TIFF file, its row bands spread
    over the cluster (deflate is refused: its strips' sizes are not known before they are
    computed, so workers could not write them in place)."""
    from . import common
    from .progress import Progress, wanted

    p = click.get_current_context().params
    from ..images import ImageIOError, check_output_path
    from ..kernels import parse_kernel

    try:
        fmt = check_output_path(output, out_format)
    except ImageIOError as exc:
        raise fail(str(exc)) from None
    if source == "-" or not os.path.isfile(source):
        raise fail(f"{source}: no such file" if source != "-" else _SPLIT_NEEDS)
    if fmt not in ("npy", "tiff") or not _is_npy(source):
        raise fail(_SPLIT_NEEDS)
    if fmt == "tiff" and compression:
        raise fail(
            "--scheduler writes TIFF uncompressed (workers fill its strips in place): leave "
            "out --compression, or filter on one machine"
        )
    try:
        steps = [parse_kernel(spec) for spec in kernels]
    except common.LIBRARY_ERRORS as exc:
        raise fail(str(exc)) from None
    from ..dask import split

    try:  # the layout's refusals before a cluster is asked for
        plan = split.plan_split(source, output, steps, opts, mapping=mapping, fmt=fmt,
                                depth=depth)  # fmt: skip
    except (*common.LIBRARY_ERRORS, split.SplitError) as exc:
        raise fail(str(exc)) from None
    with executor_for(scheduler) as executor:
        workers = max(1, len(executor.client.scheduler_info().get("workers", {})))
        shown = wanted(p.get("progress"), quiet=p.get("quiet", False))
        name = os.path.basename(source)
        with Progress(f"filtering {name}", None, enabled=shown, unit="rows", counted=True) as bar:
            try:
                split.run_split(plan, executor, workers=workers, progress=bar.update)
            except (*common.LIBRARY_ERRORS, split.SplitError) as exc:
                raise fail(str(exc)) from None


_SPLIT_NEEDS = (
    "--scheduler with one input splits it in row bands over the cluster: it needs a .npy "
    "input and a .npy or TIFF output (or -o DIR/ to send the file whole to one worker)"
)
