"""The ``separable`` strategy: a rank factorization splits the kernel into pairs of 1-D passes.

Owns: the shared-kernel path (transposed band GEMMs, ``_separable_shared``) with its band
primitives, and the per-channel path built from the strips and GEMM primitives.

Must not import: chain, matching, cli, images, click, rich, PIL.
"""

from __future__ import annotations

import numpy as np

from .. import runtime
from ._common import (
    _BLAS_CALL_MNK,
    Primitive,
    _ceil_div,
    _padded,
    _run_rows,
    _same_on_all_channels,
)
from .cost import _separable_passes
from .im2row import (
    _gemm,
    _gemm_block_cols,
    _gemm_block_rows,
    _gemm_cols_primitive,
    _gemm_rows_primitive,
)
from .plan import Plan, _Geometry, _geometry, _RowSource
from .rank import _SEP_BLOCK_COLS, _SEP_BLOCK_ROWS, _rank_factors, _sep_direct
from .strips import _shift_add_primitive

# Rows of the vertical pass's result kept per chunk: bigger chunks mean fewer, larger GEMMs
# in the horizontal pass (4 MiB measured ~25% faster than an L2-sized 768 KiB).
_SEPARABLE_CHUNK_BYTES = 4 << 20


# The size of one strip's vertical result in the shared path (sets the rows per strip): 3 MiB
# is 128 rows at 1080p RGB float32 and 64 at 4K (4K: 48 ms against 57 with 128 rows).
_SEP_MID_BYTES = 3 << 20
# The same for the direct path (rank 1, short rows of taps), whose passes both run on whole
# interleaved rows: 1 MiB measured best of 0.25-3 MiB. With the row-major vertical pass, 4K RGB
# gaussian:2 on two threads went 150 -> 118 and 93 -> 88 ms (same runs, alternating); 1080p
# was unchanged (~21 ms) on a quiet machine and 10-15% faster with the cores loaded.
_SEP_DIRECT_MID_BYTES = 1 << 20


def _band_t(taps: np.ndarray, stride: int, dilation: int, block: int) -> np.ndarray:
    """Transposed bands ``(r, L, block)``: ``B[i, j*stride + a*dilation, j] = taps[i, a]``."""
    r, k = taps.shape
    length = (block - 1) * stride + (k - 1) * dilation + 1
    band = np.zeros((r, length, block), taps.dtype)
    j = np.arange(block)
    for a in range(k):
        band[:, j * stride + a * dilation, j] = taps[:, a, None]
    return band


def _band_matmul(x: np.ndarray, band: np.ndarray, out: np.ndarray, stride: int, rows: int) -> None:
    """``out[:, j] = x[:, j*stride : j*stride + L] @ band[:, j]`` blockwise, batched.

    ``band`` is ``(L, b)`` (output block ``i`` covers columns ``i*b : (i+1)*b``, reading input
    columns from ``i*b*stride``); the last, ragged block uses the matching corner of ``band``.
    The rows of ``x`` are split into chunks of ``rows`` so that each BLAS call stays under the
    cap, and all full blocks and chunks go to one batched ``np.matmul`` (strided views): the
    GIL is released once for hundreds of calls, where two threads issuing ~20 us calls one
    by one measured 1.4x instead of 2x.
    """
    m, n_out = x.shape[0], out.shape[1]
    length, b = band.shape
    x0, x1 = x.strides
    o0, o1 = out.strides
    full, rag = divmod(n_out, b)
    chunks, tail = divmod(m, rows)

    def call(r0: int, r_len: int, r_count: int, i0: int, count: int, t: np.ndarray) -> None:
        src = x[r0:, i0 * b * stride :]
        dst = out[r0:, i0 * b :]
        a = np.lib.stride_tricks.as_strided(
            src, (count, r_count, r_len, t.shape[0]), (b * stride * x1, r_len * x0, x0, x1)
        )
        o = np.lib.stride_tricks.as_strided(
            dst, (count, r_count, r_len, t.shape[1]), (b * o1, r_len * o0, o0, o1)
        )
        np.matmul(a, t, out=o)

    parts = [(band, 0, full)] if full else []
    if rag:
        cut = length - (b - rag) * stride
        parts.append((np.ascontiguousarray(band[:cut, :rag]), full, 1))
    for t, i0, count in parts:
        if chunks:
            call(0, rows, chunks, i0, count, t)
        if tail:
            call(chunks * rows, tail, 1, i0, count, t)


