"""Benchmark `convtool.fit.fit_kernel` against numpy.linalg.lstsq on the explicit design matrix.

    python tests/bench/bench_fit.py [--size 7] [--repeats 3] [--lstsq-dtype auto|float64|float32]

The pair: samples/waldo-scene.png resized to 1920x1080 (bicubic, RGB float32 0..1) and its
correlation with a random 7x7x3x3 kernel plus a bias (border reflect). Fitted: the mixing
kernel with bias, 441 weights + 3 biases. Every method runs in its own subprocess, one after
the other, so that its peak memory is its own:

- time: median wall seconds over ``--repeats`` runs in that process;
- traced peak: tracemalloc's peak over one run (numpy reports its buffers to it), i.e. the
  memory the method allocates on top of the two input images;
- RSS peak: the subprocess's ru_maxrss minus its RSS just before the method ran;
- error: largest |fitted weight - true weight|.

The explicit design matrix has one row per pixel (2,073,600) and 7*7*3 + 1 = 148 columns
(the 3 output channels are 3 right-hand sides of the same matrix: 444 unknowns in all), so
2.5 GB in float64; ``lstsq`` (LAPACK gelsd) copies it once more and adds its own workspace.
``--lstsq-dtype auto`` uses float64 when at least 12 GB are available, float32 otherwise.

The bounded-memory row (issue 28): ``convtool fit X.npy Y.npy --size 3`` through the CLI on a
``--big`` x ``--big`` float64 pair (default 8000: 488 MiB each), its peak RSS (``wait4`` on
that one process) against the bytes of the two inputs; the bound is 2x. ``--only-big`` runs
that row alone.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]


def make_pair(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from convtool.engine import correlate

    img = Image.open(ROOT / "samples" / "waldo-scene.png").convert("RGB")
    x = np.asarray(img.resize((1920, 1080), Image.BICUBIC), dtype=np.float32) / 255
    rng = np.random.default_rng(0)
    k = rng.standard_normal((size, size, 3, 3)) / size
    b = rng.standard_normal(3) * 0.1
    return x, correlate(x, k, bias=b), k, b


def run_convtool(x, y, size):
    from convtool.fit import fit_kernel

    fit = fit_kernel(x, y, size, channels="mixing", bias=True)
    return fit.weights, fit.bias


def design_matrix(x: np.ndarray, size: int, dtype) -> np.ndarray:
    """One row per pixel, columns (a, b, c) as V[a, b, c, :], then a column of ones."""
    r = size // 2
    p = np.pad(x, ((r, size - 1 - r), (r, size - 1 - r), (0, 0)), mode="symmetric")
    h, w, c = x.shape
    a = np.empty((h * w, size * size * c + 1), dtype)
    col = 0
    for i in range(size):
        for j in range(size):
            for ch in range(c):
                a[:, col] = p[i : i + h, j : j + w, ch].reshape(-1)
                col += 1
    a[:, -1] = 1.0
    return a


def run_lstsq(x, y, size, dtype):
    a = design_matrix(x, size, dtype)
    z = np.linalg.lstsq(a, y.reshape(-1, 3).astype(dtype), rcond=None)[0]
    return z[:-1].reshape(size, size, 3, 3), z[-1]


def rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize()


def worker(method: str, size: int, repeats: int) -> None:
    x, y, k, b = make_pair(size)
    if method == "convtool":
        fn = lambda: run_convtool(x, y, size)  # noqa: E731
    else:
        dtype = np.float64 if method == "lstsq-float64" else np.float32
        fn = lambda: run_lstsq(x, y, size, dtype)  # noqa: E731
    base = rss_bytes()
    tracemalloc.start()
    t0 = time.perf_counter()
    w, bias = fn()
    times = [time.perf_counter() - t0]
    _, traced = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
    for _ in range(repeats - 1):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    error = float(max(np.abs(w - k).max(), np.abs(np.asarray(bias) - b).max()))
    print(
        json.dumps(
            {
                "method": method,
                "seconds": statistics.median(times),
                "runs": len(times),
                "traced": traced,
                "rss": peak_rss,
                "error": error,
            }
        )
    )


def available_bytes() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


def big_row(side: int) -> dict:
    """Peak RSS of ``convtool fit`` (the CLI, its own process) on a side x side float64 pair."""
    from convtool.engine import correlate

    rng = np.random.default_rng(0)
    k = rng.standard_normal((3, 3))
    with tempfile.TemporaryDirectory() as folder:
        xpath, ypath = Path(folder) / "x.npy", Path(folder) / "y.npy"
        x = rng.random((side, side))
        np.save(xpath, x)
        np.save(ypath, correlate(x, k))
        del x
        cmd = [sys.executable, "-m", "convtool", "fit", str(xpath), str(ypath), "--size", "3"]
        t0 = time.perf_counter()
        proc = subprocess.Popen([*cmd, "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out = proc.stdout.read()
        proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise SystemExit(f"convtool fit failed with status {proc.returncode}")
        weights = np.asarray(json.loads(out)["kernel"]["weights"])
        inputs = xpath.stat().st_size + ypath.stat().st_size
    return {
        "side": side,
        "inputs": inputs,
        "rss": usage.ru_maxrss * 1024,
        "seconds": seconds,
        "error": float(np.abs(weights - k).max()),
    }


def print_big(row: dict) -> None:
    side = row["side"]
    print(f"\nconvtool fit --size 3 (CLI) on a {side}x{side} float64 pair (bound: 2x the inputs)\n")
    print("| pair | inputs MiB | peak RSS MiB | RSS / inputs | seconds | max weight error |")
    print("|---|---:|---:|---:|---:|---:|")
    print(
        f"| {side}x{side} float64 | {row['inputs'] / 2**20:.0f} | {row['rss'] / 2**20:.0f} "
        f"| {row['rss'] / row['inputs']:.2f}x | {row['seconds']:.1f} | {row['error']:.1e} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=7)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--lstsq-dtype", choices=("auto", "float64", "float32"), default="auto")
    ap.add_argument("--lstsq-repeats", type=int, default=1)
    ap.add_argument("--big", type=int, default=8000, help="side of the bounded-memory row")
    ap.add_argument("--only-big", action="store_true", help="run the bounded-memory row alone")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.size, args.repeats)
        return
    if args.only_big:
        print_big(big_row(args.big))
        return
    dtype = args.lstsq_dtype
    if dtype == "auto":
        dtype = "float64" if available_bytes() >= 12 * 2**30 else "float32"
    rows = []
    for method, repeats in (("convtool", args.repeats), (f"lstsq-{dtype}", args.lstsq_repeats)):
        cmd = [sys.executable, __file__, "--worker", method, "--size", str(args.size)]
        cmd += ["--repeats", str(repeats)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    n = args.size * args.size * 3 + 1
    print(f"fit {args.size}x{args.size}x3x3 mixing kernel + bias, 1920x1080 RGB pair")
    print(f"(design matrix 2,073,600 x {n}, 3 right-hand sides)\n")
    print("| method | median s | runs | traced peak MiB | RSS peak MiB | max weight error |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['method']} | {r['seconds']:.2f} | {r['runs']} | {r['traced'] / 2**20:.0f} "
            f"| {r['rss'] / 2**20:.0f} | {r['error']:.1e} |"
        )
    if args.big:
        print_big(big_row(args.big))


if __name__ == "__main__":
    main()
