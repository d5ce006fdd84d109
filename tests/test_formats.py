"""Formats: multi-frame files, 16-bit colour end to end, output options and output-path checks.

Files are made by independent writers (Pillow, OpenCV, tifffile) and our outputs are read back
by independent readers (Pillow, OpenCV, tifffile).
"""

from __future__ import annotations

import io
import json
import zlib

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from convtool.chain.memory import FilterOptions, apply_chain
from convtool.cli import cli
from convtool.images import (
    ImageInfo,
    ImageIOError,
    check_output_path,
    decode_frames,
    decode_image,
    encode_frames,
    encode_image,
    parse_frame_spec,
)
from convtool.images.png import adler32_combine, encode_png
from convtool.images.tiff import encode_tiff
from convtool.kernels import parse_kernel

cv2 = pytest.importorskip("cv2")
tifffile = pytest.importorskip("tifffile")

RNG = np.random.default_rng(14)
DURATIONS = [40, 70, 120]


def run(*args: str, input: bytes | None = None):
    return CliRunner().invoke(cli, list(args), input=input)


def frames_rgb(n: int = 3, h: int = 12, w: int = 16) -> list[np.ndarray]:
    """Frames of few colours (GIF keeps them exactly: no quantization loss)."""
    levels = np.array([0, 85, 170, 255], np.uint8)
    return [levels[RNG.integers(0, 4, (h, w, 3))] for _ in range(n)]


def pil_animation(frames: list[np.ndarray], fmt: str, **options) -> bytes:
    images = [Image.fromarray(f) for f in frames]
    buf = io.BytesIO()
    images[0].save(buf, fmt, save_all=True, append_images=images[1:], **options)
    return buf.getvalue()


def pil_frames(data: bytes) -> tuple[list[np.ndarray], list, object]:
    """Every frame (as RGB), its duration, and the loop count, read back by Pillow."""
    with Image.open(io.BytesIO(data)) as im:
        out, durations = [], []
        for i in range(im.n_frames):
            im.seek(i)
            im.load()
            out.append(np.asarray(im.convert("RGB")))
            durations.append(im.info.get("duration"))
        return out, durations, im.info.get("loop")


def chain(frame: np.ndarray, spec: str = "box:3") -> np.ndarray:
    return apply_chain(frame, [parse_kernel(spec)], FilterOptions())


def to8(values: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(values, 0, 1) * 255).astype(np.uint8)


ANIMATIONS = {
    "gif": dict(fmt="GIF", loop=0, disposal=[1, 2, 1]),
    "png": dict(fmt="PNG", loop=2, disposal=[0, 1, 0]),
    "webp": dict(fmt="WEBP", loop=3, lossless=True),
}


# --------------------------------------------------------------------------------------------
# Multi-frame input and output
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ext", sorted(ANIMATIONS))
def test_every_frame_is_filtered_and_the_timing_is_kept(tmp_path, ext):
    frames = frames_rgb()
    options = dict(ANIMATIONS[ext])
    fmt = options.pop("fmt")
    src = tmp_path / f"in.{ext}"
    src.write_bytes(pil_animation(frames, fmt, duration=DURATIONS, **options))
    out = tmp_path / f"out.{ext}"
    result = run("filter", str(src), "-k", "box:3", "-o", str(out))
    assert result.exit_code == 0, result.output
    got, durations, loop = pil_frames(out.read_bytes())
    assert len(got) == 3
    assert durations == DURATIONS
    assert loop == options["loop"]
    originals, _, _ = pil_frames(src.read_bytes())  # as Pillow composites the input
    for frame, original in zip(got, originals, strict=True):
        expected = to8(chain(original.astype(np.float32) / 255))
        if ext == "gif":  # a GIF holds 256 colours per frame: compare after its palette
            assert np.abs(frame.astype(int) - expected).mean() < 3
        else:
            np.testing.assert_array_equal(frame, expected)


