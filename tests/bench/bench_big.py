"""Big images: convtool filter against libvips, wall time and peak RSS per run.

Makes its own files (in ``--dir``, default a new folder under /tmp; removed at the end):
a 15360x8640 RGB 8-bit TIFF, the same image as PNG, and float32 .npy arrays of two sizes.
Runs ``convtool filter`` (a fresh interpreter each time) and ``vips gaussblur`` (skipped with a
note when ``vips`` is missing) and prints a table: median wall time of ``--repeats`` runs,
peak RSS from ``/usr/bin/time -v`` (else ``getrusage(RUSAGE_CHILDREN)`` in a one-child
wrapper), ratios to vips and to the 8-bit image's bytes; .npy rows give RSS above the
interpreter's baseline (``import convtool.cli``).

Run: ``python tests/bench/bench_big.py [--repeats 3] [--size 15360x8640] [--npy 10000,20000]``
Needs about 9 GB of free disk for the defaults.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
CONVTOOL = [sys.executable, "-m", "convtool"]


def make_rgb(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A photo-like test image: smooth gradients and blobs plus mild noise (compresses like a
    photograph, not like noise or a flat field), built a band of rows at a time."""
    rng = np.random.default_rng(seed)
    out = np.empty((height, width, 3), np.uint8)
    x = np.linspace(0, 6 * np.pi, width, dtype=np.float32)
    for y0 in range(0, height, 512):
        y1 = min(height, y0 + 512)
        y = np.linspace(y0, y1 - 1, y1 - y0, dtype=np.float32)[:, None] * (6 * np.pi / height)
        for c in range(3):
            wave = 0.5 + 0.25 * np.sin(x * (c + 1) + y) + 0.2 * np.cos(2 * y - x / (c + 2))
            noise = rng.normal(0, 0.03, (y1 - y0, width)).astype(np.float32)
            out[y0:y1, :, c] = np.clip((wave + noise) * 255, 0, 255).astype(np.uint8)
    return out


