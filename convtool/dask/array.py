"""convtool's filters on Dask arrays: the same results, computed block by block.

Owns: :func:`correlate`, :func:`convolve` and :func:`apply_chain` for ``dask.array.Array``
images of shape ``(H, W)`` or ``(H, W, C)`` (larger than memory, or spread over a cluster),
stacks ``(T, H, W[, C])`` frame by frame, and ``xarray.DataArray`` (dims and coordinates kept).
Each output block is computed by convtool's own engine (``border="valid"``) on its input block
plus the halo the kernel needs, through ``dask.array.map_overlap``.

Must not import: click, rich, PIL, convtool.cli (this is core code; dask is an optional extra).

How the border is kept exact
----------------------------
``map_overlap``'s own ``boundary`` options differ from convtool's modes (it has no ``mirror``
and ``full``, and a block function that pads its own edges wraps each chunk onto itself, the
dask-image ``wrap`` bug). So the image is padded lazily first, with the rows and columns the
engine's own padding would add (their source indices come from the engine's ``pad_image``
applied to ``arange``; taken as slices and concatenated, never ``da.take``), and the blocks
then see ``boundary="none"``: every block, edge or not, computes a plain ``valid``
correlation of padded samples.

Output row ``i`` reads padded rows ``i * stride .. i * stride + extent - 1`` (extent: the
dilated kernel height). Output chunks start near the input's chunk edges, and each block
takes the halo before and after it that its rows read (an asymmetric depth), so every block
starts on the stride's phase. Chunks smaller than the halo are merged with a neighbour; the
channel axis is one chunk (a mixing kernel needs every channel).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import dask.array as da
import numpy as np

from .. import engine
from ..chain.memory import FilterOptions, chain_with_alpha, step_keywords, step_weights
from ..engine import EngineError, make_plan, pad_image
from ..kernels import Kernel, Magnitude

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


def _slices(index: np.ndarray) -> list[slice]:
    """``index`` (source positions) as slices of step +1 or -1, in order.

    >>> _slices(np.array([3, 2, 1, 7, 8]))
    [slice(3, 0, -1), slice(7, 9, 1)]
    >>> _slices(np.array([0, 0]))
    [slice(0, 1, 1), slice(0, 1, 1)]
    """
    out, i = [], 0
    while i < len(index):
        j = i + 1
        step = int(index[j] - index[i]) if j < len(index) else 1
        step = step if step in (1, -1) else 1
        while j < len(index) and index[j] - index[j - 1] == step:
            j += 1
        first, last = int(index[i]), int(index[j - 1])
        stop = last + step
        out.append(slice(first, None if stop < 0 else stop, step))
        i = j
    return out


def _pad(x: da.Array, plan: engine.Plan) -> da.Array:
    """Pad an ``(H, W)`` or ``(H, W, C)`` dask array lazily, as the engine pads in memory.

    Border samples are slices of the array (reversed for mirrors) joined by concatenation:
    no ``da.take``, whose shuffle graph made ``distributed`` lose keys when crops of a result
    were computed one after another (the snippet's Known issues).
    """
    for axis, (before, after) in enumerate((plan.pad[0:2], plan.pad[2:4])):
        if not (before or after):
            continue
        n = x.shape[axis]
        if plan.border in _CONSTANT_MODES:

            def fill(size: int, axis: int = axis, x: da.Array = x) -> list[da.Array]:
                chunks = list(x.chunks)
                chunks[axis] = (size,)
                shape = tuple(sum(c) for c in chunks)
                return [da.full(shape, plan.cval, dtype=x.dtype, chunks=tuple(chunks))]

            head, tail = fill(before), fill(after)
        else:
            index = _source_index(plan, axis, n)
            cut = (slice(None),) * axis
            head = [x[(*cut, s)] for s in _slices(index[:before])]
            tail = [x[(*cut, s)] for s in _slices(index[before + n :])]
        x = da.concatenate([p for p in (*head, x, *tail) if p.shape[axis]], axis=axis)
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
    if x.ndim not in (2, 3):  # a stack reaches here frame by frame
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


# ---------------------------------------------------------------------------------------------
# Stacks and labelled arrays: frames one by one, xarray's dims and coordinates kept
# ---------------------------------------------------------------------------------------------


def _spatial(x, axes: tuple[int, int] | None) -> int:
    """How many leading (stack) axes come before the rows and columns ``axes`` name."""
    names = getattr(x, "dims", None)
    if axes is None:
        axes = (
            (names.index("y"), names.index("x")) if names and {"y", "x"} <= set(names) else (0, 1)
        )
    ndim = x.ndim
    try:
        y, xx = (int(a) + ndim if int(a) < 0 else int(a) for a in axes)
    except (TypeError, ValueError):
        raise EngineError(f"axes must be two axis numbers (rows, columns), got {axes!r}") from None
    if not (0 <= y < ndim and xx == y + 1 and ndim - xx - 1 in (0, 1)):
        raise EngineError(
            "image must be 2-D (H, W) or 3-D (H, W, C), or a stack (T, H, W[, C]) with "
            f"axes=(1, 2); got shape {tuple(x.shape)} with axes={tuple(axes)!r}"
        )
    return y


def _per_frame(x: da.Array, lead: int, fn) -> da.Array:
    """``fn`` on each ``(H, W[, C])`` frame of the ``lead`` leading axes, stacked back."""
    if lead == 0:
        return fn(x)
    return da.stack([_per_frame(x[i], lead - 1, fn) for i in range(x.shape[0])])


def _labelled(array, fn, axes: tuple[int, int] | None):
    """Run ``fn`` on a plain Dask array of each frame; an xarray.DataArray comes back as one.

    The result keeps the input's dims and attributes, and the coordinates of every axis whose
    length the filter kept (a stride or ``valid`` border changes rows and columns).
    """
    data = getattr(array, "data", array) if hasattr(array, "dims") else array
    x = da.asarray(data)
    out = _per_frame(x, _spatial(array, axes), fn)
    if not hasattr(array, "dims"):
        return out
    dims = tuple(array.dims)
    if out.ndim != len(dims):  # a grey result of one channel: the channel axis is gone
        raise EngineError(f"the result has shape {out.shape}, not the dims {dims}")
    sizes = dict(zip(dims, out.shape, strict=True))
    coords = {
        name: c
        for name, c in array.coords.items()
        if all(sizes.get(d) == array.sizes[d] for d in c.dims)
    }
    return type(array)(out, dims=dims, coords=coords, attrs=dict(array.attrs), name=array.name)


# ---------------------------------------------------------------------------------------------
# Public functions
# ---------------------------------------------------------------------------------------------


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
    axes: tuple[int, int] | None = None,
) -> da.Array:
    """Cross-correlate a Dask array with a kernel, lazily: :func:`convtool.correlate` per block.

    Parameters
    ----------
    array : dask.array.Array, ndarray or xarray.DataArray
        ``(H, W)``, ``(H, W, C)`` or a stack ``(T, H, W[, C])`` (any leading axes, each frame
        filtered alone). Any chunking; the channel axis is brought to one chunk and spatial
        chunks smaller than the kernel are merged. A DataArray gives one back, with the same
        dims and the coordinates of the axes whose length is kept.
    kernel : ndarray, shape (kh, kw), (kh, kw, C) or (kh, kw, Cin, Cout)
        As for :func:`convtool.correlate` (anchor ``(kh // 2, kw // 2)``).
    border, cval, stride, dilation, bias, strategy
        As for :func:`convtool.correlate`; every border mode is exact across chunk edges.
    axes : (int, int), optional
        The rows and columns axes (neighbours, followed by at most a channel axis). Default:
        the dims named ``y`` and ``x`` of a DataArray, else ``(0, 1)``; a stack
        ``(T, H, W[, C])`` takes ``axes=(1, 2)``.

    Returns
    -------
    dask.array.Array (or xarray.DataArray)
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
    >>> stack = da.ones((5, 4, 4), chunks=(1, 2, 2))
    >>> correlate(stack, np.ones((3, 3)), border="valid", axes=(1, 2)).shape
    (5, 2, 2)
    """
    return _labelled(
        array,
        partial(_run, kernel=kernel, flip=False, border=border, cval=cval, stride=stride,
                dilation=dilation, bias=bias, strategy=strategy),
        axes,
    )  # fmt: skip


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
    axes: tuple[int, int] | None = None,
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
    return _labelled(
        array,
        partial(_run, kernel=kernel, flip=True, border=border, cval=cval, stride=stride,
                dilation=dilation, bias=bias, strategy=strategy),
        axes,
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Chains (convtool.chain.memory's rules, each step one lazy correlation)
# ---------------------------------------------------------------------------------------------


def _correlate_step(image: da.Array, kernel: Kernel, opts: FilterOptions) -> da.Array:
    weights = step_weights(kernel, 1 if image.ndim == 2 else image.shape[2], opts)
    return _run(image, weights, flip=opts.convolve, **step_keywords(kernel, opts))


def _apply_step(image: da.Array, step: Kernel | Magnitude, opts: FilterOptions) -> da.Array:
    if isinstance(step, Magnitude):
        gx = _correlate_step(image, step.gx, opts)
        gy = _correlate_step(image, step.gy, opts)
        return da.sqrt(gx * gx + gy * gy)
    return _correlate_step(image, step, opts)


def _lazy_pad(plan: engine.Plan, channel: da.Array) -> da.Array:
    return _pad(channel, plan)


def apply_chain(
    array: da.Array | np.ndarray,
    steps: Sequence[Kernel | Magnitude],
    opts: FilterOptions,
    *,
    has_alpha: bool = False,
    axes: tuple[int, int] | None = None,
) -> da.Array:
    """:func:`convtool.chain.memory.apply_chain` on a Dask array: each step one lazy correlation.

    The alpha, scale and bias rules are the in-memory chain's own
    (:func:`convtool.chain.memory.chain_with_alpha`). Every step pads the previous step's
    output by the border mode, as the in-memory chain does, so the result equals it (not a
    single pass with a combined halo, which would pad the input instead). ``opts.runs`` is
    not filled (the strategy is chosen per block). Stacks and DataArrays as :func:`correlate`.

    Examples
    --------
    >>> import dask.array as da
    >>> img = da.from_array(np.array([[0.0, 1.0, 0.0]]), chunks=1)
    >>> k = Kernel("k", np.array([[1.0, 2.0, 3.0]]))
    >>> apply_chain(img, [k], FilterOptions(border="constant")).compute()
    array([[3., 2., 1.]])
    """
    if opts.anchor is not None or opts.origin != 0 or opts.precision is not None:
        # The lazy correlation pads and sums by the defaults; refuse rather than ignore.
        raise EngineError("origin, anchor and precision are not supported on Dask arrays yet")

    def frame(x: da.Array) -> da.Array:
        return chain_with_alpha(
            x,
            steps,
            opts,
            has_alpha=has_alpha,
            apply_step=lambda w, s: _apply_step(w, s, opts),
            pad=_lazy_pad,
        )

    return _labelled(array, frame, axes)
