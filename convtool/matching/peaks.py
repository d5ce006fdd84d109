"""Peaks of score maps: local maxima, candidates, non-maximum suppression, sub-pixel positions.

Owns: :class:`Match`, :func:`find_matches`, :func:`subpixel_peak` and the steps they share
with :func:`convtool.matching.search` (``_gather``, ``_select``).

Must not import: the CLI, :mod:`convtool.images`, click, rich, PIL, and neither
:mod:`.scoring` nor :mod:`.search` (it works on any score map).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .inputs import DEFAULT_THRESHOLDS, TemplateError, _check_method, lower_is_better


@dataclass(frozen=True)
class Match:
    """One found instance: box ``(x, y, width, height)`` in image pixels, score, scale, angle."""

    x: int
    y: int
    width: int
    height: int
    score: float
    scale: float = 1.0
    angle: float = 0.0  # degrees counter-clockwise the template was turned (search angles)
    # Sub-pixel position of the box's top-left corner (see refine_matches), when refined.
    x_subpixel: float | None = None
    y_subpixel: float | None = None

    def as_dict(
        self, *, with_scale: bool = False, with_angle: bool = False
    ) -> dict[str, float | int]:
        """JSON-ready mapping (``scale``/``angle`` when asked for, sub-pixel keys when refined).

        Examples
        --------
        >>> Match(3, 4, 10, 12, 0.987654).as_dict()
        {'x': 3, 'y': 4, 'width': 10, 'height': 12, 'score': 0.987654}
        >>> Match(3, 4, 10, 12, 0.5, x_subpixel=3.25, y_subpixel=3.9).as_dict()["x_subpixel"]
        3.25
        """
        out: dict[str, float | int] = {
            "x": self.x,
            "y": self.y,
            "width": self.width,
            "height": self.height,
            "score": round(float(self.score), 6),
        }
        if with_scale:
            out["scale"] = self.scale
        if with_angle:
            out["angle"] = self.angle
        if self.x_subpixel is not None and self.y_subpixel is not None:
            out["x_subpixel"] = round(self.x_subpixel, 3)
            out["y_subpixel"] = round(self.y_subpixel, 3)
        return out


def _parabola_offset(before: float, centre: float, after: float) -> float:
    # Vertex of the parabola through (-1, before), (0, centre), (1, after); an edge that is
    # not curved like an extremum moves the vertex out of the pixel, hence the clip.
    curvature = before - 2.0 * centre + after
    if not np.isfinite(curvature) or curvature == 0:
        return 0.0
    return float(np.clip(0.5 * (before - after) / curvature, -0.5, 0.5))


def subpixel_peak(scores: np.ndarray, x: int, y: int) -> tuple[float, float]:
    """Refine the extremum at ``(x, y)`` of a score map with a 3-point parabola per axis.

    An axis where ``(x, y)`` sits on the map's edge keeps its whole-pixel position.

    Examples
    --------
    >>> row = np.array([[0.2, 0.8, 1.0, 0.6]])  # p(t) = -0.3 t^2 - 0.1 t + 1 peaks at t = -1/6
    >>> subpixel_peak(row, 2, 0)
    (1.8333333333333333, 0.0)
    """
    height, width = scores.shape
    fx, fy = float(x), float(y)

    def at(yy: int, xx: int) -> float:
        return float(scores[yy, xx])  # float64 arithmetic whatever the map's dtype

    if 0 < x < width - 1:
        fx += _parabola_offset(at(y, x - 1), at(y, x), at(y, x + 1))
    if 0 < y < height - 1:
        fy += _parabola_offset(at(y - 1, x), at(y, x), at(y + 1, x))
    return fx, fy


def _local_maxima(scores: np.ndarray) -> np.ndarray:
    """Boolean map of the points that are >= their 8 neighbours (a 3x3 max filter).

    Points beyond the map count as ``-inf``; a NaN neighbour (or centre) fails the test.
    Computed in the map's own dtype (comparisons are exact in any float dtype) and in row
    strips, so that the temporaries stay small.
    """
    height = scores.shape[0]
    keep = np.empty(scores.shape, dtype=bool)
    step = max(1, (1 << 18) // max(1, scores.shape[1]))
    for y0 in range(0, height, step):
        y1 = min(height, y0 + step)
        part = scores[max(0, y0 - 1) : y1 + 1]
        padded = np.full((y1 - y0 + 2, scores.shape[1] + 2), -np.inf, dtype=scores.dtype)
        top = 1 if y0 == 0 else 0
        padded[top : top + part.shape[0], 1:-1] = part
        rows = np.maximum(np.maximum(padded[:-2], padded[1:-1]), padded[2:])
        neighbourhood = np.maximum(np.maximum(rows[:, :-2], rows[:, 1:-1]), rows[:, 2:])
        np.greater_equal(scores[y0:y1], neighbourhood, out=keep[y0:y1])
    return keep


def _exact_threshold(dtype: np.dtype, threshold: float, higher: bool) -> np.generic:
    """``t`` of ``dtype`` such that ``x >= t`` (``x <= t`` when lower is better) holds for
    exactly the ``x`` of ``dtype`` with ``float(x) >= threshold`` (``<=``): the threshold
    rounded up (down) to the map's dtype, so a float32 map needs no float64 copy."""
    with np.errstate(over="ignore"):
        t = dtype.type(threshold)
    if higher and float(t) < threshold:
        t = np.nextafter(t, dtype.type(np.inf))
    elif not higher and float(t) > threshold:
        t = np.nextafter(t, dtype.type(-np.inf))
    return t


