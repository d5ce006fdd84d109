"""The ``box`` strategy: window sums by doubling, for kernels whose taps are all equal.

Owns: ``_box`` (a box of any size on any dtype), the test for box kernels (``_is_box``) and
the count of additions a window sum takes (``_doubling_adds``, read by the cost model).

A box is a plain window sum times one weight, so no multiply per tap is needed: the sum of
``k`` shifted copies is built by doubling (``S_2m[i] = S_m[i] + S_m[i + m]``) and the binary
digits of ``k``, ``floor(log2 k) + popcount(k) - 1`` additions instead of ``k - 1``, once
down the columns and once along the rows. (A running sum, two operations whatever ``k``,
needs a Python step per row or column; numpy's ``cumsum`` is a scalar loop, ~3.5 ns a value
here against ~0.1 for an addition.) Rounding: the adds form a balanced tree, so the error
grows with ``log2 k``; values that are integers (8- and 16-bit images) sum exactly while the
sums stay below 2**24.

Must not import: the other strategies but ``strips`` (what a kernel that is not a box runs as),
the cost model, chain, matching, cli, images, click, rich, PIL.
"""

from __future__ import annotations

import numpy as np

from .. import runtime
from ._common import _ceil_div, _output
from .plan import Plan, _geometry, _RowSource
from .strips import _strips

# Values of one strip buffer (five per thread): 128 Ki values made many short numpy calls that
# the two threads queue for (GIL), 2 Mi values left the caches; 256 Ki measured between.
_BOX_STRIP_VALUES = 256 * 1024


def _sum_dtype(plan: Plan, taps: int) -> np.dtype:
    """The dtype window sums are built in: unsigned integers for unsigned integer pixels
    whose sums fit (uint16 for an 8-bit box of up to 257 taps: twice the values of a float32
    per SIMD register), else the compute dtype. A constant border must be an integer in the
    pixels' range to be stored in the integer strip."""
    src = plan.source.dtype
    if src.kind != "u" or src.itemsize > 2:
        return plan.dtype
    top = int(np.iinfo(src).max)
    if "constant" in plan.borders and not (plan.cval == int(plan.cval) and 0 <= plan.cval <= top):
        return plan.dtype
    for candidate in (np.uint16, np.uint32):
        if taps * top <= np.iinfo(candidate).max:
            return np.dtype(candidate)
    return plan.dtype


def _is_box(plan: Plan) -> bool:
    """A depthwise kernel, the same on every channel, all taps equal and non-zero, no
    dilation."""
    kernel = plan.kernel
    return (
        plan.depthwise
        and plan.dilation == (1, 1)
        and kernel.size > 0
        and kernel.flat[0] != 0
        and bool(np.all(kernel == kernel.flat[0]))
    )


def box_divisor(plan: Plan) -> int | None:
    """``N`` when the box can be rounded in integers: its weight is ``1/N`` for its ``N``
    taps, ``N`` is odd and the pixels are unsigned integers summed in integers (see
    ``_sum_dtype``) with room for ``N // 2`` more. ``(sum + N // 2) // N`` is then the
    window mean rounded to nearest, exactly: an odd ``N`` never makes a tie (so it is also
    half to even, as the float path rounds), and the nearest half is ``1/(2N)`` away where
    float32 products of 8-bit sums are off by ~1e-5."""
    if not _is_box(plan):
        return None
    taps = plan.kernel.shape[0] * plan.kernel.shape[1]
    dtype = _sum_dtype(plan, taps)
    if dtype.kind != "u" or taps % 2 == 0 or abs(float(plan.kernel.flat[0]) * taps - 1) > 1e-6:
        return None
    top = int(np.iinfo(plan.source.dtype).max)
    return taps if taps * top + taps // 2 <= np.iinfo(dtype).max else None


def box_into(plan: Plan, out: np.ndarray) -> bool:
    """Write the box filter of ``plan`` straight into ``out`` (the pixels' own unsigned dtype,
    the output's shape) as rounded integer means, when :func:`box_divisor` allows: no float
    result to round afterwards (tests/bench/bench_round2.py box). ``False``, nothing
    written, otherwise."""
    target = out[:, :, None] if out.ndim == 2 else out
    if out.dtype != plan.source.dtype or target.shape != (*plan.out_shape, plan.source.shape[2]):
        return False
    divisor = box_divisor(plan)
    if divisor is None:
        return False
    _box(plan, into=target, divisor=divisor)
    return True


