"""Hostile input data through the real CLI: kernels, damaged images, extreme values (issue 10).

Findings 1, 5, 6, 9 and 10: weights beyond float32, JSON beyond float or nesting limits, kernel
files beyond the size limit, damaged image and .npy files, extreme values in find, and stray
stderr. Each gives a result or one ``Error:`` line with exit status 2, never a hang.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from _hostile import RUN_LIMIT, assert_one_error, convtool, is_png, png
from PIL import Image

# --- finding 1: weights beyond float32 are an error naming the tap, never a hang ---------------


@pytest.mark.parametrize(
    ("name", "text", "tap"),
    [
        ("k.txt", "1e39\n", "row 1, column 1"),
        ("k.txt", "1 2 3\n4 5 -1e39\n", "row 2, column 3"),
        ("k.json", "[[1e39]]", "row 1, column 1"),
        ("k.json", '{"weights": [[0, 1], [2, 4e38]]}', "row 2, column 2"),
        ("k.json", "[[[1, 2]], [[3, 5e38]]]", "index [1, 0, 1]"),
    ],
)
def test_weight_beyond_float32_names_the_tap(tmp_path, name, text, tap):
    src = png(tmp_path / "in.png", 1, 1)
    kernel = tmp_path / name
    kernel.write_text(text)
    line = assert_one_error(convtool("filter", src, "-k", kernel, "-o", tmp_path / "o.png"))
    assert tap in line and "float32" in line
    assert not (tmp_path / "o.png").exists()


def test_npy_weight_beyond_float32_is_an_error(tmp_path):
    src = png(tmp_path / "in.png", 1, 1)
    kernel = tmp_path / "k.npy"
    np.save(kernel, np.array([[1.0, 1e300]]))
    line = assert_one_error(convtool("filter", src, "-k", kernel, "-o", tmp_path / "o.png"))
    assert "row 1, column 2" in line


@pytest.mark.parametrize("spec", ["unsharp:1,1e308", "unsharp:1,1e39"])
def test_named_kernel_beyond_float32_is_an_error(tmp_path, spec):
    src = png(tmp_path / "in.png", 1, 1)
    line = assert_one_error(convtool("filter", src, "-k", spec, "-o", tmp_path / "o.png"))
    assert "float32" in line


@pytest.mark.parametrize(
    "bias", ["1e39", "[1e39]", "1" + "0" * 400, "[1" + "0" * 400 + "]", "-1e39"]
)
def test_json_bias_beyond_float32_is_an_error(tmp_path, bias):
    src = png(tmp_path / "in.png", 1, 1)
    kernel = tmp_path / "k.json"
    kernel.write_text('{"weights": [[1]], "bias": ' + bias + "}")
    line = assert_one_error(convtool("filter", src, "-k", kernel, "-o", tmp_path / "o.png"))
    assert "bias" in line


# --- finding 5: JSON numbers and nesting beyond what Python or numpy hold ----------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[[1" + "0" * 400 + "]]", "too large"),
        ("[[1" + "0" * 5000 + "]]", "digits"),
        ("[" * 100000, "nested too deeply"),
        ("[" * 100 + "1" + "]" * 100, "levels deep"),
        ("[" * 70 + "1" + "]" * 70, "levels deep"),
        ("[" * 40 + "1" + "]" * 40, "levels deep"),
        ("[[[[[1]]]]]", "got 5-D"),
    ],
)
def test_json_kernel_extremes_are_one_error(tmp_path, text, words):
    src = png(tmp_path / "in.png", 1, 1)
    kernel = tmp_path / "k.json"
    kernel.write_text(text)
    line = assert_one_error(convtool("filter", src, "-k", kernel, "-o", tmp_path / "o.png"))
    assert words in line


def test_huge_dilation_is_a_usage_error(tmp_path):
    src = png(tmp_path / "in.png")
    args = ("filter", src, "-k", "box:3", "--dilation", "9" * 20, "-o", tmp_path / "o.png")
    assert "--dilation" in assert_one_error(convtool(*args))


@pytest.mark.parametrize("scales", ["1e308", "1e308,1e300", "1e-308"])
def test_extreme_scales_are_one_error_or_a_result(tmp_path, scales):
    src = png(tmp_path / "in.png")
    tpl = tmp_path / "tpl.png"
    Image.open(src).crop((4, 4, 12, 12)).save(tpl)
    proc = convtool("find", src, tpl, "--scales", scales)
    if proc.returncode != 0:
        assert_one_error(proc, code=proc.returncode if proc.returncode == 1 else 2)


# --- finding 10: kernel files obey the generated kernels' size limit ---------------------------


def test_oversized_text_kernel_is_refused_at_once(tmp_path):
    from convtool.kernels import MAX_KERNEL_SIDE

    src = png(tmp_path / "in.png", 48, 64)
    kernel = tmp_path / "k.txt"
    side = MAX_KERNEL_SIDE + 1
    kernel.write_text(("1 " * side + "\n") * side)
    line = assert_one_error(convtool("filter", src, "-k", kernel, "-o", tmp_path / "o.png"))
    assert f"{MAX_KERNEL_SIDE}x{MAX_KERNEL_SIDE}" in line


@pytest.mark.parametrize("suffix", [".json", ".npy"])
def test_oversized_kernel_files_are_refused(tmp_path, suffix):
    from convtool.kernels import MAX_KERNEL_SIDE

    src = png(tmp_path / "in.png", 8, 8)
    kernel = tmp_path / f"k{suffix}"
    weights = np.ones((1, MAX_KERNEL_SIDE + 1))
    if suffix == ".npy":
        np.save(kernel, weights)
    else:
        kernel.write_text(json.dumps(weights.tolist()))
    line = assert_one_error(convtool("filter", src, "-k", kernel, "-o", tmp_path / "o.png"))
    assert f"{MAX_KERNEL_SIDE}x{MAX_KERNEL_SIDE}" in line


@pytest.mark.parametrize("suffix", [".txt", ".json", ".npy"])
def test_huge_kernel_file_is_refused_before_reading(tmp_path, suffix):
    from convtool.kernels.types import MAX_KERNEL_FILE_BYTES

    kernel = tmp_path / f"k{suffix}"
    with open(kernel, "wb") as fh:  # sparse: the size is there, the bytes cost nothing
        fh.truncate(MAX_KERNEL_FILE_BYTES + 1)
    src = png(tmp_path / "in.png", 8, 8)
    line = assert_one_error(convtool("filter", src, "-k", kernel, "-o", tmp_path / "o.png"))
    assert "MiB" in line


def test_kernel_with_too_many_weights_is_refused(tmp_path):
    from convtool.kernels import MAX_KERNEL_WEIGHTS

    kernel = tmp_path / "k.npy"
    side = 64
    np.save(kernel, np.zeros((side, side, 2, MAX_KERNEL_WEIGHTS // (side * side * 2) + 1), "f4"))
    src = png(tmp_path / "in.png", 8, 8)
    line = assert_one_error(convtool("filter", src, "-k", kernel, "-o", tmp_path / "o.png"))
    assert str(MAX_KERNEL_WEIGHTS) in line


@pytest.mark.parametrize(
    "border", ["reflect", "mirror", "nearest", "wrap", "constant", "zero", "valid", "full"]
)
def test_kernel_larger_than_the_image(tmp_path, border):
    """Every border mode gives its own output size (never larger than asked) or one error."""
    src = tmp_path / "in.npy"
    image = np.random.default_rng(1).random((12, 16)).astype(np.float32)
    np.save(src, image)
    kernel = tmp_path / "k.txt"
    kernel.write_text(("1 " * 41 + "\n") * 31)
    out = tmp_path / "o.npy"
    proc = convtool("filter", src, "-k", kernel, "--border", border, "-o", out)
    if border == "valid":
        assert "larger than the image" in assert_one_error(proc)
        assert not out.exists()
        return
    assert proc.returncode == 0, proc.stderr
    expected = (12 + 30, 16 + 40) if border == "full" else (12, 16)
    result = np.load(out)
    assert result.shape == expected
    if border in ("constant", "zero", "full"):  # zeros beyond the edge: each output sums all
        assert np.allclose(result.max(), image.sum(), rtol=1e-5)


# --- finding 6: find on extreme values finds what it finds on ordinary ones --------------------


def _scene(tmp_path, image_scale, templ_scale, dtype="f8"):
    rng = np.random.default_rng(3)
    scene = rng.random((40, 50))
    np.save(tmp_path / "scene.npy", (scene * image_scale).astype(dtype))
    np.save(tmp_path / "tpl.npy", (scene[10:20, 30:42] * templ_scale).astype(dtype))
    return tmp_path / "scene.npy", tmp_path / "tpl.npy"


def _found(proc):
    assert proc.returncode == 0, proc.stderr
    (match,) = json.loads(proc.stdout)
    return match


@pytest.mark.parametrize("method", ["zncc", "ncc"])
@pytest.mark.parametrize(
    ("image_scale", "templ_scale", "dtype"),
    [(1e300, 1, "f8"), (1, 1e300, "f8"), (1e-300, 1, "f8"), (1e300, 1e-300, "f8"), (1e30, 1, "f4")],
)
def test_find_is_invariant_to_extreme_scales(tmp_path, method, image_scale, templ_scale, dtype):
    scene, tpl = _scene(tmp_path, image_scale, templ_scale, dtype)
    heat = tmp_path / "heat.png"
    proc = convtool("find", scene, tpl, "--method", method, "--json", "--heatmap", heat)
    match = _found(proc)
    assert (match["x"], match["y"]) == (30, 10)  # where the template was cut out
    assert match["score"] == pytest.approx(1.0, abs=1e-4)
    assert is_png(heat.read_bytes())


@pytest.mark.parametrize("mask_value", [1e300, 1e-300])
@pytest.mark.parametrize("method", ["zncc", "ncc", "ssd"])
def test_find_with_an_extreme_mask(tmp_path, mask_value, method):
    scene, tpl = _scene(tmp_path, 1, 1)
    mask = tmp_path / "mask.npy"
    np.save(mask, np.full((10, 12), mask_value))
    match = _found(convtool("find", scene, tpl, "--mask", mask, "--method", method, "--json"))
    assert (match["x"], match["y"]) == (30, 10)


@pytest.mark.parametrize(("scale", "dtype"), [(1e300, "f8"), (1e200, "f8"), (1e30, "f4")])
def test_ssd_on_extreme_values_has_no_nan(scale, dtype):
    from convtool.matching import match_template, search

    rng = np.random.default_rng(3)
    scene = (rng.random((40, 50)) * scale).astype(dtype)
    result = search(scene, scene[10:20, 30:42], method="ssd", threshold=float("inf"))
    scores = match_template(scene, scene[10:20, 30:42], method="ssd")
    assert not np.isnan(scores).any() and not np.isnan(result.maps[0][2]).any()
    assert (result.matches[0].x, result.matches[0].y) == (30, 10)


def test_zncc_scores_of_scaled_inputs_equal_the_unscaled_ones():
    """Invariance, checked on the whole map: scaling by powers of ten changes nothing."""
    from convtool.matching import match_template

    rng = np.random.default_rng(4)
    scene = rng.random((30, 40))
    tpl = scene[5:14, 7:20].copy()
    plain = match_template(scene, tpl, method="zncc")
    for a, b in [(1e300, 1.0), (1.0, 1e-300), (1e-300, 1e300)]:
        scaled = match_template(scene * a, tpl * b, method="zncc")
        assert np.allclose(scaled, plain, atol=1e-9)


# --- findings 5 and 9: damaged image files are one Error line, and nothing else on stderr ------


def _corrupt_deflate_tiff(path):
    import io

    buf = io.BytesIO()
    pixels = np.random.default_rng(5).integers(0, 256, (40, 40), dtype=np.uint8)
    Image.fromarray(pixels).save(buf, format="TIFF", compression="tiff_deflate")
    data = bytearray(buf.getvalue())
    for i in range(30):  # damage the compressed strip, keep the header
        data[len(data) // 3 + i] ^= 0x55
    path.write_bytes(bytes(data))
    return path


def test_corrupt_tiff_prints_only_our_error_line(tmp_path):
    bad = _corrupt_deflate_tiff(tmp_path / "bad.tif")
    proc = convtool("filter", bad, "-k", "box:3", "-o", tmp_path / "o.png")
    line = assert_one_error(proc)
    assert str(bad) in line
    assert "ZIPDecode" not in proc.stderr.decode()


def test_stderr_still_works_after_a_corrupt_tiff(tmp_path):
    """The descriptor silenced for libtiff comes back: a later message still reaches stderr."""
    from convtool.images import ImageIOError, decode_image

    bad = _corrupt_deflate_tiff(tmp_path / "bad.tif").read_bytes()
    code = (
        "import sys\n"
        "from convtool.images import decode_image, ImageIOError\n"
        f"try:\n    decode_image({bad!r}, 'bad.tif')\nexcept ImageIOError:\n    pass\n"
        "sys.stderr.write('still here\\n')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=RUN_LIMIT)
    assert proc.stderr == b"still here\n"
    with pytest.raises(ImageIOError):
        decode_image(bad, "bad.tif")


@pytest.mark.parametrize(
    ("kernel", "output"),
    [("box:3", "o.npy"), ("sobel", "o.npy"), ("box:3", "o.png"), ("unsharp:1,1e38", "o.png")],
)
def test_overflowing_compute_prints_no_numpy_warning(tmp_path, kernel, output):
    """float32 overflow (values near its limit) is the result's business, not stderr's."""
    src = tmp_path / "big.npy"
    np.save(src, np.full((8, 8), 3e38, dtype=np.float32))
    args = ["--values", "rescale"] if output.endswith(".png") else []
    proc = convtool("filter", src, "-k", kernel, *args, "-o", tmp_path / output)
    assert (proc.returncode, proc.stderr) == (0, b"")


@pytest.mark.parametrize(
    "header",
    [
        b"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), ",  # unclosed: TokenError
        b"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2)} + ",  # SyntaxError
        b"{'descr': '<f4', 'fortran_order': False, 'shape': (2, -2), }",
        b"{'descr': 'O', 'fortran_order': False, 'shape': (2, 2), }",
        b"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999), }",
        b"[1, 2]",
        b"",
    ],
)
def test_npy_header_damage_is_one_error(tmp_path, header):
    padded = header + b" " * (118 - len(header)) + b"\n"
    data = b"\x93NUMPY\x01\x00" + len(padded).to_bytes(2, "little") + padded + b"\0" * 16
    bad = tmp_path / "bad.npy"
    bad.write_bytes(data)
    line = assert_one_error(convtool("filter", bad, "-k", "box:3", "-o", tmp_path / "o.png"))
    assert line.startswith(f"Error: {bad}: ")
    kernel_line = assert_one_error(
        convtool("filter", png(tmp_path / "in.png"), "-k", bad, "-o", tmp_path / "o.png")
    )
    assert kernel_line.startswith(f"Error: {bad}: ")


@pytest.mark.parametrize(
    "exc",
    [
        __import__("struct").error("unpack requires a buffer of 4 bytes"),
        IndexError("list index out of range"),
        KeyError("tag"),
        TypeError("unsupported operand"),
        ZeroDivisionError("division by zero"),
        OverflowError("int too large"),
        RuntimeError("decoder gave up"),
        RecursionError("maximum recursion depth exceeded"),
        MemoryError(),
        AssertionError("internal check"),
    ],
)
def test_every_exception_from_pillow_becomes_one_named_error(monkeypatch, exc):
    """Whatever Pillow raises on damaged bytes, decoding reports ``NAME: ...`` (ImageIOError)."""
    from PIL import Image as PILImage

    from convtool.images import ImageIOError, decode_image, probe_image

    def broken(*args, **kwargs):
        raise exc

    monkeypatch.setattr(PILImage, "open", broken)
    with pytest.raises(ImageIOError, match=r"^shot\.png: "):
        decode_image(b"\x89PNG\r\n\x1a\n" + b"\0" * 32, "shot.png")
    with pytest.raises(ImageIOError, match=r": "):
        probe_image(__file__)
