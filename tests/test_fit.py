"""Kernel fitting: known kernels recovered from a real photo, residuals against an explicitly
built design matrix solved by numpy.linalg.lstsq, conditioning warnings, named-kernel reports."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from convtool.chain.memory import FilterOptions, apply_chain
from convtool.engine import correlate
from convtool.fit import COND_WARN, FitError, closest_named, fit_kernel
from convtool.kernels import parse_kernel

ROOT = Path(__file__).resolve().parents[1]
SCENE = ROOT / "samples" / "waldo-scene.png"


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """The sample photo, RGB float32 in 0..1 (exactly representable 8-bit values)."""
    return np.asarray(Image.open(SCENE).convert("RGB"), dtype=np.float32) / 255


def quantize(a: np.ndarray) -> np.ndarray:
    return (np.round(np.clip(a, 0.0, 1.0) * 255) / 255).astype(np.float32)


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def positive_kernel(shape, total: float, seed: int) -> np.ndarray:
    """Random non-negative weights summing to ``total`` over all but the last axis of a 4-D
    kernel (per output channel) or over the whole 2-D kernel / each depthwise slice: outputs of
    0..1 inputs stay within 0..1, so 8-bit targets are never clipped."""
    k = rng(seed).random(shape) + 0.05
    axes = (0, 1, 2) if k.ndim == 4 else (0, 1)
    return k / k.sum(axis=axes, keepdims=True) * total


# --- recovering known kernels from the photo --------------------------------------------------

CASES = {
    # name: (kernel shape, channels option, bias, target channels)
    "shared": ((5, 5), "shared", False),
    "depthwise": ((3, 5, 3), "depthwise", False),
    "mixing+bias": ((3, 3, 3, 3), "mixing", True),
    "rgb->grey": ((5, 5, 3, 1), "auto", False),
}


@pytest.mark.parametrize("case", CASES)
def test_recovers_random_kernel_from_float_photo(photo, case):
    shape, channels, with_bias = CASES[case]
    k = rng(1).standard_normal(shape)
    b = rng(2).standard_normal(shape[-1]) if with_bias else 0.0
    target = correlate(photo, k, bias=b)
    fit = fit_kernel(photo, target, shape[:2], channels=channels, bias=with_bias)
    assert fit.weights.shape == k.shape
    np.testing.assert_allclose(fit.weights, k, atol=1e-4)
    if with_bias:
        np.testing.assert_allclose(fit.bias, b, atol=1e-4)
    else:
        assert fit.bias is None
    assert fit.rmse < 1e-5 and fit.r2 > 1 - 1e-9
    assert not fit.ill_conditioned
    if case == "rgb->grey":
        assert fit.channels == "mixing"


@pytest.mark.parametrize("case", CASES)
def test_recovers_kernel_from_8bit_photo(photo, case):
    shape, channels, with_bias = CASES[case]
    k = positive_kernel(shape, 0.8 if with_bias else 1.0, seed=3)
    b = np.full(shape[-1], 0.1) if with_bias else 0.0
    x8 = quantize(photo)  # already 8-bit values; quantize() keeps them
    target8 = quantize(correlate(x8, k, bias=b))
    fit = fit_kernel(x8, target8, shape[:2], channels=channels, bias=with_bias)
    np.testing.assert_allclose(fit.weights, k, atol=1e-2)
    if with_bias:
        np.testing.assert_allclose(fit.bias, b, atol=1e-2)
    # 8-bit rounding alone: uniform error of one level has RMS 1/255/sqrt(12) = 0.00113.
    assert fit.rmse < 0.0015


@pytest.mark.parametrize(
    "border", ["reflect", "mirror", "nearest", "wrap", "constant", "zero", "valid", "full"]
)
@pytest.mark.parametrize("dilation", [1, 2])
def test_every_border_mode_and_dilation_is_recovered_exactly(photo, border, dilation):
    x = photo[:60, :80].astype(np.float64)
    k = rng(4).standard_normal((3, 4, 3, 2))
    target = correlate(x, k, border=border, cval=0.25, dilation=dilation)
    fit = fit_kernel(x, target, (3, 4), border=border, cval=0.25, dilation=dilation)
    np.testing.assert_allclose(fit.weights, k, atol=1e-9)
    assert fit.rmse < 1e-9


def test_valid_border_ignores_target_pixels_whose_windows_cross_the_border(photo):
    grey = photo.mean(axis=2)
    k = rng(5).standard_normal((5, 3))
    target = correlate(grey, k, border="nearest")
    # An unknown border treatment: the target's outer frame is garbage.
    target[:2], target[-2:], target[:, :1], target[:, -1:] = 9.0, -9.0, 5.0, 7.0
    fit = fit_kernel(grey, target, (5, 3), border="valid")
    np.testing.assert_allclose(fit.weights, k, atol=1e-4)
    assert fit.windows == (grey.shape[0] - 4) * (grey.shape[1] - 2)
    assert fit.rmse < 1e-6


# --- clipped targets ---------------------------------------------------------------------------


@pytest.mark.parametrize("channels", ["shared", "depthwise", "mixing"])
def test_limits_leave_out_clipped_target_values(photo, channels):
    k = parse_kernel("sharpen").weights
    x8 = quantize(photo)
    target8 = quantize(correlate(x8, k))  # over- and undershoots clipped to 0 and 1
    clipped = int(np.count_nonzero((target8 <= 0) | (target8 >= 1)))
    plain = fit_kernel(x8, target8, 3, channels=channels)
    assert plain.saturated == clipped > 1000
    fit = fit_kernel(x8, target8, 3, channels=channels, limits=(0.0, 1.0))
    expected = {"shared": k, "depthwise": k[:, :, None], "mixing": k[:, :, None, None] * np.eye(3)}
    np.testing.assert_allclose(
        fit.weights, np.broadcast_to(expected[channels], fit.weights.shape), atol=1e-2
    )
    assert fit.closest is not None and fit.closest.spec == "sharpen"
    if channels == "mixing":  # a pixel is left out when any of its channels is clipped
        assert fit.ignored >= clipped
    else:
        assert fit.ignored == clipped
    # The clipped filter output reproduces the 8-bit target up to its rounding.
    assert fit.rmse < 0.0015 < plain.rmse


def test_limits_that_leave_nothing_are_an_error():
    x = np.random.default_rng(0).random((20, 20))
    with pytest.raises(FitError, match="every target value lies outside the limits"):
        fit_kernel(x, np.ones((20, 20)), 3, limits=(0.0, 1.0))


# --- the stated residual for a kernel of the wrong size ---------------------------------------


def design_matrix(x: np.ndarray, kh: int, kw: int) -> np.ndarray:
    """Rows (pixel, channel), columns (a, b) for border 'reflect', built tap by tap from
    numpy's 'symmetric' padding (dcba|abcd), independently of the engine."""
    top, left = kh // 2, kw // 2
    p = np.pad(x, ((top, kh - 1 - top), (left, kw - 1 - left), (0, 0)), mode="symmetric")
    h, w = x.shape[:2]
    cols = [p[a : a + h, b : b + w].reshape(-1) for a in range(kh) for b in range(kw)]
    return np.stack(cols, axis=1)


