"""Benchmark the convtool engine against the peers that are installed (OpenCV, scipy.ndimage).

    python tests/bench/bench.py [--quick] [--size 1080p|4k] [--repeat N] [--no-cli] [--no-find]

Prints Markdown tables: median milliseconds over ``--repeat`` runs of convtool (``auto``
strategy; the strategy it chose is shown) and of each peer on the same float32 RGB image,
measured one after the other for each row so that background load hits them alike, and the
ratios convtool / peer (below 1 = convtool faster). Then the peak memory of a run
(tracemalloc, to which numpy reports its allocations) against the target of 3x the image plus
the output, and the whole CLI on a 4K PNG against a bare Pillow open+save of the same file.
Finally it runs ``bench_find.py`` (template matching, owned by its author) if present.

scipy.ndimage.correlate takes seconds to minutes for large kernels: it runs once for k >= 31
(``n=1`` in the table) and is skipped for them with ``--quick``.

This file is a script: pytest does not collect it (tests/conftest.py ignores tests/bench).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
from timing import median_ms

from convtool import engine
from convtool.kernels import parse_kernel

try:
    import cv2
except ImportError:  # peers are optional: rows show "absent"
    cv2 = None
try:
    import scipy.ndimage as ndi
except ImportError:
    ndi = None

SIZES = {"1080p": (1080, 1920), "4k": (2160, 3840)}
HERE = Path(__file__).resolve().parent


def median_n(fn: Callable[[], object], repeats: int) -> tuple[float, int]:
    """Median wall time in ms over ``repeats`` runs after one warm-up run, and ``repeats``."""
    return median_ms(fn, repeats), repeats


def interleaved_ms(
    fns: list[Callable[[], object] | None], repeats: int
) -> list[tuple[float, int] | None]:
    """Median wall times in ms, the functions taking turns within each repeat.

    Turns put convtool and its peer under the same conditions: this VM's cores speed up over
    the first runs after a quiet spell, which back-to-back blocks charged to whoever ran first.
    """
    live = [fn for fn in fns if fn is not None]
    for fn in live:
        fn()
    times: dict[int, list[float]] = {id(fn): [] for fn in live}
    for _ in range(repeats):
        for fn in live:
            start = time.perf_counter()
            fn()
            times[id(fn)].append(time.perf_counter() - start)
    return [
        None if fn is None else (1000 * statistics.median(times[id(fn)]), repeats) for fn in fns
    ]


def fmt_ms(value: tuple[float, int] | None, repeats: int) -> str:
    if value is None:
        return "skip"
    ms, n = value
    text = f"{ms:.1f}" if ms < 100 else f"{ms:.0f}"
    return text if n >= repeats else f"{text} (n={n})"


def fmt_ratio(ours: tuple[float, int] | None, peer: tuple[float, int] | None) -> str:
    if ours is None or peer is None:
        return "–"
    return f"{ours[0] / peer[0]:.2f}"


def gaussian_dense(sigma: float, radius: int) -> np.ndarray:
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    g = np.exp(-0.5 * (x / sigma) ** 2)
    g /= g.sum()
    return np.outer(g, g)


def blas_description() -> str:
    try:
        from threadpoolctl import threadpool_info

        info = [
            f"{d.get('internal_api')} {d.get('version')} {d.get('architecture')} "
            f"threads={d.get('num_threads')}"
            for d in threadpool_info()
            if d.get("user_api") == "blas"
        ]
        if info:
            return "; ".join(info)
    except ImportError:
        pass
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version')} (threadpoolctl absent: kernel unknown)"
    except Exception:  # best effort, only for the header
        return "unknown"


def print_header(args: argparse.Namespace, shape: tuple[int, ...]) -> None:
    env = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ}
    print(f"# convtool benchmark: {shape[1]}x{shape[0]} RGB float32, median of {args.repeat}\n")
    print(f"- machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs")
    try:
        load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
        print(f"- load average at start: {load} (other processes skew every column alike)")
    except OSError:
        pass
    print(
        f"- python {platform.python_version()}, numpy {np.__version__}, BLAS: {blas_description()}"
    )
    print(f"- OpenBLAS env: {env or 'not set'}")
    peers = []
    if cv2 is not None:
        peers.append(f"opencv {cv2.__version__} ({cv2.getNumThreads()} threads)")
    if ndi is not None:
        import scipy

        peers.append(f"scipy {scipy.__version__}")
    print(f"- peers: {', '.join(peers) or 'none installed'}\n")


def filter_rows(image: np.ndarray, args: argparse.Namespace) -> None:
    rng = np.random.default_rng(1)
    rows: list[tuple[str, np.ndarray, Callable | None, Callable | None, bool]] = []
    for k in (3, 5, 9, 15, 31, 63):
        kernel = rng.standard_normal((k, k)).astype(np.float32)
        kernel /= np.abs(kernel).sum()
        cv_fn = (
            (lambda kk=kernel: cv2.filter2D(image, -1, kk, borderType=cv2.BORDER_REFLECT))
            if cv2
            else None
        )
        sp_fn = (
            (lambda kk=kernel: ndi.correlate(image, kk[:, :, None], mode="reflect"))
            if ndi
            else None
        )
        rows.append((f"dense k={k}", kernel, cv_fn, sp_fn, k >= 31))
    for sigma, radius in ((2, 6), (10, 30)):
        kernel = gaussian_dense(sigma, radius)
        ksize = 2 * radius + 1
        cv_fn = (
            (
                lambda s=sigma, n=ksize: cv2.GaussianBlur(
                    image, (n, n), s, borderType=cv2.BORDER_REFLECT
                )
            )
            if cv2
            else None
        )
        sp_fn = (
            (lambda s=sigma, r=radius: ndi.gaussian_filter(image, s, radius=r, axes=(0, 1)))
            if ndi
            else None
        )
        rows.append((f"gaussian σ={sigma} dense {ksize}x{ksize}", kernel, cv_fn, sp_fn, False))
        try:
            named = parse_kernel(f"gaussian:{sigma}")
            rows.append(
                (
                    f"gaussian:{sigma} (named, {named.weights.shape[0]}x{named.weights.shape[1]})",
                    named.weights,
                    cv_fn,
                    sp_fn,
                    False,
                )
            )
        except Exception as exc:  # the kernel library may not have it yet
            print(f"(named gaussian:{sigma} unavailable: {exc})")
    mix = rng.standard_normal((5, 5, 3, 3)).astype(np.float32) / 25

    def cv_mix() -> np.ndarray:
        planes = [np.ascontiguousarray(image[:, :, c]) for c in range(3)]
        return np.stack(
            [
                sum(
                    cv2.filter2D(planes[ci], -1, mix[:, :, ci, co], borderType=cv2.BORDER_REFLECT)
                    for ci in range(3)
                )
                for co in range(3)
            ],
            axis=-1,
        )

    def sp_mix() -> np.ndarray:
        return np.stack(
            [
                sum(
                    ndi.correlate(image[:, :, ci], mix[:, :, ci, co], mode="reflect")
                    for ci in range(3)
                )
                for co in range(3)
            ],
            axis=-1,
        )

    rows.append(
        ("4-D mixing 5x5x3x3", mix, cv_mix if cv2 else None, sp_mix if ndi else None, False)
    )

    print("## Filter, median ms\n")
    print("| row | strategy | convtool | cv2 | scipy.ndimage | /cv2 | /scipy |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, kernel, cv_fn, sp_fn, slow in rows:
        info = engine.RunInfo()
        engine.correlate(image, kernel, info=info)
        ours, cv = interleaved_ms(
            [lambda kk=kernel: engine.correlate(image, kk), cv_fn], args.repeat
        )
        if sp_fn is None or (slow and args.quick):
            sp = None
        else:
            sp = median_n(sp_fn, 1 if slow else args.repeat)
        print(
            f"| {name} | {info.strategy} | {fmt_ms(ours, args.repeat)} | {fmt_ms(cv, args.repeat)} "
            f"| {fmt_ms(sp, args.repeat)} | {fmt_ratio(ours, cv)} | {fmt_ratio(ours, sp)} |",
            flush=True,
        )
    print()


def memory_rows(image: np.ndarray) -> None:
    rng = np.random.default_rng(2)
    cases = [
        ("dense k=3", rng.standard_normal((3, 3))),
        ("dense k=15", rng.standard_normal((15, 15))),
        ("dense k=63", rng.standard_normal((63, 63))),
        ("gaussian σ=10 dense", gaussian_dense(10, 30)),
        ("4-D mixing 5x5x3x3", rng.standard_normal((5, 5, 3, 3))),
    ]
    print("## Peak memory of one first run (tracemalloc, kept work arrays released)\n")
    print("| row | strategy | peak MB | output MB | (peak - output) / image | target ≤ 3 |")
    print("|---|---|---:|---:|---:|---|")
    for name, kernel in cases:
        for strategy in ("auto", *[s for s in engine.STRATEGIES if s != "direct"]):
            if strategy != "auto" and kernel.shape[0] > 15 and strategy in ("strips", "gemm"):
                continue  # minutes of work for no new information
            info = engine.RunInfo()
            engine.release_scratch()  # count the work arrays a first call allocates
            tracemalloc.start()
            out = engine.correlate(image, kernel, strategy=strategy, info=info)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            extra = (peak - out.nbytes) / image.nbytes
            label = info.strategy if strategy != "auto" else f"auto → {info.strategy}"
            print(
                f"| {name} | {label} | {peak / 1e6:.0f} | {out.nbytes / 1e6:.0f} | {extra:.2f} "
                f"| {'yes' if extra <= 3 else 'NO'} |",
                flush=True,
            )
            del out
    print()


def cli_row(args: argparse.Namespace) -> None:
    from PIL import Image

    h, w = SIZES["4k"]
    rng = np.random.default_rng(3)
    # A smooth scene plus noise: compresses like a photo, unlike pure noise.
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack(
        [
            128 + 90 * np.sin(xx / 97.0) * np.cos(yy / 131.0),
            128 + 90 * np.sin((xx + yy) / 173.0),
            128 + 90 * np.cos(xx / 61.0 - yy / 89.0),
        ],
        axis=-1,
    )
    base += rng.normal(0, 6, base.shape).astype(np.float32)
    pixels = np.clip(base, 0, 255).astype(np.uint8)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.png"
        Image.fromarray(pixels, "RGB").save(src)
        convtool = [sys.executable, "-m", "convtool", "filter", str(src), "-k", "gaussian:2"]
        convtool += ["-o", str(Path(tmp) / "out.png"), "-v"]
        pillow = [
            sys.executable,
            "-c",
            "import sys; from PIL import Image; Image.open(sys.argv[1]).save(sys.argv[2])",
            str(src),
            str(Path(tmp) / "pil.png"),
        ]
        repeats = 1 if args.quick else max(1, min(args.repeat, 3))
        times: dict[str, list[float]] = {"convtool": [], "pillow": []}
        verbose = ""
        for _ in range(repeats):
            for name, cmd in (("pillow", pillow), ("convtool", convtool)):
                start = time.perf_counter()
                done = subprocess.run(cmd, capture_output=True, text=True)
                times[name].append(time.perf_counter() - start)
                if done.returncode:
                    print(f"{name} failed: {done.stderr.strip()}")
                    return
                if name == "convtool":
                    verbose = done.stderr.strip().replace("\n", "; ")
        ours, peer = (statistics.median(times[k]) for k in ("convtool", "pillow"))
        print("## CLI, 3840x2160 RGB PNG, median s (whole process)\n")
        print("| command | s | ratio to Pillow | target ≤ 1.3 |")
        print("|---|---:|---:|---|")
        print(f"| Pillow open+save | {peer:.2f} | 1.00 | |")
        print(
            f"| convtool filter -k gaussian:2 | {ours:.2f} | {ours / peer:.2f} "
            f"| {'yes' if ours / peer <= 1.3 else 'NO'} |"
        )
        print(f"\nconvtool -v: {verbose}\n")


def find_rows(args: argparse.Namespace) -> None:
    script = HERE / "bench_find.py"
    if not script.exists():
        return
    cmd = [sys.executable, str(script), "--repeats", str(args.repeat)]
    if args.quick:
        cmd.append("--no-skimage")
    print("## Template matching (bench_find.py)\n", flush=True)
    done = subprocess.run(cmd, capture_output=True, text=True)
    print(done.stdout if done.returncode == 0 else f"bench_find.py failed: {done.stderr}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, skip slow peers")
    parser.add_argument("--size", choices=tuple(SIZES), default="1080p")
    parser.add_argument("--repeat", type=int, default=None, help="runs per median (default 5)")
    parser.add_argument("--no-cli", action="store_true", help="skip the 4K PNG CLI row")
    parser.add_argument("--no-find", action="store_true", help="skip bench_find.py")
    args = parser.parse_args()
    if args.repeat is None:
        args.repeat = 3 if args.quick else 5
    h, w = SIZES[args.size]
    image = np.random.default_rng(0).random((h, w, 3), dtype=np.float32)
    print_header(args, image.shape)
    filter_rows(image, args)
    memory_rows(image)
    if not args.no_cli:
        cli_row(args)
    if not args.no_find:
        find_rows(args)


if __name__ == "__main__":
    main()
