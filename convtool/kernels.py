"""Named kernels and kernel files.

A kernel spec is either a name with optional parameters after a colon (``gaussian:2``,
``box:5,3``, ``motion:9,30``) or the path of a kernel file:

``.txt`` (or any other text file)
    One row per line, numbers separated by spaces and/or commas, ``#`` starts a comment,
    blank lines are ignored. Always 2-D.
``.json``
    ``{"weights": [[...]], "bias": 0.0, "normalize": false}`` or a bare nested list. Weights may be
    2-D ``(kh, kw)``, 3-D ``(kh, kw, C)`` or 4-D ``(kh, kw, Cin, Cout)``; ``bias`` is a number or
    one number per output channel; ``normalize`` divides the weights by their sum as
    ``convtool filter --normalize`` does. ``name`` and ``shape`` keys (as written by
    ``convtool kernels --json``) are accepted; ``shape`` must then match the weights.
``.npy``
    A real numeric array of 2 to 4 dimensions, loaded without unpickling.

A spec is read as a file when its name part is not a named kernel and it exists as a file, ends in
``.txt``/``.json``/``.npy`` or contains a path separator; so ``./sharpen`` reads a file called
``sharpen`` while ``sharpen`` is the named kernel.

Sign conventions (under correlation, the default of ``convtool filter``): ``sobel-x`` is positive
where intensity grows to the right and ``sobel-y`` where it grows downwards, exactly as
``cv2.Sobel`` with ``dx=1`` / ``dy=1``; the Laplacians have a negative centre, as
``cv2.Laplacian``. Derivative kernels are not normalized (OpenCV's weights); ``--normalize``
scales them so that a unit step gives a response of 1.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ._npy import NPY_MAGIC, load_npy

__all__ = [
    "MAX_KERNEL_SIDE",
    "Kernel",
    "KernelError",
    "KernelInfo",
    "Magnitude",
    "list_kernels",
    "parse_kernel",
    "separable_factors",
]

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


def _grid(rows: Sequence[Sequence[float]]) -> np.ndarray:
    # Read-only, so that a caller scaling a kernel in place cannot corrupt the module constant.
    arr = np.array(rows, dtype=np.float64)
    arr.flags.writeable = False
    return arr


def _frozen(arr: np.ndarray) -> np.ndarray:
    arr = np.ascontiguousarray(arr, dtype=np.float64)
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
    values: list[Any] = [_parse_value(kernel, p, t) for p, t in zip(params, tokens, strict=False)]
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


def _box(name: str, width: int, height: int | None) -> Kernel:
    height = width if height is None else height
    _check_side(name, height, width)
    col = _frozen(np.full(height, 1.0 / height))
    row = _frozen(np.full(width, 1.0 / width))
    return Kernel(name, _frozen(np.outer(col, row)), factors=(col, row))


def _gaussian(name: str, sigma: float, radius: int | None) -> Kernel:
    g = _frozen(_gaussian_1d(sigma, _radius(name, sigma, radius, 3.0)))
    return Kernel(name, _frozen(np.outer(g, g)), factors=(g, g))


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

_NAMED: dict[str, _Named] = {
    "identity": _Named((), "3x3 identity (output = input)", _fixed(IDENTITY)),
    "box": _Named(
        (_Param("W", int, ">= 1"), _Param("H", int, ">= 1", optional=True)),
        "W x H mean (box:N is N x N)",
        _box,
    ),
    "gaussian": _Named(
        (_SIGMA, _RADIUS),
        "sampled Gaussian, normalized to sum 1; RADIUS defaults to ceil(3*SIGMA)",
        _gaussian,
    ),
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


# --------------------------------------------------------------------------------------------
# Kernel files
# --------------------------------------------------------------------------------------------


def _finish(
    label: str,
    weights: np.ndarray,
    *,
    bias: float | np.ndarray = 0.0,
    normalize: bool = False,
) -> Kernel:
    """Validate an array read from a file and wrap it in a Kernel."""
    if weights.dtype.kind not in "biuf":
        raise KernelError(f"{label}: kernel must hold real numbers, got dtype {weights.dtype}")
    if weights.ndim not in (2, 3, 4):
        raise KernelError(
            f"{label}: kernel must be 2-D, 3-D or 4-D, got {weights.ndim}-D "
            f"(shape {tuple(weights.shape)})"
        )
    if weights.size == 0:
        raise KernelError(f"{label}: kernel is empty (shape {tuple(weights.shape)})")
    weights = weights.astype(np.float64)
    if not np.all(np.isfinite(weights)):
        raise KernelError(f"{label}: kernel holds NaN or infinite values")
    if normalize:
        # Imported here: filtering imports this module, and --normalize must mean the same thing.
        from .filtering import normalize_weights

        weights = normalize_weights(weights)
    return Kernel(label, _frozen(weights), bias=bias)


def _count(n: int, noun: str) -> str:
    plural = noun[:-1] + "ies" if noun.endswith("y") else noun + "s"
    return f"{n} {noun if n == 1 else plural}"


def _load_text(label: str, data: bytes) -> Kernel:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise KernelError(f"{label}: not a UTF-8 text kernel file") from None
    rows: list[list[float]] = []
    first_line = 0
    for number, line in enumerate(text.splitlines(), start=1):
        tokens = [t for t in re.split(r"[\s,]+", line.split("#", 1)[0]) if t]
        if not tokens:
            continue
        row = []
        for token in tokens:
            try:
                value = float(token)
            except ValueError:
                raise KernelError(f"{label}: line {number}: {token!r} is not a number") from None
            if not math.isfinite(value):
                raise KernelError(
                    f"{label}: line {number}: {token!r} is not allowed (NaN or infinite)"
                )
            row.append(value)
        if rows and len(row) != len(rows[0]):
            raise KernelError(
                f"{label}: line {number} has {_count(len(row), 'value')}, expected "
                f"{len(rows[0])} as on line {first_line}"
            )
        if not rows:
            first_line = number
        rows.append(row)
    if not rows:
        raise KernelError(f"{label}: empty kernel file (no numbers)")
    return _finish(label, np.array(rows, dtype=np.float64))


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    return "an object" if isinstance(value, dict) else "a list"


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _nested_array(label: str, key: str, value: object) -> np.ndarray:
    """Turn a JSON nested list into an array, naming the first ragged or non-numeric entry."""
    if not isinstance(value, list):
        raise KernelError(
            f"{label}: {key} must be a nested list of numbers, got {_json_type(value)}"
        )

    def where(index: tuple[int, ...]) -> str:
        return key + "".join(f"[{i}]" for i in index)

    shape: list[int] = []
    level: list[tuple[tuple[int, ...], list]] = [((), value)]
    while True:
        n = len(level[0][1])
        for index, items in level:
            if len(items) != n:
                raise KernelError(
                    f"{label}: {where(index)} has {_count(len(items), 'entry')}, expected {n} "
                    f"as in {where(level[0][0])}"
                )
        if n == 0:
            raise KernelError(f"{label}: {where(level[0][0])} is empty")
        shape.append(n)
        children = [((*index, i), c) for index, items in level for i, c in enumerate(items)]
        if not isinstance(children[0][1], list):
            break
        for index, child in children:
            if not isinstance(child, list):
                raise KernelError(
                    f"{label}: {where(index)} is {_json_type(child)}, expected a list "
                    f"like {where(children[0][0])}"
                )
        level = children
    for index, child in children:
        if not _is_number(child):
            raise KernelError(
                f"{label}: {where(index)} must be a number, got {_json_type(child)} "
                f"({json.dumps(child)})"
            )
    try:
        flat = np.array([c for _, c in children], dtype=np.float64)
    except OverflowError:
        raise KernelError(f"{label}: {key} holds a number too large for a float") from None
    return flat.reshape(shape)


def _json_bias(label: str, value: object, weights: np.ndarray) -> float | np.ndarray:
    if _is_number(value):
        bias = float(value)  # type: ignore[arg-type]
        if not math.isfinite(bias):
            raise KernelError(f"{label}: bias must be finite")
        return bias
    if not isinstance(value, list) or not all(_is_number(v) for v in value) or not value:
        raise KernelError(f"{label}: bias must be a number or a list of numbers")
    arr = np.array(value, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise KernelError(f"{label}: bias must be finite")
    if weights.ndim >= 3:
        channels = weights.shape[-1]
        if arr.size not in (1, channels):
            raise KernelError(
                f"{label}: bias has {arr.size} values, expected 1 or {channels} "
                f"(one per output channel)"
            )
    return _frozen(arr)


_JSON_KEYS = ("name", "shape", "weights", "bias", "normalize")


def _reject_constant(token: str) -> None:
    raise KernelError(f"{token} is not allowed")


def _load_json(label: str, data: bytes) -> Kernel:
    try:
        doc = json.loads(data.decode("utf-8-sig"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise KernelError(f"{label}: not a UTF-8 JSON kernel file") from None
    except json.JSONDecodeError as exc:
        if not data.strip():
            raise KernelError(f"{label}: empty kernel file") from None
        raise KernelError(
            f"{label}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except KernelError as exc:
        raise KernelError(f"{label}: {exc} (weights must be finite numbers)") from None
    if isinstance(doc, list):
        return _finish(label, _nested_array(label, "weights", doc))
    if not isinstance(doc, dict):
        raise KernelError(
            f'{label}: expected an object with "weights" or a nested list, got {_json_type(doc)}'
        )
    unknown = [k for k in doc if k not in _JSON_KEYS]
    if unknown:
        raise KernelError(f"{label}: unknown key {unknown[0]!r} (expected {', '.join(_JSON_KEYS)})")
    if "weights" not in doc:
        raise KernelError(f'{label}: missing "weights"')
    weights = _nested_array(label, "weights", doc["weights"])
    if "shape" in doc and doc["shape"] != list(weights.shape):
        raise KernelError(
            f"{label}: shape {json.dumps(doc['shape'])} does not match the weights "
            f"{list(weights.shape)}"
        )
    normalize = doc.get("normalize", False)
    if not isinstance(normalize, bool):
        raise KernelError(f"{label}: normalize must be true or false, got {json.dumps(normalize)}")
    bias = _json_bias(label, doc.get("bias", 0.0), weights)
    return _finish(label, weights, bias=bias, normalize=normalize)


def _load_npy(label: str, data: bytes) -> Kernel:
    arr = load_npy(data, label, KernelError)
    return _finish(label, arr)


def _load_file(label: str, path: Path) -> Kernel:
    if path.is_dir():
        raise KernelError(f"{label}: is a directory, not a kernel file")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise KernelError(f"{label}: no such kernel file") from None
    except OSError as exc:
        raise KernelError(f"{label}: cannot read ({exc.strerror or exc})") from None
    suffix = path.suffix.lower()
    if suffix == ".npy" or (suffix not in KERNEL_FILE_SUFFIXES and data.startswith(NPY_MAGIC)):
        return _load_npy(label, data)
    if suffix == ".json" or (suffix != ".txt" and data.lstrip()[:1] in (b"{", b"[")):
        return _load_json(label, data)
    return _load_text(label, data)


# --------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------


def _looks_like_path(spec: str) -> bool:
    return (
        Path(spec).suffix.lower() in KERNEL_FILE_SUFFIXES
        or "/" in spec
        or os.sep in spec
        or Path(spec).is_file()
    )


def _unknown(name: str) -> KernelError:
    close = difflib.get_close_matches(name, list(_NAMED), n=3, cutoff=0.6)
    if close:
        quoted = [repr(c) for c in close]
        hint = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
        return KernelError(f"unknown kernel {name!r} (did you mean {hint}?)")
    return KernelError(
        f"unknown kernel {name!r}, and no such file (named kernels: {', '.join(_NAMED)})"
    )


def parse_kernel(spec: str | os.PathLike[str]) -> Kernel | Magnitude:
    """Resolve ``NAME[:ARGS]`` or a kernel file path.

    Parameters
    ----------
    spec : str or path
        A named kernel with optional comma-separated parameters after a colon (see
        :func:`list_kernels`), or a ``.txt`` / ``.json`` / ``.npy`` kernel file.

    Returns
    -------
    Kernel or Magnitude
        Weights are read-only float64 arrays.

    Raises
    ------
    KernelError
        Unknown name (with the nearest names suggested), bad parameters, or an unreadable or
        malformed file; the message is one line naming the problem.

    Examples
    --------
    >>> parse_kernel("sobel-x").weights
    array([[-1.,  0.,  1.],
           [-2.,  0.,  2.],
           [-1.,  0.,  1.]])
    >>> parse_kernel("gaussian:0.5").weights.shape
    (5, 5)
    >>> parse_kernel("gausian:2")
    Traceback (most recent call last):
    ...
    convtool.kernels.KernelError: unknown kernel 'gausian' (did you mean 'gaussian'?)
    """
    spec = os.fspath(spec)
    name, colon, args = spec.partition(":")
    key = name.strip().lower()
    if key in _NAMED and "/" not in spec and os.sep not in spec:
        named = _NAMED[key]
        values = _parse_params(key, named.params, args if colon else None)
        canonical = key + (":" + ",".join(t.strip() for t in args.split(",")) if colon else "")
        with np.errstate(all="ignore"):  # extreme parameters are caught by the check below
            kernel = named.build(canonical, *values)
        parts = (kernel.gx, kernel.gy) if isinstance(kernel, Magnitude) else (kernel,)
        if not all(np.all(np.isfinite(k.weights)) for k in parts):
            raise KernelError(f"{key}: parameters {args.strip()} give infinite weights")
        return kernel
    if not spec.strip():
        raise KernelError("empty kernel spec")
    if _looks_like_path(spec):
        return _load_file(spec, Path(spec))
    if not key:
        raise KernelError(f"missing kernel name before the colon in {spec!r}")
    raise _unknown(key)


def separable_factors(
    weights: np.ndarray, *, rtol: float = 1e-10
) -> tuple[np.ndarray, np.ndarray] | None:
    """Return ``(column, row)`` with ``np.outer(column, row) == weights`` for a rank-1 kernel.

    Parameters
    ----------
    weights : ndarray
        Kernel weights; only 2-D kernels can be separable.
    rtol : float
        Second singular value, relative to the first, below which the kernel counts as rank 1.

    Returns
    -------
    tuple of ndarray or None
        The factors (from an SVD, so up to rounding), or ``None`` when not separable.

    Examples
    --------
    >>> col, row = separable_factors(parse_kernel("sobel-x").weights)
    >>> bool(np.allclose(np.outer(col, row), parse_kernel("sobel-x").weights))
    True
    >>> separable_factors(parse_kernel("sharpen").weights) is None
    True
    """
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 2:
        return None
    if not np.any(w):
        return np.zeros(w.shape[0]), np.zeros(w.shape[1])
    u, s, vt = np.linalg.svd(w)
    if len(s) > 1 and s[1] > rtol * s[0]:
        return None
    # Scale split evenly, so a symmetric kernel such as a Gaussian gets two equal factors.
    col, row = u[:, 0] * np.sqrt(s[0]), vt[0] * np.sqrt(s[0])
    # Flip both so that the larger-magnitude end of the row is positive (a stable, readable sign).
    if row[np.argmax(np.abs(row))] < 0:
        col, row = -col, -row
    return col, row
