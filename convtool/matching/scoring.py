"""Score maps of the matcher: the prepared image, plain zncc/ncc/ssd, and match_template.

Owns: :class:`_Prepared` (an image's channel spectra and running sums, computed once and
reused for every template), :func:`match_template`, the dispatch :func:`_score_map` and the
unmasked zncc path :func:`_zncc_scores`. Masked scores are in :mod:`.masked`.

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
from collections.abc import Callable

import numpy as np

from .. import runtime
from ..engine import next_fast_len
from .inputs import _FLT_EPSILON, _check_method, _check_template_contrast, _prepare, safe_range
from .masked import _masked_scores
from .spectral import _correlate_spectrum, _rfft2
from .windows import _STRIP_ELEMS, _box_sum, _chunks, _prefix_tasks, _stats_tasks


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
        # Unlike the engine's strip FFT: one whole-image spectrum per channel, built in place in
        # row then column blocks that run beside the running sums (run_lanes).

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
            # Unlike the engine: float64 whatever the image dtype (the masked variance cancels).
            img = self.image.astype(np.float64)
            if key in ("centred", "square_centred"):
                img = img - self.means
            if key in ("square", "square_centred"):
                img = img * img
            self._masked[key] = np.stack(
                [_rfft2(img[:, :, c], self.fft_shape) for c in range(self.channels)]
            )
        return self._masked[key]


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
    image, template, mask, ssd_factor = safe_range(
        np.asarray(image), np.asarray(template), None if mask is None else np.asarray(mask), method
    )
    img, tpl, m, dtype = _prepare(image, template, mask)
    prepared = _Prepared(img, dtype)
    scores = _score_map(prepared, tpl, m, method)
    if ssd_factor != 1.0:  # back to the units of the inputs (see safe_range)
        with np.errstate(over="ignore"):
            return (scores * np.float64(ssd_factor)).astype(dtype, copy=False)
    return scores.astype(dtype, copy=False)


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
    trow = _zncc_template_rows(tpl, prepared.fft_shape, real)
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


def _zncc_template_rows(tpl: np.ndarray, fft_shape: tuple[int, int], real: np.dtype) -> np.ndarray:
    """Conjugate row spectra ``(C, h, fw // 2 + 1)`` of the zero-mean template, scaled.

    The scale ``sqrt(fh * fw * n / |T'|^2)`` folds zncc's template norm and the ortho
    transforms' factor into the template.
    """
    h, w, channels = tpl.shape
    fh, fw = fft_shape
    n = h * w
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
    limit = 10 * _FLT_EPSILON * n
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


def _zncc_finish(cross: np.ndarray, score: np.ndarray, fw: int, r0: int, r1: int) -> None:
    """Rows ``r0:r1``: inverse row FFTs of ``cross`` divided by the statistics in ``score``."""
    out_w = score.shape[1]
    for y0, y1 in _chunks(r1 - r0, 32):
        corr = np.fft.irfft(cross[r0 + y0 : r0 + y1], n=fw, axis=-1, norm="ortho")
        part = score[r0 + y0 : r0 + y1]
        np.divide(corr[:, :out_w], part, out=part)
        np.clip(part, -1.0, 1.0, out=part)
        part += 0.0  # -0.0 (a negative correlation over inf) reads as 0
