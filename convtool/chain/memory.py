"""Apply a chain of kernels to an image: alpha handling, normalization, scaling (pure numpy).

Must not import: convtool.images, convtool.cli, click, rich, PIL.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..engine import (
    EngineError,
    RunInfo,
    convolve,
    correlate,
    make_plan,
    normalize_borders,
    pad_image,
)
from ..kernels import Kernel, Magnitude
from ..weights import normalize_weights

__all__ = [
    "ALPHA_MODES",
    "FilterOptions",
    "apply_chain",
    "chain_with_alpha",
    "finish_chain",
    "move_alpha",
    "normalize_weights",
]

ALPHA_MODES = ("keep", "premultiply", "filter", "drop")


@dataclass
class FilterOptions:
    """Settings shared by every kernel of a chain (see ``convtool filter --help``)."""

    border: str | tuple[str, str] = "reflect"
    cval: float = 0.0
    convolve: bool = False
    stride: int = 1
    dilation: int = 1
    normalize: bool = False
    scale: float = 1.0
    bias: float = 0.0
    alpha: str = "keep"
    strategy: str = "auto"
    runs: list[tuple[str, RunInfo]] = field(default_factory=list)
    origin: int | tuple[int, int] = 0  # scipy.ndimage's origin (rows, columns), every kernel
    # --anchor: the tap (row, column) of each kernel as given over the output pixel, -1 the
    # centre (OpenCV's anchor, y first); overrides ``origin``.
    anchor: tuple[int, int] | None = None
    precision: str | None = None  # "float64": sums in double precision (else by the input)


def step_origin(kernel_shape: tuple[int, int], opts: FilterOptions, name: str) -> tuple[int, int]:
    """The engine's ``origin`` for one kernel of the chain: ``opts.origin``, or ``opts.anchor``
    taken relative to the kernel's centre tap ``(kh // 2, kw // 2)``."""
    if opts.anchor is None:
        origin = opts.origin
        return (origin, origin) if isinstance(origin, int) else (int(origin[0]), int(origin[1]))
    offsets = []
    for a, k in zip(opts.anchor, kernel_shape, strict=True):
        if not -1 <= a < k:
            ay, ax = opts.anchor
            raise EngineError(
                f"--anchor {ay},{ax} lies outside {name} ({kernel_shape[0]}x{kernel_shape[1]}): "
                "each must be -1 (the centre) or a tap index from 0"
            )
        offsets.append(0 if a < 0 else a - k // 2)
    return offsets[0], offsets[1]


def anchor_offsets(
    kernel_shape: tuple[int, int], opts: FilterOptions, name: str = "the kernel"
) -> tuple[int, int]:
    """The anchor tap ``(ah, aw)`` of the kernel as correlated (flipped for ``convolve``): the
    tap over each output pixel, ``origin`` included."""
    kh, kw = kernel_shape
    oy, ox = step_origin(kernel_shape, opts, name)
    if opts.convolve:
        return kh - 1 - kh // 2 - oy, kw - 1 - kw // 2 - ox
    return kh // 2 + oy, kw // 2 + ox


def step_weights(kernel: Kernel, channels: int, opts: FilterOptions) -> np.ndarray:
    """The weights one chain step runs on an image of ``channels`` channels (``--normalize``
    applied); a channel mixer for another channel count is an error. Shared by the in-memory,
    banded and Dask chains so that all three refuse and normalize alike."""
    if kernel.weights.ndim == 4 and kernel.weights.shape[2] != channels:
        raise EngineError(
            f"{kernel.name} mixes {kernel.weights.shape[2]} input channels, but the image has "
            f"{channels} here (--alpha decides whether alpha counts)"
        )
    return normalize_weights(kernel.weights) if opts.normalize else kernel.weights


def step_keywords(kernel: Kernel, opts: FilterOptions) -> dict:
    """The engine keywords of one chain step (all but the image and weights): shared by the
    in-memory and the Dask chain so that both pass the same settings."""
    return dict(border=opts.border, cval=opts.cval, stride=opts.stride, dilation=opts.dilation,
                bias=kernel.bias, strategy=opts.strategy)  # fmt: skip


def _correlate_step(image: np.ndarray, kernel: Kernel, opts: FilterOptions) -> np.ndarray:
    weights = step_weights(kernel, 1 if image.ndim == 2 else image.shape[2], opts)
    fn = convolve if opts.convolve else correlate
    info = RunInfo()
    out = fn(
        image,
        weights,
        info=info,
        **step_keywords(kernel, opts),
        origin=step_origin(weights.shape[:2], opts, kernel.name),
        precision=opts.precision,
    )
    opts.runs.append((kernel.name, info))
    return out


def _apply_step(image: np.ndarray, step: Kernel | Magnitude, opts: FilterOptions) -> np.ndarray:
    if isinstance(step, Magnitude):
        gx = _correlate_step(image, step.gx, opts)
        gy = _correlate_step(image, step.gy, opts)
        np.multiply(gx, gx, out=gx)
        gx += gy * gy
        return np.sqrt(gx, out=gx)
    return _correlate_step(image, step, opts)


def move_alpha(
    channel, kernel_shape: tuple[int, int], opts: FilterOptions, *, pad: Callable = pad_image
):
    """Crop / subsample an untouched channel (alpha) the way a kernel step moves the pixels.

    ``channel`` is ``(H, W)``, a numpy array or any array numpy's functions dispatch on (a
    Dask array); ``pad(plan, channel[:, :, None])`` pads it by the plan's border (the engine's
    :func:`~convtool.engine.pad_image`, or a lazy equivalent). Output pixel ``(i, j)`` is
    anchored at padded pixel ``(i*sy + ah*dy, j*sx + aw*dx)``, the anchor tap of the (flipped,
    for convolution) kernel; padding with cval 0.

    Examples
    --------
    >>> move_alpha(np.arange(5.0)[None], (1, 3), FilterOptions(border="valid"))
    array([[1., 2., 3.]])
    """
    if opts.stride == 1 and not {"valid", "full"} & set(normalize_borders(opts.border)[0]):
        return channel  # same size, every output pixel anchored on its own input pixel
    plan = make_plan(
        np.broadcast_to(np.zeros((), np.float32), (*channel.shape, 1)),
        np.zeros(kernel_shape),
        border=opts.border,
        cval=0.0,
        stride=opts.stride,
        dilation=opts.dilation,
        flip=opts.convolve,
        origin=step_origin(kernel_shape, opts, "the kernel"),
    )
    # Output pixel (i, j) is anchored at padded-input pixel (i*sy + ah*dy, j*sx + aw*dx), the
    # anchor tap of the (flipped, for convolution) kernel.
    ah, aw = anchor_offsets(kernel_shape, opts)
    y0, x0 = ah * plan.dilation[0], aw * plan.dilation[1]
    padded = pad(plan, channel[:, :, None])
    oh, ow = plan.out_shape
    sy, sx = plan.stride
    return padded[y0 : y0 + (oh - 1) * sy + 1 : sy, x0 : x0 + (ow - 1) * sx + 1 : sx, 0]


def _kernel_shape(step: Kernel | Magnitude) -> tuple[int, int]:
    k = step.gx if isinstance(step, Magnitude) else step
    return k.weights.shape[0], k.weights.shape[1]


def apply_chain(
    image: np.ndarray,
    steps: Sequence[Kernel | Magnitude],
    opts: FilterOptions,
    *,
    has_alpha: bool = False,
) -> np.ndarray:
    """Filter ``image`` by each step in turn, then apply ``opts.scale`` and ``opts.bias``.

    With ``has_alpha`` the last channel is alpha and ``opts.alpha`` says what happens to it:
    ``keep`` passes it through untouched (only moved by stride/valid geometry), ``premultiply``
    filters colour premultiplied by alpha and alpha itself (no dark fringes around cut-outs),
    ``filter`` treats it as one more channel, ``drop`` removes it.

    Examples
    --------
    >>> from convtool.kernels import Kernel
    >>> img = np.array([[0.0, 1.0, 0.0]])
    >>> k = Kernel("k", np.array([[1.0, 2.0, 3.0]]))
    >>> apply_chain(img, [k], FilterOptions(border="constant"))
    array([[3., 2., 1.]])
    """
    return chain_with_alpha(
        image, steps, opts, has_alpha=has_alpha, apply_step=lambda w, s: _apply_step(w, s, opts)
    )


def chain_with_alpha(
    image,
    steps: Sequence[Kernel | Magnitude],
    opts: FilterOptions,
    *,
    has_alpha: bool,
    apply_step: Callable,
    pad: Callable = pad_image,
):
    """The chain's rules (alpha, ``scale``, ``bias``) around ``apply_step(work, step)``.

    The one implementation of them: :func:`apply_chain` runs it on numpy arrays, and
    :func:`convtool.dask.apply_chain` on Dask arrays (it only calls numpy functions that
    dispatch on the array type, and never writes in place). ``pad`` pads a kept alpha
    channel for :func:`move_alpha`.

    Examples
    --------
    >>> from convtool.kernels import Kernel
    >>> rgba = np.ones((1, 3, 4))
    >>> k = Kernel("k", np.array([[1.0, 2.0, 3.0]]))
    >>> out = chain_with_alpha(rgba, [k], FilterOptions(border="valid"), has_alpha=True,
    ...                        apply_step=lambda w, s: _apply_step(w, s, FilterOptions(
    ...                            border="valid")))
    >>> out[0, 0].tolist()
    [6.0, 6.0, 6.0, 1.0]
    """
    if opts.alpha not in ALPHA_MODES:
        raise EngineError(
            f"unknown alpha mode {opts.alpha!r} (choose from {', '.join(ALPHA_MODES)})"
        )
    if not steps:
        raise EngineError("no kernel given")
    alpha = None
    work = image
    if has_alpha and image.ndim == 3 and opts.alpha != "filter":
        work, alpha = image[:, :, :-1], image[:, :, -1]
        if work.shape[2] == 1:
            work = work[:, :, 0]
        if opts.alpha == "drop":
            alpha = None
        elif opts.alpha == "premultiply":
            colour = work * (alpha if work.ndim == 2 else alpha[:, :, None])
            work = np.concatenate(
                [colour if colour.ndim == 3 else colour[:, :, None], alpha[:, :, None]], axis=2
            )
    for step in steps:
        if alpha is not None and opts.alpha == "keep":
            alpha = move_alpha(alpha, _kernel_shape(step), opts, pad=pad)
        work = apply_step(work, step)
    premultiplied = has_alpha and opts.alpha == "premultiply"
    if premultiplied:
        if work.ndim != 3 or work.shape[2] < 2:
            raise EngineError("--alpha premultiply needs kernels that keep the channel count")
        alpha = None
    return finish_chain(work, alpha, opts, premultiplied=premultiplied)


def finish_chain(work, alpha, opts: FilterOptions, *, premultiplied: bool):
    """The end of a chain, shared by the in-memory, banded and Dask chains: premultiplied
    colour divided by its filtered alpha (the last channel), then ``scale``, then ``bias`` (not
    on a premultiplied alpha), then a kept ``alpha`` put back as the last channel."""
    if premultiplied:
        colour, a = work[:, :, :-1], work[:, :, -1]
        safe = np.where(a > 1e-6, a, 1.0)
        colour = np.where(a[:, :, None] > 1e-6, colour / safe[:, :, None], 0.0)
        work = np.concatenate([colour, a[:, :, None]], axis=2).astype(work.dtype, copy=False)
    if opts.scale != 1.0:
        work = work * work.dtype.type(opts.scale)
    if opts.bias:
        bias = work.dtype.type(opts.bias)
        if premultiplied:  # alpha is back in the last channel
            work = np.concatenate([work[:, :, :-1] + bias, work[:, :, -1:]], axis=2)
        else:
            work = work + bias
    if alpha is not None:
        colour = work if work.ndim == 3 else work[:, :, None]
        work = np.concatenate([colour, alpha[:, :, None].astype(work.dtype)], axis=2)
    return work
