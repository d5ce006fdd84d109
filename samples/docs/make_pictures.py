"""Regenerate the README's pictures of the Waldo search, and print its text captures.

    python samples/docs/make_pictures.py

runs ``convtool find samples/waldo-scene.png samples/waldo.png --top 5 --threshold 0.3`` with
``--heatmap`` and ``--annotate``, and writes, next to this script:

* ``waldo-heatmap.png``: the heatmap whole (480x320), in a 256-colour palette to stay small;
* ``waldo-annotated.png``: the part of the annotated scene around Waldo, at full resolution
  (the labels stay readable), in 64 colours.

Then it prints the text captures the README shows: ``convtool kernels gaussian:1 --show`` and
``convtool show samples/waldo.png`` as a terminal without colour draws them (NO_COLOR).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

HERE = Path(__file__).resolve().parent
SAMPLES = HERE.parent
CROP = (220, 100, 480, 320)  # left, top, right, bottom: Waldo (#1) and two other matches


def convtool(*args: str, env: dict[str, str] | None = None) -> str:
    """Run the CLI of this checkout; its stdout."""
    root = str(SAMPLES.parent)
    full_env = {**os.environ, "PYTHONPATH": root, **(env or {})}
    done = subprocess.run(
        [sys.executable, "-m", "convtool", *args],
        capture_output=True, text=True, env=full_env, cwd=root,
    )  # fmt: skip
    if done.returncode not in (0, 1):
        raise SystemExit(done.stderr)
    return done.stdout


def small_png(picture: Image.Image, dest: Path, colours: int) -> None:
    """Save with a palette of `colours` (no dithering: flat colours compress well)."""
    quantized = picture.convert("RGB").quantize(
        colors=colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
    )
    quantized.save(dest, optimize=True)
    print(f"wrote {dest.relative_to(SAMPLES.parent)} ({dest.stat().st_size // 1024} KB)")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        heat, found = Path(tmp) / "heat.png", Path(tmp) / "found.png"
        args = ["samples/waldo-scene.png", "samples/waldo.png", "--top", "5", "--threshold", "0.3"]
        print(convtool("find", *args, "--heatmap", str(heat), "--annotate", str(found)))
        small_png(Image.open(heat), HERE / "waldo-heatmap.png", 256)
        small_png(Image.open(found).crop(CROP), HERE / "waldo-annotated.png", 64)
    plain = {"NO_COLOR": "1", "COLUMNS": "80"}
    print("$ convtool kernels gaussian:1 --show")
    print(convtool("kernels", "gaussian:1", "--show", env=plain))
    print("$ convtool show samples/waldo.png   # NO_COLOR: the grey ramp")
    print(convtool("show", "samples/waldo.png", env=plain))


if __name__ == "__main__":
    main()
