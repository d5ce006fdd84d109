"""The ``fft`` strategy: overlap-save over row strips (and column tiles) of the padded image,
read through a row source (the image is never padded whole).

Owns: :func:`next_fast_len` (also used by the matcher's FFT correlation), the FFT primitive
with its kernel spectrum and the strip and tile sizing of the fft path.

Must not import: the other strategies, the cost model, chain, matching, cli, images, click,
rich, PIL.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .. import runtime
from ._common import _output, _same_on_all_channels
from .plan import Plan, _Geometry, _geometry, _RowSource

# --- primitive 4: FFT, overlap-save over row strips ------------------------------------------


def next_fast_len(n: int) -> int:
    """Smallest 2^a 3^b 5^c >= n (the sizes pocketfft handles fastest).

    Examples
    --------
    >>> next_fast_len(1080), next_fast_len(1081), next_fast_len(97)
    (1080, 1125, 100)
    """
    best = 1 << max(0, (n - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            # the smallest power of two that lifts p35 to at least n
            p2 = 1 << max(0, (-(-n // p35) - 1).bit_length())
            best = min(best, p2 * p35)
            p35 *= 3
        p5 *= 5
    return best


# Padded widths above 1.5x this run in column tiles of about this width (overlap-save along
# the rows too): one 8K strip transformed whole is (C, hf, 7776) values, tens of MiB that
# the column transforms stride through out of cache, and the 16 MiB scratch cap cut its
# strips to 82 rows for 31 rows of overlap (37% of each transform thrown away). With tiles
# the transforms have the sizes of a 1080p image, whatever the width.
_FFT_TILE_COLS = 2048


def _fft_tile(width: int, ow: int, sx: int, ew: int) -> tuple[int, int]:
    """``(wf, cols)``: transform length along the rows and output columns per tile.

    One tile (``cols = ow``, ``wf`` for the whole padded ``width``) unless the width is over
    1.5x ``_FFT_TILE_COLS``: then equal tiles of at most that many input columns (each
    rereading ``ew - 1`` columns of its neighbour), at least 4 kernel widths each.
    """
    if width <= 1.5 * _FFT_TILE_COLS:
        return next_fast_len(width), ow
    tile = max(_FFT_TILE_COLS, 4 * ew)
    count = -(-width // tile)
    cols = -(-ow // count)
    return next_fast_len((cols - 1) * sx + ew), cols


def _fft_primitive(
    taps: np.ndarray,
    depthwise: bool,
    stride: tuple[int, int],
    dilation: tuple[int, int],
    width: int,
    strip_rows: int,
    out_cols: int | None = None,
) -> tuple[Callable[[_RowSource, int, np.ndarray], None], int]:
    """Overlap-save: each strip of ``hf`` padded rows (full padded width, or a column tile)
    is read through the row source straight into the planar transform buffer and transformed
    once.

    Wide images (``out_cols`` output columns, see :func:`_fft_tile`) run in column tiles of
    each strip. Returns the primitive and the number of output rows one strip yields. The
    kernel spectrum
    is conjugated so that the circular product is a correlation whose valid part starts at
    index 0. Both transforms use ``norm="ortho"``: numpy 2.x's float32 pocketfft is ~4x slower
    when a transform is left unscaled (norm "backward" forward, "forward" inverse), so the
    kernel spectrum carries the remaining factor ``sqrt(hf*wf)`` instead.
    """
    kh, kw = taps.shape[:2]
    sy, sx = stride
    dy, dx = dilation
    eh, ew = (kh - 1) * dy + 1, (kw - 1) * dx + 1
    hf = next_fast_len(max(strip_rows, 2 * eh - 1))
    if out_cols is None:
        wf, tile_cols = next_fast_len(width), None
    else:
        wf, tile_cols = _fft_tile(width, out_cols, sx, ew)
    per_strip = (hf - eh) // sy + 1
    cin = taps.shape[2]
    # (Cin[, Cout], kh, kw) spatial kernels embedded in the transform size.
    if depthwise and _same_on_all_channels(taps):
        taps = taps[:, :, :1]  # one spectrum, broadcast over the channels
    k = np.moveaxis(taps, (0, 1), (-2, -1))
    padded_k = np.zeros((*k.shape[:-2], hf, wf), taps.dtype)
    padded_k[..., :eh:dy, :ew:dx] = k
    spectrum = np.fft.rfft2(padded_k, norm="ortho")
    np.conjugate(spectrum, out=spectrum)
    spectrum *= np.sqrt(hf * wf).astype(taps.dtype)

    cout = cin if depthwise else taps.shape[3]

    def run(src: _RowSource, y_base: int, dst: np.ndarray) -> None:
        """Output rows ``dst`` from padded rows ``y_base`` on, read through ``src``."""
        n, ow, _ = dst.shape
        # The zero-padded strip is built here, planar: rfft2 with s= on a strided view
        # costs 2.5x more than on this contiguous buffer (measured).
        cplx = np.result_type(taps.dtype, np.complex64)
        buf = runtime.scratch("fft-strip", (cin, hf, wf), taps.dtype)
        x = runtime.scratch("fft-x", (cin, hf, wf // 2 + 1), cplx)
        y = runtime.scratch("fft-y", (cout, hf, wf // 2 + 1), cplx)
        part = runtime.scratch("fft-part", (cout, hf, wf // 2 + 1), cplx) if not depthwise else y
        r = runtime.scratch("fft-r", (cout, hf, wf), taps.dtype)
        cols = ow if tile_cols is None else tile_cols
        for o0 in range(0, n, per_strip):
            o1 = min(n, o0 + per_strip)
            lr = (o1 - o0 - 1) * sy + eh
            for j0 in range(0, ow, cols):
                j1 = min(ow, j0 + cols)
                lw = src.width if tile_cols is None else (j1 - j0 - 1) * sx + ew
                # Zero padding past the rows and columns copied (the buffer outlives calls
                # and tiles: stale values must not reach the transform).
                buf[:, :, lw:] = 0
                buf[:, lr:] = 0
                y0 = y_base + o0 * sy
                src.fill_planar(buf, y0, y0 + lr, j0 * sx, j0 * sx + lw)
                spectral(buf, x, y, part, r)
                np.copyto(
                    dst[o0:o1, j0:j1],
                    r[:, : (o1 - o0 - 1) * sy + 1 : sy, : (j1 - j0 - 1) * sx + 1 : sx].transpose(
                        1, 2, 0
                    ),
                )

    def spectral(buf: np.ndarray, x: np.ndarray, y: np.ndarray, part: np.ndarray, r: np.ndarray):
        """``r`` := the circular correlation of the strip buffer ``buf`` with the kernel."""
        np.fft.rfft2(buf, norm="ortho", out=x)
        if depthwise:
            np.multiply(x, spectrum, out=y)
        else:
            np.multiply(x[0, None], spectrum[0], out=y)
            for ci in range(1, cin):
                np.multiply(x[ci, None], spectrum[ci], out=part)
                y += part
        # irfft2 in two steps, both with out=: irfft2 does not fill its out (numpy 2.4).
        np.fft.ifft(y, axis=-2, norm="ortho", out=y)
        np.fft.irfft(y, n=wf, axis=-1, norm="ortho", out=r)

    return run, per_strip


# --- strategies ------------------------------------------------------------------------------


def _fft_strip_rows(plan: Plan, width: int, cin: int) -> int:
    """Input rows per strip for strip buffers ``width`` values wide (the padded width, or
    the tile's transform length for wide images)."""
    # Strip-sized buffers alive per thread, in real-strip units of one channel: the zero-padded
    # input and its spectrum (Cin each), and for 4-D kernels the mixed spectrum, a product and
    # the inverse (Cout each); depthwise kernels multiply in place. With two threads they may
    # take 1.2x the image, which keeps the run under 3x the image plus the output.
    cout = cin if plan.depthwise else plan.kernel.shape[3]
    buffers = 3 * cin if plan.depthwise else 2 * cin + 3 * cout
    budget = 1.2 * (plan.source.size * plan.dtype.itemsize) / runtime.threads()
    rows = budget // (buffers * width * plan.dtype.itemsize)
    # Each strip buffer also stays small enough to be kept between calls (_scratch).
    keep = runtime.SCRATCH_KEEP_BYTES // (1.1 * max(cin, cout) * width * 2 * plan.dtype.itemsize)
    return max(32, int(min(rows, keep)))


def _fft_input_rows(plan: Plan, g: _Geometry, width: int, cin: int) -> int:
    """Input rows per overlap-save strip.

    As few strips as the memory budget allows, rounded up to a multiple of the threads so
    that no thread waits alone on a last odd strip.
    """
    oh = plan.out_shape[0]
    tile_width, _ = _fft_tile(width, plan.out_shape[1], g.sx, g.ew)
    per_budget = max(1, (_fft_strip_rows(plan, tile_width, cin) - g.eh) // g.sy + 1)
    strips = -(-oh // per_budget)
    strips = min(oh, -(-strips // runtime.threads()) * runtime.threads())
    return (-(-oh // strips) - 1) * g.sy + g.eh


def _fft(plan: Plan) -> np.ndarray:
    """FFT: overlap-save over row strips of the padded image, float32 rfft2 (complex64).

    Cost: per strip of ``hf`` rows, one forward transform per input channel, one inverse per
    output channel (~2.6 ns per sample and transform here, both threads) and ``Cin*Cout``
    (4-D) or ``C`` complex multiplies per frequency; independent of the kernel size, so it
    wins for large dense kernels. Strips overlap by ``eh - 1`` rows; a stride subsamples the
    strip result. Images wider than 1.5x ``_FFT_TILE_COLS`` run each strip in column tiles
    overlapping by ``ew - 1`` columns (:func:`_fft_tile`), so that the transform sizes and
    the cost per pixel stay those of a 1080p image. No padded copy of the image: each tile
    is read from it through the row source (at 8K RGB the 400 MB copy, faulted in fresh on
    every call, made the cost per pixel 1.5-1.8x that of 4K; now within 15%). Memory: the
    output and strip buffers sized to stay under 1.2x the image for both threads together
    and under 16 MiB each (``_fft_strip_rows``), kept per thread for the next call.
    """
    g = _geometry(plan)
    out = _output(plan, g.cout)
    source = _RowSource(plan)
    width, cin = source.width, plan.source.shape[2]
    rows = _fft_input_rows(plan, g, width, cin)
    prim, per_strip = _fft_primitive(
        plan.kernel, plan.depthwise, plan.stride, plan.dilation, width, rows, plan.out_shape[1]
    )
    n = out.shape[0]
    per_task = max(1, min(per_strip, -(-n // runtime.threads())))
    starts = range(0, n, per_task)
    queue = iter(starts)

    def work() -> None:
        for o0 in queue:
            prim(source, o0 * g.sy, out[o0 : min(n, o0 + per_task)])

    runtime.parallel(work, min(runtime.threads(), len(starts)))
    return out
