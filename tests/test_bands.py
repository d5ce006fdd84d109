"""Banded chain runs (convtool.chain.bands) against the whole-image path and scipy."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import ndimage

from convtool import engine, runtime
from convtool.chain.bands import BAND_BYTES, BandedChain, correlate_into, filter_bands
from convtool.chain.memory import FilterOptions, apply_chain
from convtool.engine import EngineError
from convtool.kernels import Kernel, parse_kernel

BORDERS = ("reflect", "mirror", "nearest", "wrap", "constant", "valid", "full")
ALPHAS = ("keep", "premultiply", "filter", "drop")
RNG = np.random.default_rng(11)
# 13 rows: no band height used below divides it.
IMAGE = RNG.integers(0, 256, (13, 11, 4), dtype=np.uint8)


def _kinds() -> dict[str, list]:
    rng = np.random.default_rng(5)
    return {
        "odd-2d": [Kernel("odd", rng.normal(size=(3, 3)))],
        "even-2d": [Kernel("even", rng.normal(size=(4, 2)), bias=0.05)],
        "depthwise": [Kernel("dw", rng.normal(size=(3, 5, 3)))],
        "mixer": [Kernel("mix", rng.normal(size=(3, 3, 3, 2)), bias=np.array([0.1, -0.2]))],
        "magnitude": [parse_kernel("sobel")],
        "chain": [Kernel("a", rng.normal(size=(3, 3))), parse_kernel("gaussian:1")],
    }


KINDS = _kinds()


def _opts(**kw) -> FilterOptions:
    base = dict(cval=0.3, scale=1.5, bias=0.1)
    base.update(kw)
    return FilterOptions(**base)


def _whole(image, steps, opts, has_alpha=True):
    """Today's path: the decoder's normalized float32 image, then apply_chain."""
    values = np.divide(image, np.float32(255), dtype=np.float32)
    return apply_chain(values, steps, opts, has_alpha=has_alpha)


def _banded(image, steps, opts, band_rows, has_alpha=True):
    return filter_bands(
        image, steps, opts, has_alpha=has_alpha, input_scale=255, band_rows=band_rows
    )


def _fits(kind: str, alpha: str) -> bool:
    # Kernels made for 3 channels need the alpha split off (keep/drop).
    return not (kind in ("depthwise", "mixer") and alpha in ("filter", "premultiply"))


@pytest.mark.parametrize("border", BORDERS)
@pytest.mark.parametrize("stride, dilation", [(1, 1), (2, 1), (1, 2), (3, 2)])
@pytest.mark.parametrize("strategy", ["strips", "direct"])
def test_bands_equal_whole_image_bit_for_bit(border, stride, dilation, strategy):
    """Every kernel kind and alpha mode, bands of 2 and 5 rows (13 is a multiple of neither)."""
    pairs = [(k, a) for k, a in itertools.product(KINDS, ALPHAS) if _fits(k, a)]
    for index, (kind, alpha) in enumerate(pairs):
        opts = _opts(border=border, stride=stride, dilation=dilation, alpha=alpha)
        opts.strategy = strategy
        try:
            whole = _whole(IMAGE, KINDS[kind], opts)
        except EngineError as exc:  # e.g. a 'valid' kernel larger than the strided image
            with pytest.raises(EngineError, match=str(exc).split(" (")[0][:20]):
                _banded(IMAGE, KINDS[kind], _opts(border=border, stride=stride,
                        dilation=dilation, alpha=alpha, strategy=strategy), 2)  # fmt: skip
            continue
        banded = _banded(IMAGE, KINDS[kind], _opts(**{**opts.__dict__, "runs": []}),
                         2 if index % 2 else 5)  # fmt: skip
        assert banded.dtype == whole.dtype and banded.shape == whole.shape, (kind, alpha)
        assert np.array_equal(banded, whole), (kind, alpha)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    border=st.sampled_from(BORDERS),
    stride=st.integers(1, 3),
    dilation=st.integers(1, 3),
    kind=st.sampled_from(sorted(KINDS)),
    alpha=st.sampled_from(ALPHAS),
    convolve=st.booleans(),
    height=st.integers(1, 19),
    band_rows=st.integers(1, 6),
    grey=st.booleans(),
)
def test_bands_equal_whole_image_random(
    border, stride, dilation, kind, alpha, convolve, height, band_rows, grey
):
    image = IMAGE[:height] if not grey else IMAGE[:height, :, 0]
    if grey and kind in ("depthwise", "mixer"):
        kind = "odd-2d"
    has_alpha = not grey and _fits(kind, alpha)
    settings_ = dict(border=border, stride=stride, dilation=dilation, alpha=alpha,
                     convolve=convolve, strategy="strips")  # fmt: skip
    try:
        whole = _whole(image, KINDS[kind], _opts(**settings_), has_alpha)
    except EngineError:
        with pytest.raises(EngineError):
            _banded(image, KINDS[kind], _opts(**settings_), band_rows, has_alpha)
        return
    banded = _banded(image, KINDS[kind], _opts(**settings_), band_rows, has_alpha)
    assert banded.shape == whole.shape
    assert np.array_equal(banded, whole)


@pytest.mark.parametrize("strategy", ["gemm", "separable", "fft", "auto"])
@pytest.mark.parametrize("border", ["reflect", "wrap", "valid", "full"])
def test_blas_and_fft_strategies_equal_to_rounding(strategy, border):
    """BLAS and FFT sum in an order that depends on the rows they are given: a few ulp."""
    for kind, stride in itertools.product(("odd-2d", "depthwise", "mixer", "chain"), (1, 2)):
        opts = _opts(border=border, stride=stride, alpha="keep", strategy=strategy)
        try:
            whole = _whole(IMAGE, KINDS[kind], opts)
        except EngineError:  # 'valid' with a kernel larger than the strided intermediate
            continue
        banded = _banded(IMAGE, KINDS[kind], _opts(**{**opts.__dict__, "runs": []}), 3)
        assert banded.shape == whole.shape
        scale = float(np.abs(whole).max())
        np.testing.assert_allclose(banded, whole, rtol=0, atol=4e-6 * scale)


@pytest.mark.parametrize("border", ["reflect", "mirror", "nearest", "wrap", "constant"])
def test_integer_out_matches_scipy(border):
    """An independent oracle: scipy.ndimage.correlate, rounded half to even and clipped."""
    image = RNG.integers(0, 65536, (23, 9), dtype=np.uint16)
    kernel = RNG.normal(size=(5, 4))
    out = np.zeros(image.shape, np.uint16)
    correlate_into(image, kernel, out, border=border, cval=7.0, band_rows=4, strategy="direct")
    mode = {"mirror": "mirror", "nearest": "nearest", "wrap": "wrap"}.get(border, border)
    expected = ndimage.correlate(image.astype(np.float64), kernel, mode=mode, cval=7.0)
    expected = np.clip(np.rint(expected), 0, 65535)
    # float32 compute against float64: values within 1 of each other, nearly all equal.
    assert np.abs(out.astype(np.int64) - expected).max() <= 1
    assert np.mean(out == expected) > 0.95


def test_memmap_in_and_out(tmp_path):
    """A .npy read through a map and written into open_memmap, band by band."""
    src_path, dst_path = tmp_path / "in.npy", tmp_path / "out.npy"
    data = RNG.normal(size=(37, 21)).astype(np.float32)
    np.save(src_path, data)
    src = np.load(src_path, mmap_mode="r")
    dst = np.lib.format.open_memmap(dst_path, mode="w+", dtype=np.float32, shape=data.shape)
    kernel = RNG.normal(size=(7, 7))
    correlate_into(src, kernel, dst, border="wrap", band_rows=5)
    dst.flush()
    del dst
    expected = ndimage.correlate(data.astype(np.float64), kernel, mode="wrap")
    np.testing.assert_allclose(np.load(dst_path), expected, rtol=0, atol=1e-4)


def test_wrap_needs_the_far_edge_and_reflect_does_not():
    k = [Kernel("k", np.ones((5, 1)))]
    wrap = BandedChain((20, 4), np.uint8, k, FilterOptions(border="wrap"), band_rows=3)
    assert wrap.needs(0, 3)[0].tolist() == [0, 1, 2, 3, 4, 18, 19]
    reflect = BandedChain((20, 4), np.uint8, k, FilterOptions(border="reflect"), band_rows=3)
    assert reflect.needs(0, 3)[0].tolist() == [0, 1, 2, 3, 4]
    assert reflect.needs(17, 20)[0].tolist() == [15, 16, 17, 18, 19]


@pytest.mark.parametrize("threads", [1, 2])
def test_progress_and_run_info(threads):
    calls = []
    opts = FilterOptions(border="reflect")
    before = runtime.threads()
    runtime.set_threads(threads)
    try:
        filter_bands(IMAGE[:, :, 0], [Kernel("k", np.ones((3, 3)))], opts, band_rows=4,
                     progress=lambda done, total: calls.append((done, total)))  # fmt: skip
    finally:
        runtime.set_threads(before)
    # After each round of bands (one band per thread), from the calling thread.
    expected = {1: [(4, 13), (8, 13), (12, 13), (13, 13)], 2: [(8, 13), (13, 13)]}[threads]
    assert calls == expected
    assert [name for name, _ in opts.runs] == ["k"] and opts.runs[0][1].strategy


@pytest.mark.parametrize("spec", ["box:3", "gaussian:2", "box:31"])
def test_default_band_is_a_few_megabytes_with_a_small_halo_share(spec):
    kernel = parse_kernel(spec)
    chain = BandedChain((8640, 15360, 3), np.uint8, [kernel], FilterOptions())
    band_bytes = chain.band_rows * 15360 * 3 * 4
    assert BAND_BYTES // 2 <= band_bytes <= 32 * 2**20
    assert kernel.weights.shape[0] - 1 <= 0.2 * chain.band_rows


def test_out_shape_is_checked():
    with pytest.raises(EngineError, match="out has shape"):
        correlate_into(IMAGE[:, :, 0], np.ones((3, 3)), np.empty((5, 5), np.uint8))


@pytest.mark.parametrize("flip", [False, True])
def test_correlate_into_a_memmap_is_the_engine_result(flip, tmp_path):
    """``correlate_into``: float out equals the engine's array, uint8 out its rounding."""
    from convtool import engine

    fn = engine.convolve if flip else engine.correlate
    image = RNG.integers(0, 256, (29, 17, 3), dtype=np.uint8)
    kernel = RNG.normal(size=(4, 3))
    kw = dict(border="wrap", stride=(2, 1), dilation=2, strategy="strips", bias=3.0)
    whole = fn(image, kernel, **kw)
    out = np.lib.format.open_memmap(tmp_path / "o.npy", "w+", np.float32, whole.shape)
    assert correlate_into(image, kernel, out, flip=flip, band_rows=3, **kw) is out
    assert np.array_equal(out, whole)
    small = correlate_into(image, kernel, np.empty(whole.shape, np.uint8), flip=flip, **kw)
    assert np.array_equal(small, np.clip(np.rint(whole), 0, 255))


