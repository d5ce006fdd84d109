"""`convtool params`: counts against hand-computed values, layers built in numpy, and PyTorch.

Oracles: arithmetic written out from the definitions in D2L "From fully connected layers to
convolutions", the per-row formula n_i = min(i, D) + min(H-1-i, D) + 1 from the peer notes,
im2col patches built with np.pad (what each weight of a layer multiplies), convtool.correlate
for the outputs, and torch numel / FlopCounterMode when torch is installed.
"""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from convtool import correlate
from convtool.cli import cli
from convtool.images import ImageIOError, probe_image
from convtool.kernels import parse_kernel
from convtool.params import (
    MAX_DIM,
    ParamsError,
    conv_cost,
    filter_geometry,
    human_bytes,
    human_count,
    model_costs,
    parse_layers,
    parse_size,
    stage_costs,
)

NAMES = ["fully-connected", "locally-connected", "shared-weights", "convolution"]


def by_name(costs):
    return {c.name: c for c in costs}


# --- the chapter's numbers and hand-checked small cases --------------------------------------


def test_chapter_megapixel_into_1000_hidden_units():
    fc = stage_costs(1000, 1000, kernel=(3, 3), hidden=1000)[0]
    assert fc.weights == 10**6 * 10**3
    assert fc.biases == 1000
    assert fc.macs == 10**9


def test_six_by_six_delta_one_all_four_stages():
    costs = stage_costs(6, 6, kernel=(3, 3))
    assert [c.name for c in costs] == NAMES
    # FC 36 x 36; LC 36 positions x 3x3; shared (2*6-1)^2; conv 3x3.
    assert [c.weights for c in costs] == [36 * 36, 36 * 9, 11 * 11, 9]
    assert [c.weights for c in costs] == [1296, 324, 121, 9]
    assert [c.biases for c in costs] == [36, 36, 1, 1]
    # Rows and columns see 2, 3, 3, 3, 3, 2 in-image taps: (16)^2 = 256 live window weights.
    assert costs[1].effective_weights == 256
    assert [c.effective_weights for c in costs] == [1296, 256, 121, 9]


def n_i(height: int, delta: int) -> list[int]:
    return [min(i, delta) + min(height - 1 - i, delta) + 1 for i in range(height)]


