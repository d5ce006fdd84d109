"""convtool on Dask: lazy filters for big arrays, storage that works on a cluster, batch runs.

Rooms:

- :mod:`convtool.dask.array`: :func:`correlate`, :func:`convolve`, :func:`apply_chain` on
  ``dask.array.Array`` images ``(H, W)``, ``(H, W, C)`` and stacks ``(T, H, W[, C])``
  (``xarray.DataArray`` in, the same dims and coordinates out).
- :mod:`convtool.dask.storage`: chunked readers and writers that a cluster can use (each block
  opens the file by its path on the worker): :func:`from_npy`, :func:`to_npy`,
  :func:`from_tiff`, :func:`to_tiff`; :func:`from_zarr`, :func:`to_zarr` with the zarr extra.
- :mod:`convtool.dask.cluster`: ``--scheduler ADDRESS|local[:N]``: the executor the batch
  runner submits to, the worker set-up, and what is lost when a cluster fails.
- :mod:`convtool.dask.split`: one big image over the cluster's workers in row bands.

Must not import: click, rich, PIL, convtool.cli (core code; dask is the optional extra).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

try:
    import dask  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError("convtool.dask needs the dask extra: pip install 'convtool[dask]'") from exc

# Loaded on first use: dask.array (with what it pulls in: pandas, scipy, xarray where
# installed) takes about a second, which --scheduler's client and every worker would pay
# at start-up for the cluster and split rooms, which do not use it.
_EXPORTS = {
    "array": ("apply_chain", "convolve", "correlate"),
    "storage": ("from_npy", "from_tiff", "from_zarr", "to_npy", "to_tiff", "to_zarr"),
}
__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)

if TYPE_CHECKING:
    from .array import apply_chain, convolve, correlate
    from .storage import from_npy, from_tiff, from_zarr, to_npy, to_tiff, to_zarr

__all__ = [
    "apply_chain",
    "convolve",
    "correlate",
    "from_npy",
    "from_tiff",
    "from_zarr",
    "to_npy",
    "to_tiff",
    "to_zarr",
]
