"""Small helpers shared by the fast strategies: row tasks on the thread pool, output buffers.

Owns: the BLAS call cap every GEMM path respects, the ``Primitive`` signature, the padded
C-order image, running a primitive over row ranges (:func:`_run_rows`), in-place sums and the
test whether a depthwise kernel is the same on every channel.

Must not import: the strategies, the cost model, chain, matching, cli, images, click, rich,
PIL.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .. import runtime
from .plan import Plan, pad_image

# ---------------------------------------------------------------------------------------------
# Every strategy pads the image once (pad_image), then computes a 'valid' correlation of the
# padded image with a primitive that fills ``dst`` (n, ow, Cout) from ``src``, the rows of the
# padded image those n output rows need. Output rows are cut into tasks for a small thread pool;
# tasks share only read-only data (the padded image, Toeplitz matrices, kernel spectra), so they
# need no locks. numpy's ufuncs, matmul and FFTs release the GIL.


# Each GEMM call stays below this many multiply-adds (M*N*K), except where a large kernel
# makes that impossible. Bigger calls are split by OpenBLAS over its own threads, which spin
# and wait for each other: measured here with two busy processes on the 2 CPUs, 60x18x2460
# sgemms took 520 us each instead of ~30 (a filter of ~1000 block GEMMs went from 0.1 s to
# 5 s), while 60x18x800 ones were unaffected. The switch is not purely M*N*K (a 29x276x96 call
# still used two threads), so this bounds, not removes, the exposure. GEMM paths also stay on
# the calling thread: calls of tens of microseconds are too short to share the GIL, and two
# pool threads measured slower than one. The im2row path is the exception: its per-thread
# work is large copies plus ~400 K-MAC GEMMs, and two threads measured 1.4-1.6x faster.
_BLAS_CALL_MNK = 786_432
Primitive = Callable[[np.ndarray, np.ndarray], None]


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _padded(plan: Plan) -> np.ndarray:
    # The primitives reshape row slabs (rows, cols, C) to 2-D views, which needs C-order.
    return np.ascontiguousarray(pad_image(plan))


def _run_rows(
    padded: np.ndarray,
    out: np.ndarray,
    primitive: Primitive,
    sy: int,
    eh: int,
    rows_per_task: int,
    *,
    threads: bool = True,
) -> None:
    """Fill ``out`` by running ``primitive`` on row ranges, on the thread pool if ``threads``."""
    n = out.shape[0]
    if threads:
        rows_per_task = max(1, min(rows_per_task, -(-n // runtime.threads())))
    starts = range(0, n, rows_per_task)

    queue = iter(starts)

    def work() -> None:
        for o0 in queue:
            o1 = min(n, o0 + rows_per_task)
            primitive(padded[o0 * sy : (o1 - 1) * sy + eh], out[o0:o1])

    runtime.parallel(work, min(runtime.threads(), len(starts)) if threads else 1)


def _sum_into(parts: list[np.ndarray], dst: np.ndarray) -> None:
    """``dst = sum(parts)`` with in-place adds (no temporaries)."""
    if len(parts) == 1:
        np.copyto(dst, parts[0])
        return
    np.add(parts[0], parts[1], out=dst)
    for part in parts[2:]:
        np.add(dst, part, out=dst)


def _same_on_all_channels(kernel: np.ndarray) -> bool:
    return kernel.shape[2] == 1 or bool(np.all(kernel == kernel[:, :, :1]))


def _output(plan: Plan, cout: int) -> np.ndarray:
    return np.empty((*plan.out_shape, cout), plan.dtype)
