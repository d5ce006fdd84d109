"""The size policy (--max-pixels, CONVTOOL_MAX_PIXELS) and the banded CLI filter path."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from scipy import ndimage

from convtool.cli import cli
from convtool.images import decode_image, read_pixels, set_max_pixels
from convtool.images.decode import DEFAULT_MAX_PIXELS

LIMIT_HINT = "(raise it with --max-pixels N or CONVTOOL_MAX_PIXELS=N; 0 = no limit)"


@pytest.fixture
def runner(monkeypatch):
    monkeypatch.delenv("CONVTOOL_MAX_PIXELS", raising=False)
    return CliRunner()


@pytest.fixture(autouse=True)
def default_limit():
    """The limit is process-wide (Pillow's MAX_IMAGE_PIXELS): put the default back."""
    set_max_pixels(DEFAULT_MAX_PIXELS)
    yield
    set_max_pixels(DEFAULT_MAX_PIXELS)


def _png_bomb(width: int, height: int) -> bytes:
    """A valid PNG header declaring ``width x height`` grey pixels, with 60 bytes of data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * 1000)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _filter(runner, src, out, *extra, env=None):
    args = ["filter", str(src), "-k", "box:3", "-o", str(out), *extra]
    return runner.invoke(cli, args, env=env)


def test_a_bomb_is_refused_by_the_default_limit_before_decoding(runner, tmp_path):
    src = tmp_path / "bomb.png"
    src.write_bytes(_png_bomb(100_000, 100_000))  # 10 Gpx declared in 100 bytes
    res = _filter(runner, src, tmp_path / "out.png")
    assert res.exit_code == 2
    assert res.output.strip() == (
        f"Error: {src}: image has 10,000,000,000 pixels, over the limit of "
        f"1,000,000,000 pixels {LIMIT_HINT}"
    )
    assert not (tmp_path / "out.png").exists()


def test_images_over_pillows_cap_pass_the_default_limit(tmp_path):
    # 100 Mpx of declared size: over Pillow's 89,478,485, under ours. Only the header is read:
    # the data is missing, so the failure that follows is a truncated file, not the size.
    src = tmp_path / "tall.png"
    src.write_bytes(_png_bomb(10, 10_000_000))
    with pytest.raises(ValueError, match=r"truncated|corrupt") as info:
        read_pixels(src)
    assert "limit" not in str(info.value)


@pytest.mark.parametrize("how", ["option", "env"])
def test_the_limit_can_be_lowered_and_names_itself(runner, tmp_path, how):
    src = tmp_path / "in.png"
    Image.fromarray(np.zeros((30, 30), np.uint8)).save(src)
    if how == "option":
        res = _filter(runner, src, tmp_path / "o.png", "--max-pixels", "400")
    else:
        res = _filter(runner, src, tmp_path / "o.png", env={"CONVTOOL_MAX_PIXELS": "400"})
    assert res.exit_code == 2
    assert res.output.strip() == (
        f"Error: {src}: image has 900 pixels, over the limit of 400 pixels {LIMIT_HINT}"
    )


def test_zero_lifts_the_limit_and_the_option_beats_the_env(runner, tmp_path):
    src = tmp_path / "in.png"
    Image.fromarray(np.zeros((30, 30), np.uint8)).save(src)
    env = {"CONVTOOL_MAX_PIXELS": "400"}
    assert _filter(runner, src, tmp_path / "a.png", "--max-pixels", "0", env=env).exit_code == 0
    assert _filter(runner, src, tmp_path / "b.png", "--max-pixels", "900").exit_code == 0


def test_a_bad_env_value_is_an_error(runner, tmp_path):
    src = tmp_path / "in.png"
    Image.fromarray(np.zeros((3, 3), np.uint8)).save(src)
    res = _filter(runner, src, tmp_path / "o.png", env={"CONVTOOL_MAX_PIXELS": "lots"})
    assert res.exit_code == 2
    assert "CONVTOOL_MAX_PIXELS='lots' is not a whole number" in res.output


@pytest.mark.parametrize(
    "mode, dtype", [("L", np.uint8), ("RGB", np.uint8), ("RGBA", np.uint8), ("I;16", np.uint16)]
)
def test_read_pixels_is_read_image_before_the_float_step(tmp_path, mode, dtype):
    rng = np.random.default_rng(1)
    shape = {"L": (9, 7), "RGB": (9, 7, 3), "RGBA": (9, 7, 4), "I;16": (9, 7)}[mode]
    arr = rng.integers(0, np.iinfo(dtype).max, shape, dtype=dtype)
    src = tmp_path / "in.png"
    Image.fromarray(arr).save(src)
    pixels, info, scale = read_pixels(src)
    values, whole_info = decode_image(src.read_bytes(), str(src))
    assert pixels.dtype == dtype and np.array_equal(pixels, arr)
    assert np.array_equal(np.divide(pixels, np.float32(scale), dtype=np.float32), values)
    assert (info.depth, info.alpha) == (whole_info.depth, whole_info.alpha)


def test_npy_in_and_out_through_maps(runner, tmp_path):
    rng = np.random.default_rng(2)
    data = rng.normal(size=(53, 29)).astype(np.float32)
    np.save(tmp_path / "in.npy", data)
    res = runner.invoke(
        cli,
        ["filter", str(tmp_path / "in.npy"), "-k", "box:5", "--border", "wrap",
         "-o", str(tmp_path / "out.npy")],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    expected = ndimage.uniform_filter(data.astype(np.float64), 5, mode="wrap")
    out = np.load(tmp_path / "out.npy")
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.npy", "out.npy"]  # no temp left


def test_rescale_spans_the_whole_image_not_each_band(runner, tmp_path, monkeypatch):
    import convtool.chain.bands as bands

    monkeypatch.setattr(bands, "BAND_BYTES", 64)  # bands of a few rows
    ramp = np.repeat(np.linspace(0.2, 0.6, 40, dtype=np.float32)[:, None], 5, axis=1)
    np.save(tmp_path / "in.npy", ramp)
    res = runner.invoke(
        cli,
        ["filter", str(tmp_path / "in.npy"), "-k", "identity", "--values", "rescale",
         "-o", str(tmp_path / "out.npy")],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    out = np.load(tmp_path / "out.npy")
    np.testing.assert_allclose(out[:, 0], np.linspace(0, 1, 40), atol=1e-6)


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA", "I;16", "F"])
@pytest.mark.parametrize("compression", [None, "tiff_lzw"])
def test_uncompressed_tiff_is_mapped_and_equals_the_decoder(tmp_path, mode, compression):
    rng = np.random.default_rng(4)
    channels = {"LA": 2, "RGB": 3, "RGBA": 4}.get(mode)
    shape = (11, 6) if channels is None else (11, 6, channels)
    dtype = {"I;16": np.uint16, "F": np.float32}.get(mode, np.uint8)
    if dtype == np.float32:
        arr = rng.normal(size=shape).astype(dtype)
    else:
        arr = rng.integers(0, np.iinfo(dtype).max, shape, dtype=dtype)
    src = tmp_path / "in.tif"
    Image.fromarray(arr).save(src, compression=compression)
    pixels, info, scale = read_pixels(src)
    assert isinstance(pixels, np.memmap) == (compression is None)
    values, whole = decode_image(src.read_bytes(), str(src))
    as_float = (
        pixels.astype(np.float32)
        if scale is None
        else np.divide(pixels, np.float32(scale), dtype=np.float32)
    )
    assert np.array_equal(as_float, values)
    assert (info.format, info.depth, info.alpha) == (whole.format, whole.depth, whole.alpha)


def test_a_truncated_uncompressed_tiff_is_an_error(runner, tmp_path):
    src = tmp_path / "cut.tif"
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(src)
    src.write_bytes(src.read_bytes()[:2000])
    res = _filter(runner, src, tmp_path / "o.tif")
    assert res.exit_code == 2 and res.output.startswith(f"Error: {src}: ")


@pytest.mark.parametrize("ext, channels", [("png", 3), ("png", 4), ("tif", 3), ("tif", 4)])
def test_16bit_colour_stays_16bit_through_the_bands(runner, tmp_path, monkeypatch, ext, channels):
    """16-bit colour PNG/TIFF read exactly (formats work) and filtered in tiny bands (this
    work): the output equals scipy's box filter of the 16-bit values, rounded, to 1 LSB, and
    a page picked from a multi-page TIFF equals that page filtered alone."""
    import convtool.chain.bands as bands
    from convtool.images import ImageInfo, encode_frames, read_frames

    monkeypatch.setattr(bands, "BAND_BYTES", 64)  # bands of a row or two: 17 rows is not k*band
    rng = np.random.default_rng(5)
    pages = [rng.integers(0, 65536, (17, 9, channels), dtype=np.uint16) for _ in range(2)]
    src = tmp_path / f"in.{ext}"
    fmt, frames = ("tiff", pages) if ext == "tif" else ("png", pages[:1])
    src.write_bytes(encode_frames([p / 65535 for p in frames], ImageInfo(depth="16"), fmt))
    page = 2 if ext == "tif" else 1
    out = tmp_path / f"out.{ext}"
    res = _filter(runner, src, out, "--alpha", "filter", "--frame", str(page))
    assert res.exit_code == 0, res.output
    got, info, scale = read_pixels(out)
    assert got.dtype == np.uint16 and scale == 65535.0 and info.depth == "16"
    expected = ndimage.uniform_filter(pages[page - 1] / 65535.0, (3, 3, 1), mode="reflect")
    assert np.abs(got.astype(np.int64) - np.rint(expected * 65535)).max() <= 1
    if ext == "tif":  # every page (whole-image path) vs the one picked (bands)
        whole = tmp_path / "all.tif"
        assert _filter(runner, src, whole, "--alpha", "filter").exit_code == 0
        second = read_frames(whole).arrays[1]
        assert np.array_equal(np.rint(second * 65535).astype(np.uint16), got)


@pytest.mark.parametrize("level", [0, 6])
def test_tiff_written_a_group_of_strips_at_a_time_reads_back(tmp_path, monkeypatch, level):
    """write_tiff (the banded path's TIFF output) with strips of 2 rows, 3 strips a group: the
    same bytes as encode_tiff, and Pillow (an independent reader) gives every page back."""
    from convtool.images import tiff

    monkeypatch.setattr(tiff, "_STRIP_BYTES", 2 * 9 * 3)
    monkeypatch.setattr(tiff, "_GROUP_STRIPS", 3)
    rng = np.random.default_rng(6)
    pages = [rng.integers(0, 256, (13, 9, 3), dtype=np.uint8) for _ in range(2)]
    path = tmp_path / "out.tif"
    with open(path, "wb") as fh:
        tiff.write_tiff(fh, pages, level=level, dpi=(300.0, 300.0))
    assert path.read_bytes() == tiff.encode_tiff(pages, level=level, dpi=(300.0, 300.0))
    with Image.open(path) as img:
        for i, page in enumerate(pages):
            img.seek(i)
            assert np.array_equal(np.asarray(img), page)


def test_single_file_progress_is_a_bar_over_the_rows(tmp_path, monkeypatch):
    # --progress on one (big) image: a bar counting output rows as the bands are done, on
    # stderr only; stdout and the file are what a run without it gives.
    import re

    from click.testing import CliRunner
    from PIL import Image

    from convtool.chain import bands
    from convtool.cli import cli

    monkeypatch.setattr(bands, "BAND_BYTES", 64 * 3 * 4 * 8)  # 8-row bands of a 64-wide image
    monkeypatch.setattr(bands, "_MIN_BAND_ROWS", 1)
    monkeypatch.setattr(bands, "_HALO_SHARE", 1)
    src = tmp_path / "in.png"
    Image.fromarray(
        np.arange(96 * 64 * 3, dtype=np.uint32).reshape(96, 64, 3).astype(np.uint8)
    ).save(src)
    plain = CliRunner().invoke(
        cli, ["filter", str(src), "-k", "box:3", "-o", str(tmp_path / "a.png")]
    )
    shown = CliRunner().invoke(
        cli, ["filter", str(src), "-k", "box:3", "-o", str(tmp_path / "b.png"), "--progress"]
    )
    assert plain.exit_code == shown.exit_code == 0
    assert plain.stderr == "" and shown.stdout == plain.stdout == ""
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\r", "\n", shown.stderr)
    assert "filtering in.png" in text and "96/96" in text and "rows" in text
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
