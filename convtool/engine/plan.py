"""Validated plans: argument checks, the Plan, border modes, padding and border index maps.

Owns: ``EngineError``, the border mode names and aliases, :func:`make_plan` (validation and
canonical shapes), :func:`pad_image`, the per-axis index maps of the border modes and
``_RowSource`` (padded rows on demand), and the kernel geometry every strategy reads.

Must not import: the strategies, the cost model, chain, matching, cli, images, click, rich,
PIL.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

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

    ``source`` is the caller's image as ``(H, W, C)`` in its own dtype and :attr:`image` the
    same in the compute dtype ``dtype``, converted on first use (a strategy that reads integer
    pixels itself, as ``box`` does, never pays for the float copy); ``kernel`` is
    ``(kh, kw, Cin, Cout)`` (depthwise kernels are kept as ``(kh, kw, C)`` in ``depthwise``
    instead, since expanding them to a diagonal 4-D kernel would multiply the work by C).
    """

    source: np.ndarray
    dtype: np.dtype
    kernel: np.ndarray
    depthwise: bool
    border: str
    cval: float
    stride: tuple[int, int]
    dilation: tuple[int, int]
    out_shape: tuple[int, int]
    # Padding (top, bottom, left, right) applied before a 'valid' correlation.
    pad: tuple[int, int, int, int]
    # The border mode of each axis (rows, columns); ``border`` is their common name, or the
    # pair itself when they differ.
    borders: tuple[str, str] = ("reflect", "reflect")

    @functools.cached_property
    def image(self) -> np.ndarray:
        """``source`` in the compute dtype (the same array when it already is)."""
        return self.source.astype(self.dtype, copy=False)


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


def compute_dtype(dtype: np.dtype, precision: str | None = None) -> np.dtype:
    """The dtype sums are computed in: ``precision`` when given, else float64 for float64
    data and float32 for anything else (enough for 8/16-bit data: a 24-bit mantissa).

    Examples
    --------
    >>> compute_dtype(np.dtype(np.uint8)), compute_dtype(np.dtype(np.uint8), "float64")
    (dtype('float32'), dtype('float64'))
    """
    if precision is None:
        return np.dtype(np.float64) if dtype == np.float64 else np.dtype(np.float32)
    try:
        chosen = np.dtype(precision)
    except TypeError:
        chosen = None
    if chosen not in (np.float32, np.float64):
        raise EngineError(f"precision must be float32 or float64, got {precision!r}")
    return np.dtype(chosen)


def normalize_borders(border: str | tuple[str, str]) -> tuple[tuple[str, str], bool]:
    """``((mode_rows, mode_columns), force_zero_cval)`` for one mode or a pair, one per axis.

    ``full`` pads both axes with zeros and cannot be paired with another mode.

    Examples
    --------
    >>> normalize_borders(("nearest", "wrap"))
    (('nearest', 'wrap'), False)
    """
    if isinstance(border, str):
        mode, zero = normalize_border(border)
        return (mode, mode), zero
    pair = tuple(border)
    if len(pair) != 2 or not all(isinstance(b, str) for b in pair):
        raise EngineError(f"border must be a mode name or a pair of them, got {border!r}")
    (my, zy), (mx, zx) = normalize_border(pair[0]), normalize_border(pair[1])
    if "full" in (my, mx) and my != mx:
        raise EngineError("border 'full' applies to both axes; it cannot be paired")
    if (zy and mx == "constant" and not zx) or (zx and my == "constant" and not zy):
        raise EngineError("border 'zero' and 'constant' cannot be paired (they share cval)")
    return (my, mx), zy or zx


def _origins(origin: int | tuple[int, int]) -> tuple[int, int]:
    if type(origin) is int:  # the default, checked first (make_plan runs per call)
        return origin, origin
    if isinstance(origin, (int, np.integer)):
        return int(origin), int(origin)
    pair = tuple(origin)
    if len(pair) != 2 or not all(isinstance(o, (int, np.integer)) for o in pair):
        raise EngineError(f"origin must be an integer or a pair of integers, got {origin!r}")
    return int(pair[0]), int(pair[1])


