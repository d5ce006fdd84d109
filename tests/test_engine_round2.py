"""The ``box`` (window sums by doubling) and ``small`` (one-thread whole-image) strategies and
the column tiles of the ``fft`` path: exact integer sums against scipy.ndimage, agreement
with ``direct`` within float32 rounding on every border mode and stride, the cost model's
choice."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.ndimage as ndi

from convtool import engine
from convtool.engine import fft as fft_module
from convtool.engine import small as small_module
from convtool.engine.boxsum import _doubling_adds, _window_sum
from convtool.kernels import parse_kernel

MODES = ("reflect", "mirror", "nearest", "wrap", "constant", "valid", "full")
SCIPY_MODE = {"reflect": "reflect", "mirror": "mirror", "nearest": "nearest", "wrap": "wrap"}


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 31, 64, 65])
@pytest.mark.parametrize("step", [1, 3])
def test_window_sum_by_doubling_is_the_plain_sum(k, step):
    rng = np.random.default_rng(k * 10 + step)
    n = 40
    x = rng.integers(0, 256, n + (k - 1) * step + 3).astype(np.float32)
    out = np.empty(n, np.float32)
    spare = (np.empty(x.size, np.float32), np.empty(x.size, np.float32))
    _window_sum(x, out, k, step, spare)
    want = np.array([x[i : i + k * step : step].sum(dtype=np.float64) for i in range(n)])
    np.testing.assert_array_equal(out, want)  # integers below 2**24: exact
    assert _doubling_adds(k) <= 2 * k.bit_length()


@pytest.mark.parametrize("mode", list(SCIPY_MODE))
@pytest.mark.parametrize(("kh", "kw"), [(5, 5), (3, 7), (31, 31), (1, 4)])
def test_box_on_uint8_sums_exactly(mode, kh, kw):
    rng = np.random.default_rng(kh * kw)
    image = rng.integers(0, 256, (67, 90, 3), dtype=np.uint8)
    ones = np.ones((kh, kw))
    got = engine.correlate(image, ones, border=mode, strategy="box")
    want = ndi.correlate(image.astype(np.int64), ones[:, :, None].astype(np.int64), mode=mode)
    np.testing.assert_array_equal(got, want.astype(np.float32))


@pytest.mark.parametrize("strategy", ["box", "small"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_box_and_small_agree_with_direct_on_modes_and_strides(strategy, dtype):
    rng = np.random.default_rng(3)
    image = rng.standard_normal((23, 31, 3)).astype(dtype)
    kernels = [
        parse_kernel("box:5").weights,
        np.full((2, 4), 0.3),
        parse_kernel("gaussian:1").weights,
    ]
    for kernel, mode, stride in itertools.product(kernels, MODES, [1, 2, (3, 1)]):
        args = {"border": mode, "stride": stride, "cval": 0.5}
        want = engine.correlate(image, kernel, strategy="direct", **args)
        got = engine.correlate(image, kernel, strategy=strategy, **args)
        assert got.shape == want.shape and got.dtype == want.dtype
        eps = 1e-12 if dtype == np.float64 else 2e-6
        tol = eps * np.abs(kernel).sum() * (np.abs(image).max() + 1) * 8
        np.testing.assert_allclose(got, want, rtol=0, atol=tol)


def _small_agrees_with_direct(image: np.ndarray, kernel: np.ndarray, **args) -> None:
    try:
        want = engine.correlate(image, kernel, strategy="direct", **args)
    except engine.EngineError:
        return  # 'valid' with a dilated kernel larger than the image
    got = engine.correlate(image, kernel, strategy="small", **args)
    tol = 2e-6 * np.abs(kernel).sum() * (np.abs(image).max() + 1) * 8
    np.testing.assert_allclose(got, want, rtol=0, atol=tol)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("chunk", [None, 64])
def test_small_dense_kernels_as_one_gemm_agree_with_direct(monkeypatch, channels, chunk):
    # Dense kernels take the small path's row GEMM (rows stacked, one matmul, shifted adds):
    # dead rows and columns (skipped), a dead first row, dilation, even sizes, and with
    # chunk=64 values a chunk per row or two plus a ragged last one.
    if chunk is not None:
        monkeypatch.setattr(small_module, "_CHUNK_VALUES", chunk * channels)
    rng = np.random.default_rng(11)
    image = rng.standard_normal((19, 26, channels)).astype(np.float32)
    holes = rng.standard_normal((5, 6))
    holes[2] = 0  # a dead row inside: uneven row offsets
    holes[:, 0] = 0  # a dead first column
    top_dead = rng.standard_normal((4, 4))
    top_dead[0] = 0  # the padded image is not the stack's first row
    kernels = [rng.standard_normal((3, 3)), rng.standard_normal((4, 4)), holes, top_dead]
    for kernel, mode, dilation in itertools.product(kernels, MODES, [1, (2, 1)]):
        assert small_module._recipe(kernel.astype(np.float32)).dense is not None
        _small_agrees_with_direct(image, kernel, border=mode, dilation=dilation, cval=0.5)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("chunk", [None, 64])
def test_small_weight_groups_by_one_gemv_agree_with_direct(monkeypatch, channels, chunk):
    # 1-D passes and small kernels with three or more distinct weights: the group sums are
    # stacked and weighted by one GEMV, a lone tap read in place (none lone, one, several).
    if chunk is not None:
        monkeypatch.setattr(small_module, "_CHUNK_VALUES", chunk * channels)
    rng = np.random.default_rng(12)
    image = rng.standard_normal((21, 27, channels)).astype(np.float32)
    paired = np.array([1.0, 2, 3, 3, 2, 1])  # three groups of two
    lone = np.array([1.0, 2, 3, 4])  # four lone taps
    kernels = [
        np.outer(paired, lone),  # rank 1: a vertical pass without, a horizontal with lone
        np.outer(lone, paired),
        np.outer([1.0, 4, 6, 4, 1], [1.0, 4, 6, 4, 1]),  # one lone centre, two pairs
        np.array([[1.0, 2, 3], [4, 5, 6]]),  # 2x3: taps, six lone weights
    ]
    for kernel, mode in itertools.product(kernels, MODES):
        assert small_module._recipe(kernel.astype(np.float32)).dense is None
        _small_agrees_with_direct(image, kernel, border=mode, cval=0.5)


def test_small_keeps_taps_where_they_take_fewer_passes():
    # A 4-neighbour Laplacian is 6 grouped operations against 11 passes of the row GEMM.
    laplacian = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], np.float32)
    assert small_module._recipe(laplacian).dense is None
    assert small_module._recipe(np.ones((3, 3), np.float32)).vertical is not None  # rank 1


def test_box_path_is_exact_for_large_8_bit_images():
    image = np.random.default_rng(4).integers(0, 256, (700, 900, 3), dtype=np.uint8)
    box = parse_kernel("box:5").weights
    got = engine.correlate(image, box, strategy="box")
    want = ndi.uniform_filter(image.astype(np.float64), size=(5, 5, 1), mode="reflect")
    np.testing.assert_allclose(got, want, rtol=2e-7, atol=0)


def test_cost_model_picks_box_and_small_where_they_are_the_clear_choice():
    big = engine.make_plan(np.zeros((2160, 3840, 3), np.float32), np.ones((31, 31)))
    assert engine.choose_strategy(big) == "box"
    costs = engine.estimate_costs(big)
    assert costs["box"] < costs["separable"] < costs["strips"]
    tiny = engine.make_plan(np.zeros((128, 128), np.float32), np.ones((3, 3)) / 9)
    assert engine.choose_strategy(tiny) == "small"
    # not a box (one tap differs), or a dilated box: the box path does not apply
    other = np.ones((5, 5))
    other[0, 0] = 2
    assert engine.estimate_costs(engine.make_plan(np.zeros((64, 64)), other))["box"] == np.inf
    dilated = engine.make_plan(np.zeros((64, 64)), np.ones((3, 3)), dilation=2)
    assert engine.estimate_costs(dilated)["box"] == np.inf
    # an image too large for L2: no small path
    assert (
        engine.estimate_costs(engine.make_plan(np.zeros((1080, 1920)), np.ones((3, 3))))["small"]
        == np.inf
    )


@pytest.mark.parametrize("kind", ["2d", "3d", "4d"])
def test_fft_column_tiles_agree_with_direct(monkeypatch, kind):
    # Tiles of ~16 columns on a 70-column image: several tiles, a narrower last one.
    monkeypatch.setattr(fft_module, "_FFT_TILE_COLS", 16)
    rng = np.random.default_rng(5)
    image = rng.standard_normal((29, 70, 3)).astype(np.float32)
    shape = {"2d": (5, 7), "3d": (5, 7, 3), "4d": (3, 5, 3, 2)}[kind]
    kernel = rng.standard_normal(shape)
    for mode, stride, dilation in itertools.product(MODES, [1, (2, 3)], [1, (1, 2)]):
        args = {"border": mode, "stride": stride, "dilation": dilation, "cval": 0.5}
        want = engine.correlate(image, kernel, strategy="direct", **args)
        got = engine.correlate(image, kernel, strategy="fft", **args)
        tol = 2e-6 * np.abs(kernel).sum() * (np.abs(image).max() + 1) * 8
        np.testing.assert_allclose(got, want, rtol=0, atol=tol)
    wf, cols = fft_module._fft_tile(76, 70, 1, 7)
    assert cols < 70 and wf >= (cols - 1) + 7


@pytest.mark.parametrize("mode", ["reflect", "mirror", "nearest", "wrap", "constant", "full"])
def test_row_source_planar_tiles_equal_the_padded_image(mode):
    # The FFT reads its tiles through the row source (no padded copy of the image): every
    # tile, including ones inside the border or wider than the image, equals the padding.
    from convtool.engine.plan import _RowSource, make_plan, pad_image

    image = np.arange(5 * 6 * 2, dtype=np.float32).reshape(5, 6, 2)
    plan = make_plan(image, np.ones((7, 9)), border=mode, cval=-3.0)
    padded = pad_image(plan).transpose(2, 0, 1)
    source = _RowSource(plan)
    height, width = padded.shape[1:]
    for y0, y1, x0, x1 in [(0, height, 0, width), (0, 3, 0, 3), (2, 9, 1, 12), (4, 5, 8, 9),
                           (height - 2, height, width - 3, width), (1, 4, 10, width)]:  # fmt: skip
        dst = np.full((2, height, width), np.nan, np.float32)
        source.fill_planar(dst, y0, y1, x0, x1)
        np.testing.assert_array_equal(dst[:, : y1 - y0, : x1 - x0], padded[:, y0:y1, x0:x1])


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("size", [3, 5, 16, 17])  # 17x17 8-bit sums pass uint16: uint32
@pytest.mark.parametrize("border", ["reflect", "wrap", "constant", "nearest"])
def test_box_on_integer_pixels_sums_integers_and_equals_the_float_path(dtype, size, border):
    from convtool.engine.boxsum import _sum_dtype
    from convtool.engine.plan import make_plan

    rng = np.random.default_rng(size)
    top = np.iinfo(dtype).max
    image = rng.integers(0, top + 1, (23, 29, 3), dtype=dtype)
    image[:3, :3] = top  # the largest sums
    kernel = np.full((size, size), 1.0 / size**2)
    for cval, stride in ((0.0, 1), (7.0, 2), (0.5, 1)):
        args = {"border": border, "cval": cval, "stride": stride}
        plan = make_plan(image, kernel, **args)
        want_kind = "f" if (border == "constant" and cval == 0.5) else "u"
        assert _sum_dtype(plan, size * size).kind == want_kind
        got = engine.correlate(image, kernel, strategy="box", **args)
        want = engine.correlate(image.astype(np.float32), kernel, strategy="box", **args)
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, want)  # integer sums are exact: same bits
        if "image" in vars(plan):  # the float copy is made only when a path asks for it
            raise AssertionError("box converted the integer image to floats")


@pytest.mark.parametrize("strategy", ["separable", "fft", "box", "gemm", "strips", "small"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.bool_])
def test_integer_images_give_the_float_images_result(strategy, dtype):
    # Paths that read rows themselves convert integer pixels as they go (no float copy of the
    # image); every path gives what the same values as float32 give.
    rng = np.random.default_rng(3)
    top = 1 if dtype is np.bool_ else min(1000, np.iinfo(dtype).max)
    image = rng.integers(0, top + 1, (40, 52, 3)).astype(dtype)
    kernel = np.outer([1.0, 4, 6, 4, 1], [1.0, 2, 1]) / 64 if strategy != "box" else np.ones((3, 5))
    for border in ("reflect", "constant", "wrap"):
        got = engine.correlate(image, kernel, strategy=strategy, border=border, cval=2.0)
        want = engine.correlate(image.astype(np.float32), kernel, strategy=strategy,
                                border=border, cval=2.0)  # fmt: skip
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, want)
