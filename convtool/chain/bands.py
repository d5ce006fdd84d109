"""Run a kernel chain over row bands, so that big images filter in bounded memory.

Owns: the geometry of a chain over output row bands (which rows of every intermediate image a
band needs, border rows included), filling each band's padded rows exactly as the engine pads a
whole image, converting source rows (any dtype, e.g. uint8 or a memory-mapped array) to the
compute dtype band by band, and writing results into a caller's output array (``out=``).
:meth:`BandedChain.run` computes bands side by side, one per pool thread (each read,
converted, filtered and stored while its rows are in that core's cache; the engine runs
inline inside), so ``convert`` callbacks see bands in any order; memory is then a few bands.

Results equal :func:`convtool.chain.memory.apply_chain` on the whole image value for value when
the strategy is ``direct`` or ``strips`` (each output pixel sums its taps in the same order
whatever rows it is given). ``gemm`` and ``separable`` (BLAS: block shapes, and GEMV for
one-row blocks, change the order of the sums) and ``fft`` (transform sizes follow the rows
given) agree to float32 rounding, a few ulp of the largest value (tests/test_bands.py).

Must not import: click, rich, PIL (pure numpy core).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from .. import runtime
from .._mmap import release_rows
from ..engine import (
    EngineError,
    RunInfo,
    box_into,
    choose_strategy,
    compute_dtype,
    convolve,
    correlate,
    index_map,
    make_plan,
    normalize_borders,
)
from ..kernels import Kernel, Magnitude
from .memory import (
    ALPHA_MODES,
    FilterOptions,
    anchor_offsets,
    finish_chain,
    step_origin,
    step_weights,
)

__all__ = ["BAND_BYTES", "BandedChain", "correlate_into", "filter_bands"]

# Float working set of one band (rows of the widest intermediate image, halo rows excluded):
# a few MB, whatever the image's height.
BAND_BYTES = 8 * 1024 * 1024
_MIN_BAND_ROWS = 8
# Bands at least this many times the halo rows: each band filters its halo again (a 13-tap
# gaussian on 45-row bands did 27% more work; at 8x the halo, 12%), up to 4x BAND_BYTES.
_HALO_SHARE = 8

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class _Pass:
    """One kernel applied by one chain step, with its whole-image geometry."""

    name: str
    weights: np.ndarray
    bias: float | np.ndarray
    strategy: str
    eh: int
    sy: int
    rows: np.ndarray  # padded row -> source row (-1: cval)
    cols: np.ndarray  # padded column -> source column
    cval: float
    left: int  # padding columns before the image's first column
    out_shape: tuple[int, ...]


@dataclass(frozen=True)
class _Step:
    passes: tuple[_Pass, ...]  # one, or gx and gy of a Magnitude
    magnitude: bool
    alpha_rows: np.ndarray | None  # 'keep' alpha: output row -> source row (-1: 0)
    alpha_cols: np.ndarray | None
    out_shape: tuple[int, ...]


def _plan_pass(name, kernel, shape, dtype, opts: FilterOptions) -> _Pass:
    weights = step_weights(kernel, 1 if len(shape) == 2 else shape[2], opts)
    # A zero-strided stand-in of the whole image: the engine's own plan gives the padding,
    # output size and (for "auto") the strategy the whole-image path would run.
    ghost = np.broadcast_to(np.zeros((), dtype), shape)
    plan = make_plan(
        ghost,
        weights,
        border=opts.border,
        cval=opts.cval,
        stride=opts.stride,
        dilation=opts.dilation,
        flip=opts.convolve,
        origin=step_origin(weights.shape[:2], opts, name),
    )
    strategy = choose_strategy(plan) if opts.strategy == "auto" else opts.strategy
    top, bottom, left, right = plan.pad
    h, w = shape[:2]
    cout = plan.source.shape[2] if plan.depthwise else plan.kernel.shape[3]
    return _Pass(
        name=name,
        weights=weights,
        bias=kernel.bias,
        strategy=strategy,
        eh=(plan.kernel.shape[0] - 1) * plan.dilation[0] + 1,
        sy=plan.stride[0],
        rows=index_map(h, top, bottom, plan.borders[0]),
        cols=index_map(w, left, right, plan.borders[1]),
        cval=plan.cval,
        left=left,
        out_shape=plan.out_shape if len(shape) == 2 and cout == 1 else (*plan.out_shape, cout),
    )


def _alpha_maps(kernel: Kernel, shape, opts: FilterOptions):
    """Where 'keep' alpha comes from after a step: memory.apply_chain's _follow_geometry."""
    modes, _ = normalize_borders(opts.border)
    if opts.stride == 1 and not {"valid", "full"} & set(modes):
        return None, None
    kh, kw = kernel.weights.shape[:2]
    ghost = np.broadcast_to(np.zeros((), np.float32), shape[:2])
    plan = make_plan(
        ghost,
        np.zeros((kh, kw)),
        border=opts.border,
        stride=opts.stride,
        dilation=opts.dilation,
        flip=opts.convolve,
        origin=step_origin((kh, kw), opts, kernel.name),
    )
    ah, aw = anchor_offsets((kh, kw), opts, kernel.name)
    top, bottom, left, right = plan.pad
    rows = index_map(shape[0], top, bottom, plan.borders[0])
    cols = index_map(shape[1], left, right, plan.borders[1])
    oh, ow = plan.out_shape
    sy, sx = plan.stride
    return (
        rows[ah * plan.dilation[0] + sy * np.arange(oh)],
        cols[aw * plan.dilation[1] + sx * np.arange(ow)],
    )


