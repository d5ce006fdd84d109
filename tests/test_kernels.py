"""Kernel library and ``convtool kernels``.

Oracles: OpenCV (Sobel, Scharr, Laplacian, blur, boxFilter), scipy.ndimage (Gaussian, LoG, DoG,
unsharp by its definition), scikit-image (Prewitt), Pillow (FIND_EDGES, convert("L")), and values
computed by hand in the comments.
"""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image, ImageFilter
from scipy import ndimage as ndi
from skimage import filters as skf

from convtool import cli as cli_module
from convtool import convolve, correlate
from convtool.chain.memory import FilterOptions, apply_chain
from convtool.cli import cli
from convtool.kernels import (
    Kernel,
    KernelError,
    Magnitude,
    list_kernels,
    parse_kernel,
    separable_factors,
)

RNG = np.random.default_rng(20240607)
IMG = RNG.random((23, 31))  # float64: the engine then computes in float64


def kernel(spec: str) -> Kernel:
    k = parse_kernel(spec)
    assert isinstance(k, Kernel)
    return k


def impulse(size: int = 41) -> np.ndarray:
    img = np.zeros((size, size))
    img[size // 2, size // 2] = 1.0
    return img


def support(response: np.ndarray, radius: int) -> np.ndarray:
    c = response.shape[0] // 2
    return response[c - radius : c + radius + 1, c - radius : c + radius + 1]


# --------------------------------------------------------------------------------------------
# Named kernels against independent implementations
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "sigma", "radius"),
    [
        ("gaussian:1", 1.0, 3),
        ("gaussian:0.5", 0.5, 2),  # ceil(1.5) = 2
        ("gaussian:1.7", 1.7, 6),  # ceil(5.1) = 6
        ("gaussian:2,1", 2.0, 1),
        ("gaussian:0.8,5", 0.8, 5),
    ],
)
def test_gaussian_matches_scipy(spec, sigma, radius):
    k = kernel(spec)
    assert k.weights.shape == (2 * radius + 1, 2 * radius + 1)
    # Correlating an impulse with a symmetric kernel reproduces the kernel.
    expected = ndi.gaussian_filter(impulse(), sigma, radius=radius, mode="constant")
    np.testing.assert_allclose(
        correlate(impulse(), k.weights, border="constant"), expected, atol=1e-15
    )
    expected = ndi.gaussian_filter(IMG, sigma, radius=radius, mode="reflect")
    np.testing.assert_allclose(correlate(IMG, k.weights, border="reflect"), expected, atol=1e-12)


@pytest.mark.parametrize(
    ("spec", "ksize"), [("box:3", (3, 3)), ("box:4", (4, 4)), ("box:5,2", (5, 2))]
)
def test_box_matches_cv2_blur(spec, ksize):
    # cv2 ksize is (width, height); its default border is BORDER_REFLECT_101 ("mirror").
    expected = cv2.blur(IMG, ksize)
    np.testing.assert_allclose(
        correlate(IMG, kernel(spec).weights, border="mirror"), expected, atol=1e-12
    )
    assert kernel(spec).weights.shape == (ksize[1], ksize[0])


@pytest.mark.parametrize(
    ("spec", "oracle"),
    [
        ("sobel-x", lambda im: cv2.Sobel(im, cv2.CV_64F, 1, 0, ksize=3)),
        ("sobel-y", lambda im: cv2.Sobel(im, cv2.CV_64F, 0, 1, ksize=3)),
        ("scharr-x", lambda im: cv2.Scharr(im, cv2.CV_64F, 1, 0)),
        ("scharr-y", lambda im: cv2.Scharr(im, cv2.CV_64F, 0, 1)),
        ("laplacian", lambda im: cv2.Laplacian(im, cv2.CV_64F, ksize=1)),
        ("laplacian:4", lambda im: cv2.Laplacian(im, cv2.CV_64F, ksize=1)),
        # 8-neighbour Laplacian = (sum of the 3x3 neighbourhood) - 9 * centre.
        (
            "laplacian:8",
            lambda im: cv2.boxFilter(im, -1, (3, 3), normalize=False) - 9 * im,
        ),
        # sharpen = identity - 4-neighbour Laplacian.
        ("sharpen", lambda im: im - cv2.Laplacian(im, cv2.CV_64F, ksize=1)),
        ("motion:5,0", lambda im: cv2.blur(im, (5, 1))),
        ("motion:5,90", lambda im: cv2.blur(im, (1, 5))),
        ("identity", lambda im: im),
    ],
)
def test_kernels_match_opencv(spec, oracle):
    got = correlate(IMG, kernel(spec).weights, border="mirror")
    np.testing.assert_allclose(got, oracle(IMG), atol=1e-12)


