"""Auto-levels: the percentiles that ``--values stretch[:P]`` maps to the output range.

Owns :data:`DEFAULT_STRETCH`, :func:`parse_stretch`, :func:`stretch_limits` (one array) and
:func:`band_percentiles` (a result seen a band of rows at a time, in bounded memory; its
:func:`band_histogram` and :func:`histogram_percentiles` for bands counted elsewhere). Pure
numpy: must not import convtool.images, convtool.cli, click, rich, PIL.

``stretch:P`` maps the P-th percentile to black and the (100-P)-th to white and clips the rest,
as ``magick -contrast-stretch P%x P%`` or vips' percent stretch do: one outlier pixel no longer
decides the scale, as it does for ``rescale`` (min..max).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

__all__ = [
    "DEFAULT_STRETCH",
    "band_histogram",
    "band_percentiles",
    "histogram_percentiles",
    "parse_stretch",
    "stretch_limits",
]

# Percent of pixels clipped at each end by a bare ``stretch``.
DEFAULT_STRETCH = 1.0
# Histogram bins of the banded estimate: percentiles within (max - min) / _BINS of the exact ones.
_BINS = 1 << 16


def parse_stretch(mapping: str) -> float | None:
    """The percent P of a ``stretch[:P]`` mapping (None for any other mapping).

    Examples
    --------
    >>> parse_stretch("stretch"), parse_stretch("stretch:0.5"), parse_stretch("clip")
    (1.0, 0.5, None)
    >>> parse_stretch("stretch:60")
    Traceback (most recent call last):
    ...
    ValueError: stretch:60: P must be a number from 0 to below 50 (percent clipped at each end)
    """
    name, colon, arg = mapping.partition(":")
    if name != "stretch":
        return None
    if not colon:
        return DEFAULT_STRETCH
    try:
        percent = float(arg)
    except ValueError:
        percent = -1.0
    if not 0.0 <= percent < 50.0:
        raise ValueError(
            f"{mapping}: P must be a number from 0 to below 50 (percent clipped at each end)"
        )
    return percent


def stretch_limits(values: np.ndarray, percent: float) -> tuple[float, float]:
    """The ``percent``-th and ``(100 - percent)``-th percentiles of ``values`` (NaN ignored).

    Examples
    --------
    >>> stretch_limits(np.arange(101.0), 1.0)
    (1.0, 99.0)
    """
    lo, hi = np.nanpercentile(values, [percent, 100.0 - percent])
    return float(lo), float(hi)


def band_percentiles(
    bands: Iterable[np.ndarray], percent: float, lo: float, hi: float
) -> tuple[float, float]:
    """Percentile limits of a result handed over a band at a time (two passes: the caller's
    min..max pass gives ``lo`` and ``hi``, this one a histogram of :data:`_BINS` bins), in
    the memory of one band; exact up to a bin's width.

    Examples
    --------
    >>> data = np.arange(1001.0)
    >>> lo, hi = band_percentiles([data[:500], data[500:]], 1.0, 0.0, 1000.0)
    >>> round(lo, 1), round(hi, 1)  # numpy: 10.0 and 990.0
    (10.0, 990.0)
    """
    if not hi > lo:
        return lo, hi
    counts = np.zeros(_BINS, dtype=np.int64)
    for band in bands:
        counts += band_histogram(band, lo, hi)
    return histogram_percentiles(counts, percent, lo, hi)


def band_histogram(band: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Counts of ``band``'s values in :data:`_BINS` bins from ``lo`` to ``hi`` (int64): the
    histograms of the bands of one result add up to its own, in any order or place (the
    workers of a split each count their bands; :func:`histogram_percentiles` reads the sum).

    Examples
    --------
    >>> band_histogram(np.array([0.0, 0.5, 1.0, 1.0]), 0.0, 1.0)[[0, 32767, 65535]]
    array([1, 1, 2])
    """
    if not hi > lo:
        return np.zeros(_BINS, dtype=np.int64)
    flat = np.asarray(band, dtype=np.float64).ravel()
    idx = ((flat - lo) * ((_BINS - 1) / (hi - lo))).astype(np.int64)
    return np.bincount(np.clip(idx, 0, _BINS - 1), minlength=_BINS)


def histogram_percentiles(
    counts: np.ndarray, percent: float, lo: float, hi: float
) -> tuple[float, float]:
    """The ``percent``-th and ``(100 - percent)``-th percentiles of the values counted in
    ``counts`` (:func:`band_histogram`'s bins over ``lo..hi``), to a bin's width, linear
    between order statistics as ``np.percentile``.

    Examples
    --------
    >>> counts = band_histogram(np.arange(1001.0), 0.0, 1000.0)
    >>> [round(v, 1) for v in histogram_percentiles(counts, 1.0, 0.0, 1000.0)]
    [10.0, 990.0]
    """
    if not hi > lo:
        return lo, hi
    cdf = np.cumsum(counts)
    total = cdf[-1]
    width = (hi - lo) / (_BINS - 1)

    def value(k: int) -> float:  # the k-th smallest value, to a bin's width
        return lo + int(np.searchsorted(cdf, k, side="right")) * width

    def at(q: float) -> float:  # linear between order statistics, as numpy's percentile
        rank = q / 100.0 * (total - 1)
        below = int(np.floor(rank))
        return value(below) + (rank - below) * (value(min(below + 1, total - 1)) - value(below))

    return float(min(at(percent), hi)), float(min(at(100.0 - percent), hi))
