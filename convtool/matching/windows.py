"""Window sums for the matcher: running sums, per-window statistics, box sums, work splits.

Owns: how the matcher splits work in pieces for :mod:`convtool.runtime` (``_chunks``,
``_halves``), the float64 running sums of an image (:func:`_prefix_tasks`), the window terms of
the unmasked scores (:func:`_stats_tasks`) and the doubling box sum (:func:`_box_sum`).

Must not import: the CLI, :mod:`convtool.images`, click, rich, PIL; of the matcher only
:mod:`.inputs`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .. import runtime

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


def _prefix_rows(
    image: np.ndarray, *, block: int = 16, offset: np.ndarray | None = None
) -> np.ndarray:
    """See :func:`_prefix_tasks`; runs the tasks and returns the prefix."""
    buf, tasks = _prefix_tasks(image, block=block, offset=offset)
    runtime.run_queue(tasks)
    return buf.transpose(1, 0, 2)


def _prefix_tasks(
    image: np.ndarray, *, block: int = 16, offset: np.ndarray | None = None
) -> tuple[np.ndarray, list[Callable[[], None]]]:
    """Running sums along axis 0 of each channel and of the channel sum of squares.

    ``offset`` (one float64 per channel, default 0) is taken from every value first: the
    sums are of ``I_c - offset_c`` and ``sum_c (I_c - offset_c)**2``. An offset near the
    channel's mean keeps the sums small: a constant far larger than the image's contrast
    (1e15 + a pattern in [0, 1]) cancels before anything is squared.

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
    shift = np.zeros(channels) if offset is None else np.asarray(offset, dtype=np.float64)
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
                np.subtract(image[r0:r1, c0:c1, c], shift[c], out=body[:, c], casting="unsafe")
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
    offset: np.ndarray,
    limit: float,
) -> tuple[tuple[np.ndarray, np.ndarray | None], list[Callable[[], None]]]:
    """Per-window terms of the score from a row prefix ``(H + 1, C + 1, W)`` (float64).

    The prefix holds each channel less ``offset`` and, last, the channel sum of squares of
    those (:func:`_prefix_tasks`). Worked through in strips of output rows that fit in cache:
    vertical window sums are prefix differences, horizontal ones a running sum along the row,
    and the variance ``S2 - sum_c S_c**2 / n`` is formed in float64 before anything is
    rounded to ``dtype``. With ``S_c``, ``S2`` the raw window sums (offset added back):

    * zncc: ``den`` = sqrt(n * window variance * |T'|^2), 0 for a flat window (``limit``,
      see :func:`convtool.matching.inputs.flat_limit`); ``add`` None;
    * ncc, ccorr: ``den`` = sqrt(S2 * sum T^2); ``add`` = sum_c mean(T_c) * S_c;
    * ssd: ``den`` zeros; ``add`` = n var + |T'|^2 + n sum_c (mean_w - mean_T)^2, all of it
      from the offset sums (the offset cancels);

    ``tmean`` is the template's channel means less ``offset`` (taken of ``T - offset``).
    * ssd-normed: ``den`` as ncc, ``add`` as ssd;
    * ccoeff: nothing (``den`` zeros, ``add`` None; no tasks).
    """
    rows = prefix.shape[0] - h
    k = prefix.shape[1]
    width = prefix.shape[2]
    out_w = width - w + 1
    if method == "ccoeff":
        return (np.zeros((rows, out_w), dtype=dtype), None), []
    den = np.empty((rows, out_w), dtype=dtype)
    add = None if method == "zncc" else np.empty((rows, out_w), dtype=np.float64)
    template = {
        "method": method,
        "tmean": tmean,
        "tnorm2": tnorm2,
        "tsq": tsq,
        "offset": np.asarray(offset, dtype=np.float64),
        "limit": limit,
        "raw_rule": np.dtype(dtype) != np.float64,
    }
    strip = max(4, (1 << 20) // (k * width * 8))

    def work(r0: int, r1: int) -> None:
        vertical = np.empty((strip, k, width))
        sums = np.empty((strip, k, out_w))
        diff2 = np.empty((strip, out_w))
        scratch = np.empty((strip, out_w))
        for y0 in range(r0, r1, strip):
            y1 = min(r1, y0 + strip)
            bufs = (vertical, sums, diff2, scratch)
            _stats_strip(prefix, h, w, y0, y1, bufs, den, add, **template)

    if method == "ssd":
        den.fill(0)
    tasks = [lambda r0=r0, r1=r1: work(r0, r1) for r0, r1 in _halves(rows)]
    return (den, add), tasks


def _raw_square_sums(
    s_: np.ndarray, channels: int, n: int, offset: np.ndarray, out: np.ndarray
) -> np.ndarray:
    """``out`` := raw window sums of squares ``sum_c sum (I' + o_c)**2`` from the offset sums
    ``s_`` (strips ``(m, C + 1, W')``): ``S2' + sum_c (2 o_c S'_c + n o_c**2)``."""
    np.add(s_[:, channels], n * float(np.sum(offset * offset)), out=out)
    for c in range(channels):
        if offset[c]:
            out += s_[:, c] * (2.0 * offset[c])
    return out


def _stats_strip(
    prefix: np.ndarray,
    h: int,
    w: int,
    y0: int,
    y1: int,
    bufs: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    den: np.ndarray,
    add: np.ndarray | None,
    *,
    method: str,
    tmean: np.ndarray,
    tnorm2: float,
    tsq: float,
    offset: np.ndarray,
    limit: float,
    raw_rule: bool,
) -> None:
    """Rows ``y0:y1`` of ``den`` and ``add`` (see :func:`_stats_tasks`), in scratch ``bufs``."""
    vertical, sums, diff2, scratch = bufs
    channels = prefix.shape[1] - 1
    n = h * w
    tnorm = math.sqrt(tnorm2)
    m = y1 - y0
    v, s_, d, t = vertical[:m], sums[:m], diff2[:m], scratch[:m]
    np.subtract(prefix[y0 + h : y1 + h], prefix[y0:y1], out=v)
    np.cumsum(v, axis=-1, out=v)
    s_[:, :, 0] = v[:, :, w - 1]
    out_w = den.shape[1]
    np.subtract(v[:, :, w:], v[:, :, : out_w - 1], out=s_[:, :, 1:])
    sq = s_[:, channels]
    if method in ("ncc", "ccorr", "ssd-normed"):
        raw = _raw_square_sums(s_, channels, n, offset, t)
        # A black window's raw sum is 0 only to the rounding of n o^2: below the flat limit
        # of S2' + n o^2 it is 0 (an ncc of 0, an ssd-normed of 1, as OpenCV).
        np.add(sq, n * float(np.sum(offset * offset)), out=d)
        d *= limit
        raw[raw <= d] = 0.0
        raw *= tsq
        np.sqrt(raw, out=den[y0:y1], casting="same_kind")
        if method != "ssd-normed":
            a = add[y0:y1]
            traw = tmean + offset  # the template's raw means
            a.fill(float(np.sum(traw * offset)) * n)  # sum_c mean(T_c) * n o_c
            for c in range(channels):
                a += s_[:, c] * traw[c]
            return
    # sum_c S_c**2 / n, then n * variance = S2 - that (float64: difference of large sums)
    np.square(s_[:, 0], out=d)
    for c in range(1, channels):
        d += np.square(s_[:, c], out=t)
    d /= n
    np.subtract(sq, d, out=d)
    np.maximum(d, 0, out=d)
    if method == "zncc":
        # The flat-window rule (flat_limit): OpenCV's against the raw sum of squares for
        # float32, against the offset one for float64.
        base = sq
        if raw_rule:  # at least S2': a black window's raw sum is 0 only to rounding
            base = np.maximum(_raw_square_sums(s_, channels, n, offset, t), sq, out=t)
        flat = d <= limit * base
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