@pytest.mark.parametrize(("spec", "axis"), [("prewitt-x", 1), ("prewitt-y", 0)])
def test_prewitt_matches_skimage(spec, axis):
    # skimage normalizes the smoothing taps to 1/3 and uses the same sign as ours.
    expected = 3 * skf.prewitt(IMG, axis=axis, mode="reflect")
    np.testing.assert_allclose(
        correlate(IMG, kernel(spec).weights, border="reflect"), expected, atol=1e-12
    )


@pytest.mark.parametrize(
    ("spec", "dx", "dy", "fn"),
    [("sobel", 1, 1, cv2.Sobel), ("scharr", 1, 1, cv2.Scharr)],
)
def test_gradient_magnitude_matches_opencv(spec, dx, dy, fn):
    mag = parse_kernel(spec)
    assert isinstance(mag, Magnitude)
    gx = fn(IMG, cv2.CV_64F, dx, 0)
    gy = fn(IMG, cv2.CV_64F, 0, dy)
    got = apply_chain(IMG, [mag], FilterOptions(border="mirror"))
    np.testing.assert_allclose(got, np.hypot(gx, gy), rtol=1e-10, atol=1e-12)


def test_prewitt_magnitude_matches_skimage():
    # skimage's magnitude is sqrt((gx^2 + gy^2) / 2) with 1/3 smoothing.
    expected = 3 * math.sqrt(2) * skf.prewitt(IMG, mode="reflect")
    got = apply_chain(IMG, [parse_kernel("prewitt")], FilterOptions(border="reflect"))
    np.testing.assert_allclose(got, expected, atol=1e-12)


def test_outline_matches_pillow_find_edges():
    rgb = (RNG.random((12, 14)) * 255).astype(np.uint8)
    pil = np.asarray(Image.fromarray(rgb).filter(ImageFilter.FIND_EDGES), dtype=np.float64)
    ours = np.clip(correlate(rgb.astype(np.float64), kernel("outline").weights), 0, 255)
    # Pillow copies the 1-pixel frame unfiltered; compare the interior.
    np.testing.assert_array_equal(ours[1:-1, 1:-1], pil[1:-1, 1:-1])


@pytest.mark.parametrize(("sigma", "amount"), [(1.0, 1.0), (0.7, 2.5), (2.0, 0.0)])
def test_unsharp_is_its_definition(sigma, amount):
    k = kernel(f"unsharp:{sigma},{amount}")
    radius = math.ceil(3 * sigma)
    blurred = ndi.gaussian_filter(IMG, sigma, radius=radius, mode="reflect")
    expected = IMG + amount * (IMG - blurred)
    np.testing.assert_allclose(correlate(IMG, k.weights, border="reflect"), expected, atol=1e-12)


def test_unsharp_amount_defaults_to_one():
    np.testing.assert_array_equal(kernel("unsharp:1.5").weights, kernel("unsharp:1.5,1").weights)


@pytest.mark.parametrize(
    ("spec", "sigma", "radius"), [("log:1", 1.0, 4), ("log:1.5", 1.5, 6), ("log:2,5", 2.0, 5)]
)
def test_log_is_scipy_gaussian_laplace_made_zero_sum(spec, sigma, radius):
    w = kernel(spec).weights
    assert w.shape == (2 * radius + 1, 2 * radius + 1)
    reference = support(
        ndi.gaussian_laplace(impulse(), sigma, radius=radius, mode="constant"), radius
    )
    diff = w - reference
    # Same kernel up to one constant offset, chosen to make the sum exactly zero.
    np.testing.assert_allclose(diff, np.full_like(diff, diff[0, 0]), atol=1e-15)
    assert abs(w.sum()) < 1e-12
    assert w[radius, radius] < 0  # OpenCV's Laplacian sign


@pytest.mark.parametrize(("s1", "s2", "radius"), [(1.0, 2.0, 6), (2.0, 0.5, 6), (1.0, 1.6, 3)])
def test_dog_matches_scipy(s1, s2, radius):
    spec = f"dog:{s1},{s2}" + ("" if radius == math.ceil(3 * max(s1, s2)) else f",{radius}")
    w = kernel(spec).weights
    expected = ndi.gaussian_filter(
        impulse(), s1, radius=radius, mode="constant"
    ) - ndi.gaussian_filter(impulse(), s2, radius=radius, mode="constant")
    np.testing.assert_allclose(w, support(expected, radius), atol=1e-15)
    assert abs(w.sum()) < 1e-12


def rgb_image(h: int = 9, w: int = 11) -> np.ndarray:
    return (RNG.random((h, w, 3)) * 255).astype(np.uint8)


