"""The engine against hand-computed values, scipy (ndimage, signal), OpenCV, and invariants."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from convtool import EngineError, convolve, correlate
from convtool.engine import BORDER_ALIASES, normalize_border

ndi = pytest.importorskip("scipy.ndimage")
signal = pytest.importorskip("scipy.signal")

PADDED_MODES = ("reflect", "mirror", "nearest", "wrap", "constant")
KERNEL_SHAPES = [(1, 1), (3, 3), (5, 5), (2, 2), (4, 4), (3, 5), (2, 7), (6, 1), (1, 4)]


def rng(seed=0):
    return np.random.default_rng(seed)


# --- the chapter's hand-computed examples ---------------------------------------------------


def test_corr2d_chapter_example():
    X = np.arange(9.0).reshape(3, 3)
    K = np.array([[0.0, 1.0], [2.0, 3.0]])
    np.testing.assert_array_equal(correlate(X, K, border="valid"), [[19, 25], [37, 43]])


def test_corr2d_multi_in_chapter_example():
    X = np.stack([np.arange(9.0).reshape(3, 3), np.arange(1.0, 10.0).reshape(3, 3)], axis=-1)
    K = np.zeros((2, 2, 2, 1))
    K[:, :, 0, 0] = [[0, 1], [2, 3]]
    K[:, :, 1, 0] = [[1, 2], [3, 4]]
    out = correlate(X, K, border="valid")
    assert out.shape == (2, 2, 1)
    np.testing.assert_array_equal(out[:, :, 0], [[56, 72], [104, 120]])


def test_one_by_one_kernel_is_a_per_pixel_dense_layer():
    r = rng(1)
    X = r.random((5, 7, 3))
    W = r.standard_normal((3, 8))
    b = r.standard_normal(8)
    out = correlate(X, W.reshape(1, 1, 3, 8), bias=b)
    dense = X.reshape(-1, 3) @ W + b
    np.testing.assert_allclose(out.reshape(-1, 8), dense, rtol=1e-12)


def test_border_modes_by_hand():
    x = np.array([[1.0, 2.0, 3.0]])
    k = np.array([[1.0, 0.0, 0.0, 0.0, 0.0]])  # reads the sample two to the left
    expected = {
        "reflect": [2, 1, 1],  # 2 1 | 1 2 3
        "mirror": [3, 2, 1],  # 3 2 | 1 2 3
        "nearest": [1, 1, 1],
        "wrap": [2, 3, 1],
        "constant": [9, 9, 1],
    }
    for mode, want in expected.items():
        np.testing.assert_array_equal(correlate(x, k, border=mode, cval=9.0)[0], want, err_msg=mode)
    np.testing.assert_array_equal(correlate(x, k, border="zero", cval=9.0)[0], [0, 0, 1])


def test_aliases_resolve():
    assert normalize_border("reflect101") == ("mirror", False)
    assert normalize_border("REPLICATE") == ("nearest", False)
    assert set(BORDER_ALIASES.values()) <= {"mirror", "nearest", "constant", "wrap", "reflect"}


# --- scipy oracles --------------------------------------------------------------------------


@pytest.mark.parametrize("mode", PADDED_MODES)
@pytest.mark.parametrize("kshape", KERNEL_SHAPES)
def test_correlate_and_convolve_match_scipy(mode, kshape):
    r = rng(hash((mode, kshape)) % 2**32)
    img = r.random((13, 17)).astype(np.float32)
    k = r.standard_normal(kshape).astype(np.float32)
    for ours, theirs in ((correlate, ndi.correlate), (convolve, ndi.convolve)):
        got = ours(img, k, border=mode, cval=0.25)
        want = theirs(img.astype(np.float64), k.astype(np.float64), mode=mode, cval=0.25)
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mode", PADDED_MODES)
def test_kernel_larger_than_image_matches_scipy(mode):
    r = rng(3)
    img = r.random((3, 2))
    k = r.standard_normal((9, 8))
    np.testing.assert_allclose(
        correlate(img, k, border=mode), ndi.correlate(img, k, mode=mode), atol=1e-12
    )


@pytest.mark.parametrize("kshape", KERNEL_SHAPES)
def test_valid_is_the_interior_of_any_padded_result(kshape):
    r = rng(4)
    img = r.random((11, 12))
    k = r.standard_normal(kshape)
    kh, kw = kshape
    ref = ndi.correlate(img, k, mode="constant")
    got = correlate(img, k, border="valid")
    assert got.shape == (11 - kh + 1, 12 - kw + 1)
    np.testing.assert_allclose(
        got, ref[kh // 2 : kh // 2 + got.shape[0], kw // 2 : kw // 2 + got.shape[1]]
    )


@pytest.mark.parametrize("kshape", KERNEL_SHAPES)
def test_full_matches_scipy_signal(kshape):
    r = rng(5)
    img = r.random((9, 10))
    k = r.standard_normal(kshape)
    np.testing.assert_allclose(convolve(img, k, border="full"), signal.convolve2d(img, k, "full"))
    np.testing.assert_allclose(correlate(img, k, border="full"), signal.correlate2d(img, k, "full"))


@pytest.mark.parametrize("mode", PADDED_MODES)
def test_colour_image_with_2d_kernel_filters_each_channel(mode):
    r = rng(6)
    img = r.random((10, 9, 3)).astype(np.float32)
    k = r.standard_normal((4, 3))
    got = correlate(img, k, border=mode)
    for c in range(3):
        np.testing.assert_allclose(
            got[:, :, c], ndi.correlate(img[:, :, c], k, mode=mode), atol=1e-5
        )


def test_depthwise_3d_kernel_uses_one_kernel_per_channel():
    r = rng(7)
    img = r.random((8, 9, 3))
    k = r.standard_normal((3, 2, 3))
    got = convolve(img, k, border="nearest")
    for c in range(3):
        np.testing.assert_allclose(
            got[:, :, c], ndi.convolve(img[:, :, c], k[:, :, c], mode="nearest")
        )


@pytest.mark.parametrize("mode", [*PADDED_MODES, "valid"])
def test_4d_kernel_sums_over_input_channels(mode):
    r = rng(8)
    img = r.random((9, 8, 3))
    k = r.standard_normal((3, 4, 3, 2))
    bias = np.array([0.5, -1.0])
    got = correlate(img, k, border=mode, bias=bias)
    for d in range(2):
        want = (
            sum(
                ndi.correlate(
                    img[:, :, c], k[:, :, c, d], mode="constant" if mode == "valid" else mode
                )
                for c in range(3)
            )
            + bias[d]
        )
        if mode == "valid":
            want = want[1 : 1 + got.shape[0], 2 : 2 + got.shape[1]]
        np.testing.assert_allclose(got[:, :, d], want, atol=1e-12)


def test_gray_image_with_4d_kernel():
    img = np.arange(12.0).reshape(3, 4)
    k = np.ones((1, 1, 1, 2))
    k[..., 1] = 2.0
    out = correlate(img, k)
    assert out.shape == (3, 4, 2)
    np.testing.assert_array_equal(out[:, :, 1], 2 * img)


# --- stride and dilation ---------------------------------------------------------------------


@pytest.mark.parametrize("mode", [*PADDED_MODES, "valid", "full"])
@pytest.mark.parametrize("stride", [1, 2, 3, (2, 1)])
def test_stride_keeps_every_nth_output(mode, stride):
    r = rng(9)
    img = r.random((12, 11, 2))
    k = r.standard_normal((3, 4))
    sy, sx = (stride, stride) if isinstance(stride, int) else stride
    dense = correlate(img, k, border=mode)
    np.testing.assert_allclose(correlate(img, k, border=mode, stride=stride), dense[::sy, ::sx])


@pytest.mark.parametrize("mode", [*PADDED_MODES, "valid"])
@pytest.mark.parametrize("kshape", [(3, 3), (2, 3)])
@pytest.mark.parametrize("dilation", [2, 3])
def test_dilation_equals_a_kernel_with_holes(mode, kshape, dilation):
    r = rng(10)
    img = r.random((15, 16))
    k = r.standard_normal(kshape)
    kh, kw = kshape
    holes = np.zeros(((kh - 1) * dilation + 1, (kw - 1) * dilation + 1))
    holes[::dilation, ::dilation] = k
    got = correlate(img, k, border=mode, dilation=dilation)
    if mode == "valid":
        want = correlate(img, holes, border="valid")
    else:
        # scipy anchors the holed kernel at its own centre; ours sits on tap kh//2 of k.
        origin = tuple(
            (s // 2) * dilation - (e // 2) for s, e in zip(kshape, holes.shape, strict=True)
        )
        want = ndi.correlate(img, holes, mode=mode, origin=origin)
    np.testing.assert_allclose(got, want, atol=1e-12)


# --- OpenCV oracle for 8-bit output ----------------------------------------------------------


@pytest.mark.parametrize("kshape", [(3, 3), (5, 5), (4, 4), (3, 6)])
def test_uint8_matches_opencv_filter2d_within_one_level(kshape):
    cv2 = pytest.importorskip("cv2")
    r = rng(11)
    img = r.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    k = r.standard_normal(kshape).astype(np.float32) / 2
    theirs = cv2.filter2D(img, -1, k, borderType=cv2.BORDER_REFLECT_101)
    ours = np.clip(np.rint(correlate(img, k, border="mirror")), 0, 255).astype(np.uint8)
    assert np.abs(ours.astype(int) - theirs.astype(int)).max() <= 1
    for border, cvb in (("reflect", cv2.BORDER_REFLECT), ("nearest", cv2.BORDER_REPLICATE)):
        theirs = cv2.filter2D(img, -1, k, borderType=cvb)
        ours = np.clip(np.rint(correlate(img, k, border=border)), 0, 255).astype(np.uint8)
        assert np.abs(ours.astype(int) - theirs.astype(int)).max() <= 1, border


# --- dtypes and errors -----------------------------------------------------------------------


def test_output_dtypes():
    k = np.ones((3, 3))
    assert correlate(np.zeros((4, 4), np.uint8), k).dtype == np.float32
    assert correlate(np.zeros((4, 4), np.uint16), k).dtype == np.float32
    assert correlate(np.zeros((4, 4), np.float32), k).dtype == np.float32
    assert correlate(np.zeros((4, 4), np.float64), k).dtype == np.float64


def test_inputs_are_not_modified():
    img = np.arange(20.0).reshape(4, 5)
    k = np.ones((2, 3))
    before_img, before_k = img.copy(), k.copy()
    correlate(img, k, bias=1.0, border="wrap")
    convolve(img, k, border="constant", cval=3)
    np.testing.assert_array_equal(img, before_img)
    np.testing.assert_array_equal(k, before_k)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kernel": np.ones((5, 5)), "border": "valid"}, "larger than the image"),
        ({"kernel": np.ones((3, 3)), "border": "bogus"}, "unknown border mode 'bogus'"),
        ({"kernel": np.ones((3, 3, 2))}, "one 2-D kernel per channel"),
        ({"kernel": np.ones((3, 3, 2, 1))}, "expects 2 input channel(s), image has 3"),
        ({"kernel": np.array([[np.nan]])}, "NaN or infinite"),
        ({"kernel": np.ones(3)}, "kernel must be 2-D, 3-D or 4-D"),
        ({"kernel": np.ones((3, 3)), "stride": 0}, "stride must be at least 1"),
        ({"kernel": np.ones((3, 3)), "dilation": -1}, "dilation must be at least 1"),
        ({"kernel": np.ones((3, 3)), "bias": [1.0, 2.0]}, "one value per output channel"),
        (
            {"kernel": np.array([[1, "x"]], dtype=object)},
            "kernel must be numeric, got dtype object",
        ),
        ({"kernel": np.array([["1"]])}, "kernel must be numeric, got dtype <U1"),
    ],
)
def test_errors(kwargs, message):
    img = np.zeros((4, 4, 3))
    with pytest.raises(EngineError, match=message.replace("(", r"\(").replace(")", r"\)")):
        correlate(img, **kwargs)


@pytest.mark.parametrize(
    "bias", [0, 0.0, False, 2, 2.5, np.float32(2.5), np.array([2.5]), [0, 1, 2]]
)
def test_bias_of_every_form_is_added(bias):
    img = np.arange(12.0).reshape(2, 2, 3)
    got = correlate(img, np.ones((1, 1)), bias=bias)
    np.testing.assert_array_equal(got, img + np.asarray(bias, dtype=np.float64))


def test_image_shape_errors():
    with pytest.raises(EngineError, match="image must be 2-D"):
        correlate(np.zeros(5), np.ones((1, 1)))
    # An empty image gives an empty output (scipy.ndimage's rule, tests/test_parity.py).
    assert correlate(np.zeros((0, 3)), np.ones((1, 1))).shape == (0, 3)


# --- invariants (hypothesis) -----------------------------------------------------------------

small_images = arrays(
    np.float64,
    st.tuples(st.integers(1, 9), st.integers(1, 9)),
    elements=st.floats(-10, 10, allow_nan=False, width=64),
)
small_kernels = arrays(
    np.float64,
    st.tuples(st.integers(1, 5), st.integers(1, 5)),
    elements=st.floats(-3, 3, allow_nan=False, width=64),
)
modes = st.sampled_from(PADDED_MODES)


@settings(max_examples=60, deadline=None)
@given(small_images, small_kernels, modes, st.floats(-2, 2), st.floats(-2, 2))
def test_linearity(x, k, mode, a, b):
    y = np.flip(x) + 1.0
    lhs = correlate(a * x + b * y, k, border=mode)
    rhs = a * correlate(x, k, border=mode) + b * correlate(y, k, border=mode)
    np.testing.assert_allclose(lhs, rhs, atol=1e-9 * (1 + np.abs(rhs).max()))


@settings(max_examples=60, deadline=None)
@given(small_images, small_kernels, st.integers(-5, 5), st.integers(-5, 5))
def test_shift_equivariance_under_wrap(x, k, dy, dx):
    shifted = correlate(np.roll(x, (dy, dx), axis=(0, 1)), k, border="wrap")
    np.testing.assert_allclose(
        shifted, np.roll(correlate(x, k, border="wrap"), (dy, dx), axis=(0, 1)), atol=1e-9
    )


@settings(max_examples=60, deadline=None)
@given(small_images, st.integers(1, 5), st.integers(1, 5), modes, st.booleans())
def test_identity_kernel(x, kh, kw, mode, flip):
    k = np.zeros((kh, kw))
    # The anchor is tap (kh // 2, kw // 2) of the kernel as given, for both operations.
    k[kh // 2, kw // 2] = 1.0
    out = (convolve if flip else correlate)(x, k, border=mode)
    np.testing.assert_array_equal(out, x)


@settings(max_examples=60, deadline=None)
@given(small_images, small_kernels)
def test_full_convolution_is_commutative(a, b):
    np.testing.assert_allclose(
        convolve(a, b, border="full"),
        convolve(b, a, border="full"),
        atol=1e-9 * (1 + np.abs(a).max() * np.abs(b).sum()),
    )


@settings(max_examples=40, deadline=None)
@given(small_images, small_kernels, modes)
def test_convolution_is_correlation_with_the_flipped_kernel_for_odd_sizes(x, k, mode):
    if k.shape[0] % 2 == 0 or k.shape[1] % 2 == 0:
        k = np.pad(k, ((0, 1 - k.shape[0] % 2), (0, 1 - k.shape[1] % 2)))
    np.testing.assert_allclose(
        convolve(x, k, border=mode), correlate(x, k[::-1, ::-1], border=mode)
    )


@pytest.mark.parametrize("strategy", ["gemm", "separable", "small"])
def test_blas_threads_outside_do_not_change_the_result(strategy, monkeypatch):
    # The engine holds OpenBLAS to one thread while a strategy runs: its own threads spun
    # beside the engine's (a batch ran ~5x slower on 2 busy cores) and changed the last bit.
    from convtool import _blas
    from convtool.engine import run

    api = _blas._api()
    if api is None:
        pytest.skip("no OpenBLAS found in this process")
    get, _ = api
    seen = []
    inner = run.STRATEGIES[strategy]
    monkeypatch.setitem(run.STRATEGIES, strategy, lambda plan: (seen.append(get()), inner(plan))[1])
    rng = np.random.default_rng(3)
    image = rng.random((300, 400, 3), dtype=np.float32)
    kernel = np.outer(*rng.random((2, 7)))  # separable, for every strategy here
    before = get()
    results = []
    for count in (1, 2, before):
        _blas.set_blas_threads(count)
        results.append(correlate(image, kernel, strategy=strategy))
        assert get() == count  # as it was after the call
    _blas.set_blas_threads(before)
    assert seen == [1, 1, 1]
    assert all(np.array_equal(results[0], r) for r in results[1:])


def test_threads_looking_up_openblas_at_once_all_get_it(monkeypatch):
    """The lookup is done once, under a lock: a thread that saw it half done ran its GEMMs
    outside single_threaded_blas, and a filter's last bit then depended on timing."""
    import threading
    import time

    from convtool import _blas

    calls = []

    def slow_find():
        calls.append(1)
        time.sleep(0.05)
        return ("get", "set")

    monkeypatch.setitem(_blas._state, "api", None)
    monkeypatch.setattr(_blas, "_find", slow_find)
    start, seen = threading.Barrier(4), []

    def look() -> None:
        start.wait()
        seen.append(_blas._api())

    threads = [threading.Thread(target=look) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == [("get", "set")] * 4 and len(calls) == 1