@pytest.mark.parametrize("height", range(1, 13))
def test_locally_connected_effective_is_square_of_row_sums(height):
    for delta in range(0, (height - 1) // 2 + 1):
        k = 2 * delta + 1
        local = stage_costs(height, height, kernel=(k, k))[1]
        assert local.weights == height * height * k * k
        assert local.effective_weights == sum(n_i(height, delta)) ** 2


def test_megapixel_delta_one_stored_and_effective():
    local = stage_costs(1000, 1000, kernel=(3, 3))[1]
    assert local.weights == 9_000_000
    assert local.effective_weights == 8_988_004
    assert local.effective_weights == (3 * 1000 - 2) ** 2  # two edge rows see 2 taps, not 3


def test_multichannel_convolution():
    conv = stage_costs(224, 224, 3, kernel=(3, 3), out_channels=16)[-1]
    assert (conv.weights, conv.biases, conv.params) == (3 * 3 * 3 * 16, 16, 448)
    assert conv.macs == 224 * 224 * 432 == 21_676_032
    assert conv.bias_adds == 224 * 224 * 16


def test_strided_7x7_conv_matches_torchinfo_anchor():
    # Peer notes: Conv2d(3, 64, 7, stride 2, padding 3) on 224x224: 9,472 params, torchinfo
    # mult-adds 118,816,768 = MACs 118,013,952 + bias adds 802,816.
    conv = conv_cost(224, 224, 3, kernel=(7, 7), out_channels=64, stride=2)
    assert conv.params == 9472
    assert conv.output == (112, 112, 64)
    assert (conv.macs, conv.bias_adds) == (118_013_952, 802_816)
    assert conv.macs + conv.bias_adds == 118_816_768


def test_depthwise_and_pointwise_counts():
    assert conv_cost(8, 8, 3, kernel=(3, 3), out_channels=3, groups=3).params == 30
    assert conv_cost(8, 8, 3, kernel=(1, 1), out_channels=8).params == 32
    with pytest.raises(ParamsError, match="groups=2 must divide"):
        conv_cost(8, 8, 3, kernel=(3, 3), out_channels=3, groups=2)


def test_shared_weights_effective_macs_equal_the_dense_layer():
    # Every output sees every input through the (2H-1)x(2W-1) kernel: H*W*H*W*C*D products.
    costs = stage_costs(5, 7, 2, kernel=(3, 3), out_channels=3)
    assert costs[2].effective_macs == costs[0].macs == (5 * 7 * 2) * (5 * 7 * 3)
    assert costs[2].macs == 5 * 7 * (9 * 13) * 2 * 3  # with the padded zeros


def test_kernel_wider_than_2h_minus_1_has_dead_taps():
    # A 3x3 kernel on a 1x1 map only ever uses its centre tap.
    conv = conv_cost(1, 1, 4, kernel=(3, 3), out_channels=2)
    assert (conv.weights, conv.effective_weights) == (72, 8)
    # On 2x2 a 3x3 kernel (= 2H-1) is fully reachable; 5x5 is not (offsets +-2 never land).
    assert conv_cost(2, 2, 1, kernel=(3, 3), out_channels=1).effective_weights == 9
    assert conv_cost(2, 2, 1, kernel=(5, 5), out_channels=1).effective_weights == 9


def test_huge_counts_stay_exact_integers():
    n = MAX_DIM
    fc = stage_costs(n, n, n, kernel=(3, 3), hidden=n)[0]
    assert fc.weights == n**4
    assert isinstance(fc.weights, int)
    assert fc.weights != int(float(n**4))  # a float would have rounded it


# --- the layers built in numpy: counts describe real layers -----------------------------------


def patches(X: np.ndarray, kh: int, kw: int, stride: int) -> np.ndarray:
    """im2col with zero padding: P[i, j, a, b, c] = the input value tap (a, b) of output (i, j)
    multiplies (kernel anchored at (kh // 2, kw // 2), output (i, j) centred on (i*s, j*s))."""
    H, W, _ = X.shape
    ah, aw = kh // 2, kw // 2
    Xp = np.pad(X, ((ah, kh - 1 - ah), (aw, kw - 1 - aw), (0, 0)))
    rows = np.arange(0, H, stride)
    cols = np.arange(0, W, stride)
    a = np.arange(kh)
    b = np.arange(kw)
    return Xp[
        rows[:, None, None, None] + a[None, None, :, None],
        cols[None, :, None, None] + b[None, None, None, :],
    ]


def live_and_used(H, W, kh, kw, stride):
    """(window weights meeting the image, kernel taps meeting it) per channel pair."""
    P = patches(np.ones((H, W, 1)), kh, kw, stride)[..., 0]
    return int(np.count_nonzero(P)), int(np.count_nonzero(P.any(axis=(0, 1))))


@pytest.mark.parametrize(
    ("H", "W", "C", "D", "k", "stride"),
    [
        (5, 4, 2, 3, (3, 3), 1),
        (6, 6, 1, 1, (3, 3), 1),
        (7, 5, 2, 2, (3, 1), 2),
        (4, 6, 1, 2, (2, 4), 3),
    ],
)
def test_numpy_layers_tied_to_a_conv_kernel_compute_the_convolution(H, W, C, D, k, stride):
    r = np.random.default_rng(H * 100 + W * 10 + stride)
    kh, kw = k
    X = r.standard_normal((H, W, C))
    V = r.standard_normal((kh, kw, C, D))
    expected = correlate(X, V, border="constant", stride=stride)
    Ho, Wo = expected.shape[:2]
    costs = by_name(stage_costs(H, W, C, kernel=k, out_channels=D, stride=stride))

    # Locally connected: a separate window of weights per output position, here all equal to V.
    U = np.broadcast_to(V, (Ho, Wo, kh, kw, C, D)).copy()
    P = patches(X, kh, kw, stride)
    local_out = np.einsum("ijabc,ijabcd->ijd", P, U)
    np.testing.assert_allclose(local_out, expected, rtol=1e-5, atol=1e-5)
    assert U.size == costs["locally-connected"].weights

    # Shared weights: one (2H-1)x(2W-1) kernel; V sits at its centre, zeros elsewhere.
    K = np.zeros((2 * H - 1, 2 * W - 1, C, D))
    top, left = H - 1 - kh // 2, W - 1 - kw // 2
    K[top : top + kh, left : left + kw] = V
    shared_out = np.einsum("ijabc,abcd->ijd", patches(X, 2 * H - 1, 2 * W - 1, stride), K)
    np.testing.assert_allclose(shared_out, expected, rtol=1e-5, atol=1e-5)
    assert K.size == costs["shared-weights"].weights
    assert V.size == costs["convolution"].weights

    # Fully connected: the locally connected layer written as one dense matrix.
    M = np.zeros((Ho * Wo * D, H * W * C))
    for idx in range(H * W * C):
        basis = np.zeros(H * W * C)
        basis[idx] = 1.0
        M[:, idx] = np.einsum(
            "ijabc,ijabcd->ijd", patches(basis.reshape(H, W, C), kh, kw, stride), U
        ).ravel()
    np.testing.assert_allclose(M @ X.ravel(), expected.ravel(), rtol=1e-5, atol=1e-5)
    assert M.size == costs["fully-connected"].weights
    # Every live window weight fills exactly one entry of the dense matrix.
    assert np.count_nonzero(M) == costs["locally-connected"].effective_weights


@settings(max_examples=150, deadline=None)
@given(
    H=st.integers(1, 9),
    W=st.integers(1, 9),
    kh=st.integers(1, 9),
    kw=st.integers(1, 9),
    stride=st.integers(1, 5),
)
def test_effective_counts_match_im2col(H, W, kh, kw, stride):
    conv = conv_cost(H, W, 1, kernel=(kh, kw), out_channels=1, stride=stride)
    live, used = live_and_used(H, W, kh, kw, stride)
    assert conv.effective_weights == used
    assert conv.effective_macs == live
    if kh <= H and kw <= W:
        costs = by_name(stage_costs(H, W, kernel=(kh, kw), stride=stride))
        assert costs["locally-connected"].effective_weights == live
        _, used_big = live_and_used(H, W, 2 * H - 1, 2 * W - 1, stride)
        assert costs["shared-weights"].effective_weights == used_big


# --- torch, when installed -------------------------------------------------------------------


def torch_counts(module, x):
    from torch.utils.flop_counter import FlopCounterMode

    params = sum(p.numel() for p in module.parameters())
    with FlopCounterMode(display=False) as counter:
        out = module(x)
    return params, counter.get_total_flops(), tuple(out.shape)


def test_counts_agree_with_torch():
    torch = pytest.importorskip("torch")
    nn = torch.nn
    # Meta tensors: torch works out shapes and FLOPs without computing anything.
    with torch.device("meta"):
        cases = [
            (6, 6, 1, 1, 3, 1),
            (224, 224, 3, 16, 3, 1),
            (224, 224, 3, 64, 7, 2),
            (9, 7, 2, 5, 3, 2),
        ]
        for H, W, C, D, k, s in cases:
            costs = by_name(stage_costs(H, W, C, kernel=(k, k), out_channels=D, stride=s))
            x = torch.zeros(1, C, H, W)
            conv = costs["convolution"]
            params, flops, shape = torch_counts(nn.Conv2d(C, D, k, stride=s, padding=k // 2), x)
            assert (params, flops, shape[2:]) == (conv.params, 2 * conv.macs, conv.output[:2])
            shared = costs["shared-weights"]
            big = nn.Conv2d(C, D, (2 * H - 1, 2 * W - 1), stride=s, padding=(H - 1, W - 1))
            params, flops, shape = torch_counts(big, x)
            assert (params, flops, shape[2:]) == (shared.params, 2 * shared.macs, shared.output[:2])
            fc = costs["fully-connected"]
            params, flops, _ = torch_counts(nn.Linear(H * W * C, fc.output[2]), x.reshape(1, -1))
            assert (params, flops) == (fc.params, 2 * fc.macs)
        params, _, _ = torch_counts(nn.Conv2d(3, 3, 3, groups=3), torch.zeros(1, 3, 8, 8))
        assert params == conv_cost(8, 8, 3, kernel=(3, 3), out_channels=3, groups=3).params


def test_model_mode_agrees_with_torch():
    torch = pytest.importorskip("torch")
    nn = torch.nn
    # Meta tensors: torch works out shapes and FLOPs without computing anything.
    with torch.device("meta"):
        stack = model_costs(32, 32, 3, parse_layers("conv3x3:16,conv3x3:32/2,pool2,conv5:8,fc:10"))
        net = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1),
            nn.Conv2d(16, 32, 3, stride=2, padding=1),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 8, 5, padding=2),
            nn.Flatten(),
            nn.Linear(8 * 8 * 8, 10),
        )
        params, flops, _ = torch_counts(net, torch.zeros(1, 3, 32, 32))
        assert params == sum(m.cost.params for m in stack)
        assert flops == 2 * sum(m.cost.macs for m in stack)


