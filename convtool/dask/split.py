"""One big image over a cluster: row bands with their halos, written in place into the output.

Owns: :func:`filter_split`, ``convtool filter BIG.npy -o OUT.npy --scheduler ...``. The output
``.npy`` is laid out by the client (the atomic writer's temporary file beside the target),
then every task opens the input and that file by path on its worker, computes a run of
:class:`~convtool.chain.bands.BandedChain` bands (each band reads the rows its halo needs) and
stores them in place; the file is committed when every band is in. Each band is computed
exactly as the single-machine run computes it (the chain planned here, the same band edges,
this process's engine thread count: BLAS sums in another order with another count), so the
file is the same byte for byte; a worker holds a few bands, whatever the image's size (rows
it is done with leave its resident set).

Every worker must see input and output at the same path (a shared filesystem). Must not
import: click, rich, convtool.cli; distributed only through the executor it is given.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import itertools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .. import runtime
from .._mmap import release_rows
from ..chain.bands import BandedChain
from ..chain.memory import FilterOptions
from ..images import atomic_path, read_pixels, stored_layout, to_output_array
from ..kernels import Kernel, Magnitude

__all__ = ["Split", "SplitError", "filter_split"]

# Tasks per worker: enough that a slow or restarted worker does not hold up the end.
_TASKS_PER_WORKER = 4
_POLL_SECONDS = 1.0


class SplitError(RuntimeError):
    """The split run failed (a lost cluster, a band that killed its workers): one line."""


@dataclass(frozen=True)
class _Spec:
    """What every band task needs: paths, the chain as planned here (the same strategies and
    band edges on every worker) and the output's layout."""

    source: str
    target: str
    chain: BandedChain
    threads: int  # the engine threads here: BLAS sums in another order with another count
    depth: str
    mapping: str | None
    limits: tuple[float, float] | None


@dataclass
class Split:
    """What :func:`filter_split` did: output shape, tasks, and the worker processes used
    (host and pid of each, as the tasks reported them)."""

    shape: tuple[int, ...]
    tasks: int
    workers: set[tuple[str, int]]
    chain: BandedChain


def _bands(spec: _Spec, r0: int, r1: int, write: bool) -> tuple[float, float, str, int]:
    """Output rows ``r0:r1`` band by band: stored into the target (``write``) or only their
    min and max (the first pass of ``--values rescale``). Runs on a worker."""
    pixels, chain, before = read_pixels(spec.source)[0], spec.chain, runtime.threads()
    out = np.load(spec.target, mmap_mode="r+") if write else None
    runtime.set_threads(spec.threads)
    try:
        return _compute(chain, pixels, out, spec, r0, r1)
    finally:
        runtime.set_threads(before)


def _compute(chain: BandedChain, pixels, out, spec: _Spec, r0: int, r1: int):
    lo, hi = np.inf, -np.inf
    released = int(chain.needs(r0, min(r1, r0 + chain.band_rows))[0][0])
    for a in range(r0, r1, chain.band_rows):
        b = min(r1, a + chain.band_rows)
        values = chain.compute(pixels, a, b)
        if out is None:
            lo, hi = min(lo, float(values.min())), max(hi, float(values.max()))
        else:
            values = values.reshape((b - a, *out.shape[1:]))
            to_output_array(values, depth=spec.depth, mapping=spec.mapping, limits=spec.limits,
                            out=out[a:b])  # fmt: skip
            release_rows(out, a, b)  # written pages stay in the page cache, dirty
        if b < r1:  # input rows no later band of this task reads
            low = int(chain.needs(b, min(r1, b + chain.band_rows))[0][0])
            release_rows(pixels, released, low)
            released = max(released, low)
    if out is not None:
        out.flush()  # once per task (a flush per band waited on the disk each time)
    return lo, hi, os.uname().nodename, os.getpid()


