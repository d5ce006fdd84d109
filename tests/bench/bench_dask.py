"""Benchmark convtool.dask against convtool's single-machine path.

    python tests/bench/bench_dask.py [--size 20000] [--chunks 2048,4096] [--repeats 3]
                                     [--files 300] [--no-array] [--big 20000]

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

Batch table (``--files N``, 0 to skip): N photo-like 640x480 PNGs (``bench_batch.make_photos``)
filtered with ``-k gaussian:2`` by ``python -m convtool filter DIR -o OUT`` with ``--jobs W``,
with ``--scheduler local:W`` (starts and stops its LocalCluster inside the run) and with
``--scheduler ADDRESS`` of a LocalCluster of W workers already running; W = the core count.
One run each; outputs are checked byte-identical to the ``--jobs`` run. The last rows run the
files on a cluster started the usual way: ``dask scheduler`` and ``dask worker --nworkers W
--nthreads 1`` (with its nanny), then W ``dask worker --nthreads 1 --no-nanny`` processes;
each row is the first run on its fresh workers. Then ``--repeats`` runs on the nanny cluster
alternate with ``--jobs`` runs (the load of a shared machine drifts over minutes): the row
gives the cluster's median against the ``--jobs`` median, and every pair.
``--threads`` prints what a nanny worker runs with once convtool's plugin has set it up
(engine threads, OpenBLAS threads, the environment variables a nanny sets).

Split table (``--big N``, 0 to skip): one ``N x N`` float32 ``.npy`` filtered with
``-k gaussian:2`` into a ``.npy``: ``convtool filter`` on this machine (row bands on its
threads) against ``--scheduler ADDRESS`` of that nanny cluster (one input split in row bands
over its workers); the same into a 16-bit TIFF (``--depth 16``) locally and split;
``convtool.dask.correlate`` with the same 13x13 kernel over ``from_npy``/``to_npy`` (chunks
of 2048 rows) on the cluster; and dask-image's ``ndfilters.gaussian_filter`` (sigma 2,
truncate 3: the same 13 taps) on the same lazy array where dask-image is installed (a note
otherwise). The local and split runs alternate ``--repeats`` times (medians, every run
listed; the split's first run is on freshly restarted workers), and a row times what any
``--scheduler`` run pays before its first task (a Python that imports distributed and
connects). Peak RSS: the convtool process for the local runs; each worker process for the
cluster runs (workers restarted before each pair of rows, so the figure is those runs').
Split outputs are checked byte-identical to the local file; the lazy rows give the largest
difference from it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dask.array as da
import distributed
import numpy as np
from bench_batch import ROOT, make_photos, timed

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


def _same_files(a: Path, b: Path) -> bool:
    names = sorted(p.name for p in a.iterdir())
    return names == sorted(p.name for p in b.iterdir()) and all(
        (a / n).read_bytes() == (b / n).read_bytes() for n in names
    )


def batch_table(files: int, repeats: int) -> list[dict]:
    cores = os.cpu_count() or 1
    work = Path(tempfile.mkdtemp(prefix="bench_dask_"))
    try:
        inputs = work / "in"
        inputs.mkdir()
        make_photos(inputs, files)
        base = [sys.executable, "-m", "convtool", "filter", str(inputs), "-k", "gaussian:2", "-q"]
        rows = []

        def run(label: str, extra: list[str], keep: bool = True) -> dict:
            out = work / f"out{len(rows)}" if keep else work / "again"
            shutil.rmtree(work / "again", ignore_errors=True)
            seconds = timed([*base, "-o", str(out), *extra])
            row = {"path": label, "s": seconds, "same": not rows or _same_files(work / "out0", out)}
            if keep:
                rows.append(row)
            return row

        run(f"--jobs {cores}", ["--jobs", str(cores)])
        run(
            f"--scheduler local:{cores} (cluster started in the run)",
            ["--scheduler", f"local:{cores}"],
        )
        with distributed.LocalCluster(
            n_workers=cores,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster:
            run(
                f"--scheduler ADDRESS ({cores} workers running)",
                ["--scheduler", cluster.scheduler_address],
            )
        for nanny in (True, False):
            with nanny_cluster(cores, work, nanny=nanny) as (address, _):
                kind = "nanny" if nanny else "--no-nanny"
                run(
                    f"--scheduler ADDRESS (dask scheduler + dask worker, {kind}, {cores} workers;"
                    " its first run)",
                    ["--scheduler", address],
                )
                if nanny and repeats:  # the same cluster again, alternating with --jobs
                    pairs = [(run(f"--jobs {cores}", ["--jobs", str(cores)], keep=False),
                              run("", ["--scheduler", address], keep=False))
                             for _ in range(repeats)]  # fmt: skip
                    local = statistics.median(p[0]["s"] for p in pairs)
                    cluster_s = statistics.median(p[1]["s"] for p in pairs)
                    runs = [f"{p[0]['s']:.1f}/{p[1]['s']:.1f}" for p in pairs]
                    rows.append({"path": f"--jobs {cores} / that nanny cluster, alternating, "
                                 f"median of {repeats} ({', '.join(runs)})",
                                 "s": cluster_s, "base": local,
                                 "same": all(p[1]["same"] for p in pairs)})  # fmt: skip
        return rows
    finally:
        shutil.rmtree(work, ignore_errors=True)


ENV = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))


@contextlib.contextmanager
def nanny_cluster(workers: int, home: Path, *, nanny: bool = True):
    """``dask scheduler`` + ``dask worker --nworkers W --nthreads 1 --nanny`` (or W ``dask
    worker --nthreads 1 --no-nanny`` processes: --nworkers needs the nanny) subprocesses on
    127.0.0.1: yields (address, client); killed on exit."""
    dask = str(Path(sys.executable).with_name("dask"))
    info = home / "scheduler.json"
    info.unlink(missing_ok=True)  # an earlier cluster's
    procs = [
        subprocess.Popen(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
             "--scheduler-file", str(info)],
            env=ENV, cwd=home, stderr=subprocess.DEVNULL, start_new_session=True,
        )
    ]  # fmt: skip
    try:
        while not info.exists() or not info.read_text().strip():
            time.sleep(0.1)
        address = json.loads(info.read_text())["address"]
        shape = ["--nworkers", str(workers), "--nanny"] if nanny else ["--no-nanny"]
        for _ in range(1 if nanny else workers):
            procs.append(
                subprocess.Popen(
                    [dask, "worker", address, *shape, "--nthreads", "1", "--no-dashboard"],
                    env=ENV, cwd=home, stderr=subprocess.DEVNULL, start_new_session=True,
                )
            )  # fmt: skip
        with distributed.Client(address) as client:
            client.wait_for_workers(workers, timeout=120)
            yield address, client
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def worker_threads(cores: int) -> dict:
    """What each worker of a nanny cluster runs with after convtool's plugin set it up."""

    def state() -> dict:
        from convtool._blas import _api

        api = _api()
        names = ("MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                 "MKL_NUM_THREADS")  # fmt: skip
        return {"engine threads": runtime.threads(), "OpenBLAS threads": api[0]() if api else None,
                **{name: os.environ.get(name) for name in names}}  # fmt: skip

    work = Path(tempfile.mkdtemp(prefix="bench_threads_"))
    try:
        with nanny_cluster(cores, work) as (address, client):
            before = client.run(state)
            from convtool.dask.cluster import scheduler_executor

            with scheduler_executor(address) as executor:
                return {"nanny, before": before, "nanny, set up": executor.client.run(state)}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _peaks(client) -> list[float]:
    """Peak RSS (MB) of each worker process since it started (VmHWM)."""

    def peak() -> float:
        with open("/proc/self/status") as fh:
            kb = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM"))
        return kb / 1024

    return sorted(client.run(peak).values())


# A small parent for the timed command: a child's peak RSS (ru_maxrss) starts at its parent's
# resident set when it is forked (this process has mapped gigabytes of .npy by then).
_PEAK = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    "sys.exit(code)\n"
)


