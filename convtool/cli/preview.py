"""Pictures in the terminal with rich: image previews and signed kernel grids.

Owns: :class:`ImagePreview` (an image drawn two pixels per character cell with the upper-half
block, foreground = upper pixel, background = lower pixel, in true colour, shrunk to fit the
width), :class:`KernelGrid` (kernel weights as a grid of diverging colours with the values
where they fit), :func:`preview_options` (``--preview`` / ``--force-preview``) and
:func:`preview_values` (what ``filter`` and ``find`` call).

How it degrades: colours are given to rich as 24-bit and rich lowers them to the terminal's
colour system (256 or 8 colours). Without colour (``NO_COLOR`` set, or no colour system, e.g.
``TERM=dumb`` or a pipe) an image becomes a grey character ramp, one character per cell,
denser = brighter, and a kernel grid plain numbers. ``--preview`` draws only when stdout is
a terminal, ``--force-preview`` always.

Imports rich, click and the pure-numpy :mod:`convtool.geometry` and :mod:`convtool.pictures`;
must not import PIL, the group or a command module.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import click
import numpy as np

from .. import geometry, pictures
from .common import on_terminal

if TYPE_CHECKING:  # rich loads when something is drawn: `filter` without a preview skips it
    from rich.console import Console, ConsoleOptions
    from rich.segment import Segment

HALF_BLOCK = "\u2580"  # upper half block: the upper pixel in the foreground colour
GREY_RAMP = " .:-=+*#%@"  # darkest to brightest, for a terminal without colour


def make_console(*, force: bool = False) -> Console:
    """The console previews print on: stdout (tests replace this to record the output)."""
    from rich.console import Console

    return Console(highlight=False, force_terminal=True if force else None)


def preview_options(func: Callable) -> Callable:
    """Add ``--preview`` and ``--force-preview`` to a command; both set its ``preview``
    parameter (``None``, ``"auto"`` or ``"always"``)."""
    func = click.option(
        "--force-preview",
        "preview",
        flag_value="always",
        help="Draw the preview even when stdout is not a terminal (escape codes included).",
    )(func)
    return click.option(
        "--preview",
        "preview",
        flag_value="auto",
        default=None,
        help="Also draw the picture in the terminal (two pixels per character, fitted to the "
        "width); only when stdout is a terminal.",
    )(func)


def preview_values(mode: str | None, values: np.ndarray) -> None:
    """Draw ``values`` (an image in normalized units) on stdout if ``mode`` asks for it:
    ``"auto"`` on a terminal, ``"always"`` anywhere, ``None`` never."""
    if mode is None or (mode == "auto" and not on_terminal()):
        return
    console = make_console(force=mode == "always")
    console.print(ImagePreview(pictures.to_rgb8(values), max_rows=max(8, console.height - 3)))


def fit(shape: tuple[int, int], columns: int, rows: int | None = None) -> tuple[int, int]:
    """``(height, width)`` in pixels to draw an image of ``shape`` in at most ``columns``
    cells across and ``rows`` lines (two pixels each), keeping its proportions; never grown.

    Examples
    --------
    >>> fit((320, 480), 80), fit((320, 480), 80, rows=10), fit((10, 20), 80)
    ((53, 80), (20, 30), (10, 20))
    """
    height, width = shape
    factor = min(1.0, columns / width)
    if rows is not None:
        factor = min(factor, 2 * rows / height)
    return max(1, round(height * factor)), max(1, round(width * factor))


class ImagePreview:
    """A renderable of an 8-bit RGB image ``(H, W, 3)``, fitted to the console's width (or
    ``max_width``) and ``max_rows`` lines; see the module docstring for how it degrades."""

    def __init__(
        self, rgb: np.ndarray, *, max_width: int | None = None, max_rows: int | None = None
    ) -> None:
        self.rgb = np.asarray(rgb, dtype=np.uint8)
        self.max_width = max_width
        self.max_rows = max_rows

    def shrunk(self, columns: int) -> np.ndarray:
        """The image at the size it is drawn with ``columns`` cells across (area average)."""
        if self.max_width is not None:
            columns = min(columns, self.max_width)
        size = fit(self.rgb.shape[:2], max(1, columns), self.max_rows)
        if size == self.rgb.shape[:2]:
            return self.rgb
        small = geometry.resize(self.rgb.astype(np.float32), size)
        return np.clip(np.rint(small), 0, 255).astype(np.uint8)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Segment]:
        image = self.shrunk(options.max_width)
        if console.no_color or console.color_system is None:
            yield from _ramp_lines(image)
        else:
            yield from _block_lines(image)


def _block_lines(image: np.ndarray) -> Iterator[Segment]:
    """Two pixel rows per line: upper-half blocks, upper pixel foreground, lower background."""
    from rich.color import Color
    from rich.segment import Segment
    from rich.style import Style

    height = image.shape[0]
    styles: dict[tuple, Style] = {}
    for top in range(0, height, 2):  # one iteration per line of text
        upper = image[top].tolist()
        lower = image[top + 1].tolist() if top + 1 < height else [None] * len(upper)
        for up, down in zip(upper, lower, strict=True):
            key = (*up, *(down or ()))
            style = styles.get(key)
            if style is None:
                bg = Color.from_rgb(*down) if down is not None else None
                style = styles[key] = Style(color=Color.from_rgb(*up), bgcolor=bg)
            yield Segment(HALF_BLOCK, style)
        yield Segment.line()


def _ramp_lines(image: np.ndarray) -> Iterator[Segment]:
    """One character per cell from :data:`GREY_RAMP` by the cell's mean luma (ITU-R 601)."""
    from rich.segment import Segment

    luma = image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    if luma.shape[0] % 2:
        luma = np.concatenate([luma, luma[-1:]])
    cells = (luma[0::2] + luma[1::2]) / (2 * 255)
    index = np.rint(cells * (len(GREY_RAMP) - 1)).astype(np.intp)
    for row in np.asarray(list(GREY_RAMP))[index]:
        yield Segment("".join(row))
        yield Segment.line()


