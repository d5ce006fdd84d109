"""Progress display on stderr for long runs: batch files, and single long filter/find runs.

Owns: whether a bar is shown (stderr a terminal and not ``--quiet``, unless
``--progress/--no-progress`` forces it), the rich bar itself (items done, rate, ETA), and
printing per-file error lines above it so they never tear the bar. Never writes to stdout:
data stays clean in pipes. Imports rich and :mod:`.common`; must not import a command.
"""

from __future__ import annotations

import os
import sys
import threading
from types import TracebackType
from typing import Any

import click

from .common import stdout_is_terminal

__all__ = ["Progress", "stderr_is_terminal", "wanted"]


def stderr_is_terminal() -> bool:
    try:
        return os.isatty(sys.stderr.fileno())
    except (AttributeError, OSError, ValueError):
        return False


def wanted(choice: bool | None, *, quiet: bool = False) -> bool:
    """Show progress? ``--progress``/``--no-progress`` decide; else a terminal, not quiet."""
    if choice is not None:
        return choice
    return not quiet and stderr_is_terminal()


def _rich_bar(description: str, total: int | None, unit: str, counted: bool) -> tuple[Any, Any]:
    """The rich Progress and its task; rich is imported only here (~0.1 s of start-up)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        ProgressColumn,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.progress import Progress as RichProgress
    from rich.text import Text

    class Rate(ProgressColumn):
        """Items per second (rich's own speed column counts bytes)."""

        def render(self, task) -> Text:
            speed = task.finished_speed or task.speed
            text = f"{speed:.3g} {unit}/s" if speed else f"-- {unit}/s"
            return Text(text, style="progress.data.speed")

    columns: list[Any] = [SpinnerColumn(), TextColumn("{task.description}")]
    if total is None and not counted:
        columns.append(TimeElapsedColumn())
    else:
        columns += [BarColumn(), MofNCompleteColumn(), Rate(), TextColumn("ETA")]
        columns.append(TimeRemainingColumn())
    bar = RichProgress(
        *columns,
        # Forced on (--progress) with stderr not a terminal: draw anyway, the user asked.
        console=Console(stderr=True, highlight=False, force_terminal=True),
        transient=False,
        redirect_stdout=stdout_is_terminal(),  # data on a pipe never goes through it
        redirect_stderr=True,
    )
    return bar, bar.add_task(description, total=total)


class Progress:
    """A bar on stderr while a block runs, or nothing at all when ``enabled`` is false.

    ``total=None`` shows a spinner with the elapsed time (work with no count), unless
    ``counted``: the count then comes with the first :meth:`update` (a big image's rows, known
    once its header is read) and the bar pulses until it does. ``delay`` seconds pass before
    anything is drawn, so short runs never flash a bar.
    """

    def __init__(
        self,
        description: str,
        total: int | None,
        *,
        enabled: bool,
        unit: str = "files",
        delay: float = 0.0,
        counted: bool = False,
    ) -> None:
        self.enabled = enabled
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._started = False
        self._bar: Any = None
        self.delay = delay
        if enabled:
            self._bar, self._task = _rich_bar(description, total, unit, counted)

    def __enter__(self) -> Progress:
        if self._bar is not None:
            if self.delay > 0:
                self._timer = threading.Timer(self.delay, self._start)
                self._timer.daemon = True
                self._timer.start()
            else:
                self._start()
        return self

    def _start(self) -> None:
        with self._lock:
            if not self._started and self._bar is not None:
                self._bar.start()
                self._started = True

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer.join()
        with self._lock:
            if self._started and self._bar is not None:
                self._bar.stop()
            self._started = False
            self._bar = None

    def advance(self, n: int = 1) -> None:
        """Count ``n`` more items done."""
        if self._bar is not None:
            self._bar.advance(self._task, n)

    def update(self, done: int, total: int) -> None:
        """Set the count (a library callback ``progress(done, total)``)."""
        if self._bar is not None:
            self._bar.update(self._task, completed=done, total=total)

    def echo(self, message: str) -> None:
        """A line on stderr, above the bar while one is drawn."""
        with self._lock:
            if self._started and self._bar is not None:
                self._bar.console.print(message, markup=False, highlight=False, soft_wrap=True)
                return
        click.echo(message, err=True)