def test_grayscale_matches_pillow_convert_l():
    rgb = rgb_image(32, 32)
    ours = correlate(rgb / 255.0, kernel("grayscale").weights) * 255
    pil = np.asarray(Image.fromarray(rgb).convert("L"), dtype=np.float64)
    assert ours.shape == (32, 32, 1)
    assert np.abs(np.rint(ours[:, :, 0]) - pil).max() <= 1


@pytest.mark.parametrize(
    ("spec", "pixel", "expected"),
    [
        # Rec. 601: .299*.2 + .587*.4 + .114*.6 = .0598 + .2348 + .0684
        ("grayscale", (0.2, 0.4, 0.6), [0.363]),
        ("grayscale:601", (1.0, 0.0, 0.0), [0.299]),
        # Rec. 709: .2126*.2 + .7152*.4 + .0722*.6 = .04252 + .28608 + .04332
        ("grayscale:709", (0.2, 0.4, 0.6), [0.37192]),
        ("grayscale:709", (0.0, 1.0, 0.0), [0.7152]),
        # W3C Filter Effects sepia(1): rows (.393 .769 .189), (.349 .686 .168), (.272 .534 .131)
        ("sepia", (1.0, 0.0, 0.0), [0.393, 0.349, 0.272]),
        ("sepia", (0.0, 0.0, 1.0), [0.189, 0.168, 0.131]),
        ("sepia", (0.2, 0.4, 0.6), [0.4996, 0.445, 0.3466]),
    ],
)
def test_channel_mixers_hand_computed(spec, pixel, expected):
    img = np.broadcast_to(np.array(pixel), (2, 3, 3))
    out = correlate(img, kernel(spec).weights)
    np.testing.assert_allclose(out, np.broadcast_to(expected, (2, 3, len(expected))), atol=1e-12)


# --------------------------------------------------------------------------------------------
# Grids and invariants
# --------------------------------------------------------------------------------------------

HAND_GRIDS = {
    "identity": [[0, 0, 0], [0, 1, 0], [0, 0, 0]],
    "sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
    "laplacian": [[0, 1, 0], [1, -4, 1], [0, 1, 0]],
    "laplacian:8": [[1, 1, 1], [1, -8, 1], [1, 1, 1]],
    "sobel-x": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
    "scharr-y": [[-3, -10, -3], [0, 0, 0], [3, 10, 3]],
    "prewitt-x": [[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]],
    "emboss": [[-2, -1, 0], [-1, 1, 1], [0, 1, 2]],
    "outline": [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]],
    "box:2,1": [[0.5, 0.5]],
    "motion:5,0": [[0.2] * 5],
    "motion:5,90": [[0.2]] * 5,
    # Samples at x = -1.5, -0.5, 0.5, 1.5, each split half and half between two taps.
    "motion:4,0": [[0.125, 0.25, 0.25, 0.25, 0.125]],
    "motion:4,180": [[0.125, 0.25, 0.25, 0.25, 0.125]],
}


@pytest.mark.parametrize(("spec", "grid"), HAND_GRIDS.items())
def test_hand_written_grids(spec, grid):
    np.testing.assert_allclose(kernel(spec).weights, np.array(grid, dtype=float), atol=1e-15)


SUM_ONE = [
    "identity",
    "box:3",
    "box:4,2",
    "gaussian:1.3",
    "sharpen",
    "unsharp:1,0.7",
    "emboss",
    "motion:7,30",
    "motion:6,-100",
    "grayscale",
    "grayscale:709",
]
ZERO_SUM = [
    "laplacian",
    "laplacian:8",
    "log:1.2",
    "dog:1,2",
    "dog:3,1",
    "outline",
    "sobel-x",
    "sobel-y",
    "scharr-x",
    "scharr-y",
    "prewitt-x",
    "prewitt-y",
]


@pytest.mark.parametrize("spec", SUM_ONE)
def test_smoothing_kernels_sum_to_one(spec):
    assert kernel(spec).weights.sum() == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("spec", ZERO_SUM)
def test_edge_kernels_sum_to_zero(spec):
    assert kernel(spec).weights.sum() == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize(
    "spec",
    [
        "identity",
        "box:5",
        "gaussian:1.3",
        "sharpen",
        "unsharp:1,2",
        "laplacian",
        "laplacian:8",
        "log:1",
        "dog:1,2",
        "outline",
    ],
)
def test_isotropic_kernels_are_symmetric(spec):
    w = kernel(spec).weights
    np.testing.assert_array_equal(w, w.T)
    np.testing.assert_array_equal(w, w[::-1, :])
    np.testing.assert_array_equal(w, w[:, ::-1])


@pytest.mark.parametrize("family", ["sobel", "scharr", "prewitt"])
def test_derivative_pairs(family):
    gx, gy = kernel(f"{family}-x").weights, kernel(f"{family}-y").weights
    np.testing.assert_array_equal(gx, -gx[:, ::-1])  # odd in x
    np.testing.assert_array_equal(gx, gx[::-1, :])  # even in y
    np.testing.assert_array_equal(gy, gx.T)
    mag = parse_kernel(family)
    assert isinstance(mag, Magnitude)
    np.testing.assert_array_equal(mag.gx.weights, gx)
    np.testing.assert_array_equal(mag.gy.weights, gy)


