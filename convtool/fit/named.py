"""The named kernel closest to a fitted one (``close to gaussian:1.5``).

Owns the list of candidate specs for a kernel size: the fixed 3x3 kernels, ``box`` of that size,
``gaussian``/``log``/``unsharp`` on a grid of sigmas (and amounts) for odd square sizes, the 1x1
colour mixers; each is built by :func:`convtool.kernels.parse_kernel`, so a reported spec is
exactly what ``convtool filter -k SPEC`` applies.

Must not import: click, rich, PIL, convtool.cli, convtool.images.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..kernels import Kernel, KernelError, parse_kernel

__all__ = ["REL_TOL", "NamedMatch", "closest_named"]

# A named kernel is "close" when no weight differs by more than this fraction of its largest
# weight (8-bit targets moved fitted weights by ~1e-3 of that on the 480x320 sample photo).
REL_TOL = 0.02

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
    # Coarse grid, refined around the best point by closest_named: from 0.3 (below it a 3x3
    # Gaussian is the identity to 4 digits) to well past the radius.
    return np.round(np.arange(0.3, max(2.0, 1.5 * radius) + 1e-9, 0.05), 2)


def _family_specs(kh: int, kw: int) -> Iterator[tuple[str, Callable[[float], str], float]]:
    """``(family, sigma -> spec, sigma)`` for the families with a continuous sigma."""
    if kh != kw or kh % 2 == 0 or kh == 1:
        return
    radius = kh // 2

    def gaussian(s: float) -> str:
        return f"gaussian:{s:g}" if math.ceil(3 * s) == radius else f"gaussian:{s:g},{radius}"

    def log(s: float) -> str:
        return f"log:{s:g}" if math.ceil(4 * s) == radius else f"log:{s:g},{radius}"

    def unsharp(amount: float) -> Callable[[float], str]:
        # unsharp has no radius parameter: only sigmas with ceil(3 sigma) == radius fit.
        def spec(s: float) -> str:
            if math.ceil(3 * s) != radius:
                return ""
            return f"unsharp:{s:g}" if amount == 1 else f"unsharp:{s:g},{amount:g}"

        return spec

    for sigma in _sigmas(radius):
        yield "gaussian", gaussian, float(sigma)
        yield "log", log, float(sigma)
        for amount in _AMOUNTS:
            yield f"unsharp:{amount:g}", unsharp(amount), float(sigma)


def _fixed_specs(kh: int, kw: int) -> Iterator[str]:
    yield f"box:{kw}" if kh == kw else f"box:{kw},{kh}"
    if (kh, kw) == (3, 3):
        yield from _FIXED_3X3


@lru_cache(maxsize=4096)
def _weights(spec: str) -> np.ndarray | None:
    if not spec:
        return None
    try:
        kernel = parse_kernel(spec)
    except KernelError:  # e.g. a log with a tiny sigma overflows: not a candidate
        return None
    return kernel.weights if isinstance(kernel, Kernel) else None


@lru_cache(maxsize=16)
def _candidates(shape: tuple[int, ...]) -> tuple[tuple[str, Callable[[float], str] | None, float]]:
    """Every ``(spec, sigma -> spec or None, sigma)`` worth comparing with a kernel of ``shape``."""
    out: list = [(spec, None, 0.0) for spec in _MIXERS.get(shape, ())]
    if len(shape) == 2 or shape[:2] != (1, 1):
        out += [(spec, None, 0.0) for spec in _fixed_specs(shape[0], shape[1])]
        out += [(make(sigma), make, sigma) for _, make, sigma in _family_specs(*shape[:2])]
    return tuple(c for c in out if _weights(c[0]) is not None)


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

    def distance(spec: str) -> tuple[float, float]:
        """(difference relative to the named kernel's largest weight, max difference)."""
        grid = _weights(spec)
        target = None if grid is None else _expanded(grid, w, mode)
        if target is None:
            return math.inf, math.inf
        diff = float(np.max(np.abs(w - target)))
        return diff / max(float(np.max(np.abs(grid))), 1e-300), diff

    best, best_make, best_sigma = ("", math.inf, math.inf), None, 0.0
    for spec, make, sigma in _candidates(tuple(w.shape if w.ndim == 4 else w.shape[:2])):
        rel, diff = distance(spec)
        # Earlier (simpler) specs win ties: a 3x3 gaussian:0.3 is nearly the identity.
        if rel < best[1] - 1e-9:
            best, best_make, best_sigma = (spec, rel, diff), make, sigma
    if best_make is not None:
        best = _refine(best, best_make, best_sigma, distance)
    spec, rel, diff = best
    return NamedMatch(spec, diff) if rel <= REL_TOL else None


def _refine(best, make: Callable[[float], str], sigma0: float, distance):
    """Refine sigma around the grid point (steps of 0.005, then 0.0005), then take the
    roundest sigma whose difference is within 10% of the smallest: noise in a fit of
    gaussian:1.5 must not turn it into gaussian:1.4995."""
    tried = {best[0]: best[1:]}
    for step in (0.005, 0.0005):
        for sigma in sigma0 + step * np.arange(-10, 11):
            spec = make(round(float(sigma), 4)) if sigma > 0 else ""
            if spec and spec not in tried:
                tried[spec] = distance(spec)
                if tried[spec][0] < best[1]:
                    best, sigma0 = (spec, *tried[spec]), float(sigma)
    near = [(len(s), r, d, s) for s, (r, d) in tried.items() if r <= 1.1 * best[1]]
    _, rel, diff, spec = min(near)
    return spec, rel, diff
