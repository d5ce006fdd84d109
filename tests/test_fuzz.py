"""Property (fuzz) tests: any input gives a result or one ``Error:`` line, within a time bound.

Covers the kernel-file parsers (text, JSON, .npy), the ``--layers`` grammar, the ``--scales`` and
``--angles`` lists and image decoding of mutated real files (PNG, GIF, TIFF, JPEG, BMP, WebP,
.npy made here). Most examples run in-process (click's CliRunner, or the parser itself); a few
go through a real ``python -m convtool`` process.

Budget: the profile decides. CI (``CI=1``, profile ``ci``) runs 40 examples per property; to
fuzz longer, pick the ``fuzz`` profile (registered in ``conftest.py``)::

    HYPOTHESIS_PROFILE=fuzz python -m pytest tests/test_fuzz.py
    python -m pytest tests/test_fuzz.py --hypothesis-profile=fuzz      # the same
    HYPOTHESIS_PROFILE=fuzz FUZZ_EXAMPLES=20000 python -m pytest tests/test_fuzz.py

The time bound (``EXAMPLE_LIMIT`` seconds per example, by SIGALRM) catches hangs such as the
float32-overflow loop of issue 10; it is generous on purpose and says nothing about speed.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import signal
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from convtool.cli import cli
from convtool.images import ImageIOError, decode_image
from convtool.kernels import Kernel, KernelError, parse_kernel
from convtool.matching import TemplateError, parse_angles, parse_scales
from convtool.params import ParamsError, parse_layers

EXAMPLE_LIMIT = 20  # seconds; a hang, not a slow example, is what this bound is for

# Runs that need files share one directory per test (hypothesis warns about function fixtures).
_FIXTURE_OK = [HealthCheck.function_scoped_fixture]
_NO_FIXTURE_CHECK = settings(suppress_health_check=_FIXTURE_OK)


def _few(n: int) -> settings:
    """``n`` examples for a slow property; a twentieth of the profile's budget when larger."""
    return settings(
        max_examples=max(n, settings.default.max_examples // 20), suppress_health_check=_FIXTURE_OK
    )


class ExampleTimeout(Exception):
    pass


@contextlib.contextmanager
def time_bound(seconds: float = EXAMPLE_LIMIT):
    """Fail the example (instead of hanging the suite) if it runs longer than ``seconds``."""

    def expire(signum, frame):
        raise ExampleTimeout(f"example ran longer than {seconds} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def assert_result_or_error(result, *, allow=(0,)):
    """A CliRunner result: success, or exit 2 with stderr starting with one ``Error:`` line."""
    if isinstance(result.exception, ExampleTimeout):
        raise result.exception
    if result.exit_code in allow:
        return
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception
    first = result.stderr.splitlines()[0]
    assert first.startswith("Error: ") or first.startswith("Usage: "), result.stderr
    assert "Traceback" not in result.stderr


# --- seeds: small real files --------------------------------------------------------------------


def _seed_images() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (6, 7, 3), dtype=np.uint8)
    seeds = {}
    for fmt, kw in [
        ("PNG", {}),
        ("GIF", {}),
        ("TIFF", {}),
        ("TIFF", {"compression": "tiff_deflate"}),
        ("JPEG", {"quality": 90}),
        ("BMP", {}),
        ("WEBP", {"lossless": True}),
    ]:
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, format=fmt, **kw)
        seeds[f"{fmt.lower()}{'-' + kw['compression'] if 'compression' in kw else ''}"] = (
            buf.getvalue()
        )
    for name, arr in [("npy-f4", rgb.astype(np.float32) / 255), ("npy-u16", rgb.astype("<u2"))]:
        buf = io.BytesIO()
        np.save(buf, arr)
        seeds[name] = buf.getvalue()
    return seeds


SEEDS = _seed_images()


