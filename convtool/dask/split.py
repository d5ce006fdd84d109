"""One big image over a cluster: row bands with their halos, written in place into the output.

Owns: :func:`filter_split`, ``convtool filter BIG.npy -o OUT.npy|OUT.tif --scheduler ...``.
The output (``.npy``, or an uncompressed 8/16-bit TIFF: :func:`~convtool.images.tiff.layout_tiff`)
is laid out by the client (the atomic writer's temporary file beside the target), then every
task opens the input and that file by path on its worker, computes a run of
:class:`~convtool.chain.bands.BandedChain` bands (each band reads the rows its halo needs) and
stores them in place (``pwrite`` into the ``.npy``'s rows or the TIFF's strips); the
file is committed when every band is in. Each band is computed
exactly as the single-machine run computes it (the chain planned here, the same band edges,
this process's engine thread count: BLAS sums in another order with another count), so the
file is the same byte for byte; a worker holds a few bands, whatever the image's size (rows
it is done with leave its resident set).

Every worker must see input and output at the same path (a shared filesystem). Must not
import: click, rich, convtool.cli; distributed only through the executor it is given.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
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
from ..images.tiff import CLASSIC_BYTES, Strips, layout_tiff, stored_page
from ..kernels import Kernel, Magnitude
from ..levels import band_histogram, histogram_percentiles, parse_stretch

__all__ = ["Plan", "Split", "SplitError", "filter_split", "plan_split", "run_split"]

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
    strips: Strips | None = None  # a TIFF target: where its rows go


@dataclass
class Split:
    """What :func:`filter_split` did: output shape, tasks, and the worker processes used
    (host and pid of each, as the tasks reported them)."""

    shape: tuple[int, ...]
    tasks: int
    workers: set[tuple[str, int]]
    chain: BandedChain


def _bands(spec: _Spec, r0: int, r1: int, job: str) -> tuple[object, str, int]:
    """Output rows ``r0:r1`` band by band, for ``job``: ``"write"`` stores them into the
    target; ``"range"`` gives their min and max (the first pass of ``--values rescale`` and
    ``stretch``), ``"histogram"`` their counts over ``spec.limits`` (stretch's second pass).
    Runs on a worker; returns what it found, with the worker's host and pid."""
    pixels, chain, before = read_pixels(spec.source)[0], spec.chain, runtime.threads()
    runtime.set_threads(spec.threads)
    try:
        found: list = []  # per band: its min and max, or its histogram
        if job == "write":
            with _writer(spec) as put:
                _compute(chain, pixels, put, r0, r1)
        elif job == "histogram":
            _compute(chain, pixels, lambda a, b, v: found.append(band_histogram(v, *spec.limits)),
                     r0, r1)  # fmt: skip
            found = [sum(found)]
        else:
            _compute(chain, pixels, lambda a, b, v: found.append((float(v.min()), float(v.max()))),
                     r0, r1)  # fmt: skip
            found = [(min(f[0] for f in found), max(f[1] for f in found))]
        return (found[0] if found else None), os.uname().nodename, os.getpid()
    finally:
        runtime.set_threads(before)


@contextlib.contextmanager
def _writer(spec: _Spec):
    """``put(a, b, values)``: output rows ``a:b`` stored in the target, opened here by path,
    written with ``pwrite`` into its strips (a ``.npy``'s data is one strip)."""
    strips = spec.strips or _npy_strip(spec.target)
    fd = os.open(spec.target, os.O_WRONLY)
    try:

        def put(a: int, b: int, values: np.ndarray) -> None:
            values = values.reshape((b - a, *strips.shape[1:2], -1))
            rows = to_output_array(values, depth=spec.depth, mapping=spec.mapping,
                                   limits=spec.limits)  # fmt: skip
            if rows.shape[2] == 2 and strips.shape[2:] == (4,):
                rows = rows[:, :, [0, 0, 0, 1]]  # 16-bit grey+alpha: RGBA, as the writer does
            strips.write_rows(fd, a, rows)

        yield put
    finally:
        os.close(fd)


def _npy_strip(path: str) -> Strips:
    """The data of the ``.npy`` at ``path`` (the client's own ``open_memmap`` file: header
    version 1.0, or 2.0 for a huge header) as one strip of C-order rows."""
    with open(path, "rb") as fh:
        header = {(1, 0): np.lib.format.read_array_header_1_0}.get(
            np.lib.format.read_magic(fh), np.lib.format.read_array_header_2_0
        )
        shape, _, dtype = header(fh)
        return Strips((fh.tell(),), max(1, shape[0]), tuple(shape), dtype)


def _compute(chain: BandedChain, pixels, use, r0: int, r1: int) -> None:
    """``use(a, b, values)`` for each band of output rows ``r0:r1``, releasing the input rows
    no later band reads."""
    released = int(chain.needs(r0, min(r1, r0 + chain.band_rows))[0][0])
    for a in range(r0, r1, chain.band_rows):
        b = min(r1, a + chain.band_rows)
        use(a, b, chain.compute(pixels, a, b))
        if b < r1:  # input rows no later band of this task reads
            low = int(chain.needs(b, min(r1, b + chain.band_rows))[0][0])
            release_rows(pixels, released, low)
            released = max(released, low)


def _gather(executor: cf.Executor, spec: _Spec, edges, job: str, progress) -> list:
    """Run one task per pair of ``edges``; the first failure ends the run as one line."""
    futures = {executor.submit(_bands, spec, a, b, job): (a, b) for a, b in edges}
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
    fmt: str = "npy",
    depth: str | None = None,
) -> Split:
    """Filter the ``.npy`` image ``source`` into the ``.npy`` or TIFF file ``target`` on a
    cluster: :func:`plan_split`, then :func:`run_split`.

    Parameters
    ----------
    source, target : str
        Paths every worker reaches (made absolute here): a ``.npy`` input, the output's.
    steps, opts, mapping, depth
        As for ``convtool filter`` (``opts.runs`` gets the chain's strategies). ``rescale``
        takes a first pass over the bands for the result's min and max, ``stretch`` a second
        for its histogram (each task counts its bands, the client adds the counts): the
        limits, and so the file, are the single-machine run's.
    fmt : {"npy", "tiff"}
        The output's format. TIFF is written uncompressed, 8 or 16 bits a sample as the
        single-machine run stores it (float results are refused: .npy holds them), and is that
        run's file byte for byte.
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
        A refused layout, the cluster lost or a band failed; ``target`` is left as it was.
    """
    plan = plan_split(source, target, steps, opts, mapping=mapping, band_rows=band_rows,
                      fmt=fmt, depth=depth)  # fmt: skip
    return run_split(plan, executor, workers=workers, progress=progress)


