"""convtool.dask storage on one machine: zarr stores (with the zarr extra) and the TIFF laid
out for in-place strips (the cluster runs are in test_dask_real_cluster.py)."""

import os

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")

from convtool import dask as cdask  # noqa: E402


@pytest.fixture
def zarr():
    return pytest.importorskip("zarr")


def test_zarr_round_trip_keeps_values_dtype_and_chunks(tmp_path, zarr):
    image = np.random.default_rng(0).integers(0, 65536, (37, 29, 3), dtype=np.uint16)
    store = tmp_path / "a.zarr"
    cdask.to_zarr(da.from_array(image, chunks=(10, 8, 3)), store)
    back = cdask.from_zarr(store)
    assert back.chunks[:2] == ((10, 10, 10, 7), (8, 8, 8, 5)) and back.dtype == np.uint16
    np.testing.assert_array_equal(back.compute(), image)
    np.testing.assert_array_equal(zarr.open_array(store, mode="r")[:], image)  # zarr's reader
    assert sorted(os.listdir(tmp_path)) == ["a.zarr"]  # no temporary store left


def test_zarr_irregular_chunks_are_made_regular(tmp_path, zarr):
    x = da.concatenate([da.ones((5, 4), chunks=5), da.zeros((9, 4), chunks=(3, 4))])
    assert len(set(x.chunks[0])) > 1
    cdask.to_zarr(x, tmp_path / "a.zarr")
    np.testing.assert_array_equal(cdask.from_zarr(tmp_path / "a.zarr").compute(), x.compute())


def test_zarr_an_existing_store_is_kept_unless_overwrite(tmp_path, zarr):
    store = tmp_path / "a.zarr"
    cdask.to_zarr(da.zeros((4, 4), chunks=2), store)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        cdask.to_zarr(da.ones((4, 4), chunks=2), store)
    cdask.to_zarr(da.ones((6, 6), chunks=3), store, overwrite=True)
    assert cdask.from_zarr(store).sum().compute() == 36
    assert sorted(os.listdir(tmp_path)) == ["a.zarr"]


def test_zarr_a_failed_compute_leaves_the_store_as_it_was(tmp_path, zarr):
    store = tmp_path / "a.zarr"
    cdask.to_zarr(da.zeros((4, 4), chunks=2), store)

    def boom(block):
        raise RuntimeError("boom")

    bad = da.ones((4, 4), chunks=2).map_blocks(boom, dtype=float)
    with pytest.raises(RuntimeError, match="boom"):
        cdask.to_zarr(bad, store, overwrite=True)
    assert cdask.from_zarr(store).sum().compute() == 0
    assert sorted(os.listdir(tmp_path)) == ["a.zarr"]
