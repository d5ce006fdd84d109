"""Pictures for people (issue 15): heatmaps, colour bars, ranked annotations, helpful misses,
terminal previews (read from rich's recorded output), kernel grids and shell completion.

Oracles: OpenCV (score maps, best positions), scipy.ndimage (the peak spreading), hand-made
images with known colours, the colour maps' own entries, and geometry (rectangles overlap or
not).
"""

from __future__ import annotations

import io
import math
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image
from rich.console import Console
from scipy import ndimage

import convtool.cli
from convtool import matching, pictures
from convtool.cli import cli, preview
from convtool.images.draw import BEST_COLOUR, OTHER_COLOUR, draw_matches, place_labels

ROOT = Path(__file__).resolve().parents[1]
SCENE = ROOT / "samples" / "waldo-scene.png"
WALDO = ROOT / "samples" / "waldo.png"
WALDO_AT = (311, 187)  # where samples/make_samples.py hides him
WALDO_SIZE = (18, 40)


def load(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path), dtype=np.float32) / 255


def run(*args: str, env: dict | None = None):
    return CliRunner().invoke(cli, list(args), env=env)


def rgb8(colour) -> tuple[int, ...]:
    return tuple(int(v) for v in np.rint(np.asarray(colour) * 255))


def overlap(a, b) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


@pytest.fixture(scope="module")
def waldo_search():
    scene = load(SCENE)
    templ, alpha = matching.split_alpha(load(WALDO))
    return scene, matching.search(scene, templ, mask=alpha, top=5, threshold=0.3)


# --------------------------------------------------------------------------------------------
# heatmaps
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("radius", [0, 1, 3])
def test_spread_peaks_is_a_grey_dilation(radius):
    values = np.random.default_rng(radius).random((23, 31))
    expected = ndimage.maximum_filter(values, size=2 * radius + 1, mode="constant", cval=-np.inf)
    np.testing.assert_array_equal(pictures.spread_peaks(values, radius), expected)


