"""The matcher's vocabulary and input checks: methods, default thresholds, its error, channels.

Owns: ``METHODS``, ``DEFAULT_THRESHOLDS``, :class:`TemplateError`, validation of image,
template and mask arrays, :func:`safe_range` (extreme values brought near 1 before scoring) and
the channel helpers :func:`to_gray` and :func:`split_alpha`.

Must not import: the rest of :mod:`convtool.matching` (every other module of it imports this
one), the CLI, :mod:`convtool.images`, click, rich, PIL.
"""

from __future__ import annotations

import math

import numpy as np

METHODS = ("zncc", "ncc", "ssd")

# Default score thresholds of search() and `convtool find`. zncc 0.8: a clean copy scores ~1,
# a copy under moderate noise or JPEG ~0.9, unrelated clutter rarely reaches 0.6. ncc is high
# for any two bright patches, so its default is strict. ssd: mean squared difference per pixel
# and channel, an RMS difference of 0.1 (25 of 255 levels); a match needs score <= threshold.
DEFAULT_THRESHOLDS = {"zncc": 0.8, "ncc": 0.95, "ssd": 0.01}


_FLT_EPSILON = float(np.finfo(np.float32).eps)


class TemplateError(ValueError):
    """Invalid template-matching input; the message is one line, fit for the user."""


def lower_is_better(method: str) -> bool:
    """Whether lower scores are better for ``method`` (only ``ssd``).

    Examples
    --------
    >>> lower_is_better("zncc"), lower_is_better("ssd")
    (False, True)
    """
    return _check_method(method) == "ssd"


def _check_method(method: str) -> str:
    name = str(method).lower()
    if name not in METHODS:
        raise TemplateError(f"unknown method {method!r} (choose from {', '.join(METHODS)})")
    return name


def _as_hwc(array: np.ndarray, name: str, *, finite: bool = True) -> np.ndarray:
    """``array`` as ``(H, W, C)``, checked; ``finite=False`` leaves the NaN/inf check (a full
    pass over the values) to a later call."""
    arr = np.asarray(array)
    if arr.ndim not in (2, 3):
        raise TemplateError(f"{name} must be (H, W) or (H, W, C), got shape {arr.shape}")
    if arr.size == 0:
        raise TemplateError(f"{name} is empty (shape {arr.shape})")
    if arr.dtype.kind not in "uifb":
        raise TemplateError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if finite and arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise TemplateError(f"{name} holds NaN or infinite values")
    return arr


def to_gray(image: np.ndarray) -> np.ndarray:
    """Luma (ITU-R 601-2, as Pillow's ``L`` mode) of an RGB image; other arrays pass through.

    Examples
    --------
    >>> to_gray(np.ones((1, 1, 3), np.float32)).round(6)
    array([[1.]], dtype=float32)
    """
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 1:
        return arr[:, :, 0]
    if arr.ndim != 3 or arr.shape[2] != 3:
        return arr
    dtype = np.float64 if arr.dtype == np.float64 else np.float32
    weights = np.array([0.299, 0.587, 0.114], dtype=dtype)
    return arr.astype(dtype, copy=False) @ weights


