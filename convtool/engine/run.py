"""Dispatch: the strategy registry, :func:`correlate` and :func:`convolve`.

Owns: ``STRATEGIES`` (name -> strategy), ``RunInfo`` and the public entry points: plan,
choose a strategy (``auto``: the cost model), run it (OpenBLAS on one thread), add the bias.

Must not import: chain, matching, cli, images, click, rich, PIL.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .._blas import single_threaded_blas
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
    border: str | tuple[str, str],
    cval: float,
    stride: int | tuple[int, int],
    dilation: int | tuple[int, int],
    bias: float | np.ndarray,
    strategy: str,
    info: RunInfo | None,
    origin: int | tuple[int, int] = 0,
    precision: str | None = None,
) -> np.ndarray:
    check_finite_in_dtype(image, kernel, bias, cval)
    plan = make_plan(
        image,
        kernel,
        border=border,
        cval=cval,
        stride=stride,
        dilation=dilation,
        flip=flip,
        origin=origin,
        precision=precision,
    )
    empty = plan.source.size == 0
    name = choose_strategy(plan) if strategy == "auto" and not empty else strategy
    if name not in STRATEGIES and not (empty and name == "auto"):
        raise EngineError(
            f"unknown strategy {strategy!r} (choose from auto, {', '.join(STRATEGIES)})"
        )
    t0 = time.perf_counter()
    if empty:  # an empty image gives an empty output (scipy.ndimage's rule)
        cout = plan.source.shape[2] if plan.depthwise else plan.kernel.shape[3]
        out = np.zeros((*plan.out_shape, cout), plan.dtype)
    else:
        # OpenBLAS on one thread: the strategies keep each GEMM small and parallelize over
        # rows themselves (see _common), so BLAS's own threads only spin beside them (a batch of
        # 40 photos, gaussian:2, 2 workers on 2 busy cores: 22 s with them, 4.5 s without), and
        # its thread count changes the last bit of sums: the same bytes in every run mode.
        with single_threaded_blas():
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


def _spatial_axes(ndim: int, axes: tuple[int, int]) -> tuple[int, int]:
    try:
        pair = tuple(int(a) for a in axes)
    except TypeError:
        raise EngineError(f"axes must be a pair of axes, got {axes!r}") from None
    if len(pair) != 2:
        raise EngineError(f"axes must be a pair of axes, got {axes!r}")
    if not all(-ndim <= a < ndim for a in pair):
        raise EngineError(f"axes {axes!r} out of range for an image of {ndim} dimensions")
    ay, ax = (a % ndim for a in pair)
    if ay == ax:
        raise EngineError(f"axes must be two different axes, got {axes!r}")
    return ay, ax


def _run_axes(
    image: np.ndarray, kernel: np.ndarray, axes: tuple[int, int], **settings
) -> np.ndarray:
    """:func:`_run` with the spatial axes ``axes`` of an N-D image. A 2-D kernel filters
    every other position (batch and channel axes, flattened into channels for the run); a
    3-D or 4-D kernel needs exactly one other axis, its channel axis, which keeps its place
    (and becomes the output channels)."""
    image = np.asarray(image)
    kernel = np.asarray(kernel)
    if image.ndim < 2:
        raise EngineError(f"image must have at least 2 dimensions, got shape {image.shape}")
    ay, ax = _spatial_axes(image.ndim, axes)
    moved = np.moveaxis(image, (ay, ax), (0, 1))
    rest = moved.shape[2:]
    if kernel.ndim == 2:
        flat = moved.reshape(*moved.shape[:2], math.prod(rest))
        out = _run(flat, kernel, **settings)
        out = out.reshape(*out.shape[:2], *rest)
    elif len(rest) == 1:
        out = _run(moved, kernel, **settings)
    else:
        raise EngineError(
            f"a {kernel.ndim}-D kernel needs exactly one channel axis besides axes {axes!r}; "
            f"the image has shape {image.shape}"
        )
    return np.moveaxis(out, (0, 1), (ay, ax))


_SETTINGS_DOC = """
    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, C); any shape with ``axes``
        Any real dtype. Integer images are computed in float32 without rescaling.
        An empty image gives an empty output (as scipy.ndimage).
    kernel : ndarray, shape (kh, kw), (kh, kw, C) or (kh, kw, Cin, Cout)
        Any size, odd or even; the anchor is ``(kh // 2, kw // 2)`` shifted by ``origin``.
    border : str or (str, str)
        Border mode, see :mod:`convtool.engine`; a pair gives one mode per axis (rows,
        columns), as scipy.ndimage's per-axis ``mode`` (one ``cval`` for both; ``full``
        cannot be paired). Corners take both axes' rules (a constant axis gives ``cval``).
    cval : float
        Fill value for ``border="constant"``.
    stride, dilation : int or (int, int)
        Output step and spacing between kernel taps.
    bias : float or sequence
        Added to every output value (one value per output channel allowed).
    strategy : str
        ``"auto"`` or the name of a registered strategy.
    origin : int or (int, int)
        scipy.ndimage's ``origin`` per axis (rows, columns): the tap ``k // 2 + origin`` of the
        kernel as given sits over each output pixel, so a positive origin moves the kernel up
        (left) over the image. Each must lie in ``-(k // 2) .. (k - 1) // 2``. OpenCV's
        ``anchor=(ax, ay)`` of ``cv2.filter2D`` (x first) is ``origin=(ay - kh // 2,
        ax - kw // 2)``. Not with ``border="valid"`` or ``"full"``.
    axes : (int, int), optional
        The two spatial axes (rows, columns) of an image of any number of dimensions; the
        other axes are filtered independently with a 2-D kernel (an ``(N, H, W, C)`` stack:
        ``axes=(1, 2)``), or are the one channel axis of a 3-D or 4-D kernel. The output keeps
        the axes' order. Default: ``(0, 1)`` of a 2-D or 3-D image.
    precision : {None, "float32", "float64"}
        The dtype of the sums (and the output): default float64 for float64 images and
        float32 otherwise; ``"float64"`` sums float32 or integer images in double precision.
    info : RunInfo, optional
        Filled in with the strategy that ran and its time.
"""


def _entry(image, kernel, axes, **settings) -> np.ndarray:
    if axes is None:
        return _run(image, kernel, **settings)
    return _run_axes(image, kernel, axes, **settings)


def correlate(
    image: np.ndarray,
    kernel: np.ndarray,
    *,
    border: str | tuple[str, str] = "reflect",
    cval: float = 0.0,
    stride: int | tuple[int, int] = 1,
    dilation: int | tuple[int, int] = 1,
    bias: float | np.ndarray = 0.0,
    strategy: str = "auto",
    info: RunInfo | None = None,
    origin: int | tuple[int, int] = 0,
    axes: tuple[int, int] | None = None,
    precision: str | None = None,
) -> np.ndarray:
    """Cross-correlate an image with a kernel (what deep-learning "convolution" layers compute).
    {settings}
    Returns
    -------
    ndarray
        float32 (float64 for float64 input or ``precision="float64"``). ``(H', W')`` for a 2-D
        image and a 2-D kernel, otherwise ``(H', W', C')`` (with ``axes``: the image's shape,
        the spatial sizes replaced).

    Examples
    --------
    The chapter's ``corr2d`` example:

    >>> X = np.arange(9.0).reshape(3, 3)
    >>> K = np.array([[0.0, 1.0], [2.0, 3.0]])
    >>> correlate(X, K, border="valid")
    array([[19., 25.],
           [37., 43.]])

    An origin moves the kernel: ``origin=(0, 1)`` puts tap ``(1, 2)`` over each pixel.

    >>> correlate(np.array([[0.0, 0.0, 1.0, 0.0]]), np.array([[1.0, 2.0, 3.0]]),
    ...           border="constant", origin=(0, 1))
    array([[0., 0., 3., 2.]])
    """
    return _entry(
        image,
        kernel,
        axes,
        flip=False,
        border=border,
        cval=cval,
        stride=stride,
        dilation=dilation,
        bias=bias,
        strategy=strategy,
        info=info,
        origin=origin,
        precision=precision,
    )


def convolve(
    image: np.ndarray,
    kernel: np.ndarray,
    *,
    border: str | tuple[str, str] = "reflect",
    cval: float = 0.0,
    stride: int | tuple[int, int] = 1,
    dilation: int | tuple[int, int] = 1,
    bias: float | np.ndarray = 0.0,
    strategy: str = "auto",
    info: RunInfo | None = None,
    origin: int | tuple[int, int] = 0,
    axes: tuple[int, int] | None = None,
    precision: str | None = None,
) -> np.ndarray:
    """True convolution: :func:`correlate` with the kernel flipped in both spatial axes.

    Matches ``scipy.ndimage.convolve`` (also for even kernel sizes, and its ``origin``). With
    ``border="full"`` it is the textbook full convolution, which is commutative.
    {settings}
    Examples
    --------
    >>> convolve(np.array([[0.0, 1.0, 0.0]]), np.array([[1.0, 2.0, 3.0]]), border="full")
    array([[0., 1., 2., 3., 0.]])
    """
    return _entry(
        image,
        kernel,
        axes,
        flip=True,
        border=border,
        cval=cval,
        stride=stride,
        dilation=dilation,
        bias=bias,
        strategy=strategy,
        info=info,
        origin=origin,
        precision=precision,
    )


for _fn in (correlate, convolve):
    _fn.__doc__ = _fn.__doc__.replace("{settings}", _SETTINGS_DOC)  # type: ignore[union-attr]
