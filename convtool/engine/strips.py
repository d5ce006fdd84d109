"""The ``strips`` strategy: cache-aware shift-and-add on L2-sized strips of output rows.

Owns: the shift-and-add primitive (also the separable path's short 1-D passes) and the
``strips`` strategy.

Must not import: the other strategies, the cost model, chain, matching, cli, images, click,
rich, PIL.
"""

from __future__ import annotations

import numpy as np

from ._common import Primitive, _output, _padded, _run_rows, _same_on_all_channels
from .plan import Plan, _geometry

# Working-set target so that one pass over a strip stays in L2 (2 MiB per core here).
_STRIP_BYTES = 256 * 1024


# --- primitive 1: shift-and-add in L2-sized row strips ---------------------------------------


def _shift_add_primitive(
    taps: np.ndarray, depthwise: bool, stride: tuple[int, int], dilation: tuple[int, int]
) -> Primitive:
    """Shift-and-add over the taps, one L2-sized strip of output rows at a time.

    ``taps`` is ``(kh, kw, C)`` (depthwise) or ``(kh, kw, Cin, Cout)``. Zero taps are skipped.
    """
    kh, kw = taps.shape[:2]
    sy, sx = stride
    dy, dx = dilation
    if depthwise and _same_on_all_channels(taps):
        # A scalar multiplier is faster than broadcasting a (C,) vector.
        weights = [[taps.dtype.type(taps[a, b, 0]) for b in range(kw)] for a in range(kh)]
    else:
        weights = [[taps[a, b] for b in range(kw)] for a in range(kh)]
    live = [(a, b) for a in range(kh) for b in range(kw) if np.any(taps[a, b] != 0)]

    def run(src: np.ndarray, dst: np.ndarray) -> None:
        n, ow, cout = dst.shape
        if not live:
            dst.fill(0)
            return
        rows = max(1, _STRIP_BYTES // (ow * cout * dst.itemsize))
        tmp = np.empty((min(rows, n), ow, cout), dst.dtype)
        for r0 in range(0, n, rows):
            r1 = min(n, r0 + rows)
            acc, part = dst[r0:r1], tmp[: r1 - r0]
            for index, (a, b) in enumerate(live):
                y0, x0 = r0 * sy + a * dy, b * dx
                y1, x1 = y0 + (r1 - r0 - 1) * sy + 1, x0 + (ow - 1) * sx + 1
                window = src[y0:y1:sy, x0:x1:sx]
                target = acc if index == 0 else part
                if depthwise:
                    np.multiply(window, weights[a][b], out=target)
                else:
                    np.matmul(window, weights[a][b], out=target)
                if index:
                    np.add(acc, part, out=acc)

    return run


def _strips(plan: Plan) -> np.ndarray:
    """Direct, cache-aware: shift-and-add on L2-sized strips of output rows, 2 threads.

    Cost: one multiply and one add per non-zero tap and output value (a small matmul per tap
    for 4-D kernels), on strips that stay in L2: ~0.3 ns per tap and output value for a kernel
    shared by all channels, ~6x that with one kernel per channel (the multiplier broadcasts).
    Memory: the padded image, the output, one strip of scratch per thread.
    """
    padded = _padded(plan)
    g = _geometry(plan)
    out = _output(plan, g.cout)
    prim = _shift_add_primitive(plan.kernel, plan.depthwise, plan.stride, plan.dilation)
    rows = max(1, _STRIP_BYTES // (out.shape[1] * g.cout * out.itemsize))
    _run_rows(padded, out, prim, g.sy, g.eh, rows * 4)
    return out
