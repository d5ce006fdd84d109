"""Every engine strategy agrees with the reference ``direct`` path and with scipy.ndimage."""

from __future__ import annotations

import itertools
import zlib

import numpy as np
import pytest
import scipy.ndimage as ndi

from convtool import engine, runtime

FAST = [name for name in engine.STRATEGIES if name != "direct"]
PADDED_MODES = ("reflect", "mirror", "nearest", "wrap", "constant")


def _tolerance(image: np.ndarray, kernel: np.ndarray) -> float:
    # Sums of |w*x| bound the rounding of any summation order (FFT included) in float32.
    eps = 1e-12 if image.dtype == np.float64 else 2e-6
    return eps * float(np.abs(kernel).sum()) * float(np.abs(image).max() + 1) * 8


def _kernel(rng: np.random.Generator, kind: str, kh: int, kw: int, c: int) -> np.ndarray:
    shape = {"2d": (kh, kw), "3d": (kh, kw, c), "4d": (kh, kw, c, 2)}[kind]
    return rng.standard_normal(shape)


@pytest.mark.parametrize("strategy", FAST)
@pytest.mark.parametrize("kind", ["2d", "3d", "4d"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_strategy_matches_direct_on_every_mode_size_stride_and_dilation(strategy, kind, dtype):
    rng = np.random.default_rng(zlib.crc32(f"{strategy}{kind}{dtype}".encode()))
    image = rng.standard_normal((11, 14, 3)).astype(dtype)
    sizes = [(1, 1), (3, 3), (4, 4), (2, 5), (5, 2)]
    steps = [(1, 1), (2, 3)]
    for (kh, kw), mode, stride, dilation in itertools.product(
        sizes, engine.BORDER_MODES, steps, steps
    ):
        kernel = _kernel(rng, kind, kh, kw, 3)
        args = {"border": mode, "stride": stride, "dilation": dilation, "cval": 0.5}
        try:
            want = engine.correlate(image, kernel, strategy="direct", **args)
        except engine.EngineError:
            continue  # 'valid' with a dilated kernel larger than the image
        got = engine.correlate(image, kernel, strategy=strategy, **args)
        assert got.dtype == want.dtype == dtype
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=0, atol=_tolerance(image, kernel))


@pytest.mark.parametrize("strategy", list(engine.STRATEGIES))
@pytest.mark.parametrize("mode", PADDED_MODES)
@pytest.mark.parametrize("shape", [(3, 3), (4, 4), (2, 6), (7, 4)])
def test_strategy_matches_scipy_correlate_and_convolve(strategy, mode, shape):
    rng = np.random.default_rng(7)
    image = rng.random((17, 23), dtype=np.float32)
    kernel = rng.standard_normal(shape)
    tol = _tolerance(image, kernel)
    want = ndi.correlate(image.astype(np.float64), kernel, mode=mode, cval=0.25)
    got = engine.correlate(image, kernel, border=mode, cval=0.25, strategy=strategy)
    np.testing.assert_allclose(got, want, rtol=0, atol=tol)
    want = ndi.convolve(image.astype(np.float64), kernel, mode=mode, cval=0.25)
    got = engine.convolve(image, kernel, border=mode, cval=0.25, strategy=strategy)
    np.testing.assert_allclose(got, want, rtol=0, atol=tol)


@pytest.mark.parametrize("strategy", FAST)
@pytest.mark.parametrize("mode", (*PADDED_MODES, "full"))
def test_image_smaller_than_the_kernel(strategy, mode):
    rng = np.random.default_rng(3)
    for h, w in [(1, 1), (2, 3), (4, 1)]:
        image = rng.random((h, w, 2), dtype=np.float32)
        kernel = rng.standard_normal((7, 6))
        want = engine.correlate(image, kernel, border=mode, strategy="direct")
        got = engine.correlate(image, kernel, border=mode, strategy=strategy)
        np.testing.assert_allclose(got, want, rtol=0, atol=_tolerance(image, kernel))


@pytest.mark.parametrize("strategy", FAST)
def test_larger_image_crosses_strip_tile_and_block_boundaries(strategy):
    # Big enough for several row strips, GEMM blocks and FFT strips, with ragged last ones.
    rng = np.random.default_rng(11)
    image = rng.random((203, 131, 3), dtype=np.float32)
    for kernel, stride in [
        (rng.standard_normal((9, 7)), 1),
        (rng.standard_normal((5, 5, 3, 2)), (2, 1)),
        (np.outer(np.hanning(13), np.hanning(11)), 1),
    ]:
        want = engine.correlate(image, kernel, stride=stride, strategy="direct")
        got = engine.correlate(image, kernel, stride=stride, strategy=strategy)
        np.testing.assert_allclose(got, want, rtol=0, atol=_tolerance(image, kernel))


def test_separable_uses_low_rank_factors_exactly():
    rng = np.random.default_rng(5)
    image = rng.random((40, 50, 3), dtype=np.float32)
    rank2 = np.outer(rng.random(9), rng.random(7)) + np.outer(rng.random(9), rng.random(7))
    plan = engine.make_plan(image, rank2)
    assert engine.kernel_rank(plan) == 2
    gaussian = np.outer(*(2 * [np.exp(-(np.arange(-30, 31) ** 2) / 200.0)]))
    assert engine.kernel_rank(engine.make_plan(image, gaussian)) == 1
    want = ndi.correlate(image.astype(np.float64), rank2[:, :, None], mode="reflect")
    got = engine.correlate(image, rank2, strategy="separable")
    np.testing.assert_allclose(got, want, rtol=0, atol=_tolerance(image, rank2))


def test_per_channel_depthwise_and_bias():
    rng = np.random.default_rng(9)
    image = rng.random((30, 25, 3))
    kernel = rng.standard_normal((5, 4, 3))
    bias = np.array([0.5, -1.0, 2.0])
    want = np.stack(
        [ndi.correlate(image[:, :, c], kernel[:, :, c], mode="mirror") for c in range(3)], -1
    )
    for strategy in engine.STRATEGIES:
        got = engine.correlate(image, kernel, border="mirror", bias=bias, strategy=strategy)
        assert got.dtype == np.float64
        np.testing.assert_allclose(got, want + bias, rtol=0, atol=1e-10)


def test_integer_image_and_inputs_untouched():
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, (20, 21, 3), dtype=np.uint8)
    kernel = rng.standard_normal((3, 3))
    before = image.copy(), kernel.copy()
    want = engine.correlate(image, kernel, strategy="direct")
    for strategy in FAST:
        got = engine.correlate(image, kernel, strategy=strategy)
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=0, atol=_tolerance(want, kernel) * 255)
    np.testing.assert_array_equal(image, before[0])
    np.testing.assert_array_equal(kernel, before[1])