# --- model mode and kernels ------------------------------------------------------------------


def test_model_stack_by_hand():
    stack = model_costs(32, 32, 3, parse_layers("conv3x3:16, conv3x3:32/2\nfc:10  # head"))
    assert [m.cost.output for m in stack] == [(32, 32, 16), (16, 16, 32), (1, 1, 10)]
    assert [m.cost.params for m in stack] == [3 * 9 * 16 + 16, 16 * 9 * 32 + 32, 8192 * 10 + 10]
    assert [m.cost.macs for m in stack] == [1024 * 432, 256 * 4608, 81920]
    # The dense network with the same activation sizes: 3072 -> 16384 -> 8192 -> 10.
    assert [m.dense.params for m in stack] == [
        3072 * 16384 + 16384,
        16384 * 8192 + 8192,
        8192 * 10 + 10,
    ]


def test_layer_grammar_errors():
    for bad in ("conv3:16x", "conv:16", "fc", "fc:0", "pool", "dense:10"):
        with pytest.raises(ParamsError):
            parse_layers(bad)
    with pytest.raises(ParamsError, match="no layers"):
        parse_layers(" # nothing\n")


def test_filter_geometry_of_convtool_kernels():
    assert filter_geometry(parse_kernel("box:5"), 3) == ((5, 5), 3, 3)  # depthwise
    assert filter_geometry(parse_kernel("sepia"), 3) == ((1, 1), 3, 1)  # mixes channels
    assert filter_geometry(parse_kernel("sobel"), 1) == ((3, 3), 2, 1)  # two kernels
    with pytest.raises(ParamsError, match="takes 3 input channels but the input has 1"):
        filter_geometry(parse_kernel("grayscale"), 1)


