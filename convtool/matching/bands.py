"""Search of a large image in bands of rows: the memory of a band, whatever the image's size.

Owns: :func:`band_rows` (whether an image is searched in bands, and how many rows each) and
:func:`search_bands` (the score rows of each band, their peaks merged across bands).

A band of output rows ``[r0, r1)`` is scored from image rows ``[r0 - 1, r1 + h_max)``: one row
of context on each side, so that the 3x3 local-maximum test and the sub-pixel parabola see the
same neighbours as on the whole map. Its candidates (local maxima passing the threshold) are
kept with their sub-pixel positions and each band's best score; the maps themselves are kept
only when asked (``keep_maps``, for a heatmap: then one map per placement of the image's size,
in the scores' dtype). An integer image is converted to float one band at a time
(``image_scale`` times its values), so an 8-bit scene is never held as floats whole.

Must not import: the CLI, :mod:`convtool.images`, click, rich, PIL.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .inputs import RAW_SUMS, TemplateError, lower_is_better
from .peaks import _candidates, subpixel_peak
from .prepared import _Prepared
from .scoring import _score_map

# About the working memory of one band (image rows as floats, running sums, spectra, maps).
BAND_BYTES = 96 << 20
# Images whose whole-image working memory would pass this are searched in bands.
WHOLE_BYTES = 1 << 30


def _pixel_bytes(channels: int, itemsize: int, masked: bool) -> int:
    """Working bytes per image pixel of one search: float image, float64 running sums (C+1
    planes), channel spectra, the cross spectrum, the map and scratch; masked placements keep
    four float64 spectra per channel besides."""
    plain = 2 * channels * itemsize + (channels + 1) * 8 + 2 * itemsize + 16
    return plain + (48 * channels if masked else 0)


def band_rows(
    shape: tuple[int, int, int], h_max: int, itemsize: int, *, masked: bool = False
) -> int | None:
    """Output rows per band for an image of ``shape`` ``(H, W, C)``, or None: whole.

    In bands only when the whole image's working memory would pass :data:`WHOLE_BYTES`;
    a band is then :data:`BAND_BYTES` of rows, and at least four template heights.

    Examples
    --------
    >>> band_rows((1080, 1920, 3), 64, 4) is None
    True
    >>> band_rows((8000, 8000, 3), 64, 4)
    256
    """
    height, width, channels = shape
    per_row = width * _pixel_bytes(channels, itemsize, masked)
    if height * per_row <= WHOLE_BYTES:
        return None
    rows = max(4 * h_max, BAND_BYTES // per_row)
    return None if rows + h_max + 2 >= height else int(rows)


@dataclass
class Placement:
    """One template to score: its scale and angle, the float64 template and its weights."""

    scale: float
    angle: float
    tpl: np.ndarray
    mask: np.ndarray | None

    @property
    def weight(self) -> float:
        """The per-pixel divisor of the raw sums: pixels x channels (mask-weighted)."""
        if self.mask is None:
            return float(self.tpl.size)
        return float(np.sum(np.broadcast_to(self.mask * self.mask, self.tpl.shape)))


@dataclass
class BandResult:
    """What :func:`search_bands` found: candidates as ``_gather`` gives them, and more."""

    boxes: np.ndarray  # (N, 6): x, y, w, h, scale, angle
    values: np.ndarray  # (N,)
    subpixel: dict[tuple[int, int, float, float], tuple[float, float]]
    best: list[tuple[float, int, int, float, float]]  # (score, x, y, scale, angle) each
    maps: list[tuple[float, tuple[int, int], np.ndarray, float]]


def search_bands(
    image: np.ndarray,
    placements: Sequence[Placement],
    *,
    method: str,
    dtype: np.dtype,
    rows: int,
    threshold: float,
    top: int,
    keep_maps: bool,
    image_scale: float = 1.0,
    progress: Callable[[int, int], None] | None = None,
) -> BandResult:
    """Score ``placements`` on ``image`` ``(H, W, C)`` band by band and merge their peaks.

    Parameters
    ----------
    image : ndarray, shape (H, W, C)
        Any real dtype; each band is converted to ``dtype`` and multiplied by ``image_scale``.
    placements : sequence of Placement
        The templates (float64) and weights to score, each no taller than the image.
    method, dtype : str, numpy.dtype
        The method (checked) and the dtype of the computation and of kept maps.
    rows : int
        Output rows per band (:func:`band_rows`).
    threshold, top : float, int
        As :func:`convtool.matching.peaks._gather` (``top`` sets the candidate limit).
    keep_maps : bool
        Keep each placement's whole map (for a heatmap).
    image_scale : float
        Factor for the image's values.
    progress : callable, optional
        ``progress(done, total)`` in placements, updated per band.

    Returns
    -------
    BandResult
        The candidates of each placement are those of ``_gather`` on its whole map (the same
        local maxima, the same ``limit`` best per placement).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> image = rng.random((60, 40, 1)).astype(np.float32)
    >>> p = Placement(1.0, 0.0, image[30:36, 10:18].astype(np.float64), None)
    >>> found = search_bands(image, [p], method="zncc", dtype=np.dtype(np.float32), rows=16,
    ...                      threshold=0.9, top=1, keep_maps=False)
    >>> found.boxes[0, :2].tolist(), found.best[0][1:3]
    ([10.0, 30.0], (10, 30))
    """
    height = image.shape[0]
    fitting = [p for p in placements if p.tpl.shape[0] <= height]
    h_min = min(p.tpl.shape[0] for p in fitting)
    h_max = max(p.tpl.shape[0] for p in fitting)
    last = height - h_min + 1  # rows of the tallest map
    higher = not lower_is_better(method)
    limit = max(1000, 50 * int(top))
    found: list[list[tuple[np.ndarray, ...]]] = [[] for _ in fitting]
    best: list[tuple[float, int, int] | None] = [None] * len(fitting)
    maps = [
        np.empty((height - p.tpl.shape[0] + 1, image.shape[1] - p.tpl.shape[1] + 1), dtype)
        for p in fitting
    ] if keep_maps else []  # fmt: skip
    starts = list(range(0, last, rows))
    for k, r0 in enumerate(starts):
        if progress is not None:
            progress(k * len(placements) // len(starts), len(placements))
        r1 = min(last, r0 + rows)
        a, b = max(0, r0 - 1), min(height, r1 + h_max)
        band = _band(image, a, b, dtype, image_scale)
        prepared = _Prepared(band, dtype)
        for i, p in enumerate(fitting):
            out_h = height - p.tpl.shape[0] + 1
            if r0 >= out_h:
                continue
            scores = _score_map(prepared, p.tpl, p.mask, method)  # rows a .. b - h
            if method in RAW_SUMS:
                scores = scores / p.weight
            scores = scores.astype(dtype, copy=False)
            y_lo, y_hi = max(0, r0 - 1), min(r1 + 1, out_h)
            ctx = scores[y_lo - a : y_hi - a]  # rows r0 .. r1 - 1 and one of context each side
            own = ctx[r0 - y_lo : min(r1, out_h) - y_lo]
            if keep_maps:
                maps[i][r0 : r0 + own.shape[0]] = own
            best[i] = _better(best[i], own, r0, higher)
            values, ys, xs = _candidates(ctx, threshold=threshold, higher=higher, limit=limit)
            ys = ys + y_lo
            inside = (ys >= r0) & (ys < r1)
            values, ys, xs = values[inside], ys[inside], xs[inside]
            sub = np.array([subpixel_peak(ctx, x, y - y_lo) for y, x in zip(ys, xs, strict=True)])
            sub = sub.reshape(-1, 2)
            found[i].append((values, ys, xs, sub[:, 0], sub[:, 1] + y_lo))
    if progress is not None:
        progress(len(placements), len(placements))
    return _merge(fitting, found, best, maps, higher, limit)


def _band(image: np.ndarray, a: int, b: int, dtype: np.dtype, scale: float) -> np.ndarray:
    """Rows ``a:b`` of ``image`` as ``dtype`` times ``scale`` (a new array), checked finite."""
    band = image[a:b].astype(dtype)
    if scale != 1.0:
        band *= dtype.type(scale)
    if band.dtype.kind == "f" and not np.isfinite(band).all():
        raise TemplateError("image holds NaN or infinite values")
    return band


def _better(current, own: np.ndarray, r0: int, higher: bool):
    """The best ``(score, y, x)`` of ``current`` and the rows ``own`` (starting at ``r0``):
    the first in reading order on ties, as on the whole map."""
    if own.size == 0:
        return current
    flat = int(np.argmax(own) if higher else np.argmin(own))
    y, x = divmod(flat, own.shape[1])
    score = float(own[y, x])
    if current is None or (score > current[0] if higher else score < current[0]):
        return (score, r0 + y, x)
    return current


def _merge(fitting, found, best, maps, higher: bool, limit: int) -> BandResult:
    """One candidate list from the bands' (the ``limit`` best of each placement)."""
    rows, vals, subpixel, bests, kept_maps = [], [], {}, [], []
    for i, p in enumerate(fitting):
        h, w = p.tpl.shape[:2]
        values, ys, xs, fx, fy = (np.concatenate(parts) for parts in zip(*found[i], strict=True))
        key = -values if higher else values
        if values.size > limit:
            order = np.lexsort((xs, ys, key))[:limit]
            values, ys, xs, fx, fy = values[order], ys[order], xs[order], fx[order], fy[order]
        box = np.empty((values.size, 6))
        box[:, 0], box[:, 1], box[:, 2], box[:, 3] = xs, ys, w, h
        box[:, 4], box[:, 5] = p.scale, p.angle
        rows.append(box)
        vals.append(values)
        for x, y, sx, sy in zip(xs.tolist(), ys.tolist(), fx.tolist(), fy.tolist(), strict=True):
            subpixel[x, y, p.scale, p.angle] = (sx, sy)
        if best[i] is not None:
            score, y, x = best[i]
            bests.append((score, x, y, p.scale, p.angle))
        if maps:
            kept_maps.append((p.scale, (h, w), maps[i], p.angle))
    return BandResult(np.concatenate(rows), np.concatenate(vals), subpixel, bests, kept_maps)