@dataclass(frozen=True)
class Plan:
    """The output of a split, decided before any cluster is asked for (:func:`plan_split`)."""

    spec: _Spec  # what every band task gets (without the target's path yet)
    target: str
    fmt: str
    shape: tuple[int, ...]
    dtype: np.dtype
    page: tuple[int, ...]  # the TIFF page (16-bit grey+alpha is stored as RGBA)
    icc: bytes | None
    dpi: tuple[float, float] | None
    opts: FilterOptions


def plan_split(source, target, steps, opts: FilterOptions, *, mapping=None, band_rows=None,
               fmt: str = "npy", depth: str | None = None) -> Plan:  # fmt: skip
    """Read ``source``'s header, plan the chain and the output's layout; the refusals
    (:class:`SplitError`, ``ImageIOError``) come from here. Arguments: :func:`filter_split`."""
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
    channels = 1 if len(shape) == 2 else shape[2]
    depth, mapping = stored_layout(info, fmt, channels, mapping, depth=depth)
    dtype = np.dtype({"8": np.uint8, "16": np.uint16}.get(depth, chain.dtype))
    if fmt == "tiff" and depth == "float":
        raise SplitError(f"{target}: a TIFF split over the cluster stores 8 or 16 bits a "
                         "sample, not float: add --depth 16, or write .npy")  # fmt: skip
    page = stored_page(shape, dtype)
    if fmt == "tiff" and np.prod(page) * dtype.itemsize > CLASSIC_BYTES:
        raise SplitError(f"{target}: over classic TIFF's 4 GiB: write .npy")
    spec = _Spec(source, "", chain, runtime.threads(), depth, mapping, None)
    return Plan(spec, target, fmt, tuple(shape), dtype, page, info.icc, info.dpi, opts)


def run_split(plan: Plan, executor: cf.Executor, *, workers: int, progress=None) -> Split:
    """Compute :func:`plan_split`'s output on ``executor`` (arguments: :func:`filter_split`)."""
    spec, shape, chain = plan.spec, plan.shape, plan.spec.chain
    bands = -(-shape[0] // chain.band_rows)
    tasks = max(1, min(bands, _TASKS_PER_WORKER * max(1, workers)))
    cuts = [chain.band_rows * (bands * k // tasks) for k in range(tasks)] + [shape[0]]
    edges = [(a, b) for a, b in itertools.pairwise(cuts) if b > a]
    percent = parse_stretch(spec.mapping)
    if spec.mapping == "rescale" or percent is not None:  # passes for the limits, as locally
        found = [r[0] for r in _gather(executor, spec, edges, "range", None)]
        spec = _with(spec, limits=(min(r[0] for r in found), max(r[1] for r in found)))
        if percent is not None:  # integer counts: their sum is the local run's histogram
            counts = sum(r[0] for r in _gather(executor, spec, edges, "histogram", None))
            spec = _with(spec, limits=histogram_percentiles(counts, percent, *spec.limits))
    with atomic_path(plan.target) as tmp:
        if plan.fmt == "tiff":
            with open(tmp, "wb") as fh:  # the single-machine run's tags: convtool's writer
                spec = _with(spec, strips=layout_tiff(fh, plan.page, plan.dtype, icc=plan.icc,
                                                      dpi=plan.dpi))  # fmt: skip
        else:
            np.lib.format.open_memmap(tmp, mode="w+", dtype=plan.dtype, shape=shape).flush()
        done = _gather(executor, _with(spec, target=os.path.abspath(tmp)), edges, "write", progress)
    plan.opts.runs.extend(chain.runs)
    return Split(shape, len(edges), {(r[1], r[2]) for r in done}, chain)


def _with(spec: _Spec, **changes) -> _Spec:
    return dataclasses.replace(spec, **changes)
