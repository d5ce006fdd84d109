"""Pictures for people, pure numpy: colour maps, score heatmaps with marked matches, colour bars.

Owns: the colour maps :data:`INFERNO` (scores) and :data:`DIVERGING` (signed weights, zero
neutral), :func:`heatmap` (the score maps of a search as a colour picture the size of the
image, peaks spread so that they survive being looked at, matches outlined),
:func:`colour_bar` and :func:`add_colour_bar` (the score scale as an inset panel),
:func:`best_score` (the best score of the maps and where, for a helpful miss),
:func:`signed_colours` and :func:`to_rgb8`. Text is drawn by :mod:`convtool.images.draw` at
the places given here.

Must not import: :mod:`convtool.matching` (a heatmap reads any object with the fields of
:class:`ScoreMaps`), the CLI, :mod:`convtool.images`, click, rich, PIL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

__all__ = [
    "DIVERGING",
    "INFERNO",
    "MARK_BEST",
    "MARK_OTHER",
    "Best",
    "ScoreMaps",
    "add_colour_bar",
    "bar_labels",
    "best_score",
    "colour_bar",
    "heatmap",
    "outline",
    "peak_radius",
    "signed_colours",
    "spread_peaks",
    "to_rgb8",
]


def _lut(anchors: np.ndarray, size: int) -> np.ndarray:
    """A ``(size, 3)`` lookup table in [0, 1] through evenly spaced 8-bit RGB anchors."""
    at = np.linspace(0, 1, len(anchors))
    ramp = np.linspace(0, 1, size)
    table = np.stack([np.interp(ramp, at, anchors[:, c] / 255) for c in range(3)], axis=1)
    table = table.astype(np.float32)
    table.flags.writeable = False
    return table


# The inferno colormap (matplotlib), sampled at 9 evenly spaced points and interpolated to a
# 256-entry lookup table of RGB values in [0, 1].
_INFERNO_ANCHORS = np.array(
    [
        [0x00, 0x00, 0x04],
        [0x1F, 0x0C, 0x48],
        [0x55, 0x0F, 0x6D],
        [0x88, 0x22, 0x6A],
        [0xBA, 0x36, 0x55],
        [0xE3, 0x59, 0x33],
        [0xF9, 0x8E, 0x09],
        [0xF9, 0xCB, 0x35],
        [0xFC, 0xFF, 0xA4],
    ],
    dtype=np.float64,
)
INFERNO = _lut(_INFERNO_ANCHORS, 256)

# ColorBrewer RdBu reversed (blue negative, light grey zero, red positive), 9 anchors. 257
# entries, so that zero falls exactly on the middle entry, the neutral anchor.
_DIVERGING_ANCHORS = np.array(
    [
        [0x21, 0x66, 0xAC],
        [0x43, 0x93, 0xC3],
        [0x92, 0xC5, 0xDE],
        [0xD1, 0xE5, 0xF0],
        [0xF7, 0xF7, 0xF7],
        [0xFD, 0xDB, 0xC7],
        [0xF4, 0xA5, 0x82],
        [0xD6, 0x60, 0x4D],
        [0xB2, 0x18, 0x2B],
    ],
    dtype=np.float64,
)
DIVERGING = _lut(_DIVERGING_ANCHORS, 257)

# Outline colours of matches on a heatmap: cyan is far from every inferno colour.
MARK_BEST = (0.0, 1.0, 1.0)
MARK_OTHER = (0.35, 0.85, 1.0)


class ScoreMaps(Protocol):
    """What :func:`heatmap` reads (a :class:`convtool.matching.SearchResult` has it)."""

    method: str
    image_shape: tuple[int, int]
    # (scale, (height, width) of the template as matched, scores, angle) per placement.
    maps: list[tuple[float, tuple[int, int], np.ndarray, float]]


class Box(Protocol):
    """A match box (a :class:`convtool.matching.Match` is one)."""

    x: int
    y: int
    width: int
    height: int


def _lower(result: ScoreMaps) -> bool:
    """Whether the lowest score is the best (ssd, ssd-normed; the result says so if it can)."""
    return bool(getattr(result, "lower_is_better", result.method in ("ssd", "ssd-normed")))


def _corner(result: ScoreMaps, th: int, tw: int) -> tuple[int, int]:
    """Where a map's entry [0, 0] sits: the window's centre, unless the map is padded (its
    entries are the image's pixels then)."""
    return (0, 0) if getattr(result, "padded", False) else (th // 2, tw // 2)


def _score_canvas(result: ScoreMaps) -> tuple[np.ndarray, np.ndarray]:
    """``(canvas, covered)``: per image pixel the best score (higher is better: ssd negated)
    of the windows centred there, over all placements; -inf where no window centre falls."""
    height, width = result.image_shape
    canvas = np.full((height, width), -np.inf)
    for _, (th, tw), scores, _ in result.maps:
        values = np.asarray(scores, dtype=np.float64)
        if _lower(result):
            values = -values
        oy, ox = _corner(result, th, tw)
        region = canvas[oy : oy + values.shape[0], ox : ox + values.shape[1]]
        np.maximum(region, values, out=region)
    return canvas, np.isfinite(canvas)


def peak_radius(shape: tuple[int, int]) -> int:
    """How far :func:`heatmap` spreads each score: 0 below 160 pixels, then 1 per 160.

    Examples
    --------
    >>> peak_radius((8, 8)), peak_radius((320, 480)), peak_radius((2000, 3000))
    (0, 3, 18)
    """
    return int(max(shape) // 160)


def spread_peaks(values: np.ndarray, radius: int) -> np.ndarray:
    """Grey dilation: each pixel the maximum of the ``(2r+1)`` square around it.

    A perfect match is one pixel of the score map; spread, it stays visible when the map is
    looked at whole or shrunk. Separable running maxima, one shifted view per offset.

    Examples
    --------
    >>> peak = np.zeros((3, 5)); peak[1, 2] = 1
    >>> spread_peaks(peak, 1).astype(int).tolist()
    [[0, 1, 1, 1, 0], [0, 1, 1, 1, 0], [0, 1, 1, 1, 0]]
    """
    out = np.asarray(values, dtype=np.float64)
    if radius <= 0:
        return out.copy()
    for axis in (0, 1):
        pad = [(0, 0), (0, 0)]
        pad[axis] = (radius, radius)
        padded = np.pad(out, pad, mode="constant", constant_values=-np.inf)
        n = out.shape[axis]
        acc = np.full(out.shape, -np.inf)
        for k in range(2 * radius + 1):  # 2r+1 whole-array passes, not a loop over pixels
            np.maximum(acc, np.take(padded, np.arange(k, k + n), axis=axis), out=acc)
        out = acc
    return out


def outline(
    picture: np.ndarray,
    box: tuple[int, int, int, int],
    colour: tuple[float, float, float],
    thickness: int,
) -> None:
    """Draw the outline of ``box`` ``(x, y, w, h)`` in place, ``thickness`` pixels inwards;
    the parts outside the picture are dropped."""
    height, width = picture.shape[:2]
    x, y, w, h = (int(v) for v in box)
    t = max(1, int(thickness))
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, width), min(y + h, height)
    if x0 >= x1 or y0 >= y1:
        return
    rgb = np.asarray(colour, dtype=picture.dtype)
    picture[y0 : min(y + t, y1), x0:x1] = rgb
    picture[max(y + h - t, y0) : y1, x0:x1] = rgb
    picture[y0:y1, x0 : min(x + t, x1)] = rgb
    picture[y0:y1, max(x + w - t, x0) : x1] = rgb


def heatmap(
    result: ScoreMaps,
    *,
    colormap: np.ndarray = INFERNO,
    matches: list[Box] | tuple[Box, ...] = (),
    spread: int | None = None,
) -> np.ndarray:
    """Colour picture ``(H, W, 3)`` in [0, 1] of the score maps, the size of the image.

    Each score is drawn at the centre of its window (the best over all scales and angles),
    then spread over a square of radius ``spread`` (default :func:`peak_radius`) so that a
    one-pixel peak is not lost at image size. Pixels no window centre reaches are the
    colormap's lowest colour. zncc is shown on a fixed scale (0 or below = darkest, 1 =
    brightest); ncc from its minimum to its maximum; ssd inverted (the smallest difference =
    brightest). Each of ``matches`` (best first) is outlined: the best in :data:`MARK_BEST`,
    twice as thick, the others in :data:`MARK_OTHER`.

    Examples
    --------
    >>> from convtool.matching import search
    >>> image = np.zeros((8, 8)); image[2:5, 2:5] = np.eye(3)
    >>> pic = heatmap(search(image, image[2:5, 2:5]))
    >>> pic.shape, bool((pic[3, 3] == INFERNO[-1]).all())
    ((8, 8, 3), True)
    """
    canvas, covered = _score_canvas(result)
    radius = peak_radius(canvas.shape) if spread is None else int(spread)
    canvas = spread_peaks(canvas, radius)
    covered = np.isfinite(canvas)
    unit = _unit_scores(canvas, covered, result.method)
    index = np.rint(unit * (len(colormap) - 1)).astype(np.intp)
    picture = np.asarray(colormap, dtype=np.float32)[index]
    thickness = max(1, max(canvas.shape) // 320)
    for rank, m in reversed(list(enumerate(matches))):  # the best drawn last, on top
        colour, t = (MARK_BEST, 2 * thickness) if rank == 0 else (MARK_OTHER, thickness)
        outline(picture, (m.x, m.y, m.width, m.height), colour, t)
    return picture


def _unit_scores(canvas: np.ndarray, covered: np.ndarray, method: str) -> np.ndarray:
    """Scores (higher is better) to [0, 1] on the scale :func:`bar_labels` describes."""
    if not covered.any():
        return np.zeros(canvas.shape)
    if method == "zncc":
        return np.clip(np.where(covered, canvas, 0.0), 0.0, 1.0)
    lo, hi = canvas[covered].min(), canvas[covered].max()
    if hi <= lo:
        return np.where(covered, 1.0, 0.0)
    return np.where(covered, (canvas - lo) / (hi - lo), 0.0)


def bar_labels(result: ScoreMaps) -> tuple[str, str, str]:
    """``(title, top, bottom)`` texts of the colour bar: the method and its direction, the
    score at the bright end (the best) and at the dark end.

    Examples
    --------
    >>> class R: method, image_shape, maps = "zncc", (2, 2), [(1.0, (1, 1), np.zeros((2, 2)), 0.0)]
    >>> bar_labels(R())
    ('zncc, higher is better', '1.00 best', '<= 0.00')
    """
    canvas, covered = _score_canvas(result)
    if result.method == "zncc":
        return "zncc, higher is better", "1.00 best", "<= 0.00"
    values = canvas[covered] if covered.any() else np.zeros(1)
    if _lower(result):
        # Rounded to 6 decimals first: a perfect copy's rounding noise (1e-16) reads as 0.
        best, worst = round(-values.max(), 6) + 0.0, round(-values.min(), 6) + 0.0
        return f"{result.method}, lower is better", f"{best:.4g} best", f"{worst:.4g}"
    return f"{result.method}, higher is better", f"{values.max():.3f} best", f"{values.min():.3f}"


def colour_bar(height: int, width: int, *, colormap: np.ndarray = INFERNO) -> np.ndarray:
    """A vertical colour bar ``(height, width, 3)``: the colormap's top entry at the top row,
    its bottom entry at the bottom row.

    Examples
    --------
    >>> bar = colour_bar(5, 2)
    >>> bool((bar[0, 0] == INFERNO[-1]).all() and (bar[-1, 1] == INFERNO[0]).all())
    True
    """
    index = np.rint(np.linspace(len(colormap) - 1, 0, max(1, height))).astype(np.intp)
    column = np.asarray(colormap, dtype=np.float32)[index]
    return np.repeat(column[:, None, :], max(1, width), axis=1)


@dataclass(frozen=True)
class BarPanel:
    """Where :func:`add_colour_bar` put the panel, the bar and the three labels' top-left
    corners (title, top value, bottom value), in picture pixels."""

    panel: tuple[int, int, int, int]  # x, y, w, h
    bar: tuple[int, int, int, int]
    labels: tuple[tuple[int, int], tuple[int, int], tuple[int, int]]


def add_colour_bar(
    picture: np.ndarray,
    *,
    text_size: tuple[int, int],
    title_width: int,
    colormap: np.ndarray = INFERNO,
    avoid: list[Box] | tuple[Box, ...] = (),
) -> BarPanel | None:
    """Draw a colour bar panel into a corner of ``picture`` (in place); where to write text.

    The panel is dark grey, holds a title line (``title_width`` pixels wide) and a bar with
    room right of it for value labels of ``text_size`` ``(w, h)``. It goes in the first corner
    (top-right, top-left, bottom-right, bottom-left) that covers none of ``avoid``. Returns
    ``None`` (nothing drawn) when the panel would take more than half the picture's width or
    height.
    """
    height, width = picture.shape[:2]
    text_w, text_h = (int(v) for v in text_size)
    pad, bar_w = 4, max(8, text_h)
    bar_h = max(3 * text_h, min(height // 3, 12 * text_h))
    panel_w = max(2 * pad + bar_w + 4 + text_w, 2 * pad + int(title_width))
    panel_h = 2 * pad + text_h + 3 + bar_h
    if panel_w * 2 > width or panel_h * 2 > height:
        return None
    corners = [
        (width - panel_w, 0),
        (0, 0),
        (width - panel_w, height - panel_h),
        (0, height - panel_h),
    ]
    px, py = corners[0]
    for cx, cy in corners:
        if not any(_overlaps((cx, cy, panel_w, panel_h), _box(b)) for b in avoid):
            px, py = cx, cy
            break
    picture[py : py + panel_h, px : px + panel_w] = 0.15
    bx, by = px + pad, py + pad + text_h + 3
    picture[by : by + bar_h, bx : bx + bar_w] = colour_bar(bar_h, bar_w, colormap=colormap)
    lx = bx + bar_w + 4
    return BarPanel(
        panel=(px, py, panel_w, panel_h),
        bar=(bx, by, bar_w, bar_h),
        labels=((px + pad, py + pad), (lx, by), (lx, by + bar_h - text_h)),
    )


def _box(b: Box) -> tuple[int, int, int, int]:
    return int(b.x), int(b.y), int(b.width), int(b.height)


def _overlaps(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


@dataclass(frozen=True)
class Best:
    """The best score over all placements of a search, and where: the window's top-left
    corner ``(x, y)`` in image pixels, the template's scale and angle."""

    score: float
    x: int
    y: int
    scale: float
    angle: float


def best_score(result: ScoreMaps) -> Best | None:
    """The best score of ``result``'s maps (highest; lowest for ssd), ``None`` without maps.

    A search that kept no maps (a large image in bands) lists each placement's best in
    ``result.best`` as ``(score, x, y, scale, angle)``; those count too.

    Ties go to the first placement, then the first position in reading order.

    Examples
    --------
    >>> class R: method, image_shape = "zncc", (3, 3)
    >>> R.maps = [(1.0, (2, 2), np.array([[0.1, 0.7], [0.2, 0.3]]), 0.0)]
    >>> best_score(R())
    Best(score=0.7, x=1, y=0, scale=1.0, angle=0.0)
    """
    best: Best | None = None
    lower = _lower(result)
    for score, x, y, scale, angle in getattr(result, "best", ()):  # a search without maps
        if best is None or (score < best.score if lower else score > best.score):
            best = Best(float(score), int(x), int(y), float(scale), float(angle))
    for scale, (th, tw), scores, angle in result.maps:
        values = np.asarray(scores, dtype=np.float64)
        if values.size == 0:
            continue
        flat = int(np.argmin(values) if lower else np.argmax(values))
        y, x = np.unravel_index(flat, values.shape)
        score = float(values[y, x])
        if best is None or (score < best.score if lower else score > best.score):
            # the box's top-left corner, as matches report it (padded maps: less half the box)
            dy, dx = (th // 2, tw // 2) if getattr(result, "padded", False) else (0, 0)
            best = Best(score, int(x) - dx, int(y) - dy, float(scale), float(angle))
    return best


def signed_colours(values: np.ndarray, *, limit: float | None = None) -> np.ndarray:
    """RGB in [0, 1] of signed values on :data:`DIVERGING`: ``-limit`` blue, 0 the neutral
    middle entry exactly, ``+limit`` red (default ``limit``: the largest magnitude).

    Examples
    --------
    >>> rgb = signed_colours(np.array([-2.0, 0.0, 2.0]))
    >>> bool((rgb[1] == DIVERGING[128]).all()), bool(rgb[0, 2] > rgb[0, 0] < rgb[2, 0])
    (True, True)
    """
    arr = np.asarray(values, dtype=np.float64)
    top = float(np.max(np.abs(arr))) if limit is None and arr.size else float(limit or 0.0)
    unit = np.clip(arr / top, -1.0, 1.0) if top > 0 else np.zeros(arr.shape)
    half = (len(DIVERGING) - 1) // 2
    index = half + np.rint(unit * half).astype(np.intp)
    return DIVERGING[index]


def to_rgb8(image: np.ndarray) -> np.ndarray:
    """8-bit RGB ``(H, W, 3)`` of a grey or RGB image in normalized units (clipped to [0, 1]).

    A second channel (grey + alpha) or a fourth (RGB + alpha) is dropped.

    Examples
    --------
    >>> to_rgb8(np.array([[0.0, 0.5, 2.0]]))[0].tolist()
    [[0, 0, 0], [128, 128, 128], [255, 255, 255]]
    """
    arr = np.asarray(image, dtype=np.float64)
    if arr.ndim == 3 and arr.shape[2] in (1, 2):
        arr = arr[:, :, 0]
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    return np.rint(np.clip(arr[:, :, :3], 0.0, 1.0) * 255).astype(np.uint8)
