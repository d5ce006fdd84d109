"""Search over template scales and angles: the list parsers, SearchResult, search, refinement.

Owns: :func:`parse_scales`, :func:`parse_angles`, :class:`SearchResult`, :func:`search` (the
image prepared once, the template resized and turned per placement, the matches of all
placements picked together) and :func:`refine_matches`.

Must not import: the CLI, :mod:`convtool.images`, :mod:`convtool.pictures`, click, rich, PIL.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from ..geometry import resize, rotate
from .inputs import (
    DEFAULT_THRESHOLDS,
    TemplateError,
    _as_hwc,
    _check_method,
    _prepare,
    safe_range,
    to_gray,
)
from .peaks import Match, _check_find_args, _gather, _select, subpixel_peak
from .scoring import _Prepared, _score_map


@dataclass
class SearchResult:
    """What :func:`search` found, with the score maps it looked at (for :func:`heatmap`)."""

    matches: list[Match]
    method: str
    threshold: float
    # (scale, (height, width) of the template as matched, scores, angle) per placement.
    maps: list[tuple[float, tuple[int, int], np.ndarray, float]] = field(default_factory=list)
    skipped_scales: list[float] = field(default_factory=list)
    image_shape: tuple[int, int] = (0, 0)


def _parse_list(text: str, what: str, example: str) -> list[float]:
    """Numbers from ``"a,b,c"`` or ``"START:STOP:STEP"`` (STOP included, at most 200)."""
    spec = str(text).strip()
    try:
        if ":" in spec:
            parts = [float(p) for p in spec.split(":")]
            if len(parts) != 3 or not all(math.isfinite(p) for p in parts):
                raise ValueError
            start, stop, step = parts
            if step <= 0 or stop < start:
                raise TemplateError(f"bad {what} range {text!r}: need START <= STOP and STEP > 0")
            steps = (stop - start) / step  # may overflow to inf: then too many anyway
            count = math.floor(steps + 1e-9) + 1 if steps <= 1e6 else math.inf
            if count > 200:
                raise TemplateError(
                    f"{what} range {text!r} has "
                    f"{count if count < math.inf else 'too many'} {what}s (at most 200)"
                )
            values = [round(start + i * step, 10) for i in range(count)]
        else:
            values = [float(p) for p in spec.split(",")]
    except ValueError as exc:
        if isinstance(exc, TemplateError):
            raise
        raise TemplateError(
            f"bad {what} list {text!r}: use numbers like {example} or START:STOP:STEP"
        ) from None
    return values


def parse_scales(text: str) -> list[float]:
    """Parse ``"0.5,0.75,1"`` or ``"START:STOP:STEP"`` (STOP included) into scale factors.

    Examples
    --------
    >>> parse_scales("0.5, 1,1.5")
    [0.5, 1.0, 1.5]
    >>> parse_scales("0.5:1:0.25")
    [0.5, 0.75, 1.0]
    """
    values = _parse_list(text, "scale", "0.5,0.75,1")
    if not values or any(not math.isfinite(v) or v <= 0 for v in values):
        raise TemplateError(f"bad scale list {text!r}: scales must be positive numbers")
    return list(dict.fromkeys(values))


def parse_angles(text: str) -> list[float]:
    """Parse ``"-10,0,10"`` or ``"START:STOP:STEP"`` (STOP included) into angles in degrees.

    Angles turn the template counter-clockwise; they are kept as given (``360`` is not folded
    onto ``0``), repeats dropped.

    Examples
    --------
    >>> parse_angles("-15, 0,15")
    [-15.0, 0.0, 15.0]
    >>> parse_angles("0:90:30")
    [0.0, 30.0, 60.0, 90.0]
    """
    values = _parse_list(text, "angle", "-10,0,10")
    if any(not math.isfinite(v) for v in values):
        raise TemplateError(f"bad angle list {text!r}: angles must be finite numbers")
    return list(dict.fromkeys(values))


def _turned(
    tpl: np.ndarray, mask: np.ndarray | None, angle: float
) -> tuple[np.ndarray, np.ndarray | None]:
    """The template and its weights turned by ``angle``: only pixels the turned template
    covers whole weigh (edge pixels that it covers in part would mix in the background)."""
    if angle % 360 == 0:
        return tpl, mask
    turned, cover = rotate(tpl, angle)
    weights = (cover >= 1 - 1e-9).astype(np.float64)[:, :, None]
    if mask is not None:
        weights = weights * rotate(mask, angle)[0]
    if np.all(weights == 1):
        return turned, None  # quarter turns of an unmasked template stay unmasked
    return turned, weights


def search(
    image: np.ndarray,
    template: np.ndarray,
    *,
    method: str = "zncc",
    mask: np.ndarray | None = None,
    scales: Sequence[float] = (1.0,),
    angles: Sequence[float] = (0.0,),
    top: int = 1,
    threshold: float | None = None,
    overlap: float = 0.5,
    progress: Callable[[int, int], None] | None = None,
) -> SearchResult:
    """Find ``template`` in ``image``, at one or several scales and angles of the template.

    A grey image with a colour template (or the reverse) is compared in grey (ITU-R 601-2
    luma). For ``ssd`` the reported score is the mean squared difference per (mask-weighted)
    pixel and channel, so templates of different scales compare; lower is better. The image
    spectrum is computed once and reused for every scale. Scales whose template would not fit
    in the image are skipped (listed in ``skipped_scales``); if none fits, it is an error.
    Each angle turns the (scaled) template counter-clockwise (:func:`rotate`): its box grows to
    hold it, and only the pixels the turned template covers whole count (a mask, combined with
    the template's own), so those placements score with the masked formulas (slower, float64).
    A turned template that does not fit in the image is skipped. ``progress(done, total)``, if
    given, is called after each placement (scale x angle) with the counts so far.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> image = rng.random((40, 50)).astype(np.float32)
    >>> result = search(image, image[10:20, 30:42])
    >>> result.matches[0].x, result.matches[0].y, round(result.matches[0].score, 3)
    (30, 10, 1.0)
    """
    method = _check_method(method)
    _check_find_args(top, overlap)
    img, tpl = _common_channels(image, template)
    img, tpl, mask, ssd_factor = safe_range(img, tpl, mask, method)
    fits, skipped = _fitting_scales(img, tpl, scales)
    angle_list = [float(a) for a in angles]
    if not angle_list or any(not math.isfinite(a) for a in angle_list):
        raise TemplateError("angles must be finite numbers")
    img, _, m0, dtype = _prepare(img, tpl, mask)
    if mask is not None and m0 is None:
        mask = None  # all-ones
    prepared = _Prepared(img, dtype)
    maps = _placements(prepared, tpl, mask, fits, angle_list, method, progress)
    if not maps:
        raise TemplateError(
            f"template ({tpl.shape[1]}x{tpl.shape[0]}) turned by every angle searched is "
            f"larger than the image ({img.shape[1]}x{img.shape[0]})"
        )
    if ssd_factor != 1.0:  # back to the units of the inputs (see safe_range)
        with np.errstate(over="ignore"):
            maps = [(s, hw, sc * np.float64(ssd_factor), a) for s, hw, sc, a in maps]
    thr = DEFAULT_THRESHOLDS[method] if threshold is None else float(threshold)
    boxes, values = _gather([(sc, hw, s, a) for s, hw, sc, a in maps], method, thr, top)
    matches = _select(boxes, values, method=method, top=top, overlap=overlap)
    return SearchResult(
        matches=matches,
        method=method,
        threshold=thr,
        maps=maps,
        skipped_scales=[s for s, _, _ in skipped],
        image_shape=img.shape[:2],
    )


def _common_channels(image: np.ndarray, template: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Image and template as ``(H, W, C)`` with the same C: grey and colour meet in grey."""
    # Shapes only: _prepare checks the values (a second isfinite pass over a 4K image was
    # ~4% of a one-scale search).
    img = _as_hwc(image, "image", finite=False)
    tpl = _as_hwc(template, "template", finite=False)
    if img.shape[2] != tpl.shape[2]:
        if 3 in (img.shape[2], tpl.shape[2]) and 1 in (img.shape[2], tpl.shape[2]):
            img, tpl = (
                _as_hwc(to_gray(img), "image", finite=False),
                _as_hwc(to_gray(tpl), "template", finite=False),
            )
        else:
            raise TemplateError(
                f"image has {img.shape[2]} channel(s) but the template has {tpl.shape[2]}"
            )
    return img, tpl


def _fitting_scales(
    img: np.ndarray, tpl: np.ndarray, scales: Sequence[float]
) -> tuple[list[tuple[float, int, int]], list[tuple[float, int, int]]]:
    """``(fits, skipped)``: ``(scale, height, width)`` of the scaled template, by whether it
    fits in the image; an error if none fits."""
    scale_list = [float(s) for s in scales]
    if not scale_list or any(not math.isfinite(s) or s <= 0 for s in scale_list):
        raise TemplateError("scales must be positive numbers")
    fits, skipped = [], []
    for s in scale_list:
        # Sides beyond the image (1e308 overflows to inf) are skipped without rounding them.
        th = max(1, round(min(tpl.shape[0] * s, img.shape[0] + 1.0)))
        tw = max(1, round(min(tpl.shape[1] * s, img.shape[1] + 1.0)))
        (fits if th <= img.shape[0] and tw <= img.shape[1] else skipped).append((s, th, tw))
    if not fits:
        raise TemplateError(
            f"template ({tpl.shape[1]}x{tpl.shape[0]}) is larger than the image "
            f"({img.shape[1]}x{img.shape[0]})"
            + ("" if scale_list == [1.0] else " at every scale searched")
        )
    return fits, skipped


def _placements(
    prepared: _Prepared,
    tpl: np.ndarray,
    mask: np.ndarray | None,
    fits: list[tuple[float, int, int]],
    angle_list: list[float],
    method: str,
    progress: Callable[[int, int], None] | None = None,
) -> list[tuple[float, tuple[int, int], np.ndarray, float]]:
    """Score maps ``(scale, (h, w), scores, angle)`` of every scale and angle that fits."""
    img, dtype = prepared.image, prepared.dtype
    maps = []
    done, total = 0, len(fits) * len(angle_list)
    for s, th, tw in fits:
        t = tpl.astype(np.float64) if (th, tw) == tpl.shape[:2] else resize(tpl, (th, tw))
        m = None
        if mask is not None:
            mm = _as_hwc(mask, "mask").astype(np.float64)
            m = mm if (th, tw) == mm.shape[:2] else resize(mm, (th, tw))
            m = np.clip(m, 0, None)
        for angle in angle_list:
            if progress is not None:
                progress(done, total)
            done += 1
            ta, ma = _turned(t, m, angle)
            if ta.shape[0] > img.shape[0] or ta.shape[1] > img.shape[1]:
                continue
            scores = _score_map(prepared, ta, ma, method)
            if method == "ssd":
                weight = (
                    ta.size if ma is None else float(np.sum(np.broadcast_to(ma * ma, ta.shape)))
                )
                scores = scores / weight
            maps.append((s, ta.shape[:2], scores.astype(dtype, copy=False), angle))
    if progress is not None:
        progress(total, total)
    return maps


def refine_matches(result: SearchResult) -> SearchResult:
    """Add sub-pixel positions to every match of ``result`` (from its own score maps).

    Examples
    --------
    >>> image = np.zeros((9, 9)); image[4, 3:6] = [0.5, 1.0, 0.5]
    >>> found = refine_matches(search(image, image[3:6, 3:6], threshold=0.5))
    >>> m = found.matches[0]
    >>> (m.x, m.y, m.x_subpixel, m.y_subpixel)
    (3, 3, 3.0, 3.0)
    """
    by_placement = {(scale, angle): scores for scale, _, scores, angle in result.maps}
    refined = []
    for m in result.matches:
        fx, fy = subpixel_peak(by_placement[m.scale, m.angle], m.x, m.y)
        refined.append(replace(m, x_subpixel=fx, y_subpixel=fy))
    result.matches = refined
    return result
