"""filter habits (issue 25 items 2-5 and the filter slips; issue 28 item 4): --depth, conversions
without -k, inputs refused as outputs unless --in-place (links followed), --values stretch."""

from __future__ import annotations

import os

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from convtool.cli import cli, filter_options

ndi = pytest.importorskip("scipy.ndimage")


def run(*args: str):
    return CliRunner().invoke(cli, ["filter", *map(str, args)])


@pytest.fixture
def rgb(tmp_path):
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "in.png")
    return tmp_path / "in.png", pixels


# --------------------------------------------------------------------------- --depth


def test_float_sobel_of_an_8_bit_png_keeps_negative_values(rgb, tmp_path):
    path, pixels = rgb
    result = run(path, "-k", "sobel-x", "--depth", "float", "-o", tmp_path / "sx.npy")
    assert result.exit_code == 0, result.output
    out = np.load(tmp_path / "sx.npy")
    assert out.dtype == np.float32 and out.min() < 0 and out.max() > 1
    # oracle: scipy's correlation of the normalized image, reflect border (scipy 'reflect')
    x = pixels.astype(np.float64) / 255
    k = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float64)
    want = np.stack([ndi.correlate(x[..., c], k, mode="reflect") for c in range(3)], axis=2)
    np.testing.assert_allclose(out, want, atol=1e-5)


def test_float_tiff_of_one_channel_and_the_default_npy_depth(tmp_path):
    grey = np.tile(255 - np.arange(16, dtype=np.uint8) * 16, (8, 1))  # falls to the right
    Image.fromarray(grey).save(tmp_path / "g.png")
    assert run(tmp_path / "g.png", "-k", "sobel-x", "--depth", "float", "-o",
               tmp_path / "sx.tif").exit_code == 0  # fmt: skip
    with Image.open(tmp_path / "sx.tif") as img:
        assert img.mode == "F"
        values = np.asarray(img)
    np.testing.assert_allclose(values[:, 1:-1], -8 * 16 / 255, rtol=1e-5)  # 2 steps x (1+2+1)
    assert run(tmp_path / "g.png", "-k", "sobel-x", "-o", tmp_path / "d.npy").exit_code == 0
    assert np.load(tmp_path / "d.npy").dtype == np.uint8  # default: the input's depth


def test_depth_16_from_8_bit_scales_exactly(rgb, tmp_path):
    path, pixels = rgb
    assert run(path, "--depth", "16", "-o", tmp_path / "o.png").exit_code == 0
    out = np.asarray(Image.open(tmp_path / "o.png"))
    with Image.open(tmp_path / "o.png") as img:
        assert img.mode in ("RGB;16", "I;16") or out.dtype == np.uint16 or img.mode == "RGB"
    from convtool.images import read_image

    values, info = read_image(str(tmp_path / "o.png"))
    assert info.depth == "16"
    np.testing.assert_allclose(values * 65535, pixels.astype(np.float64) * 257, atol=0.5)


@pytest.mark.parametrize(
    ("depth", "name", "message"),
    [
        ("16", "o.jpg", "Error: JPEG cannot hold 16-bit values; formats that can: PNG, TIFF, NPY, "
         "PGM, PPM, PNM, PAM"),
        ("float", "o.png",
         "Error: PNG cannot hold float values; formats that can: TIFF (1 channel), NPY, "
         "PFM (1 or 3 channels)"),
        ("float", "o.tif", "Error: TIFF holds float values in 1 channel only, the result has 3; "
         "formats that can: NPY, PFM (1 or 3 channels)"),
    ],
)  # fmt: skip
def test_a_depth_the_format_cannot_hold(rgb, tmp_path, depth, name, message):
    path, _ = rgb
    result = run(path, "-k", "box:3", "--depth", depth, "-o", tmp_path / name)
    assert result.exit_code == 2
    assert result.output == message + "\n"
    assert not (tmp_path / name).exists()


# --------------------------------------------------------------------------- conversion


def test_no_kernel_is_a_lossless_conversion(rgb, tmp_path):
    path, pixels = rgb
    assert run(path, "-o", tmp_path / "o.tif").exit_code == 0
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "o.tif")), pixels)
    assert run(path, "--depth", "float", "-o", tmp_path / "o.npy").exit_code == 0
    np.testing.assert_allclose(np.load(tmp_path / "o.npy"), pixels / 255, atol=1e-7)


