"""One big .npy split over a cluster into a TIFF: the single-machine run's file byte for byte,
filled in place by worker processes; the refused combinations as one `Error:` line."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

distributed = pytest.importorskip("distributed")

from convtool.chain.memory import FilterOptions  # noqa: E402
from convtool.cli import cli  # noqa: E402
from convtool.dask import split  # noqa: E402
from convtool.dask.cluster import scheduler_executor  # noqa: E402
from convtool.images import read_pixels  # noqa: E402
from convtool.kernels import parse_kernel  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def address():
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  host="127.0.0.1", dashboard_address=None) as cluster:  # fmt: skip
        yield cluster.scheduler_address


def _run(*args):
    result = CliRunner().invoke(cli, ["filter", *map(str, args)])
    return result.exit_code, result.stdout, result.stderr


def _image(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    if dtype == np.float32:
        return rng.random(shape, dtype=np.float32)
    return rng.integers(0, np.iinfo(dtype).max + 1, shape, dtype=dtype)


CASES = [
    ((130, 90, 3), np.uint8, ["-k", "gaussian:2", "-k", "sharpen"]),
    ((121, 77), np.uint16, ["-k", "sobel", "--values", "abs"]),
    ((97, 61, 3), np.float32, ["-k", "box:3", "--border", "wrap"]),  # float in: 16-bit TIFF
    ((111, 53), np.float32, ["-k", "emboss", "--depth", "8", "--values", "rescale"]),
    ((90, 41, 2), np.uint16, ["-k", "gaussian:1"]),  # grey+alpha: stored as RGBA
    ((88, 47, 4), np.uint8, ["-k", "box:5", "--depth", "16"]),
    # stretch: a min..max pass and a histogram pass over the workers, then the bands
    ((150, 64), np.float32, ["-k", "emboss", "--depth", "8", "--values", "stretch:2"]),
    ((101, 67, 3), np.uint16, ["-k", "sobel", "--values", "stretch"]),
]


@pytest.mark.parametrize(("shape", "dtype", "args"), CASES)
def test_split_tiff_is_the_local_file(tmp_path, monkeypatch, address, shape, dtype, args):
    np.save(tmp_path / "in.npy", _image(shape, dtype))
    args = [*args, "--strategy", "direct"]  # exact whatever the band edges
    assert _run(tmp_path / "in.npy", *args, "-o", tmp_path / "ref.tif") == (0, "", "")
    # Small bands: many tasks, band edges inside strips, both workers.
    planned = functools.partial(split.plan_split, band_rows=7)
    monkeypatch.setattr(split, "plan_split", planned)
    code, out, err = _run(tmp_path / "in.npy", *args, "-o", tmp_path / "out.tif",
                          "--scheduler", address)  # fmt: skip
    assert (code, out, err) == (0, "", "")
    assert (tmp_path / "out.tif").read_bytes() == (tmp_path / "ref.tif").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.npy", "out.tif", "ref.tif"]
    stored = read_pixels(str(tmp_path / "out.tif"))[0]
    if stored.dtype == np.uint8 or stored.ndim == 2:  # what Pillow reads as it is
        with Image.open(tmp_path / "out.tif") as img:
            np.testing.assert_array_equal(np.asarray(img).reshape(stored.shape), stored)
    tifffile = pytest.importorskip("tifffile")
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "out.tif"), stored)


def test_the_bands_go_to_both_workers(tmp_path, address):
    image = _image((200, 70, 3), np.uint8, 1)
    np.save(tmp_path / "in.npy", image)
    steps = [parse_kernel("gaussian:1.5")]
    with scheduler_executor(address) as executor:
        done = split.filter_split(tmp_path / "in.npy", tmp_path / "out.tif", steps,
                                  FilterOptions(strategy="direct"), executor, workers=2,
                                  band_rows=8, fmt="tiff")  # fmt: skip
    assert done.tasks == 8 and len({pid for _, pid in done.workers}) == 2
    code, _, _ = _run(tmp_path / "in.npy", "-k", "gaussian:1.5", "--strategy", "direct", "-o",
                      tmp_path / "ref.tif")  # fmt: skip
    assert code == 0
    assert (tmp_path / "out.tif").read_bytes() == (tmp_path / "ref.tif").read_bytes()


SPLIT_NEEDS = (
    "Error: --scheduler with one input splits it in row bands over the cluster: it needs a .npy "
    "input and a .npy or TIFF output (or -o DIR/ to send the file whole to one worker)\n"
)


@pytest.mark.parametrize(
    ("dtype", "args", "name", "message"),
    [
        (np.uint8, ["--compression", "6"], "out.tif",
         "Error: --scheduler writes TIFF uncompressed (workers fill its strips in place): leave "
         "out --compression, or filter on one machine\n"),
        (np.float32, [], "out.tif",
         "Error: {out}: a TIFF split over the cluster stores 8 or 16 bits a sample, not float: "
         "add --depth 16, or write .npy\n"),
        (np.uint8, ["--depth", "float"], "out.tiff",
         "Error: {out}: a TIFF split over the cluster stores 8 or 16 bits a sample, not float: "
         "add --depth 16, or write .npy\n"),
        (np.uint8, [], "out.png", SPLIT_NEEDS),
    ],
)  # fmt: skip
def test_refused_combinations_are_one_error_line(tmp_path, address, dtype, args, name, message):
    np.save(tmp_path / "in.npy", _image((40, 30), dtype))
    out = tmp_path / name
    code, stdout, stderr = _run(tmp_path / "in.npy", "-k", "box:3", *args, "-o", out,
                                "--scheduler", address)  # fmt: skip
    assert (code, stdout, stderr) == (2, "", message.format(out=out))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.npy"]


def test_depth_is_kept_in_a_split_npy(tmp_path, address):
    # --depth reached the single-machine run only: a split .npy was float32 whatever it said.
    np.save(tmp_path / "in.npy", _image((64, 40), np.float32))
    args = ["-k", "gaussian:1", "--depth", "8"]
    assert _run(tmp_path / "in.npy", *args, "-o", tmp_path / "ref.npy")[0] == 0
    assert _run(tmp_path / "in.npy", *args, "-o", tmp_path / "out.npy", "--scheduler",
                address)[0] == 0  # fmt: skip
    assert np.load(tmp_path / "out.npy").dtype == np.uint8
    assert (tmp_path / "out.npy").read_bytes() == (tmp_path / "ref.npy").read_bytes()


def test_stretch_split_npy_is_the_local_file(tmp_path, monkeypatch, address):
    # Refused until the workers counted their bands: percentiles taken band by band differed
    # from the local run's. Each task now returns its bands' histogram; the sum is the local one.
    image = _image((160, 50), np.float32, 3)
    image[7, 9] = 40.0  # an outlier that rescale would let decide the scale
    np.save(tmp_path / "in.npy", image)
    args = ["-k", "sharpen", "--depth", "16", "--values", "stretch:1.5", "--strategy", "direct"]
    assert _run(tmp_path / "in.npy", *args, "-o", tmp_path / "ref.npy") == (0, "", "")
    monkeypatch.setattr(split, "plan_split", functools.partial(split.plan_split, band_rows=9))
    assert _run(tmp_path / "in.npy", *args, "-o", tmp_path / "out.npy",
                "--scheduler", address) == (0, "", "")  # fmt: skip
    assert (tmp_path / "out.npy").read_bytes() == (tmp_path / "ref.npy").read_bytes()
    out = np.load(tmp_path / "out.npy")
    assert out.min() == 0 and out.max() == 65535  # the percentiles reach black and white
    assert np.count_nonzero(out == 65535) > 1  # more than the outlier is white: not min..max