@pytest.mark.parametrize(
    "shape, kernel_shape",
    [
        ((1080, 1920, 3), (3, 3)),
        ((1080, 1920, 3), (15, 15)),
        ((1080, 1920, 3), (63, 63)),
        ((1080, 1920, 3), (5, 5, 3, 3)),
        ((1080, 1920, 3), (9, 9, 3)),
        ((8, 8), (3, 3)),
        ((3, 2), (7, 7)),
        ((500, 400), (31, 1)),
    ],
)
def test_cost_model_returns_a_registered_strategy(shape, kernel_shape):
    image = np.zeros(shape, np.float32)
    plan = engine.make_plan(image, np.ones(kernel_shape))
    name = engine.choose_strategy(plan)
    assert name in engine.STRATEGIES
    costs = engine.estimate_costs(plan)
    assert set(costs) <= set(engine.STRATEGIES)
    assert all(cost > 0 for cost in costs.values())


def test_cost_model_picks_the_expected_path_for_clear_cases():
    image = np.zeros((1080, 1920, 3), np.float32)
    rng = np.random.default_rng(0)
    gaussian = np.outer(*(2 * [np.exp(-(np.arange(-6, 7) ** 2) / 8.0)]))
    assert engine.choose_strategy(engine.make_plan(image, gaussian)) == "separable"
    dense = rng.standard_normal((63, 63))
    assert engine.choose_strategy(engine.make_plan(image, dense)) == "fft"
    small = rng.standard_normal((3, 3))
    assert engine.choose_strategy(engine.make_plan(image, small)) in ("gemm", "strips")


