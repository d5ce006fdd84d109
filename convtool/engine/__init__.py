"""
The layer computed is the one of *Dive into Deep Learning*, "From fully connected layers to
convolutions"::

    H[i, j, d] = bias[d] + sum_a sum_b sum_c V[a, b, c, d] * X[i + a - ah, j + b - aw, c]

with the anchor ``(ah, aw) = (kh // 2, kw // 2)`` (OpenCV's default anchor, scipy.ndimage's
``origin=0``); ``origin=(oy, ox)`` moves it to ``(kh // 2 + oy, kw // 2 + ox)``, as scipy's
``origin`` and OpenCV's ``anchor`` (x first there). Out-of-image samples come from the border
mode, one per axis if asked. :func:`convolve` is the true
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

Layout (each module's docstring says what it owns and must not import): ``plan`` (validation,
Plan, border modes and index maps), ``_common`` (helpers shared by the strategies), one module
per strategy (``direct``, ``strips``, ``im2row`` for ``gemm``, ``separable`` with ``rank``,
``fft``, ``small`` for images that stay in L2, ``boxsum`` for ``box`` kernels), ``cost``
(the cost model and ``auto``'s choice), ``run`` (the registry, :func:`correlate`,
:func:`convolve`). Threads and scratch arrays come from
:mod:`convtool.runtime`; OpenBLAS is held to one thread while a strategy runs
(:mod:`convtool._blas`): the results do not depend on its thread count.

Must not import: chain, matching, cli, images, click, rich, PIL.
"""

from __future__ import annotations

from ..runtime import release_scratch

# The submodules whose tuning constants tests and tests/bench scripts patch.
from . import cost as cost
from . import im2row as im2row
from . import separable as separable

# Private names tests and tests/bench scripts reach as ``engine.<name>``.
from ._common import _same_on_all_channels as _same_on_all_channels
from .boxsum import box_into
from .cost import choose_strategy, estimate_costs
from .fft import next_fast_len
from .plan import (
    BORDER_ALIASES,
    BORDER_MODES,
    EngineError,
    Plan,
    compute_dtype,
    index_map,
    make_plan,
    normalize_border,
    normalize_borders,
    pad_image,
)
from .plan import _RowSource as _RowSource
from .rank import _rank_factors as _rank_factors
from .rank import kernel_rank
from .run import STRATEGIES, RunInfo, convolve, correlate

__all__ = [
    "BORDER_ALIASES",
    "BORDER_MODES",
    "STRATEGIES",
    "EngineError",
    "Plan",
    "RunInfo",
    "box_into",
    "choose_strategy",
    "compute_dtype",
    "convolve",
    "correlate",
    "estimate_costs",
    "index_map",
    "kernel_rank",
    "make_plan",
    "next_fast_len",
    "normalize_border",
    "normalize_borders",
    "pad_image",
    "release_scratch",
]
