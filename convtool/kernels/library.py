"""The named kernels: their grids as module constants, parameter parsing and builders.

Owns every named kernel (``_NAMED``), its parameter signature and :func:`list_kernels`.
Must not import: convtool.engine, convtool.images, click, rich, PIL.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .types import MAX_KERNEL_SIDE, Kernel, KernelError, KernelInfo, Magnitude, _frozen


def _grid(rows: Sequence[Sequence[float]]) -> np.ndarray:
    # Read-only, so that a caller scaling a kernel in place cannot corrupt the module constant.
    arr = np.array(rows, dtype=np.float64)
    arr.flags.writeable = False
    return arr


# --------------------------------------------------------------------------------------------
# Kernel grids (rows top to bottom, as correlation weights: row 0 samples the pixel above)
# --------------------------------------------------------------------------------------------

IDENTITY = _grid(
    [
        [0, 0, 0],
        [0, 1, 0],
        [0, 0, 0],
    ]
)

# Identity minus the 4-neighbour Laplacian: the textbook 3x3 sharpen (sum 1).
SHARPEN = _grid(
    [
        [0, -1, 0],
        [-1, 5, -1],
        [0, -1, 0],
    ]
)

# OpenCV's sign (cv2.Laplacian): negative centre; ImageMagick's Laplacian:1 is the negation.
LAPLACIAN_4 = _grid(
    [
        [0, 1, 0],
        [1, -4, 1],
        [0, 1, 0],
    ]
)

LAPLACIAN_8 = _grid(
    [
        [1, 1, 1],
        [1, -8, 1],
        [1, 1, 1],
    ]
)

SOBEL_X = _grid(
    [
        [-1, 0, 1],
        [-2, 0, 2],
        [-1, 0, 1],
    ]
)

SOBEL_Y = _grid(
    [
        [-1, -2, -1],
        [0, 0, 0],
        [1, 2, 1],
    ]
)

SCHARR_X = _grid(
    [
        [-3, 0, 3],
        [-10, 0, 10],
        [-3, 0, 3],
    ]
)

SCHARR_Y = _grid(
    [
        [-3, -10, -3],
        [0, 0, 0],
        [3, 10, 3],
    ]
)

PREWITT_X = _grid(
    [
        [-1, 0, 1],
        [-1, 0, 1],
        [-1, 0, 1],
    ]
)

PREWITT_Y = _grid(
    [
        [-1, -1, -1],
        [0, 0, 0],
        [1, 1, 1],
    ]
)

# Sum 1, so flat areas keep their intensity; lit from the top left (slopes rising towards the
# bottom right brighten).
EMBOSS = _grid(
    [
        [-2, -1, 0],
        [-1, 1, 1],
        [0, 1, 2],
    ]
)

OUTLINE = _grid(
    [
        [-1, -1, -1],
        [-1, 8, -1],
        [-1, -1, -1],
    ]
)

# Separable factors (column, row) of the derivative grids above.
CENTRAL_DIFFERENCE = _grid([-1, 0, 1])
SOBEL_SMOOTHING = _grid([1, 2, 1])
SCHARR_SMOOTHING = _grid([3, 10, 3])
PREWITT_SMOOTHING = _grid([1, 1, 1])

# Luma weights of R, G, B.
LUMA_601 = _grid([0.299, 0.587, 0.114])
LUMA_709 = _grid([0.2126, 0.7152, 0.0722])

# Microsoft / W3C Filter Effects sepia(1): one row per output channel, columns R, G, B in.
SEPIA = _grid(
    [
        [0.393, 0.769, 0.189],
        [0.349, 0.686, 0.168],
        [0.272, 0.534, 0.131],
    ]
)


# --------------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Param:
    name: str
    kind: type  # int or float
    rule: str | tuple[int, ...] = ""  # "> 0", ">= 0", ">= 1", choices, or "" for any finite
    optional: bool = False
    per_axis: bool = False  # "Y:X" gives one value per axis (rows:columns)


_RULES: dict[str, Callable[[float], bool]] = {
    "> 0": lambda v: v > 0,
    ">= 0": lambda v: v >= 0,
    ">= 1": lambda v: v >= 1,
}


def _signature(params: Sequence[_Param]) -> str:
    required = ",".join(p.name for p in params if not p.optional)
    optional = "".join(f"[,{p.name}]" for p in params if p.optional)
    if not required:
        return f"[{optional[2:-1]}]" if optional else ""
    return required + optional


def _parse_value(kernel: str, param: _Param, token: str) -> float | int:
    if token == "":
        raise KernelError(f"{kernel}: {param.name} is empty")
    if param.kind is int:
        if not re.fullmatch(r"[+-]?\d+", token):
            raise KernelError(f"{kernel}: {param.name} must be an integer, got {token!r}")
        value: float | int = int(token)
    else:
        try:
            value = float(token)
        except ValueError:
            raise KernelError(f"{kernel}: {param.name} must be a number, got {token!r}") from None
        if not math.isfinite(value):
            raise KernelError(f"{kernel}: {param.name} must be a finite number, got {token}")
    if isinstance(param.rule, tuple):
        if value not in param.rule:
            choices = " or ".join(str(c) for c in param.rule)
            raise KernelError(f"{kernel}: {param.name} must be {choices}, got {token}")
    elif param.rule and not _RULES[param.rule](value):
        raise KernelError(f"{kernel}: {param.name} must be {param.rule}, got {token}")
    return value


def _parse_token(kernel: str, param: _Param, token: str) -> Any:
    """One value, or ``(y, x)`` for a per-axis parameter written ``Y:X`` (rows:columns)."""
    if param.per_axis and ":" in token:
        parts = token.split(":")
        if len(parts) != 2:
            raise KernelError(f"{kernel}: {param.name} takes one value or Y:X, got {token!r}")
        return tuple(_parse_value(kernel, param, t.strip()) for t in parts)
    return _parse_value(kernel, param, token)


def _parse_params(kernel: str, params: Sequence[_Param], text: str | None) -> list[Any]:
    tokens = [] if text is None else [t.strip() for t in text.split(",")]
    if not params and tokens:
        raise KernelError(f"{kernel}: takes no parameters, got {text!r}")
    required = sum(not p.optional for p in params)
    if len(tokens) < required or len(tokens) > len(params):
        usage = f"{kernel}:{_signature(params)}"
        if not tokens:
            raise KernelError(f"{kernel}: missing {params[0].name} (usage: {usage})")
        if required == len(params):
            expected = f"{required} parameter{'s' if required > 1 else ''}"
        else:
            joiner = "or" if len(params) == required + 1 else "to"
            expected = f"{required} {joiner} {len(params)} parameters"
        raise KernelError(f"{kernel}: expected {expected} ({usage}), got {len(tokens)}")
    values: list[Any] = [_parse_token(kernel, p, t) for p, t in zip(params, tokens, strict=False)]
    return values + [None] * (len(params) - len(values))


def _check_side(kernel: str, height: float, width: float) -> None:
    if max(height, width) <= MAX_KERNEL_SIDE:
        return
    key = kernel.partition(":")[0]
    limit = f"{MAX_KERNEL_SIDE}x{MAX_KERNEL_SIDE}"
    if not math.isfinite(max(height, width)):
        raise KernelError(f"{key}: kernel would be over the size limit of {limit}")
    raise KernelError(f"{key}: kernel would be {height:.0f}x{width:.0f}, over the limit of {limit}")


def _radius(kernel: str, sigma: float, radius: int | None, truncate: float) -> int:
    if radius is None:
        # Checked before ceil: 3 * 1e308 is inf, which ceil refuses.
        side = 2 * truncate * sigma + 1
        _check_side(kernel, side, side)
        radius = math.ceil(truncate * sigma)
    _check_side(kernel, 2 * radius + 1, 2 * radius + 1)
    return radius


def _gaussian_1d(sigma: float, radius: int) -> np.ndarray:
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    # (x / sigma)**2 rather than x**2 / sigma**2: sigma**2 underflows to 0 for tiny sigma.
    g = np.exp(-0.5 * (x / sigma) ** 2)
    return g / g.sum()


# --------------------------------------------------------------------------------------------
# Builders: (canonical name, parameter values) -> Kernel or Magnitude
# --------------------------------------------------------------------------------------------


def _fixed(grid: np.ndarray, factors: tuple[np.ndarray, np.ndarray] | None = None):
    def build(name: str) -> Kernel:
        return Kernel(name, grid, factors=factors)

    return build


def _axis_pair(value: Any) -> tuple[Any, Any]:
    return value if isinstance(value, tuple) else (value, value)


def _box(name: str, width: int, height: int | None) -> Kernel:
    height = width if height is None else height
    # Size 0 is no filtering along that axis (scipy.ndimage.uniform_filter's size 0).
    height, width = max(height, 1), max(width, 1)
    _check_side(name, height, width)
    col = _frozen(np.full(height, 1.0 / height))
    row = _frozen(np.full(width, 1.0 / width))
    return Kernel(name, _frozen(np.outer(col, row)), factors=(col, row))


def _gaussian(name: str, sigma: Any, radius: Any) -> Kernel:
    sigmas, radii = _axis_pair(sigma), _axis_pair(radius)
    # Sigma 0 is no filtering along that axis (scipy.ndimage.gaussian_filter's rule).
    col, row = (
        _frozen(_gaussian_1d(s, _radius(name, s, r, 3.0)) if s > 0 else np.ones(1))
        for s, r in zip(sigmas, radii, strict=True)
    )
    return Kernel(name, _frozen(np.outer(col, row)), factors=(col, row))


def gaussian_1d(
    sigma: float, *, order: int = 0, radius: int | None = None, truncate: float = 4.0
) -> np.ndarray:
    """1-D correlation weights of a sampled Gaussian or of its ``order``-th derivative.

    The Gaussian is normalized to sum 1, then differentiated exactly (a polynomial times the
    Gaussian, as ``scipy.ndimage.gaussian_filter1d``) and flipped, so that correlating with
    the weights gives the derivative of the smoothed signal (positive where it grows).
    ``radius`` defaults to scipy's ``int(truncate * sigma + 0.5)``; sigma 0 gives ``[1.0]``
    (no filtering) for order 0.

    Examples
    --------
    The first derivative of a ramp is its slope (up to the truncated tails):

    >>> w = gaussian_1d(1.0, order=1)
    >>> w.size, round(float(w @ np.arange(9.0)), 4)
    (9, 0.9999)
    """
    return _derivative_1d("gaussian", sigma, order, radius, truncate)


def _derivative_1d(
    label: str, sigma: float, order: int, radius: int | None, truncate: float
) -> np.ndarray:
    if not 0 <= order <= 3 or int(order) != order:
        raise KernelError(f"{label}: order must be 0, 1, 2 or 3, got {order}")
    if not (math.isfinite(sigma) and sigma >= 0):
        raise KernelError(f"{label}: sigma must be >= 0, got {sigma}")
    if sigma == 0:
        if order:
            raise KernelError(f"{label}: a Gaussian derivative needs sigma > 0 along its axis")
        return np.ones(1)
    if radius is None:
        side = 2 * (truncate * sigma + 0.5) + 1
        _check_side(label, side, side)
        radius = int(truncate * sigma + 0.5)
    _check_side(label, 2 * radius + 1, 2 * radius + 1)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    phi = np.exp(-0.5 * (x / sigma) ** 2)
    phi /= phi.sum()
    # d/dx (q(x) phi(x)) = (q'(x) - q(x) x / sigma^2) phi(x), on q's coefficients.
    q = np.zeros(order + 1)
    q[0] = 1.0
    step = np.diag(np.arange(1.0, order + 1), 1) + np.diag(np.full(order, -1.0 / sigma**2), -1)
    for _ in range(order):
        q = step @ q
    weights = (x[:, None] ** np.arange(order + 1)) @ q * phi
    return weights[::-1].copy()


def gaussian_kernel(
    sigma: float | tuple[float, float],
    *,
    order: int | tuple[int, int] = 0,
    radius: int | tuple[int | None, int | None] | None = None,
    truncate: float = 4.0,
) -> np.ndarray:
    """2-D correlation weights of a Gaussian or a Gaussian derivative, per axis (rows, columns).

    ``correlate(image, gaussian_kernel(s, order=o))`` equals
    ``scipy.ndimage.gaussian_filter(image, s, order=o, truncate=truncate)`` with the same
    border mode: sigma, order and radius take one value or one per axis, the radius defaults
    to scipy's ``int(truncate * sigma + 0.5)``, and sigma 0 leaves that axis unfiltered.
    ``order=(0, 1)`` is d/dx (positive where intensity grows to the right), ``(1, 0)`` d/dy
    (downwards), ``(2, 0) + (0, 2)`` the Laplacian of Gaussian.

    Examples
    --------
    >>> gaussian_kernel((0.0, 1.0), radius=1).round(3)
    array([[0.274, 0.452, 0.274]])
    >>> gaussian_kernel(1.0, order=(1, 0)).shape
    (9, 9)
    """
    (sy, sx), (oy, ox), (ry, rx) = _axis_pair(sigma), _axis_pair(order), _axis_pair(radius)
    col = gaussian_1d(float(sy), order=oy, radius=ry, truncate=truncate)
    row = gaussian_1d(float(sx), order=ox, radius=rx, truncate=truncate)
    return np.outer(col, row)


def _gaussian_derivative(order: tuple[int, int]):
    def build(name: str, sigma: Any, radius: Any) -> Kernel:
        sigmas, radii = _axis_pair(sigma), _axis_pair(radius)
        col, row = (
            _frozen(_derivative_1d(name.partition(":")[0], s, o, r, 4.0))
            for s, o, r in zip(sigmas, order, radii, strict=True)
        )
        return Kernel(name, _frozen(np.outer(col, row)), factors=(col, row))

    return build


def _unsharp(name: str, sigma: float, amount: float | None) -> Kernel:
    amount = 1.0 if amount is None else amount
    g = _gaussian_1d(sigma, _radius(name, sigma, None, 3.0))
    blur = np.outer(g, g)
    identity = np.zeros_like(blur)
    identity[blur.shape[0] // 2, blur.shape[1] // 2] = 1.0
    return Kernel(name, _frozen(identity + amount * (identity - blur)))


def _laplacian(name: str, neighbours: int | None) -> Kernel:
    return Kernel(name, LAPLACIAN_8 if neighbours == 8 else LAPLACIAN_4)


def _log(name: str, sigma: float, radius: int | None) -> Kernel:
    r = _radius(name, sigma, radius, 4.0)
    g = _gaussian_1d(sigma, r)
    x2 = (np.arange(-r, r + 1, dtype=np.float64) / sigma) ** 2
    # Laplacian of the sampled, normalized Gaussian (what scipy.ndimage.gaussian_laplace
    # applies), made exactly zero-sum by subtracting its mean, as MATLAB's fspecial('log').
    w = np.outer(g, g) * (x2[:, None] + x2[None, :] - 2.0) / sigma**2
    return Kernel(name, _frozen(w - w.mean()))


def _dog(name: str, sigma1: float, sigma2: float, radius: int | None) -> Kernel:
    if sigma1 == sigma2:
        raise KernelError(f"dog: S1 and S2 must differ, both are {sigma1:g}")
    r = _radius(name, max(sigma1, sigma2), radius, 3.0)
    g1, g2 = _gaussian_1d(sigma1, r), _gaussian_1d(sigma2, r)
    return Kernel(name, _frozen(np.outer(g1, g1) - np.outer(g2, g2)))


def _motion(name: str, length: int, angle: float) -> Kernel:
    if length >= MAX_KERNEL_SIDE:
        raise KernelError(f"motion: LENGTH must be < {MAX_KERNEL_SIDE}, got {length}")
    theta = math.radians(angle)
    t = np.arange(length, dtype=np.float64) - (length - 1) / 2
    # Rounded so that cos(90 deg) = 6e-17 does not widen the kernel by a column of zeros.
    x = np.round(t * math.cos(theta), 9)
    y = np.round(-t * math.sin(theta), 9)  # rows grow downwards; angles count anticlockwise
    hx, hy = math.ceil(np.abs(x).max()), math.ceil(np.abs(y).max())
    # Each of the `length` unit-spaced samples along the line is split bilinearly over its four
    # nearest taps, so lines at any angle keep their length and stay centred.
    x0, y0 = np.floor(x), np.floor(y)
    fx, fy = x - x0, y - y0
    cols, rows = (x0 + hx).astype(np.intp), (y0 + hy).astype(np.intp)
    w = np.zeros((2 * hy + 2, 2 * hx + 2))
    np.add.at(w, (rows, cols), (1 - fy) * (1 - fx))
    np.add.at(w, (rows, cols + 1), (1 - fy) * fx)
    np.add.at(w, (rows + 1, cols), fy * (1 - fx))
    np.add.at(w, (rows + 1, cols + 1), fy * fx)
    w = w[: 2 * hy + 1, : 2 * hx + 1]
    w = _frozen(w / w.sum())
    if w.shape[0] == 1:
        return Kernel(name, w, factors=(_frozen(np.ones(1)), _frozen(w[0])))
    if w.shape[1] == 1:
        return Kernel(name, w, factors=(_frozen(w[:, 0]), _frozen(np.ones(1))))
    return Kernel(name, w)


def _grayscale(name: str, standard: int | None) -> Kernel:
    luma = LUMA_709 if standard == 709 else LUMA_601
    return Kernel(name, _frozen(luma.reshape(1, 1, 3, 1)))


def _sepia(name: str) -> Kernel:
    return Kernel(name, _frozen(SEPIA.T.reshape(1, 1, 3, 3)))


def _magnitude(gx: np.ndarray, gy: np.ndarray, smoothing: np.ndarray):
    def build(name: str) -> Magnitude:
        return Magnitude(
            name,
            Kernel(f"{name}-x", gx, factors=(smoothing, CENTRAL_DIFFERENCE)),
            Kernel(f"{name}-y", gy, factors=(CENTRAL_DIFFERENCE, smoothing)),
        )

    return build


@dataclass(frozen=True)
class _Named:
    params: tuple[_Param, ...]
    description: str
    build: Callable[..., Kernel | Magnitude]


_SIGMA = _Param("SIGMA", float, "> 0")
_RADIUS = _Param("RADIUS", int, ">= 0", optional=True)
_SIGMA_AXES = _Param("SIGMA", float, ">= 0", per_axis=True)
_RADIUS_AXES = _Param("RADIUS", int, ">= 0", optional=True, per_axis=True)
# Gaussian derivatives by name: (order along rows, order along columns) and what they give.
_DERIVATIVES = {
    "dx": ((0, 1), "d/dx, positive where intensity grows to the right"),
    "dy": ((1, 0), "d/dy, positive where intensity grows downwards"),
    "dxx": ((0, 2), "d2/dx2"),
    "dyy": ((2, 0), "d2/dy2"),
    "dxy": ((1, 1), "d2/dxdy"),
    "dxxx": ((0, 3), "d3/dx3"),
    "dyyy": ((3, 0), "d3/dy3"),
}

_NAMED: dict[str, _Named] = {
    "identity": _Named((), "3x3 identity (output = input)", _fixed(IDENTITY)),
    "box": _Named(
        (_Param("W", int, ">= 0"), _Param("H", int, ">= 0", optional=True)),
        "W x H mean (box:N is N x N); a size 0 leaves that axis unfiltered",
        _box,
    ),
    "gaussian": _Named(
        (_SIGMA_AXES, _RADIUS_AXES),
        "sampled Gaussian, normalized to sum 1; RADIUS defaults to ceil(3*SIGMA); Y:X per axis "
        "(rows:columns); SIGMA 0 leaves that axis unfiltered",
        _gaussian,
    ),
    **{
        f"gaussian-{suffix}": _Named(
            (_SIGMA_AXES, _RADIUS_AXES),
            f"Gaussian derivative {text} (scipy gaussian_filter order={order}); RADIUS "
            "defaults to int(4*SIGMA+0.5); Y:X per axis",
            _gaussian_derivative(order),
        )
        for suffix, (order, text) in _DERIVATIVES.items()
    },
    "sharpen": _Named((), "3x3 sharpen: identity minus the 4-neighbour Laplacian", _fixed(SHARPEN)),
    "unsharp": _Named(
        (_SIGMA, _Param("AMOUNT", float, ">= 0", optional=True)),
        "unsharp mask: identity + AMOUNT*(identity - gaussian:SIGMA); AMOUNT defaults to 1",
        _unsharp,
    ),
    "laplacian": _Named(
        (_Param("N", int, (4, 8), optional=True),),
        "3x3 Laplacian, 4 or 8 neighbours (default 4), negative centre as OpenCV",
        _laplacian,
    ),
    "log": _Named(
        (_SIGMA, _RADIUS),
        "Laplacian of Gaussian, zero-sum, negative centre; RADIUS defaults to ceil(4*SIGMA)",
        _log,
    ),
    "dog": _Named(
        (_Param("S1", float, "> 0"), _Param("S2", float, "> 0"), _RADIUS),
        "difference of Gaussians G(S1) - G(S2), zero-sum; RADIUS defaults to ceil(3*max(S1,S2))",
        _dog,
    ),
    "sobel-x": _Named(
        (),
        "3x3 Sobel d/dx, positive where intensity grows to the right",
        _fixed(SOBEL_X, (SOBEL_SMOOTHING, CENTRAL_DIFFERENCE)),
    ),
    "sobel-y": _Named(
        (),
        "3x3 Sobel d/dy, positive where intensity grows downwards",
        _fixed(SOBEL_Y, (CENTRAL_DIFFERENCE, SOBEL_SMOOTHING)),
    ),
    "sobel": _Named(
        (),
        "Sobel gradient magnitude sqrt(gx^2 + gy^2)",
        _magnitude(SOBEL_X, SOBEL_Y, SOBEL_SMOOTHING),
    ),
    "scharr-x": _Named(
        (),
        "3x3 Scharr d/dx, positive where intensity grows to the right",
        _fixed(SCHARR_X, (SCHARR_SMOOTHING, CENTRAL_DIFFERENCE)),
    ),
    "scharr-y": _Named(
        (),
        "3x3 Scharr d/dy, positive where intensity grows downwards",
        _fixed(SCHARR_Y, (CENTRAL_DIFFERENCE, SCHARR_SMOOTHING)),
    ),
    "scharr": _Named(
        (),
        "Scharr gradient magnitude sqrt(gx^2 + gy^2)",
        _magnitude(SCHARR_X, SCHARR_Y, SCHARR_SMOOTHING),
    ),
    "prewitt-x": _Named(
        (),
        "3x3 Prewitt d/dx, positive where intensity grows to the right",
        _fixed(PREWITT_X, (PREWITT_SMOOTHING, CENTRAL_DIFFERENCE)),
    ),
    "prewitt-y": _Named(
        (),
        "3x3 Prewitt d/dy, positive where intensity grows downwards",
        _fixed(PREWITT_Y, (CENTRAL_DIFFERENCE, PREWITT_SMOOTHING)),
    ),
    "prewitt": _Named(
        (),
        "Prewitt gradient magnitude sqrt(gx^2 + gy^2)",
        _magnitude(PREWITT_X, PREWITT_Y, PREWITT_SMOOTHING),
    ),
    "emboss": _Named((), "3x3 emboss (sum 1), lit from the top left", _fixed(EMBOSS)),
    "outline": _Named((), "3x3 outline: 8 in the centre, -1 around (zero-sum)", _fixed(OUTLINE)),
    "motion": _Named(
        (_Param("LENGTH", int, ">= 1"), _Param("ANGLE", float)),
        "motion blur along a LENGTH-pixel line at ANGLE degrees anticlockwise from the x axis",
        _motion,
    ),
    "grayscale": _Named(
        (_Param("STANDARD", int, (601, 709), optional=True),),
        "RGB to luma, 1x1x3->1 (601: 0.299/0.587/0.114, the default; 709: 0.2126/0.7152/0.0722)",
        _grayscale,
    ),
    "sepia": _Named((), "RGB to sepia, 1x1x3->3 (Microsoft/W3C sepia matrix)", _sepia),
}

_DERIVED_NAMES = frozenset(f"gaussian-{suffix}" for suffix in _DERIVATIVES)


def list_kernels() -> list[KernelInfo]:
    """Every named kernel with its parameter signature and a one-line description.

    Returns
    -------
    list of KernelInfo
        ``(name, params, description)`` in a stable order; ``params`` is ``""`` for kernels
        without parameters and brackets mark optional ones.

    Examples
    --------
    >>> info = {k.name: k for k in list_kernels()}
    >>> info["gaussian"].params
    'SIGMA[,RADIUS]'
    >>> info["laplacian"].params
    '[N]'
    """
    return [KernelInfo(name, _signature(n.params), n.description) for name, n in _NAMED.items()]