def test_gif_disposal_is_kept(tmp_path):
    src = tmp_path / "in.gif"
    src.write_bytes(pil_animation(frames_rgb(), "GIF", duration=DURATIONS, disposal=[2, 3, 2]))
    out = tmp_path / "out.gif"
    assert run("filter", str(src), "-k", "box:1", "-o", str(out)).exit_code == 0
    methods = []
    with Image.open(out) as im:
        for i in range(im.n_frames):
            im.seek(i)
            methods.append(im.disposal_method)
    assert methods == [2, 3, 2]


def test_apng_written_by_us_has_frames_timing_and_disposal():
    frames = frames_rgb()
    data = encode_png(frames, durations=DURATIONS, loop=4, disposal=["none", "background", "none"])
    with Image.open(io.BytesIO(data)) as im:
        assert im.n_frames == 3 and im.info["loop"] == 4
        for i, frame in enumerate(frames):
            im.seek(i)
            im.load()
            assert im.info["duration"] == DURATIONS[i]
            assert im.info["disposal"] == [0, 1, 0][i]
            np.testing.assert_array_equal(np.asarray(im.convert("RGB")), frame)


def test_multi_page_tiff_every_page_filtered(tmp_path):
    pages = [RNG.integers(0, 65536, (10, 14, 3), dtype=np.uint16) for _ in range(2)]
    src = tmp_path / "pages.tif"
    tifffile.imwrite(src, np.stack(pages), photometric="rgb")
    out = tmp_path / "out.tif"
    result = run("filter", str(src), "-k", "gaussian:1", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert result.stderr == ""  # nothing lost: no note
    with tifffile.TiffFile(out) as tf:
        got = [p.asarray() for p in tf.pages]
    assert len(got) == 2
    for page, original in zip(got, pages, strict=True):
        ref = chain(original.astype(np.float64) / 65535, "gaussian:1") * 65535
        assert page.dtype == np.uint16
        assert np.abs(page - ref).max() <= 1.0


def test_cv2_multi_page_tiff_is_read_page_by_page(tmp_path):
    pages = [RNG.integers(0, 256, (9, 11, 3), dtype=np.uint8) for _ in range(3)]
    src = tmp_path / "cv.tif"
    assert cv2.imwritemulti(str(src), pages)
    got = decode_frames(src.read_bytes())
    assert got.info.frames == 3 and len(got.arrays) == 3
    for arr, page in zip(got.arrays, pages, strict=True):
        np.testing.assert_array_equal(to8(arr), page[..., ::-1])


def test_single_frame_format_for_an_animation_says_to_pick_a_frame(tmp_path):
    src = tmp_path / "in.gif"
    src.write_bytes(pil_animation(frames_rgb(), "GIF", duration=DURATIONS))
    out = tmp_path / "out.jpg"
    result = run("filter", str(src), "-k", "box:3", "-o", str(out))
    assert result.exit_code == 2
    assert "--frame" in result.stderr and "3 frames" in result.stderr
    assert not out.exists()


def test_frame_option_picks_frames(tmp_path):
    frames = frames_rgb(4)
    src = tmp_path / "in.png"
    src.write_bytes(pil_animation(frames, "PNG", duration=[10, 20, 30, 40]))
    one = tmp_path / "one.jpg"
    assert run("filter", str(src), "--frame", "3", "-k", "box:1", "-o", str(one)).exit_code == 0
    assert Image.open(one).size == (16, 12)
    two = tmp_path / "two.png"
    assert run("filter", str(src), "--frame", "2,4", "-k", "box:1", "-o", str(two)).exit_code == 0
    got, durations, _ = pil_frames(two.read_bytes())
    assert durations == [20, 40]
    np.testing.assert_array_equal(got[0], frames[1])
    np.testing.assert_array_equal(got[1], frames[3])
    bad = run("filter", str(src), "--frame", "5", "-k", "box:1", "-o", str(two))
    assert bad.exit_code == 2
    assert bad.stderr == f"Error: {src}: --frame 5: the input has 4 frame(s), numbered 1 to 4\n"
    still = tmp_path / "still.png"
    Image.fromarray(frames[0]).save(still)
    bad = run("filter", str(still), "--frame", "2", "-k", "box:1", "-o", str(two))
    assert bad.stderr == f"Error: {still}: --frame 2: the input has 1 frame(s), numbered 1 to 1\n"


def test_parse_frame_spec():
    assert parse_frame_spec("2", 3) == [1]
    assert parse_frame_spec("1-3", 3) == [0, 1, 2]
    assert parse_frame_spec("3,1", 3) == [2, 0]
    for bad in ("0", "2-1", "x", "1-"):
        with pytest.raises(ImageIOError):
            parse_frame_spec(bad, 3)


def test_find_searches_every_frame_and_reports_the_frame(tmp_path):
    frames = [(RNG.random((40, 50)) * 255).astype(np.uint8) for _ in range(3)]
    templ = frames[2][10:22, 30:42].copy()
    src = tmp_path / "pages.tif"
    tifffile.imwrite(src, np.stack(frames), photometric="minisblack")
    tpath = tmp_path / "t.png"
    Image.fromarray(templ).save(tpath)
    result = run("find", str(src), str(tpath), "--json")
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert found[0]["frame"] == 3 and (found[0]["x"], found[0]["y"]) == (30, 10)
    single = tmp_path / "one.png"
    Image.fromarray(frames[2]).save(single)
    alone = json.loads(run("find", str(single), str(tpath), "--json").stdout)
    assert "frame" not in alone[0]


# --------------------------------------------------------------------------------------------
# 16-bit colour
# --------------------------------------------------------------------------------------------


def rgb16(h: int = 13, w: int = 17, c: int = 3) -> np.ndarray:
    return RNG.integers(0, 65536, (h, w, c), dtype=np.uint16)


def as_rgb(bgr: np.ndarray) -> np.ndarray:
    return bgr[..., [2, 1, 0, 3][: bgr.shape[2]]]


def decoded16(data: bytes) -> tuple[np.ndarray, ImageInfo]:
    values, info = decode_image(data)
    return np.rint(values * 65535).astype(np.uint16), info


@pytest.mark.parametrize("channels", [3, 4])
def test_sixteen_bit_png_from_opencv_is_read_exactly(channels):
    arr = rgb16(c=channels)
    ok, buf = cv2.imencode(".png", as_rgb(arr))  # as_rgb swaps both ways
    assert ok
    got, info = decoded16(buf.tobytes())
    assert info.depth == "16" and info.notes == []
    np.testing.assert_array_equal(got, arr)


TIFF_CASES = [
    ("cv2", 1, "<"),  # uncompressed
    ("cv2", 5, "<"),  # LZW
    ("cv2", 8, "<"),  # deflate
    ("tifffile", None, "<"),
    ("tifffile", None, ">"),
    ("tifffile", "zlib", ">"),
]


@pytest.mark.parametrize(("writer", "compression", "order"), TIFF_CASES)
def test_sixteen_bit_tiff_is_read_exactly(tmp_path, writer, compression, order):
    arr = rgb16(40, 17)
    path = tmp_path / "in.tif"
    if writer == "cv2":
        assert cv2.imwrite(str(path), as_rgb(arr), [cv2.IMWRITE_TIFF_COMPRESSION, compression])
    else:
        tifffile.imwrite(
            path, arr, photometric="rgb", byteorder=order, compression=compression, rowsperstrip=7
        )
    got, info = decoded16(path.read_bytes())
    assert info.depth == "16" and info.notes == []
    np.testing.assert_array_equal(got, arr)


@pytest.mark.parametrize("channels", [3, 4])
def test_sixteen_bit_png_we_write_is_read_exactly_by_opencv_and_us(channels):
    arr = rgb16(c=channels)
    data = encode_image(arr / 65535, ImageInfo(depth="16"), "png")
    cv = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(as_rgb(cv), arr)
    np.testing.assert_array_equal(decoded16(data)[0], arr)


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("level", [0, 6])
def test_sixteen_bit_tiff_we_write_is_read_exactly(order, level):
    arr = rgb16(30, 9)
    data = encode_tiff(arr, byteorder=order, level=level)
    cv = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(as_rgb(cv), arr)
    with tifffile.TiffFile(io.BytesIO(data)) as tf:
        assert tf.byteorder == order
        np.testing.assert_array_equal(tf.pages[0].asarray(), arr)
    np.testing.assert_array_equal(decoded16(data)[0], arr)


@pytest.mark.parametrize("ext", ["png", "tif"])
def test_filtered_sixteen_bit_colour_matches_the_float_reference(tmp_path, ext):
    arr = rgb16(48, 40)
    src = tmp_path / f"in.{ext}"
    assert cv2.imwrite(str(src), as_rgb(arr))
    out = tmp_path / f"out.{ext}"
    result = run("filter", str(src), "-k", "gaussian:1.5", "-o", str(out))
    assert result.exit_code == 0 and result.stderr == ""
    got = as_rgb(cv2.imread(str(out), cv2.IMREAD_UNCHANGED))
    assert got.dtype == np.uint16
    ref = chain(arr.astype(np.float64) / 65535, "gaussian:1.5") * 65535
    assert np.abs(got - ref).max() <= 1.0


def test_sixteen_bit_apng_says_it_reads_8_bits():
    frames = [rgb16(6, 5) for _ in range(2)]
    data = encode_png(frames, durations=[10, 10])
    got = decode_frames(data)
    assert got.info.depth == "8"
    assert len(got.info.notes) == 1 and "8 bits" in got.info.notes[0]


def test_sixteen_bit_cmyk_tiff_says_it_reads_8_bits(tmp_path):
    src = tmp_path / "cmyk.tif"
    tifffile.imwrite(src, rgb16(6, 5, 4), photometric="separated")
    result = run("filter", str(src), "-k", "box:1", "-o", str(tmp_path / "o.png"))
    assert result.exit_code == 0
    assert "16-bit CMYK is read at 8 bits per channel" in result.stderr


def test_sixteen_bit_to_jpeg_is_noted(tmp_path):
    src = tmp_path / "in.png"
    assert cv2.imwrite(str(src), rgb16(8, 8))
    result = run("filter", str(src), "-k", "box:1", "-o", str(tmp_path / "o.jpg"))
    assert result.exit_code == 0 and "8 bits" in result.stderr


# --------------------------------------------------------------------------------------------
# The PNG and TIFF writers
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_png_writer_decodes_identically_with_pillow_and_opencv(dtype, channels):
    top = np.iinfo(dtype).max
    smooth = np.linspace(0, top, 23 * 31 * channels).reshape(23, 31, channels)
    arr = np.where(RNG.random(smooth.shape) < 0.3, RNG.integers(0, top, smooth.shape), smooth)
    arr = arr.astype(dtype)[..., 0] if channels == 1 else arr.astype(dtype)
    data = encode_png(arr, level=6)
    cv = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    with Image.open(io.BytesIO(data)) as im:
        pil = np.asarray(im)
        mode = im.mode
    if channels == 2:  # OpenCV expands grey+alpha to BGRA
        np.testing.assert_array_equal(cv[..., [0, 3]], arr)
    else:
        np.testing.assert_array_equal(as_rgb(cv) if channels >= 3 else cv, arr)
    if dtype == np.uint8 or channels == 1:  # Pillow keeps 16 bits only for grey
        np.testing.assert_array_equal(pil, arr)
    elif channels == 2:  # 16-bit grey+alpha opens as RGBA
        assert mode == "RGBA"
        np.testing.assert_array_equal(pil[..., [0, 3]], (arr >> 8).astype(np.uint8))
    else:
        assert mode in ("RGB", "RGBA")
        np.testing.assert_array_equal(pil, (arr >> 8).astype(np.uint8))
    values, info = decode_image(data)  # and we read every bit back, without a note
    assert info.notes == [] and info.depth == ("8" if dtype == np.uint8 else "16")
    np.testing.assert_array_equal(np.rint(values * top).astype(dtype), arr)


def test_png_writer_many_bands_in_parallel_make_one_valid_stream(monkeypatch):
    from convtool.images import png

    monkeypatch.setattr(png, "_BAND_BYTES", 200)  # many bands, several per thread
    arr = RNG.integers(0, 256, (120, 70, 3), dtype=np.uint8)
    data = encode_png(arr)
    with Image.open(io.BytesIO(data)) as im:
        np.testing.assert_array_equal(np.asarray(im), arr)
    idat = _chunks(data, b"IDAT")
    assert len(idat) > 10
    raw = zlib.decompress(b"".join(idat))  # checks the header and the combined Adler-32
    assert len(raw) == 120 * (70 * 3 + 1)


def _deflated_size(data: bytes, strategy: int) -> int:
    comp = zlib.compressobj(4, zlib.DEFLATED, -15, 9, strategy)
    return len(comp.compress(data) + comp.flush())


def test_each_band_picks_the_strategy_that_deflates_it_smallest():
    from convtool.images.png import _pick_strategy

    grain = np.minimum(RNG.integers(0, 256, 1 << 15, dtype=np.uint8), 40).tobytes()
    text = (b"convtool filter photo.png -k gaussian:2 -o out.png " * 700)[: 1 << 15]
    assert _pick_strategy(text, 4) == zlib.Z_DEFAULT_STRATEGY  # repeats: LZ77
    assert _pick_strategy(grain, 4) != zlib.Z_DEFAULT_STRATEGY  # no repeats: entropy coding
    strategies = (zlib.Z_DEFAULT_STRATEGY, zlib.Z_RLE, zlib.Z_HUFFMAN_ONLY)
    for data in (grain, text):
        best = _deflated_size(data, _pick_strategy(data, 4))
        assert best == min(_deflated_size(data, s) for s in strategies)


def _chunks(data: bytes, kind: bytes) -> list[bytes]:
    out, pos = [], 8
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        if data[pos + 4 : pos + 8] == kind:
            out.append(data[pos + 8 : pos + 8 + length])
        pos += 12 + length
    return out


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=300), st.binary(max_size=70_000))
def test_adler32_combine_matches_zlib(a, b):
    assert adler32_combine(zlib.adler32(a), zlib.adler32(b), len(b)) == zlib.adler32(a + b)


