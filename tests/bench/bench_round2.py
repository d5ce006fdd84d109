"""Benchmark the cases of issue 18 against their peers, interleaved in one run.

    python tests/bench/bench_round2.py [SECTION ...] [--repeats 7] [--skimage]

Sections (all by default): ``find5`` (search over 5 template scales, 64 px template, 4K grey
and RGB), ``find1`` (search with one scale), ``small`` (256x256 dense 3x3 grey and RGB,
gaussian sigma 1 RGB), ``fft`` (dense 31x31 RGB and gaussian:10 grey at 1080p, 4K and 8K:
nanoseconds per pixel and channel), ``rss`` (peak RSS of the CLI filtering a 4K RGB PNG with
a 3x3x3x16 kernel into .npy) and ``box`` (box:5 on 8-bit RGB images).

Each row times convtool and its peers taking turns within every repeat (the median of each
is printed), so that background load on this shared 2-core machine hits them alike; the
ratio convtool / peer is the figure to compare (below 1 = convtool faster). To compare two
versions of convtool, run this script twice with ``PYTHONPATH`` pointing at each checkout.
This file is a script: pytest does not collect it (tests/conftest.py ignores tests/bench).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from convtool import engine
from convtool.kernels import parse_kernel
from convtool.matching import match_template, search

SECTIONS = ("find5", "find1", "small", "fft", "rss", "box")
SCALES = (0.8, 0.9, 1.0, 1.1, 1.2)


def interleaved(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median ms of each function, the functions taking turns within each repeat (a 0.05 s
    pause before calls of 5 ms or more: OpenCV's workers keep spinning a moment after a
    call; none before shorter ones, where the pause would dwarf the call)."""
    settle = False
    for fn in fns.values():
        start = time.perf_counter()
        fn()  # warm-up: FFT plans, thread pools, page faults, caches
        settle = settle or time.perf_counter() - start > 0.005
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            if settle:
                time.sleep(0.05)
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: 1000 * statistics.median(t) for name, t in times.items()}


def row(case: str, ms: dict[str, float], ours: str = "convtool", **extra: str) -> None:
    peers = [name for name in ms if name != ours]
    ratios = ", ".join(f"/{p} {ms[ours] / ms[p]:.2f}" for p in peers)
    times = ", ".join(f"{name} {ms[name]:.3g}" for name in ms)
    tail = "".join(f" | {v}" for v in extra.values())
    print(f"| {case} | {times} | {ratios}{tail} |", flush=True)