def test_heatmap_marks_the_match_where_waldo_is(waldo_search):
    scene, result = waldo_search
    best = result.matches[0]
    assert (best.x, best.y) == WALDO_AT
    pic = pictures.heatmap(result, matches=result.matches)
    assert pic.shape == (*scene.shape[:2], 3)
    x, y = WALDO_AT
    w, h = WALDO_SIZE
    # The outline of the best match, in the best match's colour, all the way round.
    edge = np.concatenate([pic[y, x : x + w], pic[y + h - 1, x : x + w], pic[y : y + h, x]])
    assert (edge == np.float32(pictures.MARK_BEST)).all()
    # The perfect score (1) is at the window's centre, spread to a visible square.
    r = pictures.peak_radius(scene.shape[:2])
    assert r >= 2
    cy, cx = y + h // 2, x + w // 2
    square = pic[cy - r : cy + r + 1, cx - r : cx + r + 1]
    assert (square == pictures.INFERNO[-1]).all()
    # Nowhere else is that bright (the other matches score below 1).
    bright = (pic == pictures.INFERNO[-1]).all(axis=2)
    ys, xs = np.nonzero(bright)
    assert (abs(ys - cy) <= r).all() and (abs(xs - cx) <= r).all()
    # The other matches are outlined in the other colour.
    for m in result.matches[1:]:
        assert (pic[m.y + m.height // 2, m.x] == np.float32(pictures.MARK_OTHER)).all()


def test_heatmap_shows_ssd_with_the_smallest_difference_brightest():
    image = np.random.default_rng(1).random((40, 50))
    result = matching.search(image, image[10:20, 5:17], method="ssd", threshold=0.0)
    pic = pictures.heatmap(result, spread=0)
    assert (pic[10 + 5, 5 + 6] == pictures.INFERNO[-1]).all()
    title, top, bottom = pictures.bar_labels(result)
    assert (title, top) == ("ssd, lower is better", "0 best")  # a perfect copy differs by 0
    sq = cv2.matchTemplate(image.astype(np.float32), image[10:20, 5:17].astype(np.float32),
                           cv2.TM_SQDIFF)  # fmt: skip
    assert float(bottom) == pytest.approx(sq.max() / 120, rel=1e-3)


def test_colour_bar_panel_goes_in_a_free_corner():
    picture = np.zeros((200, 300, 3), dtype=np.float32)

    class Box:
        x, y, width, height = 280, 5, 10, 10  # in the top-right corner

    panel = pictures.add_colour_bar(picture, text_size=(40, 10), title_width=60, avoid=[Box])
    px, py, pw, ph = panel.panel
    assert (px, py) == (0, 0)  # top-left: the top-right one is taken
    bx, by, bw, bh = panel.bar
    column = picture[by : by + bh, bx + bw // 2]
    assert tuple(column[0]) == tuple(pictures.INFERNO[-1])
    assert tuple(column[-1]) == tuple(pictures.INFERNO[0])
    luma = column @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    assert (np.diff(luma) <= 1e-6).all()  # bright (best) at the top, darker downwards
    for lx, ly in panel.labels:
        assert px <= lx < px + pw and py <= ly < py + ph
    assert (
        pictures.add_colour_bar(np.zeros((20, 20, 3)), text_size=(40, 10), title_width=60) is None
    )


def _find_bar_column(img: np.ndarray) -> int | None:
    """A column holding the whole colour map top to bottom: its brightest entry, then entries
    of ever lower index down to its darkest."""
    lut = [rgb8(c) for c in pictures.INFERNO]
    index = {c: i for i, c in enumerate(lut)}
    for x in range(img.shape[1]):
        col = [tuple(int(v) for v in p) for p in img[:, x]]
        if lut[-1] not in col or lut[0] not in col:
            continue
        start = col.index(lut[-1])
        run_ = []
        for p in col[start:]:
            if p not in index:
                break
            run_.append(index[p])
        if len(run_) > 20 and run_[-1] == 0 and all(np.diff(run_) <= 0):
            return x
    return None


def test_cli_heatmap_png_has_the_match_outlined_and_a_colour_bar(tmp_path):
    heat = tmp_path / "heat.png"
    result = run("find", str(SCENE), str(WALDO), "--heatmap", str(heat))
    assert result.exit_code == 0, result.output
    img = np.asarray(Image.open(heat))
    scene = np.asarray(Image.open(SCENE))
    assert img.shape == scene.shape
    x, y = WALDO_AT
    w, h = WALDO_SIZE
    cyan = rgb8(pictures.MARK_BEST)
    assert all(tuple(p) == cyan for p in img[y, x : x + w])
    assert all(tuple(p) == cyan for p in img[y : y + h, x + w - 1])
    assert tuple(img[y + h // 2, x + w // 2]) == rgb8(pictures.INFERNO[-1])
    bar_x = _find_bar_column(img)
    assert bar_x is not None
    # Labels are written beside the bar: light text pixels right of it.
    right = img[:, bar_x + 1 : bar_x + 60]
    assert (right.min(axis=2) > 200).sum() > 20


def test_cli_heatmap_npy_is_match_templates_array(tmp_path):
    heat = tmp_path / "scores.npy"
    result = run("find", str(SCENE), str(WALDO), "--heatmap", str(heat))
    assert result.exit_code == 0, result.output
    saved = np.load(heat)
    templ, alpha = matching.split_alpha(load(WALDO))
    expected = matching.match_template(load(SCENE), templ, mask=alpha)
    assert saved.dtype == expected.dtype and saved.shape == expected.shape
    np.testing.assert_array_equal(saved, expected)
    # And the independent oracle agrees on where Waldo is.
    scene = cv2.imread(str(SCENE), cv2.IMREAD_COLOR)
    tpl = cv2.imread(str(WALDO), cv2.IMREAD_UNCHANGED)
    cv = cv2.matchTemplate(
        scene, tpl[:, :, :3], cv2.TM_CCOEFF_NORMED, mask=tpl[:, :, 3].astype(np.float32)
    )
    assert np.unravel_index(np.argmax(saved), saved.shape) == cv2.minMaxLoc(cv)[3][::-1]


def test_cli_heatmap_npy_for_ssd_is_the_mean_of_match_templates_sum(tmp_path):
    image = (np.random.default_rng(2).random((30, 40, 3)) * 255).astype(np.uint8)
    Image.fromarray(image).save(tmp_path / "img.png")
    Image.fromarray(image[5:15, 8:20]).save(tmp_path / "tpl.png")
    result = run("find", str(tmp_path / "img.png"), str(tmp_path / "tpl.png"), "--method", "ssd",
                 "--heatmap", str(tmp_path / "s.npy"))  # fmt: skip
    assert result.exit_code == 0, result.output
    saved = np.load(tmp_path / "s.npy")
    raw = cv2.matchTemplate(image.astype(np.float32) / 255, image[5:15, 8:20].astype(np.float32)
                            / 255, cv2.TM_SQDIFF)  # fmt: skip
    np.testing.assert_allclose(saved, raw / (10 * 12 * 3), atol=1e-6)


def test_cli_heatmap_npy_with_several_scales_says_which_map(tmp_path):
    result = run("find", str(SCENE), str(WALDO), "--scales", "0.9,1", "--heatmap",
                 str(tmp_path / "s.npy"))  # fmt: skip
    assert result.exit_code == 0
    assert "scale 1, angle 0 (the best)" in result.stderr
    assert np.load(tmp_path / "s.npy").shape == (320 - 40 + 1, 480 - 18 + 1)


# --------------------------------------------------------------------------------------------
# annotations
# --------------------------------------------------------------------------------------------


def test_annotation_ranks_matches_with_distinct_best_and_separate_labels(waldo_search):
    scene, result = waldo_search
    boxes = [(m.x, m.y, m.width, m.height) for m in result.matches]
    labels = [f"#{i} {m.score:.2f}" for i, m in enumerate(result.matches, 1)]
    drawn, rects = draw_matches(pictures.to_rgb8(scene), boxes, labels)
    height, width = drawn.shape[:2]
    assert all(r is not None for r in rects)
    for i, (x, y, w, h) in enumerate(rects):
        assert 0 <= x and 0 <= y and x + w <= width and y + h <= height
        assert not any(overlap(rects[i], other) for other in rects[i + 1 :])
    # Best box in its own colour and thicker than the others.
    bx, by, _, bh = boxes[0]
    assert tuple(drawn[by + bh // 2, bx]) == BEST_COLOUR
    assert tuple(drawn[by + bh // 2, bx + 1]) == BEST_COLOUR
    ox, oy, _, oh = boxes[1]
    assert tuple(drawn[oy + oh // 2, ox]) == OTHER_COLOUR
    assert tuple(drawn[oy + oh // 2, ox + 1]) != OTHER_COLOUR
    # Each label sits on a tag of its box's colour.
    for rect, colour in zip(rects, [BEST_COLOUR] + [OTHER_COLOUR] * 4, strict=True):
        tag = drawn[rect[1] : rect[1] + rect[3], rect[0] : rect[0] + rect[2]].reshape(-1, 3)
        assert (tag == colour).all(axis=1).mean() > 0.4


def test_crowded_labels_never_overlap_and_stay_inside():
    boxes = [(30, 30, 10, 10)] * 12 + [(0, 0, 5, 5), (95, 95, 5, 5)]
    sizes = [(30, 12)] * len(boxes)
    rects = place_labels(boxes, sizes, (100, 100))
    placed = [r for r in rects if r is not None]
    assert len(placed) == len(boxes)
    for i, r in enumerate(placed):
        assert r[0] >= 0 and r[1] >= 0 and r[0] + r[2] <= 100 and r[1] + r[3] <= 100
        assert not any(overlap(r, o) for o in placed[i + 1 :])


@given(
    st.lists(
        st.tuples(st.integers(0, 390), st.integers(0, 290), st.integers(1, 40),
                  st.integers(1, 40), st.integers(5, 60), st.integers(5, 15)),
        min_size=1, max_size=15,
    )
)  # fmt: skip
def test_labels_placed_anywhere_never_overlap(items):
    boxes = [(x, y, w, h) for x, y, w, h, _, _ in items]
    sizes = [(tw, th) for *_, tw, th in items]
    # 15 labels of at most 60x15 cover at most 13500 of the 120000 pixels: all find a place.
    rects = place_labels(boxes, sizes, (400, 300))
    assert all(r is not None for r in rects)
    for i, r in enumerate(rects):
        assert r[0] >= 0 and r[1] >= 0 and r[0] + r[2] <= 400 and r[1] + r[3] <= 300
        assert (r[2], r[3]) == sizes[i]
        assert not any(overlap(r, o) for o in rects[i + 1 :])


# --------------------------------------------------------------------------------------------
# helpful misses
# --------------------------------------------------------------------------------------------


def test_miss_names_the_best_score_and_where(tmp_path):
    scene = np.asarray(Image.open(SCENE))
    patch = scene[100:140, 200:230].astype(np.float64)
    noisy = np.clip(patch + np.random.default_rng(3).normal(0, 90, patch.shape), 0, 255)
    Image.fromarray(noisy.astype(np.uint8)).save(tmp_path / "noisy.png")
    result = run("find", str(SCENE), str(tmp_path / "noisy.png"))
    assert result.exit_code == 1
    message = result.stderr.strip().splitlines()[-1]
    got = re.fullmatch(r"no match with score >= 0\.8; best (0\.\d+) at x=(\d+) y=(\d+)", message)
    assert got, message
    cv = cv2.matchTemplate(scene.astype(np.float32), noisy.astype(np.float32),
                           cv2.TM_CCOEFF_NORMED)  # fmt: skip
    _, best, _, (bx, by) = cv2.minMaxLoc(cv)
    assert (int(got[2]), int(got[3])) == (bx, by) == (200, 100)
    assert float(got[1]) == pytest.approx(best, abs=0.006) and best < 0.8


def test_miss_with_scales_and_angles_says_which(tmp_path):
    result = run("find", str(SCENE), str(WALDO), "--threshold", "1.01", "--scales", "0.9,1",
                 "--angles", "0,5")  # fmt: skip
    assert result.exit_code == 1
    assert result.stderr.strip().endswith(
        f"no match with score >= 1.01; best 1.00 at x={WALDO_AT[0]} y={WALDO_AT[1]} scale 1 angle 0"
    )


def test_miss_never_rounds_onto_the_threshold():
    class Result:
        method, threshold, image_shape = "zncc", 0.8, (3, 3)

    Result.maps = [(1.0, (2, 2), np.array([[0.799, 0.1], [0.1, 0.1]]), 0.0)]

    from convtool.cli.find_pictures import miss_message

    assert miss_message(Result, with_scale=False, with_angle=False) == (
        "no match with score >= 0.8; best 0.799 at x=0 y=0"
    )
    Result.method, Result.threshold = "ssd", 0.01
    Result.maps = [(1.0, (2, 2), np.array([[0.5, 0.2], [0.3, 0.4]]), 0.0)]
    assert miss_message(Result, with_scale=True, with_angle=False) == (
        "no match with score <= 0.01; best 0.2 at x=1 y=0 scale 1"
    )


# --------------------------------------------------------------------------------------------
# terminal previews
# --------------------------------------------------------------------------------------------


@pytest.fixture
def recorded(monkeypatch):
    """Previews print on recording consoles; ``recorded.system`` picks the colour system."""

    class Recorder:
        system: str | None = "truecolor"
        no_color = None

        def __init__(self) -> None:
            self.consoles: list[Console] = []

        def text(self, styles: bool = True) -> str:
            return "".join(c.export_text(styles=styles, clear=False) for c in self.consoles)

    rec = Recorder()

    def make_console(*, force: bool = False) -> Console:
        console = Console(record=True, color_system=rec.system, force_terminal=True, width=40,
                          height=30, file=io.StringIO(), no_color=rec.no_color)  # fmt: skip
        rec.consoles.append(console)
        return console

    monkeypatch.setattr(preview, "make_console", make_console)
    return rec


@pytest.fixture
def quad(tmp_path) -> Path:
    """2x2 image: red over blue in the left column, white over black in the right one."""
    img = np.array([[[255, 0, 0], [255, 255, 255]], [[0, 0, 255], [0, 0, 0]]], dtype=np.uint8)
    Image.fromarray(img).save(tmp_path / "quad.png")
    return tmp_path / "quad.png"


def test_show_in_true_colour_two_pixels_per_cell(recorded, quad):
    result = run("show", str(quad))
    assert result.exit_code == 0, result.output
    text = recorded.text()
    first, second = re.findall(r"\x1b\[([0-9;]+)m\u2580", text)[:2]
    assert first == "38;2;255;0;0;48;2;0;0;255"  # upper red, lower blue
    assert second == "38;2;255;255;255;48;2;0;0;0"
    assert recorded.text(styles=False).splitlines()[0] == "\u2580\u2580"


@pytest.mark.parametrize("system", ["256", "standard"])
def test_show_degrades_with_the_colour_system(recorded, quad, system):
    recorded.system = system
    assert run("show", str(quad)).exit_code == 0
    text = recorded.text()
    assert "\u2580" in text and "38;2;" not in text and "48;2;" not in text
    if system == "256":
        assert "38;5;" in text
    else:
        assert "38;5;" not in text and re.search(r"\x1b\[(3|9)\d;(4|10)\dm", text)


def test_show_under_no_color_is_a_grey_ramp(quad, tmp_path):
    # The real console: rich reads NO_COLOR from the environment.
    grey = np.repeat(np.linspace(0, 255, 10).astype(np.uint8)[None, :], 2, axis=0)
    Image.fromarray(grey).save(tmp_path / "ramp.png")
    result = run("show", str(tmp_path / "ramp.png"), env={"NO_COLOR": "1"})
    assert result.exit_code == 0
    assert result.stdout == preview.GREY_RAMP + "\n"
    result = run("show", str(quad), env={"NO_COLOR": "1"})
    # Left cell: red over blue, mean luma (76.2 + 29.1) / 2 / 255 = 0.21 -> ramp index 1.86 ~ 2;
    # right cell: white over black, 0.5 -> the middle of the ramp (index 4.5).
    left, right = result.stdout.rstrip("\n")
    assert left == preview.GREY_RAMP[2] and right in preview.GREY_RAMP[4:6]


def test_show_fits_the_width(recorded):
    assert run("show", str(SCENE)).exit_code == 0
    lines = recorded.text(styles=False).splitlines()
    assert {len(line) for line in lines} == {40}  # 480 px shrunk to the 40 columns
    assert len(lines) == math.ceil(round(320 * 40 / 480) / 2)  # 27 pixel rows, 2 per line


def test_preview_only_on_a_terminal_unless_forced(recorded, tmp_path, monkeypatch):
    out = str(tmp_path / "out.png")
    result = run("filter", str(SCENE), "-k", "box:3", "-o", out, "--preview")
    assert result.exit_code == 0 and recorded.consoles == []  # CliRunner: not a terminal
    result = run("filter", str(SCENE), "-k", "box:3", "-o", out, "--force-preview")
    assert result.exit_code == 0 and "\u2580" in recorded.text()
    recorded.consoles.clear()
    monkeypatch.setattr(convtool.cli, "stdout_is_terminal", lambda: True)
    result = run("find", str(SCENE), str(WALDO), "--preview")
    assert result.exit_code == 0 and "\u2580" in recorded.text()
    # --force-preview and -o - would both write to stdout.
    result = run("filter", str(SCENE), "-k", "box:3", "-o", "-", "--force-preview")
    assert result.exit_code == 2 and result.stderr.startswith("Error: --force-preview")


def test_find_preview_draws_the_best_box_in_gold(recorded, monkeypatch):
    monkeypatch.setattr(convtool.cli, "stdout_is_terminal", lambda: True)
    assert run("find", str(SCENE), str(WALDO), "--preview").exit_code == 0
    text = recorded.text()
    # The gold of the best box survives the shrink on some cell (colours blend with the scene).
    colours = {tuple(map(int, c)) for c in re.findall(r"38;2;(\d+);(\d+);(\d+)", text)}
    assert any(r > 200 and g > 150 and b < 80 for r, g, b in colours)


# --------------------------------------------------------------------------------------------
# kernels --show
# --------------------------------------------------------------------------------------------


def _cells(text: str) -> list[tuple[tuple[int, int, int], str]]:
    return [
        ((int(r), int(g), int(b)), value.strip())
        for r, g, b, value in re.findall(r"48;2;(\d+);(\d+);(\d+)m([^\x1b]*)\x1b\[0m", text)
    ]


def test_kernels_show_laplacian_diverging_colours(recorded):
    result = run("kernels", "laplacian", "--show")
    assert result.exit_code == 0, result.output
    cells = _cells(recorded.text())
    assert [v for _, v in cells] == ["0", "1", "0", "1", "-4", "1", "0", "1", "0"]
    for (r, g, b), value in cells:
        if value == "0":
            assert r == g == b  # neutral grey
        elif value.startswith("-"):
            assert b > r + 50  # blue
        else:
            assert r > b + 20  # red
    assert "grey = 0" in recorded.text(styles=False)


def test_kernels_show_colour_strength_follows_magnitude(recorded):
    assert run("kernels", "sobel-x", "--show").exit_code == 0
    cells = dict(((v, c) for c, v in _cells(recorded.text())))
    assert cells["2"][2] < cells["1"][2] < cells["0"][2]  # stronger red: less blue
    assert cells["-2"][0] < cells["-1"][0] < cells["0"][0]  # stronger blue: less red
    assert cells["0"] == rgb8(pictures.DIVERGING[128])


def test_kernels_show_without_colour_prints_the_values(tmp_path):
    result = run("kernels", "laplacian", "--show", env={"NO_COLOR": "1"})
    assert result.exit_code == 0
    rows = [line.split() for line in result.stdout.splitlines()[1:4]]
    assert rows == [["0", "1", "0"], ["1", "-4", "1"], ["0", "1", "0"]]
    assert "\x1b" not in result.stdout


def test_kernels_show_needs_a_spec():
    result = run("kernels", "--show")
    assert result.exit_code == 2 and result.stderr.startswith("Error: --show needs a kernel")


def test_signed_colours_are_symmetric_and_zero_is_neutral():
    values = np.linspace(-3, 3, 13)
    rgb = pictures.signed_colours(values)
    assert tuple(rgb[6]) == tuple(pictures.DIVERGING[128])
    # Further from zero, further from neutral, on both sides; the sign picks blue or red.
    dist = np.abs(rgb - rgb[6]).sum(axis=1)
    assert (np.diff(dist[6:]) > 0).all() and (np.diff(dist[:7]) < 0).all()
    assert (rgb[:6, 2] > rgb[:6, 0]).all() and (rgb[7:, 0] > rgb[7:, 2]).all()


# --------------------------------------------------------------------------------------------
# completion
# --------------------------------------------------------------------------------------------


def complete(words: str, shell: str = "bash") -> list[str]:
    parts = words.split(" ")
    env = {"_CONVTOOL_COMPLETE": f"{shell}_complete", "COMP_WORDS": words,
           "COMP_CWORD": str(len(parts) - 1)}  # fmt: skip
    result = CliRunner().invoke(cli, [], env=env, prog_name="convtool")
    assert result.exit_code == 0, result.output
    return [line for line in result.stdout.splitlines() if line]


def test_completion_of_a_partial_kernel_name():
    derivatives = ["dx", "dy", "dxx", "dyy", "dxy", "dxxx", "dyyy"]
    assert complete("convtool filter in.png -k gau") == ["plain,gaussian"] + [
        f"plain,gaussian-{d}" for d in derivatives
    ]
    assert complete("convtool kernels sob") == ["plain,sobel-x", "plain,sobel-y", "plain,sobel"]
    assert complete("convtool filter in.png -k gaussian:") == []
    assert complete("convtool filter in.png -k ./my") == ["file,./my"]
    zsh = complete("convtool kernels lap", shell="zsh")
    assert zsh[:2] == ["plain", "laplacian"]


def test_completion_of_border_modes_methods_and_strategies():
    assert complete("convtool filter in.png --border wr") == ["plain,wrap"]
    assert "plain,reflect101" in complete("convtool filter in.png --border re")
    assert complete("convtool find a.png b.png --method z") == ["plain,zncc"]
    strategies = complete("convtool filter in.png --strategy ")
    assert "plain,auto" in strategies and "plain,fft" in strategies


def test_kernels_show_shrinks_a_kernel_wider_than_the_console(recorded):
    assert run("kernels", "gaussian:12", "--show").exit_code == 0  # 73x73 on 40 columns
    lines = recorded.text(styles=False).splitlines()
    assert lines[1] == "(shown shrunk from 73x73 to 40x40 cells)"
    grid = lines[2:42]
    assert {len(line) for line in grid} == {40} and set("".join(grid)) == {"+"}
    assert lines[42].startswith("blue < 0")


def test_show_reads_stdin_and_rescales_floats_outside_0_1(quad, tmp_path):
    result = CliRunner().invoke(cli, ["show", "-"], input=quad.read_bytes(), env={"NO_COLOR": "1"})
    assert result.exit_code == 0 and len(result.stdout) == 3  # two cells and a newline
    np.save(tmp_path / "f.npy", np.array([[-2.0, 0.0], [0.0, 2.0]], dtype=np.float32))
    result = run("show", str(tmp_path / "f.npy"), env={"NO_COLOR": "1"})
    assert result.exit_code == 0
    # Rescaled -2..2 to black..white: cells of mean 0.25 and 0.75, ramp indices 2.25 and 6.75.
    assert result.stdout == preview.GREY_RAMP[2] + preview.GREY_RAMP[7] + "\n"
    assert "note: float values -2..2 shown rescaled to black..white" in result.stderr
