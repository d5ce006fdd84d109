"""`convtool fit` through CliRunner: fit then filter reproduces the target; bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from convtool.cli import cli
from convtool.kernels import parse_kernel

ROOT = Path(__file__).resolve().parents[1]
SCENE = str(ROOT / "samples" / "waldo-scene.png")


@pytest.fixture
def runner():
    return CliRunner()


def run_ok(runner, args):
    result = runner.invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def assert_error(result, start):
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {start}"), result.stderr


def pixels(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im).astype(int)


def crop(tmp_path, name, box):
    """A smaller photo (tests run the CLI several times)."""
    path = tmp_path / name
    Image.open(SCENE).crop(box).save(path)
    return str(path)


@pytest.mark.parametrize(
    ("filter_args", "fit_args", "channels"),
    [
        (["-k", "gaussian:1"], ["--size", "7"], "shared"),
        (["-k", "box:3", "--bias", "0.1"], ["--size", "3", "--bias", "--ignore-clipped"], "shared"),
        (["-k", "sharpen"], ["--size", "3", "--ignore-clipped"], "shared"),
        (["-k", "grayscale"], ["--size", "1"], "mixing"),
        (["-k", "motion:5,30", "--border", "wrap"], ["--size", "5", "--border", "wrap"], "shared"),
    ],
)
def test_fit_then_filter_reproduces_the_target(runner, tmp_path, filter_args, fit_args, channels):
    src = crop(tmp_path, "in.png", (100, 60, 260, 180))
    target = str(tmp_path / "target.png")
    run_ok(runner, ["filter", src, *filter_args, "-o", target])
    kernel = str(tmp_path / "k.json")
    res = run_ok(runner, ["fit", src, target, *fit_args, "-o", kernel])
    assert f" {channels} kernel" in res.stderr
    assert f"wrote {kernel}" in res.stderr
    border = fit_args[fit_args.index("--border") + 1] if "--border" in fit_args else "reflect"
    out = str(tmp_path / "out.png")
    run_ok(runner, ["filter", src, "-k", kernel, "--border", border, "-o", out])
    # 8-bit target: the fitted weights are within ~1e-3, so at most one level apart.
    assert np.abs(pixels(out) - pixels(target)).max() <= 1


def test_alpha_is_left_out_as_filter_keeps_it(runner, tmp_path):
    sprite = str(ROOT / "samples" / "waldo.png")  # RGBA
    target = str(tmp_path / "t.png")
    run_ok(runner, ["filter", sprite, "-k", "box:3", "-o", target])
    res = run_ok(runner, ["fit", sprite, target, "--size", "3", "--json"])
    assert json.loads(res.stdout)["kernel"]["shape"] == [3, 3]
    assert "close to box:3" in res.stderr


def test_report_names_the_kernel_and_json_carries_kernel_and_report(runner, tmp_path):
    src = crop(tmp_path, "in.png", (0, 0, 200, 150))
    target = str(tmp_path / "t.png")
    run_ok(runner, ["filter", src, "-k", "gaussian:1.5", "-o", target])
    res = run_ok(runner, ["fit", src, target, "--size", "11", "--json"])
    assert "close to gaussian:1.5 (max weight difference" in res.stderr
    assert "R^2 0.99" in res.stderr and "condition number" in res.stderr
    doc = json.loads(res.stdout)
    assert doc["report"]["closest"]["spec"] == "gaussian:1.5"
    assert doc["report"]["ill_conditioned"] is False
    weights = np.array(doc["kernel"]["weights"])
    np.testing.assert_allclose(weights, parse_kernel("gaussian:1.5").weights, atol=2e-3)


def test_kernel_to_stdout_reads_back(runner, tmp_path):
    src = crop(tmp_path, "in.png", (0, 0, 120, 90))
    target = str(tmp_path / "t.png")
    run_ok(runner, ["filter", src, "-k", "box:3", "-o", target])
    res = run_ok(runner, ["fit", src, target, "--size", "3", "-o", "-"])
    path = tmp_path / "k.json"
    path.write_text(res.stdout)
    np.testing.assert_allclose(parse_kernel(str(path)).weights, np.full((3, 3), 1 / 9), atol=2e-3)


def test_flat_input_warns(runner, tmp_path):
    flat = tmp_path / "flat.png"
    Image.new("RGB", (40, 30), (90, 120, 150)).save(flat)
    res = run_ok(runner, ["fit", str(flat), str(flat), "--size", "3", "--json"])
    assert "warning: the input has too little texture to determine the kernel" in res.stderr
    assert json.loads(res.stdout)["report"]["ill_conditioned"] is True


def test_clipping_hint(runner, tmp_path):
    src = crop(tmp_path, "in.png", (0, 0, 160, 120))
    target = str(tmp_path / "t.png")
    run_ok(runner, ["filter", src, "-k", "sharpen", "-o", target])
    res = run_ok(runner, ["fit", src, target, "--size", "3", "--json"])
    assert "maybe clipped; --ignore-clipped leaves them out of the fit" in res.stderr


@pytest.mark.parametrize(
    ("args", "start"),
    [
        (["{src}", "{small}", "--size", "3", "-o", "{k}"], "the target is 20x30, but a 3x3 kernel"),
        (["{src}", "{src}", "--size", "99", "-o", "{k}"], "kernel 99x99 is larger than"),
        (["{src}", "{src}", "--size", "3y", "-o", "{k}"], "kernel size '3y' is not K or KHxKW"),
        (["{src}", "{grey}", "--size", "3", "--channels", "shared", "-o", "{k}"], "shared kernels"),
        (["{src}", "{src}", "--size", "3", "-o", "-", "--json"], "-o - and --json both"),
        (["{src}", "{src}", "--size", "3"], "give -o FILE"),
        (["{src}", "{src}", "--size", "3", "-o", "{dir}/k.txt"], "{dir}/k.txt: fit writes JSON"),
        (["{src}", "{dir}/missing.png", "--size", "3", "-o", "{k}"], "{dir}/missing.png: no such"),
        (["{src}", "{src}", "--size", "3", "-o", "{dir}/no/k.json"], "{dir}/no/k.json: output"),
        (["{src}", "{src}", "--size", "3", "--ridge", "inf", "-o", "{k}"], "--ridge must be"),
    ],
)
def test_bad_input_is_one_error_line_and_exit_2(runner, tmp_path, args, start):
    names = {
        "src": crop(tmp_path, "in.png", (0, 0, 40, 30)),
        "small": crop(tmp_path, "small.png", (0, 0, 30, 20)),
        "grey": str(tmp_path / "grey.png"),
        "k": str(tmp_path / "k.json"),
        "dir": str(tmp_path),
    }
    Image.open(names["src"]).convert("L").save(names["grey"])
    result = runner.invoke(cli, ["fit", *(a.format(**names) for a in args)])
    assert_error(result, start.format(**names))
    assert not (tmp_path / "k.json").exists()
