"""What the separable strategy and the cost model both need to know about separable kernels.

Owns: the rank factorization of kernels (:func:`kernel_rank`, ``_rank_factors``), the band
block sizes of the shared separable path and the rule for when its horizontal pass writes the
output directly. Kept apart from ``separable.py`` because the cost model reads these and the
separable strategy reads the cost model (one module for both would be an import circle).

Must not import: the strategies, the cost model, chain, matching, cli, images, click, rich,
PIL.
"""

from __future__ import annotations

import numpy as np

from ._common import _same_on_all_channels
from .plan import Plan


def _rank_factors(kernel: np.ndarray, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """Rank-r factors of each channel's kernel: ``K[:, :, c] = sum_i col[i, :, c] row[i, :, c]``.

    Gaussian elimination with complete pivoting (cross approximation): each step takes the
    largest remaining entry ``R[p, q]`` and subtracts ``R[:, q] R[p, :] / R[p, q]``; it stops
    once every remaining entry is below ``8*eps(dtype)`` of the kernel's largest (below the
    rounding of the compute dtype), so the factors reproduce the kernel to that bound
    elementwise. Not an SVD on purpose: LAPACK's SVD runs on OpenBLAS's threads, which keep
    spinning after it returns and measured ~15 ms slower on the filter that follows (2 CPUs).
    Returns ``col (r, kh, C)`` and ``row (r, kw, C)``.
    """
    k = np.moveaxis(kernel.astype(np.float64), 2, 0)
    tol = 8 * float(np.finfo(dtype).eps) * float(np.max(np.abs(k), initial=0.0))  # float64
    cols: list[list[np.ndarray]] = []
    rows: list[list[np.ndarray]] = []
    for residual in k.copy():
        cols.append([])
        rows.append([])
        # Each step zeroes a row and a column (up to rounding, which can take a step or two
        # more); a non-finite pivot (weights beyond the compute dtype) ends the loop, which
        # then ran for ever, and the bound of one step per tap ends it whatever the values.
        for _ in range(residual.size + 1):
            p, q = np.unravel_index(int(np.argmax(np.abs(residual))), residual.shape)
            pivot = residual[p, q]
            if (abs(pivot) <= tol or not np.isfinite(pivot)) and cols[-1]:
                break
            if pivot == 0 or not np.isfinite(pivot):  # an all-zero kernel: one zero pair
                cols[-1].append(np.zeros(k.shape[1]))
                rows[-1].append(np.zeros(k.shape[2]))
                break
            col, row = residual[:, q].copy(), residual[p, :] / pivot
            residual -= np.outer(col, row)
            cols[-1].append(col)
            rows[-1].append(row)
    rank = max(len(c) for c in cols)
    col_out = np.zeros((rank, k.shape[1], k.shape[0]))
    row_out = np.zeros((rank, k.shape[2], k.shape[0]))
    for ch, (cs, rs) in enumerate(zip(cols, rows, strict=True)):
        col_out[: len(cs), :, ch] = np.array(cs)
        row_out[: len(rs), :, ch] = np.array(rs)
    return col_out.astype(dtype), row_out.astype(dtype)


def kernel_rank(plan: Plan) -> int:
    """Numerical rank of a depthwise plan's kernel (largest over channels); 0 for 4-D kernels."""
    if not plan.depthwise:
        return 0
    kernel = plan.kernel[:, :, :1] if _same_on_all_channels(plan.kernel) else plan.kernel
    return _rank_factors(kernel, plan.dtype)[0].shape[0]


# Transposed separable path (kernels shared by all channels): output rows per band block of
# the vertical GEMM and output columns per band block of the horizontal one (the size of one
# strip's vertical result is ``separable._SEP_MID_BYTES``). 16/16 measured best of 8..48.
_SEP_BLOCK_ROWS = 16
_SEP_BLOCK_COLS = 16


# Widest band row (lx = 16 + kw - 1 taps) times (C - 1) for which the separable horizontal
# pass writes the interleaved output directly: 1080p/4K RGB, kw <= 15 direct, kw = 61 not.
_SEP_DIRECT_MAX = 60


def _sep_direct(rank: int, lx: int, c: int) -> bool:
    """Whether the horizontal pass writes the interleaved output rows directly.

    It then multiplies by the band times the ``C x C`` identity (``C`` times the flops) but
    skips the planar buffer and its transposing copy (~0.6 ns per output value, wall): a win
    for short rows of taps (1080p RGB gaussian:2 even, 4K 54 -> 42 ms), a loss for long ones
    (sigma 10: 19 -> 23 ms). Always for one channel (no extra flops). Rank 1 only. A measured
    threshold, kept apart from the cost model's fitted constants (a refit once flipped it).
    """
    return rank == 1 and lx * (c - 1) <= _SEP_DIRECT_MAX
