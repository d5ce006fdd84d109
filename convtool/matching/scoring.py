"""Score maps of the matcher: plain scores of the six methods, padding, and match_template.

Owns: :func:`match_template`, :func:`pad_image` (scikit-image's ``pad_input``), the dispatch
:func:`_score_map` and the unmasked zncc path :func:`_zncc_scores`. The prepared image
(:class:`_Prepared`) is in :mod:`.prepared`, masked scores in :mod:`.masked`; this module
imports both, and they import neither it nor each other.

Speed: correlations use real FFTs of 2,3,5-smooth sizes at least the image size (no padding by
the template size is needed for a "valid" map); the image spectrum is computed once per channel
and reused for every template scale; the channel sum of the cross-correlation is taken in the
frequency domain, so a colour image needs a single inverse FFT. Window sums and sums of squares
come from running sums in float64. For unmasked zncc (:func:`_zncc_scores`) the template's
spectrum comes from its h rows only, and the work runs in two lanes on two threads: running
sums and window statistics (many short numpy calls) beside the FFTs (few long ones).

Must not import: the CLI, :mod:`convtool.images`, click, rich, PIL, and neither
:mod:`.peaks` nor :mod:`.search` (they build on this module).
"""

from __future__ import annotations

import math

import numpy as np

from .. import runtime
from .inputs import (
    TemplateError,
    _as_hwc,
    _check_method,
    _check_template_contrast,
    _prepare,
    flat_limit,
    mask_weights,
    safe_range,
)
from .masked import _masked_scores
from .prepared import _Prepared
from .windows import _STRIP_ELEMS, _box_sum, _chunks

PAD_MODES = ("constant", "edge", "reflect", "symmetric", "wrap")


def match_template(
    image: np.ndarray,
    template: np.ndarray,
    *,
    method: str = "zncc",
    mask: np.ndarray | None = None,
    pad_input: bool = False,
    mode: str = "constant",
    constant_values: float = 0.0,
) -> np.ndarray:
    """Score every placement of ``template`` in ``image`` (OpenCV ``matchTemplate`` semantics).

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, C)
    template : ndarray, shape (h, w) or (h, w, C), with h <= H and w <= W
    method : {'zncc', 'ncc', 'ssd', 'ssd-normed', 'ccorr', 'ccoeff'}
        ``TM_CCOEFF_NORMED``, ``TM_CCORR_NORMED``, ``TM_SQDIFF`` (raw sum, lower is better),
        ``TM_SQDIFF_NORMED`` (lower is better), ``TM_CCORR``, ``TM_CCOEFF``; OpenCV's names
        are accepted too (``"TM_SQDIFF_NORMED"``).
    mask : ndarray, shape (h, w) or (h, w, C), optional
        Float masks are non-negative weights (0 = ignored pixel), as a float32 mask of
        ``cv2.matchTemplate``; integer and boolean masks are on/off (nonzero = used), as
        OpenCV's 8-bit masks (a 0/255 mask weighs 1, not 255).
    pad_input : bool
        As scikit-image's ``match_template(pad_input=True)``: the image is padded by the
        template's size (``mode``, ``constant_values`` as :func:`numpy.pad`) and the map has
        the image's size, entry ``[y, x]`` scoring the window *centred* at ``(x, y)`` (its
        top-left corner at ``(x - w // 2, y - h // 2)``).
    mode, constant_values
        The padding of ``pad_input``: ``'constant'`` (default 0, as scikit-image), ``'edge'``,
        ``'reflect'``, ``'symmetric'`` or ``'wrap'``.

    Returns
    -------
    ndarray, shape (H - h + 1, W - w + 1) or (H, W) with ``pad_input``
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
    >>> match_template(image, np.eye(3), method="ccorr", pad_input=True).shape
    (6, 6)
    """
    method = _check_method(method)
    image, template = np.asarray(image), np.asarray(template)
    if pad_input:
        image = pad_image(image, template.shape[:2], mode=mode, constant_values=constant_values)
    image, template, mask, factor = safe_range(
        image, template, None if mask is None else mask_weights(mask), method
    )
    img, tpl, m, dtype = _prepare(image, template, mask)
    prepared = _Prepared(img, dtype)
    scores = _score_map(prepared, tpl, m, method)
    if factor != 1.0:  # back to the units of the inputs (see safe_range)
        with np.errstate(over="ignore"):
            return (scores * np.float64(factor)).astype(dtype, copy=False)
    return scores.astype(dtype, copy=False)


