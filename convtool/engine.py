"""The convolution engine: multi-channel 2-D cross-correlation and convolution in numpy.

The layer computed is the one of *Dive into Deep Learning*, "From fully connected layers to
convolutions"::

    H[i, j, d] = bias[d] + sum_a sum_b sum_c V[a, b, c, d] * X[i + a - ah, j + b - aw, c]

with the anchor ``(ah, aw) = (kh // 2, kw // 2)`` (OpenCV's default anchor, scipy.ndimage's
``origin=0``). Out-of-image samples come from the border mode. :func:`convolve` is the true
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
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = [
    "BORDER_ALIASES",
    "BORDER_MODES",
    "EngineError",
    "convolve",
    "correlate",
    "normalize_border",
]

BORDER_MODES = ("reflect", "mirror", "nearest", "wrap", "constant", "valid", "full")
BORDER_ALIASES = {
    "reflect101": "mirror",
    "reflect_101": "mirror",
    "replicate": "nearest",
    "edge": "nearest",
    "zero": "constant",
    "periodic": "wrap",
    "symmetric": "reflect",
}

# np.pad names for the padding border modes.
_NUMPY_PAD_MODE = {
    "reflect": "symmetric",
    "mirror": "reflect",
    "nearest": "edge",
    "wrap": "wrap",
    "constant": "constant",
    "full": "constant",
}


class EngineError(ValueError):
    """Invalid arguments to the engine (shapes, modes, sizes)."""


def normalize_border(border: str) -> tuple[str, bool]:
    """Return ``(canonical_mode, force_zero_cval)`` for a mode name or alias.

    Examples
    --------
    >>> normalize_border("reflect101")
    ('mirror', False)
    >>> normalize_border("zero")
    ('constant', True)
    """
    name = border.lower()
    canonical = BORDER_ALIASES.get(name, name)
    if canonical not in BORDER_MODES:
        choices = ", ".join(BORDER_MODES + tuple(BORDER_ALIASES))
        raise EngineError(f"unknown border mode {border!r} (choose from {choices})")
    return canonical, name == "zero"


@dataclass(frozen=True)
class Plan:
    """Everything a strategy needs, validated once.

    ``image`` is ``(H, W, C)`` in the compute dtype, ``kernel`` is ``(kh, kw, Cin, Cout)``
    (depthwise kernels are kept as ``(kh, kw, C)`` in ``depthwise`` instead, since expanding them
    to a diagonal 4-D kernel would multiply the work by C).
    """

    image: np.ndarray
    kernel: np.ndarray
    depthwise: bool
    border: str
    cval: float
    stride: tuple[int, int]
    dilation: tuple[int, int]
    out_shape: tuple[int, int]
    # Padding (top, bottom, left, right) applied before a 'valid' correlation.
    pad: tuple[int, int, int, int]


def _pair(value: int | tuple[int, int], name: str) -> tuple[int, int]:
    if isinstance(value, (int, np.integer)):
        pair = (int(value), int(value))
    else:
        pair = tuple(int(v) for v in value)
        if len(pair) != 2:
            raise EngineError(f"{name} must be an integer or a pair of integers")
    if pair[0] < 1 or pair[1] < 1:
        raise EngineError(f"{name} must be at least 1, got {value}")
    return pair  # type: ignore[return-value]


def _compute_dtype(image: np.ndarray) -> np.dtype:
    # float32 is enough for 8/16-bit data (24-bit mantissa); float64 input asks for float64.
    return np.dtype(np.float64) if image.dtype == np.float64 else np.dtype(np.float32)


def make_plan(
    image: np.ndarray,
    kernel: np.ndarray,
    *,
    border: str = "reflect",
    cval: float = 0.0,
    stride: int | tuple[int, int] = 1,
    dilation: int | tuple[int, int] = 1,
    flip: bool = False,
) -> Plan:
    """Validate the arguments and bring image and kernel to canonical shapes."""
    image = np.asarray(image)
    kernel = np.asarray(kernel)
    if image.ndim not in (2, 3):
        raise EngineError(f"image must be 2-D (H, W) or 3-D (H, W, C), got shape {image.shape}")
    if image.size == 0:
        raise EngineError(f"image is empty (shape {image.shape})")
    if not (np.issubdtype(image.dtype, np.number) or image.dtype == np.bool_):
        raise EngineError(f"image must be numeric, got dtype {image.dtype}")
    if np.iscomplexobj(image) or np.iscomplexobj(kernel):
        raise EngineError("complex images and kernels are not supported")
    if kernel.ndim not in (2, 3, 4):
        raise EngineError(f"kernel must be 2-D, 3-D or 4-D, got shape {kernel.shape}")
    if kernel.size == 0:
        raise EngineError(f"kernel is empty (shape {kernel.shape})")
    if not np.all(np.isfinite(kernel)):
        raise EngineError("kernel holds NaN or infinite values")
    mode, zero = normalize_border(border)
    sy, sx = _pair(stride, "stride")
    dy, dx = _pair(dilation, "dilation")
    dtype = _compute_dtype(image)
    img = image.astype(dtype, copy=False)
    if img.ndim == 2:
        img = img[:, :, None]
    h, w, c = img.shape

    k = kernel.astype(dtype, copy=False)
    if flip:
        k = k[::-1, ::-1]
    depthwise = False
    if k.ndim == 2:
        k = k[:, :, None]
        depthwise = True
        if c > 1:
            k = np.broadcast_to(k, k.shape[:2] + (c,))
    elif k.ndim == 3:
        if k.shape[2] != c:
            raise EngineError(
                f"a 3-D kernel needs one 2-D kernel per channel: kernel has {k.shape[2]}, "
                f"image has {c} channel(s)"
            )
        depthwise = True
    elif k.shape[2] != c:
        raise EngineError(f"4-D kernel expects {k.shape[2]} input channel(s), image has {c}")
    kh, kw = k.shape[:2]
    eh, ew = (kh - 1) * dy + 1, (kw - 1) * dx + 1
    if mode == "valid":
        if eh > h or ew > w:
            raise EngineError(
                f"kernel ({kh}x{kw}, dilation {dy}x{dx}) is larger than the image ({h}x{w}) "
                "with border 'valid'"
            )
        pad = (0, 0, 0, 0)
    elif mode == "full":
        pad = (eh - 1, eh - 1, ew - 1, ew - 1)
    else:
        # The anchor sits at (kh // 2, kw // 2) taps; flipping for true convolution moves it to
        # kh - 1 - kh // 2 so that convolve matches the textbook sum X[i - a] K[a].
        ah = (kh - 1 - kh // 2) if flip else kh // 2
        aw = (kw - 1 - kw // 2) if flip else kw // 2
        pad = (ah * dy, eh - 1 - ah * dy, aw * dx, ew - 1 - aw * dx)
    full_h = h + pad[0] + pad[1] - eh + 1
    full_w = w + pad[2] + pad[3] - ew + 1
    out_shape = (-(-full_h // sy), -(-full_w // sx))
    return Plan(
        image=img,
        kernel=np.ascontiguousarray(k),
        depthwise=depthwise,
        border=mode,
        cval=0.0 if (zero or mode == "full") else float(cval),
        stride=(sy, sx),
        dilation=(dy, dx),
        out_shape=out_shape,
        pad=pad,
    )


def pad_image(plan: Plan, image: np.ndarray | None = None) -> np.ndarray:
    """Pad ``(H, W, C)`` image by the plan's border mode (a copy; the input is not touched)."""
    img = plan.image if image is None else image
    top, bottom, left, right = plan.pad
    if not any(plan.pad):
        return img
    widths = ((top, bottom), (left, right), (0, 0))
    mode = _NUMPY_PAD_MODE[plan.border]
    if mode == "constant":
        return np.pad(img, widths, mode="constant", constant_values=plan.cval)
    if mode == "reflect" and min(img.shape[:2]) == 1:
        # The mirror of a single sample is that sample; np.pad refuses to mirror a 1-long axis.
        for axis in (0, 1):
            axis_widths = [(0, 0)] * 3
            axis_widths[axis] = widths[axis]
            img = np.pad(img, axis_widths, mode="edge" if img.shape[axis] == 1 else mode)
        return img
    return np.pad(img, widths, mode=mode)


