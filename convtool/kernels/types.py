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

# Kernel files obey the same side limit as generated kernels; with channels (kh, kw, Cin, Cout)
# a kernel holds at most this many weights, and a file is at most this many bytes (the limit
# is checked before a file is read; text holds about 10 bytes per weight).
MAX_KERNEL_DIMS = 4
MAX_KERNEL_WEIGHTS = 1 << 24
MAX_KERNEL_FILE_BYTES = 256 << 20

# The engine computes in float32: a weight beyond this is infinite there (and NaN after the
# first subtraction). Every weight and bias must stay below it.
FLOAT32_MAX = float(np.finfo(np.float32).max)


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


def _tap(index: tuple[int, ...]) -> str:
    if len(index) == 2:
        return f"row {index[0] + 1}, column {index[1] + 1}"
    return "index [" + ", ".join(str(i) for i in index) + "]"


def check_kernel_size(label: str, shape, *, partial: bool = False) -> None:
    """Refuse a kernel wider or taller than :data:`MAX_KERNEL_SIDE` or with too many weights.

    ``partial``: ``shape`` holds only the leading sides known so far (while reading a file).
    """
    sides = tuple(int(n) for n in shape)
    if any(n > MAX_KERNEL_SIDE for n in sides[:2]):
        raise KernelError(
            f"{label}: kernel {'x'.join(map(str, sides[:2]))} is larger than "
            f"{MAX_KERNEL_SIDE}x{MAX_KERNEL_SIDE}"
        )
    if int(np.prod(sides, dtype=object)) > MAX_KERNEL_WEIGHTS and not partial:
        raise KernelError(
            f"{label}: kernel of shape {sides} holds more than {MAX_KERNEL_WEIGHTS} weights"
        )
    if partial and int(np.prod(sides, dtype=object)) > MAX_KERNEL_WEIGHTS:
        raise KernelError(f"{label}: kernel holds more than {MAX_KERNEL_WEIGHTS} weights")


def check_compute_range(label: str, weights: np.ndarray) -> None:
    """Every weight must be finite in float32, the engine's compute type; names the first tap.

    A weight finite in float64 but beyond float32 (1e39) became infinite and made the rank
    search loop forever on NaN.
    """
    bad = np.abs(weights) > FLOAT32_MAX
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise KernelError(
            f"{label}: weight at {_tap(index)} ({weights[index]:g}) is beyond the float32 "
            f"range of the computation (|w| <= {FLOAT32_MAX:.4g})"
        )


def _frozen(arr: np.ndarray) -> np.ndarray:
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    arr.flags.writeable = False
    return arr


# Their public home: tracebacks and reprs say convtool.kernels.KernelError, as before the split.
for _cls in (KernelError, Kernel, Magnitude, KernelInfo):
    _cls.__module__ = "convtool.kernels"
del _cls