def split_alpha(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split ``(H, W, C)`` into colour ``(H, W, C-1)`` and alpha ``(H, W)`` (the last channel).

    Examples
    --------
    >>> colour, alpha = split_alpha(np.zeros((2, 2, 4)))
    >>> colour.shape, alpha.shape
    ((2, 2, 3), (2, 2))
    """
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] not in (2, 4):
        raise TemplateError(f"expected an image with an alpha channel, got shape {arr.shape}")
    colour = arr[:, :, :-1]
    return (colour[:, :, 0] if colour.shape[2] == 1 else colour), arr[:, :, -1]


def _prepare(image: np.ndarray, templ: np.ndarray, mask: np.ndarray | None):
    img = _as_hwc(image, "image")
    tpl = _as_hwc(templ, "template")
    if img.shape[2] != tpl.shape[2]:
        raise TemplateError(
            f"image has {img.shape[2]} channel(s) but the template has {tpl.shape[2]}"
        )
    if tpl.shape[0] > img.shape[0] or tpl.shape[1] > img.shape[1]:
        raise TemplateError(
            f"template ({tpl.shape[1]}x{tpl.shape[0]}) is larger than the image "
            f"({img.shape[1]}x{img.shape[0]})"
        )
    m = None
    if mask is not None:
        m = _as_hwc(mask, "mask")
        if m.shape[:2] != tpl.shape[:2] or m.shape[2] not in (1, tpl.shape[2]):
            raise TemplateError(
                f"mask shape {np.shape(mask)} does not fit the template "
                f"{tpl.shape[1]}x{tpl.shape[0]} with {tpl.shape[2]} channel(s) "
                "(it must be the template's size, with 1 channel or as many as the template)"
            )
        if np.any(m < 0):
            raise TemplateError("mask has negative weights")
        if not np.any(m > 0):
            raise TemplateError("mask is empty: every template pixel has weight 0")
        if np.all(m == 1):
            m = None  # an all-ones mask is no mask (and takes the fast path)
    # float32 unless the input is float64; masked scores need float64 (see _masked_scores).
    dtype = np.dtype(np.float64 if np.float64 in (img.dtype, tpl.dtype) else np.float32)
    if img.dtype.kind != "f":
        img = img.astype(dtype)
    return img, tpl.astype(np.float64), m, dtype


def _check_template_contrast(tpl: np.ndarray, m: np.ndarray | None, method: str) -> None:
    used = tpl if m is None else np.where(m > 0, tpl, np.nan)
    flat = tpl.reshape(-1, tpl.shape[2])
    if m is not None:
        flat = used.reshape(-1, tpl.shape[2])
    lo, hi = np.nanmin(flat, axis=0), np.nanmax(flat, axis=0)
    scale = max(1.0, float(np.nanmax(np.abs(flat))))
    if method == "zncc" and np.all(hi - lo <= 1e-7 * scale):
        raise TemplateError(
            "template has no contrast (all its pixels have the same value), so zncc cannot "
            "score it; use --method ssd or a template with some detail"
        )
    if method == "ncc" and np.all(np.maximum(np.abs(lo), np.abs(hi)) == 0):
        raise TemplateError("template is all zero (black), so ncc cannot score it; use ssd")


# Peaks outside this band are rescaled before scoring: squares and window sums of 1e300 (or of
# float32 1e30) overflow, those of 1e-300 underflow, and the scores became NaN.
_SAFE_BAND = (2.0**-24, 2.0**24)


def _unit(arr: np.ndarray | None) -> float:
    """A power of two bringing ``max |arr|`` near 1; 1.0 when it is already in the safe band."""
    if arr is None or arr.size == 0:
        return 1.0
    peak = max(float(np.max(arr)), -float(np.min(arr)))
    if peak == 0.0 or not math.isfinite(peak) or _SAFE_BAND[0] <= peak <= _SAFE_BAND[1]:
        return 1.0
    return math.ldexp(1.0, -math.frexp(peak)[1])


def _times(arr: np.ndarray, unit: float) -> np.ndarray:
    """``arr * unit`` in float64 (the unit may not fit the input's type), back in its type."""
    out = np.multiply(arr, unit, dtype=np.float64)
    return out if arr.dtype.kind != "f" or arr.dtype == np.float64 else out.astype(arr.dtype)


def safe_range(
    image: np.ndarray, templ: np.ndarray, mask: np.ndarray | None, method: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, float]:
    """Image, template and mask rescaled to a safe range, and the factor for ssd scores.

    zncc and ncc do not change when the image, the template or the mask is multiplied by a
    positive number, so each is scaled on its own (by a power of two, which is exact). ssd does
    change: image and template share one factor ``u`` and the scores are to be multiplied by
    the returned ``1 / u**2`` (capped at the largest float, so a zero score stays zero). The
    ssd mask cancels in the per-pixel mean. Arrays already in the safe band are returned as
    they are (factor 1.0).

    Examples
    --------
    >>> image, templ, mask, factor = safe_range(np.array([1e300, 0]), np.array([1.0]), None, "zncc")
    >>> float(image[0]) < 2, float(templ[0]), mask, factor
    (True, 1.0, None, 1.0)
    """
    if mask is not None and (unit := _unit(mask)) != 1.0:
        mask = _times(mask, unit)
    if method != "ssd":
        unit_i, unit_t = _unit(image), _unit(templ)
        image = image if unit_i == 1.0 else _times(image, unit_i)
        templ = templ if unit_t == 1.0 else _times(templ, unit_t)
        return image, templ, mask, 1.0
    both = np.array([np.max(np.abs(image)), np.max(np.abs(templ))], dtype=np.float64)
    unit = _unit(both)
    if unit == 1.0:
        return image, templ, mask, 1.0
    exponent = -2 * math.frexp(unit)[1] + 2  # 1 / unit**2 as a power of two
    factor = math.ldexp(1.0, exponent) if exponent < 1024 else float(np.finfo(np.float64).max)
    return _times(image, unit), _times(templ, unit), mask, factor
