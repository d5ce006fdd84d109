"""The convolution engine: multi-channel 2-D cross-correlation and convolution in numpy.

The layer computed is the one of *Dive into Deep Learning*, "From fully connected layers to
convolutions"::

    H[i, j, d] = bias[d] + sum_a sum_b sum_c V[a, b, c, d] * X[i + a - ah, j + b - aw, c]

with the anchor ``(ah, aw) = (kh // 2, kw // 2)`` (OpenCV's default anchor, scipy.ndimage's
``origin=0``). Out-of-image samples come from the border mode. :func:`convolve` is the true
convolution: the kernel flipped in both spatial axes, anchored so that it matches
``scipy.ndimage.convolve`` for odd and even sizes.

Shapes
------
image
    ``(H, W)`` or ``(H, W, C)``.
kernel
    ``(kh, kw)``: the same kernel on every channel;
    ``(kh, kw, C)``: one 2-D kernel per channel (depthwise);
    ``(kh, kw, Cin, Cout)``: channels mixed like a convolutional layer.

Border modes (scipy.ndimage names, OpenCV aliases accepted)
-----------------------------------------------------------
``reflect``   d c b a | a b c d | d c b a    (OpenCV BORDER_REFLECT, numpy ``symmetric``)
``mirror``    d c b | a b c d | c b a        (alias ``reflect101``, OpenCV's default)
``nearest``   a a a | a b c d | d d d        (alias ``replicate``)
``wrap``      b c d | a b c d | a b c         (periodic)
``constant``  k k k | a b c d | k k k        (``cval``; alias ``zero`` forces 0)
``valid``     no padding: the output shrinks by ``(kh - 1) * dilation`` and ``(kw - 1) * dilation``
``full``      zero padding on every side so that every overlap is output (grows by the same)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import as_strided

from . import runtime
from .runtime import release_scratch

__all__ = [
    "BORDER_ALIASES",
    "BORDER_MODES",
    "EngineError",
    "convolve",
    "correlate",
    "normalize_border",
    "release_scratch",
]

BORDER_MODES = ("reflect", "mirror", "nearest", "wrap", "constant", "valid", "full")
BORDER_ALIASES = {
    "reflect101": "mirror",
    "reflect_101": "mirror",
    "replicate": "nearest",
    "edge": "nearest",
    "zero": "constant",
    "periodic": "wrap",
    "symmetric": "reflect",
}

# np.pad names for the padding border modes.
_NUMPY_PAD_MODE = {
    "reflect": "symmetric",
    "mirror": "reflect",
    "nearest": "edge",
    "wrap": "wrap",
    "constant": "constant",
    "full": "constant",
}


class EngineError(ValueError):
    """Invalid arguments to the engine (shapes, modes, sizes)."""


def normalize_border(border: str) -> tuple[str, bool]:
    """Return ``(canonical_mode, force_zero_cval)`` for a mode name or alias.

    Examples
    --------
    >>> normalize_border("reflect101")
    ('mirror', False)
    >>> normalize_border("zero")
    ('constant', True)
    """
    name = border.lower()
    canonical = BORDER_ALIASES.get(name, name)
    if canonical not in BORDER_MODES:
        choices = ", ".join(BORDER_MODES + tuple(BORDER_ALIASES))
        raise EngineError(f"unknown border mode {border!r} (choose from {choices})")
    return canonical, name == "zero"


@dataclass(frozen=True)
class Plan:
    """Everything a strategy needs, validated once.

    ``image`` is ``(H, W, C)`` in the compute dtype, ``kernel`` is ``(kh, kw, Cin, Cout)``
    (depthwise kernels are kept as ``(kh, kw, C)`` in ``depthwise`` instead, since expanding them
    to a diagonal 4-D kernel would multiply the work by C).
    """

    image: np.ndarray
    kernel: np.ndarray
    depthwise: bool
    border: str
    cval: float
    stride: tuple[int, int]
    dilation: tuple[int, int]
    out_shape: tuple[int, int]
    # Padding (top, bottom, left, right) applied before a 'valid' correlation.
    pad: tuple[int, int, int, int]


def _pair(value: int | tuple[int, int], name: str) -> tuple[int, int]:
    if isinstance(value, (int, np.integer)):
        pair = (int(value), int(value))
    else:
        pair = tuple(int(v) for v in value)
        if len(pair) != 2:
            raise EngineError(f"{name} must be an integer or a pair of integers")
    if pair[0] < 1 or pair[1] < 1:
        raise EngineError(f"{name} must be at least 1, got {value}")
    return pair  # type: ignore[return-value]


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _compute_dtype(image: np.ndarray) -> np.dtype:
    # float32 is enough for 8/16-bit data (24-bit mantissa); float64 input asks for float64.
    return np.dtype(np.float64) if image.dtype == np.float64 else np.dtype(np.float32)


def make_plan(
    image: np.ndarray,
    kernel: np.ndarray,
    *,
    border: str = "reflect",
    cval: float = 0.0,
    stride: int | tuple[int, int] = 1,
    dilation: int | tuple[int, int] = 1,
    flip: bool = False,
) -> Plan:
    """Validate the arguments and bring image and kernel to canonical shapes."""
    image = np.asarray(image)
    kernel = np.asarray(kernel)
    if image.ndim not in (2, 3):
        raise EngineError(f"image must be 2-D (H, W) or 3-D (H, W, C), got shape {image.shape}")
    if image.size == 0:
        raise EngineError(f"image is empty (shape {image.shape})")
    if not (np.issubdtype(image.dtype, np.number) or image.dtype == np.bool_):
        raise EngineError(f"image must be numeric, got dtype {image.dtype}")
    if np.iscomplexobj(image) or np.iscomplexobj(kernel):
        raise EngineError("complex images and kernels are not supported")
    if kernel.ndim not in (2, 3, 4):
        raise EngineError(f"kernel must be 2-D, 3-D or 4-D, got shape {kernel.shape}")
    if kernel.size == 0:
        raise EngineError(f"kernel is empty (shape {kernel.shape})")
    if not np.all(np.isfinite(kernel)):
        raise EngineError("kernel holds NaN or infinite values")
    mode, zero = normalize_border(border)
    sy, sx = _pair(stride, "stride")
    dy, dx = _pair(dilation, "dilation")
    dtype = _compute_dtype(image)
    img = image.astype(dtype, copy=False)
    if img.ndim == 2:
        img = img[:, :, None]
    h, w, c = img.shape

    k = kernel.astype(dtype, copy=False)
    if flip:
        k = k[::-1, ::-1]
    depthwise = False
    if k.ndim == 2:
        k = k[:, :, None]
        depthwise = True
        if c > 1:
            k = np.broadcast_to(k, (*k.shape[:2], c))
    elif k.ndim == 3:
        if k.shape[2] != c:
            raise EngineError(
                f"a 3-D kernel needs one 2-D kernel per channel: kernel has {k.shape[2]}, "
                f"image has {c} channel(s)"
            )
        depthwise = True
    elif k.shape[2] != c:
        raise EngineError(f"4-D kernel expects {k.shape[2]} input channel(s), image has {c}")
    kh, kw = k.shape[:2]
    eh, ew = (kh - 1) * dy + 1, (kw - 1) * dx + 1
    if mode == "valid":
        if eh > h or ew > w:
            raise EngineError(
                f"kernel ({kh}x{kw}, dilation {dy}x{dx}) is larger than the image ({h}x{w}) "
                "with border 'valid'"
            )
        pad = (0, 0, 0, 0)
    elif mode == "full":
        pad = (eh - 1, eh - 1, ew - 1, ew - 1)
    else:
        # The anchor sits at (kh // 2, kw // 2) taps; flipping for true convolution moves it to
        # kh - 1 - kh // 2 so that convolve matches the textbook sum X[i - a] K[a].
        ah = (kh - 1 - kh // 2) if flip else kh // 2
        aw = (kw - 1 - kw // 2) if flip else kw // 2
        pad = (ah * dy, eh - 1 - ah * dy, aw * dx, ew - 1 - aw * dx)
    full_h = h + pad[0] + pad[1] - eh + 1
    full_w = w + pad[2] + pad[3] - ew + 1
    out_shape = (-(-full_h // sy), -(-full_w // sx))
    return Plan(
        image=img,
        kernel=np.ascontiguousarray(k),
        depthwise=depthwise,
        border=mode,
        cval=0.0 if (zero or mode == "full") else float(cval),
        stride=(sy, sx),
        dilation=(dy, dx),
        out_shape=out_shape,
        pad=pad,
    )


def pad_image(plan: Plan, image: np.ndarray | None = None) -> np.ndarray:
    """Pad ``(H, W, C)`` image by the plan's border mode (a copy; the input is not touched)."""
    img = plan.image if image is None else image
    top, bottom, left, right = plan.pad
    if not any(plan.pad):
        return img
    widths = ((top, bottom), (left, right), (0, 0))
    mode = _NUMPY_PAD_MODE[plan.border]
    if mode == "constant":
        return np.pad(img, widths, mode="constant", constant_values=plan.cval)
    if mode == "reflect" and min(img.shape[:2]) == 1:
        # The mirror of a single sample is that sample; np.pad refuses to mirror a 1-long axis.
        for axis in (0, 1):
            axis_widths = [(0, 0)] * 3
            axis_widths[axis] = widths[axis]
            img = np.pad(img, axis_widths, mode="edge" if img.shape[axis] == 1 else mode)
        return img
    return np.pad(img, widths, mode=mode)


