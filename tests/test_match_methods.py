"""The six matching methods, masks, pad_input and extreme data (issues 26, 28).

Oracles: ``cv2.matchTemplate`` for every method with and without masks (uint8 0/255 masks
included), ``skimage.feature.match_template(pad_input=True)`` for padded maps and for the
flat-window rule on float64 data, hand-made scenes where the answer is where the template was
cut out.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from skimage import data as skdata
from skimage.feature import match_template as sk_match_template
from skimage.morphology import diamond

from convtool.cli import cli
from convtool.matching import (
    METHODS,
    TemplateError,
    lower_is_better,
    match_template,
    refine_matches,
    search,
)

CV = {
    "zncc": cv2.TM_CCOEFF_NORMED,
    "ncc": cv2.TM_CCORR_NORMED,
    "ssd": cv2.TM_SQDIFF,
    "ssd-normed": cv2.TM_SQDIFF_NORMED,
    "ccorr": cv2.TM_CCORR,
    "ccoeff": cv2.TM_CCOEFF,
}
RAW = ("ssd", "ccorr", "ccoeff")


def _close(got: np.ndarray, expected: np.ndarray, method: str, rel: float = 2e-4) -> None:
    """Normalized scores to 1e-3 absolute; raw sums to ``rel`` of their largest value."""
    assert got.shape == expected.shape
    tol = 1e-3 if method not in RAW else rel * max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(got, expected, atol=tol, rtol=0)


def _cv_masked(expected: np.ndarray, method: str) -> np.ndarray:
    # OpenCV clamps TM_SQDIFF_NORMED to 1 without a mask only (masked: above 1, NaN on a zero
    # window); convtool clamps always.
    if method == "ssd-normed":
        return np.minimum(np.nan_to_num(expected, nan=1.0), 1.0)
    return expected


# --------------------------------------------------------------------------------------------
# every method against OpenCV
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("shape", "tshape"), [((70, 90), (13, 17)), ((61, 83, 3), (20, 9, 3))])
def test_every_method_agrees_with_opencv_unmasked(method, shape, tshape):
    g = np.random.default_rng(len(shape) + tshape[0])
    image = g.random(shape, dtype=np.float32)
    templ = g.random(tshape, dtype=np.float32)
    _close(
        match_template(image, templ, method=method),
        cv2.matchTemplate(image, templ, CV[method]),
        method,
    )


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("kind", ["uint8-0-255", "float-0-1", "weights", "per-channel"])
def test_every_method_agrees_with_opencv_masked(method, kind):
    g = np.random.default_rng(11)
    image = g.random((64, 80, 3), dtype=np.float32)
    templ = g.random((15, 11, 3), dtype=np.float32)
    on = g.random((15, 11)) > 0.35
    mask = {
        "uint8-0-255": on.astype(np.uint8) * 255,
        "float-0-1": on.astype(np.float32),
        "weights": g.random((15, 11)).astype(np.float32),
        "per-channel": g.random((15, 11, 3)).astype(np.float32),
    }[kind]
    expected = _cv_masked(cv2.matchTemplate(image, templ, CV[method], mask=mask), method)
    _close(match_template(image, templ, method=method, mask=mask), expected, method)


@pytest.mark.parametrize("method", METHODS)
def test_uint8_images_with_uint8_masks_agree_with_opencv(method):
    """8-bit image, template and 0/255 mask, as OpenCV users pass them."""
    g = np.random.default_rng(12)
    image = g.integers(0, 256, (50, 60), dtype=np.uint8)
    templ = g.integers(0, 256, (9, 12), dtype=np.uint8)
    mask = (g.random((9, 12)) > 0.3).astype(np.uint8) * 255
    _close(
        match_template(image, templ, method=method),
        cv2.matchTemplate(image, templ, CV[method]),
        method,
    )
    expected = _cv_masked(cv2.matchTemplate(image, templ, CV[method], mask=mask), method)
    _close(match_template(image, templ, method=method, mask=mask), expected, method)


def test_a_0_255_mask_is_on_off_not_a_weight_of_255():
    """Issue 26: ssd with a uint8 0/255 mask was 65,025x OpenCV's."""
    g = np.random.default_rng(13)
    image = g.random((40, 50), dtype=np.float32)
    templ = image[5:16, 9:22].copy()
    on = g.random(templ.shape) > 0.5
    for method in METHODS:
        as_uint8 = match_template(image, templ, method=method, mask=on.astype(np.uint8) * 255)
        as_bool = match_template(image, templ, method=method, mask=on)
        as_float = match_template(image, templ, method=method, mask=on.astype(np.float32))
        np.testing.assert_allclose(as_uint8, as_float, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(as_bool, as_float, rtol=1e-6, atol=1e-6)


def test_opencv_names_are_aliases():
    g = np.random.default_rng(14)
    image = g.random((30, 40), dtype=np.float32)
    templ = image[3:10, 5:12]
    for name, code in [("TM_SQDIFF_NORMED", "ssd-normed"), ("cv2.TM_CCOEFF", "ccoeff")]:
        np.testing.assert_array_equal(
            match_template(image, templ, method=name), match_template(image, templ, method=code)
        )
    assert lower_is_better("tm_sqdiff_normed") and not lower_is_better("TM_CCORR")
    with pytest.raises(TemplateError, match="unknown method 'TM_BOGUS'"):
        match_template(image, templ, method="TM_BOGUS")


# --------------------------------------------------------------------------------------------
# flat templates and windows, as documented against OpenCV and scikit-image
# --------------------------------------------------------------------------------------------


def test_flat_and_zero_windows_follow_opencv_where_documented():
    g = np.random.default_rng(15)
    image = g.random((30, 40), dtype=np.float32)
    image[:12, :15] = 0.0  # all-zero windows
    image[15:, 20:] = 0.6  # flat windows
    templ = g.random((5, 6), dtype=np.float32)
    for method in ("ncc", "ssd-normed", "ccorr", "ccoeff", "zncc"):
        got = match_template(image, templ, method=method)
        expected = cv2.matchTemplate(image, templ, CV[method])
        # zero windows: ncc 0, ssd-normed 1, ccorr 0, ccoeff 0, zncc 0 (as OpenCV)
        np.testing.assert_allclose(got[:8, :10], expected[:8, :10], atol=1e-5)
        if method in ("zncc", "ccoeff"):  # flat windows: 0
            assert np.all(np.abs(got[15:, 20:]) < 1e-5)
            np.testing.assert_allclose(got[15:, 20:], expected[15:, 20:], atol=1e-4)


def test_flat_template_is_zero_for_ccoeff_and_an_error_for_zncc_ncc_ssd_normed():
    g = np.random.default_rng(16)
    image = g.random((20, 30), dtype=np.float32)
    flat = np.full((4, 5), 0.5, np.float32)
    ccoeff = match_template(image, flat, method="ccoeff")
    np.testing.assert_allclose(ccoeff, cv2.matchTemplate(image, flat, cv2.TM_CCOEFF), atol=1e-5)
    assert np.all(np.abs(ccoeff) < 1e-5)
    with pytest.raises(TemplateError, match="no contrast"):
        match_template(image, flat, method="zncc")  # OpenCV: all 1; scikit-image: all 0
    for method in ("ncc", "ssd-normed"):
        with pytest.raises(TemplateError, match=f"all zero .black., so {method} cannot"):
            match_template(image, np.zeros((4, 5)), method=method)


def test_two_grey_levels_on_float64_score_like_scikit_image():
    """Issue 26: windows of 236/237 on page() as float64 scored 0 (float32's cut-off)."""
    page = skdata.page()
    image = page.astype(np.float64) / 255
    templ = np.random.default_rng(17).random((7, 7))
    got = match_template(image, templ)
    expected = sk_match_template(image, templ)
    windows = np.lib.stride_tricks.sliding_window_view(page, (7, 7))
    two_levels = (windows.min(axis=(2, 3)) == 236) & (windows.max(axis=(2, 3)) == 237)
    assert two_levels.sum() > 100
    assert np.abs(expected[two_levels]).max() > 0.2  # scikit-image scores them
    np.testing.assert_allclose(got[two_levels], expected[two_levels], atol=1e-7)
    # elsewhere: scikit-image's truly flat windows hold its rounding noise (~1e-7), ours 0
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert got.dtype == np.float64


def test_float32_keeps_opencvs_flat_rule_on_the_same_windows():
    page = skdata.page()
    image = page.astype(np.float32) / 255
    templ = np.random.default_rng(17).random((7, 7)).astype(np.float32)
    got = match_template(image, templ)
    expected = cv2.matchTemplate(image, templ, cv2.TM_CCOEFF_NORMED)
    np.testing.assert_allclose(got, expected, atol=2e-3)


# --------------------------------------------------------------------------------------------
# pad_input against scikit-image
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tshape", [(5, 5), (4, 7), (6, 2)])
@pytest.mark.parametrize(
    ("mode", "value"), [("constant", 0.0), ("constant", "mean"), ("reflect", None), ("edge", None)]
)
def test_pad_input_equals_scikit_image(tshape, mode, value):
    g = np.random.default_rng(sum(tshape))
    image = g.random((31, 42))
    templ = g.random(tshape)
    kwargs = {"mode": mode}
    if mode == "constant":
        kwargs["constant_values"] = image.mean() if value == "mean" else value
    expected = sk_match_template(image, templ, pad_input=True, **kwargs)
    got = match_template(image, templ, pad_input=True, **kwargs)
    assert got.shape == image.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-7)