def _band_left(x: np.ndarray, band: np.ndarray, out: np.ndarray, stride: int, cols: int) -> None:
    """``out[i*b : (i+1)*b] = band @ x[i*b*stride : i*b*stride + L]`` blockwise, batched.

    ``band`` is ``(b, L)``; the long, contiguous rows of ``x`` and ``out`` are the GEMMs' N
    dimension, split into chunks of ``cols`` values so that each BLAS call stays under the
    cap. Small M and K with a long contiguous N is the shape OpenBLAS runs fastest here
    (~2x the flop rate of ``(n, L) @ (L, b)`` with b = 16). All full blocks and chunks go to
    one batched ``np.matmul``; the last, ragged block of rows uses the corner of ``band``.
    """
    m_out, n = out.shape
    b, length = band.shape
    x0, x1 = x.strides
    o0, o1 = out.strides
    full, rag = divmod(m_out, b)
    chunks, tail = divmod(n, cols)

    def call(i0: int, count: int, t: np.ndarray, c0: int, c_len: int, c_count: int) -> None:
        src = x[i0 * b * stride :, c0:]
        dst = out[i0 * b :, c0:]
        a = np.lib.stride_tricks.as_strided(
            src, (count, c_count, t.shape[1], c_len), (b * stride * x0, c_len * x1, x0, x1)
        )
        o = np.lib.stride_tricks.as_strided(
            dst, (count, c_count, t.shape[0], c_len), (b * o0, c_len * o1, o0, o1)
        )
        np.matmul(t, a, out=o)

    parts = [(band, 0, full)] if full else []
    if rag:
        cut = length - (b - rag) * stride
        parts.append((np.ascontiguousarray(band[:rag, :cut]), full, 1))
    for t, i0, count in parts:
        if chunks:
            call(i0, count, t, 0, cols, chunks)
        if tail:
            call(i0, count, t, chunks * cols, tail, 1)


