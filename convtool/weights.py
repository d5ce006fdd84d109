"""Kernel weight arithmetic shared by kernel files and the filter chain (pure numpy).

Owns :func:`normalize_weights`, the one meaning of ``--normalize`` and of ``"normalize": true``
in JSON kernel files. Must not import: anything else of convtool, click, rich, PIL.
"""

from __future__ import annotations

import numpy as np

__all__ = ["normalize_weights"]


def normalize_weights(weights: np.ndarray) -> np.ndarray:
    """Divide a kernel by the sum of its weights (per output channel for 4-D kernels).

    A zero-sum kernel (edge detectors) is divided by the sum of its positive weights instead, so
    that its response to a unit step is at most 1 (ImageMagick's ``convolve:scale=!``).

    Examples
    --------
    >>> normalize_weights(np.array([[1.0, 2.0, 1.0]]))
    array([[0.25, 0.5 , 0.25]])
    >>> normalize_weights(np.array([[-1.0, 0.0, 1.0]]))
    array([[-1.,  0.,  1.]])
    """
    w = np.asarray(weights, dtype=np.float64)
    axes = (0, 1, 2) if w.ndim == 4 else (0, 1)
    total = w.sum(axis=axes, keepdims=True)
    positive = np.where(w > 0, w, 0).sum(axis=axes, keepdims=True)
    tiny = 1e-12 * np.abs(w).sum(axis=axes, keepdims=True)
    divisor = np.where(np.abs(total) > tiny, total, positive)
    divisor = np.where(divisor == 0, 1.0, divisor)
    return w / divisor