def _doubling_adds(k: int) -> int:
    """Additions of a window sum of ``k`` values by doubling (``0`` for ``k = 1``)."""
    return max(0, k.bit_length() - 1) + bin(k).count("1") - 1


def _window_sum(
    x: np.ndarray, out: np.ndarray, k: int, step: int, spare: tuple[np.ndarray, np.ndarray]
) -> None:
    """``out[i] = sum_{a < k} x[i + a*step]`` for every ``i < out.size`` (1-D arrays;
    ``x`` holds at least ``out.size + (k - 1)*step`` values), by doubling.

    ``spare`` are two buffers of at least ``x.size`` values (the doubled partial sums). The
    parts of ``k``'s binary digits are added as they come (the first two in one addition,
    and a lone last level doubled straight into ``out``): no copy.
    """
    n = out.size
    level, width, offset = x, 1, 0  # level[i] = sum of `width` values from i, step apart
    valid, flip = x.size, 0
    pending: np.ndarray | None = None  # the first part, not yet added to anything
    started = False
    while True:
        if k & width:
            part = level[offset : offset + n]
            offset += width * step
            if started:
                np.add(out, part, out=out)
            elif pending is not None:
                np.add(pending, part, out=out)
                started = True
            elif level is x:
                pending = part
            else:  # the spare buffers are reused by the next levels: keep it in `out`
                np.copyto(out, part)
                started = True
        if 2 * width > k:
            break
        shift = width * step
        valid -= shift
        last = 4 * width > k and pending is None and not started  # k's only digit is 2*width
        doubled = out if last else spare[flip][:valid]
        length = n if last else valid
        np.add(level[:length], level[shift : shift + length], out=doubled)
        level, width, flip = doubled, 2 * width, 1 - flip
        if last:
            return
    if not started:
        np.copyto(out, pending)  # k == 1