def _check_arrays(image: np.ndarray, kernel: np.ndarray) -> None:
    """Raise :class:`EngineError` for image and kernel arrays the engine cannot use."""
    if image.ndim not in (2, 3):
        raise EngineError(f"image must be 2-D (H, W) or 3-D (H, W, C), got shape {image.shape}")
    if image.dtype.kind not in "biufc":  # bool, integers, floats, complex
        raise EngineError(f"image must be numeric, got dtype {image.dtype}")
    if image.dtype.kind == "c" or kernel.dtype.kind == "c":
        raise EngineError("complex images and kernels are not supported")
    if kernel.dtype.kind not in "biuf":
        raise EngineError(f"kernel must be numeric, got dtype {kernel.dtype}")
    if kernel.ndim not in (2, 3, 4):
        raise EngineError(f"kernel must be 2-D, 3-D or 4-D, got shape {kernel.shape}")
    if kernel.size == 0:
        raise EngineError(f"kernel is empty (shape {kernel.shape})")
    if not np.isfinite(kernel).all():
        raise EngineError("kernel holds NaN or infinite values")


def _canonical_kernel(
    kernel: np.ndarray, dtype: np.dtype, c: int, flip: bool
) -> tuple[np.ndarray, bool]:
    """``(kh, kw, C)`` depthwise or ``(kh, kw, Cin, Cout)`` kernel, and whether depthwise."""
    k = kernel.astype(dtype, copy=False)
    if flip:
        k = k[::-1, ::-1]
    depthwise = False
    if k.ndim == 2:
        k = k[:, :, None]
        depthwise = True
        if c > 1:
            k = np.broadcast_to(k, (*k.shape[:2], c))
    elif k.ndim == 3:
        if k.shape[2] != c:
            raise EngineError(
                f"a 3-D kernel needs one 2-D kernel per channel: kernel has {k.shape[2]}, "
                f"image has {c} channel(s)"
            )
        depthwise = True
    elif k.shape[2] != c:
        raise EngineError(f"4-D kernel expects {k.shape[2]} input channel(s), image has {c}")
    return k, depthwise


