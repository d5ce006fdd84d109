"""The TIFF laid out with empty strips and filled in place (what a cluster's workers write):
byte for byte the writer's file, read back by Pillow and tifffile."""

import io
import os
import tempfile
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest
from PIL import Image

from convtool.images import tiff
from convtool.images.tiff import Strips, encode_tiff, layout_tiff

SHAPES = [
    ((5, 7), np.uint8),  # odd strips: padded to even offsets
    ((300, 1001), np.uint8),
    ((97, 33, 3), np.uint16),
    ((64, 31, 2), np.uint8),
    ((40, 13, 4), np.uint16),
    ((1, 1), np.uint16),
]


def _page(shape, dtype, seed=0):
    return np.random.default_rng(seed).integers(0, np.iinfo(dtype).max + 1, shape, dtype=dtype)


@pytest.fixture(autouse=True)
def _small_strips(monkeypatch):
    monkeypatch.setattr(tiff, "_STRIP_BYTES", 1000)  # many strips, bands across their edges


@pytest.mark.parametrize(("shape", "dtype"), SHAPES)
@pytest.mark.parametrize("band", [1, 7, 64])
def test_layout_filled_by_bands_is_the_writers_file(shape, dtype, band):
    page = _page(shape, dtype)
    buf = io.BytesIO()
    strips = layout_tiff(buf, shape, dtype, dpi=(300.0, 300.0), icc=b"icc-profile")
    size = len(buf.getvalue())
    fd, name = _temp(bytearray(buf.getvalue()))
    try:
        for r0 in range(0, shape[0], band)[::-1]:  # any order
            strips.write_rows(fd, r0, page[r0 : r0 + band])
        data = _read(name)
    finally:
        os.close(fd)
        os.unlink(name)
    assert len(data) == size
    assert data == encode_tiff(page, dpi=(300.0, 300.0), icc=b"icc-profile")


def test_column_spans_fill_the_same_file():
    shape = (50, 41, 3)
    page = _page(shape, np.uint8, 1)
    buf = io.BytesIO()
    strips = layout_tiff(buf, shape, np.uint8)
    fd, name = _temp(bytearray(buf.getvalue()))
    try:
        for r0 in range(0, 50, 9):
            for c0 in range(0, 41, 10):
                strips.write_rows(fd, r0, page[r0 : r0 + 9, c0 : c0 + 10], c0)
        data = _read(name)
    finally:
        os.close(fd)
        os.unlink(name)
    assert data == encode_tiff(page)


def _fill(name: str, strips: Strips, page: np.ndarray, r0: int, r1: int) -> None:
    fd = os.open(name, os.O_WRONLY)
    try:
        strips.write_rows(fd, r0, page[r0:r1])
    finally:
        os.close(fd)


