"""``show`` of a big strip TIFF (issue 30): :mod:`convtool.images.tiffstrips` sums the strips a
few MB of rows at a time instead of Pillow's full-size decode.

Oracles: the Pillow path of :func:`read_reduced` (``Image.reduce`` of the 8-bit image, forced
by making the strip reader decline), and numpy block means of :func:`decode_image`'s full-size
values (partial blocks at the right and bottom edges averaged over the pixels they have, as
``Image.reduce`` does). Files come from convtool's own writer and from Pillow's.
"""

from __future__ import annotations

import io
import os
import struct
import zlib

import numpy as np
import pytest
from _hostile import assert_one_error, convtool
from click.testing import CliRunner
from PIL import Image

from convtool.cli import cli
from convtool.images import tiffstrips
from convtool.images.decode import _exif_turn, decode_image, set_max_pixels
from convtool.images.info import MAX_PIXELS_ENV, ImageIOError
from convtool.images.reduced import read_reduced
from convtool.images.tiff import encode_tiff

H, W, COLUMNS = 103, 157, 20  # factor 7: neither side a multiple of it
FACTOR = W // COLUMNS


def block_means(values: np.ndarray, factor: int, alpha: bool = False, full_scale: float = 255):
    """Each factor x factor block's mean, as Image.reduce takes it: edge blocks over the pixels
    they have; with alpha, colour weighted by alpha (black where the mean alpha rounds to 0)."""
    h, w = values.shape[:2]
    values = values.astype(np.float64)
    if alpha:
        values = np.concatenate([values[..., :-1] * values[..., -1:], values[..., -1:]], axis=2)
    rows = np.add.reduceat(values, np.arange(0, h, factor), axis=0)
    sums = np.add.reduceat(rows, np.arange(0, w, factor), axis=1)
    tall = np.diff(np.append(np.arange(0, h, factor), h))
    wide = np.diff(np.append(np.arange(0, w, factor), w))
    counts = np.multiply.outer(tall, wide)
    if not alpha:
        return sums / (counts if values.ndim == 2 else counts[:, :, None])
    weight = sums[..., -1:]
    shown = np.rint(weight / counts[:, :, None] * full_scale) > 0
    colour = np.where(shown, sums[..., :-1] / np.where(shown, weight, 1), 0)
    return np.concatenate([colour, weight / counts[:, :, None]], axis=2)


@pytest.fixture
def strips_used(monkeypatch):
    """How many times the strip reader summed a page (0: the Pillow path read it)."""
    calls = []
    real = tiffstrips.reduce_strips

    def spy(*args):
        calls.append(args[2])
        return real(*args)

    monkeypatch.setattr(tiffstrips, "reduce_strips", spy)
    return calls


def pillow_path(monkeypatch, path, *args):
    """:func:`read_reduced` as it was: the strip reader declines every file."""
    with monkeypatch.context() as m:
        m.setattr(tiffstrips, "read_layout", lambda fh: None)
        return read_reduced(path, *args)


def pixels(shape, dtype, seed=0):
    top = np.iinfo(dtype).max
    return np.random.default_rng(seed).integers(0, top, shape, dtype=dtype, endpoint=True)


def check_against_decode(path, strips_used, columns=COLUMNS, rows=None):
    """read_reduced (the strip reader) against the block means of the full decode."""
    full, full_info = decode_image(path.read_bytes(), str(path))
    values, info, size = read_reduced(path, columns, rows)
    assert strips_used, "the strip reader was not used"
    factor = strips_used[-1]
    assert size == full.shape[:2]
    assert (info.depth, info.alpha, info.format) == (full_info.depth, full_info.alpha, "tiff")
    assert values.dtype == np.float32 and values.ndim == full.ndim
    expected = block_means(full, factor, info.alpha, info.full_scale)
    assert values.shape == expected.shape
    np.testing.assert_allclose(values, expected, atol=0.5 / info.full_scale + 1e-6)
    return values, info