def _rounded_mean(image: np.ndarray, kh: int, kw: int, mode: str) -> np.ndarray:
    """The exact window mean rounded to nearest (ties cannot occur: kh*kw is odd), from
    scipy's integer window sums; 'valid' crops the 'reflect' result."""
    ones = np.ones((kh, kw) + (1,) * (image.ndim - 2), np.int64)
    scipy_mode = "reflect" if mode == "valid" else mode
    sums = ndimage.correlate(image.astype(np.int64), ones, mode=scipy_mode, cval=7)
    if mode == "valid":
        sums = sums[
            kh // 2 : image.shape[0] - (kh - 1 - kh // 2),
            kw // 2 : image.shape[1] - (kw - 1 - kw // 2),
        ]
    n = kh * kw
    return ((sums + n // 2) // n).astype(image.dtype)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("mode", ["reflect", "mirror", "nearest", "wrap", "constant", "valid"])
@pytest.mark.parametrize(("kh", "kw"), [(5, 5), (3, 7), (1, 3), (9, 1), (31, 31)])
def test_correlate_into_an_integer_out_rounds_box_means_in_integers(dtype, mode, kh, kw):
    # The integer path (window sums in integers, (sum + N//2) // N into out): the exact mean,
    # on both kinds of strips (rows of the image only, with the edge columns summed again,
    # and padded rows for 'valid'), grey and RGB.
    rng = np.random.default_rng(kh * 100 + kw)
    top = np.iinfo(dtype).max
    for shape in [(41, 70, 3), (37, 66)]:
        image = rng.integers(0, top + 1, shape, dtype=dtype)
        image[:5] = top  # sums at the top of the range
        box = np.full((kh, kw), 1 / (kh * kw))
        want = _rounded_mean(image, kh, kw, mode)
        plan = engine.make_plan(image, box, border=mode, cval=7)
        out = np.empty(want.shape, dtype)
        assert engine.box_into(plan, out)
        np.testing.assert_array_equal(out, want)
        out = np.empty(want.shape, dtype)
        assert correlate_into(image, box, out, border=mode, cval=7) is out
        np.testing.assert_array_equal(out, want)


def test_integer_box_path_equals_opencv_blur_and_takes_strides_and_views():
    cv2 = pytest.importorskip("cv2")
    image = np.random.default_rng(3).integers(0, 256, (64, 96, 3), dtype=np.uint8)
    box = np.full((5, 5), 1 / 25)
    out = correlate_into(image, box, np.empty_like(image))
    np.testing.assert_array_equal(out, cv2.blur(image, (5, 5), borderType=cv2.BORDER_REFLECT))
    # a strided result and a non-contiguous out: the padded strips
    strided = correlate_into(image, box, np.empty((32, 48, 3), np.uint8), stride=2)
    np.testing.assert_array_equal(strided, out[::2, ::2])
    target = np.zeros((64, 96, 6), np.uint8)
    correlate_into(image, box, target[:, :, ::2])
    np.testing.assert_array_equal(target[:, :, ::2], out)
    assert not target[:, :, 1::2].any()


def test_integer_box_path_only_where_it_is_exact():
    image = np.random.default_rng(4).integers(0, 256, (20, 30), dtype=np.uint8)

    def taken(kernel, out_dtype=np.uint8, **kw):
        plan = engine.make_plan(image, kernel, **kw)
        return engine.box_into(plan, np.empty(plan.out_shape, out_dtype))

    assert taken(np.full((3, 3), 1 / 9))
    assert not taken(np.full((4, 4), 1 / 16))  # even: ties, left to the float path's rint
    assert not taken(np.ones((3, 3)))  # sums, not means
    assert not taken(np.full((3, 3), 1 / 9), np.uint16)  # out of another dtype
    assert not taken(np.full((3, 3), 1 / 9), border="constant", cval=0.5)  # float border
    assert not taken(np.full((3, 3), 1 / 9), dilation=2)  # not a box path
    # the float path's result for what the integer path refuses
    four = np.full((4, 4), 1 / 16)
    got = correlate_into(image, four, np.empty_like(image))
    want = np.clip(np.rint(engine.correlate(image, four)), 0, 255)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    ("where", "spans"),
    [
        ([3, 2, 1, 0, 1, 2, 3], [(0, 1), (1, 2), (2, 3), (3, 7)]),  # reflected rows, then a run
        ([-1, -1, 0, 1, 2, -1], [(0, 2), (2, 5), (5, 6)]),  # constant border: fill, run, fill
        ([8, 9, 0, 1, 2], [(0, 2), (2, 5)]),  # wrap: the far edge, then the top
        ([4], [(0, 1)]),
    ],
)
def test_border_band_rows_are_copied_in_runs(where, spans):
    from convtool.chain.bands import _runs_of, _slab

    assert _runs_of(np.array(where)) == spans
    image = np.arange(10 * 3, dtype=np.uint8).reshape(10, 3)
    rows = np.array(where)
    got = _slab(image, None, rows, -5.0, dtype=np.float32, scale=2.0)
    expected = np.where(rows[:, None] >= 0, image[np.maximum(rows, 0)] / 2.0, -5.0)
    np.testing.assert_array_equal(got, expected.astype(np.float32))