def test_emboss_is_identity_plus_an_odd_part():
    w = kernel("emboss").weights
    np.testing.assert_array_equal(w + w[::-1, ::-1], 2 * kernel("identity").weights)


@pytest.mark.parametrize(("length", "angle"), [(5, 0), (6, 30), (9, 45), (7, 123.4), (10, -60)])
def test_motion_is_a_centred_line(length, angle):
    w = kernel(f"motion:{length},{angle}").weights
    assert w.sum() == pytest.approx(1.0)
    assert (w >= 0).all()
    np.testing.assert_allclose(w, w[::-1, ::-1], atol=1e-15)  # the line is centred
    np.testing.assert_allclose(w, kernel(f"motion:{length},{angle + 180}").weights, atol=1e-15)
    # The samples t = k - (L-1)/2 lie on the line with mean square (L^2-1)/12; bilinear splatting
    # keeps their mean and adds a variance of at most 1/4 in any direction.
    rows, cols = np.indices(w.shape)
    x = cols - w.shape[1] // 2
    y = w.shape[0] // 2 - rows
    theta = math.radians(angle)
    across = -x * math.sin(theta) + y * math.cos(theta)
    along = x * math.cos(theta) + y * math.sin(theta)
    assert (w * across).sum() == pytest.approx(0.0, abs=1e-12)
    assert (w * across**2).sum() <= 0.25 + 1e-12
    spread = (length**2 - 1) / 12
    assert spread - 1e-12 <= (w * along**2).sum() <= spread + 0.25 + 1e-12


def test_motion_angle_runs_anticlockwise():
    w = kernel("motion:3,45").weights
    assert w[0, 2] > 0 and w[2, 0] > 0  # top right and bottom left
    assert w[0, 0] == 0 and w[2, 2] == 0


@pytest.mark.parametrize("spec", [info.name for info in list_kernels()])
def test_every_named_kernel_is_well_formed(spec):
    examples = {
        "box": "box:3",
        "gaussian": "gaussian:1",
        "unsharp": "unsharp:1",
        "log": "log:1",
        "dog": "dog:1,2",
        "motion": "motion:5,30",
    }
    k = parse_kernel(examples.get(spec, spec))
    parts = [k.gx, k.gy] if isinstance(k, Magnitude) else [k]
    for part in parts:
        w = part.weights
        assert w.dtype == np.float64 and w.ndim in (2, 3, 4)
        assert np.isfinite(w).all()
        assert not w.flags.writeable
        if part.factors is not None:
            col, row = part.factors
            np.testing.assert_array_equal(np.outer(col, row), w)


def test_module_grids_cannot_be_changed_through_a_kernel():
    k = kernel("sobel-x")
    with pytest.raises(ValueError, match="read-only"):
        k.weights[0, 0] = 5
    assert kernel("sobel-x").weights[0, 0] == -1


@pytest.mark.parametrize(
    ("spec", "separable"),
    [
        ("sobel-x", True),
        ("gaussian:1", True),
        ("box:4,2", True),
        ("sharpen", False),
        ("log:1", False),
        ("motion:5,45", False),
    ],
)
def test_separable_factors(spec, separable):
    w = kernel(spec).weights
    factors = separable_factors(w)
    assert (factors is not None) == separable
    if factors is not None:
        np.testing.assert_allclose(np.outer(*factors), w, atol=1e-12)


# --------------------------------------------------------------------------------------------
# Sign conventions (hand-computed: a unit ramp gives 2 * the sum of the smoothing taps)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("family", "gain"), [("sobel", 8.0), ("scharr", 32.0), ("prewitt", 6.0)])
def test_sign_convention_on_ramps(family, gain):
    ramp_right = np.tile(np.arange(9.0), (9, 1))  # grows to the right
    ramp_down = ramp_right.T  # grows downwards
    inner = (slice(1, -1), slice(1, -1))
    gx, gy = kernel(f"{family}-x").weights, kernel(f"{family}-y").weights
    np.testing.assert_array_equal(correlate(ramp_right, gx)[inner], gain)
    np.testing.assert_array_equal(correlate(ramp_right, gy)[inner], 0.0)
    np.testing.assert_array_equal(correlate(ramp_down, gy)[inner], gain)
    np.testing.assert_array_equal(correlate(ramp_down, gx)[inner], 0.0)
    # True convolution flips the kernel, hence the sign.
    np.testing.assert_array_equal(convolve(ramp_right, gx)[inner], -gain)


