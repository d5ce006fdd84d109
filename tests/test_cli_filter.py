"""`convtool filter` through CliRunner and real subprocess pipelines."""

from __future__ import annotations

import errno
import io
import json
import os
import subprocess
import sys
from importlib.metadata import version

import click
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from convtool import cli as cli_module
from convtool.cli import cli

ndi = pytest.importorskip("scipy.ndimage")


@pytest.fixture
def runner():
    return CliRunner()


def rgb_image(h=12, w=16, seed=0):
    r = np.random.default_rng(seed)
    return r.integers(0, 256, (h, w, 3), dtype=np.uint8)


def save(path, array, mode=None, **kw):
    Image.fromarray(array, mode=mode).save(path, **kw)
    return str(path)


def load(path):
    with Image.open(path) as im:
        im.load()
        return im.mode, np.asarray(im)


def write_kernel(tmp_path, rows, name="k.txt"):
    p = tmp_path / name
    p.write_text("\n".join(" ".join(str(v) for v in row) for row in rows) + "\n")
    return str(p)


def run_ok(runner, args, **kw):
    result = runner.invoke(cli, args, catch_exceptions=False, **kw)
    assert result.exit_code == 0, result.output
    return result


def assert_error(result, message):
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert result.stderr.strip() == f"Error: {message}"
    assert "Traceback" not in result.output


# --- happy paths -------------------------------------------------------------------------------


def test_identity_round_trip_rgb(runner, tmp_path):
    src = save(tmp_path / "in.png", rgb_image())
    ident = write_kernel(tmp_path, [[0, 0, 0], [0, 1, 0], [0, 0, 0]])
    run_ok(runner, ["filter", src, "-k", ident, "-o", str(tmp_path / "out.png")])
    mode, out = load(tmp_path / "out.png")
    assert mode == "RGB"
    np.testing.assert_array_equal(out, rgb_image())


def test_box_blur_matches_scipy_rounded(runner, tmp_path):
    img = rgb_image(20, 24)
    src = save(tmp_path / "in.png", img)
    box = write_kernel(tmp_path, [[1, 1, 1]] * 3)
    run_ok(
        runner,
        [
            "filter",
            src,
            "-k",
            box,
            "--normalize",
            "--border",
            "nearest",
            "-o",
            str(tmp_path / "o.png"),
        ],
    )
    _, out = load(tmp_path / "o.png")
    want = np.stack(
        [
            ndi.correlate(img[:, :, c].astype(float), np.ones((3, 3)) / 9, mode="nearest")
            for c in range(3)
        ],
        axis=-1,
    )
    assert np.abs(out.astype(float) - want).max() <= 0.5 + 1e-6


def test_gray_stays_gray(runner, tmp_path):
    img = rgb_image()[:, :, 0]
    src = save(tmp_path / "g.png", img)
    run_ok(
        runner, ["filter", src, "-k", write_kernel(tmp_path, [[1]]), "-o", str(tmp_path / "o.png")]
    )
    mode, out = load(tmp_path / "o.png")
    assert mode == "L"
    np.testing.assert_array_equal(out, img)


def test_sixteen_bit_keeps_its_depth_and_values(runner, tmp_path):
    img = (np.arange(6 * 7).reshape(6, 7) * 1531 % 65536).astype(np.uint16)
    src = save(tmp_path / "g16.png", img)
    run_ok(
        runner, ["filter", src, "-k", write_kernel(tmp_path, [[1]]), "-o", str(tmp_path / "o.png")]
    )
    mode, out = load(tmp_path / "o.png")
    assert mode.startswith("I;16")
    np.testing.assert_array_equal(out, img)


def test_sixteen_bit_rounds_instead_of_truncating(runner, tmp_path):
    img = np.array([[0, 1, 0, 65535]], dtype=np.uint16)
    src = save(tmp_path / "g16.png", img)
    k = write_kernel(tmp_path, [[0.5, 0.5]])  # anchor on the right tap: out[i] = (x[i-1] + x[i])/2
    run_ok(runner, ["filter", src, "-k", k, "--border", "nearest", "-o", str(tmp_path / "o.png")])
    _, out = load(tmp_path / "o.png")
    np.testing.assert_array_equal(out[0], [0, 0, 0, 32768])  # 0.5 rounds to even, 32767.5 to 32768