def test_parse_size_and_readable_numbers():
    assert parse_size("224x224x3") == (224, 224, 3)
    assert parse_size("6X6") == (6, 6, 1)
    assert [human_count(n) for n in (9, 448, 1000, 999_999, 21_676_032, 10**9)] == [
        "9",
        "448",
        "1.00 K",
        "1.00 M",
        "21.7 M",
        "1.00 B",
    ]
    assert human_bytes(4 * (10**9 + 1000)) == "4.00 GB"
    assert human_bytes(2**30) == "1.07 GB"


# --- probe_image ------------------------------------------------------------------------------


def test_probe_image_reads_sizes_as_the_decoder_does(tmp_path):
    Image.new("RGB", (7, 5)).save(tmp_path / "rgb.png")
    Image.new("P", (4, 3)).save(tmp_path / "pal.png")
    Image.new("LA", (2, 9)).save(tmp_path / "la.png")
    np.save(tmp_path / "a.npy", np.zeros((3, 8, 6), np.float32))
    assert probe_image(tmp_path / "rgb.png") == (5, 7, 3)
    assert probe_image(tmp_path / "pal.png") == (3, 4, 3)
    assert probe_image(tmp_path / "la.png") == (9, 2, 2)
    assert probe_image(tmp_path / "a.npy") == (3, 8, 6)
    (tmp_path / "junk.png").write_bytes(b"not an image")
    with pytest.raises(ImageIOError, match=r"not an image Pillow can read$"):
        probe_image(tmp_path / "junk.png")


# --- the command ------------------------------------------------------------------------------


def run(*args, env=None):
    return CliRunner().invoke(cli, ["params", *args], env=env)