def test_wrong_size_kernel_residual_equals_lstsq_on_explicit_design_matrix(photo):
    x = photo[100:150, 200:260].astype(np.float64)
    target = correlate(x, parse_kernel("gaussian:1,2").weights)  # 5x5 blur
    fit = fit_kernel(x, target, 3)  # a 3x3 kernel cannot reproduce it exactly
    a = design_matrix(x, 3, 3)
    y = target.reshape(-1)
    w, res, *_ = np.linalg.lstsq(a, y, rcond=None)
    rmse = np.sqrt(res[0] / y.size)
    assert rmse > 1e-3  # really the wrong size
    np.testing.assert_allclose(fit.weights.reshape(-1), w, atol=1e-8)
    np.testing.assert_allclose(fit.rmse, rmse, rtol=1e-6)
    np.testing.assert_allclose(fit.psnr, -20 * np.log10(rmse), rtol=1e-6)
    np.testing.assert_allclose(fit.r2, 1 - res[0] / np.sum((target - target.mean((0, 1))) ** 2))


def test_wrong_size_mixing_with_bias_matches_lstsq(photo):
    x = photo[40:80, 300:350].astype(np.float64)
    k = rng(6).standard_normal((5, 5, 3, 2))
    target = correlate(x, k, bias=[0.5, -0.25])
    fit = fit_kernel(x, target, 3, channels="mixing", bias=True)
    # Columns (a, b, c) in V[a, b, c, d] order, plus a column of ones for the bias.
    per_channel = [design_matrix(x[:, :, [c]], 3, 3) for c in range(3)]
    a = np.stack(per_channel, axis=2).reshape(x.shape[0] * x.shape[1], 27)
    a = np.hstack([a, np.ones((a.shape[0], 1))])
    y = target.reshape(-1, 2)
    z, res, *_ = np.linalg.lstsq(a, y, rcond=None)
    np.testing.assert_allclose(fit.weights, z[:27].reshape(3, 3, 3, 2), atol=1e-8)
    np.testing.assert_allclose(fit.bias, z[27], atol=1e-8)
    np.testing.assert_allclose(fit.rmse, np.sqrt(res.sum() / y.size), rtol=1e-6)