def _axis_padding(mode: str, flip: bool, k: int, d: int, origin: int, axis: str) -> tuple[int, int]:
    """Padding ``(before, after)`` of one axis that makes its mode a 'valid' correlation."""
    e = (k - 1) * d + 1
    if mode == "valid":
        if origin:
            raise EngineError(f"origin needs a padding border mode, not 'valid' ({axis})")
        return (0, 0)
    if mode == "full":
        if origin:
            raise EngineError(f"origin needs a padding border mode, not 'full' ({axis})")
        return (e - 1, e - 1)
    # The anchor sits at tap k // 2 + origin (scipy.ndimage's origin); flipping for true
    # convolution moves it to k - 1 - k // 2 - origin, so that convolve matches the textbook
    # sum X[i - a] K[a] (and scipy.ndimage.convolve's origin) for odd and even sizes.
    anchor = (k - 1 - k // 2 - origin) if flip else k // 2 + origin
    if not 0 <= anchor < k:
        raise EngineError(
            f"origin {origin} ({axis}) puts the anchor outside the kernel: a kernel of "
            f"{k} taps takes {-(k // 2)} to {(k - 1) // 2}"
        )
    return (anchor * d, e - 1 - anchor * d)


def _padding(
    modes: tuple[str, str],
    flip: bool,
    kernel_hw: tuple[int, int],
    dilation: tuple[int, int],
    hw: tuple[int, int],
    origin: tuple[int, int] = (0, 0),
) -> tuple[int, int, int, int]:
    """Padding ``(top, bottom, left, right)`` that makes the border mode a 'valid' correlation."""
    (kh, kw), (dy, dx), (h, w) = kernel_hw, dilation, hw
    eh, ew = (kh - 1) * dy + 1, (kw - 1) * dx + 1
    if (modes[0] == "valid" and eh > h) or (modes[1] == "valid" and ew > w):
        raise EngineError(
            f"kernel ({kh}x{kw}, dilation {dy}x{dx}) is larger than the image ({h}x{w}) "
            "with border 'valid'"
        )
    top = _axis_padding(modes[0], flip, kh, dy, origin[0], "rows")
    left = _axis_padding(modes[1], flip, kw, dx, origin[1], "columns")
    return (*top, *left)


def make_plan(
    image: np.ndarray,
    kernel: np.ndarray,
    *,
    border: str | tuple[str, str] = "reflect",
    cval: float = 0.0,
    stride: int | tuple[int, int] = 1,
    dilation: int | tuple[int, int] = 1,
    flip: bool = False,
    origin: int | tuple[int, int] = 0,
    precision: str | None = None,
) -> Plan:
    """Validate the arguments and bring image and kernel to canonical shapes.

    ``border`` is one mode or a pair (rows, columns); ``origin`` shifts the anchor as
    scipy.ndimage's ``origin`` (see :func:`convtool.engine.correlate`); ``precision`` is the
    compute dtype (see :func:`compute_dtype`).
    """
    image = np.asarray(image)
    kernel = np.asarray(kernel)
    _check_arrays(image, kernel)
    modes, zero = normalize_borders(border)
    sy, sx = _pair(stride, "stride")
    dy, dx = _pair(dilation, "dilation")
    dtype = compute_dtype(image.dtype, precision)
    img = image[:, :, None] if image.ndim == 2 else image
    h, w, c = img.shape
    k, depthwise = _canonical_kernel(kernel, dtype, c, flip)
    kh, kw = k.shape[:2]
    pad = _padding(modes, flip, (kh, kw), (dy, dx), (h, w), _origins(origin))
    eh, ew = (kh - 1) * dy + 1, (kw - 1) * dx + 1
    full_h = h + pad[0] + pad[1] - eh + 1
    full_w = w + pad[2] + pad[3] - ew + 1
    out_shape = (-(-full_h // sy), -(-full_w // sx))
    return Plan(
        source=img,
        dtype=dtype,
        kernel=np.ascontiguousarray(k),
        depthwise=depthwise,
        border=modes[0] if modes[0] == modes[1] else modes,  # type: ignore[arg-type]
        cval=0.0 if (zero or "full" in modes) else float(cval),
        stride=(sy, sx),
        dilation=(dy, dx),
        out_shape=out_shape,
        pad=pad,
        borders=modes,
    )


def pad_image(plan: Plan, image: np.ndarray | None = None) -> np.ndarray:
    """Pad ``(H, W, C)`` image by the plan's border mode (a copy; the input is not touched)."""
    img = plan.image if image is None else image
    top, bottom, left, right = plan.pad
    if not any(plan.pad):
        return img
    widths = ((top, bottom), (left, right), (0, 0))
    mode = _NUMPY_PAD_MODE[plan.borders[0]]
    if plan.borders[0] == plan.borders[1] and mode == "constant":
        return np.pad(img, widths, mode="constant", constant_values=plan.cval)
    if plan.borders[0] == plan.borders[1] and not (mode == "reflect" and min(img.shape[:2]) == 1):
        return np.pad(img, widths, mode=mode)
    # One axis at a time: different modes per axis, or a mirror of a 1-long axis (the mirror
    # of a single sample is that sample; np.pad refuses to mirror it).
    for axis in (0, 1):
        if not any(widths[axis]):
            continue
        axis_widths = [(0, 0)] * 3
        axis_widths[axis] = widths[axis]
        mode = _NUMPY_PAD_MODE[plan.borders[axis]]
        if mode == "constant":
            img = np.pad(img, axis_widths, mode="constant", constant_values=plan.cval)
        else:
            img = np.pad(img, axis_widths, mode="edge" if img.shape[axis] == 1 else mode)
    return img


class _Geometry(NamedTuple):
    kh: int
    kw: int
    sy: int
    sx: int
    dy: int
    dx: int
    eh: int  # dilated kernel extent
    ew: int
    cout: int


def _geometry(plan: Plan) -> _Geometry:
    kh, kw = plan.kernel.shape[:2]
    sy, sx = plan.stride
    dy, dx = plan.dilation
    cout = plan.source.shape[2] if plan.depthwise else plan.kernel.shape[3]
    return _Geometry(kh, kw, sy, sx, dy, dx, (kh - 1) * dy + 1, (kw - 1) * dx + 1, cout)


def index_map(n: int, before: int, after: int, mode: str) -> np.ndarray:
    """Source index of each padded sample along one axis (-1: the constant ``cval``).

    Built by padding ``arange(n)`` exactly as :func:`pad_image` pads the image, so a strip
    filled through these maps equals the same rows of the padded image.
    """
    base = np.arange(n)
    if not (before or after):
        return base
    pad_mode = _NUMPY_PAD_MODE[mode]
    if pad_mode == "constant":
        return np.pad(base, (before, after), mode="constant", constant_values=-1)
    if pad_mode == "reflect" and n == 1:
        pad_mode = "edge"  # as pad_image: the mirror of a single sample is that sample
    return np.pad(base, (before, after), mode=pad_mode)


class _RowSource:
    """Rows of the padded image on demand, without padding the whole image.

    ``fill(dst, y0, y1)`` writes padded rows ``y0:y1`` (full padded width) into ``dst``: one
    copy of the image rows (a fancy-indexed gather only for strips that reach the border)
    plus the few border columns, gathered from the row just written. Rows are read from the
    caller's array (``plan.source``) and converted to ``dst``'s dtype as they are copied, so
    a path that reads rows this way never makes a float copy of an integer image.
    """

    def __init__(self, plan: Plan) -> None:
        h, w = plan.source.shape[:2]
        top, bottom, left, right = plan.pad
        self.image = plan.source
        self.cval = plan.cval
        self.rows = index_map(h, top, bottom, plan.borders[0])
        self.cols = cols = index_map(w, left, right, plan.borders[1])
        self.left, self.w = left, w
        self.top, self.h = top, h  # padded rows top:top + h are the image's, in order
        self.width = w + left + right
        # Border columns: (positions in the padded row, source positions in the padded row).
        edge = np.r_[np.arange(left), np.arange(left + w, self.width)].astype(np.intp)
        source = cols[edge]
        self.edge_copy = (edge[source >= 0], source[source >= 0] + left)
        self.edge_const = edge[source < 0]

    def fill(self, dst: np.ndarray, y0: int, y1: int, *, columns: bool = True) -> None:
        """Padded rows ``y0:y1`` into ``dst``; with ``columns=False`` only the image's
        columns (``dst`` is ``W`` wide)."""
        n = y1 - y0
        idx = self.rows[y0:y1]
        center = dst[:n, self.left : self.left + self.w] if columns else dst[:n, : self.w]
        first = int(idx[0])
        if self.top <= y0 and y1 <= self.top + self.h:  # inside the image: a run of rows
            np.copyto(center, self.image[y0 - self.top : y1 - self.top])
        elif first >= 0 and int(idx[-1]) - first == n - 1 and bool(np.all(np.diff(idx) == 1)):
            np.copyto(center, self.image[first : first + n])
        else:
            np.copyto(center, self.image[np.maximum(idx, 0)])
            center[idx < 0] = self.cval
        if not columns:
            return
        to, frm = self.edge_copy
        if to.size:
            dst[:n, to] = dst[:n, frm]
        if self.edge_const.size:
            dst[:n, self.edge_const] = self.cval

    def fill_planar(self, dst: np.ndarray, y0: int, y1: int, x0: int, x1: int) -> None:
        """``dst[:, :y1-y0, :x1-x0]`` = padded rows ``y0:y1``, columns ``x0:x1``, channels
        first (the FFT's tiles): a transposing copy of the image columns the range covers,
        then the few border columns gathered (rows gathered only in strips at the border)."""
        rows = self.rows[y0:y1]
        target = dst[:, : y1 - y0, : x1 - x0]
        picked = _run_or_index(rows)
        a, b = max(x0, self.left) - x0, min(x1, self.left + self.w) - x0  # inside the image
        if b > a:
            block = self.image[picked, x0 + a - self.left : x0 + b - self.left]
            np.copyto(target[:, :, a:b], block.transpose(2, 0, 1))
        edge = np.r_[np.arange(min(a, x1 - x0)), np.arange(max(b, 0), x1 - x0)].astype(np.intp)
        if edge.size:
            source = self.cols[x0 + edge]
            block = self.image[picked][:, np.maximum(source, 0)]
            target[:, :, edge] = block.transpose(2, 0, 1)  # fancy: an assignment, not a view
            target[:, :, edge[source < 0]] = self.cval
        if rows.min() < 0:
            target[:, rows < 0] = self.cval


def _run_or_index(index: np.ndarray) -> slice | np.ndarray:
    """A slice when ``index`` is a run of consecutive image positions, else the gather index
    (border positions, ``-1`` for a constant, read as position 0 and overwritten)."""
    first, last = int(index[0]), int(index[-1])
    if first >= 0 and last - first == index.size - 1 and bool(np.all(np.diff(index) == 1)):
        return slice(first, last + 1)
    return np.maximum(index, 0)
