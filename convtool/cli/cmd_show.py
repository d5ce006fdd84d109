"""``convtool show``: draw any image convtool reads in the terminal.

Reads FILE through :mod:`convtool.images` and draws it with :mod:`.preview`. Must not import
the group or another command.
"""

from __future__ import annotations

import click
import numpy as np

from .. import pictures
from ..images.reduced import read_reduced
from . import preview
from .common import LIBRARY_ERRORS, binary_stdin, fail, stderr_console
from .preview import ImagePreview


def _displayable(values: np.ndarray, depth: str) -> tuple[np.ndarray, str | None]:
    """Values in [0, 1] to draw, and a note when a float image had to be rescaled."""
    finite = values[np.isfinite(values)]
    if depth != "float" or finite.size == 0:
        return values, None
    lo, hi = float(finite.min()), float(finite.max())
    if lo >= 0.0 and hi <= 1.0:
        return values, None
    span = hi - lo if hi > lo else 1.0
    shown = np.nan_to_num((values - lo) / span, nan=0.0, posinf=1.0, neginf=0.0)
    return shown, f"float values {lo:.4g}..{hi:.4g} shown rescaled to black..white"


@click.command(name="show")
@click.argument("path", metavar="FILE", type=click.Path(allow_dash=True))
@click.option(
    "--width",
    type=click.IntRange(min=1),
    default=None,
    help="Draw at most this many characters wide (default: the terminal's width).",
)
def show_command(path: str, width: int | None) -> None:
    """Draw FILE (any image convtool reads, or '-' for stdin) in the terminal.

    Two pixels per character cell (upper-half blocks) in true colour, shrunk to the terminal
    width and height; rich lowers the colours on 256- and 8-colour terminals. Without colour
    (NO_COLOR set, TERM=dumb, or stdout not a terminal) it prints a grey character ramp, one
    character per cell, denser = brighter. Alpha is ignored; float images outside [0, 1] are
    rescaled.

    Example:

        convtool show samples/waldo-scene.png

        convtool filter photo.png -k sobel-x --values abs -o - | convtool show -
    """
    console = preview.make_console()  # looked up at call time: tests record it
    rows = max(8, console.height - 3) if console.is_terminal else None
    try:  # a huge file is decoded reduced to what the terminal shows (two pixels per cell)
        columns = min(width or console.width, console.width)
        values, info, (height, full_width) = read_reduced(
            path, columns, None if rows is None else 2 * rows, stdin=binary_stdin()
        )
    except LIBRARY_ERRORS as exc:
        raise fail(str(exc)) from None
    if info.alpha:
        values = values[:, :, :-1]
    values, note = _displayable(np.asarray(values, dtype=np.float64), info.depth)
    console.print(ImagePreview(pictures.to_rgb8(values), max_width=width, max_rows=rows))
    err = stderr_console()
    channels = 1 if values.ndim == 2 else values.shape[2]
    depth = "float" if info.depth == "float" else f"{info.depth}-bit"
    err.print(f"{path}: {full_width}x{height}, {channels} channel(s), {depth}")
    for line in [*info.notes, *([note] if note else [])]:
        err.print(f"note: {line}")
