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
