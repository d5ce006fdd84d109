"""Hostile input, third round (issues 28 and 30): one line always, weights within float32,
fit on extreme data, options within float32, closed pipes.

Each test is one finding: what printed a traceback, a foreign log line or looped for ever now
ends with one ``Error:`` line (exit 2), or with the right answer.
"""

from __future__ import annotations

import json
import math
import struct
import subprocess
import sys
import time

import numpy as np
import pytest
from _hostile import RUN_LIMIT, assert_one_error, convtool, finish, png
from PIL import Image

from convtool.engine import EngineError, convolve, correlate
from convtool.engine.rank import _rank_factors
from convtool.fit import FitError, fit_kernel

# --- 28.2: batch output templates with unbalanced or unknown braces ----------------------------


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{stem", "bad output template '{t}' (expected '}}' before end of string)"),
        ("}", "bad output template '{t}' (Single '}}' encountered in format string)"),
        ("{stem}}.png", "bad output template '{t}' (Single '}}' encountered in format string)"),
        ("{stem.x}.png", "bad output template '{t}' ('str' object has no attribute 'x')"),
        ("{0}.png", "bad output template '{t}' (Replacement index 0 out of range for "
         "positional args tuple)"),
        ("{bogus}.png", "unknown field {{bogus}} in output template '{t}' (fields: stem, name, "
         "ext, parent, rel, reldir, index)"),
    ],
)  # fmt: skip
def test_bad_output_template_is_one_error(tmp_path, template, message):
    a, b = png(tmp_path / "a.png"), png(tmp_path / "b.png", seed=1)
    spec = str(tmp_path / "out" / template)
    line = assert_one_error(convtool("filter", a, b, "-k", "box:3", "-o", spec))
    assert line == "Error: " + message.format(t=spec)
    assert not (tmp_path / "out").exists()


# --- 28.2: params at the largest accepted sizes ------------------------------------------------


