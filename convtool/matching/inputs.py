"""The matcher's vocabulary and input checks: methods, default thresholds, its error, channels.

Owns: ``METHODS`` (and OpenCV's names for them), ``DEFAULT_THRESHOLDS``, the flat-window rule
(:func:`flat_limit`), :class:`TemplateError`, validation of image, template and mask arrays
(integer masks on/off: :func:`mask_weights`), :func:`safe_range` (extreme values brought
near 1 before scoring) and the channel helpers :func:`to_gray` and :func:`split_alpha`.

Must not import: the rest of :mod:`convtool.matching` (every other module of it imports this
one), the CLI, :mod:`convtool.images`, click, rich, PIL.
"""

from __future__ import annotations

import math

import numpy as np

METHODS = ("zncc", "ncc", "ssd", "ssd-normed", "ccorr", "ccoeff")

# OpenCV's names (any case, with or without ``cv2.``/``TM_``) for the same six methods.
ALIASES = {
    "tm_ccoeff_normed": "zncc",
    "tm_ccorr_normed": "ncc",
    "tm_sqdiff": "ssd",
    "tm_sqdiff_normed": "ssd-normed",
    "tm_ccorr": "ccorr",
    "tm_ccoeff": "ccoeff",
}

# Methods whose best score is the lowest.
LOWER_IS_BETTER = ("ssd", "ssd-normed")

# Methods whose scores are raw sums (scale with the values squared); search() reports them per
# (mask-weighted) pixel and channel.
RAW_SUMS = ("ssd", "ccorr", "ccoeff")

# Default score thresholds of search() and `convtool find`. zncc 0.8: a clean copy scores ~1,
# a copy under moderate noise or JPEG ~0.9, unrelated clutter rarely reaches 0.6. ncc is high
# for any two bright patches, so its default is strict. ssd: mean squared difference per pixel
# and channel, an RMS difference of 0.1 (25 of 255 levels); a match needs score <= threshold.
# ssd-normed (|T - I|^2 / (|T| |I|)): 0.05, about that RMS difference on mid-grey images.
# ccorr and ccoeff are raw products with no natural scale: every local maximum counts (-inf)
# and --top picks the best.
DEFAULT_THRESHOLDS = {
    "zncc": 0.8,
    "ncc": 0.95,
    "ssd": 0.01,
    "ssd-normed": 0.05,
    "ccorr": -math.inf,
    "ccoeff": -math.inf,
}


_FLT_EPSILON = float(np.finfo(np.float32).eps)
_DBL_EPSILON = float(np.finfo(np.float64).eps)


def flat_limit(dtype: np.dtype, growth: float = 1.0) -> float:
    """Relative size below which a window's variance counts as none (a flat window).

    A window is flat when ``n * variance <= limit * sum of squares``. float32 computations
    (float32 and integer data) use OpenCV's rule, ``10 * FLT_EPSILON`` against the raw sum of
    squares. float64 data keeps its precision: ``10 * DBL_EPSILON * growth`` against the sum of
    squares about the image's mean, with ``growth`` how much larger than a window's the sums
    its statistics are differences of can be (running sums: image rows / template rows; FFT
    correlations: the square root of the image's pixel count).

    Examples
    --------
    >>> flat_limit(np.dtype(np.float32)) == 10 * float(np.finfo(np.float32).eps)
    True
    >>> flat_limit(np.dtype(np.float64), 100.0) < 1e-12
    True
    """
    if np.dtype(dtype) == np.float64:
        return 10 * _DBL_EPSILON * max(1.0, float(growth))
    return 10 * _FLT_EPSILON


class TemplateError(ValueError):
    """Invalid template-matching input; the message is one line, fit for the user."""


def lower_is_better(method: str) -> bool:
    """Whether lower scores are better for ``method`` (``ssd`` and ``ssd-normed``).

    Examples
    --------
    >>> lower_is_better("zncc"), lower_is_better("ssd"), lower_is_better("TM_SQDIFF_NORMED")
    (False, True, True)
    """
    return _check_method(method) in LOWER_IS_BETTER


def canonical_method(method: str) -> str:
    """The method's name in :data:`METHODS`, from it or from OpenCV's name (any case).

    Examples
    --------
    >>> canonical_method("ZNCC"), canonical_method("cv2.TM_SQDIFF_NORMED")
    ('zncc', 'ssd-normed')
    """
    return _check_method(method)