def test_ridge_matches_augmented_lstsq(photo):
    x = photo[:40, :50].mean(axis=2).astype(np.float64)
    target = correlate(x, parse_kernel("sharpen").weights)
    lam = 0.01
    fit = fit_kernel(x, target, 3, ridge=lam)
    a = design_matrix(x[:, :, None], 3, 3)
    m = a.shape[0]
    # mean squared residual + lam * |w|^2  ==  least squares on [A / sqrt(m); sqrt(lam) I]
    aug = np.vstack([a / np.sqrt(m), np.sqrt(lam) * np.eye(9)])
    rhs = np.r_[target.reshape(-1) / np.sqrt(m), np.zeros(9)]
    w = np.linalg.lstsq(aug, rhs, rcond=None)[0]
    np.testing.assert_allclose(fit.weights.reshape(-1), w, atol=1e-8)
    assert np.sum(fit.weights**2) < np.sum(parse_kernel("sharpen").weights ** 2)


# --- conditioning -----------------------------------------------------------------------------


def test_flat_input_is_flagged_and_still_gives_a_finite_fit():
    flat = np.full((40, 50, 3), 0.4, np.float32)
    fit = fit_kernel(flat, flat * 0.5, 3, bias=True)
    assert fit.ill_conditioned and fit.condition > COND_WARN
    assert np.all(np.isfinite(fit.weights)) and fit.rmse < 1e-6


def test_linear_ramp_is_flagged():
    ramp = np.add.outer(np.arange(40.0), np.arange(50.0)) / 90
    fit = fit_kernel(ramp, ramp, 5, border="valid")
    assert fit.ill_conditioned


@pytest.mark.parametrize("size", [3, 7, 11])
def test_photo_is_not_flagged(photo, size):
    fit = fit_kernel(photo, photo, size, channels="mixing", bias=True)
    assert not fit.ill_conditioned
    assert fit.solver == "cholesky"


# --- closest named kernel ---------------------------------------------------------------------