def test_skimage_pad_input_case():
    """scikit-image's test_pad_input: half and whole templates at the edges and inside."""
    template = 0.5 * diamond(2)
    image = 0.5 * np.ones((9, 19))
    mid = slice(2, 7)
    image[mid, :3] -= template[:, -3:]
    image[mid, 4:9] += template
    image[mid, -9:-4] -= template
    image[mid, -3:] += template[:, :3]
    result = match_template(image, template, pad_input=True, constant_values=image.mean())
    sorted_result = np.argsort(result.flat)
    _, j = np.unravel_index(sorted_result[:2], result.shape)
    assert sorted(j.tolist()) == [0, 12]
    _, j = np.unravel_index(sorted_result[-2:], result.shape)
    assert sorted(j.tolist()) == [6, 18]
    expected = sk_match_template(image, template, pad_input=True, constant_values=image.mean())
    np.testing.assert_allclose(result, expected, atol=1e-12)


def test_search_with_pad_finds_an_object_cut_by_the_border():
    g = np.random.default_rng(18)
    sprite = g.random((12, 14))
    image = g.random((40, 50)) * 0.2
    image[:8, 30:44] = sprite[4:]  # the sprite's top 4 rows are above the image
    plain = search(image, sprite, threshold=0.9, top=1)
    assert not plain.matches
    found = refine_matches(search(image, sprite, pad_input=True, threshold=0.5, top=1))
    m = found.matches[0]
    assert (m.x, m.y) == (30, -4) and found.maps[0][2].shape == image.shape
    assert m.x_subpixel == pytest.approx(30, abs=0.5) and m.y_subpixel == pytest.approx(-4, abs=0.5)


