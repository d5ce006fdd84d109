"""Benchmark `convtool.match_template` (zncc) against OpenCV and scikit-image.

    python tests/bench/bench_find.py [--repeats 5] [--skimage-repeats 3] [--no-skimage]
                                     [--sizes 16,64,200] [--quick]

Prints a Markdown table: median milliseconds over repeats, 1920x1080 gray and RGB float32
images with 16, 64 and 200 pixel square templates, and the ratios convtool / OpenCV and
convtool / scikit-image (below 1 = convtool faster). All three run in this process, one after
the other for each case, so background load hits them alike. ``--quick``: the 64x64
template only, 5 repeats, one scikit-image run (~10 s instead of ~50 s).

Between the libraries the benchmark pauses 0.2 s: OpenCV's worker threads keep spinning for
a while after a call, and whichever library runs next would pay for it (measured: convtool
68 -> 84 ms right after a cv2.matchTemplate call).
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np
from skimage.feature import match_template as sk_match_template
from timing import median_ms

from convtool.matching import match_template


def bench(
    repeats: int = 5,
    skimage_repeats: int = 3,
    with_skimage: bool = True,
    sizes: tuple[int, ...] = (16, 64, 200),
) -> list[dict]:
    rng = np.random.default_rng(0)
    rows = []
    for channels in (1, 3):
        shape = (1080, 1920) if channels == 1 else (1080, 1920, 3)
        image = rng.random(shape, dtype=np.float32)
        for size in sizes:
            templ = np.ascontiguousarray(image[300 : 300 + size, 700 : 700 + size])
            ours = median_ms(lambda i=image, t=templ: match_template(i, t), repeats, settle=0.2)
            ocv = median_ms(
                lambda i=image, t=templ: cv2.matchTemplate(i, t, cv2.TM_CCOEFF_NORMED),
                repeats,
                settle=0.2,
            )
            sk = (
                median_ms(
                    lambda i=image, t=templ: sk_match_template(i, t), skimage_repeats, settle=0.2
                )
                if with_skimage
                else float("nan")
            )
            rows.append(
                {
                    "image": f"1920x1080 {'gray' if channels == 1 else 'rgb'}",
                    "template": f"{size}x{size}",
                    "convtool": ours,
                    "cv2": ocv,
                    "skimage": sk,
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skimage-repeats", type=int, default=3)
    parser.add_argument("--no-skimage", action="store_true")
    parser.add_argument("--sizes", default="16,64,200", help="template sizes, e.g. 64,200")
    parser.add_argument("--quick", action="store_true", help="64x64 only, 5 repeats")
    args = parser.parse_args()
    sizes = tuple(int(s) for s in args.sizes.split(","))
    if args.quick:
        args.repeats, args.skimage_repeats, sizes = 5, 1, (64,)
    rows = bench(args.repeats, args.skimage_repeats, not args.no_skimage, sizes)
    print("| image | template | convtool ms | cv2 ms | skimage ms | /cv2 | /skimage |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['image']} | {r['template']} | {r['convtool']:.1f} | {r['cv2']:.1f} | "
            f"{r['skimage']:.0f} | {r['convtool'] / r['cv2']:.2f} | "
            f"{r['convtool'] / r['skimage']:.2f} |"
        )


if __name__ == "__main__":
    main()
