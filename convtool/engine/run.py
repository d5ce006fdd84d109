"""Dispatch: the strategy registry, :func:`correlate` and :func:`convolve`.

Owns: ``STRATEGIES`` (name -> strategy), ``RunInfo`` and the public entry points: plan,
choose a strategy (``auto``: the cost model), run it, add the bias.

Must not import: matching/template, cli, images, click, rich, PIL.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .boxsum import _box
from .cost import choose_strategy
from .direct import _direct
from .fft import _fft
from .im2row import _gemm
from .plan import EngineError, Plan, make_plan
from .separable import _separable
from .small import _small
from .strips import _strips

# Strategies are registered by name; "auto" picks one with a cost model (see choose_strategy).
STRATEGIES: dict[str, Callable[[Plan], np.ndarray]] = {
    "direct": _direct,
    "strips": _strips,
    "separable": _separable,
    "gemm": _gemm,
    "fft": _fft,
    "small": _small,
    "box": _box,
}


@dataclass
class RunInfo:
    """What ran: filled in by :func:`correlate` when given one (for ``-v``)."""

    strategy: str = ""
    seconds: float = 0.0


def check_finite_in_dtype(image, kernel, bias=0.0, cval=0.0) -> None:
    """Raise :class:`EngineError` for a weight, bias or ``cval`` beyond the compute dtype.

    float32 (every input but float64) overflows to infinity beyond ~3.4e38: a kernel of
    1e50 would filter to inf and NaN (and once sent the rank factorization into an endless
    loop). The first offending tap is named; NaN and infinity are left to :func:`make_plan`.

    Examples
    --------
    >>> check_finite_in_dtype(np.zeros((4, 4), np.float32), np.array([[1.0, 1e50]]))
    Traceback (most recent call last):
    ...
    convtool.engine.plan.EngineError: kernel weight 1e+50 at (0, 1) exceeds float32 (max 3.4e+38)
    """
    arr = np.asarray(image)
    dtype = np.float64 if arr.dtype == np.float64 else np.float32
    limit = float(np.finfo(dtype).max)
    for name, value in (("kernel weight", kernel), ("bias", bias), ("cval", cval)):
        values = np.asarray(value)
        if values.dtype.kind not in "iuf" or values.size == 0:
            continue  # make_plan reports a kernel of the wrong type; bias and cval are numbers
        wide = values.astype(np.float64, copy=False)
        over = np.isfinite(wide) & (np.abs(wide) > limit)  # NaN, inf: make_plan's message
        if over.any():
            where = np.unravel_index(int(np.argmax(over)), values.shape)
            at = f" at {tuple(int(i) for i in where)}" if values.ndim else ""
            raise EngineError(
                f"{name} {values[where]:.3g}{at} exceeds {np.dtype(dtype).name} (max {limit:.2g})"
            )


def _run(
    image: np.ndarray,
    kernel: np.ndarray,
    *,
    flip: bool,
    border: str,
    cval: float,
    stride: int | tuple[int, int],
    dilation: int | tuple[int, int],
    bias: float | np.ndarray,
    strategy: str,
    info: RunInfo | None,
) -> np.ndarray:
    check_finite_in_dtype(image, kernel, bias, cval)
    plan = make_plan(
        image, kernel, border=border, cval=cval, stride=stride, dilation=dilation, flip=flip
    )
    name = choose_strategy(plan) if strategy == "auto" else strategy
    if name not in STRATEGIES:
        raise EngineError(
            f"unknown strategy {strategy!r} (choose from auto, {', '.join(STRATEGIES)})"
        )
    t0 = time.perf_counter()
    out = STRATEGIES[name](plan)
    if info is not None:
        info.strategy = name
        info.seconds = time.perf_counter() - t0
    if not (isinstance(bias, (int, float)) and bias == 0):  # the checks cost ~10 us
        bias_arr = np.asarray(bias, dtype=out.dtype)
        if bias_arr.ndim > 1 or (bias_arr.ndim == 1 and bias_arr.shape[0] not in (1, out.shape[2])):
            raise EngineError(
                f"bias must be a number or one value per output channel ({out.shape[2]}), "
                f"got shape {bias_arr.shape}"
            )
        if np.any(bias_arr != 0):
            out += bias_arr
    if np.asarray(image).ndim == 2 and out.shape[2] == 1:
        out = out[:, :, 0]
    return out


def correlate(
    image: np.ndarray,
    kernel: np.ndarray,
    *,
    border: str = "reflect",
    cval: float = 0.0,
    stride: int | tuple[int, int] = 1,
    dilation: int | tuple[int, int] = 1,
    bias: float | np.ndarray = 0.0,
    strategy: str = "auto",
    info: RunInfo | None = None,
) -> np.ndarray:
    """Cross-correlate an image with a kernel (what deep-learning "convolution" layers compute).

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, C)
        Any real dtype. Integer images are computed in float32 without rescaling.
    kernel : ndarray, shape (kh, kw), (kh, kw, C) or (kh, kw, Cin, Cout)
        Any size, odd or even; the anchor is ``(kh // 2, kw // 2)``.
    border : str
        Border mode, see :mod:`convtool.engine`.
    cval : float
        Fill value for ``border="constant"``.
    stride, dilation : int or (int, int)
        Output step and spacing between kernel taps.
    bias : float or sequence
        Added to every output value (one value per output channel allowed).
    strategy : str
        ``"auto"`` or the name of a registered strategy.

    Returns
    -------
    ndarray
        float32 (float64 for float64 input). ``(H', W')`` for a 2-D image and a 2-D kernel,
        otherwise ``(H', W', C')``.

    Examples
    --------
    The chapter's ``corr2d`` example:

    >>> X = np.arange(9.0).reshape(3, 3)
    >>> K = np.array([[0.0, 1.0], [2.0, 3.0]])
    >>> correlate(X, K, border="valid")
    array([[19., 25.],
           [37., 43.]])
    """
    return _run(
        image,
        kernel,
        flip=False,
        border=border,
        cval=cval,
        stride=stride,
        dilation=dilation,
        bias=bias,
        strategy=strategy,
        info=info,
    )


def convolve(
    image: np.ndarray,
    kernel: np.ndarray,
    *,
    border: str = "reflect",
    cval: float = 0.0,
    stride: int | tuple[int, int] = 1,
    dilation: int | tuple[int, int] = 1,
    bias: float | np.ndarray = 0.0,
    strategy: str = "auto",
    info: RunInfo | None = None,
) -> np.ndarray:
    """True convolution: :func:`correlate` with the kernel flipped in both spatial axes.

    Matches ``scipy.ndimage.convolve`` (also for even kernel sizes). With ``border="full"``
    it is the textbook full convolution, which is commutative.

    Examples
    --------
    >>> convolve(np.array([[0.0, 1.0, 0.0]]), np.array([[1.0, 2.0, 3.0]]), border="full")
    array([[0., 1., 2., 3., 0.]])
    """
    return _run(
        image,
        kernel,
        flip=True,
        border=border,
        cval=cval,
        stride=stride,
        dilation=dilation,
        bias=bias,
        strategy=strategy,
        info=info,
    )
