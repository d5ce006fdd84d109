"""Command-line interface: the ``convtool`` group, its entry point and the commands it carries.

The CLI parses options, does image I/O through :mod:`convtool.images` and renders with rich;
nothing here computes pixels. Library errors (``ValueError`` subclasses raised by the core)
become a one-line ``Error: ...`` on stderr and exit status 2.

Layout: :mod:`.common` (usage errors, option types, consoles and streams), :mod:`.output`
(table, TSV, CSV and JSON writers), one module per command (:mod:`.cmd_filter`,
:mod:`.cmd_find`, :mod:`.cmd_kernels`, :mod:`.cmd_params`), registered here with
``add_command``. The CLI may import every part of convtool; no part of convtool imports it.
"""

from __future__ import annotations

import errno
import os
import sys
import warnings

import click

from ..images.write import Terminated, install_signal_handlers, remove_temps
from .cmd_filter import filter_command
from .cmd_find import find_command
from .cmd_kernels import kernels_command
from .cmd_params import params_command
from .common import (
    CONTEXT_SETTINGS,
    FINITE_FLOAT,
    LIBRARY_ERRORS,
    FiniteFloat,
    InputError,
    binary_stdin,
    binary_stdout,
    describe_os_error,
    fail,
    flush_stdout,
    guard_std_streams,
    report_error,
    stderr_console,
    stdout_console,
    stdout_is_terminal,
    version,
)

__all__ = [
    "FINITE_FLOAT",
    "LIBRARY_ERRORS",
    "FiniteFloat",
    "InputError",
    "binary_stdin",
    "binary_stdout",
    "cli",
    "fail",
    "filter_command",
    "find_command",
    "kernels_command",
    "main",
    "params_command",
    "stderr_console",
    "stdout_console",
    "stdout_is_terminal",
]


@click.group(context_settings=CONTEXT_SETTINGS)
@click.version_option(version(), "--version", prog_name="convtool", message="%(prog)s %(version)s")
def cli() -> None:
    """Image filtering with a vectorized convolution engine.

    Commands: filter (apply kernels), kernels (list named kernels), find (template search),
    params (parameter cost of dense vs convolutional layers).

    Example:

        convtool filter samples/waldo-scene.png -k sharpen -o sharp.png
    """


# In the order the original single module declared them: `convtool --help` lists by name anyway.
for _command in (filter_command, kernels_command, find_command, params_command):
    cli.add_command(_command)
del _command


def main() -> None:
    """Console-script entry point: every error is one ``Error: ...`` line, signals end quietly.

    Exit status: 0 success, 1 "nothing found" or a reader that left (closed pipe), 2 bad input
    or usage, 130 on SIGINT, ``128 + signum`` on SIGTERM and SIGHUP (the temporary file of an
    output being written is removed first).
    """
    try:
        install_signal_handlers()
        guard_std_streams()
        code = _run(sys.argv[1:])
    except KeyboardInterrupt:
        code = 130
    except Terminated as exc:
        code = 128 + exc.signum
    finally:
        remove_temps()
    if code != 0:
        _drop_stdout()
    sys.exit(code)


def _run(args: list[str]) -> int:
    """Run the group on ``args`` and turn every failure into an exit status (see :func:`main`)."""
    try:
        with warnings.catch_warnings():
            # stderr holds convtool's own lines only: numpy's RuntimeWarnings on extreme values
            # and Pillow's warnings on damaged files say nothing the result or error does not.
            warnings.simplefilter("ignore")
            code = _invoke(args)
        flush_stdout()
        return code
    except BrokenPipeError:
        return 1  # the reader left: quietly, as `head` expects
    except click.exceptions.NoArgsIsHelpError as exc:
        names = ", ".join(sorted(cli.commands))
        report_error(f"missing command (one of {names})", hint=_usage_hint(exc))
        return 2
    except click.UsageError as exc:
        report_error(exc.format_message(), hint=_usage_hint(exc))
        return 2
    except click.ClickException as exc:
        report_error(exc.format_message())
        return exc.exit_code
    except LIBRARY_ERRORS as exc:
        report_error(str(exc))
        return 2
    except OSError as exc:
        if exc.errno == errno.EPIPE:
            return 1
        report_error(describe_os_error(exc))
        return 2
    except MemoryError:
        report_error("not enough memory for this image and kernel")
        return 2
    except RecursionError:
        report_error("input nested too deeply")
        return 2


def _invoke(args: list[str]) -> int:
    """The group's own work, without click's standalone handling (it prints usage blocks)."""
    try:
        with cli.make_context("convtool", args) as ctx:
            cli.invoke(ctx)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    return 0


def _usage_hint(exc: click.UsageError) -> str | None:
    ctx = exc.ctx
    if ctx is None or ctx.command.get_help_option(ctx) is None:
        return None
    names = sorted(ctx.help_option_names, key=len)
    return f"Try '{ctx.command_path} {names[-1]}' for help."


def _drop_stdout() -> None:
    """Point stdout at devnull so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (AttributeError, OSError, ValueError):
        pass
