"""Inline kernels on -k and the one text grammar they share with kernel files (issue 25 item 1),
and kernel files refused from a stream before the whole text is held (issue 30 item 4)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from convtool.cli import cli as main
from convtool.kernels import KernelError, parse_kernel
from convtool.kernels.files import MAX_TEXT_LINE_BYTES
from convtool.kernels.text import is_literal

BINOMIAL = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], dtype=np.float64)


@pytest.mark.parametrize(
    "spec",
    [
        "1 2 1; 2 4 2; 1 2 1",
        "1,2,1;2,4,2;1,2,1",
        "1 2 1\n2 4 2\n1 2 1",
        "3x3: 1,2,1 2,4,2 1,2,1",
        "3x3:1 2 1 2 4 2 1 2 1",
        "[[1,2,1],[2,4,2],[1,2,1]]",
    ],
)
def test_literal_forms_equal_the_hand_matrix(spec):
    np.testing.assert_array_equal(parse_kernel(spec).weights, BINOMIAL)


def test_literal_equals_its_text_file_and_json_file(tmp_path):
    (tmp_path / "k.txt").write_text("# binomial\n1 2 1\n2 4 2\n1 2 1\n/16\n")
    (tmp_path / "k.json").write_text(json.dumps(BINOMIAL.tolist()))
    from_text = parse_kernel(str(tmp_path / "k.txt")).weights
    np.testing.assert_array_equal(from_text, BINOMIAL / 16)
    np.testing.assert_array_equal(parse_kernel("1 2 1; 2 4 2; 1 2 1 /16").weights, from_text)
    np.testing.assert_array_equal(parse_kernel("[[1,2,1],[2,4,2],[1,2,1]]/16").weights, from_text)
    np.testing.assert_array_equal(parse_kernel(str(tmp_path / "k.json")).weights, BINOMIAL)


def test_filter_with_a_literal_writes_what_its_file_form_writes(tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (20, 30), dtype=np.uint8)).save(tmp_path / "in.png")
    (tmp_path / "k.txt").write_text("1 2 1\n2 4 2\n1 2 1\n")
    runner = CliRunner()
    base = ["filter", str(tmp_path / "in.png"), "--normalize", "-o"]
    r1 = runner.invoke(main, [*base, str(tmp_path / "a.png"), "-k", str(tmp_path / "k.txt")])
    r2 = runner.invoke(main, [*base, str(tmp_path / "b.png"), "-k", "3x3: 1,2,1 2,4,2 1,2,1"])
    assert r1.exit_code == 0 and r2.exit_code == 0, (r1.output, r2.output)
    a, b = (np.asarray(Image.open(tmp_path / n)) for n in ("a.png", "b.png"))
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("1 2; 3", "kernel '1 2; 3': row 2 has 1 value, expected 2 as in row 1"),
        ("3x3: 1 2", "kernel '3x3: 1 2': 3x3 needs 9 values, got 2"),
        ("1 2 /0", "kernel '1 2 /0': row 1: divisor /0 is zero"),
        ("1 x", "kernel '1 x': row 1: 'x' is not a number"),
        (
            "[[1,2],[3]]",
            "kernel '[[1,2],[3]]': weights[1] has 1 entry, expected 2 as in weights[0]",
        ),
        ("[1,2", "kernel '[1,2': a list without its closing ']'"),
        ("1 2 /4; 5", "kernel '1 2 /4; 5': row 2: values after the divisor"),
    ],
)
def test_bad_literals_give_one_line(spec, message):
    with pytest.raises(KernelError) as info:
        parse_kernel(spec)
    assert str(info.value) == message


def test_ragged_literal_on_the_command_line(tmp_path):
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "in.png")
    result = CliRunner().invoke(
        main,
        ["filter", str(tmp_path / "in.png"), "-k", "1 2 1; 2 4", "-o", str(tmp_path / "o.png")],
    )
    assert result.exit_code == 2
    assert (
        result.output == "Error: kernel '1 2 1; 2 4': row 2 has 2 values, expected 3 as in row 1\n"
    )


def test_the_resolution_rule(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "121").write_text("5\n")
    (tmp_path / "sharpen").write_text("7\n")
    assert is_literal("121") and not is_literal("./121") and not is_literal("sharpen")
    assert parse_kernel("121").weights.tolist() == [[121.0]]  # a literal, although a file exists
    assert parse_kernel("./121").weights.tolist() == [[5.0]]
    assert parse_kernel("./sharpen").weights.tolist() == [[7.0]]
    assert parse_kernel("sharpen").weights.shape == (3, 3)  # the named kernel
    assert not is_literal("3x3.txt")


def test_one_line_text_kernel_refused_from_its_first_line(tmp_path):
    path = tmp_path / "long.txt"
    path.write_bytes(b"1 " * (MAX_TEXT_LINE_BYTES // 2 + 10) + b"\n")
    with pytest.raises(KernelError) as info:
        parse_kernel(str(path))
    assert str(info.value) == (
        f"{path}: line 1 is longer than {MAX_TEXT_LINE_BYTES:,} bytes (a kernel row holds at "
        "most 1001 values)"
    )


def test_json_with_too_many_rows_refused_before_parsing(tmp_path):
    path = tmp_path / "rows.json"
    path.write_text("[" + ",".join(["[1]"] * 1002) + "]")
    with pytest.raises(KernelError) as info:
        parse_kernel(str(path))
    assert str(info.value) == (
        f"{path}: JSON kernel with more than 1,001 rows (kernels are at most 1001x1001)"
    )
    ok = tmp_path / "ok.json"
    ok.write_text(json.dumps({"name": "k[", "weights": [[1.0]] * 1001}))
    assert parse_kernel(str(ok)).weights.shape == (1001, 1)


def test_json_prescan_lets_channel_kernels_and_bracketed_names_through(tmp_path):
    rng = np.random.default_rng(2)
    weights = rng.normal(size=(3, 3, 2, 2))
    path = tmp_path / "mix.json"
    path.write_text(json.dumps({"name": "a [b] ]]]", "weights": weights.tolist(), "bias": [1, 2]}))
    kernel = parse_kernel(str(path))
    np.testing.assert_array_equal(kernel.weights, weights)
    assert kernel.bias.tolist() == [1.0, 2.0]