def test_laplacian_centre_is_negative_on_a_bright_dot():
    out = correlate(impulse(7), kernel("laplacian").weights)
    assert out[3, 3] == -4.0 and out[2, 3] == 1.0


# --------------------------------------------------------------------------------------------
# Spec parsing
# --------------------------------------------------------------------------------------------


def test_names_are_case_insensitive_and_parameters_may_have_spaces():
    np.testing.assert_array_equal(kernel("SOBEL-X").weights, kernel("sobel-x").weights)
    np.testing.assert_array_equal(
        kernel("Gaussian: 1.5, 4").weights, kernel("gaussian:1.5,4").weights
    )


def test_list_kernels():
    infos = list_kernels()
    names = [i.name for i in infos]
    assert len(names) == len(set(names))
    for required in [
        "identity",
        "box",
        "gaussian",
        "sharpen",
        "unsharp",
        "laplacian",
        "log",
        "dog",
        "sobel-x",
        "sobel-y",
        "scharr-x",
        "scharr-y",
        "prewitt-x",
        "prewitt-y",
        "emboss",
        "outline",
        "motion",
        "grayscale",
        "sepia",
        "sobel",
        "scharr",
    ]:
        assert required in names
    by_name = {i.name: i for i in infos}
    assert by_name["gaussian"].params == "SIGMA[,RADIUS]"
    assert by_name["motion"].params == "LENGTH,ANGLE"
    assert by_name["sobel-x"].params == ""
    assert all(i.description and "\n" not in i.description for i in infos)


@pytest.mark.parametrize(
    "name", [i.name for i in list_kernels() if i.params and not i.params.startswith("[")]
)
def test_required_parameters_are_required(name):
    with pytest.raises(KernelError, match=f"^{name}: missing "):
        parse_kernel(name)


# --------------------------------------------------------------------------------------------
# Kernel files
# --------------------------------------------------------------------------------------------


def test_text_file(tmp_path):
    path = tmp_path / "k.txt"
    path.write_text(
        "\ufeff# a comment line\n1, 2,1   # trailing comment\n\n  2 4\t2\n1e0,2.0,  .1e1\n"
    )
    k = kernel(str(path))
    np.testing.assert_array_equal(k.weights, [[1, 2, 1], [2, 4, 2], [1, 2, 1]])
    assert k.bias == 0.0


def test_text_file_single_row_and_uppercase_suffix(tmp_path):
    path = tmp_path / "ROW.TXT"
    path.write_text("-1 0 1\n")
    np.testing.assert_array_equal(kernel(str(path)).weights, [[-1, 0, 1]])


def test_json_object_with_bias_and_normalize(tmp_path):
    path = tmp_path / "k.json"
    path.write_text(json.dumps({"weights": [[1, 2], [3, 4]], "bias": 0.25, "normalize": True}))
    k = kernel(str(path))
    np.testing.assert_allclose(k.weights, [[0.1, 0.2], [0.3, 0.4]])
    assert k.bias == 0.25


def test_json_bare_list_and_3d_4d(tmp_path):
    bare = tmp_path / "bare.json"
    bare.write_text("[[0, 1], [2, 3]]")
    np.testing.assert_array_equal(kernel(str(bare)).weights, [[0, 1], [2, 3]])
    depthwise = tmp_path / "dw.json"
    depthwise.write_text(json.dumps({"weights": [[[1, 2, 3]]], "bias": [0.1, 0.2, 0.3]}))
    k = kernel(str(depthwise))
    assert k.weights.shape == (1, 1, 3)
    np.testing.assert_array_equal(k.bias, [0.1, 0.2, 0.3])
    mixer = tmp_path / "mix.json"
    mixer.write_text(json.dumps([[[[1, 0], [0, 1], [0, 0]]]]))
    k = kernel(str(mixer))
    assert k.weights.shape == (1, 1, 3, 2)
    out = correlate(np.broadcast_to([0.2, 0.4, 0.6], (2, 2, 3)), k.weights)
    np.testing.assert_allclose(out[0, 0], [0.2, 0.4])


def test_npy_files(tmp_path):
    path = tmp_path / "k.npy"
    np.save(path, np.array([[1, 2], [3, 4]], dtype=np.int16))
    k = kernel(str(path))
    assert k.weights.dtype == np.float64
    np.testing.assert_array_equal(k.weights, [[1, 2], [3, 4]])
    np.save(path, np.ones((3, 3, 2), dtype=np.float32))
    assert kernel(str(path)).weights.shape == (3, 3, 2)


