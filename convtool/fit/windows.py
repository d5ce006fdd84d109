"""Strips of im2row windows and the running sums of the normal equations over them.

Owns the index maps that pad a strip of input rows exactly as :func:`convtool.engine.pad_image`
pads the whole image (built by padding ``arange`` with the engine's own padding, so windows near
the border are the ones the engine reads), the strip gather, and the sums ``X^T X``, ``X^T y``,
``sum X``, ``sum y`` per channel mode, accumulated strip by strip on the runtime's threads
(memory: one strip of the design matrix, never the whole of it).

Must not import: click, rich, PIL, convtool.cli, convtool.images.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .. import runtime
from .._blas import single_threaded_blas
from ..engine import make_plan, normalize_border, pad_image

__all__ = ["FitError", "Layout", "Sums", "accumulate", "make_layout", "strip"]

# Bytes of float64 design matrix per strip of output rows (a few MiB: big enough for efficient
# GEMMs, small enough to stay far below the size of the image).
_STRIP_BYTES = 4 * 2**20
# Rows of the design matrix per GEMM of _gram (on one BLAS thread).
_GRAM_ROWS = 1024


class FitError(ValueError):
    """The inputs of a fit are inconsistent (shapes, channel counts, sizes, options)."""


class Layout(NamedTuple):
    """Kernel size, dilation, the two index maps and the output size of one fit."""

    kh: int
    kw: int
    dy: int
    dx: int
    rows: np.ndarray  # padded row -> source row, -1 for the constant border value
    cols: np.ndarray
    out_h: int
    out_w: int
    cval: float

    @property
    def eh(self) -> int:
        return (self.kh - 1) * self.dy + 1

    @property
    def ew(self) -> int:
        return (self.kw - 1) * self.dx + 1


def _pair(value: int | tuple[int, int], name: str) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and v >= 1 for v in pair):
        raise FitError(f"{name} must be a positive integer or a pair of them, got {value!r}")
    return int(pair[0]), int(pair[1])


def _index_map(n: int, k: int, d: int, border: str, axis: int) -> tuple[np.ndarray, int]:
    """Source index of every padded sample along one axis, and the output length on it.

    The engine pads ``(index + 1)`` with ``cval = 0``, so 0 marks the constant border value.
    """
    shape = (n, 1) if axis == 0 else (1, n)
    kshape = (k, 1) if axis == 0 else (1, k)
    dilation = (d, 1) if axis == 0 else (1, d)
    plan = make_plan(
        np.zeros(shape, np.float32), np.zeros(kshape), border=border, dilation=dilation
    )
    index = (np.arange(n, dtype=np.float64) + 1.0).reshape(*shape, 1)
    padded = pad_image(plan, index).reshape(-1)
    return padded.astype(np.intp) - 1, plan.out_shape[axis]


def make_layout(shape: tuple[int, int], size, border: str, cval: float, dilation) -> Layout:
    kh, kw = _pair(size, "size")
    dy, dx = _pair(dilation, "dilation")
    h, w = shape
    eh, ew = (kh - 1) * dy + 1, (kw - 1) * dx + 1
    if eh > h or ew > w:
        reach = f"{kh}x{kw}" + (f" (dilated to {eh}x{ew})" if (dy, dx) != (1, 1) else "")
        raise FitError(f"kernel {reach} is larger than the {h}x{w} image")
    mode, zero = normalize_border(border)
    rows, out_h = _index_map(h, kh, dy, border, 0)
    cols, out_w = _index_map(w, kw, dx, border, 1)
    fill = 0.0 if (zero or mode == "full") else float(cval)
    return Layout(kh, kw, dy, dx, rows, cols, out_h, out_w, fill)


def _gram(a: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(a^T a, a^T y)`` in GEMMs of :data:`_GRAM_ROWS` rows of ``a`` at a time.

    Called with OpenBLAS on one thread (:func:`accumulate`): its own threads spin waiting for
    each other while the pool's two threads each run GEMMs, and on busy cores that took a
    320x480 RGB photo's 11x11 mixing fit (363 unknowns) from 3.4 s to 56 s. On one BLAS
    thread each call may be large; chunks of 1024 rows ran twice as fast as the column blocks
    small enough to keep a multi-threaded OpenBLAS on one thread (0.12 against 0.24 s for
    20000 x 363).
    """
    p = a.shape[1]
    g = np.zeros((p, p))
    b = np.zeros((p, *y.shape[1:]))
    for r0 in range(0, a.shape[0], _GRAM_ROWS):
        part = a[r0 : r0 + _GRAM_ROWS]
        g += part.T @ part
        b += part.T @ y[r0 : r0 + _GRAM_ROWS]
    return g, b


