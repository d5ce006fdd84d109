"""Netpbm and PFM: exact round trips, independent readers and writers, damaged headers."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from convtool.cli import cli
from convtool.images import ImageInfo, decode_frames, decode_image, encode_frames, read_pixels

cv2 = pytest.importorskip("cv2")
rng = np.random.default_rng(24)


def ints(shape, maxval):
    return rng.integers(0, maxval + 1, shape).astype(np.uint8 if maxval < 256 else np.uint16)


def run(args, **kw):
    return CliRunner().invoke(cli, args, catch_exceptions=False, **kw)


def assert_error(result, message):
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert result.stderr == f"Error: {message}\n"


# --- round trips: written and read back exactly ------------------------------------------------

CASES = [
    ("pgm", (5, 7), 255), ("pgm", (5, 7), 65535), ("ppm", (4, 6, 3), 255),
    ("ppm", (4, 6, 3), 65535), ("pnm", (3, 5), 65535), ("pnm", (3, 5, 3), 255),
    ("pam", (4, 3), 255), ("pam", (4, 3, 2), 65535), ("pam", (4, 3, 3), 65535),
    ("pam", (4, 3, 4), 255), ("pam", (2, 9, 4), 65535),
]  # fmt: skip


@pytest.mark.parametrize(("fmt", "shape", "maxval"), CASES)
def test_integer_round_trip_is_exact(fmt, shape, maxval):
    stored = ints(shape, maxval)
    depth = "8" if maxval == 255 else "16"
    alpha = len(shape) == 3 and shape[2] in (2, 4)
    data = encode_frames([stored / maxval], ImageInfo(depth=depth, alpha=alpha), fmt)
    arr, info = decode_image(data)
    assert info.depth == depth and info.alpha == alpha
    assert np.array_equal(np.rint(arr * maxval).astype(stored.dtype), stored)
    pixels, _, scale = read_pixels("-", stdin=__import__("io").BytesIO(data))
    assert scale == maxval and np.array_equal(pixels, stored)


def test_binary_layout_by_hand():
    """P5/P6 bytes as the format says: header, one whitespace, big-endian samples."""
    grey = np.array([[1, 256], [65535, 0]], np.uint16)
    data = encode_frames([grey / 65535], ImageInfo(depth="16"), "pgm")
    assert data == b"P5\n2 2\n65535\n" + bytes([0, 1, 1, 0, 255, 255, 0, 0])
    rgb = np.array([[[1, 2, 3], [250, 251, 252]]], np.uint8)
    data = encode_frames([rgb / 255], ImageInfo(), "ppm")
    assert data == b"P6\n2 1\n255\n" + bytes([1, 2, 3, 250, 251, 252])
    data = encode_frames([rgb[:, :, :1] / 255], ImageInfo(), "ppm")  # grey into PPM: repeated
    assert data == b"P6\n2 1\n255\n" + bytes([1, 1, 1, 250, 250, 250])


@pytest.mark.parametrize("shape", [(3, 4), (3, 4, 3)])
def test_pfm_round_trip_and_rows_bottom_up(shape):
    values = rng.normal(0, 10, shape).astype(np.float32)
    data = encode_frames([values], ImageInfo(depth="float"), "pfm")
    arr, info = decode_image(data)
    assert info.format == "pfm" and info.depth == "float"
    assert np.array_equal(arr, values)
    head = f"{'PF' if len(shape) == 3 else 'Pf'}\n4 3\n-1.0\n".encode()
    assert data == head + values[::-1].astype("<f4").tobytes()


@pytest.mark.parametrize("order", ["<", ">"])
def test_pfm_both_byte_orders_read(order):
    values = rng.normal(0, 3, (2, 5, 3)).astype(np.float32)
    scale = b"-1.0" if order == "<" else b"1.0"
    data = b"PF\n5 2\n" + scale + b"\n" + values[::-1].astype(order + "f4").tobytes()
    arr, _ = decode_image(data)
    assert np.array_equal(arr, values)


def test_several_images_are_frames():
    frames = [ints((3, 4, 3), 255) for _ in range(3)]
    data = encode_frames([f / 255 for f in frames], ImageInfo(), "ppm")
    got = decode_frames(data)
    assert len(got.arrays) == 3 and got.info.frames == 3
    for a, f in zip(got.arrays, frames, strict=True):
        assert np.array_equal(np.rint(a * 255).astype(np.uint8), f)


# --- independent readers and writers -----------------------------------------------------------


@pytest.mark.parametrize(("ext", "shape", "dtype"), [
    (".pgm", (6, 5), np.uint8), (".pgm", (6, 5), np.uint16),
    (".ppm", (6, 5, 3), np.uint8), (".ppm", (6, 5, 3), np.uint16),
])  # fmt: skip
def test_opencv_reads_ours_and_we_read_opencvs(tmp_path, ext, shape, dtype):
    stored = ints(shape, np.iinfo(dtype).max)
    ours = tmp_path / f"ours{ext}"
    depth = "8" if dtype == np.uint8 else "16"
    ours.write_bytes(encode_frames([stored / np.iinfo(dtype).max], ImageInfo(depth=depth),
                                   ext[1:]))  # fmt: skip
    back = cv2.imread(str(ours), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(back[:, :, ::-1] if back.ndim == 3 else back, stored)
    theirs = tmp_path / f"theirs{ext}"
    cv2.imwrite(str(theirs), stored[:, :, ::-1] if stored.ndim == 3 else stored)
    pixels, _, scale = read_pixels(theirs)
    assert np.array_equal(pixels, stored) and scale == np.iinfo(dtype).max


def test_opencv_reads_our_pfm_and_pam(tmp_path):
    values = rng.random((4, 6, 3)).astype(np.float32)
    (tmp_path / "a.pfm").write_bytes(encode_frames([values], ImageInfo(depth="float"), "pfm"))
    back = cv2.imread(str(tmp_path / "a.pfm"), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(back[:, :, ::-1], values)
    stored = ints((4, 6, 3), 65535)
    (tmp_path / "a.pam").write_bytes(encode_frames([stored / 65535], ImageInfo(depth="16"),
                                                   "pam"))  # fmt: skip
    back = cv2.imread(str(tmp_path / "a.pam"), cv2.IMREAD_UNCHANGED)
    if back is None:
        pytest.skip("this OpenCV build reads no PAM")
    assert np.array_equal(back, stored)  # OpenCV keeps a PAM's RGB order (no BGR swap)


def test_pillow_writes_we_read(tmp_path):
    grey = ints((5, 7), 255)
    Image.fromarray(grey).save(tmp_path / "p.pgm")
    Image.fromarray(grey).convert("1").save(tmp_path / "p.pbm")
    floats = rng.normal(size=(5, 7)).astype(np.float32)
    Image.fromarray(floats, mode="F").save(tmp_path / "p.pfm")
    assert np.array_equal(read_pixels(tmp_path / "p.pgm")[0], grey)
    bits = np.asarray(Image.open(tmp_path / "p.pbm").convert("L")) // 255
    assert np.array_equal(read_pixels(tmp_path / "p.pbm")[0], bits)
    assert np.array_equal(decode_image((tmp_path / "p.pfm").read_bytes())[0], floats)


# --- plain headers, comments, maxval ---------------------------------------------------------


def test_plain_formats_with_comments():
    arr, info = decode_image(b"P3\n# made by hand\n2 1 # width height\n255\n1 2 3\n4 5 6\n")
    assert info.format == "ppm" and np.array_equal(np.rint(arr * 255), [[[1, 2, 3], [4, 5, 6]]])
    arr, _ = decode_image(b"P1\n# bits\n4 2\n0101\n1 1 0 0\n")  # 1 is black
    assert arr.tolist() == [[1, 0, 1, 0], [0, 0, 1, 1]]
    arr, info = decode_image(b"P2 3 1 1023 0 512 1023")
    assert info.depth == "16" and np.allclose(arr, [[0, 512 / 1023, 1]])


def test_binary_header_with_comments_and_odd_maxval():
    data = b"P5\n#c1\n 2 #c2\n1\n#c3\n100\n" + bytes([50, 100])
    arr, info = decode_image(data)
    assert info.depth == "8" and arr.tolist() == [[0.5, 1.0]]


def test_pam_header_tupltypes():
    body = bytes([0, 255, 10, 128])
    data = (b"P7\nWIDTH 2\nHEIGHT 1\nDEPTH 2\nMAXVAL 255\n# note\nTUPLTYPE GRAYSCALE_ALPHA\n"
            b"ENDHDR\n") + body  # fmt: skip
    arr, info = decode_image(data)
    assert info.alpha and info.format == "pam"
    assert np.array_equal(np.rint(arr * 255), [[[0, 255], [10, 128]]])
    bw = b"P7\nWIDTH 3\nHEIGHT 1\nDEPTH 1\nMAXVAL 1\nTUPLTYPE BLACKANDWHITE\nENDHDR\n\x00\x01\x01"
    assert decode_image(bw)[0].tolist() == [[0.0, 1.0, 1.0]]


# --- the CLI: extensions, --format, the stdout default ------------------------------------------


def test_cli_extensions_and_stdout_default(tmp_path):
    stored = ints((6, 8, 3), 65535)
    src = tmp_path / "in.ppm"
    src.write_bytes(encode_frames([stored / 65535], ImageInfo(depth="16"), "ppm"))
    ident = tmp_path / "id.txt"
    ident.write_text("1\n")
    assert run(["filter", str(src), "-k", str(ident), "-o", str(tmp_path / "o.ppm")]).exit_code == 0
    assert (tmp_path / "o.ppm").read_bytes() == src.read_bytes()  # 16-bit kept exactly
    out = run(["filter", str(src), "-k", str(ident), "-o", "-"]).stdout_bytes
    assert out == src.read_bytes()  # on stdout: the input's format
    out = run(["filter", str(src), "-k", str(ident), "-o", "-", "--format", "pam"]).stdout_bytes
    assert out.startswith(b"P7\nWIDTH 8\nHEIGHT 6\nDEPTH 3\nMAXVAL 65535\nTUPLTYPE RGB\nENDHDR\n")
    assert run(["filter", str(src), "-k", str(ident), "-o", str(tmp_path / "o.pfm")]).exit_code == 0
    assert np.allclose(cv2.imread(str(tmp_path / "o.pfm"), cv2.IMREAD_UNCHANGED)[:, :, ::-1],
                       stored / 65535, atol=1e-6)  # fmt: skip


@pytest.mark.parametrize(("data", "message"), [
    (b"P5\n2 2\n0\n" + bytes(4), "bad.pgm: bad PGM header (maxval 0 is out of range 1 to 65535)"),
    (b"P6\n2 2\n70000\n", "bad.pgm: bad PPM header (maxval 70000 is out of range 1 to 65535)"),
    (b"P5\nx 2\n255\n", "bad.pgm: bad PGM header (width 'x' is not a number)"),
    (b"P5\n2 2\n255", "bad.pgm: truncated PGM header (no data after it)"),
    (b"P5\n2 # only a width", "bad.pgm: truncated PGM header (it ends before the height)"),
    (b"P6\n2 2\n255\n" + bytes(10), "bad.pgm: truncated PPM data (10 of 12 bytes)"),
    (b"P5\n2 1\n65535\n\x00", "bad.pgm: truncated PGM data (1 of 4 bytes)"),
    (b"P5\n2 1\n100\n\x05\xc8", "bad.pgm: bad PGM data (a sample is above maxval 100)"),
    (b"P2\n2 1\n255\n1 x\n", "bad.pgm: bad plain PGM data (a sample is not a number)"),
    (b"P7\nWIDTH 2\nHEIGHT 1\nMAXVAL 255\nENDHDR\n", "bad.pgm: bad PAM header (no DEPTH line)"),
    (b"P7\nWIDTH 2\nHEIGHT 1\nDEPTH 5\nMAXVAL 255\nENDHDR\n",
     "bad.pgm: PAM with DEPTH 5: convtool reads 1 to 4 channels"),
    (b"Pf\n2 1\n0\n" + bytes(8), "bad.pgm: bad PFM header (scale '0' is not a non-zero number)"),
    (b"P5\n3000 3000\n255\n", "bad.pgm: image has 9,000,000 pixels, over the limit of 1,000,000 "
     "pixels (raise it with --max-pixels N or CONVTOOL_MAX_PIXELS=N; 0 = no limit)"),
])  # fmt: skip
def test_damaged_input_is_one_error_line(tmp_path, monkeypatch, data, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.pgm").write_bytes(data)
    result = run(["filter", "bad.pgm", "-k", "box:3", "-o", "out.png", "--max-pixels", "1000000"])
    assert_error(result, message)
    assert not (tmp_path / "out.png").exists()


def test_alpha_into_ppm_is_refused(tmp_path):
    src = tmp_path / "a.png"
    Image.fromarray(ints((4, 4, 4), 255)).save(src)
    result = run(["filter", str(src), "-k", "box:3", "-o", str(tmp_path / "o.ppm")])
    assert_error(
        result, "PPM cannot store an alpha channel; write PAM, PNG or TIFF, or use --alpha drop"
    )