def _box(plan: Plan, into: np.ndarray | None = None, divisor: int | None = None) -> np.ndarray:
    """Box kernels: ``weight * (window sum)``, the window sums by doubling, both threads.

    Per strip of output rows, the input rows are built in a scratch buffer (``_RowSource``),
    summed over ``kh`` rows (shifts of one row, the flattened strip as one 1-D array), then
    over ``kw`` columns (shifts of ``C`` values) and multiplied by the weight while copied
    into the output. With stride 1 and an output as wide as the image, strips hold the
    image's columns only: the row sums are stored straight into the output rows, and the
    columns within ``kw - 1`` of a border, where they wrapped around, are summed again from
    a narrow padded band (:func:`_edge_columns`). Otherwise strips hold padded rows and a
    stride keeps every ``sy``-th row and ``sx``-th column of the stride-1 sums. Cost:
    ``floor(log2 k) + popcount(k) - 1`` additions per axis and value plus the strip copy
    and the scaled copy out, about the same for box:3 as for box:31. Memory: the output and
    five strip buffers per thread. A kernel that is not a box (see ``_is_box``; the cost
    model never picks this path for one) runs ``strips``. With ``into`` and ``divisor`` (see
    :func:`box_into`) the means are rounded in integers and written there.
    """
    if not _is_box(plan):
        return _strips(plan)
    g = _geometry(plan)
    weight = plan.kernel.flat[0]
    dtype = _sum_dtype(plan, g.kh * g.kw)
    # Integer pixels are summed as integers (the row source reads the caller's array): the
    # sums equal the float path's (exact below 2**24) bit for bit.
    source = _RowSource(plan)
    oh, ow = plan.out_shape
    w, c = plan.source.shape[1:]
    out = _output(plan, g.cout) if into is None else into
    left = plan.pad[2]
    unpadded = (
        (g.sy, g.sx) == (1, 1)
        and ow == w
        and w >= 2 * g.kw  # columns in between to sum in the strips
        and out.flags.c_contiguous
    )
    width = w if unpadded else source.width
    line = width * c
    # Output rows per strip: ~_BOX_STRIP_VALUES per buffer, at least 4 halo heights.
    per = max(1, min(oh, _BOX_STRIP_VALUES // (line * g.sy), _ceil_div(oh, runtime.threads())))
    per = min(oh, max(per, _ceil_div(4 * (g.kh - 1), g.sy)))
    size = ((per - 1) * g.sy + g.kh) * line

    def store(sums: np.ndarray, target: np.ndarray) -> None:
        if divisor is not None:  # the exact rounded mean (see box_divisor)
            np.add(sums, divisor // 2, out=sums)
            np.floor_divide(sums, divisor, out=target, casting="unsafe")
        elif sums.dtype == target.dtype:
            np.multiply(sums, weight, out=target)
        else:  # integer sums: a plain cast then an in-place multiply (mixed: 1.2x slower)
            np.copyto(target, sums, casting="unsafe")
            np.multiply(target, weight, out=target)

    queue = iter(range(0, oh, per))

    def work() -> None:
        strip = runtime.scratch("box-strip", (size,), dtype)
        spare = (runtime.scratch("box-a", (size,), dtype), runtime.scratch("box-b", (size,), dtype))
        rows_sum = runtime.scratch("box-v", (size,), dtype)
        both = runtime.scratch("box-h", (size,), dtype)
        for o0 in queue:
            o1 = min(oh, o0 + per)
            n1 = (o1 - o0 - 1) * g.sy + 1  # stride-1 rows this strip spans
            rows = n1 + g.kh - 1
            y0 = o0 * g.sy
            source.fill(strip.reshape(-1, width, c), y0, y0 + rows, columns=not unpadded)
            vertical = rows_sum[: n1 * line]
            _window_sum(strip[: rows * line], vertical, g.kh, line, spare)
            # The last row's sums past its right end (kw - 1 pixels) are not needed.
            length = n1 * line - (g.kw - 1) * c
            _window_sum(vertical, both[:length], g.kw, c, spare)
            if unpadded:  # sums[p] is output p + left (columns near a border fixed below)
                store(both[:length], out[o0:o1].reshape(-1)[left * c : left * c + length])
                continue
            sums = both[: n1 * line].reshape(n1, width, c)
            store(sums[:: g.sy, : (ow - 1) * g.sx + 1 : g.sx], out[o0:o1])

    runtime.parallel(work, min(runtime.threads(), _ceil_div(oh, per)))
    if unpadded and g.kw > 1:
        _edge_columns(plan, source, dtype, out, store)
    return out


def _edge_columns(plan: Plan, source: _RowSource, dtype: np.dtype, out: np.ndarray, store) -> None:
    """The output columns whose windows reach past the left or right border, summed from a
    band of the padded columns they read (both sides side by side: ``2 * (kw - 1)`` columns
    plus the padding, every row)."""
    g = _geometry(plan)
    oh = plan.out_shape[0]
    w, c = plan.source.shape[1], plan.source.shape[2]
    left, right = plan.pad[2], plan.pad[3]
    reach = left + g.kw - 1  # padded columns the left outputs read
    cols = np.r_[np.arange(reach), np.arange(w - right, source.width)]
    image_cols = source.cols[cols]
    band = np.take(source.image, np.maximum(image_cols, 0), axis=1)
    band = np.asarray(band[np.maximum(source.rows, 0)], dtype=dtype)
    band[:, image_cols < 0] = source.cval
    band[source.rows < 0] = source.cval
    width = cols.size
    line = width * c
    flat = band.reshape(-1)
    spare = (np.empty(flat.size, dtype), np.empty(flat.size, dtype))
    vertical = np.empty(oh * line, dtype)
    _window_sum(flat, vertical, g.kh, line, spare)
    sums = np.empty(oh * line, dtype)
    _window_sum(vertical, sums[: oh * line - (g.kw - 1) * c], g.kw, c, spare)
    sums3 = sums.reshape(oh, width, c)
    store(sums3[:, :left], out[:, :left])
    store(sums3[:, reach : reach + right], out[:, w - right :])