def test_file_without_suffix_is_sniffed(tmp_path):
    (tmp_path / "plain").write_text("1 2 3\n")
    np.testing.assert_array_equal(kernel(str(tmp_path / "plain")).weights, [[1, 2, 3]])
    (tmp_path / "asjson").write_text('{"weights": [[4, 5]]}')
    np.testing.assert_array_equal(kernel(str(tmp_path / "asjson")).weights, [[4, 5]])
    with open(tmp_path / "asnpy", "wb") as fh:
        np.save(fh, np.array([[6.0, 7.0]]))
    np.testing.assert_array_equal(kernel(str(tmp_path / "asnpy")).weights, [[6, 7]])


def test_named_kernel_wins_over_a_file_of_the_same_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sharpen").write_text("1 1\n")
    np.testing.assert_array_equal(kernel("sharpen").weights, HAND_GRIDS["sharpen"])
    np.testing.assert_array_equal(kernel("./sharpen").weights, [[1, 1]])


# --------------------------------------------------------------------------------------------
# Bad kernels through `convtool filter`: exact message, exit 2, no traceback, no output file
# --------------------------------------------------------------------------------------------


def _npy_bytes(arr: np.ndarray, allow_pickle: bool = False) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=allow_pickle)
    return buf.getvalue()


BAD_SPECS = [
    ("gaussian:-1", "gaussian: SIGMA must be > 0, got -1"),
    ("gaussian:0", "gaussian: SIGMA must be > 0, got 0"),
    ("gaussian", "gaussian: missing SIGMA (usage: gaussian:SIGMA[,RADIUS])"),
    ("gaussian:", "gaussian: SIGMA is empty"),
    ("gaussian:1,2,3", "gaussian: expected 1 or 2 parameters (gaussian:SIGMA[,RADIUS]), got 3"),
    ("gaussian:abc", "gaussian: SIGMA must be a number, got 'abc'"),
    ("gaussian:nan", "gaussian: SIGMA must be a finite number, got nan"),
    ("gaussian:1,-2", "gaussian: RADIUS must be >= 0, got -2"),
    ("gaussian:1,2.5", "gaussian: RADIUS must be an integer, got '2.5'"),
    ("gaussian:1000", "gaussian: kernel would be 6001x6001, over the limit of 1001x1001"),
    ("gaussian:1e308", "gaussian: kernel would be over the size limit of 1001x1001"),
    ("box:0", "box: W must be >= 1, got 0"),
    ("box:2.5", "box: W must be an integer, got '2.5'"),
    ("box:3,4,5", "box: expected 1 or 2 parameters (box:W[,H]), got 3"),
    ("laplacian:6", "laplacian: N must be 4 or 8, got 6"),
    ("sharpen:2", "sharpen: takes no parameters, got '2'"),
    ("unsharp:1,-2", "unsharp: AMOUNT must be >= 0, got -2"),
    ("dog:2,2", "dog: S1 and S2 must differ, both are 2"),
    ("dog:1", "dog: expected 2 or 3 parameters (dog:S1,S2[,RADIUS]), got 1"),
    ("motion:5", "motion: expected 2 parameters (motion:LENGTH,ANGLE), got 1"),
    ("motion:0,10", "motion: LENGTH must be >= 1, got 0"),
    ("motion:5,inf", "motion: ANGLE must be a finite number, got inf"),
    ("grayscale:2020", "grayscale: STANDARD must be 601 or 709, got 2020"),
    ("log:1e-200", "log: parameters 1e-200 give infinite weights"),
    ("gausian:2", "unknown kernel 'gausian' (did you mean 'gaussian'?)"),
    ("sobelx", "unknown kernel 'sobelx' (did you mean 'sobel-x', 'sobel' or 'sobel-y'?)"),
    ("", "empty kernel spec"),
    (":3", "missing kernel name before the colon in ':3'"),
    ("missing.txt", "missing.txt: no such kernel file"),
    ("missing.json", "missing.json: no such kernel file"),
    ("sub/missing", "sub/missing: no such kernel file"),
]

