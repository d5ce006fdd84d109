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
the cost model, matching/template, cli, images, click, rich, PIL.
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
    if plan.border == "constant" and not (plan.cval == int(plan.cval) and 0 <= plan.cval <= top):
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


def _box(plan: Plan) -> np.ndarray:
    """Box kernels: ``weight * (window sum)``, the window sums by doubling, both threads.

    Per strip of output rows, the padded input rows are built in a scratch buffer
    (``_RowSource``), summed over ``kh`` rows (shifts of one padded row, the flattened strip
    as one 1-D array), then over ``kw`` columns (shifts of ``C`` values) and multiplied by
    the weight while copied into the output (a stride keeps every ``sy``-th row and ``sx``-th
    column of the stride-1 sums). Cost: ``floor(log2 k) + popcount(k) - 1`` additions per
    axis and value plus the strip copy and the scaled copy out, about the same for box:3 as
    for box:31. Memory: the output and five strip buffers per thread. A kernel that is not
    a box (see ``_is_box``; the cost model never picks this path for one) runs ``strips``.
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
    c, line = plan.source.shape[2], source.width * plan.source.shape[2]
    # Output rows per strip: ~_BOX_STRIP_VALUES per buffer, at least 4 halo heights.
    per = max(1, min(oh, _BOX_STRIP_VALUES // (line * g.sy), _ceil_div(oh, runtime.threads())))
    per = min(oh, max(per, _ceil_div(4 * (g.kh - 1), g.sy)))
    size = ((per - 1) * g.sy + g.kh) * line
    out = _output(plan, g.cout)

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
            source.fill(strip.reshape(-1, source.width, c), o0 * g.sy, o0 * g.sy + rows)
            vertical = rows_sum[: n1 * line]
            _window_sum(strip[: rows * line], vertical, g.kh, line, spare)
            # The last row's sums past its right border (kw - 1 pixels) are not needed.
            horizontal = both[: n1 * line - (g.kw - 1) * c]
            _window_sum(vertical, horizontal, g.kw, c, spare)
            sums = both[: n1 * line].reshape(n1, source.width, c)
            picked = sums[:: g.sy, : (ow - 1) * g.sx + 1 : g.sx]
            if picked.dtype == out.dtype:
                np.multiply(picked, weight, out=out[o0:o1])
            else:  # integer sums: a plain cast then an in-place multiply (mixed: 1.2x slower)
                np.copyto(out[o0:o1], picked, casting="unsafe")
                np.multiply(out[o0:o1], weight, out=out[o0:o1])

    runtime.parallel(work, min(runtime.threads(), _ceil_div(oh, per)))
    return out
