"""The cost model: estimated run time of each fast strategy, and the choice ``auto`` makes.

Owns: the fitted constants (nanoseconds per tap, flop, copy, transform sample...),
:func:`estimate_costs`, :func:`choose_strategy` with its cache, and the per-pass choice of the
separable path (``_separable_passes``).

Must not import: the separable strategy (it imports this), run, chain, matching, cli,
images, click, rich, PIL.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import runtime
from ._common import _same_on_all_channels
from .boxsum import _doubling_adds, _is_box
from .fft import _fft_input_rows, _fft_tile, next_fast_len
from .im2row import _gemm_block_cols, _gemm_block_rows, _im2row_block_rows
from .plan import Plan, _Geometry, _geometry
from .rank import _SEP_BLOCK_COLS, _SEP_BLOCK_ROWS, _sep_direct, kernel_rank
from .small import _recipe, row_gemm_ops

# Cost model constants: nanoseconds of one thread of the benchmark machine (tests/bench/README.md,
# "What each path costs"), fitted on 1080p RGB float32 runs; only their ratios matter.
# Refit with `PYTHONPATH=$PWD python tests/bench/calibrate.py --fit` on a quiet machine: it
# prints least-squares values for the constants listed in its FIT table (strips: _NS_TAP,
# _NS_STRIP_BASE; gemm: _NS_FLOP_IM2ROW, _NS_COPY_IM2ROW, _NS_FLOP_MIX, _NS_COPY_MIX;
# separable: _NS_FLOP_SEP, _NS_SEP_BASE, _NS_SEP_RANK; fft: _NS_FFT, _NS_CMUL, _NS_FFT_BASE)
# and each strategy's _NS_FIXED; the others were timed by hand and the same command without
# --fit checks them all (estimate next to measured time, regret of auto's pick).
_NS_TAP = 0.265  # multiply + add of one tap into one output value, on an L2-resident strip
_NS_STRIP_BASE = 0.50  # per output value of a strips run: first write, strip bookkeeping
_NS_TAP_VECTOR = 1.8  # the same with one weight per channel (numpy broadcasts a (C,) vector)
_NS_TAP_MIX = 0.85  # per tap and output value for 4-D kernels (a small matmul per tap)
_NS_FLOP_ROWS = 0.026  # one GEMM flop with row Toeplitz blocks (K = bh + kh - 1)
_NS_FLOP_COLS = 0.016  # one GEMM flop with column blocks, times (1 + 100 / K): thin K is slow
_NS_FLOP_IM2ROW = 0.0087  # one im2row GEMM flop (K = kw*(bh + kh - 1)), both threads, wall
_NS_COPY_IM2ROW = 0.083  # per input value and pass (kw shifted copies + output), wall
_NS_FLOP_MIX = 0.0072  # one GEMM flop of the mixing im2row (K = (bh + kh - 1)*kw*Cin)
_NS_COPY_MIX = 0.27  # one planar Z value or one transposed output value
_NS_ADD = 0.7  # one shifted add of a product block into the output
_NS_FLOP_SEP = 0.0015  # one band GEMM flop of the shared separable path, both threads, wall
_NS_SEP_BASE = 1.18  # per output value of the shared separable path: strip fill, transpose
_NS_TRANSPOSE_SEP = 0.6  # of which the planar-to-interleaved copy (saved by _sep_direct)
_NS_SEP_RANK = 57e3  # per rank of the shared separable path: band matrices, per-pass calls
_NS_FFT = 2.6  # one sample through one rfft2 or irfft2 (norm="ortho")
_NS_CMUL = 3.3  # one complex multiply(-add) in the spectrum
_NS_FFT_BASE = 0.50  # per input and output value of the fft path: padding, planar copies
# Fixed per-call costs (building Toeplitz matrices, kernel spectra, thread pool round trips).
_NS_FIXED = {"strips": 0.39e6, "gemm": 0.62e6, "separable": 0.50e6, "fft": 0.56e6, "small": 0.03e6}
# The small path (one thread, whole-image ops): per tap and output value while the image
# stays in L2 (256x256 grey 3x3: 0.06 ms against 0.3 ms for strips, one thread), and the
# largest padded image or output it takes, in values (beyond, the whole-image ops leave L2).
_NS_TAP_SMALL = 0.2
# One multiply-add of the small path's GEMM (K and M the kernel's rows and columns: small
# matrices run far below BLAS's peak; 300x200 grey, 7x7 to 41x41 dense: 0.085-0.2 ns).
_NS_MAC_SMALL = 0.1
_SMALL_MAX_VALUES = 1 << 18
# The box path: one addition (or copy) over a strip buffer, per value, both threads, wall;
# set against the separable model: measured (1080p/4K RGB, box:5 and box:31, a loaded
# machine) the box path took 0.5-1.15x the separable one, while 0.12 estimated it at 1.2-2x.
_NS_BOX_OP = 0.05
_NS_FIXED["box"] = 0.1e6


def _cols_flop_ns(k: int) -> float:
    return _NS_FLOP_COLS * (1 + 100 / k)


def _separable_passes(plan: Plan, g: _Geometry, shared: bool) -> tuple[bool, float, bool, float]:
    """Which 1-D passes run as GEMMs, and their cost (ns per value they write).

    Returns ``(vertical_gemm, vertical_ns, horizontal_gemm, horizontal_ns)``; a pass runs as a
    GEMM when the model says it beats shift-and-add (only kernels shared by all channels can
    use the row Toeplitz GEMM vertically).
    """
    cin = plan.source.shape[2]
    tap = _NS_TAP if shared else _NS_TAP_VECTOR
    bh = _gemm_block_rows(g.kh)
    lh = (bh - 1) * g.sy + g.eh
    v_shift = g.kh * tap
    v_gemm = 2 * lh * _NS_FLOP_ROWS + _NS_ADD if shared else float("inf")
    bw = min(_gemm_block_cols(g.kw), plan.out_shape[1])
    lw = (bw - 1) * g.sx + g.ew
    h_shift = g.kw * tap
    h_gemm = 2 * lw * cin * _cols_flop_ns(lw * cin) + _NS_ADD
    return v_gemm < v_shift, min(v_gemm, v_shift), h_gemm < h_shift, min(h_gemm, h_shift)


class _Sizes(NamedTuple):
    oh: int
    ow: int
    wp: int  # padded width
    cin: int
    outputs: int  # output values (oh * ow * Cout)


def _sizes(plan: Plan, g: _Geometry) -> _Sizes:
    oh, ow = plan.out_shape
    _, w, cin = plan.source.shape
    return _Sizes(oh, ow, w + plan.pad[2] + plan.pad[3], cin, oh * ow * g.cout)


def _strips_ns(plan: Plan, g: _Geometry, shared: bool) -> float:
    """Non-zero taps times a per-tap cost (shared, per-channel or channel-mixing)."""
    kernel = plan.kernel
    nonzero = int(np.count_nonzero(np.any(kernel != 0, axis=tuple(range(2, kernel.ndim)))))
    tap = _NS_TAP if shared else (_NS_TAP_VECTOR if plan.depthwise else _NS_TAP_MIX)
    return _sizes(plan, g).outputs * (max(1, nonzero) * tap + _NS_STRIP_BASE)


def _gemm_ns(plan: Plan, g: _Geometry, shared: bool) -> float:
    """im2row GEMM flops, banded waste included, plus the copies that build Z."""
    size = _sizes(plan, g)
    if shared:
        # im2row: banded flops per output value plus kw + 1 copies per input row value.
        lh = (_im2row_block_rows(None) - 1) * g.sy + g.eh
        flops = 2 * g.kw * lh
        copies = (g.kw + 1) * g.sy
        return size.outputs * (flops * _NS_FLOP_IM2ROW + copies * _NS_COPY_IM2ROW)
    # Mixing im2row (per-channel kernels as diagonal mixing ones): banded flops over all
    # input channels per output value, planar Z values per output pixel (kw*Cin per
    # input pixel) and the transposing copy of every output value.
    lh = (_im2row_block_rows(g.cout) - 1) * g.sy + g.eh
    flops = 2 * g.kw * lh * size.cin
    copies = g.kw * size.cin * g.sy * g.sx / g.cout + 1
    return size.outputs * (flops * _NS_FLOP_MIX + copies * _NS_COPY_MIX)


def _separable_ns(plan: Plan, g: _Geometry, shared: bool) -> float:
    """``rank`` pairs of 1-D passes; ``inf`` for channel-mixing kernels."""
    oh, ow, wp, cin, outputs = _sizes(plan, g)
    if shared:
        # Transposed band GEMMs: 2*lv flops per vertical-pass value (oh x Wp x C of them),
        # 2*lx per output value, per rank; plus the strip fill, transpose and rank adds.
        lv = (_SEP_BLOCK_ROWS - 1) * g.sy + g.eh
        lx = (min(_SEP_BLOCK_COLS, ow) - 1) * g.sx + g.ew
        rank = kernel_rank(plan)
        direct = _sep_direct(rank, lx, cin)
        flops = rank * (2 * lv * oh * wp * cin + 2 * lx * (cin if direct else 1) * outputs)
        base = _NS_SEP_BASE + (rank - 1) * _NS_ADD - (_NS_TRANSPOSE_SEP if direct else 0.0)
        return flops * _NS_FLOP_SEP + outputs * base + rank * _NS_SEP_RANK
    if plan.depthwise:
        _, vertical, _, horizontal = _separable_passes(plan, g, shared)
        return kernel_rank(plan) * (oh * wp * cin * vertical + outputs * horizontal)
    return float("inf")


def _fft_ns(plan: Plan, g: _Geometry, shared: bool) -> float:
    """Forward and inverse transforms per overlap-save strip plus the spectral products."""
    oh, _, wp, cin, outputs = _sizes(plan, g)
    hf = next_fast_len(max(_fft_input_rows(plan, g, wp, cin), 2 * g.eh - 1))
    wf, cols = _fft_tile(wp, plan.out_shape[1], g.sx, g.ew)
    strips = -(-oh // ((hf - g.eh) // g.sy + 1)) * -(-plan.out_shape[1] // cols)  # and tiles
    products = cin if plan.depthwise else cin * g.cout
    spectra = 1 if shared else products
    per_strip = hf * wf * (cin + g.cout) * _NS_FFT + hf * (wf // 2 + 1) * products * _NS_CMUL
    cost = (strips * per_strip + spectra * hf * wf * _NS_FFT) / min(runtime.threads(), strips)
    return cost + (plan.source.size + outputs) * _NS_FFT_BASE


def _small_ns(plan: Plan, g: _Geometry, shared: bool) -> float:
    """Taps (``kh + kw`` for a rank-1 shared kernel) times a per-tap cost, one thread;
    ``inf`` for images that do not stay in L2."""
    size = _sizes(plan, g)
    padded = (plan.source.shape[0] + plan.pad[0] + plan.pad[1]) * size.wp * size.cin
    if max(padded, size.outputs) > _SMALL_MAX_VALUES:
        return float("inf")
    kernel = plan.kernel
    taps = int(np.count_nonzero(np.any(kernel != 0, axis=tuple(range(2, kernel.ndim)))))
    if shared and g.kh > 1 and g.kw > 1 and g.kh * g.kw > 6 and kernel_rank(plan) == 1:
        taps = g.kh + g.kw  # two 1-D passes (the vertical one over the padded width)
    elif shared and (g.sy, g.sx) == (1, 1):
        dense = _recipe(np.ascontiguousarray(kernel[:, :, 0])).dense
        if dense is not None:  # one GEMM over stacked rows: passes (a tap is two) and MACs
            taps = row_gemm_ops(*dense.shape) / 2 + dense.size * _NS_MAC_SMALL / _NS_TAP_SMALL
    # Per-channel and mixing taps cost what they cost the strips path, relative to shared.
    relative = 1.0 if shared else (_NS_TAP_VECTOR if plan.depthwise else _NS_TAP_MIX) / _NS_TAP
    tap = _NS_TAP_SMALL * relative
    return size.outputs * max(1, taps) * tap


def _box_ns(plan: Plan, g: _Geometry, shared: bool) -> float:
    """Doubling additions down the columns (over the strip's halo rows too) and along the
    rows, plus the strip fill and the scaled copy out; ``inf`` unless the kernel is a box."""
    if not (shared and _is_box(plan)):
        return float("inf")
    size = _sizes(plan, g)
    per_input = 1 + _doubling_adds(g.kh)  # strip fill, vertical sums (~input values)
    per_output = _doubling_adds(g.kw) + 1  # horizontal sums, scaled copy out
    inputs = plan.source.shape[0] * size.wp * size.cin * (1 + 4 * g.kh / max(64, 4 * g.kh))
    return (inputs * per_input + size.outputs * g.sy * g.sx * per_output) * _NS_BOX_OP


def estimate_costs(plan: Plan) -> dict[str, float]:
    """Estimated run time in nanoseconds of each fast strategy (``inf`` when it does not apply).

    The model counts the work each path does per output value (see the strategies' docstrings)
    and weighs it by constants measured on the benchmark machine:

    * ``strips``: non-zero taps times a per-tap cost (shared, per-channel or channel-mixing);
    * ``gemm``: im2row GEMM flops, banded waste included, plus the copies that build Z (and,
      for mixing kernels, the transposing copy of the output);
    * ``separable``: ``rank`` pairs of 1-D passes (depthwise kernels only); for a kernel shared
      by all channels, the band GEMM flops of both passes plus a per-output base (strip fill,
      transposing copy unless the horizontal pass writes the output directly); per-channel
      kernels: each pass a GEMM or shift-and-add as the strategy picks them;
    * ``fft``: one forward transform per input channel and one inverse per output channel per
      overlap-save strip, plus the spectral products; independent of the kernel size;
    * ``small``: taps times a one-thread per-tap cost, for images that stay in L2 only;
    * ``box``: kernels whose taps are all equal, window sums by doubling (~log2 k additions
      per axis and value).

    Examples
    --------
    >>> from convtool.engine import make_plan
    >>> plan = make_plan(np.zeros((1080, 1920, 3), np.float32), np.ones((31, 31)))
    >>> sorted(estimate_costs(plan))
    ['box', 'fft', 'gemm', 'separable', 'small', 'strips']
    """
    g = _geometry(plan)
    shared = plan.depthwise and _same_on_all_channels(plan.kernel)
    costs = {
        "strips": _strips_ns(plan, g, shared),
        "gemm": _gemm_ns(plan, g, shared),
        "separable": _separable_ns(plan, g, shared),
        "fft": _fft_ns(plan, g, shared),
        "small": _small_ns(plan, g, shared),
        "box": _box_ns(plan, g, shared),
    }
    return {name: cost + _NS_FIXED[name] for name, cost in costs.items()}


_choices: dict[tuple, str] = {}


def choose_strategy(plan: Plan) -> str:
    """Pick the cheapest registered strategy for a plan by :func:`estimate_costs`.

    ``direct`` (the reference) is never chosen: ``strips`` does the same taps faster. The
    choice is remembered per image size and kernel (the estimate took ~65 us, over 1% of a
    1080p 3x3 filter).
    """
    kernel = plan.kernel
    key = None
    if kernel.nbytes <= 1 << 16:
        key = (plan.source.shape, plan.dtype.str, kernel.shape, kernel.tobytes(),
               plan.depthwise, plan.border, plan.stride, plan.dilation, plan.pad)  # fmt: skip
        if key in _choices:
            return _choices[key]
    costs = estimate_costs(plan)
    name = min(costs, key=costs.__getitem__)
    if key is not None:
        if len(_choices) >= 256:
            _choices.clear()
        _choices[key] = name
    return name
