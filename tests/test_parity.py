"""Peer parity (issue 26): origins/anchors, axes, per-axis borders and sigmas, Gaussian
derivatives, float64 sums, empty images, sigma 0 / size 0.

Oracles: scipy.ndimage (correlate, convolve, gaussian_filter with order/sigma/mode per axis and
origin), cv2.filter2D (anchor, borderType) and hand values from scipy's own
``ndimage/tests/test_filters.py`` (ported case by case: ``test_correlate01``-``10``,
``test_bad_convolve_and_correlate_origins``, ``test_multiple_modes_sequentially``,
``test_gaussian_truncate``, ``test_gaussian_radius``, ``test_orders_gauss``, ``test_gauss01``).
"""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from convtool import engine
from convtool.chain.bands import correlate_into
from convtool.cli import cli
from convtool.engine import EngineError, convolve, correlate
from convtool.kernels import KernelError, gaussian_kernel, list_kernels, parse_kernel

ndi = pytest.importorskip("scipy.ndimage")

MODES = ("reflect", "mirror", "nearest", "wrap", "constant")
STRATEGIES = tuple(engine.STRATEGIES)
RNG = np.random.default_rng(26)
IMAGE = RNG.random((19, 23, 3)).astype(np.float32)


def _origins(kh: int, kw: int) -> list[tuple[int, int]]:
    """The corners of scipy's valid range ``-(k // 2) .. (k - 1) // 2`` per axis."""
    return [(-(kh // 2), (kw - 1) // 2), ((kh - 1) // 2, -(kw // 2)), (-(kh // 2), -(kw // 2))]


# --- origins: every border mode and every strategy, against scipy.ndimage ------------------------


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("mode", MODES)
def test_origin_matches_scipy_on_every_mode_and_strategy(strategy, mode):
    for shape in ((3, 3), (4, 5), (2, 1)):
        kernel = RNG.standard_normal(shape)
        for origin in _origins(*shape):
            for fn, ref in ((correlate, ndi.correlate), (convolve, ndi.convolve)):
                got = fn(IMAGE, kernel, border=mode, cval=0.25, origin=origin, strategy=strategy)
                expected = ref(
                    IMAGE.astype(np.float64), kernel[:, :, None], mode=mode, cval=0.25,
                    origin=(*origin, 0),
                )  # fmt: skip
                np.testing.assert_allclose(got, expected, rtol=0, atol=2e-5)


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("mode", MODES)
def test_origin_of_a_box_on_8_bit_pixels(strategy, mode):
    """The box path sums integers itself: its padding must move with the origin too."""
    img = (IMAGE * 255).astype(np.uint8)
    box = np.full((4, 3), 1 / 12)
    for origin in _origins(4, 3):
        got = correlate(img, box, border=mode, cval=7, origin=origin, strategy=strategy)
        expected = ndi.correlate(
            img.astype(np.float64), box[:, :, None], mode=mode, cval=7, origin=(*origin, 0)
        )
        np.testing.assert_allclose(got, expected, atol=1e-4)


def test_origin_through_correlate_into_bands_and_integer_box():
    img = (IMAGE[:, :, 0] * 255).astype(np.uint8)
    box = np.full((3, 3), 1 / 9)
    out = np.empty_like(img)
    correlate_into(img, box, out, border="nearest", origin=(1, -1))
    expected = ndi.correlate(img.astype(np.float64), box, mode="nearest", origin=(1, -1))
    np.testing.assert_array_equal(out, np.round(expected))
    kernel = RNG.standard_normal((5, 4))
    out64 = np.empty(img.shape, np.float64)
    correlate_into(IMAGE[:, :, 0], kernel, out64, border="wrap", origin=(-2, 1), band_rows=4)
    expected = ndi.correlate(IMAGE[:, :, 0].astype(np.float64), kernel, mode="wrap", origin=(-2, 1))
    np.testing.assert_allclose(out64, expected, rtol=1e-12, atol=1e-12)


def test_origin_outside_the_kernel_is_refused():
    """scipy's test_bad_convolve_and_correlate_origins (gh-822), ported."""
    with pytest.raises(EngineError, match="a kernel of 3 taps takes -1 to 1"):
        correlate(np.arange(6.0)[None], np.array([[0.0, 1, 2]]), origin=(0, 2))
    with pytest.raises(EngineError, match="origin 1 \\(columns\\)"):
        correlate(np.ones((3, 5)), np.ones((2, 2)), origin=(0, 1))
    with pytest.raises(EngineError, match="origin -2 \\(columns\\)"):
        convolve(np.arange(10.0)[None], np.ones((1, 3)), origin=(0, -2))
    with pytest.raises(EngineError, match="origin -2 \\(columns\\)"):
        convolve(np.ones((3, 5)), np.ones((2, 2)), origin=(0, -2))
    with pytest.raises(EngineError, match="not 'valid'"):
        correlate(np.ones((3, 5)), np.ones((3, 3)), border="valid", origin=1)
    # scipy accepts the ends of the range (test_valid_origins2): -1 and 1 for 3 taps.
    for o in (-1, 1):
        np.testing.assert_allclose(
            correlate(np.arange(5.0)[None], np.ones((1, 3)) / 3, origin=(0, o)),
            ndi.uniform_filter(np.arange(5.0)[None], (1, 3), origin=(0, o)),
        )


# --- anchors: cv2.filter2D --------------------------------------------------------------------

CV_BORDERS = {"reflect": "BORDER_REFLECT", "mirror": "BORDER_REFLECT_101",
              "nearest": "BORDER_REPLICATE", "constant": "BORDER_CONSTANT"}  # fmt: skip


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("mode", tuple(CV_BORDERS))
def test_anchor_matches_cv2_filter2d(strategy, mode):
    cv2 = pytest.importorskip("cv2")
    kernel = RNG.standard_normal((3, 4)).astype(np.float32)
    kh, kw = kernel.shape
    for ay in range(kh):
        for ax in range(kw):
            origin = (ay - kh // 2, ax - kw // 2)  # the docstring's mapping
            got = correlate(IMAGE, kernel, border=mode, origin=origin, strategy=strategy)
            expected = cv2.filter2D(
                IMAGE, -1, kernel, anchor=(ax, ay), borderType=getattr(cv2, CV_BORDERS[mode])
            )
            np.testing.assert_allclose(got, expected, atol=3e-5)


# --- axes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ("auto", "strips", "fft", "separable"))
def test_axes_filter_a_stack_image_by_image(strategy):
    stack = RNG.random((4, 11, 13, 3)).astype(np.float32)
    kernel = np.outer([1.0, 2, 1], [1.0, 0, -1, 2])
    got = correlate(stack, kernel, axes=(1, 2), border="wrap", origin=(0, 1), strategy=strategy)
    assert got.shape == stack.shape and got.dtype == np.float32
    expected = ndi.correlate(
        stack.astype(np.float64), kernel[None, :, :, None], mode="wrap", origin=(0, 0, 1, 0)
    )
    np.testing.assert_allclose(got, expected, atol=3e-5)
    for n in range(4):  # one call equals N calls
        np.testing.assert_allclose(got[n], correlate(stack[n], kernel, border="wrap",
                                                     origin=(0, 1)), atol=1e-5)  # fmt: skip


def test_axes_order_and_channel_first_layouts():
    stack = RNG.random((3, 10, 12)).astype(np.float32)  # (C, H, W)
    kernel = RNG.standard_normal((3, 2))
    got = correlate(stack, kernel, axes=(-2, -1))
    np.testing.assert_allclose(
        got, ndi.correlate(stack.astype(np.float64), kernel[None]), atol=2e-5
    )
    # Swapped axes: the kernel's rows run along the image's columns.
    got = correlate(stack, kernel, axes=(2, 1))
    np.testing.assert_allclose(
        got, ndi.correlate(stack.astype(np.float64), kernel.T[None]), atol=2e-5
    )
    # A depthwise kernel (kh, kw, C) with the channel axis first.
    depthwise = RNG.standard_normal((3, 3, 3))
    got = correlate(stack, depthwise, axes=(1, 2), border="nearest")
    for c in range(3):
        expected = ndi.correlate(stack[c].astype(np.float64), depthwise[:, :, c], mode="nearest")
        np.testing.assert_allclose(got[c], expected, atol=2e-5)


def test_axes_errors():
    with pytest.raises(EngineError, match="axes must be two different axes"):
        correlate(np.ones((3, 4, 5)), np.ones((3, 3)), axes=(1, 1))
    with pytest.raises(EngineError, match="out of range"):
        correlate(np.ones((3, 4, 5)), np.ones((3, 3)), axes=(0, 3))
    with pytest.raises(EngineError, match="needs exactly one channel axis"):
        correlate(np.ones((2, 3, 4, 5)), np.ones((3, 3, 5)), axes=(1, 2))


# --- per-axis borders and sigmas ----------------------------------------------------------------


@pytest.mark.parametrize("mode_y", MODES)
@pytest.mark.parametrize("mode_x", MODES)
def test_per_axis_modes_and_sigmas_match_gaussian_filter(mode_y, mode_x):
    img = RNG.random((17, 21))
    sigma = (0.8, 1.7)
    got = correlate(img, gaussian_kernel(sigma), border=(mode_y, mode_x))
    expected = ndi.gaussian_filter(img, sigma, mode=(mode_y, mode_x))
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_per_axis_modes_with_origins_on_every_strategy(strategy):
    """Sequential 1-D passes (scipy's definition of per-axis modes) as the oracle."""
    col, row = RNG.standard_normal(4), RNG.standard_normal(5)
    img = IMAGE[:, :, 0].astype(np.float64)
    for mode_y, mode_x in (("wrap", "nearest"), ("constant", "mirror"), ("reflect", "constant")):
        got = correlate(img, np.outer(col, row), border=(mode_y, mode_x), origin=(1, -2),
                        strategy=strategy)  # fmt: skip
        expected = ndi.correlate1d(img, col, axis=0, mode=mode_y, origin=1)
        expected = ndi.correlate1d(expected, row, axis=1, mode=mode_x, origin=-2)
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_multiple_modes_sequentially():
    """scipy's test_multiple_modes_sequentially, ported (gaussian and uniform)."""
    arr = np.array([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    modes = ("reflect", "wrap")
    expected = ndi.gaussian_filter1d(arr, 1, axis=0, mode=modes[0])
    expected = ndi.gaussian_filter1d(expected, 1, axis=1, mode=modes[1])
    np.testing.assert_allclose(correlate(arr, gaussian_kernel(1.0), border=modes), expected,
                               rtol=1e-12)  # fmt: skip
    expected = ndi.uniform_filter1d(arr, 5, axis=0, mode=modes[0])
    expected = ndi.uniform_filter1d(expected, 5, axis=1, mode=modes[1])
    got = correlate(arr, parse_kernel("box:5").weights, border=modes)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_border_pair_errors():
    with pytest.raises(EngineError, match="'full' applies to both axes"):
        correlate(np.ones((4, 4)), np.ones((3, 3)), border=("full", "wrap"))
    with pytest.raises(EngineError, match="unknown border mode 'bogus'"):
        correlate(np.ones((4, 4)), np.ones((3, 3)), border=("wrap", "bogus"))
    with pytest.raises(EngineError, match="pair of them"):
        correlate(np.ones((4, 4)), np.ones((3, 3)), border=("wrap", "wrap", "wrap"))
    # 'valid' on one axis only: that axis shrinks.
    assert correlate(np.ones((6, 7)), np.ones((3, 3)), border=("valid", "wrap")).shape == (4, 7)


# --- Gaussian derivatives -----------------------------------------------------------------------

ORDERS = [(0, 1), (1, 0), (0, 2), (2, 0), (1, 1), (0, 3), (3, 0), (2, 1), (3, 3)]


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("mode", MODES)
def test_derivative_orders_match_gaussian_filter(order, mode):
    img = RNG.random((20, 24))
    for sigma in (1.0, (0.7, 1.6)):
        got = correlate(img, gaussian_kernel(sigma, order=order), border=mode, cval=0.0)
        expected = ndi.gaussian_filter(img, sigma, order=order, mode=mode)
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12 * np.abs(expected).max())


@pytest.mark.parametrize(
    ("spec", "sigma", "order"),
    [("gaussian-dx:1.5", 1.5, (0, 1)), ("gaussian-dy:1:2", (1, 2), (1, 0)),
     ("gaussian-dxx:2", 2, (0, 2)), ("gaussian-dyy:0.8", 0.8, (2, 0)),
     ("gaussian-dxy:1.2:0.9", (1.2, 0.9), (1, 1)), ("gaussian-dxxx:1", 1, (0, 3)),
     ("gaussian-dyyy:1.3", 1.3, (3, 0)), ("gaussian-dx:0:1", (0, 1), (0, 1))],
)  # fmt: skip
def test_named_derivative_kernels_match_scipy(spec, sigma, order):
    img = RNG.random((25, 27))
    got = correlate(img, parse_kernel(spec).weights, border="nearest")
    expected = ndi.gaussian_filter(img, sigma, order=order, mode="nearest")
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-13)


def test_derivative_signs_and_radius_rule():
    ramp = np.tile(np.arange(30.0), (9, 1))
    dx = correlate(ramp, parse_kernel("gaussian-dx:1").weights, border="nearest")
    np.testing.assert_allclose(dx[:, 8:-8], 1.0, atol=1e-3)  # grows to the right: +1
    dy = correlate(ramp.T, parse_kernel("gaussian-dy:1").weights, border="nearest")
    np.testing.assert_allclose(dy[8:-8], 1.0, atol=1e-3)
    # scipy's radius int(4 * sigma + 0.5): 1.6 -> 6, 0.5 -> 2 (test_gaussian_radius).
    assert parse_kernel("gaussian-dxx:0.5:1.6").weights.shape == (5, 13)
    assert parse_kernel("gaussian-dx:1,2:3").weights.shape == (5, 7)


def test_gaussian_truncate_and_radius_ports():
    """scipy's test_gaussian_truncate / test_gaussian_radius: the support of the kernel."""
    arr = np.zeros((60, 60))
    arr[30, 30] = 1
    assert np.count_nonzero(correlate(arr, gaussian_kernel(5.0, truncate=2)) > 0) == 21**2
    f = correlate(arr, gaussian_kernel((0.5, 2.5), truncate=3.5))
    assert np.count_nonzero(np.any(f > 0, axis=0)) == 19
    assert np.count_nonzero(np.any(f > 0, axis=1)) == 5
    a = np.zeros((9, 9))
    a[4, 4] = 1
    np.testing.assert_allclose(
        correlate(a, gaussian_kernel(0.5, radius=2)),
        ndi.gaussian_filter(a, 0.5, truncate=3.5),
        rtol=1e-12,
    )


def test_orders_gauss_port_and_errors():
    """scipy's test_orders_gauss: a one-pixel image stays 0 for orders 0 and 3."""
    arr = np.zeros((1, 1))
    for order in (0, 3):
        np.testing.assert_array_equal(correlate(arr, gaussian_kernel(1.0, order=order)), 0.0)
    with pytest.raises(KernelError, match="order must be 0, 1, 2 or 3, got -1"):
        gaussian_kernel(1.0, order=-1)
    with pytest.raises(KernelError, match="gaussian-dx: a Gaussian derivative needs sigma > 0"):
        parse_kernel("gaussian-dx:1:0")


def test_derivatives_are_listed_by_convtool_kernels():
    names = {k.name: k for k in list_kernels()}
    for suffix in ("dx", "dy", "dxx", "dyy", "dxy", "dxxx", "dyyy"):
        assert names[f"gaussian-{suffix}"].params == "SIGMA[,RADIUS]"
    result = CliRunner().invoke(cli, ["kernels"], env={"COLUMNS": "250"})
    assert result.exit_code == 0 and "gaussian-dxy" in result.stdout


# --- sigma 0 and size 0 -------------------------------------------------------------------------


def test_sigma_zero_and_size_zero_are_identity_along_that_axis():
    img = RNG.random((12, 15))
    # scipy's test_gauss01: sigma 0 returns the input.
    np.testing.assert_array_equal(correlate(img, parse_kernel("gaussian:0").weights), img)
    assert parse_kernel("gaussian:0").weights.shape == (1, 1)
    # gaussian:0:2 smooths the columns only; convtool's plain gaussian radius is ceil(3*sigma).
    got = correlate(img, parse_kernel("gaussian:0:2").weights)
    np.testing.assert_allclose(got, ndi.gaussian_filter(img, (0, 2), radius=(0, 6)), rtol=1e-12)
    got = correlate(img, parse_kernel("gaussian:1.5:0").weights, border="wrap")
    np.testing.assert_allclose(
        got, ndi.gaussian_filter(img, (1.5, 0), radius=(5, 0), mode="wrap"), rtol=1e-12
    )
    # box:W,H with W = 0: uniform_filter size 0 along the columns (no filtering).
    got = correlate(img, parse_kernel("box:0,3").weights, border="mirror")
    np.testing.assert_allclose(got, ndi.uniform_filter(img, (3, 0), mode="mirror"), rtol=1e-12)
    np.testing.assert_array_equal(correlate(img, parse_kernel("box:0").weights), img)


# --- float64 sums -------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_float64_precision_matches_scipy_to_1e_12(strategy):
    img = RNG.random((40, 37, 2)).astype(np.float32)
    kernel = RNG.standard_normal((5, 6))
    got = correlate(img, kernel, precision="float64", strategy=strategy, origin=(1, -2))
    assert got.dtype == np.float64
    expected = ndi.correlate(img.astype(np.float64), kernel[:, :, None], origin=(1, -2, 0))
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max())
    box = correlate((img * 255).astype(np.uint8), np.ones((3, 3)) / 9, precision="float64",
                    strategy=strategy)  # fmt: skip
    assert box.dtype == np.float64


def test_float32_into_float64_out_computes_in_float64():
    """The issue's case: 100x100 float32 filtered into a float64 out missed scipy's 1.5e-6 on a
    third of the values; float64 sums agree to 1e-12."""
    img = RNG.random((100, 100)).astype(np.float32)
    kernel = RNG.random((7, 7))
    out = np.empty(img.shape, np.float64)
    correlate_into(img, kernel, out)
    expected = ndi.correlate(img, kernel, output=np.float64)
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    # Asked for float32, it stays float32 (and so misses 1e-12).
    out32 = correlate(img, kernel, precision="float32")
    assert out32.dtype == np.float32 and np.abs(out32 - expected).max() > 1e-9


def test_precision_errors():
    with pytest.raises(EngineError, match="precision must be float32 or float64, got 'float16'"):
        correlate(np.ones((3, 3)), np.ones((1, 1)), precision="float16")


# --- empty images -------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(1, 0), (0, 5), (0, 0), (0, 4, 3), (3, 0, 2)])
@pytest.mark.parametrize("mode", MODES)
def test_empty_images_give_empty_outputs(shape, mode):
    """scipy's test_correlate09/10: correlate and convolve of an empty array are empty."""
    img = np.zeros(shape, np.float32)
    for fn, ref in ((correlate, ndi.correlate), (convolve, ndi.convolve)):
        got = fn(img, np.ones((2, 3)), border=mode)
        weights = np.ones((2, 3)) if len(shape) == 2 else np.ones((2, 3, 1))
        assert got.shape == ref(img, weights, mode=mode).shape == shape
    mixing = correlate(np.zeros((0, 4, 3)), np.ones((3, 3, 3, 2)))
    assert mixing.shape == (0, 4, 2)
    stack = correlate(np.zeros((2, 0, 5, 3)), np.ones((3, 3)), axes=(1, 2))
    assert stack.shape == (2, 0, 5, 3)


# --- scipy's hand values (test_correlate01-08), as one-row images --------------------------------


@pytest.mark.parametrize(
    ("array", "weights", "tcor", "tcov"),
    [([1, 2], [2], [2, 4], [2, 4]), ([1, 2, 3], [1], [1, 2, 3], [1, 2, 3]),
     ([1], [1, 1], [2], [2]), ([1, 2], [1, 1], [2, 3], [3, 4]),
     ([1, 2, 3], [1, 1], [2, 3, 5], [3, 5, 6]), ([1, 2, 3], [1, 2, 3], [9, 14, 17], [7, 10, 15]),
     ([1, 2, 3], [1, 2, 1], [5, 8, 11], [5, 8, 11]), ([1, 2, 3], [1, 2, -1], [1, 2, 5], [3, 6, 7])],
)  # fmt: skip
def test_scipy_correlate_hand_values(array, weights, tcor, tcov):
    img = np.array([array], np.float64)
    k = np.array([weights], np.float64)
    np.testing.assert_array_equal(correlate(img, k), [tcor])
    np.testing.assert_array_equal(convolve(img, k), [tcov])
    # The same along the rows, with axes swapped.
    np.testing.assert_array_equal(correlate(img.T, k, axes=(1, 0)), np.array([tcor]).T)


# --- CLI: --anchor and --precision --------------------------------------------------------------


def _run(args):
    return CliRunner().invoke(cli, ["filter", *args], catch_exceptions=False)


def test_cli_anchor_matches_cv2(tmp_path):
    cv2 = pytest.importorskip("cv2")
    img = RNG.random((14, 17)).astype(np.float32)
    np.save(tmp_path / "in.npy", img)
    kernel = np.array([[1.0, 2, 0, 0], [0, 3, 0, 1], [0, 0, 0, -1]], np.float32)
    np.savetxt(tmp_path / "k.txt", kernel)
    for ay, ax in ((0, 0), (2, 3), (1, -1), (-1, -1)):
        out = tmp_path / f"out{ay}{ax}.npy"
        result = _run([str(tmp_path / "in.npy"), "-k", str(tmp_path / "k.txt"), "--anchor",
                       f"{ay},{ax}", "--border", "reflect101", "-o", str(out)])  # fmt: skip
        assert result.exit_code == 0, result.output
        expected = cv2.filter2D(img, -1, kernel, anchor=(ax, ay), borderType=cv2.BORDER_REFLECT_101)
        np.testing.assert_allclose(np.load(out), expected, atol=2e-5)


def test_cli_anchor_with_convolve_is_a_tap_of_the_kernel_as_given(tmp_path):
    img = RNG.random((10, 12)).astype(np.float32)
    np.save(tmp_path / "in.npy", img)
    kernel = RNG.standard_normal((3, 4))
    np.savetxt(tmp_path / "k.txt", kernel)
    out = tmp_path / "out.npy"
    result = _run([str(tmp_path / "in.npy"), "-k", str(tmp_path / "k.txt"), "--convolve",
                   "--anchor", "0,3", "-o", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    # anchor = k // 2 + origin for convolve too: origin (0 - 1, 3 - 2).
    expected = ndi.convolve(img.astype(np.float64), kernel, origin=(-1, 1))
    np.testing.assert_allclose(np.load(out), expected, atol=2e-5)


def test_cli_precision_float64(tmp_path):
    img = RNG.random((30, 31)).astype(np.float32)
    np.save(tmp_path / "in.npy", img)
    out = tmp_path / "out.npy"
    result = _run([str(tmp_path / "in.npy"), "-k", "gaussian-dxy:1.5", "--precision", "float64",
                   "--border", "wrap", "-o", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    got = np.load(out)
    assert got.dtype == np.float64
    expected = ndi.gaussian_filter(img.astype(np.float64), 1.5, order=(1, 1), mode="wrap")
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-13)
    default = tmp_path / "default.npy"
    assert _run([str(tmp_path / "in.npy"), "-k", "box:3", "-o", str(default)]).exit_code == 0
    assert np.load(default).dtype == np.float32


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--anchor", "1"], "--anchor must be two integers Y,X (-1 for the centre), got '1'"),
     (["--anchor", "a,b"], "--anchor must be two integers Y,X (-1 for the centre), got 'a,b'"),
     (["--anchor", "-2,0"], "--anchor must be two integers Y,X (-1 for the centre), got '-2,0'"),
     (["--anchor", "3,0"],
      "--anchor 3,0 lies outside box:3 (3x3): each must be -1 (the centre) or a tap index from 0"),
     (["--anchor", "0,0", "--border", "valid"],
      "origin needs a padding border mode, not 'valid' (rows)")],
)  # fmt: skip
def test_cli_anchor_errors(tmp_path, args, message):
    np.save(tmp_path / "in.npy", np.zeros((8, 8), np.float32))
    result = CliRunner().invoke(
        cli, ["filter", str(tmp_path / "in.npy"), "-k", "box:3", *args, "-o",
              str(tmp_path / "o.npy")],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert result.stderr == f"Error: {message}\n"
    assert not (tmp_path / "o.npy").exists()
