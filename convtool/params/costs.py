"""Layer costs: sizes, which kernel taps reach the image, and the four layers of the chapter.

Owns :class:`LayerCost`, :class:`ParamsError`, the size parsers and the closed-form tap counts
(conventions in :mod:`convtool.params`). Imports only :mod:`convtool.kernels` (for a filter's
layer geometry); never click, rich, PIL or :mod:`convtool.cli`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..kernels import Kernel, Magnitude

# Limit on every size, channel count, unit count and stride: keeps every count far inside the
# float range (ratios stay finite) and turns typos like 10000000000000x2 into an error.
MAX_DIM = 2**31 - 1
DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}
STAGES = ("fully-connected", "locally-connected", "shared-weights", "convolution")


class ParamsError(ValueError):
    """A size, kernel or layer specification is invalid; the message is fit for the user."""


@dataclass(frozen=True)
class LayerCost:
    """Counts for one layer (all exact integers).

    ``output`` is the ``(H, W, C)`` shape of the layer's output (``(1, 1, N)`` for a dense
    layer).
    """

    name: str
    weights: int
    biases: int
    effective_weights: int
    macs: int
    effective_macs: int
    bias_adds: int
    output: tuple[int, int, int]

    @property
    def params(self) -> int:
        return self.weights + self.biases

    def nbytes(self, dtype: str = "float32") -> int:
        """Bytes to store the parameters in ``dtype`` (``float32``, ``float16``, ``bfloat16``)."""
        try:
            return self.params * DTYPE_BYTES[dtype]
        except KeyError:
            raise ParamsError(
                f"unknown dtype {dtype!r} (choose from {', '.join(DTYPE_BYTES)})"
            ) from None

    def as_dict(self, *, dtype: str = "float32") -> dict[str, object]:
        """JSON-ready mapping with exact integers; the bytes key is ``<dtype>_bytes``."""
        return {
            "name": self.name,
            "output": list(self.output),
            "weights": self.weights,
            "biases": self.biases,
            "params": self.params,
            "effective_weights": self.effective_weights,
            f"{dtype}_bytes": self.nbytes(dtype),
            "macs": self.macs,
            "effective_macs": self.effective_macs,
            "bias_adds": self.bias_adds,
        }

    def __add__(self, other: LayerCost) -> LayerCost:
        return LayerCost(
            name="total",
            weights=self.weights + other.weights,
            biases=self.biases + other.biases,
            effective_weights=self.effective_weights + other.effective_weights,
            macs=self.macs + other.macs,
            effective_macs=self.effective_macs + other.effective_macs,
            bias_adds=self.bias_adds + other.bias_adds,
            output=other.output,
        )


# --- sizes ---------------------------------------------------------------------------------

_INT = re.compile(r"[+-]?\d+")


def _check_dim(value: int, what: str) -> int:
    if value < 1:
        raise ParamsError(f"{what} must be a positive integer, got {value}")
    if value > MAX_DIM:
        raise ParamsError(f"{what} {value} is too large (at most {MAX_DIM})")
    return value


def _parse_dims(text: str, what: str, example: str, counts: tuple[int, ...]) -> tuple[int, ...]:
    parts = text.strip().lower().split("x")
    if len(parts) not in counts or not all(_INT.fullmatch(p.strip()) for p in parts):
        raise ParamsError(f"{what} {text!r} is not {example}")
    for p in parts:
        # int() refuses over 4300 digits with its own message; anything this long is too big.
        if len(p.strip()) > 30:
            raise ParamsError(f"{what} {text!r}: {p.strip()} is too large (at most {MAX_DIM})")
    values = tuple(int(p) for p in parts)
    for v in values:
        if v < 1:
            raise ParamsError(f"{what} {text!r}: every dimension must be positive, got {v}")
        if v > MAX_DIM:
            raise ParamsError(f"{what} {text!r}: {v} is too large (at most {MAX_DIM})")
    return values


def parse_size(text: str) -> tuple[int, int, int]:
    """Parse ``HxW`` or ``HxWxC`` (``C`` defaults to 1).

    Examples
    --------
    >>> parse_size("1000x1000"), parse_size("224x224x3")
    ((1000, 1000, 1), (224, 224, 3))
    """
    dims = _parse_dims(text, "input size", "HxW or HxWxC (e.g. 1000x1000 or 224x224x3)", (2, 3))
    return (dims[0], dims[1], dims[2] if len(dims) == 3 else 1)


def parse_kernel_size(text: str) -> tuple[int, int]:
    """Parse a kernel size ``K`` (square) or ``KHxKW``.

    Examples
    --------
    >>> parse_kernel_size("3"), parse_kernel_size("1x7")
    ((3, 3), (1, 7))
    """
    dims = _parse_dims(text, "kernel size", "K or KHxKW (e.g. 3 or 3x3)", (1, 2))
    return (dims[0], dims[-1])


def output_size(size: int, stride: int) -> int:
    """Output length under "same" padding: ``ceil(size / stride)``.

    Examples
    --------
    >>> output_size(224, 2), output_size(7, 2)
    (112, 4)
    """
    return -(-size // stride)


# --- which taps reach the image (1-D; a 2-D count is the product of two of these) -----------


def _tap_offsets(k: int) -> tuple[int, int]:
    anchor = k // 2
    return -anchor, k - 1 - anchor


def _sum_range(a: int, b: int) -> int:
    """Sum of the integers ``a .. b-1`` (0 when empty)."""
    return (b * (b - 1) - a * (a - 1)) // 2 if b > a else 0


def reachable_taps(size: int, k: int, stride: int = 1) -> int:
    """Taps of a ``k``-wide kernel that line up with the image for at least one output position.

    Output positions are ``0, stride, 2*stride, ...`` (see :mod:`convtool.params`); taps that
    only ever meet zero padding are dead weights.

    Examples
    --------
    >>> reachable_taps(6, 3), reachable_taps(1, 3), reachable_taps(6, 11)
    (3, 1, 11)
    """
    lo, hi = _tap_offsets(k)
    last = stride * (output_size(size, stride) - 1)
    return min(hi, size - 1) - max(lo, -last) + 1


def live_taps(size: int, k: int, stride: int = 1) -> int:
    """Sum over the output positions of the taps that fall inside the image (closed form).

    For ``k = 2*Delta + 1`` and stride 1 this is ``sum_i n_i`` with
    ``n_i = min(i, Delta) + min(size - 1 - i, Delta) + 1``.

    Examples
    --------
    >>> live_taps(6, 3)  # 2 + 3 + 3 + 3 + 3 + 2
    16
    >>> live_taps(5, 9)  # a kernel this wide sees the whole row from every position
    25
    """
    lo, hi = _tap_offsets(k)
    n = output_size(size, stride)
    # A tap offset o is inside the image for output p = stride*i when -p <= o <= size-1-p; the
    # count per output is min(hi, size-1-p) - max(lo, -p) + 1 (always >= 1: offset 0 is inside).
    if size - 1 - hi >= 0:
        m1 = min(n, (size - 1 - hi) // stride + 1)
    else:
        m1 = 0
    upper = m1 * hi + (n - m1) * (size - 1) - stride * _sum_range(m1, n)
    m2 = min(n, (-lo) // stride + 1)
    lower = -stride * _sum_range(0, m2) + (n - m2) * lo
    return upper - lower + n


# --- layers ----------------------------------------------------------------------------------


def dense_cost(
    in_values: int, units: int, *, name: str = "fully-connected", bias: bool = True
) -> LayerCost:
    """A fully connected layer from ``in_values`` inputs to ``units`` outputs (``nn.Linear``).

    Examples
    --------
    The chapter's megapixel image into 1000 hidden units:

    >>> c = dense_cost(1000 * 1000, 1000)
    >>> c.weights, c.biases, c.params
    (1000000000, 1000, 1000001000)
    """
    weights = in_values * units
    biases = units if bias else 0
    return LayerCost(name, weights, biases, weights, weights, weights, biases, (1, 1, units))


def _check_groups(channels: int, out_channels: int, groups: int) -> int:
    if groups < 1 or channels % groups or out_channels % groups:
        raise ParamsError(
            f"groups={groups} must divide both the {channels} input and the {out_channels} "
            "output channels"
        )
    return channels * out_channels // groups


def conv_cost(
    height: int,
    width: int,
    channels: int,
    *,
    kernel: tuple[int, int],
    out_channels: int,
    stride: int = 1,
    groups: int = 1,
    name: str = "convolution",
) -> LayerCost:
    """A convolutional layer with "same" padding (``nn.Conv2d(..., padding=k // 2)``).

    Kernels larger than the input are allowed here (deep layers on small feature maps do
    that); their unreachable taps show in ``effective_weights``.

    Examples
    --------
    >>> c = conv_cost(224, 224, 3, kernel=(3, 3), out_channels=16)
    >>> c.weights, c.biases, c.macs
    (432, 16, 21676032)
    >>> conv_cost(1, 1, 4, kernel=(3, 3), out_channels=2).effective_weights  # 3x3 on 1x1
    8
    """
    kh, kw = kernel
    pairs = _check_groups(channels, out_channels, groups)
    ho, wo = output_size(height, stride), output_size(width, stride)
    weights = kh * kw * pairs
    return LayerCost(
        name=name,
        weights=weights,
        biases=out_channels,
        effective_weights=reachable_taps(height, kh, stride)
        * reachable_taps(width, kw, stride)
        * pairs,
        macs=ho * wo * weights,
        effective_macs=live_taps(height, kh, stride) * live_taps(width, kw, stride) * pairs,
        bias_adds=ho * wo * out_channels,
        output=(ho, wo, out_channels),
    )


def _check_stage_dims(
    height: int,
    width: int,
    channels: int,
    out_channels: int,
    stride: int,
    kernel: tuple[int, int],
    hidden: int | None,
) -> None:
    for value, what in (
        (height, "height"),
        (width, "width"),
        (channels, "channels"),
        (out_channels, "output channels"),
        (stride, "stride"),
        (kernel[0], "kernel height"),
        (kernel[1], "kernel width"),
    ):
        _check_dim(value, what)
    if hidden is not None:
        _check_dim(hidden, "hidden units")


def stage_costs(
    height: int,
    width: int,
    channels: int = 1,
    *,
    kernel: tuple[int, int],
    out_channels: int | None = None,
    hidden: int | None = None,
    stride: int = 1,
    groups: int = 1,
) -> list[LayerCost]:
    """The chapter's four layers, in its order, for one ``H x W x C`` input.

    Parameters
    ----------
    height, width, channels : int
        Input size.
    kernel : (int, int)
        ``(kh, kw)``, at most the input size; ``2*Delta + 1`` in the chapter.
    out_channels : int, optional
        ``D``, channels of the hidden representation (default: ``channels``).
    hidden : int, optional
        Hidden units of the fully connected layer instead of ``Ho*Wo*D``.
    stride : int
        Output step of the three spatial layers.
    groups : int
        PyTorch's ``groups`` (``channels`` for a depthwise filter).

    Returns
    -------
    list of LayerCost
        ``fully-connected``, ``locally-connected``, ``shared-weights``, ``convolution``.

    Examples
    --------
    >>> [(c.name, c.weights, c.effective_weights) for c in stage_costs(6, 6, kernel=(3, 3))]
    ... # doctest: +NORMALIZE_WHITESPACE
    [('fully-connected', 1296, 1296), ('locally-connected', 324, 256),
     ('shared-weights', 121, 121), ('convolution', 9, 9)]
    """
    out_channels = channels if out_channels is None else out_channels
    _check_stage_dims(height, width, channels, out_channels, stride, kernel, hidden)
    kh, kw = kernel
    if kh > height or kw > width:
        raise ParamsError(f"kernel {kh}x{kw} is larger than the {height}x{width} input")
    pairs = _check_groups(channels, out_channels, groups)
    ho, wo = output_size(height, stride), output_size(width, stride)
    units = ho * wo * out_channels if hidden is None else hidden

    dense = dense_cost(height * width * channels, units)
    local_weights = ho * wo * kh * kw * pairs
    local_live = live_taps(height, kh, stride) * live_taps(width, kw, stride) * pairs
    values = ho * wo * out_channels  # one bias per output value
    out = (ho, wo, out_channels)
    local = LayerCost(
        "locally-connected", local_weights, values, local_live, local_weights, local_live,
        values, out,
    )  # fmt: skip
    shared = conv_cost(
        height,
        width,
        channels,
        kernel=(2 * height - 1, 2 * width - 1),
        out_channels=out_channels,
        stride=stride,
        groups=groups,
        name="shared-weights",
    )
    conv = conv_cost(
        height,
        width,
        channels,
        kernel=kernel,
        out_channels=out_channels,
        stride=stride,
        groups=groups,
    )
    return [dense, local, shared, conv]


def filter_geometry(step: Kernel | Magnitude, channels: int) -> tuple[tuple[int, int], int, int]:
    """``((kh, kw), out_channels, groups)`` of the layer that runs a convtool filter step.

    A 2-D kernel is applied to every channel and a 3-D one per channel (depthwise:
    ``groups = C``); a 4-D ``(kh, kw, Cin, Cout)`` kernel mixes channels (``groups = 1``). A
    gradient magnitude runs two kernels, so its linear part has twice their output channels.

    Examples
    --------
    >>> import numpy as np
    >>> from convtool.kernels import Kernel
    >>> filter_geometry(Kernel("box", np.ones((5, 5))), 3)
    ((5, 5), 3, 3)
    >>> filter_geometry(Kernel("mix", np.ones((3, 3, 3, 8))), 3)
    ((3, 3), 8, 1)
    """
    from ..kernels import Magnitude  # numpy only when a convtool kernel is asked for

    if isinstance(step, Magnitude):
        gx = filter_geometry(step.gx, channels)
        gy = filter_geometry(step.gy, channels)
        if gx != gy:
            raise ParamsError(f"kernel {step.name!r}: its two kernels differ in shape")
        (kh, kw), out, groups = gx
        return (kh, kw), 2 * out, groups
    shape = step.weights.shape
    if len(shape) == 2:
        return (shape[0], shape[1]), channels, channels
    if len(shape) == 3:
        if shape[2] != channels:
            raise ParamsError(
                f"kernel {step.name!r} has {shape[2]} channels but the input has {channels}"
            )
        return (shape[0], shape[1]), channels, channels
    if len(shape) == 4:
        if shape[2] != channels:
            raise ParamsError(
                f"kernel {step.name!r} takes {shape[2]} input channels but the input has {channels}"
            )
        return (shape[0], shape[1]), shape[3], 1
    raise ParamsError(f"kernel {step.name!r} has {len(shape)} dimensions (2, 3 or 4 expected)")