def test_run_info_reports_the_strategy():
    info = engine.RunInfo()
    engine.correlate(np.ones((5, 5)), np.ones((3, 3)), strategy="fft", info=info)
    assert info.strategy == "fft"
    assert info.seconds >= 0
    engine.correlate(np.ones((5, 5)), np.ones((3, 3)), info=info)
    assert info.strategy in engine.STRATEGIES


def test_unknown_strategy_is_an_engine_error():
    with pytest.raises(engine.EngineError, match="unknown strategy"):
        engine.correlate(np.ones((5, 5)), np.ones((3, 3)), strategy="nope")


@pytest.mark.parametrize("mode", engine.BORDER_MODES)
def test_row_source_fills_exactly_the_rows_of_the_padded_image(mode):
    # The im2row GEMM path pads strip by strip through index maps instead of np.pad.
    rng = np.random.default_rng(13)
    for shape, kshape in [((9, 7, 2), (5, 4)), ((1, 1, 3), (7, 6)), ((3, 2, 1), (9, 9))]:
        image = rng.random(shape, dtype=np.float32)
        try:
            plan = engine.make_plan(image, np.ones(kshape), border=mode, cval=0.5, dilation=2)
        except engine.EngineError:
            continue  # 'valid' with a kernel larger than the image
        want = engine.pad_image(plan)
        source = engine._RowSource(plan)
        got = np.full_like(want, np.nan)
        for y0 in range(0, want.shape[0], 3):  # strips, the edge ones included
            y1 = min(want.shape[0], y0 + 3)
            source.fill(got[y0:y1], y0, y1)
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_im2row_gemm_crosses_strips_and_column_chunks(dtype):
    # Wide enough that the GEMM splits each row into column chunks (BLAS call cap), tall
    # enough for several strips per thread and a ragged last row block.
    rng = np.random.default_rng(17)
    image = rng.random((157, 700, 3)).astype(dtype)
    for kernel, stride, dilation, mode in [
        (rng.standard_normal((9, 9)), 1, 1, "reflect"),
        (rng.standard_normal((3, 5)), (2, 3), (1, 2), "wrap"),
        (rng.standard_normal((6, 4)), (3, 1), 2, "constant"),
    ]:
        args = {"stride": stride, "dilation": dilation, "border": mode, "cval": 0.25}
        want = engine.correlate(image, kernel, strategy="direct", **args)
        got = engine.correlate(image, kernel, strategy="gemm", **args)
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want, rtol=0, atol=_tolerance(image, kernel))


@pytest.mark.parametrize("strip_rows, z_bytes", [(4, 1), (8, 4096), (64, 2560 << 10)])
@pytest.mark.parametrize("mode", (*PADDED_MODES, "valid", "full"))
def test_im2row_interior_rows_border_columns_and_bands(monkeypatch, mode, strip_rows, z_bytes):
    # The im2row path reads interior rows from the image, gathers border columns once, and
    # pads only the top/bottom bands; tiny strips and Z budgets force one-pixel column chunks
    # that start inside, across and beyond the border columns.
    monkeypatch.setattr(engine.im2row, "_IM2ROW_STRIP_ROWS", strip_rows)
    monkeypatch.setattr(engine.im2row, "_IM2ROW_Z_BYTES", z_bytes)
    rng = np.random.default_rng(zlib.crc32(f"{mode}{strip_rows}".encode()))
    cases = [
        ((37, 23, 3), (5, 5), 1, 1),
        ((37, 23, 3), (3, 7), (2, 3), 1),
        ((37, 23, 3), (4, 6), 1, (2, 3)),
        ((30, 9, 1), (3, 3), (3, 2), (3, 2)),
        ((6, 5, 2), (7, 9), 1, 1),  # kernel larger than the image: no interior rows
        ((40, 3, 3), (5, 5), 1, 1),  # no interior columns
        # channel mixing: planar Z; 4-row blocks for few output channels, 1-row for many
        ((37, 23, 3), (5, 5, 3, 2), 1, 1),
        ((37, 23, 3), (3, 4, 3, 9), (2, 3), 1),
        ((29, 21, 2), (4, 3, 2, 8), 1, (2, 3)),
        ((6, 5, 2), (7, 9, 2, 3), 1, 1),
    ]
    for shape, kshape, stride, dilation in cases:
        image = rng.standard_normal(shape).astype(np.float32)
        kernel = rng.standard_normal(kshape)
        args = {"border": mode, "stride": stride, "dilation": dilation, "cval": -0.75}
        try:
            want = engine.correlate(image, kernel, strategy="direct", **args)
        except engine.EngineError:
            continue  # 'valid' with a kernel larger than the image
        got = engine.correlate(image, kernel, strategy="gemm", **args)
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=0, atol=_tolerance(image, kernel))


