"""Command-line interface: the ``convtool`` group, its entry point and the commands it carries.

The CLI parses options, does image I/O through :mod:`convtool.images` and renders with rich;
nothing here computes pixels. Library errors (``ValueError`` subclasses raised by the core)
become a one-line ``Error: ...`` on stderr and exit status 2.

Layout: :mod:`.common` (usage errors, option types, consoles and streams), :mod:`.output`
(table, TSV, CSV and JSON writers), one module per command (:mod:`.cmd_filter`,
:mod:`.cmd_find`, :mod:`.cmd_kernels`, :mod:`.cmd_params`, :mod:`.cmd_show`, :mod:`.cmd_fit`),
loaded on first use through ``COMMANDS``; :mod:`.preview` (terminal pictures) and
:mod:`.completion` (shell completion of kernel names). The CLI may import every part of
convtool; no part of convtool imports it.
"""

from __future__ import annotations

import errno
import importlib
import os
import sys
import warnings

import click

from .._signals import signal_cause
from ..images.write import Terminated, install_signal_handlers, remove_temps
from . import common
from .common import (
    CONTEXT_SETTINGS,
    FINITE_FLOAT,
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

# Each command, where it lives, and the one line `convtool --help` shows for it. A command's
# module (and what it imports: the engine, the matcher, Pillow, rich) loads only when that
# command runs or its own help is shown, so `convtool --help` needs click alone and
# `convtool params --input 6x6 --kernel 3` starts in less than `import numpy` takes.
# tests/test_cli_help.py checks each summary against the command's docstring.
COMMANDS = {
    "filter": "cmd_filter:filter_command",
    "find": "cmd_find:find_command",
    "kernels": "cmd_kernels:kernels_command",
    "params": "cmd_params:params_command",
    "show": "cmd_show:show_command",
    "fit": "cmd_fit:fit_command",
}
SUMMARIES = {
    "filter": "Filter INPUT (or many: files, directories) with one or more kernels and write "
    "OUTPUT.",
    "find": "Find TEMPLATE in IMAGE (a Where's-Waldo search) and print where it is.",
    "kernels": "List the named kernels, or print the weights of SPEC (a name with parameters, "
    "or a file).",
    "params": "Parameter and MAC cost of fully connected vs convolutional layers.",
    "show": "Draw FILE (any image convtool reads, or '-' for stdin) in the terminal.",
    "fit": "Find the kernel that best turns INPUT into TARGET (linear least squares).",
}


class _LazyGroup(click.Group):
    """A group whose command list in ``--help`` comes from :data:`SUMMARIES` (no imports)."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        # A bare Command per summary shortens it exactly as the real command would.
        rows = [
            (name, click.Command(name, help=SUMMARIES[name]).get_short_help_str(limit))
            for name in names
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _load(ref: str) -> click.Command:
    module, attr = ref.split(":")
    return getattr(importlib.import_module(f".{module}", __name__), attr)


class _LazyCommands(dict):
    """A group's name -> command table whose entries may be ``"module:attr"`` references."""

    def __getitem__(self, name: str) -> click.Command:
        value = super().__getitem__(name)
        if isinstance(value, str):
            value = _load(value)
            super().__setitem__(name, value)
        return value

    def get(self, name, default=None):
        return self[name] if name in self else default

    def values(self):
        return [self[name] for name in self]

    def items(self):
        return [(name, self[name]) for name in self]


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(f"convtool {version()}")
        ctx.exit()


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
    "fit_command",
    "kernels_command",
    "main",
    "params_command",
    "show_command",
    "stderr_console",
    "stdout_console",
    "stdout_is_terminal",
]


@click.group(cls=_LazyGroup, context_settings=CONTEXT_SETTINGS, invoke_without_command=True)
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the version and exit.",
)
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Image filtering with a vectorized convolution engine.

    Commands: filter (apply kernels), kernels (list named kernels), find (template search),
    params (parameter cost of dense vs convolutional layers), show (draw an image in the
    terminal), fit (learn the kernel that turns one image into another).

    Example:

        convtool filter samples/waldo-scene.png -k sharpen -o sharp.png
    """
    if ctx.invoked_subcommand is None:  # bare `convtool`: the help, and success exits 0
        click.echo(ctx.get_help())


cli.commands = _LazyCommands(COMMANDS)


def __getattr__(name: str):
    """``LIBRARY_ERRORS`` and the ``*_command`` objects, loaded on first use."""
    if name == "LIBRARY_ERRORS":
        from . import common

        return common.LIBRARY_ERRORS
    if name.endswith("_command") and name[: -len("_command")] in COMMANDS:
        return cli.commands[name[: -len("_command")]]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    except ValueError as exc:
        # The core's errors are ValueErrors; the tuple is looked up only for one, so that a
        # signal unwinding through here never starts importing the engine.
        if not isinstance(exc, common.LIBRARY_ERRORS):
            raise
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
    except RuntimeError as exc:  # a signal during a lazy import: its exit status (see there)
        cause = signal_cause(exc)
        if cause is None:
            raise
        raise cause from None


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
