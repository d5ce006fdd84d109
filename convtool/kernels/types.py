"""Kernel value types: Kernel, Magnitude, KernelInfo, KernelError and the size limits.

Owns the types every other kernels module passes around. Must not import: other convtool
modules, click, rich, PIL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

# A typo such as gaussian:1000 would otherwise allocate gigabytes before anything is filtered.
MAX_KERNEL_SIDE = 1001

KERNEL_FILE_SUFFIXES = (".txt", ".json", ".npy")


class KernelError(ValueError):
    """A kernel name, parameter list or file is invalid; the message is fit for the user."""


@dataclass(frozen=True, eq=False)
class Kernel:
    """Weights (float64, ``(kh, kw)``, ``(kh, kw, C)`` or ``(kh, kw, Cin, Cout)``) and a bias.

    ``factors`` is ``(column, row)`` when ``weights == np.outer(column, row)`` by construction,
    so the engine may run two 1-D passes without an SVD.
    """

    name: str
    weights: np.ndarray
    bias: float | np.ndarray = 0.0
    factors: tuple[np.ndarray, np.ndarray] | None = field(default=None, compare=False)


@dataclass(frozen=True, eq=False)
class Magnitude:
    """Gradient magnitude ``sqrt(gx**2 + gy**2)`` of two kernels (``sobel``, ``scharr``)."""

    name: str
    gx: Kernel
    gy: Kernel


class KernelInfo(NamedTuple):
    """One named kernel as :func:`list_kernels` reports it."""

    name: str
    params: str  # signature such as "SIGMA[,RADIUS]"; "" when the kernel takes none
    description: str


def _frozen(arr: np.ndarray) -> np.ndarray:
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    arr.flags.writeable = False
    return arr


# Their public home: tracebacks and reprs say convtool.kernels.KernelError, as before the split.
for _cls in (KernelError, Kernel, Magnitude, KernelInfo):
    _cls.__module__ = "convtool.kernels"
del _cls