def _direct(plan: Plan) -> np.ndarray:
    """Reference path: shift-and-add over the kernel taps on the padded image.

    Cost: kh*kw passes over the output (times Cout for 4-D kernels, done as one small matrix
    product per tap); memory: the padded image plus the output.
    """
    padded = pad_image(plan)
    kh, kw = plan.kernel.shape[:2]
    sy, sx = plan.stride
    dy, dx = plan.dilation
    oh, ow = plan.out_shape
    cout = plan.image.shape[2] if plan.depthwise else plan.kernel.shape[3]
    out = np.zeros((oh, ow, cout), dtype=plan.image.dtype)
    tmp = np.empty_like(out)
    for a in range(kh):
        for b in range(kw):
            y0, x0 = a * dy, b * dx
            window = padded[y0 : y0 + (oh - 1) * sy + 1 : sy, x0 : x0 + (ow - 1) * sx + 1 : sx]
            if plan.depthwise:
                np.multiply(window, plan.kernel[a, b], out=tmp)
                out += tmp
            else:
                out += window @ plan.kernel[a, b]
    return out


# ---------------------------------------------------------------------------------------------
# Fast strategies
# ---------------------------------------------------------------------------------------------
# Every strategy pads the image once (pad_image), then computes a 'valid' correlation of the
# padded image with a primitive that fills ``dst`` (n, ow, Cout) from ``src``, the rows of the
# padded image those n output rows need. Output rows are cut into tasks for a small thread pool;
# tasks share only read-only data (the padded image, Toeplitz matrices, kernel spectra), so they
# need no locks. numpy's ufuncs, matmul and FFTs release the GIL.

# Working-set targets so that one pass over a block stays in L2 (2 MiB per core here).
_STRIP_BYTES = 256 * 1024
_GEMM_BYTES = 768 * 1024
# Each GEMM call stays below this many multiply-adds (M*N*K), except where a large kernel
# makes that impossible. Bigger calls are split by OpenBLAS over its own threads, which spin
# and wait for each other: measured here with two busy processes on the 2 CPUs, 60x18x2460
# sgemms took 520 us each instead of ~30 (a filter of ~1000 block GEMMs went from 0.1 s to
# 5 s), while 60x18x800 ones were unaffected. The switch is not purely M*N*K (a 29x276x96 call
# still used two threads), so this bounds, not removes, the exposure. GEMM paths also stay on
# the calling thread: calls of tens of microseconds are too short to share the GIL, and two
# pool threads measured slower than one. The im2row path is the exception: its per-thread
# work is large copies plus ~400 K-MAC GEMMs, and two threads measured 1.4-1.6x faster.
_BLAS_CALL_MNK = 786_432
# im2row GEMM (shared 2-D kernels): output rows per band block, Z scratch per column chunk
# (near L2: copies into L2 ran ~3x faster than into a 6 MiB Z), output rows per strip (tall,
# as each strip copies its halo rows again). 1080p RGB, k = 3/5/9, measured best of 1.5-4 MiB
# x 32-96 rows.
_IM2ROW_BLOCK_ROWS = 4
_IM2ROW_Z_BYTES = 2560 * 1024
_IM2ROW_STRIP_ROWS = 64
_IM2ROW_MIX_ROWS = 8
Primitive = Callable[[np.ndarray, np.ndarray], None]


