"""``--scheduler`` for the batch forms of ``filter`` and ``find``: their files on a Dask cluster.

Owns: the option and turning its value into the executor the batch runner submits to
(:mod:`convtool.dask.cluster` does the Dask side, importing dask only when the option is
given). Must not import the group or a command, dask or distributed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from concurrent.futures import Executor

import click

from ..dask.cluster import SchedulerError, check_scheduler, scheduler_executor
from .common import fail

__all__ = ["check_options", "executor_for", "scheduler_option"]


def scheduler_option(command: Callable) -> Callable:
    """Add ``--scheduler ADDRESS|local[:N]`` (the value reaches the command as ``scheduler``)."""
    return click.option(
        "--scheduler",
        metavar="ADDRESS|local[:N]",
        default=None,
        help="Send the files of a batch to a Dask cluster instead of local worker processes: "
        "the scheduler's address (tcp://HOST:8786), or 'local' / 'local:N' to start one here "
        "with N single-threaded workers. Inputs and outputs must be paths every worker can "
        "reach. Needs the dask extra: pip install 'convtool[dask]'.",
    )(command)


def check_options(scheduler: str | None, workers: int | None) -> None:
    """Refuse a bad ``--scheduler`` (value, missing extra, with ``--jobs``) before any work."""
    if scheduler is None:
        return
    if workers is not None:
        raise fail("--jobs and --scheduler cannot be used together (use --scheduler local:N)")
    try:
        check_scheduler(scheduler)
    except SchedulerError as exc:
        raise fail(str(exc)) from None


@contextlib.contextmanager
def executor_for(scheduler: str | None) -> Iterator[Executor | None]:
    """The Dask executor ``--scheduler`` asks for (None without it); errors as ``Error:`` lines.

    A ``local`` cluster is started here and shut down on exit; a scheduler given by address
    is left running (only this run's client is closed).
    """
    if scheduler is None:
        yield None
        return
    try:
        with scheduler_executor(scheduler) as executor:
            yield executor
    except SchedulerError as exc:
        raise fail(str(exc)) from None