def test_rgba_alpha_passes_through_untouched_by_default(runner, tmp_path):
    img = np.dstack([rgb_image(), np.arange(12 * 16, dtype=np.uint8).reshape(12, 16)])
    src = save(tmp_path / "a.png", img)
    box = write_kernel(tmp_path, [[1, 1], [1, 1]])
    run_ok(runner, ["filter", src, "-k", box, "--normalize", "-o", str(tmp_path / "o.png")])
    mode, out = load(tmp_path / "o.png")
    assert mode == "RGBA"
    np.testing.assert_array_equal(out[:, :, 3], img[:, :, 3])
    assert not np.array_equal(out[:, :, :3], img[:, :, :3])


def test_alpha_follows_stride_and_valid_geometry(runner, tmp_path):
    alpha = np.arange(10 * 9, dtype=np.uint8).reshape(10, 9)
    img = np.dstack([np.zeros((10, 9, 3), np.uint8), alpha])
    src = save(tmp_path / "a.png", img)
    k = write_kernel(tmp_path, [[1, 1, 1]] * 3)
    run_ok(
        runner,
        [
            "filter",
            src,
            "-k",
            k,
            "--border",
            "valid",
            "--stride",
            "2",
            "-o",
            str(tmp_path / "o.png"),
        ],
    )
    _, out = load(tmp_path / "o.png")
    np.testing.assert_array_equal(out[:, :, 3], alpha[1:-1:2, 1:-1:2])


def test_premultiplied_alpha_has_no_dark_fringe(runner, tmp_path):
    # An opaque red square on fully transparent black: blurring colour without alpha weighting
    # drags black into the edge (the dark fringe); premultiplying keeps edge pixels pure red.
    img = np.zeros((9, 9, 4), np.uint8)
    img[3:6, 3:6] = (255, 0, 0, 255)
    src = save(tmp_path / "cut.png", img)
    box = write_kernel(tmp_path, [[1, 1, 1]] * 3)
    run_ok(
        runner,
        [
            "filter",
            src,
            "-k",
            box,
            "--normalize",
            "--alpha",
            "premultiply",
            "-o",
            str(tmp_path / "p.png"),
        ],
    )
    run_ok(
        runner,
        [
            "filter",
            src,
            "-k",
            box,
            "--normalize",
            "--alpha",
            "filter",
            "-o",
            str(tmp_path / "f.png"),
        ],
    )
    _, pre = load(tmp_path / "p.png")
    _, naive = load(tmp_path / "f.png")
    edge = pre[:, :, 3] > 0
    assert edge.sum() > 9  # the blur spread alpha beyond the square
    assert (pre[edge][:, 0] == 255).all() and (pre[edge][:, 1:3] == 0).all()
    assert naive[2, 2, 0] < 255  # the fringe the premultiplied path avoids
    np.testing.assert_array_equal(pre[:, :, 3], naive[:, :, 3])


def test_alpha_drop(runner, tmp_path):
    img = np.dstack([rgb_image(), np.full((12, 16), 7, np.uint8)])
    src = save(tmp_path / "a.png", img)
    run_ok(
        runner,
        [
            "filter",
            src,
            "-k",
            write_kernel(tmp_path, [[1]]),
            "--alpha",
            "drop",
            "-o",
            str(tmp_path / "o.png"),
        ],
    )
    mode, out = load(tmp_path / "o.png")
    assert mode == "RGB"
    np.testing.assert_array_equal(out, img[:, :, :3])


def test_palette_image_becomes_rgb(runner, tmp_path):
    pal = Image.fromarray(rgb_image()).convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
    pal.save(tmp_path / "p.png")
    expected = np.asarray(pal.convert("RGB"))
    run_ok(
        runner,
        [
            "filter",
            str(tmp_path / "p.png"),
            "-k",
            write_kernel(tmp_path, [[1]]),
            "-o",
            str(tmp_path / "o.png"),
        ],
    )
    mode, out = load(tmp_path / "o.png")
    assert mode == "RGB"
    np.testing.assert_array_equal(out, expected)


