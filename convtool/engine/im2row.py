"""The ``gemm`` strategy: im2row strips and banded GEMMs, so that BLAS does the multiply-adds.

Owns: the im2row path (``_Im2Row``, ``_gemm_im2row``, ``_gemm``) and the row and column
Toeplitz GEMM primitives the separable path uses for its 1-D passes, with their block sizes.

Must not import: the other strategies, the cost model, chain, matching, cli, images, click,
rich, PIL.
"""

from __future__ import annotations

from functools import partial

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .. import runtime
from ._common import (
    _BLAS_CALL_MNK,
    Primitive,
    _ceil_div,
    _output,
    _same_on_all_channels,
    _sum_into,
)
from .plan import Plan, _Geometry, _geometry, index_map

# Working-set target of the row and column GEMM primitives (a block stays in L2).
_GEMM_BYTES = 768 * 1024
# im2row GEMM (shared 2-D kernels): output rows per band block, Z scratch per column chunk
# (near L2: copies into L2 ran ~3x faster than into a 6 MiB Z), output rows per strip (tall,
# as each strip copies its halo rows again). 1080p RGB, k = 3/5/9, measured best of 1.5-4 MiB
# x 32-96 rows.
_IM2ROW_BLOCK_ROWS = 4
_IM2ROW_Z_BYTES = 2560 * 1024
_IM2ROW_STRIP_ROWS = 64
_IM2ROW_MIX_ROWS = 8


# --- primitive 2: GEMM with a banded Toeplitz matrix along the rows --------------------------