@st.composite
def mutated_image(draw):
    """The bytes of a real small image with a few random edits (flip, cut, insert, truncate)."""
    name = draw(st.sampled_from(sorted(SEEDS)))
    data = bytearray(SEEDS[name])
    for _ in range(draw(st.integers(1, 6))):
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        op = draw(st.sampled_from(["set", "xor", "cut", "insert", "truncate"]))
        if op == "set" and data:
            data[pos] = draw(st.integers(0, 255))
        elif op == "xor" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "cut":
            del data[pos : pos + draw(st.integers(1, 32))]
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        else:
            del data[pos:]
    return name, bytes(data)


# --- image decoding -------------------------------------------------------------------------------


@given(mutated_image())
@example(("npy-f4", SEEDS["npy-f4"][:40]))
@example(("tiff-tiff_deflate", SEEDS["tiff-tiff_deflate"][:-20] + b"\x55" * 20))
def test_decoding_mutated_files_gives_an_image_or_an_image_error(case):
    name, data = case
    with time_bound():
        try:
            arr, _info = decode_image(data, f"fuzz.{name}")
        except ImageIOError as exc:
            assert str(exc).startswith(f"fuzz.{name}: ") and "\n" not in str(exc)
            return
    assert arr.ndim in (2, 3) and arr.size > 0
    assert arr.dtype in (np.float32, np.float64)


@_NO_FIXTURE_CHECK
@given(mutated_image())
def test_filter_on_mutated_files_is_a_result_or_one_error(tmp_path, case):
    name, data = case
    src = tmp_path / f"in.{name.split('-')[0]}"
    src.write_bytes(data)
    out = tmp_path / "out.npy"
    out.unlink(missing_ok=True)
    with time_bound():
        result = CliRunner().invoke(cli, ["filter", str(src), "-k", "box:3", "-o", str(out)])
    assert_result_or_error(result)
    assert out.exists() == (result.exit_code == 0)


@_few(3)
@given(mutated_image())
def test_mutated_files_through_a_real_process(tmp_path, case):
    name, data = case
    src = tmp_path / f"in.{name.split('-')[0]}"
    src.write_bytes(data)
    proc = subprocess.run(
        [sys.executable, "-m", "convtool", "filter", str(src), "-k", "box:3", "-o", "-"],
        capture_output=True,
        timeout=EXAMPLE_LIMIT * 3,
    )
    if proc.returncode != 0:
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.decode().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), proc.stderr


# --- kernel files ---------------------------------------------------------------------------------

_number_text = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**500), 10**500).map(str),
    st.sampled_from(["1e39", "-1e39", "3.5e38", "1e-400", "nan", "inf", "0x10", "1_0", "", "-"]),
)

_text_kernels = st.lists(
    st.lists(_number_text, min_size=0, max_size=6).map(" ".join), min_size=0, max_size=6
).map("\n".join) | st.text(max_size=200)


def _check_kernel(path):
    with time_bound():
        try:
            kernel = parse_kernel(str(path))
        except KernelError as exc:
            assert "\n" not in str(exc)
            return None
    assert isinstance(kernel, Kernel)
    assert np.all(np.abs(kernel.weights) <= np.finfo(np.float32).max)
    return kernel


@_NO_FIXTURE_CHECK
@given(_text_kernels)
@example("1e39")
@example("1 2\n3")
def test_text_kernel_parser(tmp_path, text):
    path = tmp_path / "k.txt"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    kernel = _check_kernel(path)
    if kernel is not None:
        assert kernel.weights.ndim == 2


_json_leaf = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(-(10**400), 10**400),
    st.booleans(),
    st.none(),
    st.text(max_size=3),
)
_json_values = st.recursive(
    _json_leaf,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["weights", "bias", "normalize", "shape", "name", "x"]),
            inner,
            max_size=4,
        )
    ),
    max_leaves=30,
)


@_NO_FIXTURE_CHECK
@given(
    st.one_of(
        _json_values.map(json.dumps),
        st.builds(lambda d: "[" * d + "1" + "]" * d, st.integers(0, 3000)),
        st.builds(lambda n: "[[1" + "0" * n + "]]", st.integers(300, 6000)),
        st.text(max_size=100),
    )
)
@example('{"weights": [[1e39]]}')
@example('{"weights": [[1]], "bias": 1' + "0" * 400 + "}")
def test_json_kernel_parser(tmp_path, text):
    path = tmp_path / "k.json"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    kernel = _check_kernel(path)
    if kernel is not None:
        assert 2 <= kernel.weights.ndim <= 4