# --------------------------------------------------------------------------------------------
# search with the new methods
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_search_finds_the_cut_out_with_every_method(method):
    g = np.random.default_rng(19)
    image = g.random((60, 80, 3)).astype(np.float32)
    image[:, :, 1] *= 0.5
    templ = image[21:35, 40:58].copy()
    if method in ("ccorr", "ncc"):  # raw products favour bright windows: brighten the target
        image[21:35, 40:58] += 0.5
        templ = image[21:35, 40:58].copy()
    result = search(image, templ, method=method)
    m = result.matches[0]
    assert (m.x, m.y) == (40, 21), method
    if method == "ssd":
        assert m.score == pytest.approx(0.0, abs=1e-6)
    if method == "ccoeff":  # the per-pixel covariance of the template with itself
        assert m.score == pytest.approx(
            float(np.mean((templ - templ.mean(axis=(0, 1))) ** 2)), rel=1e-4
        )


@pytest.mark.parametrize("method", METHODS)
def test_float64_input_gives_float64_scores(method):
    g = np.random.default_rng(20)
    image = g.random((30, 40))
    templ = image[4:12, 5:15].copy()
    assert match_template(image, templ, method=method).dtype == np.float64
    assert search(image, templ, method=method).maps[0][2].dtype == np.float64
    assert (
        match_template(image.astype(np.float32), templ.astype(np.float32), method=method).dtype
        == np.float32
    )


# --------------------------------------------------------------------------------------------
# extreme data (issue 28)
# --------------------------------------------------------------------------------------------


def _pattern_scene(seed: int = 21):
    g = np.random.default_rng(seed)
    scene = g.random((48, 90))
    return scene, scene[10:22, 20:36].copy()  # the template sits at x=20, y=10


def _npy(tmp_path, name, array):
    path = tmp_path / name
    np.save(path, array)
    return str(path)


def _cli(*args):
    """``convtool ARGS`` in process: ``(returncode, stdout, stderr)``."""
    res = CliRunner().invoke(cli, [str(a) for a in args])
    return res.exit_code, res.stdout, res.stderr


