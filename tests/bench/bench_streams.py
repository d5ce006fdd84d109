"""Video frames through a pipe: convtool filter against ffmpeg's own filters, same run.

``ffmpeg -f lavfi -i testsrc2`` makes N frames of 1920x1080 RGB as rawvideo, piped through
``convtool filter - --raw 1920x1080x3 -k KERNEL -o -`` into ``ffmpeg -f rawvideo ... -f null -``
(the whole pipeline is timed: frames per second of the three processes together). Against:
ffmpeg alone with ``-vf convolution`` (the 5x5 binomial kernel /256 on every plane) and
``-vf gblur=sigma=2`` (an IIR approximation of a gaussian), and testsrc2 alone (what generating
the frames costs). Peak RSS and CPU seconds of convtool (``/usr/bin/time -v``, else the
resource module around it) and of the ffmpeg filter runs; CPU per frame is the steadier figure
on a shared machine (wall time follows the load). Accuracy beside the time: max and
mean absolute difference (8-bit levels) against an exact float64 reference on a few frames,
away from the border (the tools pad edges differently). The machine's load average is printed
before and after: the machine may be shared.

Skips with a note when ffmpeg is missing (CI never needs it: ``apt-get install ffmpeg``).
Run: ``python tests/bench/bench_streams.py [--frames 300] [--size 1920x1080]``
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

BINOMIAL = np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1])  # /256


def _shell(cmd: str, time_file: Path | None = None) -> float:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    start = time.perf_counter()
    res = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, env=env)
    wall = time.perf_counter() - start
    if res.returncode:
        raise RuntimeError(f"{cmd} failed:\n{res.stderr.decode()[-2000:]}")
    return wall


def _timed(cmd: str, out: Path) -> str:
    """``cmd`` run under /usr/bin/time -v (report into ``out``), or under a resource wrapper."""
    if Path("/usr/bin/time").exists():
        return f"/usr/bin/time -v -o {out} {cmd}"
    wrapper = (
        "import resource,subprocess,sys;rc=subprocess.run(sys.argv[1:]).returncode;"
        "u=resource.getrusage(resource.RUSAGE_CHILDREN);"
        f"open({str(out)!r},'w').write(f'Maximum resident set size (kbytes): {{u.ru_maxrss}}\\n"
        "User time (seconds): {u.ru_utime}\\nSystem time (seconds): {u.ru_stime}\\n');"
        "sys.exit(rc)"
    )
    return f'{sys.executable} -c "{wrapper}" {cmd}'


def _usage(path: Path) -> tuple[float, float]:
    """(peak RSS in MB, CPU seconds) from a /usr/bin/time -v report."""
    text = path.read_text()
    kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)[1])
    cpu = sum(float(v) for v in re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)", text))
    return kb / 1024, cpu


def _source(size: str, frames: int, pix_fmt: str = "rgb24") -> str:
    return (f"ffmpeg -v error -f lavfi -i testsrc2=size={size}:rate=30 -frames:v {frames} "
            f"-f rawvideo -pix_fmt {pix_fmt} -")  # fmt: skip


def _convolution() -> str:
    matrix = " ".join(str(v) for v in BINOMIAL.ravel())
    planes = ":".join(f"{p}m='{matrix}':{p}rdiv=1/256" for p in range(4))
    return f"convolution={planes}"


def _gaussian_weights(sigma: float, radius: int) -> np.ndarray:
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    g = np.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def _exact(frame: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """float64 correlation (reflected borders), as 8-bit levels before rounding."""
    from scipy import ndimage

    out = np.empty(frame.shape, np.float64)
    for c in range(frame.shape[2]):
        out[:, :, c] = ndimage.correlate(frame[:, :, c].astype(np.float64), kernel, mode="reflect")
    return out


def _diff(got: np.ndarray, want: np.ndarray, margin: int) -> tuple[float, float]:
    inner = (slice(margin, -margin), slice(margin, -margin))
    d = np.abs(got[inner].astype(np.float64) - want[inner])
    return float(d.max()), float(d.mean())


def accuracy(size: str, tmp: Path, count: int = 3) -> dict[str, tuple[float, float]]:
    """Max/mean |difference| from the exact float64 results on ``count`` frames."""
    from convtool.kernels import parse_kernel

    w, h = (int(v) for v in size.split("x"))
    raw = subprocess.run(["bash", "-c", _source(size, count)], capture_output=True).stdout
    frames = np.frombuffer(raw, np.uint8).reshape(count, h, w, 3)
    (tmp / "frames.raw").write_bytes(raw)
    kernel_file = tmp / "binomial5.txt"
    kernel_file.write_text("\n".join(" ".join(str(v) for v in row) for row in BINOMIAL) + "\n")
    gauss = parse_kernel("gaussian:2").weights.astype(np.float64)
    results: dict[str, tuple[float, float]] = {}
    runs = {
        "convtool gaussian:2": (["-k", "gaussian:2"], gauss),
        "convtool 5x5 binomial": (["-k", str(kernel_file), "--normalize"], BINOMIAL / 256),
    }
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for name, (args, kernel) in runs.items():
        out = subprocess.run(
            [sys.executable, "-m", "convtool", "filter", "-", "--raw", f"{size}x3", *args, "-o",
             "-"], input=raw, capture_output=True, env=env, check=True,
        ).stdout  # fmt: skip
        got = np.frombuffer(out, np.uint8).reshape(frames.shape)
        diffs = [_diff(g, _exact(f, kernel), 8) for g, f in zip(got, frames, strict=True)]
        results[name] = (max(d[0] for d in diffs), float(np.mean([d[1] for d in diffs])))
    exact_gblur = np.outer(_gaussian_weights(2.0, 12), _gaussian_weights(2.0, 12))
    for name, vf, kernel in (
        ("ffmpeg convolution 5x5", _convolution(), BINOMIAL / 256),
        ("ffmpeg gblur sigma=2", "gblur=sigma=2", exact_gblur),
    ):
        # the very frames convtool read (rgb24 -> gbrp is a permutation of the bytes)
        cmd = (f"ffmpeg -v error -f rawvideo -pix_fmt rgb24 -s {size} -i {tmp / 'frames.raw'} "
               f"-vf format=gbrp,{vf},format=rgb24 -f rawvideo -pix_fmt rgb24 -")  # fmt: skip
        out = subprocess.run(["bash", "-c", cmd], capture_output=True, check=True).stdout
        got = np.frombuffer(out, np.uint8).reshape(frames.shape)
        diffs = [_diff(g, _exact(f, kernel), 16) for g, f in zip(got, frames, strict=True)]
        results[name] = (max(d[0] for d in diffs), float(np.mean([d[1] for d in diffs])))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--size", default="1920x1080")
    args = parser.parse_args()
    if shutil.which("ffmpeg") is None:
        print("note: ffmpeg is not installed: benchmark skipped (apt-get install ffmpeg)")
        return
    n, size = args.frames, args.size
    w, h = size.split("x")
    load_before = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-streams-") as tmpdir:
        tmp = Path(tmpdir)
        kernel_file = tmp / "binomial5.txt"
        kernel_file.write_text("\n".join(" ".join(str(v) for v in r) for r in BINOMIAL) + "\n")
        sink = f"ffmpeg -v error -f rawvideo -pix_fmt rgb24 -s {size} -i - -f null -"
        wall = _shell(f"{_source(size, n)} > /dev/null")
        rows.append(("testsrc2 alone (rgb24 to a pipe)", wall, None, None))
        for label, kernel in (("gaussian:2", "-k gaussian:2"),
                              ("5x5 binomial", f"-k {kernel_file} --normalize")):  # fmt: skip
            report = tmp / f"time-{len(rows)}.txt"
            convtool = _timed(
                f"{sys.executable} -m convtool filter - --raw {w}x{h}x3 {kernel} -o -", report
            )
            wall = _shell(f"{_source(size, n)} | {convtool} | {sink}")
            rows.append((f"convtool {label} (pipeline)", wall, *_usage(report)))
        for label, vf in (("convolution 5x5 binomial", _convolution()),
                          ("gblur sigma=2", "gblur=sigma=2")):  # fmt: skip
            report = tmp / f"time-{len(rows)}.txt"
            cmd = (f"ffmpeg -v error -f lavfi -i testsrc2=size={size}:rate=30 -frames:v {n} "
                   f"-vf format=gbrp,{vf} -f null -")  # fmt: skip
            wall = _shell(_timed(cmd, report))
            rows.append((f"ffmpeg {label}", wall, *_usage(report)))
        acc = accuracy(size, tmp)
    load_after = os.getloadavg()
    print(
        f"{n} frames {size} RGB, {os.cpu_count()} CPUs; load average before "
        f"{load_before[0]:.2f}/{load_before[1]:.2f}/{load_before[2]:.2f}, after "
        f"{load_after[0]:.2f}/{load_after[1]:.2f}/{load_after[2]:.2f}"
    )
    conv_fps = n / next(r[1] for r in rows if r[0].startswith("ffmpeg convolution"))
    print()
    print(
        "| run | wall s | frames/s | vs ffmpeg convolution | peak RSS MB | CPU s | CPU ms/frame |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, wall, rss, cpu in rows:
        fps = n / wall
        rss_text = f"{rss:.0f}" if rss is not None else "-"
        cpu_text = f"{cpu:.1f} | {1000 * cpu / n:.0f}" if cpu is not None else "- | -"
        print(f"| {name} | {wall:.2f} | {fps:.1f} | {fps / conv_fps:.2f}x | {rss_text} | "
              f"{cpu_text} |")  # fmt: skip
    print()
    print("| accuracy (3 frames, border excluded) | max abs diff | mean abs diff |")
    print("|---|---:|---:|")
    for name, (worst, mean) in acc.items():
        print(f"| {name} vs exact float64 | {worst:.2f} | {mean:.3f} |")


if __name__ == "__main__":
    main()
