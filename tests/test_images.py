"""Image I/O: decoding to normalized floats and encoding back, checked with Pillow directly."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from PIL import Image

from convtool.images import (
    ImageInfo,
    ImageIOError,
    decode_image,
    encode_image,
    format_for_path,
    probe_image,
    to_output_array,
    write_bytes,
)


def pil_bytes(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


MODES = [("L", (5, 6), False), ("LA", (5, 6, 2), True), ("RGB", (5, 6, 3), False)]
MODES.append(("RGBA", (5, 6, 4), True))
LOSSLESS_CASES = [
    (fmt, *mode)
    for fmt in ("PNG", "TIFF", "WEBP")
    for mode in MODES
    if not (fmt == "WEBP" and mode[0] in ("L", "LA"))  # WebP has no grey modes
]


@pytest.mark.parametrize(("fmt", "mode", "shape", "alpha"), LOSSLESS_CASES)
def test_lossless_round_trip_by_mode(fmt, mode, shape, alpha):
    arr = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    data = pil_bytes(
        Image.fromarray(arr), fmt, **({"lossless": True, "exact": True} if fmt == "WEBP" else {})
    )
    values, info = decode_image(data)
    assert info.alpha is alpha
    assert values.dtype == np.float32
    np.testing.assert_allclose(values * 255, arr, atol=1e-4)
    back = encode_image(values, info, fmt.lower())
    with Image.open(io.BytesIO(back)) as im:
        np.testing.assert_array_equal(np.asarray(im), arr)


def test_grey_webp_is_stored_as_three_equal_channels():
    grey = np.random.default_rng(0).integers(0, 256, (5, 6), dtype=np.uint8)
    data = encode_image(grey.astype(np.float32) / 255, ImageInfo(), "webp")
    values, _ = decode_image(data)
    assert values.shape == (5, 6, 3)
    for c in range(3):
        np.testing.assert_allclose(values[:, :, c] * 255, grey, atol=1e-4)


def test_bmp_and_jpeg_are_read():
    arr = np.random.default_rng(1).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    values, info = decode_image(pil_bytes(Image.fromarray(arr), "BMP"))
    assert info.format == "bmp"
    np.testing.assert_allclose(values * 255, arr, atol=1e-4)
    values, info = decode_image(pil_bytes(Image.fromarray(arr), "JPEG"))
    assert info.format == "jpeg"
    assert values.shape == (8, 8, 3)


def test_sixteen_bit_grey_is_normalized_by_65535():
    arr = np.array([[0, 1, 65535, 32768]], dtype=np.uint16)
    values, info = decode_image(pil_bytes(Image.fromarray(arr), "PNG"))
    assert info.depth == "16"
    np.testing.assert_allclose(values, arr / 65535, rtol=1e-6)
    with Image.open(io.BytesIO(encode_image(values, info, "png"))) as im:
        assert im.mode.startswith("I;16")
        np.testing.assert_array_equal(np.asarray(im), arr)


def test_sixteen_bit_colour_png_is_read_at_full_depth_without_a_note():
    cv2 = pytest.importorskip("cv2")
    bgr = np.random.default_rng(3).integers(0, 65536, (3, 4, 3), dtype=np.uint16)
    ok, buf = cv2.imencode(".png", bgr)
    assert ok
    values, info = decode_image(buf.tobytes())
    assert info.depth == "16" and info.notes == []
    np.testing.assert_array_equal(np.rint(values * 65535).astype(np.uint16), bgr[..., ::-1])


def test_one_bit_and_cmyk_are_converted():
    arr = (np.arange(16).reshape(4, 4) % 2).astype(bool)
    values, _ = decode_image(pil_bytes(Image.fromarray(arr), "PNG"))
    np.testing.assert_array_equal(values, arr.astype(np.float32))
    cmyk = Image.new("CMYK", (3, 2), (0, 255, 255, 0))
    values, _ = decode_image(pil_bytes(cmyk, "JPEG", quality=100))
    assert values.shape == (2, 3, 3)
    assert values[..., 0].min() > 0.9 and values[..., 1:].max() < 0.1  # red


def test_palette_with_transparency_becomes_rgba():
    img = Image.new("P", (2, 2), 0)
    img.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    img.putpixel((1, 1), 1)
    img.info["transparency"] = 1
    values, info = decode_image(pil_bytes(img, "PNG", transparency=1))
    assert info.alpha and values.shape == (2, 2, 4)
    assert values[1, 1, 3] == 0 and values[0, 0, 3] == 1


def test_npy_kinds():
    buf = io.BytesIO()
    np.save(buf, np.array([[0, 255]], np.uint8))
    values, info = decode_image(buf.getvalue())
    assert info.depth == "8" and values.tolist() == [[0.0, 1.0]]
    buf = io.BytesIO()
    np.save(buf, np.array([[np.nan, 1.0]]))
    with pytest.raises(ImageIOError, match="NaN or infinite"):
        decode_image(buf.getvalue(), "a.npy")
    buf = io.BytesIO()
    np.save(buf, np.zeros((2, 2, 2, 2)))
    with pytest.raises(ImageIOError, match=r"must be \(H, W\) or \(H, W, C\)"):
        decode_image(buf.getvalue(), "a.npy")


def test_to_output_array_rounds_half_to_even_and_clips():
    vals = np.array([-1.0, 0.5 / 255, 1.5 / 255, 254.5 / 255, 2.0])
    np.testing.assert_array_equal(to_output_array(vals, depth="8"), [0, 0, 2, 254, 255])
    assert to_output_array(np.zeros(3), depth="8", mapping="rescale").tolist() == [0, 0, 0]


def test_format_for_path():
    assert format_for_path("a/b.JPG") == "jpeg"
    assert format_for_path("x.tiff") == "tiff"
    assert format_for_path("x", fallback="png") == "png"
    assert format_for_path("anim.GIF") == "gif"
    with pytest.raises(ImageIOError, match="cannot tell the output format"):
        format_for_path("x.xcf")


def test_too_many_channels_for_an_image_format():
    with pytest.raises(ImageIOError, match="cannot store 5 channels as PNG"):
        encode_image(np.zeros((2, 2, 5)), ImageInfo(), "png")


def test_write_bytes_replaces_atomically(tmp_path):
    target = tmp_path / "o.bin"
    target.write_bytes(b"old")
    write_bytes(b"new", target)
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.bin"]


@pytest.mark.parametrize("fail_at", [1, 2])
def test_a_failed_rename_puts_back_every_output_of_the_run(tmp_path, monkeypatch, fail_at):
    # Several outputs commit together: when one rename fails, the ones already renamed are
    # undone (old files back, new ones removed) and no temporary file is left.
    from convtool.images import write as writer
    from convtool.images import write_outputs

    first, second, third = tmp_path / "a.png", tmp_path / "b.npy", tmp_path / "c.png"
    first.write_bytes(b"old a")
    third.write_bytes(b"old c")
    real, calls = os.replace, []

    def replace(src, dst):
        calls.append(dst)
        if len(calls) == fail_at + 1:  # the rename of output number fail_at + 1
            raise OSError(28, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(writer.os, "replace", replace)
    outputs = [(b"new a", first), (b"new b", second), (b"new c", third)]
    with pytest.raises(ImageIOError, match="cannot write"):
        write_outputs(outputs)
    monkeypatch.setattr(writer.os, "replace", real)
    assert first.read_bytes() == b"old a" and third.read_bytes() == b"old c"
    assert not second.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "c.png"]
    write_outputs(outputs)  # and a run that succeeds leaves only the outputs
    assert [p.read_bytes() for p in (first, second, third)] == [b"new a", b"new b", b"new c"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.npy", "c.png"]


def test_a_signal_during_the_renames_waits_for_the_last(tmp_path, monkeypatch):
    # SIGTERM arriving after the first of two renames takes effect after the second: the run
    # ends with both outputs new (never one new and one old), and no temporary file left.
    import signal

    from convtool.images import write as writer
    from convtool.images import write_outputs

    first, second = tmp_path / "a.png", tmp_path / "b.png"
    first.write_bytes(b"old a")
    second.write_bytes(b"old b")
    real, calls = os.replace, []

    def replace(src, dst):
        calls.append(dst)
        real(src, dst)
        if len(calls) == 1:
            os.kill(os.getpid(), signal.SIGTERM)

    old_handler = signal.getsignal(signal.SIGTERM)
    writer.install_signal_handlers()
    monkeypatch.setattr(writer.os, "replace", replace)
    try:
        with pytest.raises(writer.Terminated):
            write_outputs([(b"new a", first), (b"new b", second)])
    finally:
        signal.signal(signal.SIGTERM, old_handler)
    assert len(calls) == 2
    assert (first.read_bytes(), second.read_bytes()) == (b"new a", b"new b")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png"]


def test_lab_is_three_channels_not_alpha():
    lab = Image.new("LAB", (3, 2), (50, 0, 0))
    values, info = decode_image(pil_bytes(lab, "TIFF"))
    assert values.shape == (2, 3, 3) and not info.alpha


# EXIF orientation -> how the stored pixels are shown, written from the EXIF 2.3 table.
EXIF_VIEWS = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],  # mirrored left-right
    3: lambda a: a[::-1, ::-1],  # turned 180 degrees
    4: lambda a: a[::-1],  # mirrored top-bottom
    5: lambda a: a.transpose(1, 0, 2),  # mirrored along the main diagonal
    6: lambda a: np.rot90(a, -1),  # turned 90 degrees clockwise
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),  # mirrored along the other diagonal
    8: lambda a: np.rot90(a, 1),  # turned 90 degrees counter-clockwise
}


def _with_orientation(arr: np.ndarray, orientation: int, fmt: str = "PNG") -> bytes:
    img = Image.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = orientation
    return pil_bytes(img, fmt, exif=exif)


@pytest.mark.parametrize("orientation", sorted(EXIF_VIEWS))
def test_exif_orientation_is_applied_as_viewers_show_the_image(orientation, tmp_path):
    arr = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) * 9
    data = _with_orientation(arr, orientation)
    got, info = decode_image(data)
    want = EXIF_VIEWS[orientation](arr) / 255
    np.testing.assert_allclose(got, want, atol=1e-7)
    assert info.format == "png"
    path = tmp_path / "oriented.png"
    path.write_bytes(data)
    assert probe_image(path) == want.shape


def test_exif_orientation_of_a_jpeg_turns_its_shape():
    arr = np.zeros((16, 32, 3), np.uint8)
    got, info = decode_image(_with_orientation(arr, 6, "JPEG"))
    assert got.shape == (32, 16, 3) and info.format == "jpeg"
