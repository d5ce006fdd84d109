"""convtool's filters on Dask arrays: the same results, computed block by block.

Owns: :func:`correlate`, :func:`convolve` and :func:`apply_chain` for ``dask.array.Array``
images of shape ``(H, W)`` or ``(H, W, C)`` (larger than memory, or spread over a cluster).
Each output block is computed by convtool's own engine (``border="valid"``) on its input block
plus the halo the kernel needs, through ``dask.array.map_overlap``.

Must not import: click, rich, PIL, convtool.cli (this is core code; dask is an optional extra).

How the border is kept exact
----------------------------
``map_overlap``'s own ``boundary`` options differ from convtool's modes (it has no ``mirror``
and ``full``, and a block function that pads its own edges wraps each chunk onto itself, the
dask-image ``wrap`` bug). So the image is padded lazily first, with the rows and columns the
engine's own padding would add (their source indices come from the engine's ``pad_image``
applied to ``arange``), and the blocks then see ``boundary="none"``: every block, edge or
not, computes a plain ``valid`` correlation of padded samples.

Output row ``i`` reads padded rows ``i * stride .. i * stride + extent - 1`` (extent: the
dilated kernel height). Output chunks start near the input's chunk edges, and each block
takes the halo before and after it that its rows read (an asymmetric depth), so every block
starts on the stride's phase. Chunks smaller than the halo are merged with a neighbour; the
channel axis is one chunk (a mixing kernel needs every channel).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import numpy as np

try:
    import dask.array as da
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError("convtool.dask needs the dask extra: pip install 'convtool[dask]'") from exc

from . import engine
from .chain.memory import ALPHA_MODES, FilterOptions, step_weights
from .engine import EngineError, make_plan, pad_image
from .kernels import Kernel, Magnitude

__all__ = ["apply_chain", "convolve", "correlate"]

_CONSTANT_MODES = ("constant", "full")


def _compute_dtype(dtype: np.dtype) -> np.dtype:
    # As the engine: float64 input computes in float64, everything else in float32.
    if np.issubdtype(dtype, np.complexfloating):
        raise EngineError("complex images and kernels are not supported")
    if not (np.issubdtype(dtype, np.number) or dtype == np.bool_):
        raise EngineError(f"image must be numeric, got dtype {dtype}")
    return np.dtype(np.float64) if dtype == np.float64 else np.dtype(np.float32)


def _source_index(plan: engine.Plan, axis: int, n: int) -> np.ndarray:
    """Index into the image of each padded sample along ``axis`` (non-constant modes).

    The engine's own ``pad_image`` pads ``arange(n)``, so the lazy padding copies exactly
    the samples the engine's padding would (repeated reflection for pads longer than the
    image, a one-sample axis mirrored as itself).
    """
    shape = [1, 1, 1]
    shape[axis] = n
    padded = pad_image(plan, np.arange(n).reshape(shape))
    return padded[:, 0, 0] if axis == 0 else padded[0, :, 0]


def _pad(x: da.Array, plan: engine.Plan) -> da.Array:
    """Pad an ``(H, W)`` or ``(H, W, C)`` dask array lazily, as the engine pads in memory."""
    for axis, (before, after) in enumerate((plan.pad[0:2], plan.pad[2:4])):
        if not (before or after):
            continue
        n = x.shape[axis]
        if plan.border in _CONSTANT_MODES:

            def fill(size: int, axis: int = axis, x: da.Array = x) -> da.Array:
                chunks = list(x.chunks)
                chunks[axis] = (size,)
                shape = tuple(sum(c) for c in chunks)
                return da.full(shape, plan.cval, dtype=x.dtype, chunks=tuple(chunks))

            head, tail = fill(before), fill(after)
        else:
            index = _source_index(plan, axis, n)
            head = da.take(x, index[:before], axis=axis)
            tail = da.take(x, index[before + n :], axis=axis)
        x = da.concatenate([p for p in (head, x, tail) if p.shape[axis]], axis=axis)
    return x


def _axis_chunks(
    in_chunks: tuple[int, ...], before: int, out_len: int, stride: int, extent: int
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, int]]:
    """Chunks of the padded axis, of the output axis, and the halo, for one spatial axis.

    Output chunk ``k`` starts at output row ``q_k`` (near an input chunk edge divided by the
    stride), and reads padded rows from ``q_k * stride``. The padded chunk starts ``before``
    rows later, at ``q_k * stride + before``: for stride 1 that is the input's own chunk edge
    shifted by the padding, so the lazily padded array needs no rechunk (only its padding
    strips merge with the end chunks), and the output keeps the input's chunks. Each block
    then takes ``before`` rows from the previous chunk and ``extent - stride - before`` (at
    least 0; extra rows make no extra output) from the next. Chunks shorter than the halo are
    merged with a neighbour. The padded axis is cut to ``(out_len - 1) * stride + extent``,
    the samples the output reads.
    """
    length = (out_len - 1) * stride + extent
    after = max(extent - stride - before, 0)
    least = max(before, after, 1)  # dask takes a halo from the neighbour chunk only
    firsts, starts = [0], [0]
    for edge in np.cumsum(in_chunks)[:-1]:
        q = int(edge) // stride
        start = q * stride + before
        fits = start - starts[-1] >= least and length - start >= least
        if firsts[-1] < q < out_len and fits:
            firsts.append(q)
            starts.append(start)
    padded = np.diff([*starts, length])
    out = np.diff([*firsts, out_len])
    return tuple(int(c) for c in padded), tuple(int(c) for c in out), (before, after)


def _block(
    block: np.ndarray,
    *,
    kernel: np.ndarray,
    flip: bool,
    stride: tuple[int, int],
    dilation: tuple[int, int],
    bias: float | np.ndarray,
    strategy: str,
) -> np.ndarray:
    fn = engine.convolve if flip else engine.correlate
    return fn(
        block,
        kernel,
        border="valid",
        stride=stride,
        dilation=dilation,
        bias=bias,
        strategy=strategy,
    )


def _run(
    array: da.Array | np.ndarray,
    kernel: np.ndarray,
    *,
    flip: bool,
    border: str,
    cval: float,
    stride: int | tuple[int, int],
    dilation: int | tuple[int, int],
    bias: float | np.ndarray,
    strategy: str,
) -> da.Array:
    x = da.asarray(array)
    kernel = np.asarray(kernel)
    if x.ndim not in (2, 3):
        raise EngineError(f"image must be 2-D (H, W) or 3-D (H, W, C), got shape {x.shape}")
    dtype = _compute_dtype(x.dtype)
    array_chunks = x.chunks
    # Validate on a broadcast zero (no memory) of the full shape: the engine's own checks and
    # its padding, output shape and cval.
    plan = make_plan(
        np.broadcast_to(np.zeros((), dtype), x.shape),
        kernel,
        border=border,
        cval=cval,
        stride=stride,
        dilation=dilation,
        flip=flip,
    )
    (sy, sx), (dy, dx) = plan.stride, plan.dilation
    kh, kw = plan.kernel.shape[:2]
    eh, ew = (kh - 1) * dy + 1, (kw - 1) * dx + 1
    run = partial(
        _block,
        kernel=kernel,
        flip=flip,
        stride=plan.stride,
        dilation=plan.dilation,
        bias=bias,
        strategy=strategy,
    )
    # One window of zeros through the engine: checks the bias and gives the output channels.
    cout = run(np.zeros((eh, ew, plan.source.shape[2]), dtype)).shape[2]

    # Blocks keep the engine's own view of the image: a grey image stays 2-D when the result
    # is (the engine's shared 2-D kernel path; as (H, W, 1) blocks it measured 40% slower).
    flat = x.ndim == 2 and cout == 1
    x = (x if x.ndim == 3 or flat else x[:, :, None]).astype(dtype)
    x = _pad(x if flat else x.rechunk({2: -1}), plan)
    oh, ow = plan.out_shape
    rows, out_rows, halo_y = _axis_chunks(array_chunks[0], plan.pad[0], oh, sy, eh)
    cols, out_cols, halo_x = _axis_chunks(array_chunks[1], plan.pad[2], ow, sx, ew)
    channels = () if flat else ((cout,),)
    return da.map_overlap(
        run,
        x[: sum(rows), : sum(cols)].rechunk((rows, cols) if flat else (rows, cols, -1)),
        depth={0: halo_y, 1: halo_x, **({} if flat else {2: 0})},
        boundary="none",
        trim=False,
        allow_rechunk=False,  # the chunks above are planned; a rechunk would shift them
        chunks=(out_rows, out_cols, *channels),
        dtype=dtype,
        meta=np.empty((0,) * (2 + len(channels)), dtype),
    )


def correlate(
    array: da.Array | np.ndarray,
    kernel: np.ndarray,
    *,
    border: str = "reflect",
    cval: float = 0.0,
    stride: int | tuple[int, int] = 1,
    dilation: int | tuple[int, int] = 1,
    bias: float | np.ndarray = 0.0,
    strategy: str = "auto",
) -> da.Array:
    """Cross-correlate a Dask array with a kernel, lazily: :func:`convtool.correlate` per block.

    Parameters
    ----------
    array : dask.array.Array or ndarray, shape (H, W) or (H, W, C)
        Any chunking; the channel axis is brought to one chunk and spatial chunks smaller
        than the kernel are merged. A numpy array is wrapped by ``dask.array.asarray``.
    kernel : ndarray, shape (kh, kw), (kh, kw, C) or (kh, kw, Cin, Cout)
        As for :func:`convtool.correlate` (anchor ``(kh // 2, kw // 2)``).
    border, cval, stride, dilation, bias, strategy
        As for :func:`convtool.correlate`; every border mode is exact across chunk edges.

    Returns
    -------
    dask.array.Array
        The lazy result, equal to ``convtool.correlate(array.compute(), kernel, ...)`` up to
        the rounding of the strategy each block picks (equal with ``strategy="direct"``).

    Examples
    --------
    >>> import dask.array as da
    >>> x = da.from_array(np.arange(16.0).reshape(4, 4), chunks=2)
    >>> correlate(x, np.array([[1.0, 0.0, -1.0]]), border="wrap").compute()
    array([[ 2., -2., -2.,  2.],
           [ 2., -2., -2.,  2.],
           [ 2., -2., -2.,  2.],
           [ 2., -2., -2.,  2.]])
    """
    return _run(
        array,
        kernel,
        flip=False,
        border=border,
        cval=cval,
        stride=stride,
        dilation=dilation,
        bias=bias,
        strategy=strategy,
    )


def convolve(
    array: da.Array | np.ndarray,
    kernel: np.ndarray,
    *,
    border: str = "reflect",
    cval: float = 0.0,
    stride: int | tuple[int, int] = 1,
    dilation: int | tuple[int, int] = 1,
    bias: float | np.ndarray = 0.0,
    strategy: str = "auto",
) -> da.Array:
    """True convolution of a Dask array: :func:`convtool.convolve` per block.

    Parameters and result as :func:`correlate` (the kernel flipped, anchored like
    ``scipy.ndimage.convolve``).

    Examples
    --------
    >>> import dask.array as da
    >>> x = da.from_array(np.array([[0.0, 1.0, 0.0, 0.0]]), chunks=1)
    >>> convolve(x, np.array([[1.0, 2.0, 3.0]]), border="full").compute()
    array([[0., 1., 2., 3., 0., 0.]])
    """
    return _run(
        array,
        kernel,
        flip=True,
        border=border,
        cval=cval,
        stride=stride,
        dilation=dilation,
        bias=bias,
        strategy=strategy,
    )


# ---------------------------------------------------------------------------------------------
# Chains (convtool.filtering.apply_chain on Dask arrays)
# ---------------------------------------------------------------------------------------------


def _correlate_step(image: da.Array, kernel: Kernel, opts: FilterOptions) -> da.Array:
    weights = step_weights(kernel, 1 if image.ndim == 2 else image.shape[2], opts)
    fn = convolve if opts.convolve else correlate
    return fn(
        image,
        weights,
        border=opts.border,
        cval=opts.cval,
        stride=opts.stride,
        dilation=opts.dilation,
        bias=kernel.bias,
        strategy=opts.strategy,
    )


def _apply_step(image: da.Array, step: Kernel | Magnitude, opts: FilterOptions) -> da.Array:
    if isinstance(step, Magnitude):
        gx = _correlate_step(image, step.gx, opts)
        gy = _correlate_step(image, step.gy, opts)
        return da.sqrt(gx * gx + gy * gy)
    return _correlate_step(image, step, opts)


def _follow_geometry(channel: da.Array, step: Kernel | Magnitude, opts: FilterOptions):
    """The untouched alpha channel moved as a kernel step moves the pixels (stride, valid, full).

    Output pixel ``(i, j)`` is anchored at padded pixel ``(i*sy + ah*dy, j*sx + aw*dx)``, the
    anchor tap of the (flipped, for convolution) kernel; padding with cval 0.
    """
    if opts.stride == 1 and opts.border.lower() not in ("valid", "full"):
        return channel
    kh, kw = (step.gx if isinstance(step, Magnitude) else step).weights.shape[:2]
    shape = (*channel.shape, 1)
    plan = make_plan(
        np.broadcast_to(np.zeros((), np.float32), shape),
        np.zeros((kh, kw)),
        border=opts.border,
        cval=0.0,
        stride=opts.stride,
        dilation=opts.dilation,
        flip=opts.convolve,
    )
    ah = (kh - 1 - kh // 2) if opts.convolve else kh // 2
    aw = (kw - 1 - kw // 2) if opts.convolve else kw // 2
    y0, x0 = ah * plan.dilation[0], aw * plan.dilation[1]
    padded = _pad(channel[:, :, None], plan)
    (oh, ow), (sy, sx) = plan.out_shape, plan.stride
    return padded[y0 : y0 + (oh - 1) * sy + 1 : sy, x0 : x0 + (ow - 1) * sx + 1 : sx, 0]


def _split_alpha(image: da.Array, opts: FilterOptions) -> tuple[da.Array, da.Array | None]:
    work, alpha = image[:, :, :-1], image[:, :, -1]
    if work.shape[2] == 1:
        work = work[:, :, 0]
    if opts.alpha == "drop":
        return work, None
    if opts.alpha == "premultiply":
        colour = work * (alpha if work.ndim == 2 else alpha[:, :, None])
        colour = colour if colour.ndim == 3 else colour[:, :, None]
        work = da.concatenate([colour, alpha[:, :, None]], axis=2)
    return work, alpha


def _unpremultiply(work: da.Array) -> da.Array:
    if work.ndim != 3 or work.shape[2] < 2:
        raise EngineError("--alpha premultiply needs kernels that keep the channel count")
    colour, a = work[:, :, :-1], work[:, :, -1]
    safe = da.where(a > 1e-6, a, 1.0)
    colour = da.where(a[:, :, None] > 1e-6, colour / safe[:, :, None], 0.0)
    return da.concatenate([colour, a[:, :, None]], axis=2).astype(work.dtype)


def apply_chain(
    array: da.Array | np.ndarray,
    steps: Sequence[Kernel | Magnitude],
    opts: FilterOptions,
    *,
    has_alpha: bool = False,
) -> da.Array:
    """:func:`convtool.filtering.apply_chain` on a Dask array: each step one lazy correlation.

    Every step pads the previous step's output by the border mode, as the in-memory chain
    does, so the result equals it (not a single pass with a combined halo, which would pad
    the input instead). ``opts.runs`` is not filled (the strategy is chosen per block).

    Examples
    --------
    >>> import dask.array as da
    >>> img = da.from_array(np.array([[0.0, 1.0, 0.0]]), chunks=1)
    >>> k = Kernel("k", np.array([[1.0, 2.0, 3.0]]))
    >>> apply_chain(img, [k], FilterOptions(border="constant")).compute()
    array([[3., 2., 1.]])
    """
    if opts.alpha not in ALPHA_MODES:
        raise EngineError(
            f"unknown alpha mode {opts.alpha!r} (choose from {', '.join(ALPHA_MODES)})"
        )
    if not steps:
        raise EngineError("no kernel given")
    work = da.asarray(array)
    alpha = None
    if has_alpha and work.ndim == 3 and opts.alpha != "filter":
        work, alpha = _split_alpha(work, opts)
    for step in steps:
        if alpha is not None and opts.alpha == "keep":
            alpha = _follow_geometry(alpha, step, opts)
        work = _apply_step(work, step, opts)
    if has_alpha and opts.alpha == "premultiply":
        work, alpha = _unpremultiply(work), None
    if opts.scale != 1.0:
        work = work * work.dtype.type(opts.scale)
    if opts.bias:
        bias = work.dtype.type(opts.bias)
        if has_alpha and opts.alpha == "premultiply":
            work = da.concatenate([work[:, :, :-1] + bias, work[:, :, -1:]], axis=2)
        else:
            work = work + bias
    if alpha is not None:
        colour = work if work.ndim == 3 else work[:, :, None]
        work = da.concatenate([colour, alpha[:, :, None].astype(work.dtype)], axis=2)
    return work
