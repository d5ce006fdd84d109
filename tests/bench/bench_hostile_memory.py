"""Peak memory of convtool on hostile sizes (issue 30): `show` of a 217-megapixel TIFF, and
`.npy` -> PNG of a big 8-bit image.

    python tests/bench/bench_hostile_memory.py [--side 14732] [--npy-side 10000]

Each row runs the CLI in its own process and reads that process's peak RSS with ``wait4``:

- show, grey / RGB: a deflate TIFF of ``--side`` x ``--side`` pixels (14732^2 = 217 Mpx; 0.4
  and 1.2 MB on disk, Pillow's writer: one row a strip) drawn 80 characters wide. The bound
  is 500 MB.
- show, RGB written by convtool (:func:`convtool.images.tiff.write_tiff`: strips of 1 MB),
  deflate and uncompressed (651 MB on disk): gradients and a disc, the same size.
- show, truncated: a 2 KB TIFF whose header declares the same size (refused: how fast).
- npy -> png: a ``--npy-side`` square uint8 ``.npy`` written as PNG; the ratio is to the
  8-bit image's bytes (issue 30 measured 3.1x at 30000^2).
"""

from __future__ import annotations

import argparse
import os
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from convtool.images.tiff import write_tiff


def run(args: list[str]) -> tuple[int, float, int]:
    """``(status, seconds, peak RSS bytes)`` of ``python -m convtool ARGS``."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "convtool", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, time.perf_counter() - t0, usage.ru_maxrss * 1024


def truncated_tiff(path: Path, side: int) -> None:
    """A baseline TIFF header declaring side x side grey pixels, with 2 KB of strip data."""
    data = bytes(2000)
    entries = [
        (256, 4, 1, side), (257, 4, 1, side), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1),
        (273, 4, 1, 8), (277, 3, 1, 1), (278, 4, 1, side), (279, 4, 1, len(data)),
    ]  # fmt: skip
    ifd = 8 + len(data)
    body = b"II*\x00" + struct.pack("<I", ifd) + data + struct.pack("<H", len(entries))
    body += b"".join(struct.pack("<HHII", *e) for e in entries) + bytes(4)
    path.write_bytes(body)


def convtool_rgb(side: int) -> np.ndarray:
    """A side x side RGB image: two gradients and a bright disc (an image that compresses like
    a smooth photograph, not like a flat one)."""
    x = np.arange(side, dtype=np.float32)
    rgb = np.empty((side, side, 3), np.uint8)
    for y0 in range(0, side, 1024):
        y = np.arange(y0, min(side, y0 + 1024), dtype=np.float32)[:, None]
        rgb[y0 : y0 + len(y), :, 0] = (x * 255 / side).astype(np.uint8)
        rgb[y0 : y0 + len(y), :, 1] = (y * 255 / side).astype(np.uint8)
        disc = (x - side / 2) ** 2 + (y - side / 2) ** 2 < (side / 3) ** 2
        rgb[y0 : y0 + len(y), :, 2] = np.where(disc, 220, 30)
    return rgb


def make_inputs(root: Path, side: int, npy_side: int) -> None:
    grey = Image.new("L", (side, side), 0)
    ImageDraw.Draw(grey).ellipse((side // 8, side // 8, side // 2, side // 2), fill=200)
    grey.save(root / "grey.tif", compression="tiff_adobe_deflate")
    grey.convert("RGB").save(root / "rgb.tif", compression="tiff_adobe_deflate")
    del grey
    truncated_tiff(root / "truncated.tif", side)
    rgb = convtool_rgb(side)
    for name, level in (("rgb-convtool.tif", 6), ("rgb-raw.tif", 0)):
        with open(root / name, "wb") as fh:
            write_tiff(fh, rgb, level=level)
    del rgb
    pixels = np.random.default_rng(0).integers(0, 256, (npy_side, npy_side), np.uint8)
    np.save(root / "in.npy", pixels)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--side", type=int, default=14732)
    ap.add_argument("--npy-side", type=int, default=10000)
    ap.add_argument("--make", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.make:
        make_inputs(Path(args.make), args.side, args.npy_side)
        return
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        # Made in a child process: a child forked from a big parent starts with its RSS.
        make = [sys.executable, __file__, "--make", folder, "--side", str(args.side)]
        subprocess.run([*make, "--npy-side", str(args.npy_side)], check=True)
        mpx = args.side * args.side / 1e6
        for label, name in (
            ("grey", "grey.tif"),
            ("RGB", "rgb.tif"),
            ("RGB (convtool, deflate)", "rgb-convtool.tif"),
            ("RGB (convtool, uncompressed)", "rgb-raw.tif"),
            ("truncated", "truncated.tif"),
        ):
            path = root / name
            status, seconds, rss = run(["show", str(path), "--width", "80"])
            size = path.stat().st_size
            size = f"{size / 1e6:.0f} MB" if size >= 10**7 else f"{size / 1e3:.0f} kB"
            rows.append((f"show {label} TIFF {mpx:.0f} Mpx ({size})",
                         status, seconds, rss, None))  # fmt: skip
        n = args.npy_side
        status, seconds, rss = run(["filter", str(root / "in.npy"), "-k", "identity",
                                    "-o", str(root / "out.png")])  # fmt: skip
        rows.append((f"npy -> png {n}x{n} uint8", status, seconds, rss, rss / (n * n)))
    print("| case | status | seconds | peak RSS MB | RSS / 8-bit image |")
    print("|---|---:|---:|---:|---:|")
    for label, status, seconds, rss, ratio in rows:
        extra = f"{ratio:.2f}x" if ratio is not None else ""
        print(f"| {label} | {status} | {seconds:.1f} | {rss / 1e6:.0f} | {extra} |")


if __name__ == "__main__":
    main()
