"""Benchmark convtool.dask against convtool's single-machine path.

    python tests/bench/bench_dask.py [--size 20000] [--chunks 2048,4096] [--repeats 3]

Array table: ``convtool.dask.correlate`` on a ``size x size`` float32 image (an in-memory
numpy array wrapped by ``dask.array.from_array``, stored with ``dask.array.store`` into a
fresh array, threaded scheduler with one worker per core) against
``convtool.correlate`` on the same numpy array (the engine's own threads). Median wall
wall and CPU milliseconds over ``--repeats`` runs after one warm-up, and the overheads in
percent (``dask / single - 1``; CPU time counts every thread of the process and is the
steadier figure on a loaded machine). Rows "engine 1 thread" run the engine
single-threaded inside each dask task (``runtime.set_threads(1)``), so that dask's workers
alone share the cores.
Every dask result is checked against the in-memory one before it is timed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import dask.array as da
import numpy as np

import convtool
from convtool import dask as cdask
from convtool import runtime
from convtool.kernels import parse_kernel


def _kernels() -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(1)
    return [
        ("3x3 random", rng.standard_normal((3, 3))),
        ("gaussian:2 (13x13)", parse_kernel("gaussian:2").weights),
    ]


def _measure(fn, repeats: int) -> tuple[float, float]:
    """Median wall and CPU (all threads of this process) milliseconds, after a warm-up run.

    CPU time is the figure to trust on a shared machine: other processes stretch wall time.
    """
    fn()
    wall, cpu = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return 1000 * statistics.median(wall), 1000 * statistics.median(cpu)


def array_table(size: int, chunk_sizes: list[int], repeats: int) -> list[dict]:
    image = np.random.default_rng(0).random((size, size), dtype=np.float32)
    cores = os.cpu_count() or 1
    rows = []
    for name, kernel in _kernels():
        single, single_cpu = _measure(lambda k=kernel: convtool.correlate(image, k), repeats)
        rows.append(
            {"kernel": name, "path": "convtool.correlate (numpy)", "ms": single, "cpu": single_cpu}
        )
        for chunks in chunk_sizes:
            lazy = cdask.correlate(da.from_array(image, chunks=chunks), kernel)

            def run(lazy=lazy):
                # A fresh output each run, as convtool.correlate allocates its own.
                out = np.empty(lazy.shape, lazy.dtype)
                da.store(lazy, out, scheduler="threads", num_workers=cores)
                return out

            want, got = convtool.correlate(image, kernel), run()
            for r in range(0, size, 1024):  # in slabs: assert_allclose's temporaries are float64
                np.testing.assert_allclose(
                    got[r : r + 1024], want[r : r + 1024], rtol=1e-4, atol=1e-4
                )
            del want, got
            before = runtime.threads()
            for threads in (before, 1):
                runtime.set_threads(threads)
                ms, cpu = _measure(run, repeats)
                label = f"convtool.dask, chunks {chunks}" + (
                    ", engine 1 thread" if threads == 1 else ""
                )
                over = (ms / single - 1, cpu / single_cpu - 1)
                rows.append({"kernel": name, "path": label, "ms": ms, "cpu": cpu, "over": over})
            runtime.set_threads(before)
    return rows


def _print(rows: list[dict], size: int) -> None:
    print(f"\n{size}x{size} float32, {os.cpu_count()} cores\n")
    print("| kernel | path | wall ms | CPU ms | overhead wall | overhead CPU |")
    print("|---|---|---:|---:|---:|---:|")
    for r in rows:
        wall, cpu = (f"{100 * o:+.0f}%" for o in r["over"]) if "over" in r else ("", "")
        print(f"| {r['kernel']} | {r['path']} | {r['ms']:.0f} | {r['cpu']:.0f} | {wall} | {cpu} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=20000)
    parser.add_argument("--chunks", default="2048,4096")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    chunks = [int(c) for c in args.chunks.split(",")]
    _print(array_table(args.size, chunks, args.repeats), args.size)


if __name__ == "__main__":
    main()
