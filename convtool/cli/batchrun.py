"""Batch forms of ``filter`` and ``find`` on the command line: options, errors, summary.

Owns: the options every batch form shares (``--recursive``, ``--skip-existing``, ``--jobs``,
``--fail-fast``, ``--progress/--no-progress``, ``--quiet``), running jobs through
:func:`convtool.batch.run` with a progress bar, one ``Error: path: reason`` line per failed file,
the summary line on stderr and what Ctrl-C prints. Must not import the group or a command.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from .progress import Progress, wanted

if TYPE_CHECKING:
    from .. import batch

__all__ = ["Tally", "batch_options", "run_batch"]

# Exit status after Ctrl-C, as shells report a process ended by SIGINT (128 + 2).
INTERRUPTED = 128 + signal.SIGINT


def batch_options(command: Callable) -> Callable:
    """The options shared by the batch forms of ``filter`` and ``find`` (in help order)."""
    options = [
        click.option(
            "-r",
            "--recursive",
            is_flag=True,
            help="Also take image files in the subdirectories of directory inputs.",
        ),
        click.option(
            "-j",
            "--jobs",
            "workers",
            type=click.IntRange(min=1),
            default=None,
            help="Worker processes for several files (default: the number of CPUs; 1 runs "
            "them one after the other in this process).",
        ),
        click.option(
            "--fail-fast",
            is_flag=True,
            help="Stop at the first file that fails (default: report it and go on).",
        ),
        click.option(
            "--progress/--no-progress",
            "progress",
            default=None,
            help="Draw a progress bar on stderr (default: only when stderr is a terminal and "
            "not --quiet).",
        ),
        click.option(
            "-q",
            "--quiet",
            is_flag=True,
            help="No progress bar, notes or summary line; errors are still printed.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@dataclass
class Tally:
    """How a batch run went: counts for the summary line and the exit status."""

    total: int = 0
    done: int = 0
    failed: int = 0
    skipped: int = 0
    matched: int = 0
    aborted: str = ""  # why the run stopped early: "interrupted", a dead worker, --fail-fast
    killers: int = 0  # files that killed every worker they ran on (they will again)

    @property
    def not_done(self) -> int:
        return self.total - self.done - self.failed - self.skipped

    def line(self, *, find: bool = False) -> str:
        """``processed 198 of 200 files, 2 failed`` and what else is worth a word."""
        text = f"processed {self.done} of {self.total} files, {self.failed} failed"
        if self.skipped:
            text += f", {self.skipped} skipped (output exists)"
        if find:
            text += f", {self.matched} with a match"
        if self.not_done:
            text += f", {self.not_done} not done"
        return text + (f" ({self.aborted})" if self.aborted else "")


def run_batch(
    jobs: Sequence[Any],
    fn: Callable[[Any], batch.FileResult],
    *,
    workers: int | None,
    fail_fast: bool,
    progress: bool | None,
    quiet: bool,
    verb: str,
    on_result: Callable[[batch.FileResult, Progress], None] | None = None,
    find: bool = False,
    executor: Executor | None = None,
) -> Tally:
    """Run ``jobs`` with a progress bar; print each failure as one line and the summary.

    ``on_result`` sees each finished result in input order (find prints its matches there).
    ``executor`` (e.g. a Dask client's) replaces the local pool of ``workers`` processes.
    Ctrl-C stops the workers, prints the summary and exits with status 130.
    """
    from .. import batch

    tally = Tally(total=len(jobs))
    finished: dict[int, batch.FileResult] = {}  # completion order, all of them
    handled: set[int] = set()

    def done(result: batch.FileResult) -> None:
        finished[result.index] = result
        bar.advance()

    def handle(result: batch.FileResult) -> None:
        handled.add(result.index)
        _count(tally, result, bar, quiet=quiet)
        if on_result is not None and result.ok and not result.skipped:
            on_result(result, bar)

    with Progress(verb, len(jobs), enabled=wanted(progress, quiet=quiet)) as bar:
        results = batch.run(
            jobs, fn, executor=executor, jobs=workers, fail_fast=fail_fast, on_done=done
        )
        try:
            with contextlib.closing(results):
                for result in results:
                    handle(result)
        except batch.WorkerError as exc:
            bar.echo(f"Error: {exc}")
            tally.aborted = f"{exc.what}; rerun with --skip-existing to finish"
        except KeyboardInterrupt:
            tally.aborted = "interrupted"
        # Finished while an earlier file held up the input order, then the run stopped.
        for index in sorted(finished.keys() - handled):
            handle(finished[index])
    if fail_fast and tally.failed and tally.not_done:
        tally.aborted = "--fail-fast"
    if tally.killers:
        again = f"{tally.killers} file(s) killed their workers and will fail again"
        tally.aborted = f"{tally.aborted}; {again}" if tally.aborted else again
    if not quiet or tally.aborted == "interrupted":
        click.echo(tally.line(find=find), err=True)
    if tally.aborted == "interrupted":
        raise click.exceptions.Exit(INTERRUPTED)
    return tally


def _count(tally: Tally, result: batch.FileResult, bar: Progress, *, quiet: bool) -> None:
    if result.skipped:
        tally.skipped += 1
    elif not result.ok:
        from .. import batch

        tally.failed += 1
        tally.killers += (result.error or "").endswith(batch.KILLED_SUFFIX)
        bar.echo(f"Error: {result.source}: {result.error}")
    else:
        tally.done += 1
        tally.matched += bool(result.matches)
        if not quiet:
            for note in result.notes:
                bar.echo(f"note: {result.source}: {note}")
