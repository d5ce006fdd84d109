"""Read and write image files block by block, on any Dask scheduler (a cluster too).

Owns: :func:`from_npy` / :func:`from_tiff` (lazy arrays whose blocks each open the file by its
absolute path where they run) and :func:`to_npy` / :func:`to_tiff` (the file laid out first,
then every block written into it in place by the worker that computed it, the whole committed
by convtool's one atomic writer when every block is in). Nothing pickles an array or a memory
map: a memory map sent to a worker arrives as a copy, and writes into it are lost.
:func:`from_zarr` / :func:`to_zarr` (zarr is an extra of its own: ``convtool[zarr]``) go
through dask's own zarr functions, a store directory written beside the target and renamed.

Every worker must see the file at the same path (a shared filesystem); relative paths are
made absolute here, where the graph is built. Must not import: click, rich, PIL at module
level, convtool.cli (TIFF reading goes through :mod:`convtool.images` inside the blocks).
"""

from __future__ import annotations

import os
import shutil
import tempfile

import dask.array as da
import numpy as np

from ..images.tiff import CLASSIC_BYTES, Strips, layout_tiff
from ..images.write import atomic_path

__all__ = ["MISSING_ZARR", "from_npy", "from_tiff", "from_zarr", "to_npy", "to_tiff", "to_zarr"]

MISSING_ZARR = "needs the zarr extra: pip install 'convtool[zarr]'"


class _NpyFile:
    """A ``.npy`` file as dask's ``from_array`` sees it: shape, dtype, and rows on demand."""

    def __init__(self, path: str) -> None:
        self.path = path
        head = np.load(path, mmap_mode="r")
        self.shape, self.dtype, self.ndim = head.shape, head.dtype, head.ndim

    def __getitem__(self, key) -> np.ndarray:
        return np.array(np.load(self.path, mmap_mode="r")[key])


class _TiffFile:
    """A TIFF (or any picture convtool reads) by blocks: each block reads its part of the
    pixels (uncompressed TIFF strips are memory-mapped, so only those rows are read)."""

    def __init__(self, path: str) -> None:
        self.path = path
        pixels = self._pixels()
        self.shape, self.dtype, self.ndim = pixels.shape, pixels.dtype, pixels.ndim

    def _pixels(self) -> np.ndarray:
        from ..images import read_pixels

        read = read_pixels(self.path)
        if read is None:
            raise ValueError(f"{self.path}: several pages; from_tiff reads one")
        return read[0]

    def __getitem__(self, key) -> np.ndarray:
        return np.array(self._pixels()[key])


def _lazy(source, chunks, name: str) -> da.Array:
    stamp = os.stat(source.path).st_mtime_ns
    return da.from_array(
        source,
        chunks=chunks,
        name=f"{name}-{da.core.tokenize(source.path, stamp, chunks)}",
        lock=False,
        asarray=True,
        fancy=False,
        meta=np.empty((0,) * source.ndim, source.dtype),
    )


def from_npy(path: str | os.PathLike[str], chunks="auto") -> da.Array:
    """A lazy array of a ``.npy`` file: each block reads its rows from a map of the file.

    Parameters
    ----------
    path : str or path-like
        The file, at the same path on every worker (made absolute here).
    chunks
        As for ``dask.array.from_array`` (``"auto"``, an int, a tuple).

    Examples
    --------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "a.npy")
    >>> np.save(path, np.arange(12.0).reshape(3, 4))
    >>> from_npy(path, chunks=2)[1:, 2:].compute()
    array([[ 6.,  7.],
           [10., 11.]])
    """
    return _lazy(_NpyFile(os.path.abspath(path)), chunks, "from-npy")


def from_tiff(path: str | os.PathLike[str], chunks="auto") -> da.Array:
    """A lazy array of a one-page TIFF (any picture convtool reads) in its stored type.

    Uncompressed TIFF strips are memory-mapped, so a block reads only its rows; a compressed
    file is decoded whole by each block that reads it (use large row chunks then).

    Examples
    --------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "a.tif")
    >>> to_tiff(da.arange(12, dtype=np.uint16).reshape(3, 4), path)
    >>> from_tiff(path, chunks=2)[2].compute()
    array([ 8,  9, 10, 11], dtype=uint16)
    """
    return _lazy(_TiffFile(os.path.abspath(path)), chunks, "from-tiff")