def measure(cmd: list[str], *, cwd: Path | None = None) -> tuple[float, float, float]:
    """(wall seconds, peak RSS in MB, CPU seconds: user + system) of one run of ``cmd``."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    # Compiled modules are cached as after an install (not recompiled on every run).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    start = time.perf_counter()
    if Path("/usr/bin/time").exists():
        res = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True,
                             env=env, cwd=cwd)  # fmt: skip
        wall = time.perf_counter() - start
        if res.returncode:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{res.stderr[-2000:]}")
        kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", res.stderr)[1])
        cpu = sum(float(v) for v in re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)",
                                               res.stderr))  # fmt: skip
        return wall, kb / 1024, cpu
    wrapper = (
        "import resource, subprocess, sys\n"
        "rc = subprocess.run(sys.argv[1:]).returncode\n"
        "use = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "print(use.ru_maxrss, use.ru_utime + use.ru_stime)\n"
        "sys.exit(rc)\n"
    )
    res = subprocess.run([sys.executable, "-c", wrapper, *cmd], capture_output=True,
                         text=True, env=env, cwd=cwd)  # fmt: skip
    wall = time.perf_counter() - start
    if res.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{res.stderr[-2000:]}")
    kb, cpu = res.stdout.split()[-2:]
    return wall, int(kb) / 1024, float(cpu)


def median_run(cmd: list[str], repeats: int) -> tuple[float, float, float]:
    runs = [measure(cmd) for _ in range(repeats)]
    return (
        statistics.median(r[0] for r in runs),
        max(r[1] for r in runs),
        statistics.median(r[2] for r in runs),
    )


def row(job, tool, wall, rss, cpu, *, vips=None, image_bytes=None, baseline=None) -> list[str]:
    time_ratio = f"{wall / vips[0]:.2f}x (CPU {cpu / vips[2]:.2f}x)" if vips else "-"
    if image_bytes:
        rss_note = f"{rss * 2**20 / image_bytes:.2f}x image"
    elif baseline is not None:
        rss_note = f"+{rss - baseline:.0f} MB over baseline"
    else:
        rss_note = "-"
    return [job, tool, f"{wall:.2f}", f"{cpu:.2f}", f"{rss:.0f}", time_ratio, rss_note]


def print_table(rows: list[list[str]], notes: list[str]) -> None:
    header = ["job", "tool", "wall s", "CPU s", "peak RSS MB", "time vs vips", "RSS"]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |"
    print(line)
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) + " |")
    for note in notes:
        print(f"- {note}")


def image_jobs(work: Path, args, vips: str | None, rows, notes) -> None:
    width, height = (int(v) for v in args.size.split("x"))
    pw, ph = (int(v) for v in (args.png_size or args.size).split("x"))
    rgb = make_rgb(width, height)
    tif, png = work / "huge.tif", work / "huge.png"
    Image.fromarray(rgb).save(tif)
    png_rgb = rgb if (pw, ph) == (width, height) else rgb[:ph, :pw]
    start = time.perf_counter()
    Image.fromarray(np.ascontiguousarray(png_rgb)).save(png, compress_level=4)
    notes.append(f"PNG {pw}x{ph} written by Pillow in {time.perf_counter() - start:.1f} s")
    del rgb, png_rgb
    for job, src, size in (("TIFF", tif, (width, height)), ("PNG", png, (pw, ph))):
        nbytes = size[0] * size[1] * 3
        label = f"{job} {size[0]}x{size[1]} RGB8, gaussian:2"
        out = work / f"out{src.suffix}"
        vips_res = None
        if vips:
            vips_res = median_run([vips, "gaussblur", str(src), str(out), "2"], args.repeats)
            rows.append(row(label, "vips gaussblur 2", *vips_res, image_bytes=nbytes))
            if job == "TIFF":  # like for like: vips rounds uchar weights unless asked not to
                cmd = [vips, "gaussblur", str(src), str(out), "2", "--precision", "float"]
                res = median_run(cmd, args.repeats)
                rows.append(row(label, "vips ... --precision float", *res, image_bytes=nbytes))
                # The same 13 taps as gaussian:2 (3 sigma); writes a float TIFF, 4x the bytes.
                res = median_run([*cmd, "--min-ampl", "0.01"], args.repeats)
                rows.append(row(label, "vips ... float --min-ampl 0.01", *res, image_bytes=nbytes))
        cmd = [*CONVTOOL, "filter", str(src), "-k", "gaussian:2", "-o", str(out)]
        res = median_run(cmd, args.repeats)
        rows.append(row(label, "convtool filter", *res, vips=vips_res, image_bytes=nbytes))
        out.unlink(missing_ok=True)
        src.unlink()


def accuracy(work: Path, vips: str | None) -> list[list[str]]:
    """Each tool's 8-bit result on a 1920x1080 crop against the exact Gaussian (float64,
    13 taps as ``gaussian:2``, scipy as the oracle), away from the borders: max error in
    8-bit levels and the share of values more than one level off."""
    from scipy import ndimage

    crop = make_rgb(1920, 1080, seed=1)
    src = work / "crop.tif"
    Image.fromarray(crop).save(src)
    planes = [crop[..., c].astype(np.float64) for c in range(3)]
    exact = np.stack([ndimage.gaussian_filter(p, 2, truncate=3, mode="mirror") for p in planes], -1)
    runs = [("convtool filter -k gaussian:2", [*CONVTOOL, "filter", str(src), "-k", "gaussian:2"])]
    if vips:
        runs += [
            ("vips gaussblur 2", [vips, "gaussblur", str(src)]),
            ("vips gaussblur 2 --min-ampl 0.01", [vips, "gaussblur", str(src)]),
        ]
    table = []
    for name, cmd in runs:
        out = work / "acc.tif"
        if cmd[0] == vips:
            extra = ["--min-ampl", "0.01"] if "min-ampl" in name else []
            subprocess.run([*cmd, str(out), "2", *extra], check=True)
        else:
            subprocess.run([*cmd, "-o", str(out)], check=True, env=dict(os.environ,
                           PYTHONPATH=str(ROOT)))  # fmt: skip
        got = np.asarray(Image.open(out)).astype(np.float64)
        err = np.abs(got - exact)[8:-8, 8:-8]
        table.append([name, f"{err.max():.2f}", f"{100 * (err > 1).mean():.2f}%"])
    return table


def npy_jobs(work: Path, args, baseline: float, rows) -> None:
    rng = np.random.default_rng(3)
    np.save(work / "k31.npy", rng.random((31, 31)).astype(np.float32))
    for side in (int(s) for s in args.npy.split(",")):
        src, out = work / f"a{side}.npy", work / f"o{side}.npy"
        arr = np.lib.format.open_memmap(src, mode="w+", dtype=np.float32, shape=(side, side))
        for r0 in range(0, side, 1000):
            arr[r0 : r0 + 1000] = rng.random((min(1000, side - r0), side), dtype=np.float32)
        arr.flush()
        del arr
        cmd = [*CONVTOOL, "filter", str(src), "-k", str(work / "k31.npy"), "-o", str(out)]
        res = median_run(cmd, max(1, args.repeats - 1))
        label = f"npy {side}x{side} float32 ({side * side * 4 / 2**30:.1f} GiB), 31x31 dense"
        rows.append(row(label, "convtool filter", *res, baseline=baseline))
        src.unlink()
        out.unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--size", default="15360x8640", help="of the TIFF (and PNG)")
    parser.add_argument("--png-size", default=None, help="default: --size")
    parser.add_argument("--npy", default="10000,20000", help="sides of the square .npy arrays")
    parser.add_argument("--dir", default=None, help="where to write the test files")
    parser.add_argument("--skip", default="", help="comma list: images,npy,accuracy")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_big_", dir=args.dir))
    vips = shutil.which("vips")
    rows: list[list[str]] = []
    notes = [] if vips else ["vips not installed (Debian: libvips-tools): no vips rows"]
    try:
        _, baseline, _ = median_run([sys.executable, "-c", "import convtool.cli"], 3)
        notes.append(f"interpreter baseline (import convtool.cli): {baseline:.0f} MB peak RSS")
        if "images" not in args.skip:
            image_jobs(work, args, vips, rows, notes)
        if "npy" not in args.skip:
            npy_jobs(work, args, baseline, rows)
        errors = accuracy(work, vips) if "accuracy" not in args.skip else []
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load = os.getloadavg()
    notes.append(f"{os.cpu_count()} CPUs, load average {load[0]:.1f} at the end")
    print_table(rows, notes)
    if errors:
        print("\n8-bit results vs the exact Gaussian (1920x1080 crop, borders left out):\n")
        print("| tool | max error (levels) | values > 1 level off |")
        print("|---|---:|---:|")
        for name, worst, share in errors:
            print(f"| {name} | {worst} | {share} |")


if __name__ == "__main__":
    main()
