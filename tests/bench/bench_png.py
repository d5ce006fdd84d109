"""Benchmark PNG writing: convtool's writer against Pillow and libvips, alone and in the whole CLI.

    python tests/bench/bench_png.py [--repeats 3] [--size 3840x2160]

Makes a photo-like RGB image (smooth shading, blurred grain and fine noise; seeded), then prints
two Markdown tables of median wall milliseconds and output bytes:

1. Encoding the 8-bit image that ``filter -k gaussian:2`` produces: ``encode_png`` at several
   zlib levels (4 is the default), Pillow's ``save`` at level 4 (convtool's former writer) and
   6 (Pillow's default), ``cv2.imencode`` and ``vips copy in.png out.png`` (a subprocess that
   also decodes; /usr/bin/vips) on the same pixels; then a screenshot-like image (text and flat
   boxes) and 16-bit RGB against OpenCV. The size ratio is against vips copy's file.
2. The whole command: ``python -m convtool filter in.png -k gaussian:2 -o out.png`` against
   ``vips gaussblur in.png out.png 2`` (both subprocesses: start-up, decode, blur, encode),
   run alternately so that changes of background load hit both alike.

Every output is decoded again and checked against the pixels it should hold. Timings on a
shared machine are noisy: compare rows of one run, not across runs.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw
from timing import median_ms

from convtool.chain.memory import FilterOptions, apply_chain
from convtool.images import DEFAULT_PNG_LEVEL, decode_image
from convtool.images.png import encode_png
from convtool.kernels import parse_kernel

VIPS = shutil.which("vips") or "/usr/bin/vips"
ROOT = Path(__file__).resolve().parents[2]


def photo_like(h: int, w: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    shade = np.stack([128 + 100 * np.sin(x / 200 + c) * np.cos(y / 150 - c) for c in range(3)], -1)
    grain = cv2.GaussianBlur(rng.normal(0, 40, (h, w, 3)).astype(np.float32), (0, 0), 3)
    return np.clip(shade + grain + rng.normal(0, 3, (h, w, 3)), 0, 255).astype(np.uint8)


def screenshot(h: int, w: int) -> np.ndarray:
    """Text lines and flat boxes on a light background, like a screenshot."""
    img = Image.new("RGB", (w, h), (240, 240, 240))
    draw = ImageDraw.Draw(img)
    line = "convtool filter photo.png -k gaussian:2 -o out.png  " * (w // 300 + 1)
    for i in range(h // 13):
        draw.text((10, 13 * i), f"{i:4d} {line}", fill=(20, 20, 20))
    draw.rectangle((w // 6, h // 20, w // 4, h // 5), fill=(30, 120, 200))
    return np.asarray(img)


def gaussian2(rgb: np.ndarray) -> np.ndarray:
    return apply_chain(rgb / np.float32(255), [parse_kernel("gaussian:2")], FilterOptions())


def pil_png(arr: np.ndarray, level: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG", compress_level=level)
    return buf.getvalue()


def timed(fn, repeats: int) -> tuple[float, object]:
    out: list = []
    ms = median_ms(lambda: out.append(fn()), repeats)
    return ms, out[-1]


def run_cmd(args: list[str]) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    # Compiled modules are cached as after an install (pip compiles them), not recompiled on
    # every run as with PYTHONDONTWRITEBYTECODE set (~40 ms of convtool's start-up).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run(args, check=True, env=env, stdout=subprocess.DEVNULL)


def encode_rows(rgb: np.ndarray, work: Path, repeats: int) -> list[tuple[str, float, int]]:
    """Table 1: encoders on the blurred image (8-bit) and on a 16-bit RGB image."""
    rows = []
    blurred = np.rint(np.clip(gaussian2(rgb), 0, 1) * 255).astype(np.uint8)
    for level in sorted({1, 2, DEFAULT_PNG_LEVEL, 6}):
        ms, data = timed(lambda lv=level: encode_png(blurred, level=lv), repeats)
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(data))), blurred)
        default = " (default)" if level == DEFAULT_PNG_LEVEL else ""
        rows.append((f"convtool encode_png level {level}{default}", ms, len(data)))
    for level in (4, 6):
        ms, data = timed(lambda lv=level: pil_png(blurred, lv), repeats)
        rows.append((f"Pillow save compress_level {level}", ms, len(data)))
    ms, data = timed(lambda: cv2.imencode(".png", blurred[..., ::-1])[1].tobytes(), repeats)
    rows.append(("cv2.imencode (level 1 default)", ms, len(data)))
    src, dst = work / "blurred.png", work / "vips-copy.png"
    src.write_bytes(pil_png(blurred, 1))
    ms = median_ms(lambda: run_cmd([VIPS, "copy", str(src), str(dst)]), repeats)
    assert np.array_equal(np.asarray(Image.open(dst)), blurred)
    rows.append(("vips copy in.png out.png (+ decode, process)", ms, dst.stat().st_size))
    shot = screenshot(*blurred.shape[:2])
    for level in sorted({2, DEFAULT_PNG_LEVEL, 6}):
        ms, data = timed(lambda lv=level: encode_png(shot, level=lv), repeats)
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(data))), shot)
        rows.append((f"text/graphics: convtool encode_png level {level}", ms, len(data)))
    ms, data = timed(lambda: pil_png(shot, 4), repeats)
    rows.append(("text/graphics: Pillow save compress_level 4", ms, len(data)))
    deep = np.rint(np.clip(gaussian2(rgb), 0, 1) * 65535).astype(np.uint16)  # a 16-bit result
    ms, data = timed(lambda: encode_png(deep), repeats)
    got = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)[..., ::-1]
    assert np.array_equal(got, deep)
    rows.append((f"16-bit RGB: convtool encode_png level {DEFAULT_PNG_LEVEL}", ms, len(data)))
    ms, data = timed(lambda: cv2.imencode(".png", deep[..., ::-1])[1].tobytes(), repeats)
    rows.append(("16-bit RGB: cv2.imencode", ms, len(data)))
    return rows


def cli_rows(rgb: np.ndarray, work: Path, repeats: int) -> list[tuple[str, float, int]]:
    """Table 2: the whole command against vips gaussblur."""
    src = work / "in.png"
    src.write_bytes(pil_png(rgb, 1))
    ours, theirs = work / "convtool.png", work / "vips.png"
    cmd = [sys.executable, "-m", "convtool", "filter", str(src), "-k", "gaussian:2", "-o"]
    vips_cmd = [VIPS, "gaussblur", str(src), str(theirs), "2"]
    jobs = {
        "convtool filter -k gaussian:2 -o out.png": ([*cmd, str(ours)], ours),
        "vips gaussblur in.png out.png 2": (vips_cmd, theirs),
    }
    times: dict[str, list[float]] = {name: [] for name in jobs}
    for i in range(repeats + 1):  # alternate the two, so that load changes hit both alike
        for name, (args, _) in jobs.items():
            start = time.perf_counter()
            run_cmd(args)
            if i:  # the first round warms the page cache
                times[name].append(1000 * (time.perf_counter() - start))
    rows = [(n, statistics.median(times[n]), out.stat().st_size) for n, (_, out) in jobs.items()]
    got, _ = decode_image(ours.read_bytes())
    assert np.abs(got - np.clip(gaussian2(rgb), 0, 1)).max() <= 0.5 / 255 + 1e-6
    return rows


def print_table(title: str, rows: list[tuple[str, float, int]], ref: int) -> None:
    print(f"\n{title}\n")
    print("| writer | ms (median) | bytes | size / vips |")
    print("|---|---:|---:|---:|")
    for name, ms, size in rows:
        print(f"| {name} | {ms:.0f} | {size:,} | {size / ref:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--size", default="3840x2160", help="WIDTHxHEIGHT")
    args = parser.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    rgb = photo_like(h, w)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        enc = encode_rows(rgb, work, args.repeats)
        vips_copy = next(size for name, _, size in enc if name.startswith("vips"))
        print_table(f"Encoding {w}x{h} RGB (the gaussian:2 result)", enc, vips_copy)
        whole = cli_rows(rgb, work, args.repeats)
        print_table(f"Whole command, {w}x{h} RGB PNG, gaussian:2", whole, whole[-1][2])


if __name__ == "__main__":
    main()