def _direct(plan: Plan) -> np.ndarray:
    """Reference path: shift-and-add over the kernel taps on the padded image.

    Cost: kh*kw passes over the output (times Cout for 4-D kernels, done as one small matrix
    product per tap); memory: the padded image plus the output.
    """
    padded = pad_image(plan)
    kh, kw = plan.kernel.shape[:2]
    sy, sx = plan.stride
    dy, dx = plan.dilation
    oh, ow = plan.out_shape
    cout = plan.image.shape[2] if plan.depthwise else plan.kernel.shape[3]
    out = np.zeros((oh, ow, cout), dtype=plan.image.dtype)
    tmp = np.empty_like(out)
    for a in range(kh):
        for b in range(kw):
            y0, x0 = a * dy, b * dx
            window = padded[y0 : y0 + (oh - 1) * sy + 1 : sy, x0 : x0 + (ow - 1) * sx + 1 : sx]
            if plan.depthwise:
                np.multiply(window, plan.kernel[a, b], out=tmp)
                out += tmp
            else:
                out += window @ plan.kernel[a, b]
    return out


# Strategies are registered by name; "auto" picks one with a cost model (see choose_strategy).
STRATEGIES: dict[str, Callable[[Plan], np.ndarray]] = {"direct": _direct}


def choose_strategy(plan: Plan) -> str:
    """Pick the cheapest registered strategy for a plan."""
    return "direct"


@dataclass
class RunInfo:
    """What ran: filled in by :func:`correlate` when given one (for ``-v``)."""

    strategy: str = ""
    seconds: float = 0.0


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
    import time

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
        Border mode, see the module docstring.
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
