"""The named kernel closest to a fitted one (``close to gaussian:1.5``).

Owns the list of candidate specs for a kernel size: the fixed 3x3 kernels, ``box`` of that size,
``gaussian``/``log``/``unsharp`` on a grid of sigmas (and amounts) for odd square sizes, the 1x1
colour mixers; each is built by :func:`convtool.kernels.parse_kernel`, so a reported spec is
exactly what ``convtool filter -k SPEC`` applies.

Must not import: click, rich, PIL, convtool.cli, convtool.images.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..kernels import Kernel, KernelError, parse_kernel

__all__ = ["REL_TOL", "NamedMatch", "closest_named"]

# A named kernel is "close" when no weight differs by more than this fraction of its largest
# weight (8-bit targets move fitted weights by ~1e-3 of that; a sigma step of 0.05 by ~3e-2).
REL_TOL = 0.05

_FIXED_3X3 = (
    "identity",
    "sharpen",
    "laplacian",
    "laplacian:8",
    "sobel-x",
    "sobel-y",
    "scharr-x",
    "scharr-y",
    "prewitt-x",
    "prewitt-y",
    "emboss",
    "outline",
)
_MIXERS = {(1, 1, 3, 1): ("grayscale", "grayscale:709"), (1, 1, 3, 3): ("sepia",)}
_AMOUNTS = (0.5, 1.0, 1.5, 2.0, 3.0)
_MAX_SIDE = 31


@dataclass(frozen=True)
class NamedMatch:
    """A named kernel spec (valid for ``-k``) and its largest absolute weight difference."""

    spec: str
    max_diff: float


def _sigmas(radius: int) -> np.ndarray:
    # From 0.3 (below it a 3x3 Gaussian is the identity to 4 digits) to well past the radius,
    # in steps of 0.05: a kernel between two grid points is still within REL_TOL of one.
    return np.round(np.arange(0.3, max(2.0, 1.5 * radius) + 1e-9, 0.05), 2)


def _specs(kh: int, kw: int) -> Iterator[str]:
    yield f"box:{kw}" if kh == kw else f"box:{kw},{kh}"
    if (kh, kw) == (3, 3):
        yield from _FIXED_3X3
    if kh != kw or kh % 2 == 0 or kh == 1:
        return
    radius = kh // 2
    for sigma in _sigmas(radius):
        s = f"{sigma:g}"
        yield f"gaussian:{s}" if math.ceil(3 * sigma) == radius else f"gaussian:{s},{radius}"
        yield f"log:{s}" if math.ceil(4 * sigma) == radius else f"log:{s},{radius}"
        if math.ceil(3 * sigma) == radius:  # unsharp has no radius parameter
            yield from (f"unsharp:{s}" if a == 1 else f"unsharp:{s},{a:g}" for a in _AMOUNTS)


@lru_cache(maxsize=16)
def _candidates(shape: tuple[int, ...]) -> tuple[tuple[str, np.ndarray], ...]:
    specs = list(_MIXERS.get(shape, ()))
    if len(shape) == 2 or shape[:2] != (1, 1):
        specs += list(_specs(shape[0], shape[1]))
    out = []
    for spec in specs:
        try:
            kernel = parse_kernel(spec)
        except KernelError:  # e.g. a log with a tiny sigma overflows: not a candidate
            continue
        if isinstance(kernel, Kernel):
            out.append((spec, kernel.weights))
    return tuple(out)


def _expanded(grid: np.ndarray, weights: np.ndarray, mode: str) -> np.ndarray | None:
    """The named ``grid`` in the layout of the fitted ``weights`` (None if it cannot be)."""
    if grid.shape == weights.shape:
        return grid
    if grid.ndim != 2 or grid.shape != weights.shape[:2]:
        return None
    if mode == "depthwise":
        return grid[:, :, None]
    if mode == "mixing" and weights.shape[2] == weights.shape[3]:
        return grid[:, :, None, None] * np.eye(weights.shape[2])
    return None


def closest_named(weights: np.ndarray, mode: str = "shared") -> NamedMatch | None:
    """The named kernel nearest to ``weights``, if one is within :data:`REL_TOL`.

    Parameters
    ----------
    weights : ndarray
        A fitted kernel, ``(kh, kw)``, ``(kh, kw, C)`` or ``(kh, kw, Cin, Cout)``.
    mode : {"shared", "depthwise", "mixing"}
        How ``weights`` is laid out: a depthwise kernel matches a named one applied to every
        channel, a mixing kernel with Cin == Cout one applied to every channel without mixing.

    Returns
    -------
    NamedMatch or None

    Examples
    --------
    >>> from convtool.kernels import parse_kernel
    >>> w = parse_kernel("gaussian:1.5").weights + 0.001
    >>> match = closest_named(w)
    >>> match.spec, round(match.max_diff, 6)
    ('gaussian:1.5', 0.001)
    >>> closest_named(np.ones((3, 3))) is None
    True
    """
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim not in (2, 3, 4) or max(w.shape[:2]) > _MAX_SIDE:
        return None
    best: NamedMatch | None = None
    for spec, grid in _candidates(tuple(w.shape if w.ndim == 4 else w.shape[:2])):
        target = _expanded(grid, w, mode)
        if target is None:
            continue
        diff = float(np.max(np.abs(w - target)))
        if diff > REL_TOL * float(np.max(np.abs(grid))):
            continue
        # Earlier (simpler) specs win ties: a 3x3 gaussian:0.3 is nearly the identity.
        if best is None or diff < best.max_diff - 1e-9:
            best = NamedMatch(spec, diff)
    return best
