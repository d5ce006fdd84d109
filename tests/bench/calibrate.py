"""Check and refit the cost model that ``auto`` uses to pick a strategy.

Usage::

    python tests/bench/calibrate.py [--quick] [--repeat N] [--fit]

Times every fast strategy on a grid of image sizes, channel counts and kernels, prints the
measured time next to ``engine.estimate_costs``, and for each case how much slower the
strategy ``auto`` picks is than the fastest one (the regret). ``--fit`` refits the linear
constants of the ``fft``, ``gemm`` (shared 2-D kernels) and ``strips`` estimates by least
squares: each estimate is linear in its constants, so setting one constant to 1 and the others
to 0 reads that constant's feature off ``estimate_costs`` itself.

Run on a quiet machine; like ``bench.py`` this is not a test.
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np
from timing import median_ms

from convtool import engine

# Constants of each estimate fitted by --fit (the fixed per-call cost is fitted too).
# Constants of each estimate fitted by --fit (the fixed per-call cost is fitted too). For
# strips and separable only kernels shared by all channels are sampled: the others use other
# constants.
FIT = {
    "fft": ["_NS_FFT", "_NS_CMUL", "_NS_FFT_BASE"],
    "gemm": ["_NS_FLOP_IM2ROW", "_NS_COPY_IM2ROW", "_NS_FLOP_MIX", "_NS_COPY_MIX"],
    "strips": ["_NS_TAP", "_NS_STRIP_BASE"],
    "separable": ["_NS_FLOP_SEP", "_NS_SEP_BASE", "_NS_SEP_RANK"],
}


def cases(quick: bool) -> list[tuple[str, tuple[int, ...], np.ndarray]]:
    rng = np.random.default_rng(5)
    sizes = [(64, 64), (200, 300), (480, 640), (720, 1280), (1080, 1920)]
    if quick:
        sizes = sizes[1::2]
    out = []
    for h, w in sizes:
        for c in (1, 3):
            shape = (h, w) if c == 1 else (h, w, c)
            for k in (3, 7, 15, 25, 41):
                out.append((f"{w}x{h}x{c} dense {k}", shape, rng.standard_normal((k, k))))
            if c == 3:
                out.append((f"{w}x{h}x3 mix 5x5x3x3", shape, rng.standard_normal((5, 5, 3, 3))))
                out.append((f"{w}x{h}x3 conv 3x3x3x16", shape, rng.standard_normal((3, 3, 3, 16))))
                out.append((f"{w}x{h}x3 per-channel 3", shape, rng.standard_normal((3, 3, 3))))
                out.append((f"{w}x{h}x3 per-channel 9", shape, rng.standard_normal((9, 9, 3))))
            x = np.arange(-12, 13)
            g = np.exp(-(x**2) / 32)
            out.append((f"{w}x{h}x{c} gaussian 25", shape, np.outer(g, g) / g.sum() ** 2))
    if not quick:
        for k in (5, 15, 31):
            kernel = rng.standard_normal((k, k))
            out.append((f"3840x2160x3 dense {k}", (2160, 3840, 3), kernel))
    return out


def features(plan: engine.Plan, strategy: str, names: list[str]) -> tuple[float, list[float]]:
    """The estimate's part from constants not fitted, and its factor for each fitted one."""
    saved = {name: getattr(engine.cost, name) for name in names}
    fixed = dict(engine.cost._NS_FIXED)

    def estimate(ones: str | None) -> float:
        for name in names:
            setattr(engine.cost, name, 1.0 if name == ones else 0.0)
        return engine.estimate_costs(plan)[strategy]

    try:
        engine.cost._NS_FIXED = {key: 0.0 for key in fixed}
        offset = estimate(None)
        return offset, [estimate(name) - offset for name in names]
    finally:
        engine.cost._NS_FIXED = fixed
        for name, value in saved.items():
            setattr(engine.cost, name, value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer sizes")
    parser.add_argument("--repeat", type=int, default=3, help="runs per median (default 3)")
    parser.add_argument("--fit", action="store_true", help="refit the linear constants")
    parser.add_argument("--limit", type=float, default=400, help="skip runs estimated over ms")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    samples: dict[str, list[tuple[list[float], float]]] = {name: [] for name in FIT}
    # (features, measured ns minus the part of the estimate from constants not fitted)
    regrets = []
    print("| case | auto | best | regret | " + " | ".join(engine.STRATEGIES) + " |")
    print("|---|---|---|---:|" + "---:|" * len(engine.STRATEGIES))
    for name, shape, kernel in cases(args.quick):
        image = rng.random(shape, dtype=np.float32)
        kernel = kernel.astype(np.float32)
        plan = engine.make_plan(image, kernel)
        estimates = engine.estimate_costs(plan)
        chosen = engine.choose_strategy(plan)
        measured = {}
        for strategy, est in estimates.items():
            if est / 1e6 > args.limit and strategy != chosen:
                continue
            measured[strategy] = median_ms(
                lambda s=strategy, im=image, k=kernel: engine.correlate(im, k, strategy=s),
                args.repeat,
            )
            shared = plan.depthwise and engine._same_on_all_channels(plan.kernel)
            if strategy in FIT and (strategy in ("fft", "gemm") or shared):
                offset, row = features(plan, strategy, FIT[strategy])
                samples[strategy].append((row, measured[strategy] * 1e6 - offset))
        best = min(measured, key=measured.__getitem__)
        regret = measured[chosen] / measured[best]
        regrets.append(regret)
        cells = [
            f"{measured[s]:.1f} ({estimates[s] / 1e6:.1f})" if s in measured else "–"
            for s in engine.STRATEGIES
        ]
        print(f"| {name} | {chosen} | {best} | {regret:.2f} | " + " | ".join(cells) + " |")
    print(
        f"\nmeasured ms (estimate ms); regret = auto / best: median "
        f"{statistics.median(regrets):.2f}, worst {max(regrets):.2f}, "
        f"{sum(r > 1.25 for r in regrets)} of {len(regrets)} over 1.25"
    )
    if not args.fit:
        return
    print()
    for strategy, rows in samples.items():
        if len(rows) < len(FIT[strategy]) + 1:
            continue
        x = np.array([[*f, 1.0] for f, _ in rows])
        y = np.array([t for _, t in rows])
        # Relative errors matter (a 2x miss on a 5 ms run as much as on a 500 ms one).
        coef, *_ = np.linalg.lstsq(x / y[:, None], np.ones_like(y), rcond=None)
        fitted = ", ".join(f"{n} = {v:.4g}" for n, v in zip(FIT[strategy], coef, strict=False))
        err = np.abs(x @ coef / y - 1)
        print(
            f"{strategy}: {fitted}, fixed = {coef[-1] / 1e3:.0f} us "
            f"(n={len(rows)}, median |error| {np.median(err):.0%}, worst {err.max():.0%})"
        )


if __name__ == "__main__":
    main()