def test_conversion_keeps_frames_and_alpha(tmp_path):
    frames = [Image.new("RGBA", (5, 4), (i * 40, 0, 0, 128)) for i in range(3)]
    frames[0].save(tmp_path / "a.png", save_all=True, append_images=frames[1:])
    assert run(tmp_path / "a.png", "-o", tmp_path / "a.tif").exit_code == 0
    with Image.open(tmp_path / "a.tif") as img:
        assert img.n_frames == 3 and img.mode == "RGBA"
        img.seek(2)
        assert img.getpixel((0, 0)) == (80, 0, 0, 128)


# --------------------------------------------------------------------------- inputs safe


def test_output_onto_the_input_refused_then_allowed(rgb, tmp_path):
    path, pixels = rgb
    before = path.read_bytes()
    result = run(path, "-k", "box:3", "-o", path)
    assert result.exit_code == 2
    assert result.output == (
        f"Error: {path}: is the input {path}; write the output elsewhere, or pass --in-place to "
        "replace the input\n"
    )
    assert path.read_bytes() == before
    assert run(path, "-k", "box:3", "-o", path, "--in-place").exit_code == 0
    assert not np.array_equal(np.asarray(Image.open(path)), pixels)
    assert [p.name for p in tmp_path.iterdir()] == ["in.png"]  # no temporary left


@pytest.mark.parametrize("link", ["symlink", "hardlink"])
def test_output_through_a_link_is_the_input(rgb, tmp_path, link):
    path, pixels = rgb
    other = tmp_path / "other.png"
    (os.symlink if link == "symlink" else os.link)(path, other)
    before = path.read_bytes()
    result = run(path, "-k", "box:3", "-o", other)
    assert result.exit_code == 2
    assert result.output.startswith(f"Error: {other}: is the input {path} (through a link);")
    assert path.read_bytes() == before
    result = run(other, "-k", "box:3", "-o", path)  # and the other way round
    assert result.exit_code == 2 and "is the input" in result.output
    assert run(path, "-k", "box:3", "-o", other, "--in-place").exit_code == 0
    written = np.asarray(Image.open(other))
    assert not np.array_equal(written, pixels)
    if link == "symlink":  # written through the link: the link stays a link
        assert os.path.islink(other)
        np.testing.assert_array_equal(np.asarray(Image.open(path)), written)


def test_batch_into_a_symlink_of_the_input_directory_is_refused_before_writing(tmp_path):
    src = tmp_path / "ip"
    src.mkdir()
    for name in ("a.png", "b.png"):
        Image.fromarray(np.full((4, 4), 7, np.uint8)).save(src / name)
    (tmp_path / "out").symlink_to(src, target_is_directory=True)
    before = {p.name: p.read_bytes() for p in src.iterdir()}
    for output in (tmp_path / "out", src):
        result = run(src, "-k", "box:3", "-o", f"{output}/", "-j", "1")
        assert result.exit_code == 2
        assert result.output.startswith(f"Error: {output}/a.png: is the input {src}/a.png")
        assert "--in-place" in result.output
    assert {p.name: p.read_bytes() for p in src.iterdir()} == before
    result = run(src, "-k", "box:3", "-o", f"{src}/", "-j", "1", "--in-place", "--quiet")
    assert result.exit_code == 0, result.output
    assert {p.name: p.read_bytes() for p in src.iterdir()} != before


def test_batch_hard_link_to_another_input_is_refused(tmp_path):
    src = tmp_path / "ip"
    src.mkdir()
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(src / "a.png")
    out = tmp_path / "o"
    out.mkdir()
    os.link(src / "a.png", out / "b.png")
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "b.png")
    result = run(src / "a.png", tmp_path / "b.png", "-k", "box:3", "-o", f"{out}/", "-j", "1")
    assert result.exit_code == 2
    assert result.output == (
        f"Error: {out}/b.png: output of {tmp_path}/b.png would overwrite the input {src}/a.png\n"
    )


# --------------------------------------------------------------------------- stretch


