"""Search over template scales and angles: the list parsers, SearchResult, search, refinement.

Owns: :func:`parse_scales`, :func:`parse_angles`, :class:`SearchResult`, :func:`search` (the
image prepared once, the template resized and turned per placement, the matches of all
placements picked together; a large image handed to :mod:`.bands`, a padded one scored
centred) and :func:`refine_matches`.

Must not import: the CLI, :mod:`convtool.images`, :mod:`convtool.pictures`, click, rich, PIL.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from ..geometry import resize, rotate
from .bands import Placement, band_rows, search_bands
from .inputs import (
    DEFAULT_THRESHOLDS,
    RAW_SUMS,
    TemplateError,
    _as_hwc,
    _check_method,
    _prepare,
    _times,
    _unit,
    lower_is_better,
    mask_weights,
    safe_range,
    to_gray,
)
from .peaks import Match, _check_find_args, _gather, _select, subpixel_peak
from .prepared import _Prepared
from .scoring import PAD_MODES, _score_map


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
    # pad_input: maps the image's size, entry [y, x] the window centred there (its top-left
    # corner at x - w // 2, y - h // 2); matches report that corner (negative on the border).
    padded: bool = False
    # Banded searches without maps: each placement's best (score, x, y, scale, angle), and
    # the sub-pixel position of every candidate by (x, y, scale, angle).
    best: list[tuple[float, int, int, float, float]] = field(default_factory=list)
    subpixel: dict[tuple[int, int, float, float], tuple[float, float]] = field(default_factory=dict)

    @property
    def lower_is_better(self) -> bool:
        """Whether the lowest score is the best (ssd, ssd-normed)."""
        return lower_is_better(self.method)


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
    pad_input: bool = False,
    mode: str = "constant",
    constant_values: float = 0.0,
    image_scale: float = 1.0,
    keep_maps: bool = True,
) -> SearchResult:
    """Find ``template`` in ``image``, at one or several scales and angles of the template.

    A grey image with a colour template (or the reverse) is compared in grey (ITU-R 601-2
    luma). The raw sums (``ssd``, ``ccorr``, ``ccoeff``) are reported per (mask-weighted)
    pixel and channel (for ssd the mean squared difference), so templates of different scales
    compare; for ssd and ssd-normed lower is better. The image
    spectrum is computed once and reused for every scale. Scales whose template would not fit
    in the image are skipped (listed in ``skipped_scales``); if none fits, it is an error.
    Each angle turns the (scaled) template counter-clockwise (:func:`rotate`): its box grows to
    hold it, and only the pixels the turned template covers whole count (a mask, combined with
    the template's own), so those placements score with the masked formulas (slower, float64).
    A turned template that does not fit in the image is skipped. ``progress(done, total)``, if
    given, is called after each placement (scale x angle) with the counts so far. Integer
    masks are on/off, float masks weights (:func:`match_template`). ``pad_input`` (with
    ``mode``, ``constant_values``) scores windows that hang over the border too, as
    :func:`match_template`: the maps have the image's size, and a match's ``x``, ``y`` (its
    box's top-left corner) may be negative.

    Large images (whose whole-image working memory would pass 1 GB) are searched in bands of
    rows (:mod:`.bands`): the memory of a band whatever the image's size, the same matches.
    ``image_scale`` multiplies the image's values first, band by band: an 8-bit image passed
    as integers with ``image_scale=1/255`` is never held as floats whole. With
    ``keep_maps=False`` a banded search keeps no score maps (``maps`` is empty; ``best``
    holds each placement's best score and sub-pixel positions are kept for
    :func:`refine_matches`); a heatmap needs ``keep_maps=True`` (one map per placement).

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
    scale = float(image_scale)
    if not (math.isfinite(scale) and scale > 0):
        raise TemplateError(f"image_scale must be a positive number, got {image_scale}")
    # The image's range from its extremes (no copy): safe_range's unit joins image_scale.
    low, high = float(img.min()) * scale, float(img.max()) * scale
    ends, tpl, _, factor = safe_range(np.array([low, high]), tpl, None, method)
    if high != 0.0 or low != 0.0:
        scale *= float(ends[1] / high) if high != 0.0 else float(ends[0] / low)
    # The mask's own scale cancels in the per-pixel scores: it is brought near 1 on its own.
    mask = mask_weights(mask)
    if mask is not None and (unit := _unit(mask)) != 1.0:
        mask = _times(mask, unit)
    fits, skipped = _fitting_scales(img, tpl, scales)
    angle_list = [float(a) for a in angles]
    if not angle_list or any(not math.isfinite(a) for a in angle_list):
        raise TemplateError("angles must be finite numbers")
    shape = img.shape[:2]
    # Checks and the computation's dtype from a slice: the image is not converted whole here.
    _, _, m0, dtype = _prepare(
        img[: max(tpl.shape[0], 1)] if tpl.shape[0] <= shape[0] else img, tpl, mask
    )
    if mask is not None and m0 is None:
        mask = None  # all-ones
    placements = _templates(tpl, mask, fits, angle_list, shape)
    if not placements:
        raise TemplateError(
            f"template ({tpl.shape[1]}x{tpl.shape[0]}) turned by every angle searched is "
            f"larger than the image ({shape[1]}x{shape[0]})"
        )
    thr = DEFAULT_THRESHOLDS[method] if threshold is None else float(threshold)
    # Peaks are picked on the maps as computed (near 1) and only their scores brought back
    # to the inputs' units: scores of 1e-300 data would underflow to 0 and tie everywhere.
    with np.errstate(over="ignore", divide="ignore"):
        thr_here = thr if factor == 1.0 else float(np.float64(thr) / np.float64(factor))
    rows = None
    if not pad_input:
        masked = any(p.mask is not None for p in placements)
        h_max = max(p.tpl.shape[0] for p in placements)
        rows = band_rows(img.shape, h_max, dtype.itemsize, masked=masked)
    extra: dict = {}
    margin = None
    if rows is not None:  # a large image: bands of rows, peaks merged (see .bands)
        found = search_bands(
            img, placements, method=method, dtype=dtype, rows=rows, threshold=thr_here,
            top=top, keep_maps=keep_maps, image_scale=scale, progress=progress,
        )  # fmt: skip
        boxes, values, maps = found.boxes, found.values, found.maps
        extra = {"subpixel": found.subpixel, "best": found.best}
    else:
        if scale != 1.0:
            img = np.multiply(img, scale, dtype=np.float64 if dtype == np.float64 else np.float32)
        if pad_input:
            margin = _pad_margin(fits, angle_list)
            img = _padded(img, margin, mode, constant_values)
        img, _, _, dtype = _prepare(img, tpl, mask)
        prepared = _Prepared(img, dtype)
        maps = _placements(prepared, placements, method, progress, shape, margin)
        boxes, values = _gather([(sc, hw, s, a) for s, hw, sc, a in maps], method, thr_here, top)
    if margin is not None:  # map entries are window centres: boxes report their corner
        boxes[:, 0] -= boxes[:, 2] // 2
        boxes[:, 1] -= boxes[:, 3] // 2
    matches = _select(boxes, values, method=method, top=top, overlap=overlap)
    if factor != 1.0:  # back to the units of the inputs (see safe_range)
        with np.errstate(over="ignore"):
            matches = [replace(m, score=float(np.float64(m.score) * factor)) for m in matches]
            maps = [(s, hw, sc * np.float64(factor), a) for s, hw, sc, a in maps]
            if "best" in extra:
                extra["best"] = [(b[0] * factor, *b[1:]) for b in extra["best"]]
    return SearchResult(
        matches=matches,
        method=method,
        threshold=thr,
        maps=maps,
        skipped_scales=[s for s, _, _ in skipped],
        image_shape=shape,
        padded=margin is not None,
        **extra,
    )


def _pad_margin(fits: list[tuple[float, int, int]], angles: list[float]) -> tuple[int, int]:
    """Rows and columns to pad on each side so that every placement's centred map fits."""
    th = max(h for _, h, _ in fits)
    tw = max(w for _, _, w in fits)
    if any(a % 360 for a in angles):  # a turned box is at most the diagonal (+ rounding)
        th = tw = math.ceil(math.hypot(th, tw)) + 2
    return th, tw


def _padded(img: np.ndarray, margin: tuple[int, int], mode: str, value: float) -> np.ndarray:
    """``img`` ``(H, W, C)`` padded by ``margin`` on each side (float; see pad_image)."""
    if mode not in PAD_MODES:
        raise TemplateError(f"unknown pad mode {mode!r} (choose from {', '.join(PAD_MODES)})")
    if img.dtype.kind != "f":
        img = img.astype(np.float32)
    widths = ((margin[0], margin[0]), (margin[1], margin[1]), (0, 0))
    if mode != "constant":
        return np.pad(img, widths, mode=mode)
    if not math.isfinite(float(value)):
        raise TemplateError("constant_values must be a finite number")
    return np.pad(img, widths, mode=mode, constant_values=value)


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


def _templates(
    tpl: np.ndarray,
    mask: np.ndarray | None,
    fits: list[tuple[float, int, int]],
    angle_list: list[float],
    shape: tuple[int, int],
) -> list[Placement]:
    """Every scale and angle's template and weights that fit in an image of ``shape``."""
    out = []
    for s, th, tw in fits:
        t = tpl.astype(np.float64) if (th, tw) == tpl.shape[:2] else resize(tpl, (th, tw))
        m = None
        if mask is not None:
            mm = _as_hwc(mask, "mask").astype(np.float64)
            m = mm if (th, tw) == mm.shape[:2] else resize(mm, (th, tw))
            m = np.clip(m, 0, None)
        for angle in angle_list:
            ta, ma = _turned(t, m, angle)
            if ta.shape[0] <= shape[0] and ta.shape[1] <= shape[1]:
                out.append(Placement(s, angle, ta, ma))
    return out


def _placements(
    prepared: _Prepared,
    placements: list[Placement],
    method: str,
    progress: Callable[[int, int], None] | None = None,
    shape: tuple[int, int] | None = None,
    margin: tuple[int, int] | None = None,
) -> list[tuple[float, tuple[int, int], np.ndarray, float]]:
    """Score maps ``(scale, (h, w), scores, angle)`` of ``placements`` in an image of
    ``shape`` (default the prepared image's). With ``margin`` (the prepared image padded by
    it on each side) the maps are the image's size and centred."""
    dtype = prepared.dtype
    height, width = shape if shape is not None else (prepared.height, prepared.width)
    maps = []
    total = len(placements)
    for done, p in enumerate(placements):
        if progress is not None:
            progress(done, total)
        scores = _score_map(prepared, p.tpl, p.mask, method)
        if margin is not None:  # the windows centred on the image's pixels
            y0, x0 = margin[0] - p.tpl.shape[0] // 2, margin[1] - p.tpl.shape[1] // 2
            scores = scores[y0 : y0 + height, x0 : x0 + width]
        if method in RAW_SUMS:
            scores = scores / p.weight
        maps.append((p.scale, p.tpl.shape[:2], scores.astype(dtype, copy=False), p.angle))
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
        if (m.scale, m.angle) not in by_placement:  # a banded search without maps
            fx, fy = result.subpixel[m.x, m.y, m.scale, m.angle]
            refined.append(replace(m, x_subpixel=fx, y_subpixel=fy))
            continue
        # padded maps hold window centres: the corner is the entry less half the box
        dx, dy = (m.width // 2, m.height // 2) if result.padded else (0, 0)
        fx, fy = subpixel_peak(by_placement[m.scale, m.angle], m.x + dx, m.y + dy)
        refined.append(replace(m, x_subpixel=fx - dx, y_subpixel=fy - dy))
    result.matches = refined
    return result
