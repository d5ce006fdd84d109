"""Command-line interface: the ``convtool`` group, its entry point and the commands it carries.

The CLI parses options, does image I/O through :mod:`convtool.images` and renders with rich;
nothing here computes pixels. Library errors (``ValueError`` subclasses raised by the core)
become a one-line ``Error: ...`` on stderr and exit status 2.

Layout: :mod:`.common` (usage errors, option types, consoles and streams), :mod:`.output`
(table, TSV, CSV and JSON writers), one module per command (:mod:`.cmd_filter`,
:mod:`.cmd_find`, :mod:`.cmd_kernels`, :mod:`.cmd_params`, :mod:`.cmd_show`), registered here
with ``add_command``; :mod:`.preview` (terminal pictures) and :mod:`.completion` (shell
completion of kernel names). The CLI may import every part of convtool; no part of convtool
imports it.
"""

from __future__ import annotations

import os
import sys

import click

from .cmd_filter import filter_command
from .cmd_find import find_command
from .cmd_kernels import kernels_command
from .cmd_params import params_command
from .cmd_show import show_command
from .common import (
    CONTEXT_SETTINGS,
    FINITE_FLOAT,
    LIBRARY_ERRORS,
    FiniteFloat,
    InputError,
    binary_stdin,
    binary_stdout,
    fail,
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
    "show_command",
    "stderr_console",
    "stdout_console",
    "stdout_is_terminal",
]


@click.group(context_settings=CONTEXT_SETTINGS)
@click.version_option(version(), "--version", prog_name="convtool", message="%(prog)s %(version)s")
def cli() -> None:
    """Image filtering with a vectorized convolution engine.

    Commands: filter (apply kernels), kernels (list named kernels), find (template search),
    params (parameter cost of dense vs convolutional layers), show (draw an image in the
    terminal).

    Example:

        convtool filter samples/waldo-scene.png -k sharpen -o sharp.png
    """


# In the order the original single module declared them: `convtool --help` lists by name anyway.
for _command in (filter_command, kernels_command, find_command, params_command, show_command):
    cli.add_command(_command)
del _command


def main() -> None:
    """Console-script entry point: runs the CLI, ends quietly on a closed pipe."""
    try:
        cli.main(prog_name="convtool")
    except BrokenPipeError:
        # Python docs, "Note on SIGPIPE": point stdout at devnull so the interpreter's final
        # flush does not raise again, and exit non-zero.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(1)
    except MemoryError:
        click.echo("Error: not enough memory for this image and kernel", err=True)
        sys.exit(2)
