"""The ``small`` strategy: whole-image shift-and-add on the calling thread, for small images.

Owns: ``_small`` and its per-kernel cache of rank-1 factors. Below ~0.25 M output values the
fixed costs of the other paths (strip planning, Toeplitz or band matrices, kernel spectra,
the hand-off to a pool thread and back) outweigh the arithmetic: a 256x256 grey 3x3 filter
is ~0.05 ms of multiply-adds. Here every tap is one multiply and one add over the whole
output (which stays in L2 at these sizes), no thread is involved, and a rank-1 kernel (a
Gaussian, a box) runs as its two 1-D passes.

Must not import: the other strategies, the cost model, chain, matching, cli, images, click,
rich, PIL.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .. import runtime
from ._common import _BLAS_CALL_MNK, _output, _same_on_all_channels
from .plan import Plan, _Geometry, _geometry, index_map
from .rank import _rank_factors


class _Recipe(NamedTuple):
    """How a 2-D kernel shared by all channels runs at stride 1: ``(a, b, weight)`` of its taps (for
    a rank-1 kernel, of its column ``(a, 0, w)`` and row ``(0, b, w)`` factors), or the dense
    block of its live rows and columns for :func:`_row_gemm`."""

    taps: list[tuple[int, int, float]]
    vertical: list[tuple[int, int, float]] | None
    dense: np.ndarray | None
    rows: list[int]
    cols: list[int]


# Recipes by kernel bytes (the rank-1 factorization alone is a few dozen numpy calls, as long
# as a small filter itself); at most this many kept.
_RECIPES: dict[tuple, _Recipe] = {}
_RECIPES_KEEP = 64


def _recipe(kernel: np.ndarray) -> _Recipe:
    key = (kernel.shape, kernel.dtype.str, kernel.tobytes())
    if key in _RECIPES:
        return _RECIPES[key]
    if len(_RECIPES) >= _RECIPES_KEEP:
        _RECIPES.clear()
    kh, kw = kernel.shape
    recipe = _Recipe(_live(kernel), None, None, [], [])
    if kh > 1 and kw > 1 and kh * kw > 6:
        col, row = _rank_factors(kernel[:, :, None], kernel.dtype)
        if col.shape[0] == 1:
            recipe = _Recipe(_live(row[0, :, 0][None]), _live(col[0, :, 0][:, None]), None, [], [])
        else:
            rows = np.flatnonzero(np.any(kernel != 0, axis=1))
            cols = np.flatnonzero(np.any(kernel != 0, axis=0))
            if row_gemm_ops(rows.size, cols.size) < _tap_ops(recipe.taps):
                dense = np.ascontiguousarray(kernel[np.ix_(rows, cols)])
                recipe = _Recipe([], None, dense, rows.tolist(), cols.tolist())
    _RECIPES[key] = recipe
    return recipe


# Border runs by (height, width, pad, mode): built with np.pad on aranges (~15 us each).
_Runs = list[tuple[slice, slice | None]]
_MAPS: dict[tuple, tuple[_Runs, _Runs]] = {}


def _runs(to: np.ndarray, source: np.ndarray) -> _Runs:
    """Padded positions ``to`` copied from positions ``source`` (``-1``: the constant) as
    runs of slices: a border is one or two runs (a mirror, a wrap, an edge repeated), and
    slice copies take a few microseconds where fancy indexing took ~30 us per image."""
    runs: _Runs = []
    i = 0
    while i < to.size:
        j = i + 1
        step = int(source[j] - source[i]) if j < to.size else 0
        const = source[i] < 0
        while (
            j < to.size
            and to[j] == to[j - 1] + 1
            and (source[j] < 0) == const
            and (const or (abs(step) <= 1 and source[j] - source[j - 1] == step))
        ):
            j += 1
        dst = slice(int(to[i]), int(to[j - 1]) + 1)
        if const:
            runs.append((dst, None))
        elif step == 0 or j - i == 1:
            runs.append((dst, slice(int(source[i]), int(source[i]) + 1)))  # broadcast
        else:
            last = int(source[j - 1])
            stop = last + step if last + step >= 0 else None
            runs.append((dst, slice(int(source[i]), stop, step)))
        i = j
    return runs


def _border_runs(plan: Plan) -> tuple[_Runs, _Runs]:
    """``(rows, columns)``: the padded border rows and columns and where they copy from."""
    h, w = plan.source.shape[:2]
    top, bottom, left, right = plan.pad
    key = (h, w, plan.pad, plan.border)
    if key not in _MAPS:
        if len(_MAPS) >= _RECIPES_KEEP:
            _MAPS.clear()
        maps = []
        for n, before, after, mode in ((h, top, bottom, plan.borders[0]),
                                       (w, left, right, plan.borders[1])):  # fmt: skip
            index = index_map(n, before, after, mode)
            to = np.r_[np.arange(before), np.arange(before + n, before + n + after)]
            source = index[to]
            maps.append(_runs(to, np.where(source >= 0, source + before, -1)))
        _MAPS[key] = (maps[0], maps[1])
    return _MAPS[key]


def _padded_shape(plan: Plan) -> tuple[int, int, int]:
    h, w, c = plan.source.shape
    top, bottom, left, right = plan.pad
    return (h + top + bottom, w + left + right, c)


def _padded_small(plan: Plan, into: np.ndarray | None = None) -> np.ndarray:
    """The padded image, C-contiguous (in ``into``'s first values when given): the image
    copied in, then the border columns and rows copied from it (``np.pad`` costs ~30 us of
    Python here, as long as a 3x3 filter of a 256x256 grey image)."""
    img = plan.image
    h, w = img.shape[:2]
    top, left = plan.pad[0], plan.pad[2]
    shape = _padded_shape(plan)
    if into is None:
        into = runtime.scratch("small-padded", (math.prod(shape),), img.dtype)
    padded = into[: math.prod(shape)].reshape(shape)
    np.copyto(padded[top : top + h, left : left + w], img)
    row_runs, col_runs = _border_runs(plan)
    middle = padded[top : top + h]
    for dst, src in col_runs:
        middle[:, dst] = plan.cval if src is None else middle[:, src]
    for dst, src in row_runs:
        padded[dst] = plan.cval if src is None else padded[src]
    return padded


def _groups(weights: list[tuple[int, float]]) -> dict[float, list[int]]:
    """Shifts by weight: taps of equal weight are added first and multiplied once."""
    groups: dict[float, list[int]] = {}
    for shift, w in weights:
        groups.setdefault(w, []).append(shift)
    return groups


def _stack_rows(weights: list[tuple[int, float]]) -> int:
    """Rows :func:`_flat_taps` may use in its ``stack``: the source and one per weight."""
    return 1 + len(_groups(weights))


def _flat_taps(
    stack: np.ndarray,
    start: int,
    dst: np.ndarray,
    weights: list[tuple[int, float]],
    tmp: np.ndarray,
) -> None:
    """``dst = sum w * src[start + shift : ... + dst.size]`` over ``(shift, w)``, ``src`` the
    first row of ``stack``: every window is a contiguous slice of the flattened padded image
    (the fastest numpy loops).

    Taps of equal weight are added first and multiplied once (a symmetric Gaussian of 7
    taps: 10 operations instead of 13; a box: one multiply). With three or more distinct
    weights the group sums go to the other rows of ``stack`` and one GEMV weights them all,
    a lone tap read in place as the first row (that Gaussian: 3 adds and a GEMV reading 4
    rows). ``stack`` has :func:`_stack_rows` rows; ``tmp`` holds ``dst.size`` values.
    """
    n = dst.size
    src = stack[0]
    groups = _groups(weights)
    if len(groups) >= 3 and len(groups) * n <= _BLAS_CALL_MNK:
        lone = [w for w, shifts in groups.items() if len(shifts) == 1]
        pivot = groups[lone[0]][0] if lone else 0
        order = lone[:1] + [w for w in groups if not lone or w != lone[0]]
        first = 0 if lone else 1  # the stack row of order[0]
        matrix = stack[first : first + len(order), start + pivot : start + pivot + n]
        for row, w in zip(matrix[1 - first :], order[1 - first :], strict=True):
            shifts = groups[w]
            s0 = start + shifts[0]
            if len(shifts) == 1:
                np.copyto(row, src[s0 : s0 + n])
                continue
            np.add(src[s0 : s0 + n], src[start + shifts[1] : start + shifts[1] + n], out=row)
            for shift in shifts[2:]:
                np.add(row, src[start + shift : start + shift + n], out=row)
        np.matmul(np.array(order, dtype=dst.dtype), matrix, out=dst)
        return
    first_group = True
    for w, shifts in groups.items():
        target = dst if first_group else tmp[:n]
        s0 = start + shifts[0]
        if len(shifts) == 1:
            np.multiply(src[s0 : s0 + n], w, out=target)
        else:
            np.add(src[s0 : s0 + n], src[start + shifts[1] : start + shifts[1] + n], out=target)
            for shift in shifts[2:]:
                np.add(target, src[start + shift : start + shift + n], out=target)
            np.multiply(target, w, out=target)
        if not first_group:
            np.add(dst, target, out=dst)
        first_group = False
    if first_group:
        dst.fill(0)


def _tap_ops(taps: list[tuple[int, int, float]]) -> int:
    """Whole-array operations :func:`_flat_taps` spends on these taps (its loop)."""
    groups = _groups([(0, w) for _, _, w in taps])
    return sum(len(shifts) + 1 for shifts in groups.values()) - 1


def row_gemm_ops(kh: int, kw: int) -> int:
    """Whole-array passes :func:`_row_gemm` spends on a ``kh x kw`` kernel, counted like a
    tap's multiply or add: ``kh`` shifted copies, one GEMM that reads ``kh`` rows and writes
    ``kw`` (~one pass each, measured 3x3 and 5x5 at 256x256), ``kw - 1`` shifted adds."""
    return 2 * kh + 2 * kw - 1


def _row_gemm(
    rows: np.ndarray,
    out: np.ndarray,
    kernel2d: np.ndarray,
    line: int,
    col_offsets: list[int],
    capacity: int,
) -> None:
    """``out (n, ow, C)`` of a dense kernel as one GEMM: ``rows (kh, M)`` holds the slices of
    the flattened padded image its kernel rows read, ``S = kernel2d.T @ rows`` (row ``b``
    holds every position's sum over the kernel rows for column tap ``b``), then the ``kw``
    rows of ``S`` are added at their column shifts (``col_offsets``) and the valid columns
    copied to ``out``. ``capacity``: the largest ``M`` of the call's chunks (the work arrays
    keep that size between chunks). A dense 3x3 is one GEMM and 2 adds (and the rows' 2
    shifted copies, see :func:`_dense`) where taps take 9 multiplies and 8 adds.
    """
    n, ow, c = out.shape
    kw = len(col_offsets)
    m = n * line
    reach = col_offsets[-1]  # <= (ew - 1) * C: every valid output reads below m
    sums = runtime.scratch("small-sums", (kw, capacity + reach), rows.dtype)
    np.matmul(kernel2d.T, rows, out=sums[:, :m])

    def window(b: int, length: int) -> np.ndarray:
        return sums[b, col_offsets[b] : col_offsets[b] + length]

    def valid(values: np.ndarray) -> np.ndarray:  # the output columns of whole padded rows
        return values.reshape(n, line)[:, : ow * c]

    if kw == 1:
        np.copyto(out.reshape(n, ow * c), valid(window(0, m)))
        return
    length = m - reach  # the positions of valid outputs, read within the computed sums
    acc = runtime.scratch("small-full", (capacity,), rows.dtype)[:m]
    np.add(window(0, length), window(1, length), out=acc[:length])
    for b in range(2, kw):
        np.add(acc[:length], window(b, length), out=acc[:length])
    # Flat adds then one strided copy: numpy adds 2-D views of short rows ~2x slower.
    np.copyto(out.reshape(n, ow * c), valid(acc))


def _dense(plan: Plan, g: _Geometry, recipe: _Recipe, out: np.ndarray) -> None:
    """A dense kernel shared by all channels, stride 1: the padded image and its copies
    shifted by each further live kernel row, stacked as the rows of one array (the padded
    image itself is the first row when the kernel's first row is live), then
    :func:`_row_gemm` on chunks of output rows."""
    shape = _padded_shape(plan)
    size = math.prod(shape)
    line = shape[1] * shape[2]
    oh = plan.out_shape[0]
    row_offsets = [a * g.dy * line for a in recipe.rows]
    col_offsets = [b * g.dx * shape[2] for b in recipe.cols]
    stack = runtime.scratch("small-rows", (len(row_offsets), size), plan.dtype)
    if row_offsets[0] == 0:
        flat = _padded_small(plan, into=stack[0]).reshape(-1)
    else:
        flat = _padded_small(plan).reshape(-1)
    for a, offset in enumerate(row_offsets):
        if a or offset:
            np.copyto(stack[a, : size - offset], flat[offset:])
    # Calls under the BLAS cap run on this thread; a chunk's sums stay in L2.
    budget = min(_CHUNK_VALUES, _BLAS_CALL_MNK // recipe.dense.size)
    rows = max(1, min(oh, budget // line))
    for r0 in range(0, oh, rows):
        n = min(rows, oh - r0)
        part = stack[:, r0 * line : (r0 + n) * line]
        _row_gemm(part, out[r0 : r0 + n], recipe.dense, line, col_offsets, rows * line)


def _live(kernel2d: np.ndarray) -> list[tuple[int, int, float]]:
    """``(a, b, weight)`` of the non-zero taps, weights as Python floats (scalars that keep
    the arrays' dtype)."""
    values = kernel2d.tolist()
    return [(a, b, v) for a, row in enumerate(values) for b, v in enumerate(row) if v != 0]


# Values per row chunk of the stride-1 path: its window, product and sum stay in L2 (a
# whole 256x256 RGB image does not: on the loaded 2-core machine, 3 MiB of whole-image
# arrays ran 1 to 30 ms for what chunks do in 0.5 ms).
_CHUNK_VALUES = 96 * 1024


def _shared_stride1(plan: Plan, g: _Geometry, recipe: _Recipe, out: np.ndarray) -> None:
    """Stride 1, one kernel for all channels, by taps: the windows as shifted contiguous
    slices of the flattened padded image, computed over whole padded rows (``Wp`` instead of
    ``ow`` values a row) in row chunks, the valid columns of each chunk copied out. A rank-1
    kernel runs as two 1-D passes, the vertical one's result the first row of the
    horizontal one's stack."""
    shape = _padded_shape(plan)
    size = math.prod(shape)
    wp, c = shape[1:]
    oh, ow = plan.out_shape
    line = wp * c
    rows = max(1, min(oh, _CHUNK_VALUES // line))
    tail = (g.ew - 1) * c  # the last row's windows past its right border: not computed
    taps = [(a * g.dy * line + b * g.dx * c, w) for a, b, w in recipe.taps]
    first = (
        taps if recipe.vertical is None else [(a * g.dy * line, w) for a, _, w in recipe.vertical]
    )
    stack = runtime.scratch("small-stack", (_stack_rows(first), size), plan.dtype)
    _padded_small(plan, into=stack[0])
    full = runtime.scratch("small-full", (rows * line,), plan.dtype)
    tmp = runtime.scratch("small-tmp", (rows * line,), plan.dtype)
    if recipe.vertical is not None:
        mids = runtime.scratch("small-mid", (_stack_rows(taps), rows * line), plan.dtype)
    for r0 in range(0, oh, rows):
        n = min(rows, oh - r0)
        if recipe.vertical is None:
            _flat_taps(stack, r0 * line, full[: n * line - tail], taps, tmp)
        else:
            _flat_taps(stack, r0 * line, mids[0, : n * line], first, tmp)
            _flat_taps(mids, 0, full[: n * line - tail], taps, tmp)
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
    as a vertical then a horizontal 1-D pass (``kh + kw`` taps instead of ``kh*kw``), a
    dense one as one GEMM when that takes fewer passes (see :func:`_shared_stride1`). Cost:
    one multiply and one add per tap and output value (~0.2 ns here while the image stays
    in L2; a GEMM pass about as much as an add), plus ~30 us per call. Memory: the output;
    the padded image and the work arrays are per-thread scratch kept between calls (fresh
    memory is faulted in on every call, which on this VM cost 256x256 RGB ~2 ms, 5x the
    filter).
    """
    g = _geometry(plan)
    out = _output(plan, g.cout)
    kernel = plan.kernel
    shared = plan.depthwise and _same_on_all_channels(kernel)
    if shared and plan.stride == (1, 1):
        recipe = _recipe(kernel[:, :, 0])
        if recipe.dense is not None:
            _dense(plan, g, recipe, out)
        else:
            _shared_stride1(plan, g, recipe, out)
        return out
    padded = _padded_small(plan)
    weights = kernel[:, :, 0] if shared else kernel
    _shift_add(padded, out, weights, plan.stride, plan.dilation, not plan.depthwise)
    return out
