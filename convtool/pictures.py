"""Pictures for people, pure numpy: the inferno colour map, score heatmaps, 8-bit RGB.

Owns: :data:`INFERNO`, :func:`heatmap` (score maps of a search as a colour picture the size
of the image) and :func:`to_rgb8`. Drawing boxes on pictures (PIL) is in
:mod:`convtool.images`.

Must not import: :mod:`convtool.matching` (a heatmap reads any object with the fields of
:class:`ScoreMaps`), the CLI, :mod:`convtool.images`, click, rich, PIL.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

__all__ = ["INFERNO", "ScoreMaps", "heatmap", "to_rgb8"]


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
INFERNO = np.stack(
    [
        np.interp(np.linspace(0, 1, 256), np.linspace(0, 1, 9), _INFERNO_ANCHORS[:, c] / 255)
        for c in range(3)
    ],
    axis=1,
).astype(np.float32)
INFERNO.flags.writeable = False


class ScoreMaps(Protocol):
    """What :func:`heatmap` reads (a :class:`convtool.matching.SearchResult` has it)."""

    method: str
    image_shape: tuple[int, int]
    # (scale, (height, width) of the template as matched, scores, angle) per placement.
    maps: list[tuple[float, tuple[int, int], np.ndarray, float]]


def heatmap(result: ScoreMaps, *, colormap: np.ndarray = INFERNO) -> np.ndarray:
    """Colour picture ``(H, W, 3)`` in [0, 1] of the score maps, the size of the image.

    Each score is drawn at the centre of its window (the best over all scales); pixels no
    window centre reaches are the colormap's lowest colour. zncc is shown on a fixed scale
    (0 or below = darkest, 1 = brightest); ncc from its minimum to its maximum; ssd inverted
    (0 = brightest, the largest difference = darkest).

    Examples
    --------
    >>> from convtool.matching import search
    >>> image = np.zeros((8, 8)); image[2:5, 2:5] = np.eye(3)
    >>> pic = heatmap(search(image, image[2:5, 2:5]))
    >>> pic.shape, bool((pic[3, 3] == INFERNO[-1]).all())
    ((8, 8, 3), True)
    """
    height, width = result.image_shape
    canvas = np.full((height, width), -np.inf)
    for _, (th, tw), scores, _ in result.maps:
        values = np.asarray(scores, dtype=np.float64)
        if result.method == "ssd":
            values = -values
        oy, ox = th // 2, tw // 2
        region = canvas[oy : oy + values.shape[0], ox : ox + values.shape[1]]
        np.maximum(region, values, out=region)
    covered = np.isfinite(canvas)
    if result.method == "zncc":
        unit = np.clip(np.where(covered, canvas, 0.0), 0.0, 1.0)
    else:
        lo, hi = canvas[covered].min(), canvas[covered].max()
        unit = np.where(covered, (canvas - lo) / (hi - lo) if hi > lo else 1.0, 0.0)
    index = np.rint(unit * (len(colormap) - 1)).astype(np.intp)
    return np.asarray(colormap, dtype=np.float32)[index]


def to_rgb8(image: np.ndarray) -> np.ndarray:
    """8-bit RGB ``(H, W, 3)`` of a grey or RGB image in normalized units (clipped to [0, 1]).

    Examples
    --------
    >>> to_rgb8(np.array([[0.0, 0.5, 2.0]]))[0].tolist()
    [[0, 0, 0], [128, 128, 128], [255, 255, 255]]
    """
    arr = np.asarray(image, dtype=np.float64)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    return np.rint(np.clip(arr[:, :, :3], 0.0, 1.0) * 255).astype(np.uint8)