# --- convtool's writer: both byte orders, deflate and uncompressed, 8/16-bit, 1-4 channels ----


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("level", [0, 6])
@pytest.mark.parametrize(
    ("dtype", "channels"),
    [(np.uint8, 1), (np.uint8, 2), (np.uint8, 3), (np.uint8, 4),
     (np.uint16, 1), (np.uint16, 3), (np.uint16, 4)],
)  # fmt: skip
def test_convtool_tiffs_match_the_block_means(tmp_path, strips_used, order, level, dtype, channels):
    shape = (H, W) if channels == 1 else (H, W, channels)
    path = tmp_path / "in.tif"
    path.write_bytes(encode_tiff(pixels(shape, dtype), byteorder=order, level=level))
    check_against_decode(path, strips_used)
    assert strips_used == [FACTOR]


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_8bit_matches_the_pillow_path(tmp_path, monkeypatch, strips_used, channels):
    """8-bit: the same values as Image.reduce, to within its rounding (one level)."""
    shape = (H, W) if channels == 1 else (H, W, channels)
    path = tmp_path / "in.tif"
    path.write_bytes(encode_tiff(pixels(shape, np.uint8), level=6))
    old, old_info, old_size = pillow_path(monkeypatch, path, COLUMNS)
    assert not strips_used
    new, info, size = read_reduced(path, COLUMNS)
    assert strips_used == [FACTOR]
    assert (size, new.shape, new.dtype) == (old_size, old.shape, old.dtype)
    assert (info.depth, info.alpha, info.frames, info.dpi) == (
        old_info.depth, old_info.alpha, old_info.frames, old_info.dpi)  # fmt: skip
    if info.alpha:  # Image.reduce premultiplies alpha at 8 bits: faint pixels lose colour bits
        near = old[..., -1:] >= 64 / 255
        assert np.abs(np.where(near, new - old, 0)).max() <= 3 / 255 + 1e-6
        assert np.abs(new - old)[..., -1].max() <= 1 / 255 + 1e-6
    else:
        assert np.abs(new - old).max() <= 1 / 255 + 1e-6


def test_strips_of_many_rows_and_a_short_last_strip(tmp_path, monkeypatch, strips_used):
    """Strips of 10 rows and steps of 3 rows: blocks of 7 rows span strips and steps."""
    monkeypatch.setattr(tiffstrips, "_CHUNK", 3 * W * 3)
    monkeypatch.setattr("convtool.images.tiff._STRIP_BYTES", 10 * W * 3)
    path = tmp_path / "in.tif"
    path.write_bytes(encode_tiff(pixels((H, W, 3), np.uint8), level=1))
    with path.open("rb") as fh:
        layout = tiffstrips.read_layout(fh)
    assert (layout.rows_per_strip, len(layout.offsets)) == (10, 11)
    check_against_decode(path, strips_used)