def test_icc_profile_and_dpi_survive(tmp_path):
    icc = b"\x00\x00\x02\x0cfake-icc-profile-bytes" * 4
    src = tmp_path / "in.png"
    Image.fromarray(RNG.integers(0, 256, (8, 9, 3), dtype=np.uint8)).save(
        src, icc_profile=icc, dpi=(300, 300)
    )
    for ext in ("png", "tif", "jpg", "webp"):
        out = tmp_path / f"out.{ext}"
        assert run("filter", str(src), "-k", "box:1", "-o", str(out)).exit_code == 0
        with Image.open(out) as im:
            assert im.info.get("icc_profile") == icc, ext
            if ext != "webp":  # WebP has no resolution field
                assert tuple(round(d) for d in im.info["dpi"]) == (300, 300), ext


# --------------------------------------------------------------------------------------------
# Output options and output-path checks
# --------------------------------------------------------------------------------------------


def test_quality_changes_jpeg_and_webp_and_compression_changes_png(tmp_path):
    ramp = np.linspace(0, 200, 64 * 64 * 3).reshape(64, 64, 3)
    arr = (ramp + RNG.random((64, 64, 3)) * 40).astype(np.uint8)
    src = tmp_path / "in.png"
    Image.fromarray(arr).save(src)
    sizes = {}
    for ext, opt, value in [
        ("jpg", "--quality", "20"), ("jpg", "--quality", "95"),
        ("webp", "--quality", "20"), ("webp", "--quality", "95"),
        ("png", "--compression", "0"), ("png", "--compression", "9"),
    ]:  # fmt: skip
        out = tmp_path / f"o{value}.{ext}"
        assert run("filter", str(src), "-k", "box:1", opt, value, "-o", str(out)).exit_code == 0
        sizes[ext, value] = out.stat().st_size
        with Image.open(out) as im:
            got = np.asarray(im.convert("RGB")).astype(int)
        if ext == "png":
            np.testing.assert_array_equal(got, arr)  # lossless at every level
    assert sizes["jpg", "20"] < sizes["jpg", "95"]
    assert sizes["webp", "20"] < sizes["webp", "95"]
    assert sizes["png", "9"] < sizes["png", "0"]
    webp = tmp_path / "lossless.webp"
    assert run("filter", str(src), "-k", "box:1", "-o", str(webp)).exit_code == 0
    np.testing.assert_array_equal(np.asarray(Image.open(webp)), arr)  # default: lossless