class _NpyTarget:
    """``dask.array.store``'s target: each block opens the ``.npy`` file in place and writes."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __setitem__(self, key, value) -> None:
        out = np.load(self.path, mmap_mode="r+")
        out[key] = value
        out.flush()


class _TiffTarget:
    """``dask.array.store``'s target: each block's rows written into the uncompressed strips
    of a TIFF laid out by :func:`~convtool.images.tiff.layout_tiff` (``os.pwrite``)."""

    def __init__(self, path: str, strips: Strips) -> None:
        self.path, self.strips = path, strips

    def __setitem__(self, key, value) -> None:
        r0 = key[0].indices(self.strips.shape[0])[0]
        c0 = key[1].indices(self.strips.shape[1])[0]
        fd = os.open(self.path, os.O_WRONLY)
        try:
            self.strips.write_rows(fd, r0, value, c0)
        finally:
            os.close(fd)


def _store(array, target, make) -> None:
    """Lay the file out (``make(tmp)`` returns the block target), store every block, commit."""
    with atomic_path(os.path.abspath(target)) as tmp:
        da.store(da.asarray(array), make(os.path.abspath(tmp)), lock=False, compute=True)


def to_npy(array, path: str | os.PathLike[str]) -> None:
    """Compute ``array`` into the ``.npy`` file ``path``, each block written by its worker.

    The file is created at its full size first (a sparse file), every block then opens it by
    path and writes its part in place, and the file replaces ``path`` atomically once all
    blocks are in (a failed compute leaves ``path`` as it was).

    Examples
    --------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "out.npy")
    >>> to_npy(da.ones((4, 5), chunks=2, dtype=np.float32) * 3, path)
    >>> np.load(path).sum()
    np.float32(60.0)
    """
    x = da.asarray(array)

    def make(tmp: str) -> _NpyTarget:
        np.lib.format.open_memmap(tmp, mode="w+", dtype=x.dtype, shape=x.shape).flush()
        return _NpyTarget(tmp)

    _store(x, path, make)


def to_tiff(array, path: str | os.PathLike[str]) -> None:
    """Compute a uint8/uint16 ``(H, W[, 1..4])`` array into an uncompressed TIFF, by strips.

    convtool's TIFF writer lays the file out (the tags, the strips a hole of their size); each
    block then writes its rows into the strips in place; committed atomically as
    :func:`to_npy`. Two or
    four channels: the last is alpha. Float results: :func:`to_npy` (or convert first).

    Examples
    --------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "out.tif")
    >>> to_tiff(da.full((3, 4, 3), 7, dtype=np.uint8, chunks=2), path)
    >>> from_tiff(path).sum().compute()
    np.uint64(252)
    """
    x = da.asarray(array)
    channels = 1 if x.ndim == 2 else x.shape[2]
    if x.dtype not in (np.uint8, np.uint16) or x.ndim not in (2, 3) or channels > 4:
        raise ValueError(
            f"to_tiff writes uint8/uint16 (H, W[, 1..4]), got {x.dtype} {x.shape}: "
            "convert first, or use to_npy"
        )
    if x.nbytes > CLASSIC_BYTES:
        raise ValueError(f"to_tiff: {x.nbytes} bytes is over classic TIFF's 4 GiB; use to_npy")

    if x.ndim == 3:
        x = x.rechunk({2: -1})  # every block holds whole pixels: a run of bytes per row

    def make(tmp: str) -> _TiffTarget:
        with open(tmp, "wb") as fh:
            return _TiffTarget(tmp, layout_tiff(fh, x.shape, x.dtype))

    _store(x, path, make)


def _zarr(name: str) -> None:
    """Import zarr, or the one-line error that names the extra."""
    try:
        import zarr  # noqa: F401
    except ImportError:
        raise ImportError(f"convtool.dask.{name} {MISSING_ZARR}") from None


def _is_path(store) -> bool:
    return isinstance(store, os.PathLike) or (isinstance(store, str) and "://" not in store)


def from_zarr(store, component: str | None = None, chunks=None) -> da.Array:
    """A lazy array of a zarr array: each block reads its chunks where it runs.

    ``store`` is a directory (made absolute here: every worker must see it at that path), a
    URL (``s3://...``, fsspec) or a zarr store object; ``component`` the array's path in a
    group; ``chunks`` None keeps the stored chunks (else as ``dask.array.from_array``).
    Needs the zarr extra (``pip install 'convtool[zarr]'``).

    Examples
    --------
    >>> import tempfile  # doctest: +SKIP
    >>> path = os.path.join(tempfile.mkdtemp(), "a.zarr")  # doctest: +SKIP
    >>> to_zarr(da.arange(12.0, chunks=5).reshape(3, 4), path)  # doctest: +SKIP
    >>> from_zarr(path)[1].compute()  # doctest: +SKIP
    array([4., 5., 6., 7.])
    """
    _zarr("from_zarr")
    if _is_path(store):
        store = os.path.abspath(store)
    return da.from_zarr(store, component=component, chunks=chunks)


def to_zarr(array, store, *, overwrite: bool = False, **create) -> None:
    """Compute ``array`` into a new zarr array at ``store``, each block written by its worker.

    A directory ``store`` is written as a store beside it (``.NAME.*.part``) and renamed into
    place once every chunk is in: a failed compute leaves ``store`` as it was; an existing
    ``store`` is refused unless ``overwrite``. A URL or a store object is written straight
    through ``dask.array.to_zarr`` (no rename there). Irregular chunks are made regular first
    (zarr's chunks are one size); ``create`` goes to zarr's array creation (``compressors``,
    ``fill_value``, ...). Needs the zarr extra (``pip install 'convtool[zarr]'``).
    """
    _zarr("to_zarr")
    x = da.asarray(array)
    if any(len(set(c[:-1])) > 1 or (len(c) > 1 and c[-1] > c[0]) for c in x.chunks):
        x = x.rechunk(x.chunksize)
    if not _is_path(store):
        da.to_zarr(x, store, mode="w" if overwrite else "w-", **create)
        return
    target = os.path.abspath(store)
    if os.path.lexists(target) and not overwrite:
        raise FileExistsError(f"{target}: exists (overwrite=True replaces it)")
    parent, name = os.path.split(target)
    tmp = tempfile.mkdtemp(dir=parent, prefix=f".{name}.", suffix=".part")
    try:
        da.to_zarr(x, tmp, mode="w", **create)
        if os.path.lexists(target):  # overwrite: the old store out of the way, then the new in
            old = tempfile.mkdtemp(dir=parent, prefix=f".{name}.", suffix=".old")
            os.replace(target, os.path.join(old, name))
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
