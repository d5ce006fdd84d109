"""Peak memory and time of `convtool find` on a large scene, against OpenCV in the same run.

    python tests/bench/bench_find_memory.py [--size 8000] [--template 64] [--formats png,npy]
                                            [--heatmap]

Writes an RGB scene of SIZE x SIZE 8-bit pixels (smooth noise, so that PNG stays small) and a
TEMPLATE x TEMPLATE template cut out of it, then runs, each in a fresh process:
``convtool find SCENE TEMPLATE --json`` (the peak RSS of the whole process, from
``getrusage``) and the same search with OpenCV (``cv2.imread`` + ``cv2.matchTemplate``
``TM_CCOEFF_NORMED`` + ``minMaxLoc``). Prints a Markdown table: peak RSS in MB, its ratio to the
8-bit scene's bytes (issue 30 asks for at most 3x), seconds, and whether the match is where the
template was cut. ``--heatmap`` adds a row with ``--heatmap scores.npy`` (the whole map is then
kept, as float32). OpenCV's row is skipped with a note when it is not installed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]

CV_CHILD = """
import sys, cv2
scene = cv2.imread(sys.argv[1], cv2.IMREAD_COLOR)
templ = cv2.imread(sys.argv[2], cv2.IMREAD_COLOR)
scores = cv2.matchTemplate(scene, templ, cv2.TM_CCOEFF_NORMED)
_, best, _, (x, y) = cv2.minMaxLoc(scores)
print(x, y)
"""


def make_scene(size: int, seed: int = 0) -> np.ndarray:
    """Smooth RGB noise: random 1/16-size noise upsampled, plus a little fine noise."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (size // 16 + 1, size // 16 + 1, 3), dtype=np.uint8)
    coarse = np.asarray(Image.fromarray(small).resize((size, size), Image.BILINEAR))
    fine = rng.integers(0, 24, (size, size, 3), dtype=np.uint8)
    return np.clip(coarse.astype(np.int16) + fine - 12, 0, 255).astype(np.uint8)


def write_inputs(
    folder: Path, size: int, t: int, at: tuple[int, int], formats: list[str], tpl_path: Path
) -> list[tuple[str, Path]]:
    """Write the scene in each format and the template."""
    scene = make_scene(size)
    Image.fromarray(scene[at[1] : at[1] + t, at[0] : at[0] + t]).save(tpl_path)
    paths = []
    for fmt in formats:
        path = folder / f"scene.{fmt}"
        if fmt == "npy":
            np.save(path, scene)
        elif fmt == "png":
            Image.fromarray(scene).save(path, compress_level=1)
        else:
            Image.fromarray(scene).save(path)
        paths.append((fmt, path))
    return paths


def run(args: list[str]) -> tuple[float, float, str]:
    """``(peak RSS in MB, seconds, stdout)`` of one child process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    out = proc.stdout.read().decode()
    err = proc.stderr.read().decode()
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise RuntimeError(f"{args[:4]} failed: {err}")
    return usage.ru_maxrss / 1024, seconds, out  # ru_maxrss is in KB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=8000)
    parser.add_argument("--template", type=int, default=64)
    parser.add_argument("--formats", default="png", help="scene formats: png, npy, tif")
    parser.add_argument("--heatmap", action="store_true", help="also a row with --heatmap .npy")
    parser.add_argument("--write-into", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    size, t = args.size, args.template
    at = (size * 3 // 5, size // 3)  # x, y of the template
    formats = args.formats.split(",")
    if args.write_into:  # the child that writes the inputs (see below)
        write_inputs(Path(args.write_into), size, t, at, formats, Path(args.write_into) / "t.png")
        return
    scene_mb = size * size * 3 / 2**20
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        # A child's peak RSS (getrusage) starts from this process's RSS at the fork, and
        # Pillow keeps the memory it encoded with: the inputs are written by another child.
        subprocess.run(
            [sys.executable, __file__, "--size", str(size), "--template", str(t),
             "--formats", args.formats, "--write-into", tmp],
            check=True,
        )  # fmt: skip
        tpl_path = Path(tmp) / "t.png"
        paths = [(fmt, Path(tmp) / f"scene.{fmt}") for fmt in formats]
        for fmt, path in paths:
            cases = [("convtool find", [])]
            if args.heatmap:
                heat = ["--heatmap", str(Path(tmp) / "h.npy")]
                cases.append(("convtool find --heatmap .npy", heat))
            for name, extra in cases:
                cmd = [sys.executable, "-m", "convtool", "find", str(path), str(tpl_path), "--json"]
                rss, sec, out = run(cmd + extra)
                match = json.loads(out)[0]
                rows.append((fmt, name, rss, sec, (match["x"], match["y"]) == at))
            if fmt == "npy":
                continue  # cv2.imread reads no .npy
            try:
                import cv2  # noqa: F401
            except ImportError:
                print(f"note: OpenCV not installed: no cv2 row for {fmt}")
                continue
            rss, sec, out = run([sys.executable, "-c", CV_CHILD, str(path), str(tpl_path)])
            x, y = (int(v) for v in out.split())
            rows.append((fmt, "cv2.imread + matchTemplate", rss, sec, (x, y) == at))
    print(f"scene {size}x{size} RGB 8-bit = {scene_mb:.0f} MB, template {t}x{t}")
    print("| scene | run | peak RSS MB | x scene | seconds | found |")
    print("|---|---|---:|---:|---:|---|")
    for fmt, name, rss, sec, ok in rows:
        print(f"| {fmt} | {name} | {rss:.0f} | {rss / scene_mb:.2f} | {sec:.1f} | {ok} |")


if __name__ == "__main__":
    main()