def _runs(rows: np.ndarray) -> list[tuple[int, int]]:
    """Sorted unique row indices as ``[start, stop)`` runs of consecutive rows."""
    return [(int(rows[a]), int(rows[b - 1]) + 1) for a, b in _runs_of(rows)]


def _runs_of(where: np.ndarray) -> list[tuple[int, int]]:
    """``[a, b)`` spans of ``where`` that are consecutive source rows (or all -1: fill)."""
    if where.size == 0:
        return []
    held = where >= 0
    jump = held[1:] & held[:-1] & (np.diff(where) != 1)
    breaks = np.flatnonzero(jump | (held[1:] != held[:-1])) + 1
    return list(itertools.pairwise([0, *breaks.tolist(), where.size]))


def _convert(raw: np.ndarray, dst: np.ndarray, scale: float | None) -> None:
    """``dst[...] = raw`` in ``dst``'s dtype, divided by ``scale`` as the image decoder does."""
    if scale is None:
        np.copyto(dst, raw, casting="unsafe")
    else:
        np.divide(raw, dst.dtype.type(scale), out=dst, dtype=dst.dtype)


def _slab(
    src: np.ndarray,
    have: np.ndarray | None,
    rows: np.ndarray,
    fill: float,
    *,
    cols: np.ndarray | None = None,
    left: int = 0,
    dtype: np.dtype | None = None,
    scale: float | None = None,
) -> np.ndarray:
    """Padded rows for a kernel: rows ``rows`` (image row indices, -1: ``fill``) of ``src``,
    which holds the image rows ``have`` (None: all of them, in order), with the border
    columns the index map ``cols`` asks for, converted to ``dtype`` on the way (one pass).

    A view of ``src`` when nothing is padded or converted and the rows are held in a run.
    """
    dtype = src.dtype if dtype is None else np.dtype(dtype)
    valid = rows >= 0
    pos = rows[valid] if have is None else np.searchsorted(have, rows[valid])
    n, w = rows.size, src.shape[1]
    width = w if cols is None else cols.size
    run = bool(valid.all()) and n > 0 and int(pos[-1] - pos[0]) == n - 1
    if run and width == w and dtype == src.dtype and scale is None:
        return src[pos[0] : pos[0] + n]
    out = np.empty((n, width, *src.shape[2:]), dtype)
    center = out[:, left : left + w]
    if run:
        _convert(src[pos[0] : pos[0] + n], center, scale)
    else:  # a band at the border: a few mapped rows, then a run (no gather of the whole band)
        where = np.full(n, -1, np.intp)
        where[valid] = pos
        for a, b in _runs_of(where):
            if where[a] < 0:
                center[a:b] = fill
            else:
                _convert(src[where[a] : where[a] + b - a], center[a:b], scale)
    if width != w:
        edge = np.r_[np.arange(left), np.arange(left + w, width)].astype(np.intp)
        source = cols[edge]
        if np.any(source >= 0):
            out[:, edge[source >= 0]] = out[:, left + source[source >= 0]]
        if np.any(source < 0):
            out[:, edge[source < 0]] = fill
    return out