class _Geometry(NamedTuple):
    kh: int
    kw: int
    sy: int
    sx: int
    dy: int
    dx: int
    eh: int  # dilated kernel extent
    ew: int
    cout: int


def _geometry(plan: Plan) -> _Geometry:
    kh, kw = plan.kernel.shape[:2]
    sy, sx = plan.stride
    dy, dx = plan.dilation
    cout = plan.image.shape[2] if plan.depthwise else plan.kernel.shape[3]
    return _Geometry(kh, kw, sy, sx, dy, dx, (kh - 1) * dy + 1, (kw - 1) * dx + 1, cout)


def _padded(plan: Plan) -> np.ndarray:
    # The primitives reshape row slabs (rows, cols, C) to 2-D views, which needs C-order.
    return np.ascontiguousarray(pad_image(plan))


def _run_rows(
    padded: np.ndarray,
    out: np.ndarray,
    primitive: Primitive,
    sy: int,
    eh: int,
    rows_per_task: int,
    *,
    threads: bool = True,
) -> None:
    """Fill ``out`` by running ``primitive`` on row ranges, on the thread pool if ``threads``."""
    n = out.shape[0]
    if threads:
        rows_per_task = max(1, min(rows_per_task, -(-n // runtime.threads())))
    starts = range(0, n, rows_per_task)

    queue = iter(starts)

    def work() -> None:
        for o0 in queue:
            o1 = min(n, o0 + rows_per_task)
            primitive(padded[o0 * sy : (o1 - 1) * sy + eh], out[o0:o1])

    runtime.parallel(work, min(runtime.threads(), len(starts)) if threads else 1)


def _sum_into(parts: list[np.ndarray], dst: np.ndarray) -> None:
    """``dst = sum(parts)`` with in-place adds (no temporaries)."""
    if len(parts) == 1:
        np.copyto(dst, parts[0])
        return
    np.add(parts[0], parts[1], out=dst)
    for part in parts[2:]:
        np.add(dst, part, out=dst)


def _same_on_all_channels(kernel: np.ndarray) -> bool:
    return kernel.shape[2] == 1 or bool(np.all(kernel == kernel[:, :, :1]))


# --- primitive 1: shift-and-add in L2-sized row strips ---------------------------------------


def _shift_add_primitive(
    taps: np.ndarray, depthwise: bool, stride: tuple[int, int], dilation: tuple[int, int]
) -> Primitive:
    """Shift-and-add over the taps, one L2-sized strip of output rows at a time.

    ``taps`` is ``(kh, kw, C)`` (depthwise) or ``(kh, kw, Cin, Cout)``. Zero taps are skipped.
    """
    kh, kw = taps.shape[:2]
    sy, sx = stride
    dy, dx = dilation
    if depthwise and _same_on_all_channels(taps):
        # A scalar multiplier is faster than broadcasting a (C,) vector.
        weights = [[taps.dtype.type(taps[a, b, 0]) for b in range(kw)] for a in range(kh)]
    else:
        weights = [[taps[a, b] for b in range(kw)] for a in range(kh)]
    live = [(a, b) for a in range(kh) for b in range(kw) if np.any(taps[a, b] != 0)]

    def run(src: np.ndarray, dst: np.ndarray) -> None:
        n, ow, cout = dst.shape
        if not live:
            dst.fill(0)
            return
        rows = max(1, _STRIP_BYTES // (ow * cout * dst.itemsize))
        tmp = np.empty((min(rows, n), ow, cout), dst.dtype)
        for r0 in range(0, n, rows):
            r1 = min(n, r0 + rows)
            acc, part = dst[r0:r1], tmp[: r1 - r0]
            for index, (a, b) in enumerate(live):
                y0, x0 = r0 * sy + a * dy, b * dx
                y1, x1 = y0 + (r1 - r0 - 1) * sy + 1, x0 + (ow - 1) * sx + 1
                window = src[y0:y1:sy, x0:x1:sx]
                target = acc if index == 0 else part
                if depthwise:
                    np.multiply(window, weights[a][b], out=target)
                else:
                    np.matmul(window, weights[a][b], out=target)
                if index:
                    np.add(acc, part, out=acc)

    return run


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


def _fft_primitive(
    taps: np.ndarray,
    depthwise: bool,
    stride: tuple[int, int],
    dilation: tuple[int, int],
    width: int,
    strip_rows: int,
) -> tuple[Primitive, int]:
    """Overlap-save: each strip of ``hf`` input rows (full padded width) is transformed once.

    Returns the primitive and the number of output rows one strip yields. The kernel spectrum
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
    wf = next_fast_len(width)
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

    def run(src: np.ndarray, dst: np.ndarray) -> None:
        n, ow, _ = dst.shape
        # The zero-padded strip is built here, planar: rfft2 with s= on a strided view
        # costs 2.5x more than on this contiguous buffer (measured).
        cplx = np.result_type(src.dtype, np.complex64)
        buf = runtime.scratch("fft-strip", (cin, hf, wf), src.dtype)
        x = runtime.scratch("fft-x", (cin, hf, wf // 2 + 1), cplx)
        y = runtime.scratch("fft-y", (cout, hf, wf // 2 + 1), cplx)
        part = runtime.scratch("fft-part", (cout, hf, wf // 2 + 1), cplx) if not depthwise else y
        r = runtime.scratch("fft-r", (cout, hf, wf), src.dtype)
        buf[:, :, src.shape[1] :] = 0  # the zero padding (the buffer outlives calls)
        for o0 in range(0, n, per_strip):
            o1 = min(n, o0 + per_strip)
            lr = (o1 - o0 - 1) * sy + eh
            np.copyto(buf[:, :lr, : src.shape[1]], src[o0 * sy : o0 * sy + lr].transpose(2, 0, 1))
            if lr < hf:
                buf[:, lr:] = 0  # a short last strip: clear rows left by the previous one
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
            np.copyto(
                dst[o0:o1],
                r[:, : (o1 - o0 - 1) * sy + 1 : sy, : (ow - 1) * sx + 1 : sx].transpose(1, 2, 0),
            )

    return run, per_strip


# --- strategies ------------------------------------------------------------------------------


def _output(plan: Plan, cout: int) -> np.ndarray:
    return np.empty((*plan.out_shape, cout), plan.image.dtype)


def _strips(plan: Plan) -> np.ndarray:
    """Direct, cache-aware: shift-and-add on L2-sized strips of output rows, 2 threads.

    Cost: one multiply and one add per non-zero tap and output value (a small matmul per tap
    for 4-D kernels), on strips that stay in L2: ~0.3 ns per tap and output value for a kernel
    shared by all channels, ~6x that with one kernel per channel (the multiplier broadcasts).
    Memory: the padded image, the output, one strip of scratch per thread.
    """
    padded = _padded(plan)
    g = _geometry(plan)
    out = _output(plan, g.cout)
    prim = _shift_add_primitive(plan.kernel, plan.depthwise, plan.stride, plan.dilation)
    rows = max(1, _STRIP_BYTES // (out.shape[1] * g.cout * out.itemsize))
    _run_rows(padded, out, prim, g.sy, g.eh, rows * 4)
    return out


def _gemm_block_rows(kh: int) -> int:
    # Short blocks waste little ((bh + kh - 1) / kh flops) and the stacked matrix still has
    # kw*bh rows; 4 measured best for k <= 15, 2 above (1080p RGB, one thread).
    return 4 if kh <= 15 else 2


def _gemm_block_cols(kw: int) -> int:
    # Each output costs 2*(bw + kw - 1)*Cin flops, so narrow blocks do less work, but thin
    # GEMMs run slower; 16..32 measured best (61 taps: 32 beat 64 and 128).
    return int(min(32, max(16, 2 * kw)))


def _index_map(n: int, before: int, after: int, mode: str) -> np.ndarray:
    """Source index of each padded sample along one axis (-1: the constant ``cval``).

    Built by padding ``arange(n)`` exactly as :func:`pad_image` pads the image, so a strip
    filled through these maps equals the same rows of the padded image.
    """
    base = np.arange(n)
    if not (before or after):
        return base
    pad_mode = _NUMPY_PAD_MODE[mode]
    if pad_mode == "constant":
        return np.pad(base, (before, after), mode="constant", constant_values=-1)
    if pad_mode == "reflect" and n == 1:
        pad_mode = "edge"  # as pad_image: the mirror of a single sample is that sample
    return np.pad(base, (before, after), mode=pad_mode)


class _RowSource:
    """Rows of the padded image on demand, without padding the whole image.

    ``fill(dst, y0, y1)`` writes padded rows ``y0:y1`` (full padded width) into ``dst``: one
    copy of the image rows (a fancy-indexed gather only for strips that reach the border)
    plus the few border columns, gathered from the row just written.
    """

    def __init__(self, plan: Plan) -> None:
        h, w = plan.image.shape[:2]
        top, bottom, left, right = plan.pad
        self.image = plan.image
        self.cval = plan.cval
        self.rows = _index_map(h, top, bottom, plan.border)
        cols = _index_map(w, left, right, plan.border)
        self.left, self.w = left, w
        self.width = w + left + right
        # Border columns: (positions in the padded row, source positions in the padded row).
        edge = np.r_[np.arange(left), np.arange(left + w, self.width)].astype(np.intp)
        source = cols[edge]
        self.edge_copy = (edge[source >= 0], source[source >= 0] + left)
        self.edge_const = edge[source < 0]

    def fill(self, dst: np.ndarray, y0: int, y1: int) -> None:
        n = y1 - y0
        idx = self.rows[y0:y1]
        center = dst[:n, self.left : self.left + self.w]
        first = int(idx[0])
        if first >= 0 and int(idx[-1]) - first == n - 1 and bool(np.all(np.diff(idx) == 1)):
            np.copyto(center, self.image[first : first + n])
        else:
            np.copyto(center, self.image[np.maximum(idx, 0)])
            center[idx < 0] = self.cval
        to, frm = self.edge_copy
        if to.size:
            dst[:n, to] = dst[:n, frm]
        if self.edge_const.size:
            dst[:n, self.edge_const] = self.cval


def _im2row_block_rows(mix_cout: int | None) -> int:
    """Output rows per GEMM block: 4 for a shared kernel; for a mixing kernel (``mix_cout``
    output channels, already that many GEMM rows per output row) only until the GEMM has
    ~_IM2ROW_MIX_ROWS rows, as a block of bh rows wastes (bh + kh - 1) / kh of the flops."""
    if mix_cout is None:
        return _IM2ROW_BLOCK_ROWS
    return min(_IM2ROW_BLOCK_ROWS, _ceil_div(_IM2ROW_MIX_ROWS, mix_cout))


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
        kh, kw, sy, sx, dy, dx, eh, _, cout = g
        oh, ow = out.shape[:2]
        cin = src.shape[2]
        isz = out.dtype.itemsize
        self.mix = kernel.ndim == 4
        bh = _im2row_block_rows(cout if self.mix else None)
        lh = (bh - 1) * sy + eh
        i = np.arange(bh)
        if self.mix:
            band = np.zeros((bh, cout, lh, kw, cin), out.dtype)
            for a in range(kh):
                band[i, :, i * sy + a * dy] = kernel[a].transpose(2, 0, 1)  # (Cout, kw, Cin)
            self.t_full = band.reshape(bh * cout, lh * kw * cin)
        else:
            band = np.zeros((bh, lh, kw), out.dtype)
            for a in range(kh):
                band[i, i * sy + a * dy] = kernel[a]
            self.t_full = band.reshape(bh, lh * kw)
        self.band, self.bh, self.lh, self.cin, self.cout = band, bh, lh, cin, cout
        self.src, self.g, self.out, self.left = src, g, out, left
        # Output pixels [inner0, inner1) read src columns directly for every kernel column;
        # the few outside read theirs from a gathered copy (rows, kw, pixels, C), made once.
        self.inner0, self.inner1 = 0, ow
        self.sides: list[tuple[int, int, np.ndarray]] = []
        if cols is not None:
            last = left + src.shape[1] - 1 - (kw - 1) * dx
            self.inner0 = min(ow, _ceil_div(left, sx))
            self.inner1 = max(self.inner0, min(ow, last // sx + 1 if last >= 0 else 0))
            for s0, s1 in ((0, self.inner0), (self.inner1, ow)):
                if s1 > s0:
                    index = cols[np.arange(kw)[:, None] * dx + np.arange(s0, s1) * sx]
                    side = src.take(np.maximum(index, 0), axis=1)
                    side[:, index < 0] = cval
                    self.sides.append((s0, s1, side))
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
        # (rows, ow*C) view of out: its last two axes are contiguous by construction.
        self.flat_out = as_strided(out, (oh, ow * cout), (out.strides[0], out.strides[2]))

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
    h, w = plan.image.shape[:2]
    oh = plan.out_shape[0]
    top, bottom, left, right = plan.pad
    # Output rows y0:y1 read image rows only; the rest read padded rows (a small copy).
    y0 = min(oh, _ceil_div(top, g.sy))
    last = top + h - g.eh
    y1 = max(y0, min(oh, last // g.sy + 1 if last >= 0 else 0))
    cols = _index_map(w, left, right, plan.border)
    part = partial(_Im2Row, kernel=kernel, g=g, cols=cols, left=left, cval=plan.cval)
    jobs = []
    row_map = _index_map(h, top, bottom, plan.border)
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


def _fft_strip_rows(plan: Plan, width: int, cin: int) -> int:
    # Strip-sized buffers alive per thread, in real-strip units of one channel: the zero-padded
    # input and its spectrum (Cin each), and for 4-D kernels the mixed spectrum, a product and
    # the inverse (Cout each); depthwise kernels multiply in place. With two threads they may
    # take 1.2x the image, which keeps the run under 3x the image plus the output.
    cout = cin if plan.depthwise else plan.kernel.shape[3]
    buffers = 3 * cin if plan.depthwise else 2 * cin + 3 * cout
    budget = 1.2 * plan.image.nbytes / runtime.threads()
    rows = budget // (buffers * width * plan.image.itemsize)
    # Each strip buffer also stays small enough to be kept between calls (_scratch).
    keep = runtime.SCRATCH_KEEP_BYTES // (1.1 * max(cin, cout) * width * 2 * plan.image.itemsize)
    return max(32, int(min(rows, keep)))


def _fft_input_rows(plan: Plan, g: _Geometry, width: int, cin: int) -> int:
    """Input rows per overlap-save strip.

    As few strips as the memory budget allows, rounded up to a multiple of the threads so
    that no thread waits alone on a last odd strip.
    """
    oh = plan.out_shape[0]
    per_budget = max(1, (_fft_strip_rows(plan, width, cin) - g.eh) // g.sy + 1)
    strips = -(-oh // per_budget)
    strips = min(oh, -(-strips // runtime.threads()) * runtime.threads())
    return (-(-oh // strips) - 1) * g.sy + g.eh


def _fft(plan: Plan) -> np.ndarray:
    """FFT: overlap-save over row strips of the padded image, float32 rfft2 (complex64).

    Cost: per strip of ``hf`` rows, one forward transform per input channel, one inverse per
    output channel (~2.6 ns per sample and transform here, both threads) and ``Cin*Cout``
    (4-D) or ``C`` complex multiplies per frequency; independent of the kernel size, so it
    wins for large dense kernels. Strips overlap by ``eh - 1`` rows; a stride subsamples the
    strip result. Memory: the padded image, the output, and strip buffers sized to stay
    under 1.2x the image for both threads together and under 16 MiB each
    (``_fft_strip_rows``), kept per thread for the next call (``_scratch``).
    """
    padded = _padded(plan)
    g = _geometry(plan)
    out = _output(plan, g.cout)
    width, cin = padded.shape[1], padded.shape[2]
    rows = _fft_input_rows(plan, g, width, cin)
    prim, per_strip = _fft_primitive(
        plan.kernel, plan.depthwise, plan.stride, plan.dilation, width, rows
    )
    _run_rows(padded, out, prim, g.sy, g.eh, per_strip)
    return out


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
    tol = 8 * np.finfo(dtype).eps * float(np.max(np.abs(k), initial=0.0))
    cols: list[list[np.ndarray]] = []
    rows: list[list[np.ndarray]] = []
    for residual in k.copy():
        cols.append([])
        rows.append([])
        while True:
            p, q = np.unravel_index(int(np.argmax(np.abs(residual))), residual.shape)
            pivot = residual[p, q]
            if abs(pivot) <= tol and cols[-1]:
                break
            if pivot == 0:  # an all-zero kernel: one zero pair
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
    return _rank_factors(kernel, plan.image.dtype)[0].shape[0]


# Rows of the vertical pass's result kept per chunk: bigger chunks mean fewer, larger GEMMs
# in the horizontal pass (4 MiB measured ~25% faster than an L2-sized 768 KiB).
_SEPARABLE_CHUNK_BYTES = 4 << 20


def _separable_passes(plan: Plan, g: _Geometry, shared: bool) -> tuple[bool, float, bool, float]:
    """Which 1-D passes run as GEMMs, and their cost (ns per value they write).

    Returns ``(vertical_gemm, vertical_ns, horizontal_gemm, horizontal_ns)``; a pass runs as a
    GEMM when the model says it beats shift-and-add (only kernels shared by all channels can
    use the row Toeplitz GEMM vertically).
    """
    cin = plan.image.shape[2]
    tap = _NS_TAP if shared else _NS_TAP_VECTOR
    bh = _gemm_block_rows(g.kh)
    lh = (bh - 1) * g.sy + g.eh
    v_shift = g.kh * tap
    v_gemm = 2 * lh * _NS_FLOP_ROWS + _NS_ADD if shared else float("inf")
    bw = min(_gemm_block_cols(g.kw), plan.out_shape[1])
    lw = (bw - 1) * g.sx + g.ew
    h_shift = g.kw * tap
    h_gemm = 2 * lw * cin * _cols_flop_ns(lw * cin) + _NS_ADD
    return v_gemm < v_shift, min(v_gemm, v_shift), h_gemm < h_shift, min(h_gemm, h_shift)


# Transposed separable path (kernels shared by all channels): output rows per band block of
# the vertical GEMM, output columns per band block of the horizontal one, and the size of one
# strip's vertical result (sets the rows per strip). 16/16 measured best of 8..48; 3 MiB is
# 128 rows at 1080p RGB float32 and 64 at 4K (4K: 48 ms against 57 with 128 rows).
_SEP_BLOCK_ROWS = 16
_SEP_BLOCK_COLS = 16
_SEP_MID_BYTES = 3 << 20


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


def _separable_shared(plan: Plan, g: _Geometry, col: np.ndarray, row: np.ndarray) -> np.ndarray:
    """Rank-r separable filter with a kernel shared by all channels, as transposed band GEMMs.

    Per strip of output rows (both threads take strips from a shared queue), the padded input
    rows are built in a scratch buffer (``_RowSource``, no padded copy of the image). The vertical
    pass is ``mid = X^T @ Tv^T`` per block of ``bv`` output rows, ``X`` the strip flattened to
    ``(rows, Wp*C)``: BLAS reads ``X`` transposed, so ``mid`` comes out as ``(Wp, C, n)`` with
    the image columns as its rows. The horizontal pass is then again a banded GEMM per block of
    ``bx`` output columns, ``P[:, x] = mid[x-block]^T @ Th^T``, into a planar ``(C, n, ow)``
    buffer, which one transposing copy writes into the output rows. Cost per output value:
    ``2*(bv + kh - 1)`` plus ``2*(bx + kw - 1)`` flops per rank (``2*(kh + kw)`` useful), one
    strip copy and one transposing copy. Memory: the output and three strip buffers (~10 MiB)
    per thread.
    """
    _, _, sy, sx, dy, dx, eh, _, c = g
    oh, ow = plan.out_shape
    dtype = plan.image.dtype
    source = _RowSource(plan)
    wp = source.width
    rank = col.shape[0]
    bv, bx = _SEP_BLOCK_ROWS, min(_SEP_BLOCK_COLS, ow)
    tv = _band_t(col[:, :, 0], sy, dy, bv)
    th = _band_t(row[:, :, 0], sx, dx, bx)
    lv, lx = tv.shape[1], th.shape[1]
    strip_rows = _SEP_MID_BYTES // (wp * c * dtype.itemsize)
    per = max(bv, min(strip_rows, -(-oh // runtime.threads())) // bv * bv)
    in_rows = (per - 1) * sy + eh
    m_all = wp * c
    # Split both GEMMs' long M dimension so that each call stays under the BLAS cap.
    mv = max(1, _BLAS_CALL_MNK // (lv * bv))
    mh = max(1, _BLAS_CALL_MNK // (lx * bx))
    out = np.empty((oh, ow, c), dtype)
    direct = _sep_direct(rank, lx, c)
    thc = np.kron(th[0], np.eye(c, dtype=dtype))  # band x identity over the channels
    mhc = max(1, _BLAS_CALL_MNK // thc.size)

    queue = iter(range(0, oh, per))

    def work() -> None:
        strip = runtime.scratch("sep-strip", (in_rows, wp, c), dtype)
        mid_buf = runtime.scratch("sep-mid", (wp * c * per,), dtype)
        p_buf = runtime.scratch("sep-p", (0 if direct else c * per * ow,), dtype)
        q_buf = runtime.scratch("sep-q", (c * per * ow,), dtype) if rank > 1 else p_buf
        for o0 in queue:
            o1 = min(oh, o0 + per)
            n = o1 - o0
            rows = (n - 1) * sy + eh
            source.fill(strip, o0 * sy, o0 * sy + rows)
            xt = strip[:rows].reshape(rows, m_all).T
            mid = mid_buf[: m_all * n].reshape(m_all, n)
            if direct:
                # mid.T is (n, Wp*C): each output row's (column, channel) values in order.
                _band_matmul(xt, tv[0], mid, sy, mv)
                _band_matmul(mid.T, thc, out[o0:o1].reshape(n, ow * c), sx, mhc)
                continue
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
    kw, sy, sx, dy, dx = g.kw, g.sy, g.sx, g.dy, g.dx
    dtype = plan.image.dtype
    shared = _same_on_all_channels(plan.kernel)
    col, row = _rank_factors(plan.kernel[:, :, :1] if shared else plan.kernel, dtype)
    if shared:
        return _separable_shared(plan, g, col, row)
    padded = _padded(plan)
    c = padded.shape[2]
    if not shared and col.shape[2] == 1:
        col, row = np.repeat(col, c, axis=2), np.repeat(row, c, axis=2)
    width = padded.shape[1]
    oh, ow = plan.out_shape
    bh = _gemm_block_rows(g.kh)
    vertical_gemm, _, horizontal_gemm, _ = _separable_passes(plan, g, shared)
    passes = []
    for i in range(col.shape[0]):
        if vertical_gemm:
            vertical = _gemm_rows_primitive(col[i, :, :1], (sy, 1), (dy, 1), bh)
        else:
            vertical = _shift_add_primitive(col[i][:, None, :], True, (sy, 1), (dy, 1))
        taps = np.broadcast_to(row[i][None], (1, kw, c))
        if horizontal_gemm:
            horizontal = _gemm_cols_primitive(
                taps, True, (1, sx), (1, dx), ow, _gemm_block_cols(kw)
            )
        else:
            horizontal = _shift_add_primitive(taps, True, (1, sx), (1, dx))
        passes.append((vertical, horizontal))
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

    blas = vertical_gemm or horizontal_gemm
    _run_rows(padded, out, run, sy, g.eh, chunk, threads=not blas)
    return out


# Strategies are registered by name; "auto" picks one with a cost model (see choose_strategy).
STRATEGIES: dict[str, Callable[[Plan], np.ndarray]] = {
    "direct": _direct,
    "strips": _strips,
    "separable": _separable,
    "gemm": _gemm,
    "fft": _fft,
}


# Cost model constants: nanoseconds of one thread of the benchmark machine (README,
# Performance), fitted on 1080p RGB float32 runs; only their ratios matter.
_NS_TAP = 0.265  # multiply + add of one tap into one output value, on an L2-resident strip
_NS_STRIP_BASE = 0.50  # per output value of a strips run: first write, strip bookkeeping
_NS_TAP_VECTOR = 1.8  # the same with one weight per channel (numpy broadcasts a (C,) vector)
_NS_TAP_MIX = 0.85  # per tap and output value for 4-D kernels (a small matmul per tap)
_NS_FLOP_ROWS = 0.026  # one GEMM flop with row Toeplitz blocks (K = bh + kh - 1)
_NS_FLOP_COLS = 0.016  # one GEMM flop with column blocks, times (1 + 100 / K): thin K is slow
_NS_FLOP_IM2ROW = 0.0087  # one im2row GEMM flop (K = kw*(bh + kh - 1)), both threads, wall
_NS_COPY_IM2ROW = 0.083  # per input value and pass (kw shifted copies + output), wall
_NS_FLOP_MIX = 0.0072  # one GEMM flop of the mixing im2row (K = (bh + kh - 1)*kw*Cin)
_NS_COPY_MIX = 0.27  # one planar Z value or one transposed output value
_NS_ADD = 0.7  # one shifted add of a product block into the output
_NS_FLOP_SEP = 0.0015  # one band GEMM flop of the shared separable path, both threads, wall
_NS_SEP_BASE = 1.18  # per output value of the shared separable path: strip fill, transpose
_NS_TRANSPOSE_SEP = 0.6  # of which the planar-to-interleaved copy (saved by _sep_direct)
_NS_SEP_RANK = 57e3  # per rank of the shared separable path: band matrices, per-pass calls
_NS_FFT = 2.6  # one sample through one rfft2 or irfft2 (norm="ortho")
_NS_CMUL = 3.3  # one complex multiply(-add) in the spectrum
_NS_FFT_BASE = 0.50  # per input and output value of the fft path: padding, planar copies
# Fixed per-call costs (building Toeplitz matrices, kernel spectra, thread pool round trips).
_NS_FIXED = {"strips": 0.39e6, "gemm": 0.62e6, "separable": 0.50e6, "fft": 0.56e6}


def _cols_flop_ns(k: int) -> float:
    return _NS_FLOP_COLS * (1 + 100 / k)


def estimate_costs(plan: Plan) -> dict[str, float]:
    """Estimated run time in nanoseconds of each fast strategy (``inf`` when it does not apply).

    The model counts the work each path does per output value (see the strategies' docstrings)
    and weighs it by constants measured on the benchmark machine:

    * ``strips``: non-zero taps times a per-tap cost (shared, per-channel or channel-mixing);
    * ``gemm``: im2row GEMM flops, banded waste included, plus the copies that build Z (and,
      for mixing kernels, the transposing copy of the output);
    * ``separable``: ``rank`` pairs of 1-D passes (depthwise kernels only); for a kernel shared
      by all channels, the band GEMM flops of both passes plus a per-output base (strip fill,
      transposing copy unless the horizontal pass writes the output directly); per-channel
      kernels: each pass a GEMM or shift-and-add as the strategy picks them;
    * ``fft``: one forward transform per input channel and one inverse per output channel per
      overlap-save strip, plus the spectral products; independent of the kernel size.

    Examples
    --------
    >>> plan = make_plan(np.zeros((1080, 1920, 3), np.float32), np.ones((31, 31)))
    >>> sorted(estimate_costs(plan))
    ['fft', 'gemm', 'separable', 'strips']
    """
    g = _geometry(plan)
    oh, ow = plan.out_shape
    _, w, cin = plan.image.shape
    wp = w + plan.pad[2] + plan.pad[3]
    outputs = oh * ow * g.cout
    kernel = plan.kernel
    nonzero = int(np.count_nonzero(np.any(kernel != 0, axis=tuple(range(2, kernel.ndim)))))
    shared = plan.depthwise and _same_on_all_channels(kernel)
    tap = _NS_TAP if shared else (_NS_TAP_VECTOR if plan.depthwise else _NS_TAP_MIX)
    costs = {"strips": outputs * (max(1, nonzero) * tap + _NS_STRIP_BASE)}

    if shared:
        # im2row: banded flops per output value plus kw + 1 copies per input row value.
        lh = (_im2row_block_rows(None) - 1) * g.sy + g.eh
        flops = 2 * g.kw * lh
        copies = (g.kw + 1) * g.sy
        costs["gemm"] = outputs * (flops * _NS_FLOP_IM2ROW + copies * _NS_COPY_IM2ROW)
    else:
        # Mixing im2row (per-channel kernels as diagonal mixing ones): banded flops over all
        # input channels per output value, planar Z values per output pixel (kw*Cin per
        # input pixel) and the transposing copy of every output value.
        lh = (_im2row_block_rows(g.cout) - 1) * g.sy + g.eh
        flops = 2 * g.kw * lh * cin
        copies = g.kw * cin * g.sy * g.sx / g.cout + 1
        costs["gemm"] = outputs * (flops * _NS_FLOP_MIX + copies * _NS_COPY_MIX)

    costs["separable"] = float("inf")
    if shared:
        # Transposed band GEMMs: 2*lv flops per vertical-pass value (oh x Wp x C of them),
        # 2*lx per output value, per rank; plus the strip fill, transpose and rank adds.
        lv = (_SEP_BLOCK_ROWS - 1) * g.sy + g.eh
        lx = (min(_SEP_BLOCK_COLS, ow) - 1) * g.sx + g.ew
        rank = kernel_rank(plan)
        direct = _sep_direct(rank, lx, cin)
        flops = rank * (2 * lv * oh * wp * cin + 2 * lx * (cin if direct else 1) * outputs)
        base = _NS_SEP_BASE + (rank - 1) * _NS_ADD - (_NS_TRANSPOSE_SEP if direct else 0.0)
        costs["separable"] = flops * _NS_FLOP_SEP + outputs * base + rank * _NS_SEP_RANK
    elif plan.depthwise:
        _, vertical, _, horizontal = _separable_passes(plan, g, shared)
        costs["separable"] = kernel_rank(plan) * (oh * wp * cin * vertical + outputs * horizontal)

    hf = next_fast_len(max(_fft_input_rows(plan, g, wp, cin), 2 * g.eh - 1))
    wf = next_fast_len(wp)
    strips = -(-oh // ((hf - g.eh) // g.sy + 1))
    products = cin if plan.depthwise else cin * g.cout
    spectra = 1 if shared else products
    per_strip = hf * wf * (cin + g.cout) * _NS_FFT + hf * (wf // 2 + 1) * products * _NS_CMUL
    costs["fft"] = (strips * per_strip + spectra * hf * wf * _NS_FFT) / min(
        runtime.threads(), strips
    )
    costs["fft"] += (plan.image.size + outputs) * _NS_FFT_BASE
    return {name: cost + _NS_FIXED[name] for name, cost in costs.items()}


_choices: dict[tuple, str] = {}


def choose_strategy(plan: Plan) -> str:
    """Pick the cheapest registered strategy for a plan by :func:`estimate_costs`.

    ``direct`` (the reference) is never chosen: ``strips`` does the same taps faster. The
    choice is remembered per image size and kernel (the estimate took ~65 us, over 1% of a
    1080p 3x3 filter).
    """
    kernel = plan.kernel
    key = None
    if kernel.nbytes <= 1 << 16:
        key = (plan.image.shape, plan.image.dtype.str, kernel.shape, kernel.tobytes(),
               plan.depthwise, plan.border, plan.stride, plan.dilation, plan.pad)  # fmt: skip
        if key in _choices:
            return _choices[key]
    costs = estimate_costs(plan)
    name = min(costs, key=costs.__getitem__)
    if key is not None:
        if len(_choices) >= 256:
            _choices.clear()
        _choices[key] = name
    return name


@dataclass
class RunInfo:
    """What ran: filled in by :func:`correlate` when given one (for ``-v``)."""

    strategy: str = ""
    seconds: float = 0.0


def _run(
    image: np.ndarray,
    kernel: np.ndarray,
    *,
    flip: bool,
    border: str,
    cval: float,
    stride: int | tuple[int, int],
    dilation: int | tuple[int, int],
    bias: float | np.ndarray,
    strategy: str,
    info: RunInfo | None,
) -> np.ndarray:
    import time

    plan = make_plan(
        image, kernel, border=border, cval=cval, stride=stride, dilation=dilation, flip=flip
    )
    name = choose_strategy(plan) if strategy == "auto" else strategy
    if name not in STRATEGIES:
        raise EngineError(
            f"unknown strategy {strategy!r} (choose from auto, {', '.join(STRATEGIES)})"
        )
    t0 = time.perf_counter()
    out = STRATEGIES[name](plan)
    if info is not None:
        info.strategy = name
        info.seconds = time.perf_counter() - t0
    bias_arr = np.asarray(bias, dtype=out.dtype)
    if bias_arr.ndim > 1 or (bias_arr.ndim == 1 and bias_arr.shape[0] not in (1, out.shape[2])):
        raise EngineError(
            f"bias must be a number or one value per output channel ({out.shape[2]}), "
            f"got shape {bias_arr.shape}"
        )
    if np.any(bias_arr != 0):
        out += bias_arr
    if np.asarray(image).ndim == 2 and out.shape[2] == 1:
        out = out[:, :, 0]
    return out


def correlate(
    image: np.ndarray,
    kernel: np.ndarray,
    *,
    border: str = "reflect",
    cval: float = 0.0,
    stride: int | tuple[int, int] = 1,
    dilation: int | tuple[int, int] = 1,
    bias: float | np.ndarray = 0.0,
    strategy: str = "auto",
    info: RunInfo | None = None,
) -> np.ndarray:
    """Cross-correlate an image with a kernel (what deep-learning "convolution" layers compute).

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, C)
        Any real dtype. Integer images are computed in float32 without rescaling.
    kernel : ndarray, shape (kh, kw), (kh, kw, C) or (kh, kw, Cin, Cout)
        Any size, odd or even; the anchor is ``(kh // 2, kw // 2)``.
    border : str
        Border mode, see the module docstring.
    cval : float
        Fill value for ``border="constant"``.
    stride, dilation : int or (int, int)
        Output step and spacing between kernel taps.
    bias : float or sequence
        Added to every output value (one value per output channel allowed).
    strategy : str
        ``"auto"`` or the name of a registered strategy.

    Returns
    -------
    ndarray
        float32 (float64 for float64 input). ``(H', W')`` for a 2-D image and a 2-D kernel,
        otherwise ``(H', W', C')``.

    Examples
    --------
    The chapter's ``corr2d`` example:

    >>> X = np.arange(9.0).reshape(3, 3)
    >>> K = np.array([[0.0, 1.0], [2.0, 3.0]])
    >>> correlate(X, K, border="valid")
    array([[19., 25.],
           [37., 43.]])
    """
    return _run(
        image,
        kernel,
        flip=False,
        border=border,
        cval=cval,
        stride=stride,
        dilation=dilation,
        bias=bias,
        strategy=strategy,
        info=info,
    )


def convolve(
    image: np.ndarray,
    kernel: np.ndarray,
    *,
    border: str = "reflect",
    cval: float = 0.0,
    stride: int | tuple[int, int] = 1,
    dilation: int | tuple[int, int] = 1,
    bias: float | np.ndarray = 0.0,
    strategy: str = "auto",
    info: RunInfo | None = None,
) -> np.ndarray:
    """True convolution: :func:`correlate` with the kernel flipped in both spatial axes.

    Matches ``scipy.ndimage.convolve`` (also for even kernel sizes). With ``border="full"``
    it is the textbook full convolution, which is commutative.

    Examples
    --------
    >>> convolve(np.array([[0.0, 1.0, 0.0]]), np.array([[1.0, 2.0, 3.0]]), border="full")
    array([[0., 1., 2., 3., 0.]])
    """
    return _run(
        image,
        kernel,
        flip=True,
        border=border,
        cval=cval,
        stride=stride,
        dilation=dilation,
        bias=bias,
        strategy=strategy,
        info=info,
    )
