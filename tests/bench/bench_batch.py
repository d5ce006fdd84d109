"""Benchmark many files in one run: `convtool filter DIR --jobs N` against a shell loop of
single-file runs and against ImageMagick's `mogrify -blur 0x2`.

    python tests/bench/bench_batch.py [--files 200] [--loop-files 200] [--jobs N] [--keep DIR]

Makes ``--files`` photo-like 640x480 RGB PNGs itself (8 scenes of gradients and soft shapes,
each file shifted, exposed and grained anew), then times, one after the other on the same
files, each writing its own output directory:

- ``convtool filter DIR -k gaussian:2 -o OUT --jobs N`` (N = the CPU count by default), one run;
- a shell loop ``for f in DIR/*.png; do convtool filter "$f" -k gaussian:2 -o OUT/...; done``
  over ``--loop-files`` of them (all by default), scaled to the full count when fewer;
- ``mogrify -path OUT -blur 0x2 DIR/*.png`` (ImageMagick, its own OpenMP threads), skipped with a
  note when ``mogrify`` is not installed.

Prints a Markdown table: wall seconds, files per second, and how many times slower than the
one-run convtool each is. One run each (a run is seconds to minutes long); the machine's load
average is printed with it. ``convtool`` is run as ``python -m convtool`` from this source tree.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]


def scene(rng: np.random.Generator, h: int = 480, w: int = 640) -> np.ndarray:
    """A photo-like scene: a lit gradient, soft discs and boxes; float RGB in about [0, 1]."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = rng.random(3, dtype=np.float32)
    tilt = rng.normal(0, 0.4, (2, 3)).astype(np.float32)
    img = base + (y[..., None] / h) * tilt[0] + (x[..., None] / w) * tilt[1]
    for _ in range(12):
        cy, cx = rng.random(2) * (h, w)
        r = rng.uniform(15, 120)
        soft = np.clip((r - np.hypot(y - cy, x - cx)) / 6.0, 0, 1)[..., None]
        img = img * (1 - soft) + soft * rng.random(3, dtype=np.float32)
    for _ in range(6):
        y0, x0 = (rng.random(2) * (h, w)).astype(int)
        img[y0 : y0 + rng.integers(10, 90), x0 : x0 + rng.integers(10, 140)] = rng.random(3)
    return img


def make_photos(directory: Path, count: int) -> list[Path]:
    """``count`` PNGs: 8 scenes, each shot shifted, exposed differently, with its own grain."""
    rng = np.random.default_rng(12)
    scenes = [scene(rng) for _ in range(min(8, count))]
    paths = []
    for i in range(count):
        shot = np.roll(scenes[i % len(scenes)], rng.integers(-200, 200, 2), axis=(0, 1))
        shot = shot * rng.uniform(0.8, 1.2, 3).astype(np.float32)
        shot += rng.normal(0, 0.02, shot.shape).astype(np.float32)  # sensor grain
        path = directory / f"photo{i:03d}.png"
        pixels = np.clip(np.rint(shot * 255), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(path, compress_level=1)  # fast to make; size is no matter
        paths.append(path)
    return paths


def timed(cmd: list[str] | str, *, shell: bool = False) -> float:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    start = time.perf_counter()
    subprocess.run(cmd, shell=shell, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200, help="photos to make (default 200)")
    parser.add_argument(
        "--loop-files", type=int, default=None, help="files the shell loop runs (default: all)"
    )
    parser.add_argument("--jobs", type=int, default=None, help="--jobs for convtool (CPUs)")
    parser.add_argument("--keep", type=Path, default=None, help="work in DIR and keep it")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    jobs = args.jobs or cores
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench_batch."))
    src = work / "photos"
    src.mkdir(parents=True, exist_ok=True)
    print(f"making {args.files} photos of 640x480 in {src} ...", file=sys.stderr)
    paths = make_photos(src, args.files)
    convtool = [sys.executable, "-m", "convtool"]
    rows = []

    out = work / "out-batch"
    t = timed([*convtool, "filter", str(src), "-k", "gaussian:2", "-o", str(out),
               "--jobs", str(jobs), "--no-progress", "--quiet"])  # fmt: skip
    assert len(list(out.iterdir())) == len(paths)
    rows.append((f"convtool filter DIR --jobs {jobs} (one run)", t, len(paths)))

    loop_n = min(args.loop_files or len(paths), len(paths))
    out = work / "out-loop"
    out.mkdir(exist_ok=True)
    exe = " ".join(f"'{c}'" for c in convtool)
    files = " ".join(f"'{p}'" for p in paths[:loop_n])
    loop = f'for f in {files}; do {exe} filter "$f" -k gaussian:2 -o "{out}/$(basename "$f")"; done'
    t = timed(loop, shell=True)
    label = "shell loop of `convtool filter FILE` runs"
    if loop_n < len(paths):
        label += f" ({loop_n} files, scaled)"
    rows.append((label, t * len(paths) / loop_n, len(paths)))

    if shutil.which("mogrify"):
        out = work / "out-mogrify"
        out.mkdir(exist_ok=True)
        t = timed(["mogrify", "-path", str(out), "-blur", "0x2", *map(str, paths)])
        rows.append(("ImageMagick `mogrify -blur 0x2` (one run)", t, len(paths)))
    else:
        rows.append(("ImageMagick `mogrify`: not installed, skipped", float("nan"), 0))

    base = rows[0][1]
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"\n{len(paths)} RGB PNGs of 640x480, gaussian sigma 2; {cores} CPUs; load {load}\n")
    print("| run | seconds | files/s | vs convtool one run |")
    print("|---|---:|---:|---:|")
    for label, seconds, n in rows:
        if n == 0:
            print(f"| {label} | - | - | - |")
            continue
        print(f"| {label} | {seconds:.2f} | {n / seconds:.1f} | {seconds / base:.2f}x |")
    if args.keep is None:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