BAD_FILES = [
    ("empty.txt", b"", "empty.txt: empty kernel file (no numbers)"),
    ("comments.txt", b"# nothing\n\n   \n", "comments.txt: empty kernel file (no numbers)"),
    (
        "ragged.txt",
        b"1 2 3\n# c\n4 5\n",
        "ragged.txt: line 3 has 2 values, expected 3 as on line 1",
    ),
    ("word.txt", b"1 2\n3 four\n", "word.txt: line 2: 'four' is not a number"),
    ("nan.txt", b"1 nan\n", "nan.txt: line 1: 'nan' is not allowed (NaN or infinite)"),
    ("inf.txt", b"1\n-inf\n", "inf.txt: line 2: '-inf' is not allowed (NaN or infinite)"),
    ("huge.txt", b"1 1e999\n", "huge.txt: line 1: '1e999' is not allowed (NaN or infinite)"),
    ("latin1.txt", b"1 2\xff\n", "latin1.txt: not a UTF-8 text kernel file"),
    ("empty.json", b"", "empty.json: empty kernel file"),
    (
        "bad.json",
        b'{"weights": [[1, 2],\n [3 4]]}',
        "bad.json: invalid JSON at line 2, column 5: Expecting ',' delimiter",
    ),
    (
        "str.json",
        b'"sobel"',
        'str.json: expected an object with "weights" or a nested list, got a string',
    ),
    ("noweights.json", b'{"bias": 1}', 'noweights.json: missing "weights"'),
    (
        "key.json",
        b'{"wieghts": [[1]]}',
        "key.json: unknown key 'wieghts' (expected name, shape, weights, bias, normalize)",
    ),
    (
        "scalar.json",
        b'{"weights": 3}',
        "scalar.json: weights must be a nested list of numbers, got a number",
    ),
    (
        "ragged.json",
        b"[[1, 2], [3]]",
        "ragged.json: weights[1] has 1 entry, expected 2 as in weights[0]",
    ),
    (
        "mixed.json",
        b"[[1, 2], 3]",
        "mixed.json: weights[1] is a number, expected a list like weights[0]",
    ),
    ("text.json", b'[[1, "2"]]', 'text.json: weights[0][1] must be a number, got a string ("2")'),
    (
        "bool.json",
        b"[[1, true]]",
        "bool.json: weights[0][1] must be a number, got a boolean (true)",
    ),
    ("nan.json", b"[[1, NaN]]", "nan.json: NaN is not allowed (weights must be finite numbers)"),
    ("big.json", b"[[1, 1e999]]", "big.json: kernel holds NaN or infinite values"),
    ("emptyrow.json", b"[[]]", "emptyrow.json: weights[0] is empty"),
    ("oned.json", b"[1, 2, 3]", "oned.json: kernel must be 2-D, 3-D or 4-D, got 1-D (shape (3,))"),
    (
        "fived.json",
        b"[[[[[1]]]]]",
        "fived.json: kernel must be 2-D, 3-D or 4-D, got 5-D (shape (1, 1, 1, 1, 1))",
    ),
    (
        "norm.json",
        b'{"weights": [[1]], "normalize": "yes"}',
        'norm.json: normalize must be true or false, got "yes"',
    ),
    (
        "bias.json",
        b'{"weights": [[[1, 2]]], "bias": [1, 2, 3]}',
        "bias.json: bias has 3 values, expected 1 or 2 (one per output channel)",
    ),
    (
        "biastype.json",
        b'{"weights": [[1]], "bias": "x"}',
        "biastype.json: bias must be a number or a list of numbers",
    ),
    (
        "shape.json",
        b'{"weights": [[1, 2]], "shape": [2, 1]}',
        "shape.json: shape [2, 1] does not match the weights [1, 2]",
    ),
    (
        "obj.npy",
        _npy_bytes(np.array([1, "a", None], dtype=object), allow_pickle=True),
        "obj.npy: .npy holds Python objects; refusing to unpickle",
    ),
    (
        "oned.npy",
        _npy_bytes(np.arange(3.0)),
        "oned.npy: kernel must be 2-D, 3-D or 4-D, got 1-D (shape (3,))",
    ),
    (
        "complex.npy",
        _npy_bytes(np.ones((2, 2), complex)),
        "complex.npy: kernel must hold real numbers, got dtype complex128",
    ),
    (
        "text.npy",
        _npy_bytes(np.array([["a"]])),
        "text.npy: kernel must hold real numbers, got dtype <U1",
    ),
    (
        "nan.npy",
        _npy_bytes(np.array([[1.0, np.nan]])),
        "nan.npy: kernel holds NaN or infinite values",
    ),
    ("empty.npy", _npy_bytes(np.zeros((0, 3))), "empty.npy: kernel is empty (shape (0, 3))"),
    (
        "notnpy.npy",
        b"hello",
        "notnpy.npy: not a .npy file (no NUMPY header)",
    ),
]


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Image.fromarray(rgb_image(6, 7)).save(tmp_path / "in.png")
    return tmp_path


def run_filter(spec: str):
    return CliRunner().invoke(cli, ["filter", "in.png", "-k", spec, "-o", "out.png"])


def assert_cli_error(result, message: str, workdir) -> None:
    assert result.exit_code == 2, result.output
    assert result.stderr == f"Error: {message}\n"
    assert result.stdout == ""
    assert "Traceback" not in result.output
    assert not (workdir / "out.png").exists()


@pytest.mark.parametrize(("spec", "message"), BAD_SPECS)
def test_bad_spec_through_cli(workdir, spec, message):
    assert_cli_error(run_filter(spec), message, workdir)


@pytest.mark.parametrize(("name", "data", "message"), BAD_FILES)
def test_bad_file_through_cli(workdir, name, data, message):
    (workdir / name).write_bytes(data)
    assert_cli_error(run_filter(name), message, workdir)