def test_an_option_the_format_ignores_is_noted(tmp_path):
    src = tmp_path / "in.png"
    Image.new("RGB", (4, 4)).save(src)
    base = ("filter", str(src), "-k", "box:1", "-o")
    png = run(*base, str(tmp_path / "o.png"), "--quality", "50")
    assert png.exit_code == 0 and "--quality is for JPEG and WebP; PNG ignores it" in png.stderr
    jpg = run(*base, str(tmp_path / "o.jpg"), "--compression", "9")
    assert jpg.exit_code == 0 and "--compression is for PNG and TIFF" in jpg.stderr


def test_extension_disagreeing_with_format_is_refused(tmp_path):
    src = tmp_path / "in.png"
    Image.new("RGB", (4, 4)).save(src)
    out = tmp_path / "out.jpg"
    result = run("filter", str(src), "-k", "box:1", "-o", str(out), "--format", "png")
    assert result.exit_code == 2
    assert "'.jpg' says JPEG but --format says PNG" in result.stderr
    assert not out.exists()
    bare = tmp_path / "result"
    ok = run("filter", str(src), "-k", "box:1", "-o", str(bare), "--format", "png")
    assert ok.exit_code == 0 and bare.read_bytes()[:4] == b"\x89PNG"


def test_trailing_slash_and_directory_outputs_say_what_is_wrong(tmp_path):
    src = tmp_path / "in.png"
    Image.new("RGB", (4, 4)).save(src)
    (tmp_path / "sub").mkdir()
    slash = run("filter", str(src), "-k", "box:1", "-o", f"{tmp_path}/sub/x.png/")
    assert slash.exit_code == 2 and "ends with '/'" in slash.stderr
    assert not (tmp_path / "sub" / "x.png").exists()
    # An existing directory as -o is where the file goes, as with cp (a batch of one file).
    folder = run("filter", str(src), "-k", "box:1", "-o", str(tmp_path / "sub"))
    assert folder.exit_code == 0, folder.stderr
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["in.png"]