def _gemm_rows_primitive(
    kernel2d: np.ndarray,
    stride: tuple[int, int],
    dilation: tuple[int, int],
    block_rows: int,
) -> Primitive:
    """Correlation with one 2-D kernel shared by all channels, as GEMMs along the rows.

    For a block of ``bh`` output rows, ``T_b[i, i*sy + a*dy] = K[a, b]`` maps the ``lh`` input
    rows to the output rows for kernel column ``b``. The ``kw`` matrices are stacked into one
    ``(kw*bh, lh)`` matrix, multiplied by the input slab ``(lh, cols*C)`` (channels stay
    interleaved: the same T applies to every column), and the ``kw`` row blocks of the product
    are added with their column shift ``b*dx``.
    """
    kh, kw = kernel2d.shape
    sy, sx = stride
    dy, dx = dilation
    bh = block_rows
    lh = (bh - 1) * sy + (kh - 1) * dy + 1
    stacked = np.zeros((kw, bh, lh), kernel2d.dtype)
    i = np.arange(bh)
    for a in range(kh):
        stacked[:, i, i * sy + a * dy] = kernel2d[a][:, None]

    def run(src: np.ndarray, dst: np.ndarray) -> None:
        n, ow, c = dst.shape
        cols = _GEMM_BYTES // (dst.itemsize * c * (kw * bh + lh))
        width_cap = _BLAS_CALL_MNK // (kw * bh * lh * c)
        cols = min(cols, (width_cap - (kw - 1) * dx - 1) // sx + 1)
        # Large kernels cannot stay under the cap without mostly-overlap slabs; let them be.
        cols = min(max(cols, 8, 2 * kw * dx), ow)
        zbuf = np.empty(kw * bh * ((cols - 1) * sx + (kw - 1) * dx + 1) * c, dst.dtype)
        for r0 in range(0, n, bh):
            nb = min(bh, n - r0)
            lr = (nb - 1) * sy + (kh - 1) * dy + 1
            if nb == bh:
                t = stacked.reshape(kw * bh, lh)
            else:
                t = np.ascontiguousarray(stacked[:, :nb, :lr]).reshape(kw * nb, lr)
            slab = src[r0 * sy : r0 * sy + lr]
            for c0 in range(0, ow, cols):
                nc = min(cols, ow - c0)
                lw = (nc - 1) * sx + (kw - 1) * dx + 1
                y = slab[:, c0 * sx : c0 * sx + lw].reshape(lr, lw * c)
                z = np.matmul(t, y, out=zbuf[: kw * nb * lw * c].reshape(kw * nb, lw * c))
                z4 = z.reshape(kw, nb, lw, c)
                parts = [z4[b, :, b * dx : b * dx + (nc - 1) * sx + 1 : sx] for b in range(kw)]
                _sum_into(parts, dst[r0 : r0 + nb, c0 : c0 + nc])

    return run


# --- primitive 3: GEMM with a banded Toeplitz matrix along the columns (mixes channels) -------


def _gemm_cols_primitive(
    taps: np.ndarray,
    depthwise: bool,
    stride: tuple[int, int],
    dilation: tuple[int, int],
    ow: int,
    block_cols: int,
) -> Primitive:
    """Correlation as GEMMs along the columns; the natural path for channel-mixing kernels.

    For a block of ``bw`` output columns, ``M_a[(j*sx + b*dx)*Cin + ci, j*Cout + co] =
    K[a, b, ci, co]`` maps an input row slab to output row ``a``'s contribution. The ``kh``
    matrices sit side by side in one ``(lw*Cin, kh*bw*Cout)`` matrix; the product's ``kh``
    column blocks are added with their row shift ``a*dy``. Depthwise kernels give a matrix that
    is block-diagonal in channels (C times the useful work).
    """
    kh, kw = taps.shape[:2]
    sy, sx = stride
    dy, dx = dilation
    cin = taps.shape[2]
    cout = cin if depthwise else taps.shape[3]

    def build(nc: int) -> np.ndarray:
        lw = (nc - 1) * sx + (kw - 1) * dx + 1
        m = np.zeros((lw, cin, kh, nc, cout), taps.dtype)
        j = np.arange(nc)
        for b in range(kw):
            if depthwise:
                ch = np.arange(cin)
                m[(j * sx + b * dx)[:, None], ch, :, j[:, None], ch] = taps[:, b, :].T
            else:
                m[j * sx + b * dx, :, :, j, :] = taps[:, b].transpose(1, 0, 2)
        return m.reshape(lw * cin, kh * nc * cout)

    bw = min(block_cols, ow)
    lw_full = (bw - 1) * sx + (kw - 1) * dx + 1
    mats = {bw: build(bw)}
    if ow % bw:
        mats[ow % bw] = build(ow % bw)

    def run(src: np.ndarray, dst: np.ndarray) -> None:
        n = dst.shape[0]
        row_bytes = dst.itemsize * kh * bw * cout
        lr_cap = min(_GEMM_BYTES // row_bytes, _BLAS_CALL_MNK // (kh * bw * cout * lw_full * cin))
        rb = min(max(1, kh * dy, (lr_cap - (kh - 1) * dy - 1) // sy + 1), n)
        zbuf = np.empty(((rb - 1) * sy + (kh - 1) * dy + 1) * kh * bw * cout, dst.dtype)
        for c0 in range(0, ow, bw):
            nc = min(bw, ow - c0)
            m = mats[nc]
            lw = (nc - 1) * sx + (kw - 1) * dx + 1
            for r0 in range(0, n, rb):
                nr = min(rb, n - r0)
                lr = (nr - 1) * sy + (kh - 1) * dy + 1
                y = src[r0 * sy : r0 * sy + lr, c0 * sx : c0 * sx + lw].reshape(lr, lw * cin)
                z = np.matmul(y, m, out=zbuf[: lr * kh * nc * cout].reshape(lr, kh * nc * cout))
                z4 = z.reshape(lr, kh, nc, cout)
                parts = [z4[a * dy : a * dy + (nr - 1) * sy + 1 : sy, a] for a in range(kh)]
                _sum_into(parts, dst[r0 : r0 + nr, c0 : c0 + nc])

    return run


def _gemm_block_rows(kh: int) -> int:
    # Short blocks waste little ((bh + kh - 1) / kh flops) and the stacked matrix still has
    # kw*bh rows; 4 measured best for k <= 15, 2 above (1080p RGB, one thread).
    return 4 if kh <= 15 else 2


def _gemm_block_cols(kw: int) -> int:
    # Each output costs 2*(bw + kw - 1)*Cin flops, so narrow blocks do less work, but thin
    # GEMMs run slower; 16..32 measured best (61 taps: 32 beat 64 and 128).
    return int(min(32, max(16, 2 * kw)))


def _im2row_block_rows(mix_cout: int | None) -> int:
    """Output rows per GEMM block: 4 for a shared kernel; for a mixing kernel (``mix_cout``
    output channels, already that many GEMM rows per output row) only until the GEMM has
    ~_IM2ROW_MIX_ROWS rows, as a block of bh rows wastes (bh + kh - 1) / kh of the flops."""
    if mix_cout is None:
        return _IM2ROW_BLOCK_ROWS
    return min(_IM2ROW_BLOCK_ROWS, _ceil_div(_IM2ROW_MIX_ROWS, mix_cout))


def _band(
    kernel: np.ndarray, g: _Geometry, bh: int, dtype: np.dtype
) -> tuple[np.ndarray, np.ndarray]:
    """The banded matrix of one block of ``bh`` output rows, and its 2-D GEMM form.

    2-D kernel: ``band (bh, lh, kw)``, ``T[i, (i*sy + a*dy, b)] = K[a, b]``; 4-D kernel:
    ``band (bh, Cout, lh, kw, Cin)`` so that the GEMM contracts ``(l, b, ci)``.
    """
    kh, kw, sy, dy = g.kh, g.kw, g.sy, g.dy
    lh = (bh - 1) * sy + g.eh
    i = np.arange(bh)
    if kernel.ndim == 4:
        cout, cin = kernel.shape[3], kernel.shape[2]
        band = np.zeros((bh, cout, lh, kw, cin), dtype)
        for a in range(kh):
            band[i, :, i * sy + a * dy] = kernel[a].transpose(2, 0, 1)  # (Cout, kw, Cin)
        return band, band.reshape(bh * cout, lh * kw * cin)
    band = np.zeros((bh, lh, kw), dtype)
    for a in range(kh):
        band[i, i * sy + a * dy] = kernel[a]
    return band, band.reshape(bh, lh * kw)


class _Im2Row:
    """Correlation of the rows of ``src`` (rows, cols, Cin) with a kernel into ``out``, one
    strip of output rows per :meth:`strip` call (strips are independent).

    ``kernel`` is 2-D (shared by all channels: Z rows are whole interleaved rows, ``N =
    ow*C``) or 4-D ``(kh, kw, Cin, Cout)`` (channel mixing: Z is planar, ``Z[l, b, ci] =
    P[l, b*dx :: sx, ci]``, the GEMM contracts ``(l, b, ci)`` and writes ``(Cout, px)``
    blocks that one transposing copy interleaves into ``out``).

    Rows are 'valid': ``src`` holds every input row of ``out``. Columns are 'valid' too
    unless ``cols`` is given: then padded column ``q`` reads ``src[:, cols[q]]`` (-1:
    ``cval``), and the output pixels whose windows stay inside (``left <= q < left + W``)
    read ``src`` directly. ``out`` may be a view into a larger output (rows not contiguous).
    """

    def __init__(
        self,
        src: np.ndarray,
        kernel: np.ndarray,
        g: _Geometry,
        out: np.ndarray,
        *,
        cols: np.ndarray | None = None,
        left: int = 0,
        cval: float = 0.0,
    ) -> None:
        cout = g.cout
        self.mix = kernel.ndim == 4
        bh = _im2row_block_rows(cout if self.mix else None)
        self.band, self.t_full = _band(kernel, g, bh, out.dtype)
        self.bh, self.lh, self.cin, self.cout = bh, (bh - 1) * g.sy + g.eh, src.shape[2], cout
        self.src, self.g, self.out, self.left = src, g, out, left
        # Output pixels [inner0, inner1) read src columns directly for every kernel column;
        # the few outside read theirs from a gathered copy (rows, kw, pixels, C), made once.
        self.inner0, self.inner1 = 0, out.shape[1]
        self.sides: list[tuple[int, int, np.ndarray]] = []
        if cols is not None:
            self._gather_sides(cols, cval)
        self._size_strips_and_chunks()
        # (rows, ow*C) view of out: its last two axes are contiguous by construction.
        oh, ow = out.shape[:2]
        self.flat_out = as_strided(out, (oh, ow * cout), (out.strides[0], out.strides[2]))

    def _gather_sides(self, cols: np.ndarray, cval: float) -> None:
        """The output pixels whose windows reach the border columns, and their gathered input."""
        src, left, ow = self.src, self.left, self.out.shape[1]
        kw, sx, dx = self.g.kw, self.g.sx, self.g.dx
        last = left + src.shape[1] - 1 - (kw - 1) * dx
        self.inner0 = min(ow, _ceil_div(left, sx))
        self.inner1 = max(self.inner0, min(ow, last // sx + 1 if last >= 0 else 0))
        for s0, s1 in ((0, self.inner0), (self.inner1, ow)):
            if s1 > s0:
                index = cols[np.arange(kw)[:, None] * dx + np.arange(s0, s1) * sx]
                side = src.take(np.maximum(index, 0), axis=1)
                side[:, index < 0] = cval
                self.sides.append((s0, s1, side))

    def _size_strips_and_chunks(self) -> None:
        """Output rows per strip, pixels per column chunk, and the scratch sizes they need."""
        kw, sy, eh = self.g.kw, self.g.sy, self.g.eh
        oh, ow = self.out.shape[:2]
        cin, cout, bh, isz = self.cin, self.cout, self.bh, self.out.dtype.itemsize
        # Strips of about _IM2ROW_STRIP_ROWS output rows, as many for every thread (each strip
        # copies its eh - 1 halo rows again, so strips stay tall); Z is kept near L2 size by
        # equal column chunks instead (whole pixels; each GEMM also under the BLAS cap).
        count = _ceil_div(_ceil_div(oh, _IM2ROW_STRIP_ROWS), runtime.threads()) * runtime.threads()
        self.per_strip = _ceil_div(_ceil_div(oh, count), bh) * bh
        in_rows = (self.per_strip - 1) * sy + eh
        k_all = self.t_full.shape[1]
        widest = min(
            _IM2ROW_Z_BYTES // (in_rows * kw * cin * isz),  # pixels
            _BLAS_CALL_MNK // (self.t_full.shape[0] * k_all) // (1 if self.mix else cin),
            _IM2ROW_Z_BYTES // (self.per_strip * cout * isz) if self.mix else ow,  # product
        )
        self.px = _ceil_div(ow, _ceil_div(ow, max(1, widest)))  # pixels per chunk
        self.scratch = in_rows * kw * cin * self.px
        self.product = self.per_strip * cout * self.px if self.mix else 0
        self.starts = list(range(0, oh, self.per_strip))

    def _fill(self, z: np.ndarray, r0: int, r1: int, p0: int, p1: int) -> None:
        """Z for input rows r0:r1 and output pixels p0:p1: (rows, kw, px, C) interleaved, or
        (rows, kw, C, px) planar for channel mixing."""
        kw, sx, dx, c = self.g.kw, self.g.sx, self.g.dx, self.cin
        if self.mix:
            z4 = z.reshape(r1 - r0, kw, c, p1 - p0).transpose(0, 1, 3, 2)
        else:
            z4 = z.reshape(r1 - r0, kw, p1 - p0, c)
        j0, j1 = max(p0, self.inner0), min(p1, self.inner1)
        if j1 > j0:
            # All kw shifted copies in one call, from an overlapping strided view: kw calls
            # per chunk made the two threads queue on the GIL (measured 1.5-2x slower).
            row_step, px_step, ch_step = self.src.strides
            base = self.src[r0:r1, j0 * sx - self.left :]
            shape = (r1 - r0, kw, j1 - j0, c)
            window = as_strided(base, shape, (row_step, dx * px_step, sx * px_step, ch_step))
            np.copyto(z4[:, :, j0 - p0 : j1 - p0], window)
        for s0, s1, side in self.sides:
            a0, a1 = max(p0, s0), min(p1, s1)
            if a1 > a0:
                np.copyto(z4[:, :, a0 - p0 : a1 - p0], side[r0:r1, :, a0 - s0 : a1 - s0])

    def strip(self, o0: int, zbuf: np.ndarray, pbuf: np.ndarray) -> None:
        """Output rows ``o0 : o0 + per_strip``, with ``zbuf`` (``scratch`` values) as Z and
        ``pbuf`` (``product`` values) for the planar products of channel mixing."""
        kw, sy, eh = self.g.kw, self.g.sy, self.g.eh
        bh, isz = self.bh, zbuf.itemsize
        o1 = min(self.out.shape[0], o0 + self.per_strip)
        rows = (o1 - o0 - 1) * sy + eh
        ow, c, cout = self.out.shape[1], self.cin, self.cout
        k_row = kw * c  # Z values per input row and pixel
        # All full blocks in one batched matmul (overlapping strided views of Z): the batch
        # loop runs in C with the GIL released, each GEMM under the cap; a ragged last block
        # uses the band's corner.
        nfull, nb = divmod(o1 - o0, bh)
        blocks = [(0, nfull, bh, self.t_full)] if nfull else []
        if nb:
            lr = (nb - 1) * sy + eh
            sub = self.band[:nb, ..., :lr, :, :] if self.mix else self.band[:nb, :lr]
            t = np.ascontiguousarray(sub).reshape(sub.shape[0] * (cout if self.mix else 1), -1)
            blocks.append((nfull * bh, 1, nb, t))
        for p0 in range(0, ow, self.px):
            p1 = min(ow, p0 + self.px)
            n = (p1 - p0) * (1 if self.mix else c)  # Z row length of this chunk
            z = zbuf[: rows * k_row * (p1 - p0)].reshape(rows, kw * (c if self.mix else 1), n)
            self._fill(z, o0 * sy, o0 * sy + rows, p0, p1)
            for i0, count, rows_per, t in blocks:
                step = bh * sy * z.shape[1] * n * isz
                y = as_strided(z[i0 * sy :], (count, t.shape[1], n), (step, n * isz, isz))
                if not self.mix:
                    target = self.flat_out[o0 + i0 : o0 + i0 + count * rows_per, p0 * c : p1 * c]
                    np.matmul(t, y, out=target.reshape(count, rows_per, -1))
                    continue
                prod = pbuf[: count * t.shape[0] * n].reshape(count, t.shape[0], n)
                np.matmul(t, y, out=prod)
                dest = self.out[o0 + i0 : o0 + i0 + count * rows_per, p0:p1]
                np.copyto(
                    dest.reshape(count, rows_per, n, cout),
                    prod.reshape(count, rows_per, cout, n).transpose(0, 1, 3, 2),
                )


def _gemm_im2row(plan: Plan, g: _Geometry, out: np.ndarray) -> None:
    """A 2-D kernel shared by all channels as one GEMM per block of output rows.

    Output rows whose windows lie inside the image read the image rows themselves: per strip
    of ~64 output rows and column chunk (Z near L2 size), ``kw`` column-shifted copies
    ``Z[l, b] = P[l, b*dx :: sx]`` made by one copy from an overlapping strided view (each
    row flattened with its channels, ``N = ow*C``; the few border columns of the padded row
    ``P`` gathered once through the border's index map); for ``bh`` output rows
    ``O (bh, N) = T (bh, lh*kw) @ Z[rows].reshape(lh*kw, N)`` with the banded
    ``T[i, (i*sy + a*dy, b)] = K[a, b]``, written straight into the output. The few top and
    bottom rows gather their padded input into a small array and run the same way. The
    calling thread and a pool worker take strips from a shared queue. Cost:
    ``2*kw*(bh + kh - 1)`` flops per output value (``2*kh*kw`` useful) plus ``kw`` in-cache
    copies per input value; the GEMM calls stay under the BLAS cap. Memory: the output,
    2.5 MiB of scratch per thread, the gathered border columns (``kw`` values per border
    pixel) and the padded input of the top and bottom rows.
    """
    kernel = plan.kernel if plan.kernel.ndim == 4 else plan.kernel[:, :, 0]
    if plan.depthwise and not _same_on_all_channels(plan.kernel):
        c = plan.kernel.shape[2]
        kernel = np.zeros((*plan.kernel.shape, c), plan.kernel.dtype)
        kernel[:, :, np.arange(c), np.arange(c)] = plan.kernel  # diagonal in the channels
    h, w = plan.source.shape[:2]
    oh = plan.out_shape[0]
    top, bottom, left, right = plan.pad
    # Output rows y0:y1 read image rows only; the rest read padded rows (a small copy).
    y0 = min(oh, _ceil_div(top, g.sy))
    last = top + h - g.eh
    y1 = max(y0, min(oh, last // g.sy + 1 if last >= 0 else 0))
    cols = index_map(w, left, right, plan.borders[1])
    part = partial(_Im2Row, kernel=kernel, g=g, cols=cols, left=left, cval=plan.cval)
    jobs = []
    row_map = index_map(h, top, bottom, plan.borders[0])
    for r0, r1 in ((0, y0), (y1, oh)) if y1 > y0 else ((0, oh),):
        if r1 > r0:
            rows = row_map[r0 * g.sy : (r1 - 1) * g.sy + g.eh]
            src = plan.image.take(np.maximum(rows, 0), axis=0)
            src[rows < 0] = plan.cval
            jobs.append(part(src, out=out[r0:r1]))
    if y1 > y0:
        jobs.append(part(plan.image[y0 * g.sy - top :], out=out[y0:y1]))
    queue = iter([(job, o0) for job in jobs for o0 in job.starts])
    scratch = max(job.scratch for job in jobs)
    product = max(job.product for job in jobs)

    def work() -> None:
        zbuf = runtime.scratch("im2row-z", (scratch,), out.dtype)
        pbuf = runtime.scratch("im2row-product", (product,), out.dtype)
        for job, o0 in queue:
            job.strip(o0, zbuf, pbuf)

    runtime.parallel(work, min(runtime.threads(), sum(len(job.starts) for job in jobs)))


def _gemm(plan: Plan) -> np.ndarray:
    """Matrix multiply: im2row strips and banded GEMMs so that BLAS does the multiply-adds.

    A 2-D kernel shared by every channel: ``2*kw*(bh + kh - 1)`` flops per output value for
    ``2*kh*kw`` useful ones (bh = 4) plus ``kw`` in-cache shifted copies per input value.
    Channel-mixing (4-D) kernels: a planar Z and ``2*kw*(bh + kh - 1)*Cin`` flops per output
    value (bh = 1 for 8 or more output channels), ``kw*Cin`` copied values per input pixel and
    one transposing copy per output value. One kernel per channel (3-D) runs as a mixing
    kernel that is diagonal in the channels (C times the useful flops, still the fastest path
    measured for small kernels). See :func:`_gemm_im2row`. Memory: the output and ~2.5 MiB of
    scratch per thread (plus the planar product block when mixing).
    """
    g = _geometry(plan)
    out = _output(plan, g.cout)
    _gemm_im2row(plan, g, out)
    return out
