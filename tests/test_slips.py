"""The smaller slips of issue 25, each with its corrected message: find's picture extensions,
fit -o IMAGE, params --exact units, a zero-sum kernel's displayed sum, convtool.__version__."""

from __future__ import annotations

import importlib.metadata
import math

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import convtool
from convtool.cli import cli
from convtool.kernels import parse_kernel

KNOWN = ".png, .jpg, .jpeg, .tif, .tiff, .bmp, .webp, .npy, .gif, .pgm, .ppm, .pnm, .pam, .pfm"


def run(*args: str):
    return CliRunner().invoke(cli, list(map(str, args)))


@pytest.fixture
def image(tmp_path):
    rng = np.random.default_rng(3)
    Image.fromarray(rng.integers(0, 256, (20, 20), dtype=np.uint8)).save(tmp_path / "a.png")
    return tmp_path / "a.png"


def test_find_heatmap_bad_extension_does_not_suggest_format(image, tmp_path):
    result = run("find", image, image, "--heatmap", tmp_path / "heat.jpgg")
    assert result.exit_code == 2
    assert result.output == (
        f"Error: {tmp_path}/heat.jpgg: cannot tell the output format from the extension "
        f"'.jpgg' (use one of {KNOWN})\n"
    )


def test_filter_output_without_extension_names_the_problem(image, tmp_path):
    result = run("filter", image, "-k", "box:3", "-o", tmp_path / "result")
    assert result.exit_code == 2
    assert result.output == (
        f"Error: {tmp_path}/result: the output name has no extension to tell the format from "
        f"(add one: {KNOWN}, or give --format)\n"
    )
    assert run("filter", image, "-k", "box:3", "-o", tmp_path / "result", "--format",
               "png").exit_code == 0  # fmt: skip


@pytest.mark.parametrize("name", ["k.png", "k.JPG", "k.npy", "k.txt"])
def test_fit_refuses_an_output_name_of_another_format(image, tmp_path, name):
    result = run("fit", image, image, "--size", "3", "-o", tmp_path / name)
    assert result.exit_code == 2
    assert (
        result.output
        == f"Error: {tmp_path / name}: fit writes JSON kernel files; use a .json name\n"
    )
    assert not (tmp_path / name).exists()


def test_params_exact_sizes_carry_their_unit():
    layers = ("--input", "32x32x3", "--layers", "conv3x3:16,conv3x3:32/2,pool2,fc:10", "--table")
    exact = run("params", *layers, "--exact")
    assert exact.exit_code == 0
    # 448 + 4640 + 20490 params (hand count: 3*3*3*16+16, 3*3*16*32+32, 8*8*32*10+10) x 4 bytes
    assert f"float32 parameters: {(448 + 4640 + 20490) * 4:,} bytes, the dense network's" in (
        exact.output
    )
    assert "bytes, the dense" not in run("params", *layers).output  # 102 kB carries its own


def test_zero_sum_kernel_shows_a_zero_sum():
    weights = parse_kernel("log:1.4").weights
    total = math.fsum(weights.ravel())
    assert total != 0 and abs(total) < 1e-12 * np.abs(weights).sum()  # zero only to rounding
    result = run("kernels", "log:1.4")
    assert result.exit_code == 0
    assert "# sum: 0\n" in result.output
    assert "# sum: 16\n" in run("kernels", "1 2 1; 2 4 2; 1 2 1").output  # nonzero sums stay


def test_version_from_the_package_metadata(monkeypatch):
    assert convtool.__version__ == importlib.metadata.version("convtool")
    monkeypatch.delitem(convtool.__dict__, "__version__")

    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", missing)
    assert convtool.__version__ == "0+unknown"
    monkeypatch.delitem(convtool.__dict__, "__version__")