@pytest.mark.parametrize("strip_bytes", [3 << 20, 1])
@pytest.mark.parametrize("mode", (*PADDED_MODES, "valid", "full"))
def test_separable_shared_path_crosses_strips_blocks_and_ranks(monkeypatch, mode, strip_bytes):
    # Strips on both threads (strip_bytes=1: 16-row strips, many per thread, ragged last one),
    # ragged 16-row/16-column band blocks, rank 1 to 3, strides and dilations, even and
    # rectangular sizes.
    monkeypatch.setattr(engine.separable, "_SEP_MID_BYTES", strip_bytes)
    monkeypatch.setattr(engine.separable, "_SEP_DIRECT_MID_BYTES", strip_bytes)  # rank 1
    rng = np.random.default_rng(13)
    image = rng.random((300, 75, 3), dtype=np.float32)
    for rank, (kh, kw), stride, dilation in [
        (1, (13, 13), 1, 1),
        (2, (9, 6), (2, 3), 1),
        (3, (4, 7), 1, (2, 1)),
        (1, (31, 1), (1, 2), 1),
        (1, (5, 41), 1, 1),  # long rows of taps: the planar horizontal pass, not the direct one
    ]:
        kernel = sum(
            np.outer(rng.standard_normal(kh), rng.standard_normal(kw)) for _ in range(rank)
        )
        plan = engine.make_plan(image, kernel, border=mode)
        assert engine.kernel_rank(plan) == min(rank, kh, kw)
        args = {"border": mode, "stride": stride, "dilation": dilation, "cval": -0.5}
        want = engine.correlate(image, kernel, strategy="direct", **args)
        got = engine.correlate(image, kernel, strategy="separable", **args)
        np.testing.assert_allclose(got, want, rtol=0, atol=_tolerance(image, kernel))


def test_rank_factors_reproduce_the_kernel():
    rng = np.random.default_rng(17)
    for kernel in [
        np.zeros((3, 4, 1)),
        rng.standard_normal((5, 5, 2)),
        np.outer(rng.random(61), rng.random(61))[:, :, None],
        np.stack([np.outer(rng.random(7), rng.random(3)), np.ones((7, 3))], -1),
    ]:
        col, row = engine._rank_factors(kernel, np.dtype(np.float64))
        rebuilt = np.einsum("rac,rbc->abc", col, row)
        np.testing.assert_allclose(rebuilt, kernel, rtol=0, atol=1e-12)


@pytest.mark.parametrize("shape", [(1, 1, 3), (2, 40, 3), (40, 1, 1), (5, 5, 2)])
def test_separable_on_images_smaller_than_a_block(shape):
    rng = np.random.default_rng(19)
    image = rng.random(shape, dtype=np.float32)
    kernel = np.outer(np.hanning(21)[1:-1], np.hanning(9)[1:-1]) + np.eye(19, 7)
    for mode in PADDED_MODES:
        want = engine.correlate(image, kernel, border=mode, strategy="direct")
        got = engine.correlate(image, kernel, border=mode, strategy="separable")
        np.testing.assert_allclose(got, want, rtol=0, atol=_tolerance(image, kernel))