def test_npy_floats_are_untouched(runner, tmp_path):
    arr = np.array([[-3.5, 0.25, 7.0], [1e-3, 2.0, -1.0]], dtype=np.float32)
    np.save(tmp_path / "a.npy", arr)
    k = write_kernel(tmp_path, [[2]])
    run_ok(runner, ["filter", str(tmp_path / "a.npy"), "-k", k, "-o", str(tmp_path / "o.npy")])
    out = np.load(tmp_path / "o.npy")
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, 2 * arr)


def test_float64_npy_stays_float64(runner, tmp_path):
    arr = np.linspace(-1, 1, 12).reshape(3, 4)
    np.save(tmp_path / "a.npy", arr)
    run_ok(
        runner,
        [
            "filter",
            str(tmp_path / "a.npy"),
            "-k",
            write_kernel(tmp_path, [[1]]),
            "-o",
            str(tmp_path / "o.npy"),
        ],
    )
    out = np.load(tmp_path / "o.npy")
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, arr)


def test_float_tiff_stays_float(runner, tmp_path):
    arr = np.array([[-2.0, 0.5], [3.25, 100.0]], dtype=np.float32)
    Image.fromarray(arr, mode="F").save(tmp_path / "f.tif")
    run_ok(
        runner,
        [
            "filter",
            str(tmp_path / "f.tif"),
            "-k",
            write_kernel(tmp_path, [[1]]),
            "-o",
            str(tmp_path / "o.tif"),
        ],
    )
    mode, out = load(tmp_path / "o.tif")
    assert mode == "F"
    np.testing.assert_array_equal(out, arr)


@pytest.mark.parametrize(
    ("mapping", "expected"),
    [
        # x = [1, 0, 128/255, 1]; [-1, 0, 1] with nearest border gives x[i+1] - x[i-1]
        # = [-1, -127/255, 1, 127/255] (by hand).
        ("clip", [0, 0, 255, 127]),
        ("abs", [255, 127, 255, 127]),
        ("rescale", [0, 64, 255, 191]),  # (v + 1) / 2 * 255
    ],
)
def test_value_mappings(runner, tmp_path, mapping, expected):
    src = save(tmp_path / "in.png", np.array([[255, 0, 128, 255]], np.uint8))
    k = write_kernel(tmp_path, [[-1, 0, 1]])
    out_path = str(tmp_path / "o.png")
    run_ok(
        runner, ["filter", src, "-k", k, "--border", "nearest", "--values", mapping, "-o", out_path]
    )
    np.testing.assert_array_equal(load(out_path)[1][0], expected)


def test_bias_shows_negative_responses_around_mid_grey(runner, tmp_path):
    img = np.array([[0, 255, 0]], np.uint8)
    src = save(tmp_path / "in.png", img)
    k = write_kernel(tmp_path, [[-1, 0, 1]])
    run_ok(
        runner,
        [
            "filter",
            src,
            "-k",
            k,
            "--border",
            "nearest",
            "--scale",
            "0.5",
            "--bias",
            "0.5",
            "-o",
            str(tmp_path / "o.png"),
        ],
    )
    _, out = load(tmp_path / "o.png")
    # x = [0, 1, 0]; responses x[i+1] - x[i-1] = [1, 0, -1]; * 0.5 + 0.5 = [1, .5, 0]
    np.testing.assert_array_equal(out[0], [255, 128, 0])


def test_convolve_flag_flips_the_kernel(runner, tmp_path):
    img = np.zeros((1, 5), np.uint8)
    img[0, 2] = 200
    src = save(tmp_path / "in.png", img)
    k = write_kernel(tmp_path, [[0.25, 0.5, 0]])
    run_ok(runner, ["filter", src, "-k", k, "-o", str(tmp_path / "corr.png")])
    run_ok(runner, ["filter", src, "-k", k, "--convolve", "-o", str(tmp_path / "conv.png")])
    _, corr = load(tmp_path / "corr.png")
    _, conv = load(tmp_path / "conv.png")
    np.testing.assert_array_equal(corr[0], [0, 0, 100, 50, 0])  # impulse response = flipped kernel
    np.testing.assert_array_equal(conv[0], [0, 50, 100, 0, 0])  # = the kernel itself