def _store(values: np.ndarray, dst: np.ndarray) -> None:
    """Write computed values into ``dst``: rounded half to even and clipped to an integer
    dtype's range, or cast to a float dtype."""
    if np.issubdtype(dst.dtype, np.integer):
        info = np.iinfo(dst.dtype)
        work = np.rint(values)
        np.clip(work, info.min, info.max, out=work)
        np.copyto(dst, work, casting="unsafe")
    else:
        np.copyto(dst, values, casting="unsafe")


class BandedChain:
    """A kernel chain planned for one image size, computed over bands of output rows.

    Parameters
    ----------
    shape : tuple
        ``(H, W)`` or ``(H, W, C)`` of the source image.
    dtype : dtype
        The source's dtype: float64 computes in float64, anything else in float32 (unless
        ``opts.precision`` says otherwise).
    steps : sequence of Kernel or Magnitude
        The chain, as for :func:`convtool.chain.memory.apply_chain`.
    opts : FilterOptions
        Border, stride, dilation, alpha mode, scale, bias, strategy (as the whole-image path).
    has_alpha : bool
        The last channel is alpha (``opts.alpha`` says what happens to it).
    band_rows : int, optional
        Output rows per band; default: :data:`BAND_BYTES` of the widest float row.
    input_scale : float, optional
        Divide source values by this (255 or 65535: normalized units), as the image decoder
        does; without it integers are converted as they are.

    Examples
    --------
    >>> from convtool.kernels import Kernel
    >>> img = np.arange(12, dtype=np.uint8).reshape(4, 3)
    >>> chain = BandedChain(img.shape, img.dtype, [Kernel("k", np.ones((3, 1)))],
    ...                     FilterOptions(border="wrap"), band_rows=1)
    >>> np.concatenate([band for _, _, band in chain.bands(img)])[:, 0]
    array([12.,  9., 18., 15.], dtype=float32)
    """

    def __init__(
        self,
        shape: tuple[int, ...],
        dtype: np.dtype | type,
        steps: Sequence[Kernel | Magnitude],
        opts: FilterOptions,
        *,
        has_alpha: bool = False,
        band_rows: int | None = None,
        input_scale: float | None = None,
    ) -> None:
        if opts.alpha not in ALPHA_MODES:
            raise EngineError(
                f"unknown alpha mode {opts.alpha!r} (choose from {', '.join(ALPHA_MODES)})"
            )
        if not steps:
            raise EngineError("no kernel given")
        if len(shape) not in (2, 3) or 0 in shape:
            raise EngineError(f"image must be 2-D (H, W) or 3-D (H, W, C), got shape {shape}")
        self.opts, self.input_scale = opts, input_scale
        self.in_shape = tuple(int(s) for s in shape)
        self.dtype = compute_dtype(np.dtype(dtype), opts.precision)
        self.split = has_alpha and len(shape) == 3 and opts.alpha != "filter"
        self.keep = self.split and opts.alpha == "keep"
        self.premultiply = has_alpha and opts.alpha == "premultiply"
        work = self.in_shape
        if self.split and opts.alpha != "premultiply":
            work = work[:2] if work[2] == 2 else (*work[:2], work[2] - 1)
        self.steps: list[_Step] = []
        widest = int(np.prod(work[1:]))
        for step in steps:
            kernels = (step.gx, step.gy) if isinstance(step, Magnitude) else (step,)
            passes = tuple(_plan_pass(step.name, k, work, self.dtype, opts) for k in kernels)
            a_rows = a_cols = None
            if self.keep:
                a_rows, a_cols = _alpha_maps(kernels[0], work, opts)
            channels = 1 if len(work) == 2 else work[2]
            work = passes[0].out_shape
            widest = max(widest, int(np.prod(work[1:])), passes[0].cols.size * channels)
            self.steps.append(
                _Step(passes, isinstance(step, Magnitude), a_rows, a_cols, passes[0].out_shape)
            )
        if self.premultiply and (len(work) != 3 or work[2] < 2):
            raise EngineError("--alpha premultiply needs kernels that keep the channel count")
        if self.keep:
            work = (*work[:2], (1 if len(work) == 2 else work[2]) + 1)
        self.out_shape = work
        self._infos = [[(p.name, RunInfo(p.strategy)) for p in s.passes] for s in self.steps]
        self.runs = [run for infos in self._infos for run in infos]
        if band_rows is None:
            sy = opts.stride if isinstance(opts.stride, int) else opts.stride[0]
            stride = sy ** len(self.steps)
            band_rows = BAND_BYTES // (widest * self.dtype.itemsize * stride)
            halo = sum(p.eh - 1 for s in self.steps for p in s.passes[:1])
            band_rows = max(_MIN_BAND_ROWS, band_rows, min(_HALO_SHARE * halo, 4 * band_rows))
        self.band_rows = max(1, int(band_rows))

    def needs(self, r0: int, r1: int) -> list[np.ndarray]:
        """Rows of the source and of each intermediate image that output rows ``r0:r1`` need
        (sorted unique indices; border rows already mapped to the rows they copy)."""
        need = [np.arange(r0, r1, dtype=np.intp)]
        for step in reversed(self.steps):
            parts = []
            for run0, run1 in _runs(need[0]):
                for p in step.passes:
                    parts.append(p.rows[run0 * p.sy : (run1 - 1) * p.sy + p.eh])
            if step.alpha_rows is not None:
                parts.append(step.alpha_rows[need[0]])
            rows = np.unique(np.concatenate(parts))
            need.insert(0, rows[rows >= 0])
        return need

    def _source(self, image: np.ndarray, rows: np.ndarray):
        """Source rows as floats, alpha split off (premultiplied) as ``opts.alpha`` says."""
        work = _slab(image, None, rows, 0.0, dtype=self.dtype, scale=self.input_scale)
        alpha = None
        if self.split:
            work, alpha = work[:, :, :-1], work[:, :, -1]
            if work.shape[2] == 1:
                work = work[:, :, 0]
            if self.opts.alpha == "drop":
                alpha = None
            elif self.premultiply:
                colour = work * (alpha if work.ndim == 2 else alpha[:, :, None])
                work = np.concatenate(
                    [colour if colour.ndim == 3 else colour[:, :, None], alpha[:, :, None]],
                    axis=2,
                )
                alpha = None
        return work, alpha

    def _pass(self, p: _Pass, work: np.ndarray, have, run: tuple[int, int], scale):
        run0, run1 = run
        rows = p.rows[run0 * p.sy : (run1 - 1) * p.sy + p.eh]
        slab = _slab(work, have, rows, p.cval, cols=p.cols, left=p.left, dtype=self.dtype,
                     scale=scale)  # fmt: skip
        fn = convolve if self.opts.convolve else correlate
        info = RunInfo()
        out = fn(
            slab,
            p.weights,
            border="valid",
            stride=self.opts.stride,
            dilation=self.opts.dilation,
            bias=p.bias,
            strategy=p.strategy,
            info=info,
        )
        return out, info.seconds

    def _step(self, index: int, work: np.ndarray, have, want: np.ndarray, scale=None):
        step = self.steps[index]
        pieces = []
        for run in _runs(want):
            outs = []
            for p, (_, info) in zip(step.passes, self._infos[index], strict=True):
                out, seconds = self._pass(p, work, have, run, scale)
                info.seconds += seconds
                outs.append(out)
            if step.magnitude:
                gx, gy = outs
                np.multiply(gx, gx, out=gx)
                gx += gy * gy
                outs = [np.sqrt(gx, out=gx)]
            pieces.append(outs[0])
        return pieces[0] if len(pieces) == 1 else np.concatenate(pieces)

    def compute(self, image: np.ndarray, r0: int, r1: int) -> np.ndarray:
        """Output rows ``r0:r1`` of the chain (the compute dtype; ``apply_chain``'s values)."""
        need = self.needs(r0, r1)
        if self.split:
            work, alpha = self._source(image, need[0])
            have, scale = need[0], None
        else:  # the first kernels read and convert the source rows themselves (one pass)
            work, alpha, have, scale = image, None, None, self.input_scale
        for index, step in enumerate(self.steps):
            if alpha is not None and step.alpha_rows is not None:
                rows = _slab(alpha, need[index], step.alpha_rows[need[index + 1]], 0.0)
                alpha = rows[:, np.maximum(step.alpha_cols, 0)]
                alpha[:, step.alpha_cols < 0] = 0
            elif alpha is not None:
                alpha = _slab(alpha, need[index], need[index + 1], 0.0)
            work = self._step(index, work, have, need[index + 1], scale)
            have, scale = need[index + 1], None
        return self._finish(work, alpha)

    def _finish(self, work: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
        return finish_chain(work, alpha, self.opts, premultiplied=self.premultiply)

    def bands(
        self, image: np.ndarray, *, progress: Progress | None = None
    ) -> Iterator[tuple[int, int, np.ndarray]]:
        """Yield ``(r0, r1, values)`` for every band of output rows, top to bottom.

        ``progress(done_rows, total_rows)`` is called after each band. Rows of a memory-mapped
        ``image`` that no later band needs leave the resident set as the bands go down.
        """
        if tuple(image.shape) != self.in_shape:
            raise EngineError(f"image shape {image.shape} is not the planned {self.in_shape}")
        total = self.out_shape[0]
        released = 0
        for r0 in range(0, total, self.band_rows):
            r1 = min(total, r0 + self.band_rows)
            values = self.compute(image, r0, r1)
            yield r0, r1, values
            released = self._release_input(image, released, r1)
            if progress is not None:
                progress(r1, total)

    def _release_input(self, image: np.ndarray, released: int, done: int) -> int:
        """Let the rows of a mapped ``image`` that no band from output row ``done`` on needs
        leave the resident set; returns the new count of released rows."""
        total = self.out_shape[0]
        if done >= total:
            return released
        low = int(self.needs(done, min(total, done + self.band_rows))[0][0])
        release_rows(image, released, low)
        return max(released, low)

    def run(
        self,
        image: np.ndarray,
        out: np.ndarray,
        *,
        convert: Callable[[np.ndarray, np.ndarray, int], object] | None = None,
        progress: Progress | None = None,
    ) -> np.ndarray:
        """Fill ``out`` (shape :attr:`out_shape`, a 1-channel last axis may be left out) band
        by band: ``convert(values, out[r0:r1], r0)`` stores them when given, else they are
        rounded and clipped for an integer ``out``, cast for a float one. Rows of a
        memory-mapped ``out`` leave the resident set once written. Returns ``out``."""
        expected = self.out_shape
        if out.shape != expected and not (out.shape == expected[:2] and expected[2:] == (1,)):
            raise EngineError(f"out has shape {out.shape}, the result has {expected}")
        if tuple(image.shape) != self.in_shape:
            raise EngineError(f"image shape {image.shape} is not the planned {self.in_shape}")

        def band(r0: int, r1: int) -> Callable[[], None]:
            def task() -> None:
                values = self.compute(image, r0, r1).reshape((r1 - r0, *out.shape[1:]))
                if convert is not None:
                    convert(values, out[r0:r1], r0)
                else:
                    _store(values, out[r0:r1])

            return task

        # Each band whole on one thread (read, convert, filter, round, store while its rows
        # are in that core's cache; the engine then runs inline), a round of bands per
        # thread at a time: 4K RGB 8-bit gaussian:2 took 131 ms with the bands in turn and
        # the engine's threads inside each, converting and rounding on one thread.
        total, released = expected[0], 0
        starts = list(range(0, total, self.band_rows))
        width = runtime.threads()
        for i in range(0, len(starts), width):
            group = [(r0, min(total, r0 + self.band_rows)) for r0 in starts[i : i + width]]
            runtime.run_queue([band(r0, r1) for r0, r1 in group])
            last = group[-1][1]
            release_rows(out, group[0][0], last)
            released = self._release_input(image, released, last)
            if progress is not None:
                progress(last, total)
        return out


def filter_bands(
    image: np.ndarray,
    steps: Sequence[Kernel | Magnitude],
    opts: FilterOptions,
    *,
    has_alpha: bool = False,
    out: np.ndarray | None = None,
    convert: Callable[[np.ndarray, np.ndarray, int], object] | None = None,
    band_rows: int | None = None,
    input_scale: float | None = None,
    progress: Progress | None = None,
) -> np.ndarray:
    """:func:`convtool.chain.memory.apply_chain` computed band by band into ``out``.

    Only a band of rows per thread (plus the rows its kernels reach) is held as floats, so
    ``image`` may be an integer array (converted a band at a time) or a memory-mapped one,
    and ``out`` an integer or float array of the output's shape (for instance a
    ``np.memmap``): memory stays that of the two arrays plus a few MB.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, C)
        Any real dtype; float64 computes in float64, anything else in float32.
    steps, opts, has_alpha
        As for ``apply_chain``.
    out : ndarray, optional
        Receives the result (shape :attr:`BandedChain.out_shape`). Values are stored by
        ``convert``, else rounded half to even and clipped for an integer ``out``, cast for
        a float one. Default: a new array of the compute dtype.
    convert : callable, optional
        ``convert(values, dst, r0)`` stores a band of float values into ``dst``, the rows
        of ``out`` from ``r0`` (e.g. scaled to 0..255 and rounded).
    band_rows, input_scale
        See :class:`BandedChain`.
    progress : callable, optional
        ``progress(done_rows, total_rows)`` after each band.

    Returns
    -------
    ndarray
        ``out``.

    Examples
    --------
    >>> from convtool.kernels import Kernel
    >>> img = np.array([[0, 10, 0], [0, 20, 0]], dtype=np.uint8)
    >>> box = Kernel("box", np.ones((1, 3)) / 3)
    >>> filter_bands(img, [box], FilterOptions(), out=np.empty((2, 3), np.uint8), band_rows=1)
    array([[3, 3, 3],
           [7, 7, 7]], dtype=uint8)
    """
    chain = BandedChain(
        np.shape(image),
        image.dtype,
        steps,
        opts,
        has_alpha=has_alpha,
        band_rows=band_rows,
        input_scale=input_scale,
    )
    if out is None:
        out = np.empty(chain.out_shape, chain.dtype)
    chain.run(image, out, convert=convert, progress=progress)
    opts.runs.extend(chain.runs)
    return out


def correlate_into(
    image: np.ndarray,
    kernel: np.ndarray,
    out: np.ndarray | None = None,
    *,
    border: str | tuple[str, str] = "reflect",
    cval: float = 0.0,
    stride: int = 1,
    dilation: int = 1,
    bias: float | np.ndarray = 0.0,
    flip: bool = False,
    strategy: str = "auto",
    band_rows: int | None = None,
    origin: int | tuple[int, int] = 0,
    precision: str | None = None,
) -> np.ndarray:
    """:func:`convtool.engine.correlate` (``convolve`` with ``flip``) written into ``out``.

    The image is read and converted a band of rows at a time and each band's result stored
    into ``out``: an integer ``out`` gets values rounded half to even and clipped to its
    range, a float one a cast. With ``image = np.load(path, mmap_mode="r")`` and
    ``out = np.lib.format.open_memmap(...)`` the working set is a few bands whatever the
    image size. ``border``, ``origin`` and ``precision`` are the engine's; a float64 ``out``
    computes in float64 (``precision="float64"``) whatever the image's dtype.

    Examples
    --------
    >>> img = np.array([[0, 100, 200, 250]], dtype=np.uint8)
    >>> correlate_into(img, np.array([[0.5, 0.0, 1.0]]), np.empty((1, 4), np.uint8))
    array([[100, 200, 255, 255]], dtype=uint8)
    """
    if precision is None and out is not None and out.dtype == np.float64:
        precision = "float64"
    integer_out = out is not None and out.dtype.kind == "u"
    if integer_out and strategy in ("auto", "box") and np.ndim(bias) == 0 and bias == 0:
        # A box into the pixels' own integer dtype: rounded integer means, no float bands.
        plan = make_plan(
            image, kernel, border=border, cval=cval, stride=stride, dilation=dilation, flip=flip,
            origin=origin, precision=precision,
        )  # fmt: skip
        if box_into(plan, out):
            return out
    step = Kernel("kernel", np.asarray(kernel, dtype=np.float64), bias)
    opts = FilterOptions(
        border=border,  # type: ignore[arg-type]
        cval=cval,
        convolve=flip,
        stride=stride,
        dilation=dilation,
        strategy=strategy,
        origin=origin,
        precision=precision,
    )
    return filter_bands(image, [step], opts, out=out, band_rows=band_rows)