def _separable_shared(plan: Plan, g: _Geometry, col: np.ndarray, row: np.ndarray) -> np.ndarray:
    """Rank-r separable filter with a kernel shared by all channels, as transposed band GEMMs.

    Per strip of output rows (both threads take strips from a shared queue), the padded input
    rows are built in a scratch buffer (``_RowSource``, no padded copy of the image).

    Rank 1 with short rows of taps (``_sep_direct``): both passes run on whole interleaved rows
    ``(rows, Wp*C)``. Vertical: ``mid[i-block] = Tv (bv, lv) @ X[rows of the block]``, the band
    on the left and the long rows as N (the shape OpenBLAS runs fastest here); horizontal:
    ``out[:, x-block] = mid[:, window] @ (Th x I_C)``, straight into the output rows.

    Otherwise the vertical pass is ``mid = X^T @ Tv^T`` per block of ``bv`` output rows: BLAS
    reads ``X`` transposed, so ``mid`` comes out as ``(Wp, C, n)`` with the image columns as its
    rows. The horizontal pass is then again a banded GEMM per block of ``bx`` output columns,
    ``P[:, x] = mid[x-block]^T @ Th^T``, into a planar ``(C, n, ow)`` buffer, which one
    transposing copy writes into the output rows. Cost per output value: ``2*(bv + kh - 1)``
    plus ``2*(bx + kw - 1)`` flops per rank (``2*(kh + kw)`` useful; C times the horizontal
    ones when direct), one strip copy and one transposing copy (none when direct). Memory: the
    output and three strip buffers (~10 MiB) per thread.
    """
    _, _, sy, sx, dy, dx, eh, _, c = g
    oh, ow = plan.out_shape
    dtype = plan.dtype
    source = _RowSource(plan)
    wp = source.width
    rank = col.shape[0]
    bv, bx = _SEP_BLOCK_ROWS, min(_SEP_BLOCK_COLS, ow)
    tv = _band_t(col[:, :, 0], sy, dy, bv)
    th = _band_t(row[:, :, 0], sx, dx, bx)
    lv, lx = tv.shape[1], th.shape[1]
    direct = _sep_direct(rank, lx, c)
    mid_bytes = _SEP_DIRECT_MID_BYTES if direct else _SEP_MID_BYTES
    strip_rows = mid_bytes // (wp * c * dtype.itemsize)
    per = max(bv, min(strip_rows, -(-oh // runtime.threads())) // bv * bv)
    # As many strips as a multiple of the threads, so that none waits alone on a last one
    # (1080p grey gaussian:10 ran 3 strips of 384 rows on 2 threads: 13 ms, 4 of 272: 8 ms).
    strips = _ceil_div(_ceil_div(oh, per), runtime.threads()) * runtime.threads()
    per = max(bv, _ceil_div(_ceil_div(oh, strips), bv) * bv)
    in_rows = (per - 1) * sy + eh
    m_all = wp * c
    # Split both GEMMs' long M dimension so that each call stays under the BLAS cap.
    mv = max(1, _BLAS_CALL_MNK // (lv * bv))
    mh = max(1, _BLAS_CALL_MNK // (lx * bx))
    out = np.empty((oh, ow, c), dtype)
    tv_left = np.ascontiguousarray(tv[0].T)  # (bv, lv): the band on the left
    mv_left = max(1, _BLAS_CALL_MNK // tv_left.size)
    thc = np.kron(th[0], np.eye(c, dtype=dtype))  # band x identity over the channels
    mhc = max(1, _BLAS_CALL_MNK // thc.size)

    queue = iter(range(0, oh, per))
    # Rows already padded and of the compute dtype (a 'valid' call on a band the chain padded):
    # the strips are views of them (the copy was 7% of a 1080p stream's time).
    image = plan.source
    as_is = not any(plan.pad) and image.dtype == dtype and image.flags.c_contiguous

    def work() -> None:
        scratch = None if as_is else runtime.scratch("sep-strip", (in_rows, wp, c), dtype)
        mid_buf = runtime.scratch("sep-mid", (wp * c * per,), dtype)
        p_buf = runtime.scratch("sep-p", (0 if direct else c * per * ow,), dtype)
        q_buf = runtime.scratch("sep-q", (c * per * ow,), dtype) if rank > 1 else p_buf
        for o0 in queue:
            o1 = min(oh, o0 + per)
            n = o1 - o0
            rows = (n - 1) * sy + eh
            if as_is:
                strip = image[o0 * sy : o0 * sy + rows].reshape(rows, wp, c)
            else:
                assert scratch is not None
                strip = scratch
                source.fill(strip, o0 * sy, o0 * sy + rows)
            if direct:
                # Both passes read and write whole interleaved rows: (n, Wp*C) row-major.
                mid = mid_buf[: m_all * n].reshape(n, m_all)
                _band_left(strip[:rows].reshape(rows, m_all), tv_left, mid, sy, mv_left)
                _band_matmul(mid, thc, out[o0:o1].reshape(n, ow * c), sx, mhc)
                continue
            xt = strip[:rows].reshape(rows, m_all).T
            mid = mid_buf[: m_all * n].reshape(m_all, n)
            p = p_buf[: c * n * ow].reshape(c * n, ow)
            for k in range(rank):
                _band_matmul(xt, tv[k], mid, sy, mv)
                mid_x = mid.reshape(wp, c * n)
                q = p if k == 0 else q_buf[: c * n * ow].reshape(c * n, ow)
                _band_matmul(mid_x.T, th[k], q, sx, mh)
                if k:
                    np.add(p, q, out=p)
            np.copyto(out[o0:o1], p.reshape(c, n, ow).transpose(1, 2, 0))

    runtime.parallel(work, min(runtime.threads(), _ceil_div(oh, per)))
    return out


def _separable(plan: Plan) -> np.ndarray:
    """Separable: a rank factorization splits the kernel into ``r`` pairs of 1-D passes.

    A kernel shared by all channels runs ``_separable_shared`` (transposed band GEMMs per
    strip, no padded copy). One kernel per channel: each row chunk of the padded image is
    filtered vertically into a chunk buffer (shift-and-add), then horizontally into the output
    (shift-and-add for short rows of taps, else column Toeplitz GEMM). Cost: ``r`` times
    ``kh + kw`` taps per output value instead of ``kh*kw``. Memory (per-channel kernels): the
    padded image, the output, two chunk buffers per thread. 4-D kernels mix channels and have
    no such factorization: they run the GEMM strategy.
    """
    if not plan.depthwise:
        return _gemm(plan)
    g = _geometry(plan)
    dtype = plan.dtype
    shared = _same_on_all_channels(plan.kernel)
    col, row = _rank_factors(plan.kernel[:, :, :1] if shared else plan.kernel, dtype)
    if shared:
        return _separable_shared(plan, g, col, row)
    return _separable_per_channel(plan, g, col, row)


def _per_channel_passes(
    plan: Plan, g: _Geometry, col: np.ndarray, row: np.ndarray, c: int
) -> tuple[list[tuple[Primitive, Primitive]], bool]:
    """One (vertical, horizontal) pair of 1-D primitives per rank, and whether any is a GEMM.

    Each pass is a GEMM or shift-and-add as the cost model prefers (``_separable_passes``).
    """
    kw, sy, sx, dy, dx = g.kw, g.sy, g.sx, g.dy, g.dx
    bh = _gemm_block_rows(g.kh)
    vertical_gemm, _, horizontal_gemm, _ = _separable_passes(plan, g, False)
    passes = []
    for i in range(col.shape[0]):
        if vertical_gemm:
            vertical = _gemm_rows_primitive(col[i, :, :1], (sy, 1), (dy, 1), bh)
        else:
            vertical = _shift_add_primitive(col[i][:, None, :], True, (sy, 1), (dy, 1))
        taps = np.broadcast_to(row[i][None], (1, kw, c))
        if horizontal_gemm:
            horizontal = _gemm_cols_primitive(
                taps, True, (1, sx), (1, dx), plan.out_shape[1], _gemm_block_cols(kw)
            )
        else:
            horizontal = _shift_add_primitive(taps, True, (1, sx), (1, dx))
        passes.append((vertical, horizontal))
    return passes, vertical_gemm or horizontal_gemm


def _separable_per_channel(
    plan: Plan, g: _Geometry, col: np.ndarray, row: np.ndarray
) -> np.ndarray:
    """One kernel per channel: per row chunk of the padded image, ``r`` vertical passes into
    a chunk buffer, each followed by its horizontal pass into the output (summed over ranks).
    """
    sy = g.sy
    dtype = plan.dtype
    padded = _padded(plan)
    c = padded.shape[2]
    if col.shape[2] == 1:
        col, row = np.repeat(col, c, axis=2), np.repeat(row, c, axis=2)
    width = padded.shape[1]
    oh, ow = plan.out_shape
    bh = _gemm_block_rows(g.kh)
    passes, blas = _per_channel_passes(plan, g, col, row, c)
    out = np.empty((oh, ow, c), dtype)
    chunk = max(bh, _SEPARABLE_CHUNK_BYTES // (width * c * dtype.itemsize) // bh * bh)

    def run(src: np.ndarray, dst: np.ndarray) -> None:
        n = dst.shape[0]
        mid = np.empty((min(chunk, n), width, c), dtype)
        extra = np.empty((min(chunk, n), ow, c), dtype) if len(passes) > 1 else None
        for r0 in range(0, n, chunk):
            r1 = min(n, r0 + chunk)
            s = src[r0 * sy : (r1 - 1) * sy + g.eh]
            for index, (vertical, horizontal) in enumerate(passes):
                vertical(s, mid[: r1 - r0])
                target = dst[r0:r1] if index == 0 else extra[: r1 - r0]
                horizontal(mid[: r1 - r0], target)
                if index:
                    np.add(dst[r0:r1], target, out=dst[r0:r1])

    _run_rows(padded, out, run, sy, g.eh, chunk, threads=not blas)
    return out
