"""Image geometry: resize and rotate arrays, pure numpy.

Owns: :func:`resize` (area average when shrinking, bilinear when growing) and :func:`rotate`
(bilinear, with the coverage of each output pixel). The matcher scales and turns templates with
them; the terminal preview and batch work can use them without loading the matcher.

Must not import: :mod:`convtool.matching`, the CLI, :mod:`convtool.images`, click, rich, PIL.
"""

from __future__ import annotations

import math

import numpy as np


class GeometryError(ValueError):
    """Invalid geometry request (an empty output size); the message is one line."""


def _resize_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) interpolation matrix: area average when shrinking, bilinear when growing."""
    if n_out == n_in:
        return np.eye(n_in)
    if n_out < n_in:
        # Output pixel j covers input span [j*f, (j+1)*f); weight = overlap / f.
        f = n_in / n_out
        edges = np.arange(n_out + 1) * f
        lo, hi = edges[:-1, None], edges[1:, None]
        i = np.arange(n_in)[None, :]
        overlap = np.clip(np.minimum(hi, i + 1) - np.maximum(lo, i), 0, None)
        return overlap / f
    # Bilinear with half-pixel centres and clamped edges (cv2.INTER_LINEAR).
    src = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
    src = np.clip(src, 0, n_in - 1)
    left = np.floor(src).astype(np.intp)
    right = np.minimum(left + 1, n_in - 1)
    frac = src - left
    mat = np.zeros((n_out, n_in))
    rows = np.arange(n_out)
    np.add.at(mat, (rows, left), 1 - frac)
    np.add.at(mat, (rows, right), frac)
    return mat


def resize(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize ``(H, W)`` or ``(H, W, C)`` to ``shape`` with separable interpolation matrices.

    Each axis shrinks by area averaging (``cv2.INTER_AREA``) and grows bilinearly
    (``cv2.INTER_LINEAR``). Computed in float64 (templates are small), returned in the input's
    float dtype.

    Examples
    --------
    >>> resize(np.array([[0.0, 1.0], [2.0, 3.0]]), (1, 1))
    array([[1.5]])
    >>> resize(np.array([[0.0, 1.0]]), (1, 4))
    array([[0.  , 0.25, 0.75, 1.  ]])
    """
    arr = np.asarray(image)
    out_h, out_w = (int(shape[0]), int(shape[1]))
    if out_h < 1 or out_w < 1:
        raise GeometryError(f"cannot resize to {out_h}x{out_w}")
    dtype = np.float32 if arr.dtype == np.float32 else np.float64
    ry = _resize_matrix(arr.shape[0], out_h)
    rx = _resize_matrix(arr.shape[1], out_w)
    out = np.tensordot(ry, arr.astype(np.float64, copy=False), axes=(1, 0))
    out = np.tensordot(rx, out, axes=(1, 1)).swapaxes(0, 1)
    return np.ascontiguousarray(out, dtype=dtype)


def rotate(image: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """Turn ``(H, W[, C])`` by ``angle`` degrees counter-clockwise about its centre.

    Returns the turned image in a box just large enough to hold it (bilinear samples, float64)
    and its coverage ``(H', W')`` in [0, 1]: the share of each output pixel that falls inside
    the source (0 in the corners the turn leaves empty). Quarter turns are exact.

    Examples
    --------
    >>> img = np.arange(6.0).reshape(2, 3)
    >>> turned, cover = rotate(img, 90)
    >>> turned.tolist(), bool(cover.all())
    ([[2.0, 5.0], [1.0, 4.0], [0.0, 3.0]], True)
    >>> rotate(np.ones((5, 5)), 45)[1].shape
    (7, 7)
    """
    arr = np.asarray(image, dtype=np.float64)
    quarter = float(angle) / 90.0
    if quarter == round(quarter):
        turned = np.rot90(arr, round(quarter) % 4)
        return np.ascontiguousarray(turned), np.ones(turned.shape[:2])
    h, w = arr.shape[:2]
    theta = math.radians(float(angle))
    cos, sin = math.cos(theta), math.sin(theta)
    # The turned box's extent rounded to the nearest pixel (scipy.ndimage.rotate's size).
    out_h = max(1, int(abs(h * cos) + abs(w * sin) + 0.5))
    out_w = max(1, int(abs(w * cos) + abs(h * sin) + 0.5))
    yy, xx = np.mgrid[0:out_h, 0:out_w].astype(np.float64)
    dy, dx = yy - (out_h - 1) / 2, xx - (out_w - 1) / 2
    # Inverse map (image rows grow downwards, so counter-clockwise on screen).
    src_x = cos * dx - sin * dy + (w - 1) / 2
    src_y = sin * dx + cos * dy + (h - 1) / 2
    x0, y0 = np.floor(src_x), np.floor(src_y)
    fx, fy = src_x - x0, src_y - y0
    x0, y0 = x0.astype(np.intp), y0.astype(np.intp)
    planes = arr.reshape(h, w, -1)
    turned = np.zeros((out_h, out_w, planes.shape[2]))
    cover = np.zeros((out_h, out_w))
    for oy, ox, weight in ((0, 0, (1 - fy) * (1 - fx)), (0, 1, (1 - fy) * fx),
                           (1, 0, fy * (1 - fx)), (1, 1, fy * fx)):  # fmt: skip
        ys, xs = y0 + oy, x0 + ox
        inside = (ys >= 0) & (ys < h) & (xs >= 0) & (xs < w)
        wgt = np.where(inside, weight, 0.0)
        turned += wgt[:, :, None] * planes[np.clip(ys, 0, h - 1), np.clip(xs, 0, w - 1)]
        cover += wgt
    # Where the source covers part of a pixel, the samples it has are renormalized.
    np.divide(turned, cover[:, :, None], out=turned, where=cover[:, :, None] > 0)
    return turned.reshape((out_h, out_w, *arr.shape[2:])), np.clip(cover, 0.0, 1.0)
