"""What every command shares: the usage error, the finite-float option type, consoles and streams.

Library errors (``ValueError`` subclasses raised by the core) become a one-line ``Error: ...`` on
stderr and exit status 2 through :func:`fail`. This module may import the core's error types,
click and rich; it must not import the group or any command module (they import it).
"""

from __future__ import annotations

import io
import os
import sys
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from rich.console import Console

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def version() -> str:
    """The installed convtool version, or ``0+unknown`` in a source tree that is not installed."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as _pkg_version

    try:
        return _pkg_version("convtool")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"


class InputError(click.ClickException):
    """Bad input or usage: printed as ``Error: ...``, exit status 2."""

    exit_code = 2


def fail(message: str) -> InputError:
    return InputError(message.splitlines()[0] if message else "failed")


def stderr_console() -> Console:
    """Rich console on stderr (progress, verbose notes); honours NO_COLOR and non-terminals."""
    from rich.console import Console  # on demand: rich costs ~0.1 s of start-up

    return Console(stderr=True, highlight=False, soft_wrap=True)


def stdout_console() -> Console:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False)


def binary_stdin():
    """The byte stream under stdin (looked up at call time, so CliRunner's stream is used)."""
    return getattr(sys.stdin, "buffer", sys.stdin)


def binary_stdout():
    return getattr(sys.stdout, "buffer", sys.stdout)


class ClosedStream:
    """Stands in for a standard stream the shell closed (``>&-``, ``<&-``): any use is an error.

    Raises :class:`ImageIOError` (a ValueError, as Python's I/O on a closed file), which every
    command reports as one ``Error:`` line.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.buffer = self

    def _closed(self, *args, **kwargs):
        from ..images.info import ImageIOError

        raise ImageIOError(f"{self.name} is closed")

    read = readline = write = fileno = _closed

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


class _WholeWriter(io.RawIOBase):
    """File descriptor writes that finish or raise: a pipe whose reader left raises EPIPE.

    Python's own stdout drops the rest of a write that the pipe took only in part (the reader
    of ``| head`` read a little and left), so a cut-off output would end with status 0.
    """

    def __init__(self, fd: int) -> None:
        super().__init__()
        self._fd = fd

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def isatty(self) -> bool:
        return os.isatty(self._fd)

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        total = len(view)
        while view:
            view = view[os.write(self._fd, view) :]
        return total


def guard_std_streams() -> None:
    """Make stdin and stdout safe for the entry point (not for in-process runs).

    A closed stdin or stdout (``None`` in :mod:`sys`) becomes a :class:`ClosedStream`; an open
    stdout writes whole or raises (:class:`_WholeWriter`).
    """
    if sys.stdin is None:
        sys.stdin = ClosedStream("standard input")
    if sys.stdout is None:
        sys.stdout = ClosedStream("standard output")
        return
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return
    old = sys.stdout
    old.flush()
    sys.stdout = io.TextIOWrapper(
        io.BufferedWriter(_WholeWriter(fd)),
        encoding=old.encoding,
        errors=old.errors,
        line_buffering=old.line_buffering,
    )


def report_error(message: str, *, hint: str | None = None) -> None:
    """The one ``Error: ...`` line on stderr (first line of ``message``), then an optional hint."""
    lines = (message or "failed").strip().splitlines() or ["failed"]
    text = f"Error: {lines[0]}\n" + (f"{hint}\n" if hint else "")
    stream = sys.stderr
    if stream is None:
        return
    try:
        stream.write(text)
        stream.flush()
    except (OSError, ValueError):
        pass


def describe_os_error(exc: OSError) -> str:
    """One line for an OSError that reached the entry point (stdout full, unreadable file...)."""
    reason = exc.strerror or str(exc)
    if exc.filename:
        return f"{exc.filename}: {reason}"
    return f"standard output: cannot write ({reason})"


def flush_stdout() -> None:
    """Flush stdout inside the caller's error handling (a full disk or gone reader shows here)."""
    stream = sys.stdout
    if stream is not None:
        stream.flush()


def stdout_is_terminal() -> bool:
    try:
        return os.isatty(sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):
        return False


def on_terminal() -> bool:
    """Whether stdout is a terminal, asked through ``convtool.cli.stdout_is_terminal``.

    Looked up on the package at call time: that name is the one switch every command reads
    (tests replace it there to see the terminal output).
    """
    return sys.modules[__package__].stdout_is_terminal()


# The largest float32: values the engine computes with in float32 (weights, scale, bias, the
# constant border value) must stay within it, or the output comes out all inf.
FLOAT32_MAX = 3.4028234663852886e38


class FiniteFloat(click.ParamType):
    """A float that is not NaN or infinite (click's FLOAT accepts 'nan' and 'inf'); with
    ``float32=True`` also within float32's range."""

    name = "float"

    def __init__(self, *, float32: bool = False) -> None:
        self.float32 = float32

    def convert(self, value, param, ctx):
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if number != number or number in (float("inf"), float("-inf")):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        if self.float32 and abs(number) > FLOAT32_MAX:
            self.fail(f"{value!r} is beyond float32's range (at most 3.4e38 in size)", param, ctx)
        return number


FINITE_FLOAT = FiniteFloat()
# For values the engine uses in float32: --scale, --bias, --cval.
FLOAT32 = FiniteFloat(float32=True)


def __getattr__(name: str):
    """``LIBRARY_ERRORS`` on first use: it imports the engine and the matcher."""
    if name != "LIBRARY_ERRORS":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from ..engine import EngineError
    from ..images import ImageIOError
    from ..kernels import KernelError
    from ..matching import TemplateError
    from ..params import ParamsError

    # Errors the core raises for bad input; they all derive from ValueError.
    errors = (EngineError, KernelError, ImageIOError, ParamsError, TemplateError)
    globals()["LIBRARY_ERRORS"] = errors
    return errors