def _value_text(value: float) -> str:
    text = f"{float(value) + 0.0:.3g}"  # + 0.0 turns -0.0 into 0
    return text.replace("e-0", "e-").replace("e+0", "e")


class KernelGrid:
    """A renderable of a 2-D kernel: one cell per weight, coloured on
    :data:`convtool.pictures.DIVERGING` (negative blue, zero neutral grey, positive red, full
    colour at ``limit``, default the largest magnitude), with the value written in the cell
    where the console is wide enough; without colour, the values (or the signs) only."""

    def __init__(self, weights: np.ndarray, *, limit: float | None = None) -> None:
        self.weights = np.asarray(weights, dtype=np.float64)
        top = float(np.max(np.abs(self.weights))) if self.weights.size else 0.0
        self.limit = top if limit is None else float(limit)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Segment]:
        from rich.segment import Segment

        weights = self.weights
        rows, columns = weights.shape[0], max(1, weights.shape[1])
        if columns > options.max_width:  # one cell per weight would wrap: area-average it
            size = (max(1, round(rows * options.max_width / columns)), options.max_width)
            weights = geometry.resize(weights, size)
            yield Segment(f"(shown shrunk from {columns}x{rows} to {size[1]}x{size[0]} cells)")
            yield Segment.line()
        yield from self._cells(console, options, weights)

    def _cells(
        self, console: Console, options: ConsoleOptions, weights: np.ndarray
    ) -> Iterator[Segment]:
        from rich.color import Color
        from rich.segment import Segment
        from rich.style import Style

        texts = [[_value_text(v) for v in row] for row in weights.tolist()]
        columns = max(1, weights.shape[1])
        widest = max((len(t) for row in texts for t in row), default=1)
        cell = widest + 2
        if cell * columns > options.max_width:
            cell = max(1, min(3, options.max_width // columns))
            texts = [["+" if v > 0 else "-" if v < 0 else "0" for v in row] for row in weights]
        coloured = not (console.no_color or console.color_system is None)
        rgb = pictures.to_rgb8(pictures.signed_colours(weights, limit=self.limit))
        for texts_row, rgb_row in zip(texts, rgb.tolist(), strict=True):
            for text, colour in zip(texts_row, rgb_row, strict=True):
                body = text.rjust(cell - 1) + " " if len(text) < cell else text[:cell]
                if not coloured:
                    yield Segment(body)
                    continue
                luma = 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2]
                ink = Color.from_rgb(*((0, 0, 0) if luma > 140 else (255, 255, 255)))
                yield Segment(body, Style(color=ink, bgcolor=Color.from_rgb(*colour)))
            yield Segment.line()


def kernel_legend(limit: float) -> str:
    """The line under a kernel grid that says how to read its colours.

    Examples
    --------
    >>> kernel_legend(0.5)
    'blue < 0 (full at -0.5), grey = 0, red > 0 (full at 0.5)'
    """
    if not math.isfinite(limit) or limit <= 0:
        return "all weights are 0"
    return f"blue < 0 (full at -{limit:.3g}), grey = 0, red > 0 (full at {limit:.3g})"