def _check_method(method: str) -> str:
    name = str(method).strip().lower().replace("_", "-")
    name = name.removeprefix("cv2.")
    if name in METHODS:
        return name
    alias = ALIASES.get(name.replace("-", "_"))
    if alias is None:
        raise TemplateError(f"unknown method {method!r} (choose from {', '.join(METHODS)})")
    return alias


def mask_weights(mask: np.ndarray | None) -> np.ndarray | None:
    """A mask as weights: integer and boolean masks are on/off (nonzero = 1), as OpenCV's
    8-bit masks; float masks are weights as given.

    Examples
    --------
    >>> mask_weights(np.array([[0, 255]], np.uint8))
    array([[0., 1.]], dtype=float32)
    >>> mask_weights(np.array([[0, 0.5]]))
    array([[0. , 0.5]])
    """
    if mask is None:
        return None
    arr = np.asarray(mask)
    if arr.dtype.kind in "uib":
        return (arr != 0).astype(np.float32)
    return arr


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
        m = _as_hwc(mask_weights(mask), "mask")
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


_FLOAT32 = np.dtype(np.float32)


def _check_template_contrast(
    tpl: np.ndarray, m: np.ndarray | None, method: str, dtype: np.dtype = _FLOAT32
) -> None:
    """Refuse the templates a normalized method cannot score: without contrast for zncc
    (within float32 rounding for float32 data, exactly for float64), all zero for ncc and
    ssd-normed. The raw sums (ssd, ccorr, ccoeff) score any template."""
    if method not in ("zncc", "ncc", "ssd-normed"):
        return
    used = tpl if m is None else np.where(m > 0, tpl, np.nan)
    flat = used.reshape(-1, tpl.shape[2])
    lo, hi = np.nanmin(flat, axis=0), np.nanmax(flat, axis=0)
    scale = max(1.0, float(np.nanmax(np.abs(flat))))
    tol = 0.0 if np.dtype(dtype) == np.float64 else 1e-7
    if method == "zncc" and np.all(hi - lo <= tol * scale):
        raise TemplateError(
            "template has no contrast (all its pixels have the same value), so zncc cannot "
            "score it; use --method ssd or a template with some detail"
        )
    if method != "zncc" and np.all(np.maximum(np.abs(lo), np.abs(hi)) == 0):
        raise TemplateError(f"template is all zero (black), so {method} cannot score it; use ssd")


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
    """Image, template and mask rescaled to a safe range, and the factor for the scores.

    zncc and ncc do not change when the image, the template or the mask is multiplied by a
    positive number, so each is scaled on its own (by a power of two, which is exact).
    ssd-normed does not change when image and template share the factor. The raw sums (ssd,
    ccorr, ccoeff) do change: image and template share one factor ``u`` and the scores are to
    be multiplied by the returned ``1 / u**2`` (and by ``1 / v**2`` for a mask scaled by
    ``v``; capped at the largest float, so a zero score stays zero). Arrays already in the
    safe band are returned as they are (factor 1.0).

    Examples
    --------
    >>> image, templ, mask, factor = safe_range(np.array([1e300, 0]), np.array([1.0]), None, "zncc")
    >>> float(image[0]) < 2, float(templ[0]), mask, factor
    (True, 1.0, None, 1.0)
    >>> safe_range(np.array([2.0**-40]), np.array([2.0**-41]), None, "ssd")[3] == 2.0**-78
    True
    """
    exponent = 0  # of the factor, a power of two
    if mask is not None and (unit := _unit(mask)) != 1.0:
        mask = _times(mask, unit)
        exponent -= 2 * (math.frexp(unit)[1] - 1)
    if method in ("zncc", "ncc"):
        unit_i, unit_t = _unit(image), _unit(templ)
        image = image if unit_i == 1.0 else _times(image, unit_i)
        templ = templ if unit_t == 1.0 else _times(templ, unit_t)
        return image, templ, mask, 1.0
    # max and min, not abs: no full-size copy of a large image
    both = np.array(
        [float(image.max()), -float(image.min()), float(templ.max()), -float(templ.min())]
    )
    unit = _unit(both)
    if unit != 1.0:
        image, templ = _times(image, unit), _times(templ, unit)
        exponent -= 2 * (math.frexp(unit)[1] - 1)  # 1 / unit**2
    if method not in RAW_SUMS or exponent == 0:
        return image, templ, mask, 1.0
    factor = math.ldexp(1.0, exponent) if exponent < 1024 else float(np.finfo(np.float64).max)
    return image, templ, mask, factor
