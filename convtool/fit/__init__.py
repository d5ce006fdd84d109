"""Fit a kernel to an (input, target) image pair: the learning side of the convolution layer.

Owns the public API of ``convtool fit``: :func:`fit_kernel` (normal equations accumulated over
strips of im2row windows, then solved), the :class:`FitResult` it returns and the kernel file
document it writes. The strips of windows and the sums over them live in
:mod:`convtool.fit.windows`, the solve and the quality figures in :mod:`convtool.fit.normal`, the
closest-named-kernel search in :mod:`convtool.fit.named`.

Must not import: click, rich, PIL, the CLI or the image I/O package (pure numpy, like the engine).
"""

from __future__ import annotations

from .named import NamedMatch, closest_named
from .normal import CHANNEL_MODES, COND_WARN, FitError, FitResult, fit_kernel

__all__ = [
    "CHANNEL_MODES",
    "COND_WARN",
    "FitError",
    "FitResult",
    "NamedMatch",
    "closest_named",
    "fit_kernel",
]