@pytest.mark.parametrize("method", ["ssd", "zncc", "ssd-normed", "ccoeff"])
def test_tiny_values_find_the_same_match_as_unscaled(tmp_path, method):
    """Issue 28: ssd on a scene and template x1e-300 reported (1, 0) with score 0.0."""
    scene, templ = _pattern_scene()
    for scale in (1.0, 1e-300):
        code, out, err = _cli(
            "find", _npy(tmp_path, "s.npy", scene * scale), _npy(tmp_path, "t.npy", templ * scale),
            "--method", method, "--json",
        )  # fmt: skip
        assert code == 0, err
        (match,) = json.loads(out)
        assert (match["x"], match["y"]) == (20, 10), (method, scale)
        if method == "ssd":
            assert match["score"] == 0.0


OFFSET_OPTIONS = [
    [],
    ["--mask", "MASK"],
    ["--scales", "0.9,1,1.1"],
    ["--angles", "-5,0,5"],
    ["--subpixel"],
]  # not --pad: padding 1e15 data with 0 puts an edge of 1e15 beside every border window


@pytest.mark.parametrize("method", ["ssd", "zncc", "ccoeff"])
@pytest.mark.parametrize("options", OFFSET_OPTIONS, ids=lambda o: o[0] if o else "plain")
def test_a_large_constant_offset_finds_the_right_match(tmp_path, method, options):
    """Issue 28: float64 data 1e15 + a pattern in [0, 1] gave (55, 0) instead of (20, 10)."""
    scene, templ = _pattern_scene(22)
    mask = np.ones(templ.shape)
    mask[:3, :4] = 0
    args = [o.replace("MASK", _npy(tmp_path, "m.npy", mask)) for o in options]
    code, out, err = _cli(
        "find", _npy(tmp_path, "s.npy", scene + 1e15), _npy(tmp_path, "t.npy", templ + 1e15),
        "--method", method, "--json", *args,
    )  # fmt: skip
    assert code == 0, err
    (match,) = json.loads(out)
    assert (match["x"], match["y"]) == (20, 10)
    if "--subpixel" in options:
        assert match["x_subpixel"] == pytest.approx(20, abs=0.05)


def test_offset_scores_equal_the_pattern_scores():
    """ssd, zncc and ccoeff do not change when the same constant is added to both."""
    scene, templ = _pattern_scene(23)
    scene, templ = np.round(scene * 8) / 8, np.round(templ * 8) / 8  # exact at 1e15
    mask = np.random.default_rng(24).random(templ.shape)
    for method in ("ssd", "zncc", "ccoeff"):
        for m in (None, mask):
            plain = match_template(scene, templ, method=method, mask=m)
            offset = match_template(scene + 1e15, templ + 1e15, method=method, mask=m)
            scale = max(1.0, float(np.abs(plain).max()))
            np.testing.assert_allclose(offset, plain, atol=1e-6 * scale, err_msg=method)


def test_ncc_ccorr_ssd_normed_on_offset_data_are_ill_posed_as_documented():
    scene, templ = _pattern_scene(25)
    scene, templ = scene + 1e15, templ + 1e15
    ncc = match_template(scene, templ, method="ncc")
    assert np.all(np.abs(ncc - 1.0) < 1e-12)  # every window ties: the pattern is below resolution
    ccorr = match_template(scene, templ, method="ccorr")
    assert np.ptp(ccorr) <= 1e-12 * np.abs(ccorr).max()
    normed = match_template(scene, templ, method="ssd-normed")
    # ordered as ssd (right place), but every score ~1e-31: any threshold passes every window
    assert np.unravel_index(np.argmin(normed), normed.shape) == (10, 20)
    assert normed.max() < 1e-25


# --------------------------------------------------------------------------------------------
# the command line
# --------------------------------------------------------------------------------------------


