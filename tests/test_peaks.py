"""Peak picking: the candidate search (threshold first, then a 3x3 check around the passing
points) against a straightforward reference of the rule it replaced (a float64 3x3 maximum
filter over the whole map, checked against scipy.ndimage), on maps with ties, plateaus, NaN,
borders."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi

from convtool.matching import find_matches, search
from convtool.matching import peaks as pk


def reference_candidates(scores, *, threshold, higher, limit):
    """The old rule: float64 map (negated when lower is better), points >= every neighbour
    within 3x3 (beyond the map: -inf) and >= threshold; at most ``limit`` (argpartition),
    best first, ties top-to-bottom then left-to-right."""
    work = np.asarray(scores, dtype=np.float64)
    if not higher:
        work, threshold = -work, -threshold
    # The old code's 3x3 maximum: np.maximum propagates NaN, so a NaN's neighbours are no
    # maxima (scipy's maximum_filter treats NaN otherwise; it checks the NaN-free maps).
    padded = np.pad(work, 1, mode="constant", constant_values=-np.inf)
    rows = np.maximum(np.maximum(padded[:-2], padded[1:-1]), padded[2:])
    neighbourhood = np.maximum(np.maximum(rows[:, :-2], rows[:, 1:-1]), rows[:, 2:])
    if not np.isnan(work).any():
        oracle = ndi.maximum_filter(work, size=3, mode="constant", cval=-np.inf)
        np.testing.assert_array_equal(neighbourhood, oracle)
    local = work >= neighbourhood
    ys, xs = np.nonzero(local & (work >= threshold))
    values = work[ys, xs]
    if values.size > limit:
        part = np.argpartition(-values, limit - 1)[:limit]
        ys, xs, values = ys[part], xs[part], values[part]
    order = np.lexsort((xs, ys, -values))
    values = values[order]
    return (values if higher else -values), ys[order], xs[order]


def assert_same(scores, threshold, higher, limit=1000):
    got = pk._candidates(scores, threshold=threshold, higher=higher, limit=limit)
    want = reference_candidates(scores, threshold=threshold, higher=higher, limit=limit)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)
    return got


def plateau_map(seed: int, shape=(61, 77), levels=6, dtype=np.float32) -> np.ndarray:
    """Few distinct values in blocks: plateaus, ties between separate peaks, ties at edges."""
    g = np.random.default_rng(seed)
    coarse = g.integers(0, levels, (shape[0] // 3 + 1, shape[1] // 4 + 1))
    blocks = np.kron(coarse, np.ones((3, 4)))[: shape[0], : shape[1]]
    return (blocks / (levels - 1)).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("higher", [True, False])
@pytest.mark.parametrize("threshold", [0.0, 0.4, 0.8, 1.0])
@pytest.mark.parametrize("seed", range(4))
def test_plateaus_and_ties_match_the_reference(seed, threshold, higher, dtype):
    scores = plateau_map(seed, dtype=dtype)
    got = assert_same(scores, threshold, higher)
    if threshold in (0.0, 1.0) and higher:
        assert got[0].size > 0  # the case does have candidates (and plateaus of them)


@pytest.mark.parametrize("higher", [True, False])
@pytest.mark.parametrize("share", [0.001, 0.05, 0.3, 1.0])
def test_random_maps_sparse_and_dense_paths_match_the_reference(share, higher):
    g = np.random.default_rng(int(share * 1000))
    scores = g.standard_normal((203, 157)).astype(np.float32)
    q = share if higher else 1 - share
    threshold = float(np.quantile(scores, 1 - q)) if share < 1 else (-np.inf if higher else np.inf)
    assert_same(scores, threshold, higher)


def test_limit_with_ties_matches_the_reference():
    # Many equal isolated peaks: which of the tied ones the limit keeps is argpartition's
    # choice, on the same row-major arrays as before.
    scores = np.zeros((80, 90), np.float32)
    scores[::3, ::3] = 0.9
    scores[1::9, 1::9] = 0.95
    assert_same(scores, 0.5, True, limit=50)
    assert_same(-scores, -0.5, False, limit=50)


def test_threshold_between_float32_values_is_exact():
    # float32(0.8) > 0.8: a float32 score equal to it passes 0.8, and a threshold just above
    # float32(0.8) (not a float32) must still reject it, as the old float64 comparison did.
    f = float(np.float32(0.8))
    scores = np.zeros((9, 9), np.float32)
    scores[4, 4] = np.float32(0.8)
    assert assert_same(scores, 0.8, True)[0].size == 1
    assert assert_same(scores, float(np.nextafter(f, 1.0)), True)[0].size == 0  # f32: f
    assert assert_same(-scores, -float(np.nextafter(f, 1.0)), False)[0].size == 0
    assert assert_same(scores, np.nextafter(f, 0), True)[0].size == 1
    assert assert_same(-scores, -0.8, False)[0].size == 1
    assert assert_same(scores, 1e300, True)[0].size == 0
    assert assert_same(scores, -1e300, True)[0].size > 0


def test_nan_and_infinity_follow_the_old_rule():
    scores = np.zeros((7, 8), np.float32)
    scores[1, 1] = 0.9
    scores[1, 2] = np.nan  # a NaN neighbour: no peak at (1, 1)
    scores[5, 6] = np.inf
    scores[0, 7] = 0.7  # corner peak
    scores[6, 0] = 0.7  # corner peak, tied with the other one
    values, ys, xs = pk._candidates(scores, threshold=0.5, higher=True, limit=1000)
    assert list(zip(ys.tolist(), xs.tolist(), strict=True)) == [(5, 6), (0, 7), (6, 0)]
    assert values[0] == np.inf
    dense = np.full((7, 8), 0.9, np.float32)
    dense[3, 3] = np.nan
    got = pk._candidates(dense, threshold=0.5, higher=True, limit=1000)
    ys, xs = got[1], got[2]
    assert not np.any((abs(ys - 3) <= 1) & (abs(xs - 3) <= 1))  # NaN and its neighbours
    assert ys.size == 7 * 8 - 9


@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (9, 1), (2, 2)])
def test_tiny_maps_match_the_reference(shape):
    scores = np.random.default_rng(3).random(shape).astype(np.float32)
    assert_same(scores, 0.0, True)
    assert_same(scores, 1.0, False)


def test_find_matches_and_search_order_on_plateaus():
    scores = plateau_map(7, shape=(40, 50), levels=4)
    got = find_matches(scores, template_shape=(3, 3), top=20, threshold=0.6, overlap=0.0)
    _, ys, xs = reference_candidates(scores, threshold=0.6, higher=True, limit=1000)
    # Greedy non-overlap over the reference order: the same boxes, in the same order.
    kept: list[tuple[int, int]] = []
    for y, x in zip(ys.tolist(), xs.tolist(), strict=True):
        if all(abs(y - ky) >= 3 or abs(x - kx) >= 3 for ky, kx in kept):
            kept.append((y, x))
    assert [(m.y, m.x) for m in got] == kept[:20]
    # search picks over all its score maps with the same candidates.
    image = np.random.default_rng(8).random((60, 70)).astype(np.float32)
    result = search(image, image[10:22, 30:44], scales=(0.9, 1.0), top=3, threshold=0.3)
    for _, _, scores, _ in result.maps:
        assert_same(scores, 0.3, True)
    assert (result.matches[0].x, result.matches[0].y, result.matches[0].scale) == (30, 10, 1.0)


@pytest.mark.parametrize("higher", [True, False])
def test_few_passing_rows_with_nan_rows_match_the_reference(higher):
    # Few rows reach the threshold: only those are compared (a NaN row is among them).
    g = np.random.default_rng(11)
    scores = (g.random((200, 150)) * 0.5).astype(np.float32)
    if not higher:
        scores = 1 - scores
    peak = 0.95 if higher else 0.05
    scores[17, 40] = scores[17, 41] = peak  # a plateau of two
    scores[120, 0] = peak  # on the left edge
    scores[199, 149] = peak  # in the corner
    scores[60, 3] = np.nan
    scores[61, 4] = peak  # next to the NaN: not a peak
    got = assert_same(scores, 0.9 if higher else 0.1, higher)
    assert got[1].tolist() == [17, 17, 120, 199]
