"""What every command shares: the usage error, the finite-float option type, consoles and streams.

Library errors (``ValueError`` subclasses raised by the core) become a one-line ``Error: ...`` on
stderr and exit status 2 through :func:`fail`. This module may import the core's error types,
click and rich; it must not import the group or any command module (they import it).
"""

from __future__ import annotations

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
    return sys.stdin.buffer


def binary_stdout():
    return sys.stdout.buffer


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


class FiniteFloat(click.ParamType):
    """A float that is not NaN or infinite (click's FLOAT accepts 'nan' and 'inf')."""

    name = "float"

    def convert(self, value, param, ctx):
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if number != number or number in (float("inf"), float("-inf")):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


FINITE_FLOAT = FiniteFloat()


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