def test_kernel_directory_through_cli(workdir):
    (workdir / "dir.txt").mkdir()
    assert_cli_error(run_filter("dir.txt"), "dir.txt: is a directory, not a kernel file", workdir)


def test_unknown_name_without_close_match_lists_the_names(workdir):
    result = run_filter("zzz")
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "Error: unknown kernel 'zzz', and no such file (named kernels: identity, box,"
    )
    assert result.stderr.count("\n") == 1


def test_kernel_file_through_cli_filter(workdir):
    # Correlation with a tap right of the anchor: out[i, j] = in[i, j + 1] (nearest at the edge).
    (workdir / "shift.txt").write_text("0 0 1\n")
    gray = (RNG.random((5, 6)) * 255).astype(np.uint8)
    Image.fromarray(gray).save(workdir / "g.png")
    result = CliRunner().invoke(
        cli, ["filter", "g.png", "-k", "shift.txt", "--border", "nearest", "-o", "out.png"]
    )
    assert result.exit_code == 0, result.output
    out = np.asarray(Image.open(workdir / "out.png"))
    expected = np.concatenate([gray[:, 1:], gray[:, -1:]], axis=1)
    np.testing.assert_array_equal(out, expected)


def test_grayscale_through_cli_matches_pillow(workdir):
    rgb = rgb_image(8, 9)
    Image.fromarray(rgb).save(workdir / "c.png")
    result = CliRunner().invoke(cli, ["filter", "c.png", "-k", "grayscale", "-o", "out.png"])
    assert result.exit_code == 0, result.output
    out = np.asarray(Image.open(workdir / "out.png"), dtype=int)
    assert out.shape == (8, 9)
    assert np.abs(out - np.asarray(Image.fromarray(rgb).convert("L"), dtype=int)).max() <= 1


# --------------------------------------------------------------------------------------------
# `convtool kernels`
# --------------------------------------------------------------------------------------------


def test_kernels_list_piped_is_tab_separated():
    result = CliRunner().invoke(cli, ["kernels"])
    assert result.exit_code == 0
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert rows == [[i.name, i.params, i.description] for i in list_kernels()]


def test_kernels_list_on_a_terminal_is_a_table(monkeypatch):
    monkeypatch.setattr(cli_module, "stdout_is_terminal", lambda: True)
    result = CliRunner().invoke(cli, ["kernels"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "\t" not in result.stdout
    for info in list_kernels():
        assert info.name in result.stdout
    assert "SIGMA[,RADIUS]" in result.stdout


def test_kernels_list_json():
    result = CliRunner().invoke(cli, ["kernels", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == [i._asdict() for i in list_kernels()]


def test_kernels_show_plain_reads_back_as_a_text_kernel(tmp_path):
    result = CliRunner().invoke(cli, ["kernels", "sobel-x"])
    assert result.exit_code == 0
    assert "# shape: 3x3" in result.stdout
    assert "# sum: 0" in result.stdout
    assert "# separable: yes, column [1 2 1] x row [-1 0 1]" in result.stdout
    (tmp_path / "k.txt").write_text(result.stdout)
    np.testing.assert_array_equal(kernel(str(tmp_path / "k.txt")).weights, HAND_GRIDS["sobel-x"])
    result = CliRunner().invoke(cli, ["kernels", "sharpen"])
    assert "# separable: no" in result.stdout and "# sum: 1" in result.stdout


def test_kernels_show_json_round_trips(tmp_path):
    result = CliRunner().invoke(cli, ["kernels", "gaussian:1.2", "--json"])
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["name"] == "gaussian:1.2" and doc["shape"] == [9, 9] and doc["bias"] == 0.0
    (tmp_path / "g.json").write_text(result.stdout)
    np.testing.assert_array_equal(
        kernel(str(tmp_path / "g.json")).weights, kernel("gaussian:1.2").weights
    )


def test_kernels_show_magnitude_and_mixer():
    doc = json.loads(CliRunner().invoke(cli, ["kernels", "sobel", "--json"]).stdout)
    assert doc["gx"]["weights"] == HAND_GRIDS["sobel-x"]
    assert doc["gy"]["weights"] == np.array(HAND_GRIDS["sobel-x"]).T.tolist()
    out = CliRunner().invoke(cli, ["kernels", "sepia"]).stdout
    assert "# shape: 1x1x3x3" in out
    assert "0.393  0.769  0.189" in out  # one row per output channel


def test_kernels_show_bad_spec():
    result = CliRunner().invoke(cli, ["kernels", "gausian"])
    assert result.exit_code == 2
    assert result.stderr == "Error: unknown kernel 'gausian' (did you mean 'gaussian'?)\n"