def test_chain_applies_kernels_in_order(runner, tmp_path):
    img = rgb_image(10, 10)
    src = save(tmp_path / "in.png", img)
    a = write_kernel(tmp_path, [[1, 2]], "a.txt")
    b = write_kernel(tmp_path, [[1], [-1]], "b.txt")
    run_ok(
        runner,
        [
            "filter",
            src,
            "-k",
            a,
            "-k",
            b,
            "--border",
            "wrap",
            "--scale",
            "0.1",
            "--bias",
            "0.5",
            "-o",
            str(tmp_path / "o.png"),
        ],
    )
    _, out = load(tmp_path / "o.png")
    x = img.astype(float) / 255
    step = np.stack([ndi.correlate(x[:, :, c], [[1, 2]], mode="wrap") for c in range(3)], -1)
    step = np.stack([ndi.correlate(step[:, :, c], [[1], [-1]], mode="wrap") for c in range(3)], -1)
    want = np.rint(np.clip(step * 0.1 + 0.5, 0, 1) * 255)
    assert np.abs(out - want).max() <= 1


def test_stride_and_dilation_change_the_size(runner, tmp_path):
    src = save(tmp_path / "in.png", rgb_image(12, 16))
    k = write_kernel(tmp_path, [[1, 1, 1]] * 3)
    run_ok(
        runner,
        ["filter", src, "-k", k, "--normalize", "--stride", "2", "-o", str(tmp_path / "s.png")],
    )
    assert load(tmp_path / "s.png")[1].shape == (6, 8, 3)
    run_ok(
        runner,
        [
            "filter",
            src,
            "-k",
            k,
            "--border",
            "valid",
            "--dilation",
            "2",
            "-o",
            str(tmp_path / "d.png"),
        ],
    )
    assert load(tmp_path / "d.png")[1].shape == (8, 12, 3)


def test_4d_json_kernel_mixes_channels(runner, tmp_path):
    img = rgb_image(6, 7)
    src = save(tmp_path / "in.png", img)
    weights = [[[[0.5], [0.25], [0.25]]]]  # (1, 1, 3, 1): a weighted grayscale
    (tmp_path / "g.json").write_text(json.dumps({"weights": weights}))
    run_ok(runner, ["filter", src, "-k", str(tmp_path / "g.json"), "-o", str(tmp_path / "o.png")])
    mode, out = load(tmp_path / "o.png")
    assert mode == "L"
    want = np.rint(img @ np.array([0.5, 0.25, 0.25]))
    assert np.abs(out - want).max() <= 1


# --- streams ---------------------------------------------------------------------------------


def png_bytes(array):
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def test_stdin_to_stdout_defaults_to_the_input_format(runner, tmp_path):
    buf = io.BytesIO()
    Image.fromarray(rgb_image()).save(buf, format="JPEG")
    res = run_ok(
        runner,
        ["filter", "-", "-k", write_kernel(tmp_path, [[1]]), "-o", "-"],
        input=buf.getvalue(),
    )
    assert res.stdout_bytes[:3] == b"\xff\xd8\xff"


def test_stdout_format_option(runner, tmp_path):
    res = run_ok(
        runner,
        ["filter", "-", "-k", write_kernel(tmp_path, [[1]]), "-o", "-", "--format", "npy"],
        input=png_bytes(rgb_image()),
    )
    arr = np.load(io.BytesIO(res.stdout_bytes))
    np.testing.assert_array_equal(arr, rgb_image())


def test_npy_on_stdin_is_sniffed(runner, tmp_path):
    buf = io.BytesIO()
    np.save(buf, np.full((3, 3), 0.5, np.float32))
    res = run_ok(
        runner,
        ["filter", "-", "-k", write_kernel(tmp_path, [[1]]), "-o", "-"],
        input=buf.getvalue(),
    )
    np.testing.assert_array_equal(np.load(io.BytesIO(res.stdout_bytes)), np.full((3, 3), 0.5))