@pytest.mark.parametrize("spec", ["gaussian:1.5", "box:5", "sobel-x", "sharpen", "box:7,3"])
@pytest.mark.parametrize("depth", ["float", "8bit"])
def test_closest_named_kernel_is_recognized(photo, spec, depth):
    weights = parse_kernel(spec).weights
    x = photo if depth == "float" else quantize(photo)
    if depth == "8bit" and weights.min() < 0:
        # Edge and sharpen responses leave 0..1 and get clipped; stored as floats instead.
        target = correlate(x, weights)
    else:
        target = quantize(correlate(x, weights)) if depth == "8bit" else correlate(x, weights)
    fit = fit_kernel(x, target, weights.shape)
    assert fit.closest is not None
    assert fit.closest.spec == spec
    assert fit.closest.max_diff == pytest.approx(np.abs(fit.weights - weights).max())


def test_closest_named_finds_gaussian_between_grid_points():
    w = parse_kernel("gaussian:1.237,3").weights
    match = closest_named(w)
    assert match is not None and match.spec == "gaussian:1.237,3"
    assert match.max_diff < 1e-12


def test_random_kernel_has_no_named_match(photo):
    k = rng(7).standard_normal((3, 3))
    fit = fit_kernel(photo, correlate(photo, k), 3)
    assert fit.closest is None


def test_depthwise_and_mixing_report_a_kernel_applied_to_every_channel(photo):
    g = parse_kernel("gaussian:1").weights
    fit = fit_kernel(photo, correlate(photo, g), g.shape, channels="depthwise")
    assert fit.closest.spec == "gaussian:1"
    fit = fit_kernel(photo, correlate(photo, g), g.shape, channels="mixing")
    assert fit.closest.spec == "gaussian:1"
    grey = parse_kernel("grayscale:709").weights
    fit = fit_kernel(photo, correlate(photo, grey), 1)
    assert fit.closest.spec == "grayscale:709"


# --- the kernel file --------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_kernel_document_reads_back_and_filter_reproduces_the_target(photo, tmp_path, case):
    shape, channels, _ = CASES[case]
    k = rng(8).standard_normal(shape)
    b = rng(9).standard_normal(shape[3] if len(shape) == 4 else 3)
    target = correlate(photo, k, bias=b)
    fit = fit_kernel(photo, target, shape[:2], channels=channels, bias=True)
    path = tmp_path / "kernel.json"
    path.write_text(json.dumps(fit.kernel_document()))
    kernel = parse_kernel(str(path))
    np.testing.assert_array_equal(kernel.weights, fit.weights)
    out = apply_chain(photo, [kernel], FilterOptions())
    np.testing.assert_allclose(out, target, atol=2e-5)


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x_shape", "y_shape", "kwargs", "message"),
    [
        ((20, 30), (20, 31), {}, "the target is 20x31, but a 3x3 kernel"),
        ((20, 30), (18, 27), {"border": "valid"}, "maps the 20x30 input to 18x28 or 20x30"),
        ((20, 30, 3), (20, 30), {"channels": "shared"}, "input has 3 channel(s) and the target 1"),
        ((20, 30), (20, 30), {"size": 31}, "kernel 31x31 is larger than the 20x30 image"),
        ((20, 30), (20, 30), {"size": 9, "dilation": 3}, "dilated to 25x25"),
        ((20, 30), (20, 30), {"ridge": -1.0}, "ridge must be a finite number >= 0"),
        ((20, 30), (20, 30), {"channels": "dense"}, "unknown channel mode 'dense'"),
        ((20, 30), (20, 30), {"border": "tile"}, "unknown border mode 'tile'"),
        ((20, 30), (20, 30), {"size": 0}, "size must be a positive integer"),
    ],
)
def test_bad_input_raises_fit_error(x_shape, y_shape, kwargs, message):
    kwargs = {"size": 3, **kwargs}
    size = kwargs.pop("size")
    with pytest.raises(FitError, match=message.replace("(", r"\(").replace(")", r"\)")):
        fit_kernel(np.zeros(x_shape), np.zeros(y_shape), size, **kwargs)


def test_nan_in_target_is_rejected():
    y = np.zeros((10, 10))
    y[3, 3] = np.nan
    with pytest.raises(FitError, match="target holds NaN"):
        fit_kernel(np.zeros((10, 10)), y, 3)
