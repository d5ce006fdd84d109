"""Template matching ("find Waldo"): score maps, peak picking with NMS, multi-scale search.

Everything here is pure numpy. The score map of :func:`match_template` has shape
``(H - h + 1, W - w + 1)`` and holds the score of the window whose *top-left* corner is at that
position, exactly like OpenCV's ``cv2.matchTemplate``:

``zncc``
    Zero-mean normalized cross-correlation, OpenCV's ``TM_CCOEFF_NORMED``. For colour, each
    channel's mean is removed separately and numerator and denominator are summed over the
    channels. Range [-1, 1], higher is better, invariant to gain and offset of the image.
``ncc``
    Normalized cross-correlation without mean removal, OpenCV's ``TM_CCORR_NORMED``. Range
    [-1, 1] ([0, 1] for non-negative images), higher is better; invariant to gain only.
``ssd``
    Sum of squared differences, OpenCV's ``TM_SQDIFF``. **Lower is better** (0 is a perfect
    copy). :func:`search` reports it per pixel and channel (the mean squared difference, MSE) so
    that scores of different template sizes compare.

Degenerate cases are decided, not left to rounding:

* a window with no variance (flat) scores 0 for ``zncc`` (OpenCV's rule: the window's summed
  variance is at most ``10 * FLT_EPSILON`` times its sum of squares), and an all-black window
  scores 0 for ``ncc``; scores are never NaN or infinite;
* ``zncc`` is clamped to [-1, 1], ``ssd`` to >= 0;
* a template with no contrast is an error for ``zncc`` (OpenCV silently scores every window 1),
  an all-zero template is an error for ``ncc``.

Masks follow OpenCV's masked definitions (``mask=`` of ``cv2.matchTemplate`` with a float32
mask): mask values are weights, zero-weight pixels are ignored. A template's alpha channel is a
natural mask (:func:`split_alpha`).

Speed: correlations use real FFTs of 2,3,5-smooth sizes at least the image size (no padding by
the template size is needed for a "valid" map); the image spectrum is computed once per channel
and reused for every template scale; the channel sum of the cross-correlation is taken in the
frequency domain, so a colour image needs a single inverse FFT. Window sums and sums of squares
come from running sums in float64. For unmasked zncc (:func:`_zncc_scores`) the template's
spectrum comes from its h rows only, and the work runs in two lanes on two threads: running
sums and window statistics (many short numpy calls) beside the FFTs (few long ones).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from . import runtime
from .engine import next_fast_len

__all__ = [
    "DEFAULT_THRESHOLDS",
    "INFERNO",
    "METHODS",
    "Match",
    "SearchResult",
    "TemplateError",
    "find_matches",
    "heatmap",
    "lower_is_better",
    "match_template",
    "next_fast_len",
    "parse_scales",
    "refine_matches",
    "resize",
    "search",
    "split_alpha",
    "subpixel_peak",
    "to_gray",
    "to_rgb8",
]

METHODS = ("zncc", "ncc", "ssd")

# Default score thresholds of search() and `convtool find`. zncc 0.8: a clean copy scores ~1,
# a copy under moderate noise or JPEG ~0.9, unrelated clutter rarely reaches 0.6. ncc is high
# for any two bright patches, so its default is strict. ssd: mean squared difference per pixel
# and channel, an RMS difference of 0.1 (25 of 255 levels); a match needs score <= threshold.
DEFAULT_THRESHOLDS = {"zncc": 0.8, "ncc": 0.95, "ssd": 0.01}

_FLT_EPSILON = float(np.finfo(np.float32).eps)

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


# --------------------------------------------------------------------------------------------
# small numpy helpers
# --------------------------------------------------------------------------------------------


_WORKERS = 2  # row/column halves per transform; the runtime decides how many run at once


def _chunks(n: int, size: int) -> list[tuple[int, int]]:
    """``range(n)`` in contiguous pieces of about ``size`` (at least one piece)."""
    parts = max(1, round(n / max(1, size)))
    edges = [round(i * n / parts) for i in range(parts + 1)]
    return [(edges[i], edges[i + 1]) for i in range(parts) if edges[i] < edges[i + 1]]


def _halves(n: int, parts: int = _WORKERS) -> list[tuple[int, int]]:
    """Split ``range(n)`` into ``parts`` contiguous ranges (fewer when n is small)."""
    parts = max(1, min(parts, n // 64 or 1))
    edges = [round(i * n / parts) for i in range(parts + 1)]
    return [(edges[i], edges[i + 1]) for i in range(parts)]


def _prefix_rows(image: np.ndarray, *, block: int = 16) -> np.ndarray:
    """See :func:`_prefix_tasks`; runs the tasks and returns the prefix."""
    buf, tasks = _prefix_tasks(image, block=block)
    runtime.run_queue(tasks)
    return buf.transpose(1, 0, 2)


def _prefix_tasks(
    image: np.ndarray, *, block: int = 16
) -> tuple[np.ndarray, list[Callable[[], None]]]:
    """Running sums along axis 0 of each channel and of the channel sum of squares.

    ``image`` is ``(H, W, C)``; returns planes ``(C + 1, H + 1, W)`` float64 with a leading
    zero row (plane-major: a block of rows of one plane is contiguous, so window statistics
    work on flat 1-D arrays; :func:`_prefix_rows` returns the ``(H + 1, C + 1, W)`` view).
    float64 because window sums are differences of these running sums: in float32 a sum over a
    1080-row image keeps only ~4 significant digits of a window's share, and the variance
    ``S2 - S**2 / n`` of a low-contrast window cancels most of what is left.

    Work goes in blocks of ``block`` rows (in cache): the block's values are written, then
    each row adds the one above (one vectorized add per row over all planes and columns).
    That is ~3x faster than ``np.cumsum(axis=0)`` (strided per column) or a blocked carry
    scheme over the whole image (several passes through memory). One task: it runs beside
    the FFTs (splitting it in column halves made each row's add 2-D and cost 2.5x more).

    Examples
    --------
    >>> p = _prefix_rows(np.arange(6.0).reshape(3, 2, 1), block=2)
    >>> p[:, 0, :]
    array([[0., 0.],
           [0., 1.],
           [2., 4.],
           [6., 9.]])
    >>> p[-1, 1, :]
    array([20., 35.])
    """
    rows, width, channels = image.shape
    planes = np.empty((channels + 1, rows + 1, width), dtype=np.float64)
    planes[:, 0] = 0
    buf = planes.transpose(1, 0, 2)

    def work(c0: int, c1: int) -> None:  # columns c0:c1 are independent of the others
        cols = buf[:, :, c0:c1]
        scratch = np.empty((block, c1 - c0)) if channels > 1 else None
        for r0 in range(0, rows, block):
            r1 = min(rows, r0 + block)
            body = cols[r0 + 1 : r1 + 1]
            squares = body[:, channels]
            for c in range(channels):
                np.copyto(body[:, c], image[r0:r1, c0:c1, c], casting="unsafe")
            np.square(body[:, 0], out=squares)
            for c in range(1, channels):
                squares += np.square(body[:, c], out=scratch[: r1 - r0])
            for i in range(r0 + 1, r1 + 1):
                np.add(cols[i - 1], cols[i], out=cols[i])

    return planes, [lambda: work(0, width)]


def _stats_tasks(
    prefix: np.ndarray,
    h: int,
    w: int,
    *,
    method: str,
    tmean: np.ndarray,
    tnorm2: float,
    tsq: float,
    dtype: np.dtype,
) -> tuple[tuple[np.ndarray, np.ndarray | None], list[Callable[[], None]]]:
    """Per-window terms of the score from a row prefix ``(H + 1, C + 1, W)`` (float64).

    The prefix holds each channel and, last, the channel sum of squares. Worked through in
    strips of output rows that fit in cache: vertical window sums are prefix differences,
    horizontal ones a running sum along the row, and the variance ``S2 - sum_c S_c**2 / n``
    is formed in float64 before anything is rounded to ``dtype``.

    Returns ``(den, add)``:

    * zncc: ``den`` = sqrt(n * window variance * |T'|^2), 0 for a flat window; ``add`` None;
    * ncc: ``den`` = sqrt(S2 * sum T^2); ``add`` = sum_c mean(T_c) * S_c;
    * ssd: ``den`` None-like (zeros); ``add`` = n var + |T'|^2 + n sum_c (mean_w - mean_T)^2.
    """
    rows = prefix.shape[0] - h
    k = prefix.shape[1]
    channels = k - 1
    width = prefix.shape[2]
    out_w = width - w + 1
    n = h * w
    den = np.empty((rows, out_w), dtype=dtype)
    add = None if method == "zncc" else np.empty((rows, out_w), dtype=np.float64)
    tnorm = math.sqrt(tnorm2)
    strip = max(4, (1 << 20) // (k * width * 8))

    def work(r0: int, r1: int) -> None:
        vertical = np.empty((strip, k, width))
        sums = np.empty((strip, k, out_w))
        diff2 = np.empty((strip, out_w))
        scratch = np.empty((strip, out_w))
        for y0 in range(r0, r1, strip):
            y1 = min(r1, y0 + strip)
            _stats_strip(y0, y1, vertical, sums, diff2, scratch)

    def _stats_strip(y0, y1, vertical, sums, diff2, scratch) -> None:
        m = y1 - y0
        v, s_, d, t = vertical[:m], sums[:m], diff2[:m], scratch[:m]
        np.subtract(prefix[y0 + h : y1 + h], prefix[y0:y1], out=v)
        np.cumsum(v, axis=-1, out=v)
        s_[:, :, 0] = v[:, :, w - 1]
        np.subtract(v[:, :, w:], v[:, :, : out_w - 1], out=s_[:, :, 1:])
        sq = s_[:, channels]
        if method == "ncc":
            np.multiply(sq, tsq, out=t)
            np.sqrt(t, out=den[y0:y1], casting="same_kind")
            a = add[y0:y1]
            np.multiply(s_[:, 0], tmean[0], out=a)
            for c in range(1, channels):
                a += s_[:, c] * tmean[c]
            return
        # sum_c S_c**2 / n, then n * variance = S2 - that (float64: difference of large sums)
        np.square(s_[:, 0], out=d)
        for c in range(1, channels):
            d += np.square(s_[:, c], out=t)
        d /= n
        np.subtract(sq, d, out=d)
        np.maximum(d, 0, out=d)
        if method == "zncc":
            # OpenCV's flat-window rule (templmatch.cpp): treat as flat when the variance is
            # within float32 rounding of the sum of squares.
            flat = d <= (10 * _FLT_EPSILON) * sq
            np.sqrt(d, out=d)
            d *= tnorm
            d[flat] = 0.0
            den[y0:y1] = d
            return
        a = add[y0:y1]
        np.add(d, tnorm2, out=a)
        for c in range(channels):
            np.multiply(s_[:, c], 1.0 / n, out=t)
            t -= tmean[c]
            np.square(t, out=t)
            t *= n
            a += t

    if method == "ssd":
        den.fill(0)
    tasks = [lambda r0=r0, r1=r1: work(r0, r1) for r0, r1 in _halves(rows)]
    return (den, add), tasks


def _as_hwc(array: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(array)
    if arr.ndim not in (2, 3):
        raise TemplateError(f"{name} must be (H, W) or (H, W, C), got shape {arr.shape}")
    if arr.size == 0:
        raise TemplateError(f"{name} is empty (shape {arr.shape})")
    if arr.dtype.kind not in "uifb":
        raise TemplateError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
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


def _resize_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) interpolation matrix: area average when shrinking, bilinear when growing."""
    if n_out == n_in:
        return np.eye(n_in)
    if n_out < n_in:
        # Output pixel j covers input span [j*f, (j+1)*f); weight = overlap / f.
        f = n_in / n_out
        edges = np.arange(n_out + 1) * f
        lo, hi = edges[:-1, None], edges[1:, None]
        i = np.arange(n_in)[None, :]
        overlap = np.clip(np.minimum(hi, i + 1) - np.maximum(lo, i), 0, None)
        return overlap / f
    # Bilinear with half-pixel centres and clamped edges (cv2.INTER_LINEAR).
    src = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
    src = np.clip(src, 0, n_in - 1)
    left = np.floor(src).astype(np.intp)
    right = np.minimum(left + 1, n_in - 1)
    frac = src - left
    mat = np.zeros((n_out, n_in))
    rows = np.arange(n_out)
    np.add.at(mat, (rows, left), 1 - frac)
    np.add.at(mat, (rows, right), frac)
    return mat


def resize(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize ``(H, W)`` or ``(H, W, C)`` to ``shape`` with separable interpolation matrices.

    Each axis shrinks by area averaging (``cv2.INTER_AREA``) and grows bilinearly
    (``cv2.INTER_LINEAR``). Computed in float64 (templates are small), returned in the input's
    float dtype.

    Examples
    --------
    >>> resize(np.array([[0.0, 1.0], [2.0, 3.0]]), (1, 1))
    array([[1.5]])
    >>> resize(np.array([[0.0, 1.0]]), (1, 4))
    array([[0.  , 0.25, 0.75, 1.  ]])
    """
    arr = np.asarray(image)
    out_h, out_w = (int(shape[0]), int(shape[1]))
    if out_h < 1 or out_w < 1:
        raise TemplateError(f"cannot resize to {out_h}x{out_w}")
    dtype = np.float32 if arr.dtype == np.float32 else np.float64
    ry = _resize_matrix(arr.shape[0], out_h)
    rx = _resize_matrix(arr.shape[1], out_w)
    out = np.tensordot(ry, arr.astype(np.float64, copy=False), axes=(1, 0))
    out = np.tensordot(rx, out, axes=(1, 1)).swapaxes(0, 1)
    return np.ascontiguousarray(out, dtype=dtype)


def rotate(image: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """Turn ``(H, W[, C])`` by ``angle`` degrees counter-clockwise about its centre.

    Returns the turned image in a box just large enough to hold it (bilinear samples, float64)
    and its coverage ``(H', W')`` in [0, 1]: the share of each output pixel that falls inside
    the source (0 in the corners the turn leaves empty). Quarter turns are exact.

    Examples
    --------
    >>> img = np.arange(6.0).reshape(2, 3)
    >>> turned, cover = rotate(img, 90)
    >>> turned.tolist(), bool(cover.all())
    ([[2.0, 5.0], [1.0, 4.0], [0.0, 3.0]], True)
    >>> rotate(np.ones((5, 5)), 45)[1].shape
    (7, 7)
    """
    arr = np.asarray(image, dtype=np.float64)
    quarter = float(angle) / 90.0
    if quarter == round(quarter):
        turned = np.rot90(arr, round(quarter) % 4)
        return np.ascontiguousarray(turned), np.ones(turned.shape[:2])
    h, w = arr.shape[:2]
    theta = math.radians(float(angle))
    cos, sin = math.cos(theta), math.sin(theta)
    # The turned box's extent rounded to the nearest pixel (scipy.ndimage.rotate's size).
    out_h = max(1, int(abs(h * cos) + abs(w * sin) + 0.5))
    out_w = max(1, int(abs(w * cos) + abs(h * sin) + 0.5))
    yy, xx = np.mgrid[0:out_h, 0:out_w].astype(np.float64)
    dy, dx = yy - (out_h - 1) / 2, xx - (out_w - 1) / 2
    # Inverse map (image rows grow downwards, so counter-clockwise on screen).
    src_x = cos * dx - sin * dy + (w - 1) / 2
    src_y = sin * dx + cos * dy + (h - 1) / 2
    x0, y0 = np.floor(src_x), np.floor(src_y)
    fx, fy = src_x - x0, src_y - y0
    x0, y0 = x0.astype(np.intp), y0.astype(np.intp)
    planes = arr.reshape(h, w, -1)
    turned = np.zeros((out_h, out_w, planes.shape[2]))
    cover = np.zeros((out_h, out_w))
    for oy, ox, weight in ((0, 0, (1 - fy) * (1 - fx)), (0, 1, (1 - fy) * fx),
                           (1, 0, fy * (1 - fx)), (1, 1, fy * fx)):  # fmt: skip
        ys, xs = y0 + oy, x0 + ox
        inside = (ys >= 0) & (ys < h) & (xs >= 0) & (xs < w)
        wgt = np.where(inside, weight, 0.0)
        turned += wgt[:, :, None] * planes[np.clip(ys, 0, h - 1), np.clip(xs, 0, w - 1)]
        cover += wgt
    # Where the source covers part of a pixel, the samples it has are renormalized.
    np.divide(turned, cover[:, :, None], out=turned, where=cover[:, :, None] > 0)
    return turned.reshape((out_h, out_w, *arr.shape[2:])), np.clip(cover, 0.0, 1.0)


# --------------------------------------------------------------------------------------------
# score maps
# --------------------------------------------------------------------------------------------


class _Prepared:
    """An image ready for matching: spectra of its channels and running sums, computed once."""

    def __init__(self, image: np.ndarray, dtype: np.dtype) -> None:
        self.image = image  # (H, W, C)
        self.dtype = dtype
        self.height, self.width, self.channels = image.shape
        self.fft_shape = (next_fast_len(self.height), next_fast_len(self.width))
        # Removing each channel's global mean leaves zero-mean-template correlations unchanged
        # but shrinks the values the float32 FFT rounds against.
        # Only a constant per channel: subtracting any constant leaves the scores exact
        # (zero-mean templates; the masked formulas carry it along), and one near the mean
        # shrinks the values the float32 FFT rounds against. So ~64 rows suffice. Row-wise
        # sums: reducing a (H*W, C) view over its long axis is a strided loop, 10x slower.
        sample = image[:: max(1, self.height // 64)]
        columns = sample.reshape(sample.shape[0], -1).sum(axis=0, dtype=np.float64)
        self.means = columns.reshape(self.width, self.channels).sum(axis=0) / (
            sample.shape[0] * self.width
        )
        self._spectrum: np.ndarray | None = None
        self._prefix: np.ndarray | None = None
        self._complete = False
        self._masked: dict[str, np.ndarray] = {}

    # -- unmasked -------------------------------------------------------------------------
    def ready(self) -> bool:
        return self._complete

    def ensure(self) -> None:
        """Compute the channel spectra and the running sums (once; reused for every template)."""
        if not self.ready():
            sums, ffts, _, _ = self.plan()
            runtime.run_lanes(sums, ffts)
            self._complete = True

    def plan(
        self,
    ) -> tuple[list[Callable[[], None]], list[Callable[[], None]], runtime.Latch, runtime.Latch]:
        """Tasks filling ``_prefix``, ``_spectrum``: ``(sums, ffts, prefix_done, spectrum_done)``.

        ``sums`` computes the running sums, ``ffts`` the spectra (row FFTs of the centred
        channels in row blocks, then column FFTs in column blocks, in place); the latches
        open when each is complete. Empty when already computed. The caller runs the tasks
        (with its own, see :func:`_zncc_scores`) and then sets ``_complete``.
        """
        if self.ready():
            return [], [], runtime.Latch(0), runtime.Latch(0)
        height, width, channels = self.image.shape
        fh, fw = self.fft_shape
        half = fw // 2 + 1
        spectrum = np.empty((channels, fh, half), dtype=np.result_type(self.dtype, np.complex64))
        spectrum[:, height:] = 0  # zero padding below the image
        prefix, prefix_tasks = _prefix_tasks(self.image)
        self._spectrum, self._prefix = spectrum, prefix
        n = None if width == fw else fw

        def rows(c: int, r0: int, r1: int) -> None:
            # Removing each channel's global mean leaves zero-mean-template correlations
            # unchanged but shrinks the values the float32 FFT rounds against.
            centred = np.empty((32, width), dtype=self.dtype)
            for y0 in range(r0, r1, 32):
                y1 = min(r1, y0 + 32)
                part = centred[: y1 - y0]
                np.subtract(self.image[y0:y1, :, c], self.means[c], out=part, casting="unsafe")
                np.fft.rfft(part, n=n, axis=-1, norm="ortho", out=spectrum[c, y0:y1])

        def cols(c: int, c0: int, c1: int) -> None:
            part = spectrum[c, :, c0:c1]
            np.fft.fft(part, axis=0, norm="ortho", out=part)

        prefix_done = runtime.Latch(len(prefix_tasks))
        sums = [runtime.after(task, (), prefix_done) for task in prefix_tasks]
        row_blocks, col_blocks = _chunks(height, 128), _chunks(half, 64)
        spectrum_done = runtime.Latch(channels * len(col_blocks))
        ffts = []
        for c in range(channels):
            rows_done = runtime.Latch(len(row_blocks))
            ffts += [runtime.after(lambda c=c, r=r: rows(c, *r), (), rows_done) for r in row_blocks]
            ffts += [
                runtime.after(lambda c=c, r=r: cols(c, *r), (rows_done,), spectrum_done)
                for r in col_blocks
            ]
        return sums, ffts, prefix_done, spectrum_done

    def terms(self, tpl: np.ndarray, method: str):
        """``(corr, den, add)`` for an unmasked float64 template ``(h, w, C)``.

        ``corr`` = sum_c corr(I_c - mean_c, T_c - mean(T_c)), from the FFT; ``den``/``add`` are
        the window terms of :func:`_stats_tasks`, computed at the same time on another thread.
        """
        self.ensure()
        h, w, channels = tpl.shape
        tmean = tpl.reshape(-1, channels).mean(axis=0)
        tzero = tpl - tmean
        tnorm2 = float(np.sum(tzero * tzero))
        tsq = float(np.sum(tpl * tpl))

        (den, add), tasks = _stats_tasks(
            self._prefix.transpose(1, 0, 2),
            h,
            w,
            method=method,
            tmean=tmean,
            tnorm2=tnorm2,
            tsq=tsq,
            dtype=self.dtype,
        )
        corr = _correlate_spectrum(self._spectrum, tzero, self.fft_shape, self.height, self.width)
        runtime.run_all(tasks)
        return corr, den, add

    # -- masked ---------------------------------------------------------------------------
    def masked_spectrum(self, key: str) -> np.ndarray:
        """float64 spectra of the channels: 'raw' I, 'square' I**2, 'centred' I - mean,
        'square_centred' (I - mean)**2."""
        if key not in self._masked:
            img = self.image.astype(np.float64)
            if key in ("centred", "square_centred"):
                img = img - self.means
            if key in ("square", "square_centred"):
                img = img * img
            self._masked[key] = np.stack(
                [_rfft2(img[:, :, c], self.fft_shape) for c in range(self.channels)]
            )
        return self._masked[key]


def _rfft2(plane: np.ndarray, fft_shape: tuple[int, int]) -> np.ndarray:
    """Spectrum of one real ``(h, w)`` plane zero-padded to ``fft_shape``, ``norm="ortho"``.

    ``norm="ortho"`` on purpose: numpy 2.4's pocketfft runs the unscaled directions (forward
    with the default norm) several times slower than scaled ones on this kind of machine.
    Large planes are split in halves (rows, then columns) over two threads.
    """
    height, width = plane.shape
    fh, fw = fft_shape
    half = fw // 2 + 1
    dtype = np.result_type(plane.dtype, np.complex64)
    rows = np.empty((height, half), dtype=dtype)
    spectrum = np.empty((fh, half), dtype=dtype)
    n = None if width == fw else fw

    def row_part(r0: int, r1: int) -> None:
        np.fft.rfft(plane[r0:r1], n=n, axis=-1, norm="ortho", out=rows[r0:r1])

    def col_part(c0: int, c1: int) -> None:
        m = None if height == fh else fh
        np.fft.fft(rows[:, c0:c1], n=m, axis=0, norm="ortho", out=spectrum[:, c0:c1])

    big = plane.size >= 1 << 18
    runtime.run_all([lambda r=r: row_part(*r) for r in (_halves(height) if big else [(0, height)])])
    runtime.run_all([lambda c=c: col_part(*c) for c in (_halves(half) if big else [(0, half)])])
    return spectrum


def _kernel_spectrum(plane: np.ndarray, fft_shape: tuple[int, int], real: np.dtype) -> np.ndarray:
    """Conjugate spectrum of one template plane, scaled so that products invert to plain
    correlations (ortho transforms: a factor sqrt(N) on the template)."""
    gain = math.sqrt(fft_shape[0] * fft_shape[1])
    spectrum = _rfft2((plane * gain).astype(real), fft_shape)
    return np.conjugate(spectrum, out=spectrum)


def _valid_inverse(
    cross: np.ndarray, fft_shape: tuple[int, int], out_h: int, out_w: int
) -> np.ndarray:
    """The valid ``(out_h, out_w)`` corner of the inverse transform of ``cross`` (consumed)."""
    real = cross.real.dtype
    # Columns first (complex, only the valid rows are kept), then rows (real output).
    cols = np.empty((fft_shape[0], cross.shape[1]), dtype=cross.dtype)
    full = np.empty((out_h, fft_shape[1]), dtype=real)

    def col_part(c0: int, c1: int) -> None:
        np.fft.ifft(cross[:, c0:c1], axis=0, norm="ortho", out=cols[:, c0:c1])

    def row_part(r0: int, r1: int) -> None:
        np.fft.irfft(cols[r0:r1], n=fft_shape[1], axis=-1, norm="ortho", out=full[r0:r1])

    runtime.run_all([lambda c=c: col_part(*c) for c in _halves(cross.shape[1])])
    runtime.run_all([lambda r=r: row_part(*r) for r in _halves(out_h)])
    return full[:, :out_w]


def _correlate_spectrum(
    spectrum: np.ndarray, templ: np.ndarray, fft_shape: tuple[int, int], height: int, width: int
) -> np.ndarray:
    """Valid cross-correlation summed over channels: ``sum_c corr(image_c, templ_c)``.

    ``spectrum`` is ``(C, *fft_shape)`` from :func:`_rfft2`. Circular correlation of a size at
    least the image's has no wrap-around in the valid region, so no padding by the template
    size is needed; the channel sum is taken on the spectra (one inverse FFT).
    """
    h, w, channels = templ.shape
    real = spectrum.real.dtype
    cross = None
    for c in range(channels):
        tspec = _kernel_spectrum(templ[:, :, c], fft_shape, real)
        np.multiply(tspec, spectrum[c], out=tspec)
        if cross is None:
            cross = tspec
        else:
            cross += tspec
    return _valid_inverse(cross, fft_shape, height - h + 1, width - w + 1)


def _correlate_each(
    spectrum: np.ndarray, plane: np.ndarray, fft_shape: tuple[int, int], height: int, width: int
) -> list[np.ndarray]:
    """``[corr(image_c, plane) for each channel c]``: one kernel spectrum for all channels."""
    h, w = plane.shape
    kernel = _kernel_spectrum(plane, fft_shape, spectrum.real.dtype)
    return [
        _valid_inverse(spectrum[c] * kernel, fft_shape, height - h + 1, width - w + 1)
        for c in range(spectrum.shape[0])
    ]


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


def match_template(
    image: np.ndarray,
    template: np.ndarray,
    *,
    method: str = "zncc",
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """Score every placement of ``template`` in ``image`` (OpenCV ``matchTemplate`` semantics).

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, C)
    template : ndarray, shape (h, w) or (h, w, C), with h <= H and w <= W
    method : {'zncc', 'ncc', 'ssd'}
        ``TM_CCOEFF_NORMED``, ``TM_CCORR_NORMED`` or ``TM_SQDIFF`` (raw sum, lower is better).
    mask : ndarray, shape (h, w) or (h, w, C), optional
        Non-negative weights (0 = ignored pixel), as a float32 mask of ``cv2.matchTemplate``.

    Returns
    -------
    ndarray, shape (H - h + 1, W - w + 1)
        float32 (float64 when an input is float64); entry ``[y, x]`` scores the window whose
        top-left corner is ``(x, y)``.

    Examples
    --------
    >>> image = np.zeros((6, 6)); image[1, 1] = 1; image[4, 4] = -1
    >>> match_template(image, np.array([[0, 0, 0], [0, 1, 0], [0, 0, 0]]), method="zncc")
    array([[ 1.   , -0.125,  0.   ,  0.   ],
           [-0.125, -0.125,  0.   ,  0.   ],
           [ 0.   ,  0.   ,  0.125,  0.125],
           [ 0.   ,  0.   ,  0.125, -1.   ]])
    """
    method = _check_method(method)
    img, tpl, m, dtype = _prepare(image, template, mask)
    prepared = _Prepared(img, dtype)
    return _score_map(prepared, tpl, m, method).astype(dtype, copy=False)


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


def _score_map(prepared: _Prepared, tpl: np.ndarray, m: np.ndarray | None, method: str):
    _check_template_contrast(tpl, m, method)
    if m is not None:
        return _masked_scores(prepared, tpl, m, method)
    if method == "zncc":
        return _zncc_scores(prepared, tpl)
    corr, den, add = prepared.terms(tpl, method)
    if method == "ssd":
        # ssd = sum_c [n var_w + |T'|^2 - 2 corr(I', T') + n (mu_w - mu_T)^2]: the large terms
        # are exact float64 window sums, only the correlation comes from the FFT.
        score = np.multiply(corr, -2.0, dtype=np.float64)
        score += add
        return np.maximum(score, 0.0, out=score)
    if method == "ncc":
        # corr(I_c, T_c) = corr(I_c - mean_c, T_c - tmean_c) + tmean_c * S_c
        num = np.add(corr, add, dtype=np.float64)
        score = np.zeros_like(den)
        np.divide(num, den, out=score, where=den > 0, casting="same_kind")
    else:
        score = np.zeros(corr.shape, dtype=prepared.dtype)
        np.divide(corr, den, out=score, where=den > 0)
    return np.clip(score, -1.0, 1.0, out=score)


_STRIP_ELEMS = 1 << 16


def _box_sum(values: np.ndarray, w: int, other: np.ndarray, acc: np.ndarray) -> np.ndarray:
    """``out[i] = values[i : i + w].sum()`` for ``i <= values.size - w``, by doubling.

    Sums of 1, 2, 4, ... neighbours are built in turn and those of ``w``'s binary digits
    added up: ``log2(w) + popcount(w)`` contiguous 1-D passes, ~4x cheaper than ``np.cumsum``
    and exact to float64 rounding of a few additions. Clobbers ``values``; ``other`` and
    ``acc`` are scratch of the same size. For rows of width W laid end to end, entries whose
    row position is past ``W - w`` mix two rows and are to be ignored.

    Examples
    --------
    >>> v = np.arange(8.0); s = _box_sum(v.copy(), 3, np.empty(8), np.empty(8))
    >>> s[:6]
    array([ 3.,  6.,  9., 12., 15., 18.])
    """
    size = values.size
    span, done, rest = 1, 0, w  # `values` holds sums of `span`; `acc` sums of `done`
    result = None
    while True:
        if rest & 1:
            m = size - done - span + 1
            if result is None and rest == 1:
                return values  # w is a power of two: the last doubling is the answer
            if result is None:
                np.copyto(acc[:m], values[:m])
                result = acc
            else:
                np.add(acc[:m], values[done : done + m], out=acc[:m])
            done += span
        rest >>= 1
        if not rest:
            return result
        m = size - 2 * span + 1
        np.add(values[:m], values[span : span + m], out=other[:m])
        values, other = other, values
        span *= 2


def _zncc_scores(prepared: _Prepared, tpl: np.ndarray) -> np.ndarray:
    """Unmasked zncc map: FFT correlation and window statistics, overlapped on the threads.

    score = corr(I - mean, T') * sqrt(n / |T'|^2) / sqrt(n S2 - sum_c S_c^2), with ``S_c``
    the window sums of each channel and ``S2`` of the channel sum of squares. The constant is
    folded into the template before its FFT; a flat window (OpenCV's rule) gets a factor 0.
    """
    h, w, channels = tpl.shape
    height, width = prepared.height, prepared.width
    fh, fw = prepared.fft_shape
    half = fw // 2 + 1
    out_h, out_w = height - h + 1, width - w + 1
    n = h * w
    real = prepared.dtype
    tmean = tpl.reshape(-1, channels).mean(axis=0)
    tzero = tpl - tmean
    tnorm2 = float(np.sum(tzero * tzero))
    # ortho transforms: sqrt(fh * fw) makes the result the plain correlation.
    gain = math.sqrt(fh * fw * n / tnorm2)
    # conj(fft2(t)) = ifft over columns of conj(rfft over rows): the template's row spectrum
    # has only h rows, and the column transform zero-pads them (no full-size template plane).
    padded = np.zeros((channels, h, fw), dtype=real)  # by hand: rfft(n=) is slower here
    padded[:, :, :w] = (tzero * gain).transpose(2, 0, 1)
    trow = np.fft.rfft(padded, axis=-1, norm="ortho")
    np.conjugate(trow, out=trow)
    cross = np.empty((fh, half), dtype=np.result_type(real, np.complex64))
    # The statistics write sqrt(n S2 - sum S_c^2) (inf if flat) into the score map, which
    # the last step divides in place: one full-size buffer less (page faults: ~2 ms).
    score = np.empty((out_h, out_w), dtype=real)

    def columns(c0: int, c1: int) -> None:
        spectrum = prepared._spectrum
        # Contiguous scratch of a column block (in L2). Zero padding by hand: `ifft(n=)` and
        # transforms of strided views cost 2x more.
        tcol = np.zeros((fh, c1 - c0), dtype=cross.dtype)
        acc = np.empty_like(tcol) if channels > 1 else tcol
        for c in range(channels):
            if c:
                tcol[h:] = 0
            tcol[:h] = trow[c, :, c0:c1]
            np.fft.ifft(tcol, axis=0, norm="ortho", out=tcol)
            if c == 0:
                np.multiply(tcol, spectrum[c, :, c0:c1], out=acc)
            else:
                tcol *= spectrum[c, :, c0:c1]
                acc += tcol
        np.fft.ifft(acc, axis=0, norm="ortho", out=cross[:, c0:c1])

    k = channels + 1
    strip = max(1, _STRIP_ELEMS // (k * width))
    limit = 10 * _FLT_EPSILON * n

    def stats(r0: int, r1: int) -> None:
        # float64 up to the square root: the window sums are differences of large running
        # sums, and n S2 - sum_c S_c^2 cancels. All planes go through each step as one flat
        # array: fewer, larger numpy calls (threads contend for the GIL between calls).
        prefix = prepared._prefix
        planes = np.empty(k * strip * width)
        other = np.empty_like(planes)
        acc = np.empty_like(planes)
        sumsq = np.empty(strip * width)
        flat = np.empty(strip * width, dtype=bool)
        for y0 in range(r0, r1, strip):
            y1 = min(r1, y0 + strip)
            size = (y1 - y0) * width
            length = size - w + 1
            vertical = planes[: k * size]
            np.subtract(
                prefix[:, y0 + h : y1 + h], prefix[:, y0:y1], out=vertical.reshape(k, -1, width)
            )
            # window sums of every plane; entries past a row's last window mix two rows (or
            # two planes) and are never read
            box = _box_sum(vertical, w, other[: k * size], acc[: k * size])
            sums = [box[q * size : q * size + length] for q in range(k)]
            sq = sumsq[:length]
            np.square(sums[0], out=sq)
            for c in range(1, channels):
                sq += np.square(sums[c], out=sums[c])
            big = sums[channels]
            dn = np.multiply(big, n, out=sums[0])  # n S2
            np.subtract(dn, sq, out=dn)
            big *= limit  # OpenCV's flat rule: variance <= 10 FLT_EPSILON * sum of squares
            fl = np.less_equal(dn, big, out=flat[:length])
            if fl.any():  # flat windows are rare; a masked copy costs ~ their number
                np.copyto(dn, np.inf, where=fl)  # correlation / inf = 0
            np.sqrt(dn, out=dn)
            rows = box[:size].reshape(-1, width)[:, :out_w]  # dn, as rows of windows
            np.copyto(score[y0:y1], rows, casting="same_kind")

    def finish(r0: int, r1: int) -> None:
        for y0, y1 in _chunks(r1 - r0, 32):
            corr = np.fft.irfft(cross[r0 + y0 : r0 + y1], n=fw, axis=-1, norm="ortho")
            part = score[r0 + y0 : r0 + y1]
            np.divide(corr[:, :out_w], part, out=part)
            np.clip(part, -1.0, 1.0, out=part)
            part += 0.0  # -0.0 (a negative correlation over inf) reads as 0

    # Two lanes: running sums then window statistics (many small numpy calls) on one
    # thread, the FFTs (few long calls) on the other; see _run_lanes. (Scoring row blocks
    # in the FFT lane as their statistics finish was slower: 35 -> 38 ms, gray 64x64.)
    sums, ffts, prefix_done, spectrum_done = prepared.plan()
    sums += [runtime.after(lambda r=r: stats(*r), (prefix_done,)) for r in _chunks(out_h, 64)]
    ffts += [runtime.after(lambda c=c: columns(*c), (spectrum_done,)) for c in _chunks(half, 64)]
    runtime.run_lanes(sums, ffts)
    prepared._complete = True
    runtime.run_queue([lambda r=r: finish(*r) for r in _chunks(out_h, 128)])
    return score


def _masked_scores(prepared: _Prepared, tpl: np.ndarray, m: np.ndarray, method: str):
    """OpenCV's masked TM_CCOEFF_NORMED / TM_CCORR_NORMED / TM_SQDIFF, in float64.

    float64 because the window statistics here are FFT correlations with the mask, and the
    variance ``sum M^2 I^2 - (sum M I)^2 / sum M`` cancels catastrophically in float32.
    """
    channels = tpl.shape[2]
    weights = np.broadcast_to(m, tpl.shape).astype(np.float64)
    w2 = weights * weights
    shape = prepared.fft_shape
    H, W = prepared.height, prepared.width

    def corr(key: str, kernel: np.ndarray) -> np.ndarray:
        return _correlate_spectrum(prepared.masked_spectrum(key), kernel, shape, H, W)

    if method == "zncc":
        # Image centred on (about) its mean: every quantity below is shift invariant.
        spec = prepared.masked_spectrum("centred")
        sq_spec = prepared.masked_spectrum("square_centred")
        total = weights.reshape(-1, channels).sum(axis=0)  # sum M, per channel
        tmean = (weights * tpl).reshape(-1, channels).sum(axis=0) / total
        tprime = w2 * (tpl - tmean)  # M^2 (T - mu_T)
        tsum = tprime.reshape(-1, channels).sum(axis=0)
        tnorm2 = float(np.sum(w2 * (tpl - tmean) ** 2))
        num = corr("centred", tprime)
        # Per channel: sum M (I - m) and sum M^2 (I - m); summed over channels: sum M^2 (I - m)^2.
        # A mask shared by the channels (alpha, turned corners) needs one kernel spectrum per
        # quantity, and a 0/1 mask has M^2 = M: 5 inverse transforms for RGB instead of 10.
        if m.shape[2] == 1:
            wsums = _correlate_each(spec, weights[:, :, 0], shape, H, W)
            binary = bool(np.all((m == 0) | (m == 1)))
            wsum2s = wsums if binary else _correlate_each(spec, w2[:, :, 0], shape, H, W)
            wsq = _correlate_spectrum(sq_spec.sum(axis=0, keepdims=True), w2[:, :, :1], shape, H, W)
        else:
            wsums, wsum2s = [], []
            for c in range(channels):
                one = slice(c, c + 1)
                wsums.append(_correlate_spectrum(spec[one], weights[:, :, one], shape, H, W))
                wsum2s.append(_correlate_spectrum(spec[one], w2[:, :, one], shape, H, W))
            wsq = _correlate_spectrum(sq_spec, w2, shape, H, W)
        var = wsq.copy()  # sum_c sum M^2 (I - mu_I)^2
        sumsq = wsq.copy()  # sum_c sum M^2 I^2 (for the flat-window rule)
        for c in range(channels):
            mu = wsums[c] / total[c]
            num -= mu * tsum[c]
            var += mu * mu * float(w2[:, :, c].sum()) - 2 * mu * wsum2s[c]
            # sum M^2 I^2 = sum M^2 (I - m)^2 + 2 m sum M^2 (I - m) + m^2 sum M^2
            mc = prepared.means[c]
            sumsq += 2 * mc * wsum2s[c] + mc * mc * float(w2[:, :, c].sum())
        np.maximum(var, 0, out=var)
        flat = var <= 10 * _FLT_EPSILON * np.abs(sumsq)
        den = np.sqrt(var * tnorm2)
        den[flat] = 1.0
        score = np.divide(num, den, out=num)
        score[flat] = 0.0
        return np.clip(score, -1.0, 1.0, out=score)
    wtpl = w2 * tpl
    num = corr("raw", wtpl)
    wsq = corr("square", w2)
    if method == "ncc":
        den = np.sqrt(np.maximum(wsq, 0) * float(np.sum(wtpl * tpl)))
        zero = den <= 0
        den[zero] = 1.0
        score = num / den
        score[zero] = 0.0
        return np.clip(score, -1.0, 1.0, out=score)
    ssd = wsq - 2 * num + float(np.sum(wtpl * tpl))
    return np.maximum(ssd, 0.0, out=ssd)


# --------------------------------------------------------------------------------------------
# peaks, non-maximum suppression, multi-scale search
# --------------------------------------------------------------------------------------------


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
    if 0 < x < width - 1:
        fx += _parabola_offset(scores[y, x - 1], scores[y, x], scores[y, x + 1])
    if 0 < y < height - 1:
        fy += _parabola_offset(scores[y - 1, x], scores[y, x], scores[y + 1, x])
    return fx, fy


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
        scores = np.asarray(by_placement[m.scale, m.angle], dtype=np.float64)
        fx, fy = subpixel_peak(scores, m.x, m.y)
        refined.append(replace(m, x_subpixel=fx, y_subpixel=fy))
    result.matches = refined
    return result


def _local_maxima(scores: np.ndarray) -> np.ndarray:
    """Boolean map of the points that are >= their 8 neighbours (a 3x3 max filter)."""
    padded = np.pad(scores, 1, mode="constant", constant_values=-np.inf)
    rows = np.maximum(np.maximum(padded[:-2], padded[1:-1]), padded[2:])
    neighbourhood = np.maximum(np.maximum(rows[:, :-2], rows[:, 1:-1]), rows[:, 2:])
    return scores >= neighbourhood


def _candidates(
    scores: np.ndarray, *, threshold: float, higher: bool, limit: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(score, y, x) of local maxima passing ``threshold``, best first, at most ``limit``."""
    work = np.asarray(scores, dtype=np.float64)
    if not higher:
        work = -work
        threshold = -threshold
    keep = _local_maxima(work) & (work >= threshold)
    ys, xs = np.nonzero(keep)
    values = work[ys, xs]
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
            count = math.floor((stop - start) / step + 1e-9) + 1
            if count > 200:
                raise TemplateError(f"{what} range {text!r} has {count} {what}s (at most 200)")
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
    A turned template that does not fit in the image is skipped.

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
    img = _as_hwc(image, "image")
    tpl = _as_hwc(template, "template")
    if img.shape[2] != tpl.shape[2]:
        if 3 in (img.shape[2], tpl.shape[2]) and 1 in (img.shape[2], tpl.shape[2]):
            img, tpl = _as_hwc(to_gray(img), "image"), _as_hwc(to_gray(tpl), "template")
        else:
            raise TemplateError(
                f"image has {img.shape[2]} channel(s) but the template has {tpl.shape[2]}"
            )
    scale_list = [float(s) for s in scales]
    if not scale_list or any(not math.isfinite(s) or s <= 0 for s in scale_list):
        raise TemplateError("scales must be positive numbers")
    fits, skipped = [], []
    for s in scale_list:
        th = max(1, round(tpl.shape[0] * s))
        tw = max(1, round(tpl.shape[1] * s))
        (fits if th <= img.shape[0] and tw <= img.shape[1] else skipped).append((s, th, tw))
    if not fits:
        raise TemplateError(
            f"template ({tpl.shape[1]}x{tpl.shape[0]}) is larger than the image "
            f"({img.shape[1]}x{img.shape[0]})"
            + ("" if scale_list == [1.0] else " at every scale searched")
        )
    angle_list = [float(a) for a in angles]
    if not angle_list or any(not math.isfinite(a) for a in angle_list):
        raise TemplateError("angles must be finite numbers")
    img, _, m0, dtype = _prepare(img, tpl, mask)
    if mask is not None and m0 is None:
        mask = None  # all-ones
    prepared = _Prepared(img, dtype)
    maps = []
    for s, th, tw in fits:
        t = tpl.astype(np.float64) if (th, tw) == tpl.shape[:2] else resize(tpl, (th, tw))
        m = None
        if mask is not None:
            mm = _as_hwc(mask, "mask").astype(np.float64)
            m = mm if (th, tw) == mm.shape[:2] else resize(mm, (th, tw))
            m = np.clip(m, 0, None)
        for angle in angle_list:
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
    if not maps:
        raise TemplateError(
            f"template ({tpl.shape[1]}x{tpl.shape[0]}) turned by every angle searched is "
            f"larger than the image ({img.shape[1]}x{img.shape[0]})"
        )
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


# --------------------------------------------------------------------------------------------
# pictures: heatmap, colour conversion for annotation
# --------------------------------------------------------------------------------------------


def heatmap(result: SearchResult, *, colormap: np.ndarray = INFERNO) -> np.ndarray:
    """Colour picture ``(H, W, 3)`` in [0, 1] of the score maps, the size of the image.

    Each score is drawn at the centre of its window (the best over all scales); pixels no
    window centre reaches are the colormap's lowest colour. zncc is shown on a fixed scale
    (0 or below = darkest, 1 = brightest); ncc from its minimum to its maximum; ssd inverted
    (0 = brightest, the largest difference = darkest).

    Examples
    --------
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