def test_the_height_can_set_the_factor(tmp_path, strips_used):
    path = tmp_path / "in.tif"
    path.write_bytes(encode_tiff(pixels((H, W, 3), np.uint8), level=6))
    check_against_decode(path, strips_used, columns=15, rows=20)
    assert strips_used == [H // 20]


def test_stdin_is_read_by_the_strip_reader(tmp_path, strips_used):
    data = encode_tiff(pixels((H, W, 3), np.uint8), byteorder=">", level=6)
    values, info, size = read_reduced("-", COLUMNS, stdin=io.BytesIO(data))
    full, _ = decode_image(data)
    assert strips_used == [FACTOR] and size == (H, W) and info.name == "<stdin>"
    np.testing.assert_allclose(values, block_means(full, FACTOR), atol=0.5 / 255 + 1e-6)


def test_small_images_are_read_whole(tmp_path, strips_used):
    path = tmp_path / "in.tif"
    path.write_bytes(encode_tiff(pixels((30, 40, 3), np.uint8), level=6))
    values, _, _ = read_reduced(path, 40)
    assert values.shape == (30, 40, 3) and not strips_used


# --- Pillow's writer ------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA", "I;16"])
@pytest.mark.parametrize(
    "options",
    [{"compression": "tiff_deflate"}, {"compression": "raw"},
     {"compression": "tiff_adobe_deflate", "tiffinfo": {317: 2}}],  # predictor 2
    ids=["deflate", "raw", "deflate-predictor"],
)  # fmt: skip
def test_pillow_tiffs_match_the_block_means(tmp_path, monkeypatch, strips_used, mode, options):
    if mode == "I;16":
        img = Image.fromarray(pixels((H, W), np.uint16))
    else:
        channels = len(mode)
        img = Image.fromarray(pixels((H, W, channels), np.uint8).squeeze(), mode)
    path = tmp_path / "in.tif"
    img.save(path, **options)
    values, _ = check_against_decode(path, strips_used)
    if mode in ("L", "RGB"):  # I;16: the Pillow path decodes it whole (it is not reducible)
        old, _, _ = pillow_path(monkeypatch, path, COLUMNS)
        assert np.abs(values - old).max() <= 1 / 255 + 1e-6


def _turned_pair(tmp_path, orientation: int, compression: str) -> np.ndarray:
    """turned.png and turned.tif (``compression``) of the same pixels with the same EXIF
    orientation; returns the stored pixels."""
    stored = pixels((H, W, 3), np.uint8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(stored).save(tmp_path / "turned.png", exif=exif)
    Image.fromarray(stored).save(
        tmp_path / "turned.tif", compression=compression, tiffinfo={0x0112: orientation}
    )
    return stored


@pytest.mark.parametrize("orientation", [2, 3, 4, 5, 6, 7, 8])
def test_the_exif_turn_is_kept(tmp_path, strips_used, orientation):
    """Reduced as stored, then turned as shown: as read_reduced reads a PNG with the same tag."""
    _turned_pair(tmp_path, orientation, "tiff_deflate")
    old, _, old_size = read_reduced(tmp_path / "turned.png", 14)
    new, _, size = read_reduced(tmp_path / "turned.tif", 14)
    turned = orientation in (5, 6, 7, 8)
    assert strips_used == [(H if turned else W) // 14]
    assert size == old_size == ((W, H) if turned else (H, W)) and new.shape == old.shape
    assert np.abs(new - old).max() <= 1 / 255 + 1e-6


@pytest.mark.parametrize("orientation", [3, 6])
def test_the_pillow_path_turns_a_tiff_once(tmp_path, strips_used, orientation):
    """Pillow turns a TIFF as it loads it (and says its size as shown): the Pillow path must
    not turn it again (an LZW TIFF, which the strip reader leaves to Pillow)."""
    stored = _turned_pair(tmp_path, orientation, "tiff_lzw")
    png, _, png_size = read_reduced(tmp_path / "turned.png", 14)
    lzw, _, size = read_reduced(tmp_path / "turned.tif", 14)
    assert not strips_used and size == png_size and lzw.shape == png.shape
    shown = _exif_turn(stored, orientation)  # turned whole, then reduced
    expected = np.asarray(Image.fromarray(shown).reduce(shown.shape[1] // 14)) / 255
    assert np.abs(lzw - expected).max() <= 1e-6


# --- What the strip reader leaves to Pillow ---------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "options"),
    [("RGB", {"compression": "tiff_lzw"}), ("RGB", {"compression": "packbits"}),
     ("RGB", {"compression": "jpeg"}), ("P", {"compression": "tiff_deflate"}),
     ("F", {"compression": "tiff_deflate"}), ("1", {"compression": "raw"}),
     ("CMYK", {"compression": "raw"}), ("RGB", {"compression": "raw", "tiffinfo": {317: 2}})],
    ids=["lzw", "packbits", "jpeg", "palette", "float", "1-bit", "cmyk", "raw-predictor"],
)  # fmt: skip
def test_what_it_does_not_read_goes_to_pillow(tmp_path, monkeypatch, strips_used, mode, options):
    img = Image.fromarray(pixels((H, W, 3), np.uint8)).convert(mode)
    path = tmp_path / "in.tif"
    img.save(path, **options)
    with path.open("rb") as fh:
        assert tiffstrips.read_layout(fh) is None
    new, info, size = read_reduced(path, COLUMNS)
    old, old_info, old_size = pillow_path(monkeypatch, path, COLUMNS)
    assert not strips_used
    assert size == old_size and info.depth == old_info.depth
    np.testing.assert_array_equal(new, old)


def tiff(strips, width, height, *, rows, compression=1, offsets=None, counts=None, extra=()):
    """A little-endian 8-bit grey TIFF of the given strip bytes (tags can be made to lie)."""
    body = bytearray(b"II*\x00\x00\x00\x00\x00")
    at = []
    for strip in strips:
        at.append(len(body))
        body += strip
    offsets, counts = offsets or at, counts or [len(s) for s in strips]
    n = len(strips)
    arrays = len(body)
    body += struct.pack(f"<{n}I", *offsets) + struct.pack(f"<{n}I", *counts)
    entries = [
        (256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (259, 3, 1, compression),
        (262, 3, 1, 1), (273, 4, n, offsets[0] if n == 1 else arrays), (277, 3, 1, 1),
        (278, 4, 1, rows), (279, 4, n, counts[0] if n == 1 else arrays + 4 * n), *extra,
    ]  # fmt: skip
    ifd = len(body)
    body[4:8] = struct.pack("<I", ifd)
    body += struct.pack("<H", len(entries))
    body += b"".join(struct.pack("<HHII", *e) for e in sorted(entries)) + bytes(4)
    return bytes(body)


def grey_strips(rows=20, n=5, width=150, level=6):
    data = pixels((rows * n, width), np.uint8)
    raw = [data[i * rows : (i + 1) * rows].tobytes() for i in range(n)]
    return data, (raw if level == 0 else [zlib.compress(s, level) for s in raw])


def test_the_test_builder_makes_readable_tiffs(tmp_path, strips_used):
    _, strips = grey_strips()
    path = tmp_path / "ok.tif"
    path.write_bytes(tiff(strips, 150, 100, rows=20, compression=8))
    check_against_decode(path, strips_used)


def test_missing_strips_go_to_pillow(tmp_path):
    _, strips = grey_strips()
    data = tiff(strips, 150, 100, rows=20, compression=8)
    path = tmp_path / "short.tif"
    path.write_bytes(tiff(strips[:3], 150, 100, rows=20, compression=8))
    with path.open("rb") as fh:
        assert tiffstrips.read_layout(fh) is None
    path.write_bytes(data)
    with path.open("rb") as fh:
        assert tiffstrips.read_layout(fh) is not None


# --- Hostile strips: one Error line ----------------------------------------------------------


def show_error(path) -> str:
    result = CliRunner().invoke(cli, ["show", str(path), "--width", "20"])
    lines = result.stderr.splitlines()
    assert result.exit_code == 2 and len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("case", "detail"),
    [("offset beyond the file", "strip 2 lies beyond the end of the file"),
     ("count beyond the file", "strip 4 lies beyond the end of the file"),
     ("deflate cut short", "deflate data ends early"),
     ("deflate garbage", "strip 1: Error -3 while decompressing data"),
     ("raw strip too short", "strip 3 holds 2,999 bytes, 3,000 expected")],
)  # fmt: skip
def test_hostile_strips_are_one_error(tmp_path, case, detail):
    _, strips = grey_strips(level=0 if case.startswith("raw") else 6)
    sizes = [len(s) for s in strips]
    offsets = counts = None
    if case == "offset beyond the file":
        offsets = [8 + sum(sizes[:i]) for i in range(5)]
        offsets[2] = 10**9
    elif case == "count beyond the file":
        counts = [*sizes[:4], 10**9]
    elif case == "deflate cut short":
        strips[2] = strips[2][: len(strips[2]) // 2]
    elif case == "deflate garbage":
        strips[1] = strips[1][:2] + bytes(255 - b for b in strips[1][2:])
    else:
        strips[3] = strips[3][:-1]
    path = tmp_path / "bad.tif"
    path.write_bytes(
        tiff(strips, 150, 100, rows=20, compression=1 if case.startswith("raw") else 8,
             offsets=offsets, counts=counts)
    )  # fmt: skip
    with path.open("rb") as fh:
        assert tiffstrips.read_layout(fh) is not None  # the strip reader takes it
    line = show_error(path)
    assert line.startswith(f"Error: {path}: truncated or corrupt image (")
    assert detail in line


def test_a_huge_declared_raw_strip_is_refused_at_once(tmp_path, strips_used):
    """The 2 KB file declaring 217 Mpx (test_hostile_extreme): refused before any strip is read,
    and the subprocess CLI prints one line."""
    path = tmp_path / "huge.tif"
    side = 14732
    path.write_bytes(tiff([bytes(2000)], side, side, rows=side))
    with pytest.raises(ImageIOError, match="strip 0 holds 2,000 bytes, 217,031,824 expected"):
        read_reduced(path, 80)
    assert strips_used  # the strip reader refused it
    line = assert_one_error(convtool("show", path, "--width", "80"))
    assert line.startswith(f"Error: {path}: truncated or corrupt image")


def test_a_huge_deflate_bomb_is_refused_over_the_pixel_limit(tmp_path):
    """A few kB declaring 217 Mpx of deflate data: the pixel limit still applies to show."""
    side = 14732
    strip = zlib.compressobj(9)
    data = strip.compress(bytes(side * 64)) + strip.flush()
    path = tmp_path / "bomb.tif"
    path.write_bytes(tiff([data] * (side // 64 + 1), side, side, rows=64, compression=8))
    assert path.stat().st_size < 2_000_000
    previous = set_max_pixels(10**8)
    try:
        with pytest.raises(ImageIOError, match="over the limit of 100,000,000 pixels"):
            read_reduced(path, 80)
    finally:
        set_max_pixels(previous)
    proc = convtool("show", path, "--width", "80", env={**os.environ, MAX_PIXELS_ENV: "1000000"})
    assert "over the limit of 1,000,000 pixels" in assert_one_error(proc)
