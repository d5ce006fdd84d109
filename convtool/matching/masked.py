"""Masked scores of the matcher: OpenCV's masked definitions of the six methods, in float64.

Owns: :func:`_masked_scores`, called by :func:`convtool.matching.scoring._score_map` for a
template with weights (a mask, an alpha channel, the corners a turn leaves empty).

Must not import: the CLI, :mod:`convtool.images`, click, rich, PIL, and :mod:`.scoring`
(which calls this module); the prepared image it reads is :mod:`.prepared`'s.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from .inputs import flat_limit
from .spectral import _correlate_each, _correlate_spectrum

if TYPE_CHECKING:
    from .prepared import _Prepared


def _masked_scores(prepared: _Prepared, tpl: np.ndarray, m: np.ndarray, method: str):
    """OpenCV's masked scores of the six methods, in float64.

    float64 because the window statistics here are FFT correlations with the mask, and the
    variance ``sum M^2 I^2 - (sum M I)^2 / sum M`` cancels catastrophically in float32.
    zncc, ccoeff and ssd are computed about the image's channel means (a constant offset of
    image and template cancels); ncc, ccorr and ssd-normed need the raw values.
    """
    channels = tpl.shape[2]
    weights = np.broadcast_to(m, tpl.shape).astype(np.float64)
    w2 = weights * weights
    shape = prepared.fft_shape
    H, W = prepared.height, prepared.width

    def corr(key: str, kernel: np.ndarray) -> np.ndarray:
        return _correlate_spectrum(prepared.masked_spectrum(key), kernel, shape, H, W)

    if method in ("zncc", "ccoeff"):
        # Image centred on (about) its mean: every quantity below is shift invariant.
        spec = prepared.masked_spectrum("centred")
        total = weights.reshape(-1, channels).sum(axis=0)  # sum M, per channel
        tcent = tpl - prepared.means  # exact near the image's means, then its own mean
        tmean = (weights * tcent).reshape(-1, channels).sum(axis=0) / total
        tprime = w2 * (tcent - tmean)  # M^2 (T - mu_T)
        tsum = tprime.reshape(-1, channels).sum(axis=0)
        tnorm2 = float(np.sum(w2 * (tcent - tmean) ** 2))
        num = corr("centred", tprime)
        # Per channel: sum M (I - m) and sum M^2 (I - m); summed over channels: sum M^2 (I - m)^2.
        # A mask shared by the channels (alpha, turned corners) needs one kernel spectrum per
        # quantity, and a 0/1 mask has M^2 = M: 5 inverse transforms for RGB instead of 10.
        if method == "ccoeff":
            # sum M (T - mu_T) M (I - mu_I) = sum M^2 (T - mu_T)(I - m) - mu_I' sum M^2 (T - mu_T)
            for c in range(channels):
                one = slice(c, c + 1)
                wsum = _correlate_spectrum(spec[one], weights[:, :, one], shape, H, W)
                num -= wsum * (tsum[c] / total[c])
            return num
        sq_spec = prepared.masked_spectrum("square_centred")
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
        # The flat-window rule (flat_limit): OpenCV's for float32 data; for float64 against
        # the sum of squares about the mean, the FFT's rounding growing with the image size.
        if prepared.dtype == np.float64:
            flat = var <= flat_limit(prepared.dtype, math.sqrt(H * W)) * wsq
        else:
            flat = var <= flat_limit(prepared.dtype) * np.maximum(np.abs(sumsq), wsq)
        den = np.sqrt(var * tnorm2)
        den[flat] = 1.0
        score = np.divide(num, den, out=num)
        score[flat] = 0.0
        return np.clip(score, -1.0, 1.0, out=score)
    if method == "ssd":
        # sum M^2 (I - T)^2 about the image's channel means m: sum M^2 (I - m)^2
        # - 2 sum M^2 (T - m)(I - m) + sum M^2 (T - m)^2 (no squares of a large offset).
        tcent = tpl - prepared.means
        ssd = corr("square_centred", w2)
        ssd -= 2 * corr("centred", w2 * tcent)
        ssd += float(np.sum(w2 * tcent * tcent))
        return np.maximum(ssd, 0.0, out=ssd)
    wtpl = w2 * tpl
    num = corr("raw", wtpl)  # sum M^2 T I
    if method == "ccorr":
        return num
    wsq = corr("square", w2)
    den = np.sqrt(np.maximum(wsq, 0) * float(np.sum(wtpl * tpl)))
    if method == "ssd-normed":
        # OpenCV: sum M^2 (T - I)^2 / sqrt(sum M^2 T^2 sum M^2 I^2) with its unmasked clamp
        # (at most 1, 1 on an all-zero window): masked OpenCV gives values over 1 and NaN
        ssd = wsq - 2 * num + float(np.sum(wtpl * tpl))
        np.maximum(ssd, 0.0, out=ssd)
        out = np.ones_like(ssd)
        np.divide(ssd, den, out=out, where=ssd < den)
        return out
    zero = den <= 0
    den[zero] = 1.0
    score = num / den
    score[zero] = 0.0
    return np.clip(score, -1.0, 1.0, out=score)