# Above this share of the map passing the threshold, the whole-map 3x3 test is cheaper than
# checking each passing point's 8 neighbours (8 gathers per point).
_DENSE_SHARE = 1 / 16


def _passing_points(
    scores: np.ndarray, t: np.generic, higher: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Row-major ``(ys, xs)`` of the points at or past ``t`` (a value of the map's dtype).

    A per-row maximum (minimum) first: one read of the map, no full-size temporaries; only
    the rows that reach ``t`` (or hold a NaN, which the reduction propagates) are compared.
    """
    width = scores.shape[1]
    best = scores.max(axis=1) if higher else scores.min(axis=1)
    rows = np.flatnonzero(~(best < t) if higher else ~(best > t))
    if rows.size > scores.shape[0] // 4:
        passing = scores >= t if higher else scores <= t
        # flatnonzero and divmod: 2-D np.nonzero took 60 ms on a 4K map, flatnonzero 0.7 ms.
        return np.divmod(np.flatnonzero(passing), width)
    part = scores[rows]
    index = np.flatnonzero(part >= t if higher else part <= t)
    return rows[index // width], index % width


def _passing_maxima(
    scores: np.ndarray, threshold: float, higher: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Row-major ``(ys, xs)`` of the 3x3 local maxima (the best-side extrema) that pass
    ``threshold``: the points of ``_local_maxima(work) & (work >= threshold)`` with ``work``
    the map (negated when lower is better), without a full-map maximum filter.

    Only the points that pass the threshold (usually few) get their 8 neighbours checked;
    a neighbour beyond the map is replaced by the clipped position, which is the point
    itself or another of its neighbours, so it never decides the test (as ``-inf`` padding).
    """
    t = _exact_threshold(scores.dtype, threshold, higher)
    height, width = scores.shape
    ys, xs = _passing_points(scores, t, higher)
    count = ys.size
    if count > _DENSE_SHARE * scores.size:
        passing = scores >= t if higher else scores <= t
        local = _local_maxima(scores if higher else -scores)
        return np.divmod(np.flatnonzero(np.logical_and(passing, local, out=passing)), width)
    if not count:
        return ys, xs
    values = scores[ys, xs]
    ok = np.ones(count, dtype=bool)
    better = np.greater_equal if higher else np.less_equal
    rows = {dy: np.clip(ys + dy, 0, height - 1) for dy in (-1, 0, 1)}
    cols = {dx: np.clip(xs + dx, 0, width - 1) for dx in (-1, 0, 1)}
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy or dx:
                ok &= better(values, scores[rows[dy], cols[dx]])
    return ys[ok], xs[ok]


def _candidates(
    scores: np.ndarray, *, threshold: float, higher: bool, limit: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(score, y, x) of local maxima passing ``threshold``, best first, at most ``limit``."""
    scores = np.asarray(scores)
    if scores.dtype not in (np.float32, np.float64):
        scores = scores.astype(np.float64)
    ys, xs = _passing_maxima(scores, float(threshold), higher)
    values = scores[ys, xs].astype(np.float64)
    if not higher:
        values = -values
    if values.size > limit:
        part = np.argpartition(-values, limit - 1)[:limit]
        ys, xs, values = ys[part], xs[part], values[part]
    order = np.lexsort((xs, ys, -values))  # best first; ties top-to-bottom, left-to-right
    values = values[order]
    return (values if higher else -values), ys[order], xs[order]


def _nms(boxes: np.ndarray, order_scores: np.ndarray, *, overlap: float, top: int) -> list[int]:
    """Greedy IoU suppression over ``boxes`` (N, 4: x, y, w, h) already sorted best first."""
    x0, y0 = boxes[:, 0], boxes[:, 1]
    x1, y1 = x0 + boxes[:, 2], y0 + boxes[:, 3]
    area = boxes[:, 2] * boxes[:, 3]
    alive = np.ones(len(boxes), dtype=bool)
    kept: list[int] = []
    for i in range(len(boxes)):  # one iteration per kept match, at most `top`
        if not alive[i]:
            continue
        kept.append(i)
        if len(kept) >= top:
            break
        iw = np.clip(np.minimum(x1[i], x1) - np.maximum(x0[i], x0), 0, None)
        ih = np.clip(np.minimum(y1[i], y1) - np.maximum(y0[i], y0), 0, None)
        inter = iw * ih
        iou = inter / (area[i] + area - inter)
        alive &= iou <= overlap
    return kept


def find_matches(
    scores: np.ndarray,
    *,
    template_shape: tuple[int, int],
    top: int = 1,
    threshold: float | None = None,
    overlap: float = 0.5,
    method: str = "zncc",
    scale: float = 1.0,
) -> list[Match]:
    """The best matches of a score map, one per object.

    Candidates are the local maxima (3x3) that pass ``threshold`` (``score >= threshold``; for
    ``ssd``, lower is better and a match needs ``score <= threshold``). Taken best first, a
    candidate is dropped when its box overlaps an already kept box by more than ``overlap``
    (intersection over union), so an object yields one match, not a cluster of neighbours.

    Parameters
    ----------
    scores : ndarray, shape (H', W')
        Map of :func:`match_template` (top-left anchored).
    template_shape : (h, w)
        Box size of every match.
    top : int
        At most this many matches.
    threshold : float, optional
        Default :data:`DEFAULT_THRESHOLDS` of ``method``.
    overlap : float
        Largest IoU allowed between two reported boxes, in [0, 1].
    method : {'zncc', 'ncc', 'ssd'}
        Only decides which way is better and the default threshold.
    scale : float
        Recorded in each :class:`Match`.

    Examples
    --------
    >>> scores = np.zeros((10, 10)); scores[2, 3] = 0.9; scores[2, 4] = 0.85; scores[7, 7] = 0.95
    >>> [(m.x, m.y, m.score) for m in find_matches(scores, template_shape=(4, 4), top=5)]
    [(7, 7, 0.95), (3, 2, 0.9)]
    """
    boxes, values = _gather([(scores, template_shape, scale, 0.0)], method, threshold, top)
    return _select(boxes, values, method=method, top=top, overlap=overlap)


def _check_find_args(top: int, overlap: float) -> None:
    if int(top) < 1:
        raise TemplateError(f"top must be at least 1, got {top}")
    if not 0.0 <= float(overlap) <= 1.0:
        raise TemplateError(f"overlap must be between 0 and 1, got {overlap}")


def _gather(maps, method: str, threshold: float | None, top: int):
    method = _check_method(method)
    thr = DEFAULT_THRESHOLDS[method] if threshold is None else float(threshold)
    higher = not lower_is_better(method)
    limit = max(1000, 50 * int(top))
    rows, vals = [], []
    for scores, (h, w), scale, angle in maps:
        values, ys, xs = _candidates(scores, threshold=thr, higher=higher, limit=limit)
        box = np.empty((values.size, 6))
        box[:, 0], box[:, 1], box[:, 2], box[:, 3] = xs, ys, w, h
        box[:, 4], box[:, 5] = scale, angle
        rows.append(box)
        vals.append(values)
    return np.concatenate(rows), np.concatenate(vals)


def _select(boxes, values, *, method: str, top: int, overlap: float) -> list[Match]:
    _check_find_args(top, overlap)
    higher = not lower_is_better(method)
    order = np.lexsort((boxes[:, 0], boxes[:, 1], -values if higher else values))
    boxes, values = boxes[order], values[order]
    kept = _nms(boxes[:, :4], values, overlap=float(overlap), top=int(top))
    return [
        Match(
            x=int(boxes[i, 0]),
            y=int(boxes[i, 1]),
            width=int(boxes[i, 2]),
            height=int(boxes[i, 3]),
            score=float(values[i]),
            scale=float(boxes[i, 4]),
            angle=float(boxes[i, 5]),
        )
        for i in kept
    ]
