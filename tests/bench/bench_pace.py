"""Benchmark the speed rows of issue 17 with each peer in the same run, interleaved.

    python tests/bench/bench_pace.py [--repeat N] [--rows dense,gauss,zncc,u8,startup]

Rows (ratios convtool / peer, below 1 = convtool faster; medians of ``--repeat`` turns in
which convtool and its peer alternate, so that background load hits both alike):

- float32 1080p RGB dense k=3 and k=9 vs ``cv2.filter2D`` (reflect border);
- float32 1080p RGB ``gaussian:2`` vs ``cv2.GaussianBlur((13, 13), 2)``;
- zncc 64x64 template on 1080p grey vs ``cv2.matchTemplate(TM_CCOEFF_NORMED)``;
- 8-bit 4K RGB, the CLI's path without file I/O (uint8 decoded array -> float32 -> filter ->
  8-bit array): ``gaussian:2`` vs ``cv2.GaussianBlur(uint8)`` and vs ``cv2.filter2D(uint8)``
  with the same dense 13x13 kernel, and dense k=3 / k=5 vs ``cv2.filter2D(uint8)``;
- start-up: ``convtool params --input 6x6 --kernel 3`` vs ``python -c "import numpy"``
  (whole processes).

Run it once with ``PYTHONPATH`` at a pristine checkout of main and once at the work tree to
get before and after. This file is a script: pytest does not collect it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import cv2
import numpy as np

from convtool import engine
from convtool.chain.memory import FilterOptions, apply_chain
from convtool.images.encode import to_output_array
from convtool.kernels import Kernel, parse_kernel
from convtool.matching import match_template

try:  # the banded runner (big-images issue), once merged: the CLI's 8-bit path then
    from convtool.chain.bands import filter_bands
except ImportError:
    filter_bands = None

HD, UHD = (1080, 1920), (2160, 3840)


def interleaved(fns: list[Callable[[], object]], repeats: int) -> list[float]:
    """Median ms of each function, the functions taking turns within each repeat."""
    for fn in fns:
        fn()  # warm-up: thread pools, scratch arrays, page faults
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            times[i].append(time.perf_counter() - start)
    return [1000 * statistics.median(t) for t in times]


def u8_path(u8: np.ndarray, steps: list[Kernel]) -> np.ndarray:
    """The CLI's filter path without file I/O: decoded uint8 array -> 8-bit output array."""
    opts = FilterOptions()
    if filter_bands is not None:
        out = np.empty(u8.shape, np.uint8)
        return filter_bands(u8, steps, opts, out=out, input_scale=1 / 255)
    image = np.divide(u8, np.float32(255), dtype=np.float32)  # as images.decode does
    return to_output_array(apply_chain(image, steps, opts), depth="8", mapping="clip")


def dense(k: int, seed: int) -> np.ndarray:
    """A dense k x k kernel of positive weights summing to 1 (an 8-bit image stays in range)."""
    w = np.random.default_rng(seed).random((k, k)).astype(np.float32) + 0.1
    return w / w.sum()


def rows_dense(repeats: int) -> list[tuple[str, float, float]]:
    img = np.random.default_rng(0).random((*HD, 3), dtype=np.float32)
    rows = []
    for k in (3, 9):
        kern = dense(k, k)
        ours, peer = interleaved(
            [
                lambda kern=kern: engine.correlate(img, kern),
                lambda kern=kern: cv2.filter2D(img, -1, kern, borderType=cv2.BORDER_REFLECT),
            ],
            repeats,
        )
        rows.append((f"f32 1080p RGB dense k={k} vs cv2.filter2D", ours, peer))
    return rows


def rows_gauss(repeats: int) -> list[tuple[str, float, float]]:
    img = np.random.default_rng(1).random((*HD, 3), dtype=np.float32)
    g = parse_kernel("gaussian:2")
    opts = FilterOptions()
    ours, peer = interleaved(
        [
            lambda: apply_chain(img, [g], opts),
            lambda: cv2.GaussianBlur(img, (13, 13), 2, borderType=cv2.BORDER_REFLECT),
        ],
        repeats,
    )
    return [("f32 1080p RGB gaussian:2 vs cv2.GaussianBlur", ours, peer)]


def rows_zncc(repeats: int) -> list[tuple[str, float, float]]:
    rng = np.random.default_rng(2)
    img = rng.random(HD, dtype=np.float32)
    templ = img[400:464, 900:964].copy()
    ours, peer = interleaved(
        [
            lambda: match_template(img, templ),
            lambda: cv2.matchTemplate(img, templ, cv2.TM_CCOEFF_NORMED),
        ],
        repeats,
    )
    return [("zncc 64x64 on 1080p grey vs cv2.matchTemplate", ours, peer)]


def rows_u8(repeats: int) -> list[tuple[str, float, float]]:
    rng = np.random.default_rng(3)
    # A photo-like 8-bit image: smooth shapes plus noise (values use the whole range).
    base = cv2.resize(rng.random((54, 96, 3), dtype=np.float32), UHD[::-1])
    u8 = np.clip(base * 255 + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
    g = parse_kernel("gaussian:2")
    g13 = np.asarray(g.weights, np.float32)
    rows = []
    ours, blur, f2d = interleaved(
        [
            lambda: u8_path(u8, [g]),
            lambda: cv2.GaussianBlur(u8, (13, 13), 2, borderType=cv2.BORDER_REFLECT),
            lambda: cv2.filter2D(u8, -1, g13, borderType=cv2.BORDER_REFLECT),
        ],
        repeats,
    )
    rows.append(("u8 4K RGB gaussian:2 vs cv2.GaussianBlur(u8)", ours, blur))
    rows.append(("u8 4K RGB gaussian:2 vs cv2.filter2D(u8) 13x13", ours, f2d))
    for k in (3, 5):
        kern = dense(k, 10 + k)
        step = Kernel(f"dense{k}", kern.astype(np.float64))
        ours, peer = interleaved(
            [
                lambda step=step: u8_path(u8, [step]),
                lambda kern=kern: cv2.filter2D(u8, -1, kern, borderType=cv2.BORDER_REFLECT),
            ],
            repeats,
        )
        rows.append((f"u8 4K RGB dense k={k} vs cv2.filter2D(u8)", ours, peer))
    return rows


def rows_startup(repeats: int) -> list[tuple[str, float, float]]:
    env = dict(os.environ)
    ours = [sys.executable, "-m", "convtool", "params", "--input", "6x6", "--kernel", "3"]
    peer = [sys.executable, "-c", "import numpy"]

    def run(cmd: list[str]) -> Callable[[], object]:
        return lambda: subprocess.run(cmd, env=env, check=True, capture_output=True)

    a, b = interleaved([run(ours), run(peer)], repeats)
    return [("start-up: convtool params vs python -c 'import numpy'", a, b)]


ROWS = {
    "dense": rows_dense,
    "gauss": rows_gauss,
    "zncc": rows_zncc,
    "u8": rows_u8,
    "startup": rows_startup,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="turns per row (median)")
    parser.add_argument("--rows", default=",".join(ROWS), help="comma-separated row groups")
    args = parser.parse_args()
    import convtool

    print(f"convtool from {os.path.dirname(convtool.__file__)}, repeats {args.repeat}")
    print(f"8-bit path: {'bands.filter_bands' if filter_bands else 'apply_chain'}\n")
    print("| case | convtool ms | peer ms | ratio |")
    print("|---|---:|---:|---:|")
    for name in args.rows.split(","):
        for label, ours, peer in ROWS[name](args.repeat):
            print(f"| {label} | {ours:.1f} | {peer:.1f} | {ours / peer:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