@pytest.mark.parametrize(
    "kernel", [["-k", "3", "--out-channels"], ["-k", "1", "--out-channels"], ["-k", "5x3"]]
)
def test_params_at_max_dim_reports_exact_ratios(kernel):
    """2^31 - 1 is the documented bound of every size: at it, the report comes out (the ratio
    has more digits than decimal's default context, which raised InvalidOperation)."""
    n = 2**31 - 1
    size = f"{n}x{n}x{n}"
    kernel = [*kernel, n] if kernel[-1] == "--out-channels" else kernel
    proc = convtool("params", "--input", size, *kernel, "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    conv = next(layer for layer in doc["layers"] if layer["name"] == "convolution")
    for layer in doc["layers"]:
        # Independent oracle: the exact fraction (JSON carries it as a number).
        want = layer["params"] / conv["params"]
        assert math.isclose(layer["ratio_to_convolution"], want, rel_tol=1e-12)


def test_params_ratio_digits_are_exact():
    from convtool.params.numbers import exact_ratio

    num, den = 98079714341385330254404631374641805198172362531565207552, 41505174129339269128
    exact = (num * 10**4 * 2 + den) // (2 * den)  # rounded half up, in integers
    want = f"{exact // 10**4}.{exact % 10**4:04d}".rstrip("0")
    assert str(exact_ratio(num, den)) == want == "2363071987982686843617952689546478544.399"


# --- 28.2: third-party log lines stay off stderr -----------------------------------------------


def _tiff_with_samples_per_pixel(path, samples):
    """A valid 8x8 grey TIFF whose IFD gets SamplesPerPixel = ``samples`` (Pillow logs
    ``More samples per pixel than can be decoded`` before it refuses such a file)."""
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(path)
    data = bytearray(path.read_bytes())
    (ifd,) = struct.unpack("<I", data[4:8])
    (count,) = struct.unpack("<H", data[ifd : ifd + 2])
    entries = [bytes(data[ifd + 2 + 12 * i : ifd + 14 + 12 * i]) for i in range(count)]
    entries = [e for e in entries if struct.unpack("<H", e[:2])[0] != 284]
    entries.append(struct.pack("<HHII", 277, 4, 1, samples))
    entries.sort(key=lambda e: struct.unpack("<H", e[:2])[0])
    data[ifd + 2 : ifd + 2 + 12 * count] = b"".join(entries)
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_broken_tiff_in_a_batch_prints_only_our_lines(tmp_path, jobs):
    folder = tmp_path / "in"
    folder.mkdir()
    _tiff_with_samples_per_pixel(folder / "bad.tif", 32515)
    png(folder / "good.png")
    proc = convtool("filter", folder, "-k", "box:3", "-o", tmp_path / "out", "-j", jobs)
    assert proc.returncode == 2
    assert proc.stderr.decode().splitlines() == [
        f"Error: {folder / 'bad.tif'}: not an image Pillow can read",
        "processed 1 of 2 files, 1 failed",
    ]


# --- 28.2: an input that open() refuses (chmod 000 as an ordinary user) ------------------------

_REFUSING_DRIVER = """
import builtins, errno, io, os, sys
bad = os.path.abspath(sys.argv.pop(1))
real_open, real_os_open = builtins.open, os.open
def refuse(path):
    try:
        return os.path.abspath(os.fspath(path)) == bad
    except TypeError:
        return False
def fake_open(path, *args, **kwargs):
    if refuse(path):
        raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
    return real_open(path, *args, **kwargs)
def fake_os_open(path, *args, **kwargs):
    if refuse(path):
        raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
    return real_os_open(path, *args, **kwargs)
builtins.open = io.open = fake_open
os.open = fake_os_open
from convtool.cli import main
sys.argv = ["convtool", *sys.argv[1:]]
main()
"""


@pytest.mark.parametrize(
    "args",
    [
        ["filter", "{bad}", "-k", "box:3", "-o", "{out}"],
        ["filter", "{good}", "-k", "{bad}", "-o", "{out}"],
        ["find", "{bad}", "{good}"],
        ["find", "{good}", "{bad}"],
        ["show", "{bad}"],
        ["fit", "{bad}", "{good}", "--size", "3", "--json"],
    ],
)
def test_unreadable_input_is_one_error_line(tmp_path, args):
    """Tests run as root, who reads anything: open() itself refuses the file here."""
    bad, good = png(tmp_path / "bad.png"), png(tmp_path / "good.png", seed=1)
    args = [a.format(bad=bad, good=good, out=tmp_path / "o.png") for a in args]
    proc = subprocess.run(
        [sys.executable, "-c", _REFUSING_DRIVER, bad, *args],
        capture_output=True,
        timeout=RUN_LIMIT,
    )
    line = assert_one_error(proc)
    assert line == f"Error: {bad}: cannot read (Permission denied)"
    assert len(proc.stderr.decode().splitlines()) == 1
    assert not (tmp_path / "o.png").exists()


# --- 30.1: weights beyond float32 refused everywhere, the rank loop bounded --------------------


@pytest.mark.parametrize("fn", [correlate, convolve])
def test_library_refuses_weights_beyond_float32_naming_the_tap(fn):
    image = np.random.default_rng(0).random((20, 20), dtype=np.float32)
    kernel = np.ones((3, 3))
    kernel[1, 2] = 1e50
    started = time.perf_counter()
    with pytest.raises(EngineError) as exc:
        fn(image, kernel)
    assert str(exc.value) == "kernel weight 1e+50 at (1, 2) exceeds float32 (max 3.4e+38)"
    assert time.perf_counter() - started < 5  # it looped for ever
    with pytest.raises(EngineError, match=r"^bias 1e\+39 exceeds float32"):
        fn(image, np.ones((3, 3)), bias=1e39)
    with pytest.raises(EngineError, match=r"^cval -1e\+40 exceeds float32"):
        fn(image, np.ones((3, 3)), border="constant", cval=-1e40)


def test_float64_images_keep_float64_weights():
    image = np.random.default_rng(0).random((12, 12))
    out = correlate(image, np.full((3, 3), 1e50))
    # Oracle: the box sum by hand, times 1e50.
    pad = np.pad(image, 1, mode="symmetric")
    want = sum(pad[i : i + 12, j : j + 12] for i in range(3) for j in range(3)) * 1e50
    np.testing.assert_allclose(out, want, rtol=1e-12)


@pytest.mark.parametrize("bad", [np.inf, np.nan, 1e300])
@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")  # 1e300
def test_rank_factorization_ends_on_any_values(bad):
    kernel = np.random.default_rng(0).random((5, 5, 1))
    kernel[2, 3, 0] = bad
    col, row = _rank_factors(kernel, np.float32)
    assert col.shape[0] <= 5 and row.shape[0] <= 5


# --- 30.1: fit on extreme data -----------------------------------------------------------------


def _pair(shape=(40, 50), seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random(shape)
    k = rng.standard_normal((3, 3))
    return x, correlate(x, k, bias=0.25), k


@pytest.mark.parametrize(("sx", "sy"), [(-900, -890), (150, 100), (-100, 0), (0, 100)])
def test_fit_is_exactly_scale_equivariant(sx, sy):
    """Scaled input and target (by powers of two, here up to 1e+-300) give the same kernel,
    scaled: 2^(sy - sx) for the weights, 2^sy for the bias and the RMSE; R^2 is unchanged."""
    x, y, _ = _pair()
    ridge = 1e-4 if sx > -500 else 0.0  # the ridge scales by 4^sx: 1e-4 * 2^-1800 is 0
    ref = fit_kernel(x, y, 3, bias=True, border="constant", cval=0.5, ridge=ridge)
    got = fit_kernel(
        np.ldexp(x, sx), np.ldexp(y, sy), 3, bias=True, border="constant",
        cval=math.ldexp(0.5, sx), ridge=math.ldexp(ridge, 2 * sx),
    )  # fmt: skip
    np.testing.assert_array_equal(got.weights, np.ldexp(ref.weights, sy - sx))
    np.testing.assert_array_equal(got.bias, np.ldexp(ref.bias, sy))
    assert got.r2 == ref.r2
    assert math.isclose(got.rmse, math.ldexp(ref.rmse, sy), rel_tol=1e-12)


def test_fit_recovers_the_kernel_on_1e300_data():
    x, _, k = _pair()
    y = correlate(x * 1e300, k)
    fit = fit_kernel(x * 1e300, y, 3)
    np.testing.assert_allclose(fit.weights, k, atol=1e-9)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"target_scale": 1e50}, "the fitted kernel weight"),
        ({"target_shift": 1e39, "bias": True}, "the fitted bias"),
        ({"ridge": 1e308}, "ridge 1e+308 is too large for this input"),
    ],
)
def test_fit_beyond_float32_is_one_fit_error(kwargs, message):
    x, y, _ = _pair()
    scale, shift = kwargs.pop("target_scale", 1.0), kwargs.pop("target_shift", 0.0)
    with pytest.raises(FitError) as exc:
        fit_kernel(x, y * scale + shift, 3, **kwargs)
    assert str(exc.value).startswith(message)
    if "ridge" not in kwargs:
        assert "exceeds float32 (max 3.4e+38), the largest a kernel file holds" in str(exc.value)