def test_binary_output_to_a_terminal_is_refused(runner, tmp_path, monkeypatch):
    monkeypatch.setattr(cli_module, "stdout_is_terminal", lambda: True)
    src = save(tmp_path / "in.png", rgb_image())
    res = runner.invoke(cli, ["filter", src, "-k", write_kernel(tmp_path, [[1]]), "-o", "-"])
    assert_error(
        res, "refusing to write binary image data to a terminal; redirect stdout or use -o FILE"
    )


def convtool_cmd():
    return f'"{sys.executable}" -m convtool'


def test_subprocess_pipeline(tmp_path):
    img = rgb_image(30, 40)
    src = save(tmp_path / "in.png", img)
    k = write_kernel(tmp_path, [[1, 1, 1]] * 3)
    out = tmp_path / "out.png"
    cmd = (
        f"set -o pipefail; cat '{src}' | {convtool_cmd()} filter - -k '{k}' --normalize -o - "
        f"| {convtool_cmd()} filter - -k '{k}' --normalize -o '{out}'"
    )
    proc = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    x = img.astype(float)
    once = np.stack(
        [ndi.correlate(x[:, :, c], np.ones((3, 3)) / 9, mode="reflect") for c in range(3)], -1
    )
    once = np.rint(once)
    twice = np.stack(
        [ndi.correlate(once[:, :, c], np.ones((3, 3)) / 9, mode="reflect") for c in range(3)], -1
    )
    assert np.abs(load(out)[1] - np.rint(twice)).max() <= 1


def test_closed_pipe_ends_quietly(tmp_path):
    np.save(
        tmp_path / "big.npy", np.zeros((1000, 1000), np.float32)
    )  # 4 MB: more than a pipe holds
    k = write_kernel(tmp_path, [[1]])
    cmd = f"{convtool_cmd()} filter '{tmp_path / 'big.npy'}' -k '{k}' -o - | head -c 10 > /dev/null"
    proc = subprocess.run(
        ["bash", "-c", cmd + "; exit ${PIPESTATUS[0]}"], capture_output=True, text=True, timeout=120
    )
    assert proc.stderr == ""
    assert proc.returncode == 1  # the Python docs' recipe: quiet, but not a success


