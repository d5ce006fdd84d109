"""Named kernels and kernel files.

(Skeleton: the interface below is fixed; the full library of named kernels is being filled in.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["Kernel", "KernelError", "Magnitude", "parse_kernel"]


class KernelError(ValueError):
    """A kernel name, parameter list or file is invalid; the message is fit for the user."""


@dataclass(frozen=True)
class Kernel:
    """Weights (float64, ``(kh, kw)``, ``(kh, kw, C)`` or ``(kh, kw, Cin, Cout)``) and a bias.

    ``factors`` is ``(column, row)`` when ``weights == np.outer(column, row)`` by construction,
    so the engine may run two 1-D passes without an SVD.
    """

    name: str
    weights: np.ndarray
    bias: float | np.ndarray = 0.0
    factors: tuple[np.ndarray, np.ndarray] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Magnitude:
    """Gradient magnitude ``sqrt(gx**2 + gy**2)`` of two kernels (``sobel``, ``scharr``)."""

    name: str
    gx: Kernel
    gy: Kernel


IDENTITY = np.array(
    [
        [0, 0, 0],
        [0, 1, 0],
        [0, 0, 0],
    ],
    dtype=np.float64,
)


def parse_kernel(spec: str) -> Kernel | Magnitude:
    """Resolve ``NAME[:ARGS]`` or a kernel file path."""
    if spec == "identity":
        return Kernel("identity", IDENTITY)
    if spec.startswith("box:"):
        n = int(spec[4:])
        row = np.full(n, 1.0 / n)
        return Kernel(spec, np.outer(row, row), factors=(row, row))
    if Path(spec).is_file():
        rows = [
            [float(v) for v in line.split("#")[0].replace(",", " ").split()]
            for line in Path(spec).read_text().splitlines()
        ]
        return Kernel(spec, np.array([r for r in rows if r]))
    raise KernelError(f"unknown kernel {spec!r}")
