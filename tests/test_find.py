"""Template search: score maps against OpenCV/scikit-image, peak picking, the `find` command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from skimage.feature import match_template as sk_match_template
from skimage.feature import peak_local_max

from convtool import matching as tm
from convtool.cli import cli
from convtool.engine import next_fast_len
from convtool.matching import peaks

ROOT = Path(__file__).resolve().parents[1]
SCENE = ROOT / "samples" / "waldo-scene.png"
WALDO = ROOT / "samples" / "waldo.png"
WALDO_AT = (311, 187)  # where samples/make_samples.py hides him
CV_METHOD = {
    "zncc": cv2.TM_CCOEFF_NORMED,
    "ncc": cv2.TM_CCORR_NORMED,
    "ssd": cv2.TM_SQDIFF,
    "ssd-normed": cv2.TM_SQDIFF_NORMED,
    "ccorr": cv2.TM_CCORR,
    "ccoeff": cv2.TM_CCOEFF,
}


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def load(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path), dtype=np.float32) / 255


def cv_tolerance(method: str, expected: np.ndarray) -> float:
    # normalized scores: 1e-3 absolute; raw SSD: 1e-3 relative to its range
    raw = method in ("ssd", "ccorr", "ccoeff")
    return 1e-3 if not raw else 1e-3 * max(1.0, float(np.abs(expected).max()))


# --------------------------------------------------------------------------------------------
# score maps against cv2.matchTemplate
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", tm.METHODS)
@pytest.mark.parametrize(
    ("shape", "tshape"),
    [((120, 160), (17, 23)), ((97, 131, 3), (30, 9, 3)), ((64, 64, 3), (64, 1, 3))],
)
def test_random_images_agree_with_opencv(method, shape, tshape):
    g = rng(sum(shape))
    image = g.random(shape, dtype=np.float32)
    templ = g.random(tshape, dtype=np.float32)
    expected = cv2.matchTemplate(image, templ, CV_METHOD[method])
    got = tm.match_template(image, templ, method=method)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=cv_tolerance(method, expected), rtol=0)


@pytest.mark.parametrize("method", tm.METHODS)
@pytest.mark.parametrize("kind", ["binary", "weights", "per-channel"])
def test_masked_scores_agree_with_opencv(method, kind):
    g = rng(7)
    image = g.random((90, 110, 3), dtype=np.float32)
    templ = g.random((21, 13, 3), dtype=np.float32)
    if kind == "binary":
        mask = (g.random((21, 13)) > 0.3).astype(np.float32)
    elif kind == "weights":
        mask = g.random((21, 13)).astype(np.float32)
    else:
        mask = g.random((21, 13, 3)).astype(np.float32)
    expected = cv2.matchTemplate(image, templ, CV_METHOD[method], mask=mask)
    got = tm.match_template(image, templ, method=method, mask=mask)
    np.testing.assert_allclose(got, expected, atol=cv_tolerance(method, expected), rtol=0)


@pytest.mark.parametrize("method", tm.METHODS)
@pytest.mark.parametrize("gray", [False, True])
def test_sample_scene_agrees_with_opencv(method, gray):
    scene = load(SCENE)
    sprite = load(WALDO)
    templ, alpha = sprite[:, :, :3], sprite[:, :, 3]
    if gray:
        scene = cv2.cvtColor(scene, cv2.COLOR_RGB2GRAY)
        templ = cv2.cvtColor(np.ascontiguousarray(templ), cv2.COLOR_RGB2GRAY)
    templ = np.ascontiguousarray(templ)
    for mask in (None, alpha):
        expected = cv2.matchTemplate(scene, templ, CV_METHOD[method], mask=mask)
        if method == "ssd-normed" and mask is not None:
            # OpenCV clamps TM_SQDIFF_NORMED to 1 without a mask only; convtool always does
            expected = np.minimum(np.nan_to_num(expected, nan=1.0), 1.0)
        got = tm.match_template(scene, templ, method=method, mask=mask)
        np.testing.assert_allclose(got, expected, atol=cv_tolerance(method, expected), rtol=0)


def test_all_ones_mask_equals_unmasked():
    g = rng(3)
    image = g.random((50, 60, 3), dtype=np.float32)
    templ = image[5:15, 7:20]
    plain = tm.match_template(image, templ)
    masked = tm.match_template(image, templ, mask=np.ones((10, 13)))
    np.testing.assert_array_equal(plain, masked)


def test_float64_input_gives_float64_map():
    g = rng(4)
    image = g.random((40, 40))
    out = tm.match_template(image, image[3:9, 4:12])
    assert out.dtype == np.float64
    assert out[3, 4] == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("tshape", [(64, 64), (45, 200), (7, 3)])
def test_large_low_contrast_image_keeps_precision(channels, tshape):
    # An offset of 10 with 0.1 contrast on a 1080-row image: window sums are differences
    # of running sums ~1e7, and the variance cancels 5 digits; float32 sums would fail.
    # (Much less contrast is a flat window by OpenCV's rule: variance <= 1.2e-6 * mean^2.)
    g = rng(11)
    shape = (1080, 700) if channels == 1 else (1080, 700, channels)
    image64 = 10 + 0.1 * g.random(shape)
    image = image64.astype(np.float32)
    templ = image[500 : 500 + tshape[0], 300 : 300 + tshape[1]]
    got = tm.match_template(image, templ)
    reference = tm.match_template(image.astype(np.float64), templ.astype(np.float64))
    np.testing.assert_allclose(got, reference, atol=1e-3, rtol=0)
    assert got[500, 300] == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("scale", [1e-5, 1e12])
def test_zncc_is_scale_invariant_at_extreme_scales(scale):
    g = rng(12)
    image = g.random((70, 90, 3)).astype(np.float32)
    templ = image[10:30, 20:35].copy()
    expected = tm.match_template(image, templ)
    got = tm.match_template(image * np.float32(scale), templ * np.float32(scale))
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)


def test_search_computes_image_spectrum_and_running_sums_once(monkeypatch):
    from convtool.matching import prepared  # the module that owns the prepared image

    calls = []
    original = prepared._prefix_tasks
    spy = lambda *a, **k: calls.append(1) or original(*a, **k)  # noqa: E731
    monkeypatch.setattr(prepared, "_prefix_tasks", spy)
    g = rng(13)
    image = g.random((90, 120, 3)).astype(np.float32)
    result = tm.search(image, image[20:40, 30:60], scales=(0.5, 0.75, 1.0, 1.25))
    assert len(calls) == 1 and len(result.maps) == 4
    best = result.matches[0]
    assert (best.x, best.y, best.scale) == (30, 20, 1.0)


# --------------------------------------------------------------------------------------------
# scikit-image's published cases and degenerate input
# --------------------------------------------------------------------------------------------


def _tri(n: int) -> np.ndarray:
    return np.tri(n) + np.tri(n)[::-1]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_skimage_two_targets_in_noise(dtype):
    g = rng(1)
    image = np.full((400, 400), 0.5, dtype=dtype) + 0.1 * g.random((400, 400)).astype(dtype)
    target = 0.1 * _tri(100).astype(dtype)
    image[50:150, 50:150] += target
    image[200:300, 200:300] += target
    scores = tm.match_template(image, target)
    assert scores.dtype == dtype
    peaks = peak_local_max(scores, min_distance=5, num_peaks=2)
    assert sorted(map(tuple, peaks)) == [(50, 50), (200, 200)]
    found = tm.find_matches(scores, template_shape=(100, 100), top=2, threshold=0.5)
    assert sorted((m.y, m.x) for m in found) == [(50, 50), (200, 200)]


def test_skimage_normalization_plus_one_minus_one():
    image = np.full((20, 20), 0.5)
    image[2:7, 3:8] = 1.0
    image[12:17, 11:16] = 0.0
    templ = np.zeros((7, 7))
    templ[1:6, 1:6] = 1.0
    scores = tm.match_template(image, templ)
    hi = np.unravel_index(scores.argmax(), scores.shape)
    lo = np.unravel_index(scores.argmin(), scores.shape)
    assert (hi[0] + 1, hi[1] + 1) == (2, 3)
    assert (lo[0] + 1, lo[1] + 1) == (12, 11)
    assert scores[hi] == pytest.approx(1.0, abs=1e-6)
    assert scores[lo] == pytest.approx(-1.0, abs=1e-6)


def test_skimage_docstring_values():
    image = np.zeros((6, 6))
    image[1, 1] = 1
    image[4, 4] = -1
    delta = np.zeros((3, 3))
    delta[1, 1] = 1
    expected = np.array(
        [[1, -0.125, 0, 0], [-0.125, -0.125, 0, 0], [0, 0, 0.125, 0.125], [0, 0, 0.125, -1]]
    )
    np.testing.assert_allclose(tm.match_template(image, delta), expected, atol=1e-9)


def test_near_flat_image_gives_no_nan():
    g = rng(2)
    image = 0.5 + 1e-9 * g.standard_normal((20, 20))
    templ = np.zeros((6, 6))
    templ[3:] = 1.0
    for method in tm.METHODS:
        scores = tm.match_template(image, templ, method=method)
        assert np.isfinite(scores).all()
    assert np.abs(tm.match_template(image, templ)).max() <= 1.0


def test_flat_windows_score_zero_and_maps_stay_in_range():
    g = rng(5)
    image = np.zeros((60, 60, 3), dtype=np.float32)
    image[:, 30:] = g.random((60, 30, 3))
    image[:, :30] = [0.2, 0.7, 0.4]  # a flat colour region
    templ = image[10:20, 35:45].copy()
    scores = tm.match_template(image, templ)
    assert np.isfinite(scores).all()
    assert (scores[:, :21] == 0).all()  # windows wholly inside the flat region
    assert scores.min() >= -1 and scores.max() <= 1
    masked = tm.match_template(image, templ, mask=g.random((10, 10)))
    assert np.isfinite(masked).all() and (masked[:, :21] == 0).all()


def test_skimage_agrees_on_gray():
    g = rng(6)
    image = g.random((80, 90)).astype(np.float64)
    templ = image[20:35, 40:52].copy()
    np.testing.assert_allclose(
        tm.match_template(image, templ), sk_match_template(image, templ), atol=1e-6
    )


def test_flat_template_is_an_error_not_all_ones():
    image = rng(0).random((30, 30), dtype=np.float32)
    with pytest.raises(tm.TemplateError, match="template has no contrast"):
        tm.match_template(image, np.full((5, 5), 0.3))
    with pytest.raises(tm.TemplateError, match="all zero"):
        tm.match_template(image, np.zeros((5, 5)), method="ncc")
    # ssd scores a flat template fine: 0 where the image has that value
    image[10:15, 12:17] = 0.3
    ssd = tm.match_template(image, np.full((5, 5), 0.3, dtype=np.float32), method="ssd")
    assert ssd[10, 12] == pytest.approx(0.0, abs=1e-9)
    assert ssd.min() >= 0


def test_bad_shapes_are_errors():
    image = np.zeros((10, 12))
    with pytest.raises(tm.TemplateError, match=r"template \(13x5\) is larger than the image"):
        tm.match_template(image, np.ones((5, 13)))
    with pytest.raises(tm.TemplateError, match="channel"):
        tm.match_template(image, np.ones((3, 3, 3)))
    with pytest.raises(tm.TemplateError, match="mask shape"):
        tm.match_template(image, np.eye(3), mask=np.ones((4, 3)))
    with pytest.raises(tm.TemplateError, match="mask is empty"):
        tm.match_template(image, np.eye(3), mask=np.zeros((3, 3)))


# --------------------------------------------------------------------------------------------
# locating things
# --------------------------------------------------------------------------------------------


def _scene(seed: int, shape=(200, 260, 3)) -> np.ndarray:
    g = rng(seed)
    base = g.random((shape[0] // 8 + 1, shape[1] // 8 + 1, shape[2]), dtype=np.float32)
    smooth = cv2.resize(base, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)
    return np.clip(smooth + 0.05 * g.random(shape, dtype=np.float32), 0, 1)


def test_exact_location_under_noise_gain_and_offset():
    scene = _scene(10)
    templ = scene[77:109, 143:183].copy()  # 32 x 40 at x=143, y=77
    g = rng(11)
    changed = 0.6 * scene + 0.25 + 0.03 * g.standard_normal(scene.shape).astype(np.float32)
    result = tm.search(changed, templ)
    best = result.matches[0]
    assert (best.x, best.y, best.width, best.height) == (143, 77, 40, 32)
    assert best.score > 0.9
    # gain/offset invariance of zncc itself: identical maps up to float32 rounding
    np.testing.assert_allclose(
        tm.match_template(0.6 * scene + 0.25, templ), tm.match_template(scene, templ), atol=2e-4
    )


def test_several_instances_found_once_each():
    scene = _scene(12, (240, 320, 3))
    sprite = _scene(13, (24, 30, 3))
    spots = [(10, 20), (150, 40), (60, 200), (200, 260)]  # (y, x)
    for y, x in spots:
        scene[y : y + 24, x : x + 30] = sprite
    result = tm.search(scene, sprite, top=10)
    assert sorted((m.y, m.x) for m in result.matches) == sorted(spots)
    assert all(m.score > 0.99 for m in result.matches)


def test_masked_template_cut_from_one_background_found_on_another():
    g = rng(14)
    sprite = np.zeros((30, 30, 3), dtype=np.float32)
    yy, xx = np.mgrid[:30, :30]
    disc = (yy - 14.5) ** 2 + (xx - 14.5) ** 2 < 12**2
    sprite[disc] = g.random((int(disc.sum()), 3), dtype=np.float32)
    first = _scene(15)
    first[20:50, 30:60][disc] = sprite[disc]
    cut = first[20:50, 30:60].copy()  # the object with the first background around it
    second = _scene(16)
    second[120:150, 170:200][disc] = sprite[disc]
    masked = tm.search(second, cut, mask=disc.astype(np.float32), threshold=0.9)
    assert [(m.x, m.y) for m in masked.matches] == [(170, 120)]
    assert masked.matches[0].score == pytest.approx(1.0, abs=1e-4)
    plain = tm.search(second, cut, threshold=0.9)
    assert plain.matches == [] or plain.matches[0].score < masked.matches[0].score


def test_scaled_instance_found_with_its_scale():
    scene = _scene(17, (240, 300, 3))
    templ = _scene(18, (24, 32, 3))
    big = cv2.resize(templ, (48, 36), interpolation=cv2.INTER_LINEAR)  # 1.5x
    scene[100:136, 200:248] = big
    result = tm.search(scene, templ, scales=[0.75, 1.0, 1.5, 2.0], threshold=0.8)
    best = result.matches[0]
    assert (best.x, best.y, best.width, best.height, best.scale) == (200, 100, 48, 36, 1.5)
    assert best.score > 0.95


def test_resize_agrees_with_opencv():
    image = rng(19).random((30, 42, 3), dtype=np.float32)
    for size in [(15, 21), (20, 28), (11, 17)]:
        expected = cv2.resize(image, size[::-1], interpolation=cv2.INTER_AREA)
        np.testing.assert_allclose(tm.resize(image, size), expected, atol=1e-5)
    for size in [(60, 84), (45, 63)]:
        expected = cv2.resize(image, size[::-1], interpolation=cv2.INTER_LINEAR)
        np.testing.assert_allclose(tm.resize(image, size), expected, atol=1e-5)


def test_nms_keeps_mtm_demo_boxes():
    # MTM's NMS demo: IoUs 0.747, 0.254, 0.338; maxOverlap 0.5 and N=2 keep the .8 and .4 boxes
    boxes = np.array([[780, 350, 700, 480], [806, 416, 716, 442], [1074, 530, 680, 390]], float)
    assert peaks._nms(boxes, np.array([0.8, 0.6, 0.4]), overlap=0.5, top=2) == [0, 2]


def test_find_matches_ssd_lower_is_better_and_thresholds():
    scores = np.full((10, 10), 5.0)
    scores[2, 2], scores[7, 6] = 0.5, 0.1
    found = tm.find_matches(scores, template_shape=(3, 3), top=5, threshold=1.0, method="ssd")
    assert [(m.x, m.y, m.score) for m in found] == [(6, 7, 0.1), (2, 2, 0.5)]
    assert tm.find_matches(scores, template_shape=(3, 3), threshold=0.05, method="ssd") == []


def test_next_fast_len_is_smallest_5_smooth():
    def smooth(n):
        for p in (2, 3, 5):
            while n % p == 0:
                n //= p
        return n == 1

    for n in [*range(1, 300), 1079, 1081, 1919, 1921, 4097]:
        want = next(m for m in range(n, 2 * n + 2) if smooth(m))
        assert next_fast_len(n) == want


def test_parse_scales():
    assert tm.parse_scales("0.5,0.75,1,1.5") == [0.5, 0.75, 1.0, 1.5]
    assert tm.parse_scales("1:2:0.5") == [1.0, 1.5, 2.0]
    for bad in ["", "a,b", "1:2", "2:1:0.5", "0,1", "1:2:0", "-1"]:
        with pytest.raises(tm.TemplateError, match="scale"):
            tm.parse_scales(bad)


# --------------------------------------------------------------------------------------------
# the command
# --------------------------------------------------------------------------------------------


def run(*args: str, input: bytes | None = None):
    return CliRunner().invoke(cli, ["find", *args], input=input)


def test_cli_finds_waldo_and_writes_pictures(tmp_path):
    found, heat = tmp_path / "found.png", tmp_path / "heat.png"
    result = run(str(SCENE), str(WALDO), "--annotate", str(found), "--heatmap", str(heat))
    assert result.exit_code == 0, result.output
    x, y, w, h, score = result.output.split("\t")
    assert (int(x), int(y), int(w), int(h)) == (*WALDO_AT, 18, 40)
    assert float(score) > 0.99
    scene = np.asarray(Image.open(SCENE))
    for path in (found, heat):
        assert np.asarray(Image.open(path)).shape == scene.shape
    annotated = np.asarray(Image.open(found)).astype(int)
    assert (annotated != scene).any(axis=2).sum() > 50  # a box was drawn


def test_cli_json_csv_and_exit_status(tmp_path):
    result = run(str(SCENE), str(WALDO), "--json", "--top", "3", "--threshold", "0.5")
    assert result.exit_code == 0
    matches = json.loads(result.output)
    assert [sorted(m) for m in matches] == [["height", "score", "width", "x", "y"]] * len(matches)
    assert (matches[0]["x"], matches[0]["y"]) == WALDO_AT
    assert [m["score"] for m in matches] == sorted((m["score"] for m in matches), reverse=True)

    result = run(str(SCENE), str(WALDO), "--json", "--scales", "0.9,1")
    assert result.exit_code == 0
    assert json.loads(result.output)[0]["scale"] == 1.0

    result = run(str(SCENE), str(WALDO), "--csv")
    assert result.exit_code == 0
    assert result.output.splitlines()[0] == "x,y,width,height,score"

    other = tmp_path / "other.png"
    Image.fromarray((rng(0).random((40, 30, 3)) * 255).astype(np.uint8)).save(other)
    result = run(str(SCENE), str(other), "--json")
    assert result.exit_code == 1
    assert result.stdout.strip() == "[]"


def test_cli_stdin(tmp_path):
    result = run("-", str(WALDO), input=SCENE.read_bytes())
    assert result.exit_code == 0
    assert result.output.split("\t")[:2] == [str(WALDO_AT[0]), str(WALDO_AT[1])]


def _flat(tmp_path, name="flat.png", size=(8, 8)) -> Path:
    path = tmp_path / name
    Image.new("RGB", size, (128, 40, 40)).save(path)
    return path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{scene}", "{missing}"], "Error: {missing}: no such file"),
        (["{scene}", "{flat}"], "Error: template has no contrast (all its pixels have the same"),
        (["{flat}", "{scene}"], "Error: template (480x320) is larger than the image (8x8)"),
        (["{scene}", "{waldo}", "--scales", "x"], "Error: bad scale list 'x': use numbers"),
        (["{scene}", "{waldo}", "--angles", "inf"], "Error: bad angle list 'inf': angles must"),
        (["{scene}", "{waldo}", "--angles", "9:0:1"], "Error: bad angle range '9:0:1': need"),
        (["{scene}", "{waldo}", "--angles=-1:1"], "Error: bad angle list '-1:1': use numbers"),
        (["{scene}", "{waldo}", "--mask", "{flat}"], "Error: mask shape (8, 8, 3) does not fit"),
        (["{scene}", "{notimage}"], "Error: {notimage}: not an image Pillow can read"),
    ],
)
def test_cli_errors_exit_2_without_partial_files(tmp_path, args, message):
    names = {
        "scene": str(SCENE),
        "waldo": str(WALDO),
        "flat": str(_flat(tmp_path)),
        "missing": str(tmp_path / "missing.png"),
        "notimage": str(tmp_path / "notes.txt"),
    }
    (tmp_path / "notes.txt").write_text("hello")
    out = tmp_path / "out"
    out.mkdir()
    extra = ["--annotate", str(out / "a.png"), "--heatmap", str(out / "h.png")]
    result = run(*[a.format(**names) for a in args], *extra)
    assert result.exit_code == 2
    assert result.stderr.startswith(message.format(**names))
    assert "Traceback" not in result.output
    assert list(out.iterdir()) == []


def test_cli_bad_output_path_is_checked_first(tmp_path):
    result = run(str(SCENE), str(WALDO), "--annotate", str(tmp_path / "a.png"),
                 "--heatmap", str(tmp_path / "nodir" / "h.png"))  # fmt: skip
    assert result.exit_code == 2
    assert "does not exist" in result.stderr
    assert not (tmp_path / "a.png").exists()


def test_pipeline_filter_into_find():
    filt = subprocess.Popen(
        [sys.executable, "-m", "convtool", "filter", "-", "-k", "box:1", "-o", "-", "--format",
         "png"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )  # fmt: skip
    find = subprocess.Popen(
        [sys.executable, "-m", "convtool", "find", "-", str(WALDO), "--json"],
        stdin=filt.stdout,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    filt.stdout.close()  # find owns the read end now
    filt.stdin.write(SCENE.read_bytes())
    filt.stdin.close()
    out, err = find.communicate(timeout=60)
    assert filt.wait(timeout=60) == 0
    assert find.returncode == 0, err
    best = json.loads(out)[0]
    assert (best["x"], best["y"], best["width"], best["height"]) == (*WALDO_AT, 18, 40)


@pytest.mark.parametrize(("dy", "dx"), [(0.3, -0.25), (-0.4, 0.1), (0.0, 0.45)])
def test_subpixel_refinement_recovers_fractional_shifts(dy, dx):
    ndi = pytest.importorskip("scipy.ndimage")
    rng = np.random.default_rng(5)
    base = ndi.gaussian_filter(rng.standard_normal((120, 140)), 3.0)  # smooth: a curved peak
    y0, x0 = 50, 60
    templ = base[y0 : y0 + 24, x0 : x0 + 28]
    image = ndi.shift(base, (dy, dx), order=3, mode="reflect")  # content moves by (+dy, +dx)
    result = tm.refine_matches(tm.search(image, templ, threshold=0.5))
    m = result.matches[0]
    assert (m.x, m.y) == (round(x0 + dx), round(y0 + dy))
    assert abs(m.x_subpixel - (x0 + dx)) < 0.1
    assert abs(m.y_subpixel - (y0 + dy)) < 0.1


def test_subpixel_cli_columns_and_json(tmp_path):
    runner = CliRunner()
    res = runner.invoke(cli, ["find", str(SCENE), str(WALDO), "--subpixel", "--json"])
    assert res.exit_code == 0, res.output
    (match,) = json.loads(res.stdout)
    assert set(match) == {"x", "y", "width", "height", "score", "x_subpixel", "y_subpixel"}
    assert abs(match["x_subpixel"] - match["x"]) <= 0.5
    assert abs(match["y_subpixel"] - match["y"]) <= 0.5


# --------------------------------------------------------------------------------------------
# turned templates (--angles)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("angle", [30, -20, 45, 110, 200])
@pytest.mark.parametrize("shape", [(21, 31), (16, 9, 3)])
def test_rotate_agrees_with_scipy_where_the_source_covers_the_pixel(angle, shape):
    ndi = pytest.importorskip("scipy.ndimage")
    image = rng(7).random(shape)
    turned, cover = tm.rotate(image, angle)
    axes = (1, 0)
    want = ndi.rotate(image, angle, axes=axes, order=1, reshape=True, mode="constant")
    assert turned.shape == want.shape
    full = cover >= 1 - 1e-12
    assert full.mean() > 0.3
    np.testing.assert_allclose(turned[full], want[full], atol=1e-12)
    assert cover.min() >= 0 and cover.max() <= 1 and cover[0, 0] == 0  # an empty corner


@pytest.mark.parametrize("turns", [1, 2, 3, 4, -1])
def test_quarter_turns_are_exact_and_fully_covered(turns):
    image = rng(8).random((5, 8, 2))
    turned, cover = tm.rotate(image, 90 * turns)
    np.testing.assert_array_equal(turned, np.rot90(image, turns))
    assert cover.shape == turned.shape[:2] and bool(cover.all())


def _scene_with_turned_template(angle: float):
    ndi = pytest.importorskip("scipy.ndimage")
    gen = rng(9)
    scene = ndi.gaussian_filter(gen.random((140, 200, 3)), (1.5, 1.5, 0))
    templ = ndi.gaussian_filter(gen.random((26, 14, 3)), (1, 1, 0))
    # Built with scipy, independently of convtool's rotate: image and coverage.
    turned = ndi.rotate(templ, angle, order=1, reshape=True, mode="constant")
    cover = ndi.rotate(np.ones(templ.shape[:2]), angle, order=1, reshape=True)[:, :, None]
    y, x = 50, 120
    region = scene[y : y + turned.shape[0], x : x + turned.shape[1]]
    region[...] = turned + (1 - cover) * region
    return scene, templ, (x, y), turned.shape[:2]


def test_search_finds_a_turned_instance_and_reports_its_angle():
    scene, templ, (x, y), (h, w) = _scene_with_turned_template(30)
    found = tm.search(scene, templ, angles=[-30, 0, 30, 60], top=1)
    best = found.matches[0]
    assert (best.x, best.y, best.angle) == (x, y, 30.0)
    assert (best.height, best.width) == (h, w)
    assert best.score > 0.99
    assert {a for *_, a in found.maps} == {-30.0, 0.0, 30.0, 60.0}
    upright = tm.search(scene, templ, threshold=-1.0).matches[0]
    assert upright.score < 0.8  # without turning, the instance is not recognised


def test_search_quarter_turn_scores_exactly_without_a_mask():
    gen = rng(10)
    scene = gen.random((60, 70))
    templ = scene[10:22, 30:38]
    rotated_scene = np.rot90(scene)  # the template now appears turned by 90 degrees
    best = tm.search(rotated_scene, templ, angles=[0, 90]).matches[0]
    assert best.angle == 90.0 and best.score == pytest.approx(1.0, abs=1e-5)
    assert (best.width, best.height) == (12, 8)


def test_search_angles_that_never_fit_are_an_error():
    with pytest.raises(tm.TemplateError, match="turned by every angle searched is larger"):
        tm.search(np.random.default_rng(0).random((12, 40)), np.eye(10, 40)[:10], angles=[90])


def test_cli_angles_column_and_json_key(tmp_path):
    scene, templ, (x, y), _ = _scene_with_turned_template(30)
    scene_path, templ_path = tmp_path / "scene.png", tmp_path / "templ.png"
    Image.fromarray(np.rint(scene * 255).astype(np.uint8)).save(scene_path)
    Image.fromarray(np.rint(templ * 255).astype(np.uint8)).save(templ_path)
    result = run(str(scene_path), str(templ_path), "--angles", "-30:60:30", "--json")
    assert result.exit_code == 0, result.output
    best = json.loads(result.output)[0]
    assert sorted(best) == ["angle", "height", "score", "width", "x", "y"]
    assert (best["x"], best["y"], best["angle"]) == (x, y, 30.0)
    result = run(str(scene_path), str(templ_path), "--angles", "0,30", "--csv")
    assert result.output.splitlines()[0] == "x,y,width,height,score,angle"
    result = run(str(scene_path), str(templ_path), "--angles", "0,30")
    assert result.output.split("\t")[-1].strip() == "30"


@pytest.mark.parametrize("binary", [True, False])
def test_masked_zncc_shared_mask_path_equals_per_channel_path(binary):
    # A mask shared by the channels takes the cheaper path (one kernel spectrum per quantity,
    # M^2 = M when binary); spelled out per channel it must give the same scores.
    gen = rng(12)
    image = gen.random((50, 70, 3)).astype(np.float32)
    templ = image[10:26, 20:32].copy()
    mask = (gen.random((16, 12, 1)) > 0.3).astype(np.float64)
    if not binary:
        mask *= gen.uniform(0.2, 1.0, mask.shape)
    shared = tm.match_template(image, templ, mask=mask)
    spelled = tm.match_template(image, templ, mask=np.repeat(mask, 3, axis=2))
    np.testing.assert_allclose(shared, spelled, atol=1e-6)
    assert shared[10, 20] == pytest.approx(1.0, abs=1e-6)