def _gather(executor: cf.Executor, spec: _Spec, edges, write: bool, progress) -> list:
    """Run one task per pair of ``edges``; the first failure ends the run as one line."""
    futures = {executor.submit(_bands, spec, a, b, write): (a, b) for a, b in edges}
    pending, results, rows = set(futures), [], 0
    try:
        while pending:
            done, pending = cf.wait(pending, timeout=_POLL_SECONDS, return_when="FIRST_COMPLETED")
            lost = getattr(executor, "lost", None)
            if not done and callable(lost) and (reason := lost()):
                raise SplitError(reason)
            for future in done:
                a, b = futures[future]
                try:
                    results.append(future.result())
                except cf.CancelledError:
                    raise SplitError(lost() if callable(lost) else "a band was cancelled") from None
                except Exception as exc:
                    raise SplitError(_why(exc, a, b)) from None
                rows += b - a
                if progress is not None:
                    progress(rows, edges[-1][1])
    finally:
        for future in pending:
            future.cancel()
    return results


def _why(exc: Exception, a: int, b: int) -> str:
    if type(exc).__name__ == "KilledWorker":
        return f"output rows {a}-{b - 1} killed every worker they ran on (out of memory?)"
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"output rows {a}-{b - 1}: {text}"


def filter_split(
    source: str,
    target: str,
    steps: Sequence[Kernel | Magnitude],
    opts: FilterOptions,
    executor: cf.Executor,
    *,
    workers: int,
    mapping: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    band_rows: int | None = None,
) -> Split:
    """Filter the ``.npy`` image ``source`` into the ``.npy`` file ``target`` on a cluster.

    Parameters
    ----------
    source, target : str
        ``.npy`` paths every worker reaches (made absolute here).
    steps, opts, mapping
        As for ``convtool filter`` (``opts.runs`` gets the chain's strategies).
    executor : concurrent.futures.Executor
        Where the band tasks run (a Dask client's; a local pool works too).
    workers : int
        Worker count: the rows are cut into about :data:`_TASKS_PER_WORKER` tasks each.
    progress : callable, optional
        ``progress(rows_done, rows)`` as tasks finish.
    band_rows : int, optional
        Output rows per band (default: the single-machine run's, which gives its bytes).

    Raises
    ------
    SplitError
        The cluster was lost or a band failed; ``target`` is left as it was.
    """
    source, target = os.path.abspath(source), os.path.abspath(target)
    picked = read_pixels(source)
    if picked is None:
        raise SplitError(f"{source}: several frames; one image is split over the cluster")
    pixels, info, full_scale = picked
    chain = BandedChain(pixels.shape, pixels.dtype, steps, opts, has_alpha=info.alpha,
                        input_scale=full_scale, band_rows=band_rows)  # fmt: skip
    del pixels
    if opts.alpha == "drop":
        info.alpha = False
    shape = chain.out_shape[:2] if chain.out_shape[2:] == (1,) else chain.out_shape
    depth, mapping = stored_layout(info, "npy", 1 if len(shape) == 2 else shape[2], mapping)
    dtype = {"8": np.uint8, "16": np.uint16}.get(depth, chain.dtype)
    bands = -(-shape[0] // chain.band_rows)
    tasks = max(1, min(bands, _TASKS_PER_WORKER * max(1, workers)))
    cuts = [chain.band_rows * (bands * k // tasks) for k in range(tasks)] + [shape[0]]
    edges = [(a, b) for a, b in itertools.pairwise(cuts) if b > a]
    spec = _Spec(source, "", chain, runtime.threads(), depth, mapping, None)
    if mapping == "rescale":  # a first pass for the min and max of the whole result
        found = _gather(executor, spec, edges, False, None)
        spec = _with(spec, limits=(min(r[0] for r in found), max(r[1] for r in found)))
    with atomic_path(target) as tmp:
        np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=tuple(shape)).flush()
        done = _gather(executor, _with(spec, target=os.path.abspath(tmp)), edges, True, progress)
    opts.runs.extend(chain.runs)
    return Split(tuple(shape), len(edges), {(r[2], r[3]) for r in done}, chain)


def _with(spec: _Spec, **changes) -> _Spec:
    return dataclasses.replace(spec, **changes)