class Sums:
    """Running sums of one worker thread over its strips.

    float64 throughout, although the images are float32: ``X^T X`` sums millions of products
    of values near 0.5, and the solve amplifies its relative error by the condition number
    (1e3..1e5 for photos), so float32 sums (7 digits, and ~1e-4 rounding drift over 1e6
    terms) would cost the weights most of their accuracy.
    """

    def __init__(self, mode: str, p: int, cin: int, cout: int, limits) -> None:
        self.mode = mode
        # Target values outside the open interval (low, high) are left out when limits is
        # given; otherwise values at or beyond (0, 1) are only counted (a clipping hint).
        self.limits = limits
        self.windows = 0
        self.saturated = 0
        self.n = np.zeros(1 if mode == "mixing" else cin)  # equations per bias column
        if mode == "shared":
            self.G, self.B = np.zeros((p, p)), np.zeros(p)
            self.S, self.T = np.zeros((cin, p)), np.zeros(cin)
        elif mode == "depthwise":
            self.G, self.B = np.zeros((cin, p, p)), np.zeros((cin, p))
            self.S, self.T = np.zeros((cin, p)), np.zeros(cin)
        else:
            self.G, self.B = np.zeros((p, p)), np.zeros((p, cout))
            self.S, self.T = np.zeros(p), np.zeros(cout)

    def add(self, win: np.ndarray, ys: np.ndarray) -> None:
        """Add one strip: ``win`` is ``(n, ow, C, kh, kw)`` windows, ``ys`` ``(n, ow, Cout)``."""
        n, ow, c = win.shape[:3]
        m = n * ow
        y = ys.reshape(m, -1).astype(np.float64)
        low, high = self.limits or (0.0, 1.0)
        inside = (y > low) & (y < high)
        self.saturated += int(inside.size - np.count_nonzero(inside))
        self.windows += m
        keep = inside if self.limits else None
        if self.mode == "shared":
            # One equation per pixel and channel: rows (pixel, channel), columns (a, b).
            a = np.ascontiguousarray(win, dtype=np.float64).reshape(m, c, -1)
            flat, yk = a.reshape(m * c, -1), y.reshape(-1)
            if keep is not None:
                flat, yk = flat[keep.reshape(-1)], yk[keep.reshape(-1)]
                a, y = a * keep[:, :, None], y * keep
            g, b = _gram(flat, yk)
            self.G += g
            self.B += b
            self.S += a.sum(axis=0)
            self.T += y.sum(axis=0)
            self.n += m if keep is None else np.count_nonzero(keep, axis=0)
        elif self.mode == "depthwise":
            # One independent system per channel: (C, pixels, (a, b)).
            a = np.ascontiguousarray(win.transpose(2, 0, 1, 3, 4), dtype=np.float64)
            a = a.reshape(c, m, -1)
            for ch in range(c):
                rows, yc = a[ch], y[:, ch]
                if keep is not None:
                    rows, yc = rows[keep[:, ch]], yc[keep[:, ch]]
                g, b = _gram(rows, yc)
                self.G[ch] += g
                self.B[ch] += b
                self.S[ch] += rows.sum(axis=0)
                self.T[ch] += yc.sum()
                self.n[ch] += rows.shape[0]
        else:
            # Columns in the order of V[a, b, c, :] flattened, so weights reshape to 4-D.
            # All output channels share the matrix, so a pixel is left out as a whole.
            a = np.ascontiguousarray(win.transpose(0, 1, 3, 4, 2), dtype=np.float64)
            a = a.reshape(m, -1)
            if keep is not None:
                rows = keep.all(axis=1)
                a, y = a[rows], y[rows]
            g, b = _gram(a, y)
            self.G += g
            self.B += b
            self.S += a.sum(axis=0)
            self.T += y.sum(axis=0)
            self.n += a.shape[0]

    def merge(self, other: Sums) -> None:
        for key in ("G", "B", "S", "T", "n"):
            getattr(self, key).__iadd__(getattr(other, key))
        self.windows += other.windows
        self.saturated += other.saturated

    def used(self) -> int:
        """How many target values entered the fit."""
        return int(self.n.sum() * (self.T.shape[0] if self.mode == "mixing" else 1))


def strip(x3: np.ndarray, lay: Layout, o0: int, o1: int) -> np.ndarray:
    """Padded input rows for output rows ``o0:o1``, gathered through the index maps (the
    accumulation reads its windows from them, the quality pass filters them, border valid)."""
    ri = lay.rows[o0 : o1 + lay.eh - 1]
    strip = x3[np.ix_(np.maximum(ri, 0), np.maximum(lay.cols, 0))]
    if ri.min() < 0:
        strip[ri < 0] = lay.cval
    if lay.cols.min() < 0:
        strip[:, lay.cols < 0] = lay.cval
    return strip


def accumulate(x3: np.ndarray, y3: np.ndarray, lay: Layout, mode: str, limits) -> Sums:
    cin, cout = x3.shape[2], y3.shape[2]
    p = lay.kh * lay.kw * (cin if mode == "mixing" else 1)
    row_bytes = lay.out_w * p * 8 * (1 if mode == "mixing" else cin)
    rows = max(1, _STRIP_BYTES // row_bytes)
    starts = iter(range(0, lay.out_h, rows))
    parts: list[Sums] = []

    def work() -> None:
        sums = Sums(mode, p, cin, cout, limits)
        for o0 in starts:  # next() on a shared range iterator is atomic under the GIL
            o1 = min(lay.out_h, o0 + rows)
            view = sliding_window_view(strip(x3, lay, o0, o1), (lay.eh, lay.ew), axis=(0, 1))
            sums.add(view[:, :, :, :: lay.dy, :: lay.dx], y3[o0:o1])
        parts.append(sums)

    with single_threaded_blas():  # the pool's threads each run GEMMs: BLAS adds none (_gram)
        runtime.parallel(work, runtime.threads())
    total = parts[0]
    for part in parts[1:]:
        total.merge(part)
    return total