# What a --scheduler run does before its first task: start, import distributed, connect.
_CONNECT = "import sys, distributed\ndistributed.Client(sys.argv[1]).close()\n"


def _run_rss(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one command."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _PEAK, *cmd], env=ENV, capture_output=True,
                          text=True)  # fmt: skip
    if proc.returncode:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr}")
    return time.perf_counter() - start, int(proc.stdout.split()[-1]) / 1024


def split_table(size: int, repeats: int) -> tuple[list[dict], str]:
    cores = os.cpu_count() or 1
    work = Path(tempfile.mkdtemp(prefix="bench_split_"))
    note = ""
    try:
        big = work / "big.npy"
        out = np.lib.format.open_memmap(big, mode="w+", dtype=np.float32, shape=(size, size))
        rng = np.random.default_rng(0)
        for r in range(0, size, 1024):
            out[r : r + 1024] = rng.random((min(1024, size - r), size), dtype=np.float32)
        out.flush()
        del out
        base = [sys.executable, "-m", "convtool", "filter", str(big), "-k", "gaussian:2", "-o"]
        rows = []
        with nanny_cluster(cores, work) as (address, client):
            for name, extra, same_as in [("npy", [], _same_npy),
                                         ("tif", ["--depth", "16"], _same_bytes)]:  # fmt: skip
                client.restart()  # the workers' peaks are these runs'
                local, split, peak = [], [], 0.0
                for _ in range(max(1, repeats)):  # alternating: the load changes over minutes
                    seconds, rss = _run_rss([*base, str(work / f"local.{name}"), *extra])
                    local.append(seconds)
                    peak = max(peak, rss)
                    seconds, client_rss = _run_rss(
                        [*base, str(work / f"split.{name}"), *extra, "--scheduler", address]
                    )
                    split.append(seconds)
                same = same_as(work / f"local.{name}", work / f"split.{name}")
                workers = " / ".join(f"{p:.0f}" for p in _peaks(client))
                what = "" if name == "npy" else " -o .tif --depth 16"
                rows.append({"path": f"convtool filter{what} (this machine, row bands)",
                             "s": statistics.median(local), "runs": local, "rss": f"{peak:.0f}",
                             "same": True})  # fmt: skip
                rss = f"{client_rss:.0f} + workers {workers}"
                rows.append({"path": f"--scheduler ADDRESS{what}, split over {cores} workers",
                             "s": statistics.median(split), "runs": split, "rss": rss,
                             "base": statistics.median(local), "same": same})  # fmt: skip
            start = [_run_rss([sys.executable, "-c", _CONNECT, address])[0] for _ in range(3)]
            rows.append({"path": "of which the client's start-up (python, import distributed, "
                         "connect)", "s": statistics.median(start), "runs": start,
                         "base": rows[0]["s"], "rss": "", "same": ""})  # fmt: skip
            lazy = cdask.from_npy(big, chunks=(2048, size))
            weights = parse_kernel("gaussian:2").weights
            lazy_rows = [("convtool.dask.correlate (from_npy/to_npy)",
                          lambda: cdask.correlate(lazy, weights))]  # fmt: skip
            try:
                from dask_image import ndfilters
            except ImportError:
                note = "dask-image is not installed here: its row is skipped"
            else:
                label = "dask-image ndfilters.gaussian_filter (from_npy/to_npy)"
                lazy_rows.append((label, lambda: ndfilters.gaussian_filter(lazy, 2, truncate=3.0)))
            for label, make in lazy_rows:
                client.restart()
                start = time.perf_counter()
                cdask.to_npy(make(), work / "lazy.npy")
                seconds = time.perf_counter() - start
                workers = " / ".join(f"{p:.0f}" for p in _peaks(client))
                diff = _max_diff(work / "local.npy", work / "lazy.npy")
                rows.append({"path": label, "s": seconds, "rss": f"workers {workers}",
                             "same": f"max diff {diff:.1e}"})  # fmt: skip
        return rows, note
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _same_bytes(a: Path, b: Path) -> bool:
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(1 << 24), fb.read(1 << 24)
            if x != y:
                return False
            if not x:
                return True