def pad_image(
    image: np.ndarray,
    shape: tuple[int, int],
    *,
    mode: str = "constant",
    constant_values: float = 0.0,
) -> np.ndarray:
    """``image`` padded so that a ``shape`` template's valid map has the image's size.

    ``h // 2`` rows above, ``h - 1 - h // 2`` below (columns alike): the valid map of the
    padded image is scikit-image's ``pad_input=True`` map. Integer images become float32.

    Examples
    --------
    >>> pad_image(np.ones((3, 4)), (3, 2)).shape
    (5, 5)
    """
    img = _as_hwc(image, "image", finite=False)
    h, w = int(shape[0]), int(shape[1])
    if h > img.shape[0] or w > img.shape[1]:
        raise TemplateError(
            f"template ({w}x{h}) is larger than the image ({img.shape[1]}x{img.shape[0]})"
        )
    if mode not in PAD_MODES:
        raise TemplateError(f"unknown pad mode {mode!r} (choose from {', '.join(PAD_MODES)})")
    if img.dtype.kind != "f":
        img = img.astype(np.float32)
    widths = ((h // 2, h - 1 - h // 2), (w // 2, w - 1 - w // 2), (0, 0))
    if mode != "constant":
        padded = np.pad(img, widths, mode=mode)
    else:
        if not math.isfinite(float(constant_values)):
            raise TemplateError("constant_values must be a finite number")
        padded = np.pad(img, widths, mode=mode, constant_values=constant_values)
    return padded if np.ndim(image) == 3 else padded[:, :, 0]


def _score_map(prepared: _Prepared, tpl: np.ndarray, m: np.ndarray | None, method: str):
    """The (raw, unscaled) score map of one template on a prepared image."""
    _check_template_contrast(tpl, m, method, prepared.dtype)
    if m is not None:
        return _masked_scores(prepared, tpl, m, method)
    if method == "zncc":
        return _zncc_scores(prepared, tpl)
    corr, den, add = prepared.terms(tpl, method)
    if method == "ccoeff":
        # sum (I - mean_w)(T - mean_T) = corr(I - mean_c, T - mean_T): the FFT term alone.
        return corr
    if method in ("ssd", "ssd-normed"):
        # ssd = sum_c [n var_w + |T'|^2 - 2 corr(I', T') + n (mu_w - mu_T)^2]: the large terms
        # are exact float64 window sums about the image's mean (a constant offset cancels),
        # only the correlation comes from the FFT.
        score = np.multiply(corr, -2.0, dtype=np.float64)
        score += add
        np.maximum(score, 0.0, out=score)
        if method == "ssd":
            return score
        # OpenCV's TM_SQDIFF_NORMED: ssd / sqrt(S2 |T|^2), clamped to 1 (its rule) and 1 where
        # the window is all zero.
        out = np.ones_like(score)
        np.divide(score, den, out=out, where=score < den)
        return out
    # corr(I_c, T_c) = corr(I_c - mean_c, T_c - tmean_c) + tmean_c * S_c
    num = np.add(corr, add, dtype=np.float64)
    if method == "ccorr":
        return num
    score = np.zeros_like(den)
    np.divide(num, den, out=score, where=den > 0, casting="same_kind")
    return np.clip(score, -1.0, 1.0, out=score)


def _zncc_scores(prepared: _Prepared, tpl: np.ndarray) -> np.ndarray:
    """Unmasked zncc map: FFT correlation and window statistics, overlapped on the threads.

    score = corr(I - mean, T') * sqrt(n / |T'|^2) / sqrt(n S2 - sum_c S_c^2), with ``S_c``
    the window sums of each channel and ``S2`` of the channel sum of squares. The constant is
    folded into the template before its FFT; a flat window (OpenCV's rule) gets a factor 0.
    Steps: :func:`_zncc_template_rows`, then :func:`_zncc_columns` (FFT lane) beside
    :func:`_zncc_stats` (statistics lane), then :func:`_zncc_finish`.
    """
    h, w, _ = tpl.shape
    fh, fw = prepared.fft_shape
    half = fw // 2 + 1
    out_h, out_w = prepared.height - h + 1, prepared.width - w + 1
    real = prepared.dtype
    trow = _zncc_template_rows(tpl, prepared.fft_shape, real, prepared.offset)
    cross = np.empty((fh, half), dtype=np.result_type(real, np.complex64))
    # The statistics write sqrt(n S2 - sum S_c^2) (inf if flat) into the score map, which
    # the last step divides in place: one full-size buffer less (page faults: ~2 ms).
    score = np.empty((out_h, out_w), dtype=real)

    def columns(c0: int, c1: int) -> None:
        _zncc_columns(prepared, trow, cross, c0, c1)

    def stats(r0: int, r1: int) -> None:
        _zncc_stats(prepared, score, h, w, r0, r1)

    def finish(r0: int, r1: int) -> None:
        _zncc_finish(cross, score, fw, r0, r1)

    # Two lanes: running sums then window statistics (many small numpy calls) on one
    # thread, the FFTs (few long calls) on the other; see runtime.run_lanes. (Scoring row
    # blocks in the FFT lane as their statistics finish was slower: 35 -> 38 ms, gray 64x64.)
    sums, ffts, prefix_done, spectrum_done = prepared.plan()
    sums += [runtime.after(lambda r=r: stats(*r), (prefix_done,)) for r in _chunks(out_h, 64)]
    ffts += [runtime.after(lambda c=c: columns(*c), (spectrum_done,)) for c in _chunks(half, 64)]
    runtime.run_lanes(sums, ffts)
    prepared._complete = True
    runtime.run_queue([lambda r=r: finish(*r) for r in _chunks(out_h, 128)])
    return score


def _zncc_template_rows(
    tpl: np.ndarray, fft_shape: tuple[int, int], real: np.dtype, offset: np.ndarray
) -> np.ndarray:
    """Conjugate row spectra ``(C, h, fw // 2 + 1)`` of the zero-mean template, scaled.

    The scale ``sqrt(fh * fw * n / |T'|^2)`` folds zncc's template norm and the ortho
    transforms' factor into the template.
    """
    h, w, channels = tpl.shape
    fh, fw = fft_shape
    n = h * w
    tcent = tpl - offset  # exact near the image's means (see _Prepared.terms)
    tzero = tcent - tcent.reshape(-1, channels).mean(axis=0)
    tnorm2 = float(np.sum(tzero * tzero))
    # ortho transforms: sqrt(fh * fw) makes the result the plain correlation.
    gain = math.sqrt(fh * fw * n / tnorm2)
    # conj(fft2(t)) = ifft over columns of conj(rfft over rows): the template's row spectrum
    # has only h rows, and the column transform zero-pads them (no full-size template plane).
    padded = np.zeros((channels, h, fw), dtype=real)  # by hand: rfft(n=) is slower here
    padded[:, :, :w] = (tzero * gain).transpose(2, 0, 1)
    trow = np.fft.rfft(padded, axis=-1, norm="ortho")
    np.conjugate(trow, out=trow)
    return trow


def _zncc_columns(
    prepared: _Prepared, trow: np.ndarray, cross: np.ndarray, c0: int, c1: int
) -> None:
    """Columns ``c0:c1`` of ``cross``: the channel sum of image spectrum times template's,
    transformed back along the columns."""
    channels, h = trow.shape[0], trow.shape[1]
    fh = cross.shape[0]
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


def _zncc_stats(prepared: _Prepared, score: np.ndarray, h: int, w: int, r0: int, r1: int) -> None:
    """Rows ``r0:r1`` of ``score`` := sqrt(n S2 - sum_c S_c^2), inf for a flat window."""
    channels, width = prepared.channels, prepared.width
    out_w = score.shape[1]
    n = h * w
    k = channels + 1
    strip = max(1, _STRIP_ELEMS // (k * width))
    # The flat-window rule (flat_limit), times n: dn below is n times the window's n var.
    limit = flat_limit(prepared.dtype, prepared.height / h) * n
    raw_rule = prepared.dtype != np.float64  # OpenCV's: against the raw sum of squares
    offset = prepared.offset  # the running sums are of I - offset (see _prefix_tasks)
    off2 = n * float(np.sum(offset * offset))
    # float64 up to the square root: the window sums are differences of large running
    # sums, and n S2 - sum_c S_c^2 cancels. All planes go through each step as one flat
    # array: fewer, larger numpy calls (threads contend for the GIL between calls).
    prefix = prepared._prefix
    planes = np.empty(k * strip * width)
    other = np.empty_like(planes)
    acc = np.empty_like(planes)
    sumsq = np.empty(strip * width)
    rawbuf = np.empty(strip * width) if raw_rule else None
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
        base = sums[channels]
        if raw_rule and off2 > 0:  # raw S2 = S2' + sum_c (2 o_c S'_c + n o_c^2), before S'^2
            base = np.add(sums[channels], off2, out=rawbuf[:length])
            for c in range(channels):
                if offset[c]:
                    base += np.multiply(sums[c], 2.0 * offset[c], out=sq)
            # at least S2': the raw sum of a black window is 0 only to the rounding of n o^2
            np.maximum(base, sums[channels], out=base)
        np.square(sums[0], out=sq)
        for c in range(1, channels):
            sq += np.square(sums[c], out=sums[c])
        big = sums[channels]
        dn = np.multiply(big, n, out=sums[0])  # n S2
        np.subtract(dn, sq, out=dn)
        base *= limit  # flat: n var <= limit * sum of squares
        fl = np.less_equal(dn, base, out=flat[:length])
        if fl.any():  # flat windows are rare; a masked copy costs ~ their number
            np.copyto(dn, np.inf, where=fl)  # correlation / inf = 0
        np.sqrt(dn, out=dn)
        rows = box[:size].reshape(-1, width)[:, :out_w]  # dn, as rows of windows
        np.copyto(score[y0:y1], rows, casting="same_kind")


def _zncc_finish(cross: np.ndarray, score: np.ndarray, fw: int, r0: int, r1: int) -> None:
    """Rows ``r0:r1``: inverse row FFTs of ``cross`` divided by the statistics in ``score``."""
    out_w = score.shape[1]
    for y0, y1 in _chunks(r1 - r0, 32):
        corr = np.fft.irfft(cross[r0 + y0 : r0 + y1], n=fw, axis=-1, norm="ortho")
        part = score[r0 + y0 : r0 + y1]
        np.divide(corr[:, :out_w], part, out=part)
        np.clip(part, -1.0, 1.0, out=part)
        part += 0.0  # -0.0 (a negative correlation over inf) reads as 0
