"""The ``small`` strategy: whole-image shift-and-add on the calling thread, for small images.

Owns: ``_small`` and its per-kernel cache of rank-1 factors. Below ~0.25 M output values the
fixed costs of the other paths (strip planning, Toeplitz or band matrices, kernel spectra,
the hand-off to a pool thread and back) outweigh the arithmetic: a 256x256 grey 3x3 filter
is ~0.05 ms of multiply-adds. Here every tap is one multiply and one add over the whole
output (which stays in L2 at these sizes), no thread is involved, and a rank-1 kernel (a
Gaussian, a box) runs as its two 1-D passes.

Must not import: the other strategies, the cost model, matching/template, cli, images, click,
rich, PIL.
"""

from __future__ import annotations

import numpy as np

from .. import runtime
from ._common import _output, _same_on_all_channels
from .plan import Plan, _geometry, index_map
from .rank import _rank_factors

# Rank-1 factors by kernel bytes (the factorization is a few dozen numpy calls, as long as a
# small filter itself); at most this many kept.
_FACTORS: dict[tuple, tuple[np.ndarray, np.ndarray] | None] = {}
_FACTORS_KEEP = 64


def _rank1(kernel: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """``(col (kh,), row (kw,))`` with ``kernel == outer(col, row)`` to the dtype's rounding,
    for a 2-D kernel; ``None`` when the rank is higher."""
    key = (kernel.shape, kernel.dtype.str, kernel.tobytes())
    if key not in _FACTORS:
        if len(_FACTORS) >= _FACTORS_KEEP:
            _FACTORS.clear()
        col, row = _rank_factors(kernel[:, :, None], kernel.dtype)
        _FACTORS[key] = (col[0, :, 0], row[0, :, 0]) if col.shape[0] == 1 else None
    return _FACTORS[key]


# Border index maps by (height, width, pad, mode): built with np.pad on aranges (~15 us each).
_MAPS: dict[tuple, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}


def _border_maps(plan: Plan) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(row_to, row_from, col_to, col_from)``: padded border rows and columns and the
    padded positions they copy (``-1``: the constant ``cval``)."""
    h, w = plan.source.shape[:2]
    top, bottom, left, right = plan.pad
    key = (h, w, plan.pad, plan.border)
    if key not in _MAPS:
        if len(_MAPS) >= _FACTORS_KEEP:
            _MAPS.clear()
        maps = []
        for n, before, after in ((h, top, bottom), (w, left, right)):
            index = index_map(n, before, after, plan.border)
            to = np.r_[np.arange(before), np.arange(before + n, before + n + after)]
            source = index[to]
            maps += [to.astype(np.intp), np.where(source >= 0, source + before, -1)]
        _MAPS[key] = tuple(maps)
    return _MAPS[key]


def _padded_small(plan: Plan) -> np.ndarray:
    """The padded image, C-contiguous: the image copied in, then the border columns and rows
    gathered from it (``np.pad`` costs ~30 us of Python here, as long as a 3x3 filter of a
    256x256 grey image)."""
    img = plan.image
    h, w = img.shape[:2]
    top, bottom, left, right = plan.pad
    shape = (h + top + bottom, w + left + right, img.shape[2])
    padded = runtime.scratch("small-padded", (int(np.prod(shape)),), img.dtype).reshape(shape)
    np.copyto(padded[top : top + h, left : left + w], img)
    row_to, row_from, col_to, col_from = _border_maps(plan)
    middle = padded[top : top + h]
    for to, source, axis, part in ((col_to, col_from, 1, middle), (row_to, row_from, 0, padded)):
        if not to.size:
            continue
        if axis == 1:
            part[:, to] = part[:, np.maximum(source, 0)]
            part[:, to[source < 0]] = plan.cval
        else:
            part[to] = part[np.maximum(source, 0)]
            part[to[source < 0]] = plan.cval
    return padded


def _flat_taps(
    flat: np.ndarray,
    dst: np.ndarray,
    weights: list[tuple[int, float]],
    tmp: np.ndarray,
) -> None:
    """``dst = sum w * flat[shift : shift + dst.size]`` over ``(shift, w)``: every window is
    a contiguous slice of the flattened padded image (the fastest numpy loops).

    Taps of equal weight are added first and multiplied once (a symmetric Gaussian of 7
    taps: 10 operations instead of 13; a box: one multiply).
    """
    n = dst.size
    groups: dict[float, list[int]] = {}
    for shift, w in weights:
        groups.setdefault(w, []).append(shift)
    first = True
    for w, shifts in groups.items():
        target = dst if first else tmp[:n]
        if len(shifts) == 1:
            np.multiply(flat[shifts[0] : shifts[0] + n], w, out=target)
        else:
            np.add(flat[shifts[0] : shifts[0] + n], flat[shifts[1] : shifts[1] + n], out=target)
            for shift in shifts[2:]:
                np.add(target, flat[shift : shift + n], out=target)
            np.multiply(target, w, out=target)
        if not first:
            np.add(dst, target, out=dst)
        first = False
    if first:
        dst.fill(0)


def _live(kernel2d: np.ndarray) -> list[tuple[int, int, float]]:
    """``(a, b, weight)`` of the non-zero taps, weights as Python floats (scalars that keep
    the arrays' dtype)."""
    values = kernel2d.tolist()
    return [(a, b, v) for a, row in enumerate(values) for b, v in enumerate(row) if v != 0]


# Values per row chunk of the stride-1 path: its window, product and sum stay in L2 (a
# whole 256x256 RGB image does not: on the loaded 2-core machine, 3 MiB of whole-image
# arrays ran 1 to 30 ms for what chunks do in 0.5 ms).
_CHUNK_VALUES = 96 * 1024


def _shared_stride1(plan: Plan, kernel2d: np.ndarray, padded: np.ndarray, out: np.ndarray) -> None:
    """Stride 1, one kernel for all channels: the windows as shifted contiguous slices of the
    flattened padded image, computed over whole padded rows (``Wp`` instead of ``ow`` values
    a row) in row chunks, the valid columns of each chunk copied out."""
    g = _geometry(plan)
    _, wp, c = padded.shape
    oh, ow = plan.out_shape
    line = wp * c
    flat = padded.reshape(-1)
    rows = max(1, min(oh, _CHUNK_VALUES // line))
    full = runtime.scratch("small-full", (rows * line,), padded.dtype)
    tmp = runtime.scratch("small-tmp", (rows * line,), padded.dtype)
    tail = (g.ew - 1) * c  # the last row's windows past its right border: not computed
    factors = _rank1(kernel2d) if g.kh > 1 and g.kw > 1 and g.kh * g.kw > 6 else None
    if factors is None:
        taps = [(a * g.dy * line + b * g.dx * c, w) for a, b, w in _live(kernel2d)]
    else:
        col, row = factors
        vertical = [(a * g.dy * line, w) for a, _, w in _live(col[:, None])]
        taps = [(b * g.dx * c, w) for _, b, w in _live(row[None])]
        mid = runtime.scratch("small-mid", (rows * line,), padded.dtype)
    for r0 in range(0, oh, rows):
        n = min(rows, oh - r0)
        if factors is None:
            _flat_taps(flat[r0 * line :], full[: n * line - tail], taps, tmp)
        else:
            _flat_taps(flat[r0 * line :], mid[: n * line], vertical, tmp)
            _flat_taps(mid, full[: n * line - tail], taps, tmp)
        np.copyto(out[r0 : r0 + n], full[: n * line].reshape(n, wp, c)[:, :ow])


def _shift_add(
    src: np.ndarray,
    dst: np.ndarray,
    weights: np.ndarray,
    step: tuple[int, int],
    spacing: tuple[int, int],
    mix: bool,
) -> None:
    """``dst = sum_ab weights[a, b] * src[a*dy + i*sy, b*dx + j*sx]`` (weights ``(kh, kw)``
    scalars, ``(kh, kw, C)`` per channel, or ``(kh, kw, Cin, Cout)`` mixing), zero taps
    skipped."""
    (sy, sx), (dy, dx) = step, spacing
    n, ow = dst.shape[:2]
    tmp = None
    first = True
    for a in range(weights.shape[0]):
        for b in range(weights.shape[1]):
            w = weights[a, b]
            if not np.any(w):
                continue
            y0, x0 = a * dy, b * dx
            window = src[y0 : y0 + (n - 1) * sy + 1 : sy, x0 : x0 + (ow - 1) * sx + 1 : sx]
            if first:
                target = dst
            else:
                if tmp is None:
                    tmp = runtime.scratch("small-tmp", (dst.size,), dst.dtype).reshape(dst.shape)
                target = tmp
            if mix:
                np.matmul(window, w, out=target)
            else:
                np.multiply(window, w, out=target)
            if not first:
                np.add(dst, tmp, out=dst)
            first = False
    if first:
        dst.fill(0)


def _small(plan: Plan) -> np.ndarray:
    """Small images: shift-and-add over the whole image on the calling thread.

    A kernel shared by all channels multiplies by scalars; a rank-1 one (Gaussian, box) runs
    as a vertical then a horizontal 1-D pass (``kh + kw`` taps instead of ``kh*kw``). Cost:
    one multiply and one add per tap and output value (~0.2 ns here while the image stays
    in L2), plus ~30 us per call. Memory: the output; the padded image and the work arrays
    are per-thread scratch kept between calls (fresh memory is faulted in on every call,
    which on this VM cost 256x256 RGB ~2 ms, 5x the filter).
    """
    g = _geometry(plan)
    padded = _padded_small(plan)
    out = _output(plan, g.cout)
    kernel = plan.kernel
    if not plan.depthwise:
        _shift_add(padded, out, kernel, plan.stride, plan.dilation, True)
        return out
    if _same_on_all_channels(kernel):
        kernel = kernel[:, :, 0]
        if plan.stride == (1, 1):
            _shared_stride1(plan, kernel, padded, out)
            return out
    _shift_add(padded, out, kernel, plan.stride, plan.dilation, False)
    return out