def _max_diff(a: Path, b: Path) -> float:
    x, y = np.load(a, mmap_mode="r"), np.load(b, mmap_mode="r")
    return max(
        float(np.abs(x[r : r + 1024] - y[r : r + 1024]).max()) for r in range(0, x.shape[0], 1024)
    )


def _same_npy(a: Path, b: Path) -> bool:
    x, y = np.load(a, mmap_mode="r"), np.load(b, mmap_mode="r")
    return x.shape == y.shape and all(
        np.array_equal(x[r : r + 1024], y[r : r + 1024]) for r in range(0, x.shape[0], 1024)
    )


def _print_split(rows: list[dict], size: int, note: str) -> None:
    print(f"\n{size}x{size} float32 .npy, -k gaussian:2, load {os.getloadavg()[0]:.1f}\n")
    print("| run | wall s (median) | runs s | vs local | peak RSS MB | same as local |")
    print("|---|---:|---|---:|---|---|")
    for r in rows:
        ratio = r["s"] / r.get("base", rows[0]["s"])
        runs = ", ".join(f"{t:.1f}" for t in r.get("runs", [r["s"]]))
        print(f"| {r['path']} | {r['s']:.1f} | {runs} | {ratio:.2f}x | {r['rss']} | {r['same']} |")
    if note:
        print(f"\n{note}")


def _print_batch(rows: list[dict], files: int) -> None:
    print(f"\n{files} files 640x480 RGB PNG, -k gaussian:2, load {os.getloadavg()[0]:.1f}\n")
    print("| run | wall s | files/s | vs --jobs | same bytes |")
    print("|---|---:|---:|---:|---|")
    for r in rows:
        ratio = r["s"] / r.get("base", rows[0]["s"])
        print(f"| {r['path']} | {r['s']:.1f} | {files / r['s']:.1f} | {ratio:.2f}x | {r['same']} |")


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
    parser.add_argument("--files", type=int, default=300, help="batch files (0: no batch table)")
    parser.add_argument("--no-array", action="store_true", help="no array table")
    parser.add_argument("--big", type=int, default=20000, help="split table size (0: none)")
    parser.add_argument("--threads", action="store_true", help="print a nanny worker's set-up")
    args = parser.parse_args()
    chunks = [int(c) for c in args.chunks.split(",")]
    if args.threads:
        for label, workers in worker_threads(os.cpu_count() or 1).items():
            print(label, json.dumps(sorted(workers.values(), key=str)))
    if not args.no_array:
        _print(array_table(args.size, chunks, args.repeats), args.size)
    if args.files:
        _print_batch(batch_table(args.files, args.repeats), args.files)
    if args.big:
        rows, note = split_table(args.big, args.repeats)
        _print_split(rows, args.big, note)


if __name__ == "__main__":
    main()