def test_python_dash_m_and_version():
    proc = subprocess.run(
        [sys.executable, "-m", "convtool", "--version"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"convtool {version('convtool')}"


# --- bad input: exact error, exit 2, nothing written ------------------------------------------


@pytest.fixture
def existing_output(tmp_path):
    p = tmp_path / "out.png"
    p.write_bytes(b"precious")
    return p


def assert_untouched(existing_output):
    assert existing_output.read_bytes() == b"precious"
    leftovers = [p.name for p in existing_output.parent.iterdir() if p.name.startswith(".out.png")]
    assert leftovers == []


def run_bad(runner, tmp_path, existing_output, src, *extra, kernel=None):
    k = kernel or write_kernel(tmp_path, [[1]])
    return runner.invoke(cli, ["filter", src, "-k", k, *extra, "-o", str(existing_output)])


def test_missing_input(runner, tmp_path, existing_output):
    res = run_bad(runner, tmp_path, existing_output, str(tmp_path / "nope.png"))
    assert_error(res, f"{tmp_path / 'nope.png'}: no such file")
    assert_untouched(existing_output)


def test_unreadable_input(runner, tmp_path, existing_output, monkeypatch):
    src = save(tmp_path / "in.png", rgb_image())

    def deny(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    # The filter opens its input itself (to map .npy files and stream Pillow's decoding).
    monkeypatch.setattr("convtool.images.pixels.open", deny, raising=False)
    res = run_bad(runner, tmp_path, existing_output, src, kernel="identity")
    assert_error(res, f"{src}: cannot read (Permission denied)")
    monkeypatch.undo()
    assert_untouched(existing_output)


def test_directory_as_input(runner, tmp_path, existing_output):
    res = run_bad(runner, tmp_path, existing_output, str(tmp_path))
    assert_error(res, f"{tmp_path}: is a directory, not an image")


def test_truncated_png(runner, tmp_path, existing_output):
    data = png_bytes(rgb_image(64, 64))
    (tmp_path / "t.png").write_bytes(data[: len(data) // 2])
    res = run_bad(runner, tmp_path, existing_output, str(tmp_path / "t.png"))
    assert res.exit_code == 2
    assert res.stderr.startswith(f"Error: {tmp_path / 't.png'}: truncated or corrupt image (")
    assert res.stderr.count("\n") == 1
    assert_untouched(existing_output)


def test_non_image_bytes(runner, tmp_path, existing_output):
    (tmp_path / "x.png").write_text("hello, I am not a picture")
    res = run_bad(runner, tmp_path, existing_output, str(tmp_path / "x.png"))
    assert_error(res, f"{tmp_path / 'x.png'}: not an image Pillow can read")
    assert_untouched(existing_output)


def test_empty_stdin(runner, tmp_path, existing_output):
    res = runner.invoke(
        cli,
        ["filter", "-", "-k", write_kernel(tmp_path, [[1]]), "-o", str(existing_output)],
        input=b"",
    )
    assert_error(res, "<stdin>: empty input (0 bytes)")
    assert_untouched(existing_output)


def test_pickled_npy_is_refused(runner, tmp_path, existing_output):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    res = run_bad(runner, tmp_path, existing_output, str(tmp_path / "obj.npy"))
    assert_error(res, f"{tmp_path / 'obj.npy'}: .npy holds Python objects; refusing to unpickle")


def test_kernel_larger_than_image_with_valid(runner, tmp_path, existing_output):
    src = save(tmp_path / "in.png", rgb_image(4, 4))
    k = write_kernel(tmp_path, [[1] * 5] * 5)
    res = run_bad(runner, tmp_path, existing_output, src, "--border", "valid", kernel=k)
    assert_error(
        res, "kernel (5x5, dilation 1x1) is larger than the image (4x4) with border 'valid'"
    )
    assert_untouched(existing_output)


def test_output_directory_missing(runner, tmp_path):
    src = save(tmp_path / "in.png", rgb_image())
    target = tmp_path / "no" / "such" / "o.png"
    res = runner.invoke(
        cli, ["filter", src, "-k", write_kernel(tmp_path, [[1]]), "-o", str(target)]
    )
    assert_error(res, f"{target}: output directory {str(target.parent)!r} does not exist")
    assert not target.parent.exists()


def test_unknown_output_extension(runner, tmp_path):
    src = save(tmp_path / "in.png", rgb_image())
    res = runner.invoke(
        cli, ["filter", src, "-k", write_kernel(tmp_path, [[1]]), "-o", str(tmp_path / "o.xyz")]
    )
    assert res.exit_code == 2
    assert res.stderr.startswith(
        f"Error: {tmp_path / 'o.xyz'}: cannot tell the output format from the extension '.xyz'"
    )
    assert not (tmp_path / "o.xyz").exists()


def test_jpeg_cannot_hold_alpha(runner, tmp_path):
    src = save(tmp_path / "a.png", np.dstack([rgb_image(), np.full((12, 16), 9, np.uint8)]))
    res = runner.invoke(
        cli, ["filter", src, "-k", write_kernel(tmp_path, [[1]]), "-o", str(tmp_path / "o.jpg")]
    )
    assert_error(
        res, "JPEG cannot store an alpha channel; write PNG, WebP or TIFF, or use --alpha drop"
    )
    assert not (tmp_path / "o.jpg").exists()


def test_full_disk_leaves_nothing_behind(runner, tmp_path, existing_output, monkeypatch):
    src = save(tmp_path / "in.png", rgb_image())

    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("convtool.images.write.os.fsync", no_space)
    res = run_bad(runner, tmp_path, existing_output, src)
    assert_error(res, f"{existing_output}: cannot write (No space left on device)")
    assert_untouched(existing_output)


def test_input_is_never_modified_even_when_it_is_the_output(runner, tmp_path):
    img = rgb_image()
    src = save(tmp_path / "same.png", img)
    before = (tmp_path / "same.png").read_bytes()
    res = runner.invoke(cli, ["filter", src, "-k", str(tmp_path / "missing.txt"), "-o", src])
    assert res.exit_code == 2
    assert (tmp_path / "same.png").read_bytes() == before


# --- help ------------------------------------------------------------------------------------


def all_commands():
    return sorted(cli.commands.items())


def test_every_command_has_help_and_an_example(runner):
    assert all_commands(), "no commands registered"
    for name, command in all_commands():
        res = runner.invoke(cli, [name, "-h"])
        assert res.exit_code == 0, name
        assert "Example" in (command.help or ""), f"{name} has no Example: in its docstring"
        for param in command.params:
            if isinstance(param, click.Option) and param.name not in ("help",):
                assert param.help, f"{name} {param.opts} has no help="


def test_group_help_and_version(runner):
    assert runner.invoke(cli, ["--help"]).exit_code == 0
    res = runner.invoke(cli, ["--version"])
    assert res.output.strip() == f"convtool {version('convtool')}"


def test_channel_mixer_on_a_gray_image(runner, tmp_path):
    src = save(tmp_path / "g.png", rgb_image()[:, :, 0])
    res = runner.invoke(cli, ["filter", src, "-k", "sepia", "-o", str(tmp_path / "o.png")])
    assert_error(
        res,
        "sepia mixes 3 input channels, but the image has 1 here (--alpha decides whether alpha "
        "counts)",
    )
    assert not (tmp_path / "o.png").exists()


def test_channel_mixer_on_rgba_keeps_alpha(runner, tmp_path):
    img = np.dstack([rgb_image(), np.full((12, 16), 77, np.uint8)])
    src = save(tmp_path / "a.png", img)
    run_ok(runner, ["filter", src, "-k", "grayscale", "-o", str(tmp_path / "o.png")])
    mode, out = load(tmp_path / "o.png")
    assert mode == "LA"
    np.testing.assert_array_equal(out[:, :, 1], 77)
    luma = img[:, :, :3] @ np.array([0.299, 0.587, 0.114])  # Rec. 601, by definition
    assert np.abs(out[:, :, 0] - luma).max() <= 0.5 + 1e-6


@pytest.mark.parametrize("alpha_mode", ["keep", "premultiply"])
def test_bias_applies_to_colour_not_alpha(runner, tmp_path, alpha_mode):
    img = np.zeros((4, 5, 4), np.uint8)
    img[..., 3] = 255
    img[0, 0, 3] = 51  # 0.2
    src = save(tmp_path / "a.png", img)
    out = str(tmp_path / "o.png")
    run_ok(
        runner, ["filter", src, "-k", "identity", "--bias", "0.5", "--alpha", alpha_mode, "-o", out]
    )
    _, res = load(out)
    np.testing.assert_array_equal(res[..., 3], img[..., 3])
    np.testing.assert_array_equal(res[1:, 1:, :3], 128)  # 0 + 0.5 -> 127.5 -> 128 (half to even)


@pytest.mark.parametrize("option", ["--bias", "--scale", "--cval"])
@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_non_finite_numbers_are_refused(runner, tmp_path, option, value):
    src = save(tmp_path / "in.png", rgb_image())
    res = runner.invoke(
        cli, ["filter", src, "-k", "identity", option, value, "-o", str(tmp_path / "o.png")]
    )
    assert res.exit_code == 2
    assert res.stderr.splitlines()[-1] == (
        f"Error: Invalid value for '{option}': '{value}' is not a finite number"
    )
    assert not (tmp_path / "o.png").exists()


def test_filter_output_is_upright_for_an_exif_rotated_input(runner, tmp_path):
    # Outputs carry no EXIF: the pixels are turned on reading, as viewers show the input.
    arr = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    img = Image.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = 6  # shown turned 90 degrees clockwise
    src, dst = tmp_path / "phone.png", tmp_path / "out.png"
    img.save(src, exif=exif)
    result = runner.invoke(cli, ["filter", str(src), "-k", "identity", "-o", str(dst)])
    assert result.exit_code == 0, result.output
    out = Image.open(dst)
    assert 0x0112 not in out.getexif()
    np.testing.assert_array_equal(np.asarray(out), np.rot90(arr, -1))
