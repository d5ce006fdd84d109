"""Validated plans: argument checks, the Plan, border modes, padding and border index maps.

Owns: ``EngineError``, the border mode names and aliases, :func:`make_plan` (validation and
canonical shapes), :func:`pad_image`, the per-axis index maps of the border modes and
``_RowSource`` (padded rows on demand), and the kernel geometry every strategy reads.

Must not import: the strategies, the cost model, matching/template, cli, images, click, rich,
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


def _compute_dtype(image: np.ndarray) -> np.dtype:
    # float32 is enough for 8/16-bit data (24-bit mantissa); float64 input asks for float64.
    return np.dtype(np.float64) if image.dtype == np.float64 else np.dtype(np.float32)


def _check_arrays(image: np.ndarray, kernel: np.ndarray) -> None:
    """Raise :class:`EngineError` for image and kernel arrays the engine cannot use."""
    if image.ndim not in (2, 3):
        raise EngineError(f"image must be 2-D (H, W) or 3-D (H, W, C), got shape {image.shape}")
    if image.size == 0:
        raise EngineError(f"image is empty (shape {image.shape})")
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


def _padding(
    mode: str,
    flip: bool,
    kernel_hw: tuple[int, int],
    dilation: tuple[int, int],
    hw: tuple[int, int],
) -> tuple[int, int, int, int]:
    """Padding ``(top, bottom, left, right)`` that makes the border mode a 'valid' correlation."""
    (kh, kw), (dy, dx), (h, w) = kernel_hw, dilation, hw
    eh, ew = (kh - 1) * dy + 1, (kw - 1) * dx + 1
    if mode == "valid":
        if eh > h or ew > w:
            raise EngineError(
                f"kernel ({kh}x{kw}, dilation {dy}x{dx}) is larger than the image ({h}x{w}) "
                "with border 'valid'"
            )
        return (0, 0, 0, 0)
    if mode == "full":
        return (eh - 1, eh - 1, ew - 1, ew - 1)
    # The anchor sits at (kh // 2, kw // 2) taps; flipping for true convolution moves it to
    # kh - 1 - kh // 2 so that convolve matches the textbook sum X[i - a] K[a].
    ah = (kh - 1 - kh // 2) if flip else kh // 2
    aw = (kw - 1 - kw // 2) if flip else kw // 2
    return (ah * dy, eh - 1 - ah * dy, aw * dx, ew - 1 - aw * dx)


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
    _check_arrays(image, kernel)
    mode, zero = normalize_border(border)
    sy, sx = _pair(stride, "stride")
    dy, dx = _pair(dilation, "dilation")
    dtype = _compute_dtype(image)
    img = image[:, :, None] if image.ndim == 2 else image
    h, w, c = img.shape
    k, depthwise = _canonical_kernel(kernel, dtype, c, flip)
    kh, kw = k.shape[:2]
    pad = _padding(mode, flip, (kh, kw), (dy, dx), (h, w))
    eh, ew = (kh - 1) * dy + 1, (kw - 1) * dx + 1
    full_h = h + pad[0] + pad[1] - eh + 1
    full_w = w + pad[2] + pad[3] - ew + 1
    out_shape = (-(-full_h // sy), -(-full_w // sx))
    return Plan(
        source=img,
        dtype=dtype,
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
        self.rows = index_map(h, top, bottom, plan.border)
        self.cols = cols = index_map(w, left, right, plan.border)
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