@_NO_FIXTURE_CHECK
@given(
    st.one_of(
        st.builds(
            lambda shape, fill: np.full(shape, fill),
            st.lists(st.integers(0, 4), min_size=0, max_size=5).map(tuple),
            st.floats(allow_nan=True, allow_infinity=True),
        ),
        st.just(np.array([["a"]])),
        st.just(np.zeros((2, 2), dtype=complex)),
    ),
    st.integers(0, 200),
)
def test_npy_kernel_parser(tmp_path, array, cut):
    buf = io.BytesIO()
    np.save(buf, array)
    data = buf.getvalue()
    path = tmp_path / "k.npy"
    path.write_bytes(data[: len(data) - cut] if cut < len(data) else data)
    _check_kernel(path)


@_few(10)
@given(_json_values.map(json.dumps) | _text_kernels)
def test_kernel_files_through_the_cli(tmp_path, text):
    path = tmp_path / "k.json"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    src = tmp_path / "in.png"
    src.write_bytes(SEEDS["png"])
    with time_bound():
        result = CliRunner().invoke(
            cli, ["filter", str(src), "-k", str(path), "-o", str(tmp_path / "o.npy")]
        )
    assert_result_or_error(result)


# --- option grammars ------------------------------------------------------------------------------

_layer_items = st.one_of(
    st.from_regex(
        r"(conv|pool)[0-9]{1,4}(x[0-9]{1,4})?(:[0-9]{1,12})?(/[0-9]{1,4})?", fullmatch=True
    ),
    st.from_regex(r"fc:[0-9]{1,40}", fullmatch=True),
    st.text(max_size=12),
)


@given(st.lists(_layer_items, max_size=8).map(",".join) | st.text(max_size=60))
@example("conv3x3:99999999999999999999999999")
@example("fc:" + "9" * 5000)
def test_layers_grammar(text):
    with time_bound():
        try:
            specs = parse_layers(text)
        except ParamsError as exc:
            assert "\n" not in str(exc)
            return
    assert specs and all(s.kind in ("conv", "pool", "fc") for s in specs)


@given(
    st.one_of(
        st.lists(st.floats().map(repr) | st.text(max_size=5), max_size=6).map(",".join),
        st.lists(st.floats().map(repr), min_size=3, max_size=3).map(":".join),
        st.text(max_size=30),
    )
)
@example("1e308")
@example("0:1e308:1e-308")
def test_scales_and_angles_lists(text):
    for parse, positive in ((parse_scales, True), (parse_angles, False)):
        with time_bound():
            try:
                values = parse(text)
            except TemplateError as exc:
                assert "\n" not in str(exc)
                continue
        assert values and all(math.isfinite(v) for v in values)
        assert len(values) <= 200 or "," in text
        if positive:
            assert all(v > 0 for v in values)


@_few(15)
@given(st.sampled_from(["--scales", "--angles"]), st.text(max_size=20) | st.floats().map(repr))
@example("--scales", "1e308")
@example("--angles", "1e308")
def test_scales_and_angles_through_find(tmp_path, option, text):
    src = tmp_path / "in.png"
    src.write_bytes(SEEDS["png"])
    tpl = tmp_path / "tpl.png"
    Image.open(io.BytesIO(SEEDS["png"])).crop((1, 1, 4, 4)).save(tpl)
    with time_bound():
        result = CliRunner().invoke(cli, ["find", str(src), str(tpl), option, text])
    assert_result_or_error(result, allow=(0, 1))


@pytest.mark.parametrize("text", ["1e308", "1e-308,1e308", "nan", "inf:1:1"])
def test_scale_extremes_in_a_real_process(text):
    proc = subprocess.run(
        [sys.executable, "-m", "convtool", "find", "-", "-", "--scales", text],
        capture_output=True,
        timeout=EXAMPLE_LIMIT * 3,
        input=b"",
    )
    lines = proc.stderr.decode().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("Error: ")