def test_cli_json_exact_integers():
    result = run("--input", "1000x1000", "--hidden", "1000", "-k", "3", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["input"] == [1000, 1000, 1]
    assert [layer["name"] for layer in doc["layers"]] == NAMES
    fc, local, shared, conv = doc["layers"]
    assert fc["weights"] == 10**9 and fc["biases"] == 1000 and fc["params"] == 10**9 + 1000
    assert fc["float32_bytes"] == 4 * (10**9 + 1000)
    assert (local["weights"], local["effective_weights"]) == (9_000_000, 8_988_004)
    assert shared["weights"] == 1999 * 1999
    assert (conv["weights"], conv["biases"], conv["macs"]) == (9, 1, 9 * 10**6)
    assert isinstance(fc["macs"], int)


def test_cli_json_dtype_key_and_multichannel():
    result = run("--input", "224x224x3", "-k", "3x3", "--out-channels", "16", "--dtype", "float16",
                 "--json")  # fmt: skip
    conv = json.loads(result.stdout)["layers"][-1]
    assert (conv["weights"], conv["biases"], conv["macs"]) == (432, 16, 21_676_032)
    assert conv["float16_bytes"] == 2 * 448
    assert "float32_bytes" not in conv


def test_cli_json_huge_numbers_are_not_rounded():
    n = MAX_DIM
    result = run("--input", f"{n}x{n}x{n}", "--hidden", str(n), "-k", "3", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["layers"][0]["weights"] == n**4


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--input", "axb", "-k", "3"],
         "input size 'axb' is not HxW or HxWxC (e.g. 1000x1000 or 224x224x3)"),
        (["--input", "0x6", "-k", "3"],
         "input size '0x6': every dimension must be positive, got 0"),
        (["--input=-6x6", "-k", "3"],
         "input size '-6x6': every dimension must be positive, got -6"),
        (["--input", "6x6", "-k", "7"], "kernel 7x7 is larger than the 6x6 input"),
        (["--input", "6x6", "-k", "2x9"], "kernel 2x9 is larger than the 6x6 input"),
        (["--input", "6x6", "-k", "0"], "kernel size '0': every dimension must be positive, got 0"),
        (["--input", "3000000000x6", "-k", "3"],
         "input size '3000000000x6': 3000000000 is too large (at most 2147483647)"),
        (["--input", "9" * 5000 + "x6", "-k", "3"],
         f"input size '{'9' * 5000}x6': {'9' * 5000} is too large (at most 2147483647)"),
        (["--input", "6x6", "-k", "3", "--hidden", str(2**40)],
         "hidden units 1099511627776 is too large (at most 2147483647)"),
        (["--input", "6x6"], "give --kernel (a size like 3 or 3x3, or a kernel name) or --layers"),
        (["-k", "3"], "give the input size with --input HxW[xC] or --image FILE"),
        (["--input", "6x6", "--layers", "conv3:16x"],
         "layer 'conv3:16x' is not convK[xK]:OUT[/STRIDE], poolK[xK][/STRIDE] or fc:N"),
        (["--input", "6x6", "--layers", "conv3:4", "-k", "3"],
         "--kernel cannot be combined with --layers (each layer names its own kernel, channels "
         "and stride)"),
        (["--input", "6x6x3", "-k", "box:3", "--out-channels", "4"],
         "--out-channels applies to a kernel size; kernel 'box:3' sets its own output channels"),
        (["--image", "no-such-file.png", "-k", "3"], "no-such-file.png: no such file"),
    ],
)  # fmt: skip
def test_cli_bad_input_is_one_line_exit_2(args, message):
    result = run(*args)
    assert result.exit_code == 2
    assert result.stderr == f"Error: {message}\n"
    assert result.stdout == ""
    assert "Traceback" not in result.output


def test_cli_plain_output_when_piped():
    result = run("--input", "6x6", "-k", "3")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    header = lines[0].split("\t")
    assert header[:5] == ["layer", "weights", "effective_weights", "biases", "params"]
    rows = {line.split("\t")[0]: line.split("\t") for line in lines[1:5]}
    assert list(rows) == NAMES
    assert [int(rows[n][1]) for n in NAMES] == [1296, 324, 121, 9]
    assert int(rows["locally-connected"][2]) == 256
    assert all(line.startswith("# ") for line in lines[5:])
    assert any("FLOPs = 2 x MACs" in line for line in lines[5:])
    assert "────" not in result.stdout


def test_cli_table_readable_and_exact():
    result = run("--input", "1000x1000", "--hidden", "1000", "-k", "3", "--table")
    assert result.exit_code == 0
    row = next(line for line in result.stdout.splitlines() if line.startswith("fully-connected "))
    assert "1.00 B" in row and "4.00 GB" in row
    assert "GB = 10^3, 10^6, 10^9 bytes (1 GiB = 2^30 bytes" in " ".join(result.stdout.split())
    assert "1,000,000,000" not in result.stdout
    exact = run("--input", "1000x1000", "--hidden", "1000", "-k", "3", "--table", "--exact")
    assert "1,000,000,000" in exact.stdout


def test_cli_table_by_default_on_a_terminal(monkeypatch):
    monkeypatch.setattr("convtool.cli.stdout_is_terminal", lambda: True)
    result = run("--input", "6x6", "-k", "3", env={"NO_COLOR": "1"})
    assert re.search(r"^layer +weights +effective +biases", result.stdout, re.MULTILINE)
    assert "────" in result.stdout
    # NO_COLOR: no colour escapes (rich only emits styles when it sees a terminal anyway).
    assert not re.search(r"\x1b\[[0-9;]*3[0-9]m", result.stdout)
    assert "\t" not in result.stdout