def test_stretched_sobel_of_a_photo_uses_the_full_range(tmp_path):
    data = pytest.importorskip("skimage.data")
    Image.fromarray(data.camera()).save(tmp_path / "cam.png")
    base = [tmp_path / "cam.png", "-k", "sobel", "-o"]
    assert run(*base, tmp_path / "r.png", "--values", "rescale").exit_code == 0
    assert run(*base, tmp_path / "s.png", "--values", "stretch").exit_code == 0
    assert run(*base, tmp_path / "f.npy", "--depth", "float").exit_code == 0
    rescaled = np.asarray(Image.open(tmp_path / "r.png"))
    stretched = np.asarray(Image.open(tmp_path / "s.png"))
    assert stretched.min() == 0 and stretched.max() == 255
    assert stretched.mean() > 1.5 * rescaled.mean()  # the outliers no longer set the scale
    assert 0.005 < np.mean(stretched == 255) < 0.015  # about P = 1 % of pixels clipped white
    # oracle: numpy's percentiles of the float result, mapped and clipped by hand
    raw = np.load(tmp_path / "f.npy").astype(np.float64)
    lo, hi = np.percentile(raw, [1, 99])
    want = np.rint(np.clip((raw - lo) / (hi - lo), 0, 1) * 255)
    assert np.abs(stretched - want).max() <= 1
    assert np.mean(stretched == want) > 0.99


def test_stretch_percent_and_float_depth(tmp_path):
    ramp = np.linspace(0, 255, 101 * 4).reshape(4, 101).round().astype(np.uint8)
    Image.fromarray(ramp).save(tmp_path / "r.png")
    result = run(tmp_path / "r.png", "--values", "stretch:10", "--depth", "float",
                 "-o", tmp_path / "s.npy")  # fmt: skip
    assert result.exit_code == 0, result.output
    out = np.load(tmp_path / "s.npy")
    assert out.min() == 0 and out.max() == 1
    lo, hi = np.percentile(ramp / 255, [10, 90])
    np.testing.assert_allclose(out, np.clip((ramp / 255 - lo) / (hi - lo), 0, 1), atol=1e-3)


# --------------------------------------------------------------------------- slips


def test_cval_with_a_border_that_ignores_it(rgb, tmp_path):
    path, _ = rgb
    result = run(path, "-k", "box:3", "--cval", "2", "-o", tmp_path / "o.png")
    assert result.exit_code == 2
    assert result.output == (
        "Error: --cval is the fill value of --border constant; --border reflect ignores it "
        "(add --border constant)\n"
    )
    ok = run(path, "-k", "box:3", "--cval", "1", "--border", "constant", "-o", tmp_path / "o.png")
    assert ok.exit_code == 0


def test_stdin_on_a_terminal_is_said_not_waited_for(tmp_path, monkeypatch):
    monkeypatch.setattr(filter_options, "stdin_is_terminal", lambda: True)
    result = run("-", "-k", "box:3", "-o", tmp_path / "o.png")
    assert result.exit_code == 2
    assert result.output == (
        "Error: '-' reads an image from standard input, which is a terminal here; pipe one in "
        "(cat in.png | convtool filter - ...) or name a file\n"
    )


def test_output_without_an_extension(rgb, tmp_path):
    path, _ = rgb
    result = run(path, "-k", "box:3", "-o", tmp_path / "result")
    assert result.exit_code == 2
    assert result.output.startswith(
        f"Error: {tmp_path}/result: the output name has no extension to tell the format from "
        "(add one: .png, .jpg"
    )
    assert result.output.endswith(", or give --format)\n")


def test_band_percentiles_agree_with_numpy_over_many_bands():
    from convtool.levels import band_percentiles

    rng = np.random.default_rng(5)
    values = rng.standard_cauchy((400, 50)).astype(np.float32)  # heavy tails: outliers
    lo, hi = float(values.min()), float(values.max())
    bands = (values[r : r + 37] for r in range(0, 400, 37))
    got = band_percentiles(bands, 0.5, lo, hi)
    want = np.percentile(values.astype(np.float64), [0.5, 99.5])
    width = (hi - lo) / (1 << 16)
    np.testing.assert_allclose(got, want, atol=2 * width)


def test_batch_depth_float_and_a_depth_refused_before_any_work(rgb, tmp_path):
    path, pixels = rgb
    Image.fromarray(pixels[::-1].copy()).save(tmp_path / "b.png")
    out = tmp_path / "out"
    result = run(path, tmp_path / "b.png", "-k", "sobel-x", "--depth", "float", "-o",
                 f"{out}/{{stem}}.npy", "-j", "1", "--quiet")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert np.load(out / "in.npy").min() < 0 and np.load(out / "b.npy").min() < 0
    result = run(path, tmp_path / "b.png", "-k", "box:3", "--depth", "16", "--format", "jpeg",
                 "-o", tmp_path / "j", "-j", "1")  # fmt: skip
    assert result.exit_code == 2
    assert (
        result.output == "Error: JPEG cannot hold 16-bit values; formats that can: PNG, TIFF, NPY, "
        "PGM, PPM, PNM, PAM\n"
    )
    assert not (tmp_path / "j").exists()
