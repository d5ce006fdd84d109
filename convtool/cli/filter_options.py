"""Options of ``convtool filter`` added for everyday habits: ``--depth``, ``--in-place``, the
``--values`` type with ``stretch[:P]``, conversions without ``-k`` and checks done before work.

Owns: :data:`VALUES`, :func:`habit_options`, :func:`conversion_steps`, :func:`check_cval`,
:func:`check_not_input`, :func:`check_stdin`. Must not import the group or another command.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

import click
import numpy as np

from ..levels import DEFAULT_STRETCH, parse_stretch
from .common import fail

VALUE_MAPPINGS = ("clip", "abs", "rescale", "stretch")
DEPTH_CHOICES = ("8", "16", "float")


class ValuesType(click.ParamType):
    """``clip``, ``abs``, ``rescale`` or ``stretch[:P]`` (case-insensitive); ``choices`` lists
    the names as click.Choice does (tests compare them with the README)."""

    name = "mapping"
    choices = VALUE_MAPPINGS

    def get_metavar(self, param, ctx=None) -> str:  # click 8.1 and 8.2 signatures
        return "[clip|abs|rescale|stretch[:P]]"

    def convert(self, value, param, ctx):
        text = str(value).strip().lower()
        if text in VALUE_MAPPINGS:
            return text
        try:
            if parse_stretch(text) is not None:
                return text
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
        self.fail(f"{value!r} is not one of clip, abs, rescale, stretch or stretch:P", param, ctx)


VALUES = ValuesType()


def habit_options(command: Callable) -> Callable:
    """``--depth`` and ``--in-place`` (in help order, after ``--values``)."""
    options = [
        click.option(
            "--depth",
            type=click.Choice(DEPTH_CHOICES, case_sensitive=False),
            default=None,
            help="Stored depth of the output: 8, 16 (PNG, TIFF, .npy) or float (the raw "
            "results: signed, unclipped, in normalized units; .npy and one-channel TIFF). "
            "Default: the input's depth where the format holds it (an 8-bit PNG gives uint8 "
            "in PNG, TIFF and .npy too; float input stays float in .npy and one-channel TIFF).",
        ),
        click.option(
            "--in-place",
            is_flag=True,
            help="Allow the output to be an input (same file, links followed), replacing it "
            "atomically. Without it such a run is refused before any work.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def conversion_steps() -> list:
    """The chain of a run without ``-k``: one 1x1 identity tap, so the image goes through the
    same reading, depth, frame and alpha handling as any filter and comes out unchanged."""
    from ..kernels import Kernel

    weights = np.ones((1, 1))
    weights.flags.writeable = False
    return [Kernel("convert", weights)]


def check_cval(border: str) -> None:
    """``--cval`` given with a border that has no use for it: an error, not silence."""
    ctx = click.get_current_context()
    given = ctx.get_parameter_source("cval") not in (
        click.core.ParameterSource.DEFAULT,
        click.core.ParameterSource.DEFAULT_MAP,
    )
    if given and border.lower() != "constant":
        raise fail(
            f"--cval is the fill value of --border constant; --border {border.lower()} ignores "
            "it (add --border constant)"
        )


def check_not_input(output: str, inputs: tuple[str, ...], in_place: bool) -> None:
    """Refuse, before any work, an output that is one of the inputs (unless ``--in-place``)."""
    from ..samefile import input_overwritten, same_file_message

    if in_place:
        return
    hit = input_overwritten(output, inputs)
    if hit is not None:
        raise fail(same_file_message(output, hit))


def stdin_is_terminal() -> bool:
    """Whether standard input is a terminal (nothing is piped in)."""
    try:
        return os.isatty(sys.stdin.fileno())
    except (AttributeError, OSError, ValueError):
        return False


def check_stdin(inputs: tuple[str, ...]) -> None:
    """``filter -`` with nothing piped in would wait silently: say so instead."""
    if "-" in inputs and stdin_is_terminal():
        raise fail(
            "'-' reads an image from standard input, which is a terminal here; pipe one in "
            "(cat in.png | convtool filter - ...) or name a file"
        )


__all__ = [
    "DEFAULT_STRETCH",
    "DEPTH_CHOICES",
    "VALUES",
    "VALUE_MAPPINGS",
    "check_cval",
    "check_not_input",
    "check_stdin",
    "conversion_steps",
    "habit_options",
]