def test_cli_model_mode_json_and_files(tmp_path):
    spec = "conv3x3:16,conv3x3:32/2,fc:10"
    doc = json.loads(run("--input", "32x32x3", "--layers", spec, "--json").stdout)
    assert [layer["params"] for layer in doc["layers"]] == [448, 4640, 81930]
    assert doc["total"]["params"] == 448 + 4640 + 81930
    assert doc["dense_total"]["params"] == (3072 + 1) * 16384 + (16384 + 1) * 8192 + 81930
    (tmp_path / "net.txt").write_text(
        "# a small net\nconv3x3:16\nconv3x3:32/2  # downsample\nfc:10\n"
    )
    (tmp_path / "net.json").write_text(json.dumps(spec.split(",")))
    for path in ("net.txt", "net.json"):
        other = json.loads(
            run("--input", "32x32x3", "--layers", str(tmp_path / path), "--json").stdout
        )
        assert other["layers"] == doc["layers"]
    plain = run("--input", "32x32x3", "--layers", spec).stdout.splitlines()
    assert plain[4].split("\t")[:6] == ["total", "1x1x10", "86960", "86960", "58", "87018"]


def test_cli_image_mode_counts_a_concrete_filter(tmp_path):
    Image.new("RGB", (8, 6)).save(tmp_path / "img.png")
    doc = json.loads(run("--image", str(tmp_path / "img.png"), "-k", "box:3", "--json").stdout)
    assert doc["input"] == [6, 8, 3]
    fc, _, shared, conv = doc["layers"]
    assert (conv["weights"], conv["biases"]) == (3 * 9, 3)  # depthwise: one 3x3 per channel
    assert shared["weights"] == 11 * 15 * 3
    assert fc["weights"] == (6 * 8 * 3) ** 2
    doc = json.loads(run("--image", str(tmp_path / "img.png"), "-k", "sobel", "--json").stdout)
    assert doc["layers"][-1]["weights"] == 2 * 3 * 9  # gx and gy on each of 3 channels


def test_image_from_stdin():
    buf = io.BytesIO()
    Image.new("RGB", (7, 5)).save(buf, format="PNG")
    result = CliRunner().invoke(
        cli, ["params", "--image", "-", "-k", "3", "--json"], input=buf.getvalue()
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["input"] == [5, 7, 3]


def _plain_rows(args: list[str]) -> dict[str, list[str]]:
    result = CliRunner().invoke(cli, ["params", *args])
    assert result.exit_code == 0, result.output
    lines = [line.split("\t") for line in result.output.splitlines() if not line.startswith("#")]
    header, *rows = lines
    return {row[0]: dict(zip(header, row, strict=True)) for row in rows}


def test_plain_ratio_is_exact_without_exponent():
    # 100000x100000 input, 3x3 kernel: dense params = N^2 + N with N = 10^10, conv params = 10
    rows = _plain_rows(["--input", "100000x100000", "--kernel", "3"])
    n = 10**10
    assert rows["fully-connected"]["ratio_to_convolution"] == str((n * n + n) // 10)
    assert rows["locally-connected"]["ratio_to_convolution"] == str(10 * n // 10)
    small = _plain_rows(["--input", "6x6", "--kernel", "3"])
    assert small["fully-connected"]["ratio_to_convolution"] == "133.2"  # 1332 / 10
    assert small["convolution"]["ratio_to_convolution"] == "1"


def test_json_ratio_is_a_whole_number_when_it_divides():
    result = CliRunner().invoke(
        cli, ["params", "--input", "100000x100000", "--kernel", "3", "--json"]
    )
    doc = json.loads(result.output)
    ratios = {layer["name"]: layer["ratio_to_convolution"] for layer in doc["layers"]}
    assert ratios["fully-connected"] == (10**20 + 10**10) // 10
    assert isinstance(ratios["fully-connected"], int)


def test_layers_table_effective_counts_biases_like_params():
    # conv3x3:16 on 32x32x3 has no dead taps, so effective params equal params (448, not 432)
    result = CliRunner().invoke(
        cli, ["params", "--input", "32x32x3", "--layers", "conv3x3:16", "--table"]
    )
    row = next(line for line in result.output.splitlines() if line.startswith("conv3x3:16"))
    assert row.split()[2:4] == ["448", "448"]