def test_fit_with_target_1e50_ends_within_10_s(tmp_path):
    """The finding: fit f.npy T.npy --size 3 with T x1e50 looped for ever (13 GB at 300 s)."""
    x, y, _ = _pair((64, 64))
    np.save(tmp_path / "f.npy", x.astype(np.float32))
    np.save(tmp_path / "t.npy", y * 1e50)
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "convtool", "fit", tmp_path / "f.npy", tmp_path / "t.npy",
         "--size", "3", "-o", tmp_path / "k.json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    out, err = finish(proc, timeout=10)
    assert time.monotonic() - started < 10
    line = assert_one_error(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    assert line.startswith("Error: the fitted kernel weight ")
    assert not (tmp_path / "k.json").exists()


@pytest.mark.parametrize(
    "extra",
    [
        ["--border", "constant", "--cval", "1e30"],
        ["--channels", "depthwise"],
        ["--channels", "depthwise", "--bias"],
        ["--ridge", "1e308"],
    ],
)
def test_fit_cli_on_extreme_data_is_a_kernel_or_one_line(tmp_path, extra):
    """x1e38 data (the cval case raised 'math domain error'), x1e300 (LinAlgError), a ridge of
    1e308 (LinAlgError): a kernel that filter -k reads back, or one Error line."""
    x, _, k = _pair((32, 40))
    scale = 1e38 if "--cval" in extra else 1.0 if "--ridge" in extra else 1e300
    np.save(tmp_path / "x.npy", x * scale)
    cval = float(extra[extra.index("--cval") + 1]) if "--cval" in extra else 0.0
    border = "constant" if "--cval" in extra else "reflect"
    np.save(tmp_path / "y.npy", correlate(x * scale, k, border=border, cval=cval))
    kernel = tmp_path / "k.json"
    proc = convtool("fit", tmp_path / "x.npy", tmp_path / "y.npy", "--size", "3", "-o", kernel,
                    *extra)  # fmt: skip
    if "--ridge" in extra or "--bias" in extra:
        # No usable answer: the penalty overflows; a bias of 1e300 units (rounding noise on
        # 1e300 data) does not fit a kernel file.
        line = assert_one_error(proc)
        assert line.startswith(("Error: ridge 1e+308 is too large", "Error: the fitted bias"))
        return
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(kernel.read_text())
    np.testing.assert_allclose(np.asarray(doc["weights"]).reshape(3, 3), k, atol=1e-6)
    again = convtool("filter", tmp_path / "x.npy", "-k", kernel, "-o", tmp_path / "o.npy")
    assert again.returncode == 0, again.stderr


def test_fit_mixing_bias_never_writes_a_kernel_filter_refuses(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.random((30, 40, 3))
    y = correlate(x, rng.standard_normal((3, 3, 3, 2)), bias=[1e39, 2.0])
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    proc = convtool("fit", tmp_path / "x.npy", tmp_path / "y.npy", "--size", "3",
                    "--channels", "mixing", "--bias", "-o", tmp_path / "k.json")  # fmt: skip
    line = assert_one_error(proc)
    assert line.startswith("Error: the fitted bias 1e+39 at (0,) exceeds float32")
    assert not (tmp_path / "k.json").exists()


# --- 30.2: --scale, --bias and --cval within float32 -------------------------------------------


@pytest.mark.parametrize(
    ("command", "option", "value"),
    [
        ("filter", "--scale", "1e39"),
        ("filter", "--bias", "-1e39"),
        ("filter", "--cval", "3.5e38"),
        ("fit", "--cval", "1e39"),
    ],
)
def test_options_beyond_float32_are_named(tmp_path, command, option, value):
    src = png(tmp_path / "in.png")
    args = [src, "-k", "box:3", "-o", tmp_path / "o.npy"]
    if command == "fit":
        args = [src, src, "--size", "3", "--json"]
    line = assert_one_error(convtool(command, *args, option, value))
    assert line == (
        f"Error: Invalid value for '{option}': '{value}' is beyond float32's range "
        "(at most 3.4e38 in size)"
    )
    assert not (tmp_path / "o.npy").exists()


def test_scale_at_the_float32_edge_is_accepted(tmp_path):
    src = png(tmp_path / "in.png")
    proc = convtool("filter", src, "-k", "box:3", "--scale", "1e38", "-o", tmp_path / "o.npy")
    assert proc.returncode == 0, proc.stderr
    assert np.isfinite(np.load(tmp_path / "o.npy")).all()


# --- 28.6: commands writing to stdout exit 1 quietly when the reader has gone ------------------


@pytest.mark.parametrize(
    "args",
    [
        ["fit", "{x}", "{x}", "--size", "3", "-o", "-"],
        ["fit", "{x}", "{x}", "--size", "3", "--json"],
        ["show", "{src}"],
        ["filter", "{src}", "-k", "box:3", "-o", "-"],
        ["params", "--input", "6x6", "-k", "3"],
    ],
)
def test_reader_gone_before_output_exits_1_quietly(tmp_path, args):
    src = png(tmp_path / "in.png")
    np.save(tmp_path / "x.npy", np.random.default_rng(0).random((20, 24)))
    args = [a.format(src=src, x=tmp_path / "x.npy") for a in args]
    proc = subprocess.Popen(
        [sys.executable, "-m", "convtool", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    proc.stdout.close()  # the reader leaves before anything is written
    _, err = finish(proc)
    assert (proc.returncode, err) == (1, b"")


def test_show_has_no_force_preview_option(tmp_path):
    """Decided: show always draws (a grey ramp off a terminal), so --force-preview belongs to
    filter and find only; the README says so."""
    line = assert_one_error(convtool("show", png(tmp_path / "in.png"), "--force-preview"))
    assert line == "Error: No such option '--force-preview'."


# --- 30.4: show decodes a huge image reduced to the terminal's size ----------------------------


def test_reduced_read_is_the_block_mean(tmp_path):
    """A whole-factor reduction: each shown pixel is the mean of its block (oracle: numpy)."""
    from convtool.images.reduced import read_reduced

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "big.png")
    values, info, size = read_reduced(tmp_path / "big.png", 100, 70)
    assert size == (300, 400) and info.depth == "8" and values.shape == (75, 100, 3)
    blocks = pixels.reshape(75, 4, 100, 4, 3).mean(axis=(1, 3))
    np.testing.assert_allclose(values * 255, blocks, atol=0.51)


def test_reduced_read_keeps_the_exif_turn(tmp_path):
    from convtool.images.decode import read_image
    from convtool.images.reduced import read_reduced

    img = Image.fromarray(np.add.outer(np.arange(120), np.arange(200)).astype(np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned a quarter clockwise
    img.save(tmp_path / "turned.png", exif=exif)
    full, _ = read_image(tmp_path / "turned.png")
    values, _, size = read_reduced(tmp_path / "turned.png", 30, 50)
    assert size == full.shape[:2] == (200, 120)
    assert values.shape == (50, 30)
    np.testing.assert_allclose(
        values, full.reshape(50, 4, 30, 4).mean(axis=(1, 3)), atol=0.51 / 255
    )


def test_show_of_a_truncated_huge_tiff_is_one_error(tmp_path):
    """A 2 KB TIFF whose header declares 217 Mpx: one Error line, without decoding it."""
    path = tmp_path / "huge.tif"
    side, data = 14732, bytes(2000)
    entries = [
        (256, 4, 1, side), (257, 4, 1, side), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1),
        (273, 4, 1, 8), (277, 3, 1, 1), (278, 4, 1, side), (279, 4, 1, len(data)),
    ]  # fmt: skip
    body = b"II*\x00" + struct.pack("<I", 8 + len(data)) + data + struct.pack("<H", len(entries))
    path.write_bytes(body + b"".join(struct.pack("<HHII", *e) for e in entries) + bytes(4))
    line = assert_one_error(convtool("show", path, "--width", "80"))
    assert line.startswith(f"Error: {path}: truncated or corrupt image")