def _image(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """A smooth-ish float32 image in [0, 1] (random noise blurred), like a photograph."""
    rng = np.random.default_rng(seed)
    small = rng.random((shape[0] // 8 + 1, shape[1] // 8 + 1, *shape[2:]), dtype=np.float32)
    big = cv2.resize(small, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)
    noise = rng.random(shape, dtype=np.float32) * 0.2
    return np.ascontiguousarray(big.reshape(shape) * 0.8 + noise)


def _cv_templates(tpl: np.ndarray) -> list[np.ndarray]:
    out = []
    for s in SCALES:
        h, w = max(1, round(tpl.shape[0] * s)), max(1, round(tpl.shape[1] * s))
        out.append(cv2.resize(tpl, (w, h), interpolation=cv2.INTER_LINEAR))
    return out


def _find5_fns(image: np.ndarray, tpl: np.ndarray, sk: bool) -> dict[str, Callable[[], object]]:
    templates = _cv_templates(tpl)

    def ours() -> None:
        search(image, tpl, scales=SCALES, top=5)

    def ours_maps() -> None:
        for t in templates:
            match_template(image, t)

    def cv_loop() -> None:
        for s in SCALES:
            h, w = max(1, round(tpl.shape[0] * s)), max(1, round(tpl.shape[1] * s))
            t = cv2.resize(tpl, (w, h), interpolation=cv2.INTER_LINEAR)
            cv2.minMaxLoc(cv2.matchTemplate(image, t, cv2.TM_CCOEFF_NORMED))

    fns = {"convtool": ours, "5x match_template": ours_maps, "cv2 loop": cv_loop}
    if sk:
        from skimage.feature import match_template as sk_match

        fns["5x skimage"] = lambda: [sk_match(image, t) for t in templates]
    return fns


def bench_find5(args: argparse.Namespace) -> None:
    print("\n## search over 5 scales (0.8..1.2), 64x64 template, 3840x2160 float32 (ms)\n")
    print("| case | median ms | ratios convtool / peer |\n|---|---|---|")
    for channels in (1, 3):
        shape = (2160, 3840) if channels == 1 else (2160, 3840, 3)
        image = _image(shape)
        tpl = np.ascontiguousarray(image[700:764, 1500:1564])
        fns = _find5_fns(image, tpl, args.skimage and channels == 1)
        name = "grey" if channels == 1 else "RGB"
        row(f"4K {name} search 5 scales", interleaved(fns, args.repeats))


def bench_find1(args: argparse.Namespace) -> None:
    print("\n## search with one scale, 64x64 template, 3840x2160 grey float32 (ms)\n")
    print("| case | median ms | ratios convtool / peer |\n|---|---|---|")
    image = _image((2160, 3840))
    tpl = np.ascontiguousarray(image[700:764, 1500:1564])
    fns = {
        "convtool": lambda: search(image, tpl, top=5),
        "match_template": lambda: match_template(image, tpl),
        "cv2": lambda: cv2.minMaxLoc(cv2.matchTemplate(image, tpl, cv2.TM_CCOEFF_NORMED)),
    }
    row("4K grey search 1 scale", interleaved(fns, args.repeats))


def bench_small(args: argparse.Namespace) -> None:
    print("\n## 256x256 float32 images, one call (ms)\n")
    print("| case | median ms | ratios convtool / peer |\n|---|---|---|")
    rng = np.random.default_rng(2)
    dense = rng.standard_normal((3, 3)).astype(np.float32)
    gauss = parse_kernel("gaussian:1").weights.astype(np.float32)
    n = gauss.shape[0]
    reps = args.repeats * 30  # sub-millisecond calls: more samples
    for channels in (1, 3):
        shape = (256, 256) if channels == 1 else (256, 256, 3)
        image = _image(shape, seed=3)
        name = "grey" if channels == 1 else "RGB"
        fns = {
            "convtool": lambda i=image: engine.correlate(i, dense),
            "cv2.filter2D": lambda i=image: cv2.filter2D(
                i, -1, dense, borderType=cv2.BORDER_REFLECT
            ),
        }
        row(f"{name} dense 3x3", interleaved(fns, reps))
        fns = {
            "convtool": lambda i=image: engine.correlate(i, gauss),
            "cv2.GaussianBlur": lambda i=image: cv2.GaussianBlur(
                i, (n, n), 1.0, borderType=cv2.BORDER_REFLECT
            ),
        }
        row(f"{name} gaussian:1 ({n}x{n})", interleaved(fns, reps))


def _without_tiles(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """The fft path as before column tiles (one tile whatever the width), for an A/B in the
    same run; absent from checkouts that predate the tiles."""
    from convtool.engine import fft

    saved = fft._FFT_TILE_COLS
    fft._FFT_TILE_COLS = 1 << 30
    try:
        return engine.correlate(image, kernel, strategy="fft")
    finally:
        fft._FFT_TILE_COLS = saved


def bench_fft(args: argparse.Namespace) -> None:
    from convtool.engine import fft

    tiles = hasattr(fft, "_FFT_TILE_COLS")
    print("\n## large kernels: ns per pixel and channel (ms in brackets)\n")
    print(
        "| case | convtool ns/px | no tiles ns/px | cv2 ns/px | /cv2 | no tiles /cv2 | strategy |"
        "\n|---|---:|---:|---:|---:|---:|---|"
    )
    rng = np.random.default_rng(4)
    k31 = rng.standard_normal((31, 31)).astype(np.float32) / 31
    g10 = parse_kernel("gaussian:10").weights.astype(np.float32)
    sizes = {"1080p": (1080, 1920), "4K": (2160, 3840), "8K": (4320, 7680)}
    cases = {"dense 31x31 RGB": (k31, 3), "gaussian:10 grey": (g10, 1)}
    for label, (kernel, channels) in cases.items():
        for size, (h, w) in sizes.items():
            shape = (h, w) if channels == 1 else (h, w, channels)
            image = _image(shape, seed=5)
            info = engine.RunInfo()
            engine.correlate(image, kernel, info=info)
            fns = {"convtool": lambda i=image, k=kernel: engine.correlate(i, k)}
            if tiles and info.strategy == "fft":
                fns["no tiles"] = lambda i=image, k=kernel: _without_tiles(i, k)
            fns["cv2"] = lambda i=image, k=kernel: cv2.filter2D(
                i, -1, k, borderType=cv2.BORDER_REFLECT
            )
            reps = max(3, args.repeats // (1 if size == "1080p" else 2))
            ms = interleaved(fns, reps)
            per = {k: v * 1e6 / image.size for k, v in ms.items()}
            old = f"{per['no tiles']:.2f} ({ms['no tiles']:.0f})" if "no tiles" in ms else "-"
            old_ratio = f"{ms['no tiles'] / ms['cv2']:.2f}" if "no tiles" in ms else "-"
            print(
                f"| {label} {size} | {per['convtool']:.2f} ({ms['convtool']:.0f}) | {old} | "
                f"{per['cv2']:.2f} ({ms['cv2']:.0f}) | {ms['convtool'] / ms['cv2']:.2f} | "
                f"{old_ratio} | {info.strategy} |",
                flush=True,
            )
            del image, fns


# Linux keeps a process's peak RSS across fork and exec: a child of this (by then large)
# benchmark process would report at least the parent's size. The command runs as the child
# of a small wrapper, whose RUSAGE_CHILDREN is the command's own peak.
_WRAPPER = (
    "import resource, subprocess, sys\n"
    "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    "sys.exit(rc)\n"
)


def _child_rss(cmd: list[str]) -> tuple[float, float]:
    """(peak RSS in MiB, seconds) of one run of ``cmd``."""
    start = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", _WRAPPER, *cmd], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {res.stderr}")
    return int(res.stdout.split()[-1]) / 1024, seconds


def bench_rss(args: argparse.Namespace) -> None:
    from PIL import Image

    print("\n## CLI peak RSS: 3840x2160 RGB PNG, 3x3x3x16 kernel, .npy output\n")
    print("| case | peak RSS MiB | float32 output MiB | RSS / output | goal <= 2x | s |")
    print("|---|---:|---:|---:|---|---:|")
    rng = np.random.default_rng(6)
    with tempfile.TemporaryDirectory() as tmp:
        png, kernel, out = Path(tmp, "in.png"), Path(tmp, "k.npy"), Path(tmp, "out.npy")
        Image.fromarray((_image((2160, 3840, 3)) * 255).clip(0, 255).astype(np.uint8)).save(png)
        np.save(kernel, rng.standard_normal((3, 3, 3, 16)).astype(np.float32))
        cmd = [sys.executable, "-m", "convtool", "filter", str(png), "-k", str(kernel)]
        output_mib = 2160 * 3840 * 16 * 4 / 2**20
        base = [sys.executable, "-c", "import numpy, convtool.cli"]
        idle, _ = _child_rss(base)
        for _ in range(max(1, args.repeats // 3)):
            rss, seconds = _child_rss([*cmd, "-o", str(out)])
            print(
                f"| convtool filter | {rss:.0f} | {output_mib:.0f} | {rss / output_mib:.2f} | "
                f"{'met' if rss <= 2 * output_mib else 'not met'} | {seconds:.1f} |",
                flush=True,
            )
        print(f"\n(an interpreter that only imports convtool.cli peaks at {idle:.0f} MiB)")


def bench_box(args: argparse.Namespace) -> None:
    print("\n## box:5 on 8-bit RGB images (ms)\n")
    print(
        "`correlate` returns float32 (like cv2.boxFilter with a CV_32F result); "
        "`correlate_into` an 8-bit `out` writes rounded means into it (like cv2.blur). "
        "Both 8-bit rows write into an output made before the timing.\n"
    )
    print("| case | median ms | ratios convtool / peer |\n|---|---|---|")
    from convtool.chain.bands import correlate_into

    box = parse_kernel("box:5").weights
    for size, (h, w) in {"1080p": (1080, 1920), "4K": (2160, 3840)}.items():
        image = (_image((h, w, 3), seed=7) * 255).clip(0, 255).astype(np.uint8)
        ours, theirs = np.empty_like(image), np.empty_like(image)
        fns = {
            "convtool": lambda i=image, o=ours: correlate_into(i, box, o),
            "cv2.blur u8": lambda i=image, o=theirs: cv2.blur(
                i, (5, 5), dst=o, borderType=cv2.BORDER_REFLECT
            ),
        }
        row(f"{size} RGB u8 -> u8 box:5 (correlate_into)", interleaved(fns, args.repeats))
        same = np.array_equal(
            correlate_into(image, box, ours), cv2.blur(image, (5, 5), borderType=cv2.BORDER_REFLECT)
        )
        print(f"|   same values as cv2.blur: {same} | | |")
        fns = {
            "convtool": lambda i=image: engine.correlate(i, box),
            "cv2.boxFilter f32 out": lambda i=image: cv2.boxFilter(
                i, cv2.CV_32F, (5, 5), borderType=cv2.BORDER_REFLECT
            ),
        }
        info = engine.RunInfo()
        engine.correlate(image, box, info=info)
        row(f"{size} RGB u8 -> f32 box:5 ({info.strategy})", interleaved(fns, args.repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sections", nargs="*", help=f"any of {', '.join(SECTIONS)} (default: all)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--skimage", action="store_true", help="find5: add 5x skimage (slow)")
    args = parser.parse_args()
    unknown = set(args.sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s) {', '.join(sorted(unknown))}")
    import convtool

    print(f"# issue 18 benchmark: convtool from {Path(convtool.__file__).parent}")
    print(f"- load average at start: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"- opencv {cv2.__version__} ({cv2.getNumThreads()} threads), numpy {np.__version__}")
    for name in args.sections or SECTIONS:
        globals()[f"bench_{name}"](args)


if __name__ == "__main__":
    main()