def test_check_output_path_rules(tmp_path):
    assert check_output_path("-") is None
    assert check_output_path("-", "webp") == "webp"
    assert check_output_path(str(tmp_path / "a.JPEG"), "jpeg") == "jpeg"
    with pytest.raises(ImageIOError, match="does not exist"):
        check_output_path(str(tmp_path / "missing" / "a.png"))
    with pytest.raises(ImageIOError, match="the output name has no extension to tell the format"):
        check_output_path(str(tmp_path / "a"))


def test_gif_output_of_a_still_image(tmp_path):
    arr = frames_rgb(1)[0]
    src = tmp_path / "in.png"
    Image.fromarray(arr).save(src)
    out = tmp_path / "out.gif"
    assert run("filter", str(src), "-k", "box:1", "-o", str(out)).exit_code == 0
    np.testing.assert_array_equal(np.asarray(Image.open(out).convert("RGB")), arr)


def test_encode_frames_refuses_several_frames_for_a_single_frame_format():
    with pytest.raises(ImageIOError, match="--frame"):
        encode_frames([np.zeros((2, 2))] * 2, ImageInfo(), "bmp")


@pytest.mark.parametrize("orientation", range(1, 9))
def test_sixteen_bit_frames_turn_as_pillow_turns_by_exif(orientation):
    from PIL import ImageOps

    from convtool.images.decode import _exif_turn

    arr = RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    img = Image.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = orientation
    img.info["exif"] = exif.tobytes()
    expected = np.asarray(ImageOps.exif_transpose(img))
    np.testing.assert_array_equal(_exif_turn(arr, orientation), expected)