def test_cli_methods_and_pad(tmp_path):
    scene, templ = _pattern_scene(26)
    s, t = _npy(tmp_path, "s.npy", scene), _npy(tmp_path, "t.npy", templ)
    runner = CliRunner()
    for method in METHODS:
        res = runner.invoke(cli, ["find", s, t, "--method", method, "--json"])
        assert res.exit_code == 0, res.output
        (match,) = json.loads(res.output)
        assert (match["x"], match["y"]) == (20, 10), method
    heat = tmp_path / "heat.npy"
    res = runner.invoke(cli, ["find", s, t, "--pad", "--json", "--heatmap", str(heat)])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)[0]["x"] == 20
    np.testing.assert_allclose(
        np.load(heat), sk_match_template(scene, templ, pad_input=True), atol=1e-7
    )
    res = runner.invoke(cli, ["find", "-t", t, s, "--pad", "--method", "ssd-normed", "--json"])
    assert res.exit_code == 0, res.output
    record = json.loads(res.stdout)[0]
    assert (record["file"], record["x"], record["y"]) == (s, 20, 10)
    res = runner.invoke(cli, ["find", s, t, "--method", "TM_SQDIFF_NORMED", "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)[0]["x"] == 20
    res = runner.invoke(cli, ["find", s, t, "--method", "sad"])
    assert res.exit_code == 2 and "'sad' is not one of" in res.output


# --------------------------------------------------------------------------------------------
# large images in bands (issue 30)
# --------------------------------------------------------------------------------------------


def _scene_with_copies(seed: int = 30):
    g = np.random.default_rng(seed)
    image = g.random((150, 120, 3)).astype(np.float32)
    templ = image[40:52, 30:46].copy()
    # copies across band edges, each under its own level of noise (distinct scores)
    for k, (y, x) in enumerate([(7, 90), (69, 5), (121, 70), (95, 100)]):
        noise = 0.03 * (k + 1) * g.standard_normal(templ.shape).astype(np.float32)
        image[y : y + 12, x : x + 16] = templ * 0.9 + 0.05 + noise
    return image, templ


@pytest.fixture
def small_bands(monkeypatch):
    from convtool.matching import bands

    monkeypatch.setattr(bands, "WHOLE_BYTES", 1 << 16)  # any image is searched in bands
    monkeypatch.setattr(bands, "BAND_BYTES", 1 << 16)  # of a few template heights


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"method": "ssd", "threshold": 0.01},
        {"method": "ccoeff", "top": 8},
        {"method": "ncc", "mask": "MASK"},
        {"scales": (0.9, 1.0, 1.2), "angles": (0.0, 10.0)},
    ],
    ids=["zncc", "ssd", "ccoeff", "ncc-mask", "scales-angles"],
)
def test_banded_search_finds_what_the_whole_search_finds(monkeypatch, options):
    from convtool.matching import bands

    image, templ = _scene_with_copies()
    kwargs = {"top": 6, **options}
    if kwargs.get("mask") == "MASK":
        kwargs["mask"] = (np.random.default_rng(31).random(templ.shape[:2]) > 0.2).astype(np.uint8)
    whole = refine_matches(search(image, templ, **kwargs))
    assert not whole.best  # the whole path keeps maps
    monkeypatch.setattr(bands, "WHOLE_BYTES", 1 << 16)
    monkeypatch.setattr(bands, "BAND_BYTES", 1 << 16)
    assert bands.band_rows(image.shape, 12, 4) is not None
    banded = refine_matches(search(image, templ, keep_maps=False, **kwargs))
    assert not banded.maps and banded.best
    assert [(m.x, m.y, m.scale, m.angle) for m in banded.matches] == [
        (m.x, m.y, m.scale, m.angle) for m in whole.matches
    ]
    for a, b in zip(banded.matches, whole.matches, strict=True):
        assert a.score == pytest.approx(b.score, rel=1e-4, abs=1e-5)
        assert a.x_subpixel == pytest.approx(b.x_subpixel, abs=1e-3)
        assert a.y_subpixel == pytest.approx(b.y_subpixel, abs=1e-3)
    kept = search(image, templ, keep_maps=True, **kwargs)
    assert len(kept.maps) == len(whole.maps)
    for (s1, hw1, m1, a1), (s2, hw2, m2, a2) in zip(kept.maps, whole.maps, strict=True):
        assert (s1, hw1, a1) == (s2, hw2, a2)
        np.testing.assert_allclose(m1, m2, atol=1e-4 * max(1.0, float(np.abs(m2).max())))


def test_banded_search_of_integer_pixels_with_image_scale(small_bands):
    image, templ = _scene_with_copies(32)
    pixels = np.round(image * 255).astype(np.uint8)
    plain = search(pixels.astype(np.float32) / 255, templ, top=5)
    banded = search(pixels, templ, top=5, image_scale=1 / 255, keep_maps=False)
    assert [(m.x, m.y) for m in banded.matches] == [(m.x, m.y) for m in plain.matches]
    ssd = search(pixels, templ, method="ssd", image_scale=1 / 255, keep_maps=False)
    assert (ssd.matches[0].x, ssd.matches[0].y) == (30, 40)
    assert ssd.matches[0].score < 1e-4  # in the template's units: the 8-bit rounding only


def test_banded_miss_reports_the_best_score(small_bands):
    from convtool.cli.find_pictures import miss_message

    image, templ = _scene_with_copies(33)
    result = search(image, templ[::-1].copy(), threshold=0.999, keep_maps=False)
    assert not result.matches and not result.maps
    assert "best" in miss_message(result, with_scale=False, with_angle=False)