@pytest.mark.parametrize("cap", [1, 3000, 20000])
def test_separable_band_gemms_split_under_a_small_blas_cap(monkeypatch, cap):
    # A small cap splits every pass into many row chunks plus a ragged tail (cap=1: one row
    # per call), all batched into one matmul per pass; results must not depend on it.
    monkeypatch.setattr(engine.separable, "_BLAS_CALL_MNK", cap)
    rng = np.random.default_rng(23)
    image = rng.random((150, 47, 3), dtype=np.float32)
    rank1 = np.outer(rng.random(11), rng.random(8))
    rank2 = rank1 + np.outer(rng.random(11), rng.random(8))
    for kernel, stride, dilation in itertools.product([rank1, rank2], [1, (3, 2)], [1, (1, 2)]):
        args = {"border": "wrap", "stride": stride, "dilation": dilation}
        want = engine.correlate(image, kernel, strategy="direct", **args)
        got = engine.correlate(image, kernel, strategy="separable", **args)
        np.testing.assert_allclose(got, want, rtol=0, atol=_tolerance(image, kernel))


def test_fft_scratch_kept_between_calls_is_cleared_for_a_narrower_image():
    # The FFT strip buffers outlive a call; a second, narrower image of the same transform
    # size must not see the first image's columns in its zero padding (a NaN there would
    # spread to every output through the transform).
    rng = np.random.default_rng(23)
    kernel = rng.standard_normal((5, 5))
    wide, narrow = rng.random((40, 103, 2), np.float32), rng.random((40, 98, 2), np.float32)
    wide[:, -3:] = np.nan
    plans = [engine.make_plan(img, kernel, border="constant") for img in (wide, narrow)]
    widths = [p.image.shape[1] + p.pad[2] + p.pad[3] for p in plans]
    assert engine.next_fast_len(widths[0]) == engine.next_fast_len(widths[1])
    engine.correlate(wide, kernel, strategy="fft", border="constant")
    got = engine.correlate(narrow, kernel, strategy="fft", border="constant")
    want = engine.correlate(narrow, kernel, strategy="direct", border="constant")
    np.testing.assert_allclose(got, want, rtol=0, atol=_tolerance(narrow, kernel))


def test_release_scratch_frees_the_kept_work_arrays():
    rng = np.random.default_rng(29)
    image, kernel = rng.random((50, 60, 3), np.float32), rng.standard_normal((9, 9))
    first = engine.correlate(image, kernel, strategy="fft")
    assert runtime._scratch_arrays  # strip buffers kept for the next call
    engine.release_scratch()
    assert not runtime._scratch_arrays
    np.testing.assert_array_equal(engine.correlate(image, kernel, strategy="fft"), first)


@pytest.mark.parametrize("strategy", FAST)
def test_strided_and_reversed_views_as_input(strategy):
    # The im2row path builds its shifted copies from strided views of the input itself.
    rng = np.random.default_rng(31)
    base = rng.random((45, 80, 3), np.float32)
    kernel = rng.standard_normal((5, 3))
    views = [base[:, ::2], base.transpose(1, 0, 2), base[::-1, :, ::-1], np.asfortranarray(base)]
    for image in views:
        for border in ("reflect", "constant", "wrap"):
            args = {"border": border, "cval": 0.3}
            want = engine.correlate(np.ascontiguousarray(image), kernel, strategy="direct", **args)
            got = engine.correlate(image, kernel, strategy=strategy, **args)
            np.testing.assert_allclose(got, want, rtol=0, atol=_tolerance(image, kernel))


def test_remembered_choice_is_the_cost_models_choice():
    image = np.zeros((300, 400, 3), np.float32)
    rng = np.random.default_rng(37)
    engine.cost._choices.clear()
    for kernel in (rng.standard_normal((3, 3)), rng.standard_normal((41, 41)), np.ones((9, 9))):
        plan = engine.make_plan(image, kernel)
        costs = engine.estimate_costs(plan)
        first = engine.choose_strategy(plan)
        assert first == engine.choose_strategy(plan) == min(costs, key=costs.__getitem__)
    assert len(engine.cost._choices) == 3