def test_processes_fill_a_sparse_file_and_readers_agree(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    shape = (403, 257)  # 16-bit grey: Pillow reads it as it is (16-bit RGB it makes 8-bit)
    name = str(tmp_path / "out.tif")
    with open(name, "wb") as fh:
        strips = layout_tiff(fh, shape, np.uint16)
    page = _page(shape, np.uint16, 2)
    edges = [(a, min(a + 50, shape[0])) for a in range(0, shape[0], 50)]
    with ProcessPoolExecutor(2) as pool:
        for done in [pool.submit(_fill, name, strips, page, a, b) for a, b in edges]:
            done.result()
    with Image.open(name) as img:
        np.testing.assert_array_equal(np.asarray(img), page)
    np.testing.assert_array_equal(tifffile.imread(name), page)
    assert open(name, "rb").read() == encode_tiff(page)


def test_layout_refuses_what_the_writer_refuses():
    for shape, dtype in (((4, 4), np.float32), ((4, 4, 5), np.uint8), ((4,), np.uint8)):
        with pytest.raises(ValueError, match="uint8/uint16"):
            layout_tiff(io.BytesIO(), shape, dtype)


def _temp(data: bytearray) -> tuple[int, str]:
    fd, name = tempfile.mkstemp(suffix=".tif")
    os.write(fd, data)
    return fd, name


def _read(name: str) -> bytes:
    with open(name, "rb") as fh:
        return fh.read()


# A single machine's banded run fills the same layout through one mapped array (before, it
# held the whole result and handed it to write_tiff: 929 MB for a 20000² 16-bit page).

IN_PLACE = [
    ((61, 33), np.uint8, ["-k", "box:3"]),  # odd rows: even rows per strip, no pad between
    ((45, 37, 3), np.uint8, ["-k", "gaussian:1", "--values", "abs"]),
    ((40, 29, 4), np.uint16, ["-k", "sharpen"]),
    ((38, 21, 2), np.uint8, ["-k", "emboss"]),
    ((50, 30), np.float32, ["-k", "sobel", "--depth", "16", "--values", "stretch"]),
]


def _filter_tiff(tmp_path, name, args):
    from click.testing import CliRunner

    from convtool.cli import cli

    result = CliRunner().invoke(cli, ["filter", str(tmp_path / "in.npy"), *args, "-o",
                                      str(tmp_path / name)])  # fmt: skip
    assert (result.exit_code, result.output) == (0, "")
    return (tmp_path / name).read_bytes()


@pytest.mark.parametrize(("shape", "dtype", "args"), IN_PLACE)
def test_banded_tiff_filled_in_place_is_the_writers_file(tmp_path, monkeypatch, shape, dtype,
                                                         args):  # fmt: skip
    from convtool.chain import bands
    from convtool.chain import file as chain_file

    monkeypatch.setattr(bands, "BAND_BYTES", 64)  # bands of a row or two, across strip edges
    data = _page(shape, np.uint16) if dtype != np.float32 else None
    image = data.astype(dtype) if data is not None else np.random.default_rng(1).random(shape)
    np.save(tmp_path / "in.npy", image.astype(dtype))
    laid = []
    layout = chain_file.layout_stored
    monkeypatch.setattr(chain_file, "layout_stored", lambda *a: laid.append(a[1]) or layout(*a))
    got = _filter_tiff(tmp_path, "out.tif", args)
    assert laid == [shape[:2] if len(shape) == 2 else shape]  # the in-place path was taken
    monkeypatch.setattr(chain_file, "stored_in_place", lambda *a, **k: False)
    assert got == _filter_tiff(tmp_path, "ref.tif", args)  # the whole-result writer's bytes
    with Image.open(tmp_path / "out.tif") as img:
        assert img.size == (shape[1], shape[0])


def test_rows_that_cannot_be_one_run_go_through_the_writer(tmp_path, monkeypatch):
    # 1001 grey bytes a row with 1000-byte strips: one row a strip, each padded to even.
    assert not tiff.one_run((9, 1001), np.uint8) and tiff.one_run((1, 1001), np.uint8)
    from convtool.chain import file as chain_file

    np.save(tmp_path / "in.npy", _page((9, 1001), np.uint8))
    monkeypatch.setattr(chain_file, "layout_stored", None)  # never called
    _filter_tiff(tmp_path, "out.tif", ["-k", "box:3"])
    _filter_tiff(tmp_path, "out.npy", ["-k", "box:3"])
    with Image.open(tmp_path / "out.tif") as img:
        assert img.tag_v2[278] == 1  # rows per strip
        np.testing.assert_array_equal(np.asarray(img), np.load(tmp_path / "out.npy"))


def test_strips_of_odd_rows_hold_an_even_count_of_rows():
    # 7 bytes a row: 142 rows (not 1000 // 7 = 142.8 -> 142, already even), 3 bytes: 332.
    assert tiff._rows_per_strip((1000, 7), 1) == 142
    assert tiff._rows_per_strip((1000, 1, 3), 1) == 332
    assert tiff._rows_per_strip((1000, 5), 2) == 100  # even rows: as many as fit


def test_a_page_over_classic_tiffs_4_gib_is_refused_before_any_pixel():
    from convtool.images import ImageInfo, ImageIOError
    from convtool.images.encode import layout_stored

    buf = io.BytesIO()
    with pytest.raises(ImageIOError) as info:
        layout_stored(buf, (66000, 66000), np.uint8, ImageInfo())
    assert str(info.value) == ("cannot encode as TIFF (4356000000 bytes of pixels are over "
                               "classic TIFF's 4 GiB: write .npy)")  # fmt: skip
    assert buf.getvalue() == b""
    with pytest.raises(ValueError, match="over classic TIFF's 4 GiB"):
        tiff.write_tiff(buf, [np.broadcast_to(np.uint8(0), (40000, 40000, 3))])
    assert buf.getvalue() == b""


def test_cli_refuses_a_4_gib_tiff_before_computing(tmp_path):
    # A sparse 4.4 GB .npy: refused in well under a second; before, the whole result was
    # computed and the writer failed at the end.
    from click.testing import CliRunner

    from convtool.cli import cli

    np.lib.format.open_memmap(tmp_path / "in.npy", mode="w+", dtype=np.uint8,
                              shape=(66000, 66000))  # fmt: skip
    args = ["filter", str(tmp_path / "in.npy"), "-k", "box:3", "--max-pixels", "0", "-o",
            str(tmp_path / "out.tif")]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert result.stderr == ("Error: cannot encode as TIFF (4356000000 bytes of pixels are over "
                             "classic TIFF's 4 GiB: write .npy)\n")  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.npy"]


def test_in_place_tiff_keeps_the_inputs_dpi_and_icc(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from convtool.chain import file as chain_file
    from convtool.cli import cli

    icc = b"\0\0\0\x80" + b"profile" * 18  # carried as bytes, never parsed
    rgb = _page((23, 31, 3), np.uint8)
    Image.fromarray(rgb).save(tmp_path / "in.png", dpi=(300, 300), icc_profile=icc)

    def run(name):
        args = ["filter", str(tmp_path / "in.png"), "-k", "box:3", "-o", str(tmp_path / name)]
        assert CliRunner().invoke(cli, args).exit_code == 0
        return (tmp_path / name).read_bytes()

    laid = []
    layout = chain_file.layout_stored
    monkeypatch.setattr(chain_file, "layout_stored", lambda *a: laid.append(a[3]) or layout(*a))
    got = run("out.tif")
    assert [(i.icc, tuple(round(v) for v in i.dpi)) for i in laid] == [(icc, (300, 300))]
    monkeypatch.setattr(chain_file, "stored_in_place", lambda *a, **k: False)
    assert got == run("ref.tif")
    with Image.open(tmp_path / "out.tif") as img:
        assert img.info.get("icc_profile") == icc
        assert tuple(round(v) for v in img.info["dpi"]) == (300, 300)
