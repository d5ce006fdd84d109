"""convtool: image filtering with a vectorized multi-channel convolution engine.

The core (this package minus :mod:`convtool.cli`) is pure numpy and knows nothing of the terminal.
The names below load their module on first use, so that ``import convtool`` is quick and the
command line can guard its start-up (signals) before numpy and Pillow load.

Rooms, in the order data flows through them (bytes -> image array -> kernel chain -> engine
strategy -> output bytes; image + template -> score map -> matches). Each module's docstring says
what it owns and what it must not import; ``tests/test_layering.py`` checks those bans and that
no import circle exists, ``tests/test_engine_layout.py`` the engine's own.

* :mod:`convtool.images` turns bytes into arrays and back, the only user of Pillow: ``decode``,
  ``pixels`` (the file's own type, for bands), ``frames``, ``encode``, our ``png`` and ``tiff``
  writers, ``write`` (the one atomic writer), ``draw``, ``info``. :mod:`convtool._npy` reads
  ``.npy`` bytes without unpickling, shared with kernel files; :mod:`convtool._mmap` drops
  finished rows of memory maps.
* :mod:`convtool.kernels` turns a spec into weights (``library``, ``files``, ``spec``,
  ``types``); :mod:`convtool.weights` holds the one meaning of ``--normalize``.
* :mod:`convtool.chain` applies a kernel chain: ``memory`` (a whole array: alpha modes,
  normalization, scale and bias, each step one engine call), ``bands`` (the same chain over bands
  of output rows in bounded memory) and ``file`` (one file through either to one output file:
  the single-file command and every batch worker call it).
* :mod:`convtool.engine` is one correlation: ``plan`` (validation, border modes, index maps),
  ``cost`` (the cost model and ``auto``), one module per strategy, ``run`` (:func:`correlate`,
  :func:`convolve`). It imports only numpy and :mod:`convtool.runtime`, the one thread pool
  and its per-thread scratch arrays, which the engine and the matcher share.
* :mod:`convtool.matching` turns an image and a template into a score map, then matches
  (``inputs``, ``windows``, ``spectral``, ``scoring``, ``masked``, ``peaks``, ``search``);
  :mod:`convtool.geometry` (resize, rotate) and :mod:`convtool.pictures` (heatmaps) do not
  depend on it.
* :mod:`convtool.params` counts parameters and MACs exactly; :mod:`convtool.fit` fits a kernel
  to an image pair.
* :mod:`convtool.batch` runs many files on any executor; :mod:`convtool.dask` puts arrays and
  batches on Dask (the optional extra).
* :mod:`convtool.cli` is the command line, a thin click layer (one ``cmd_*`` module per
  command); it imports the rest and nothing imports it.

>>> import numpy as np
>>> from convtool import correlate
>>> correlate(np.arange(9.0).reshape(3, 3), np.array([[0.0, 1.0], [2.0, 3.0]]), border="valid")
array([[19., 25.],
       [37., 43.]])
"""

from typing import TYPE_CHECKING

from ._lazy import lazy_exports

# Each public name and the module that defines it. Names load on first use (PEP 562), so that a
# command which needs none of the engine, the matcher or Pillow does not pay for importing them
# (`convtool params` starts in about the time of `import numpy`).
_EXPORTS = {
    "engine": ("BORDER_MODES", "EngineError", "convolve", "correlate"),
    "kernels": ("Kernel", "KernelError", "KernelInfo", "Magnitude", "gaussian_kernel",
                "list_kernels", "parse_kernel", "separable_factors"),
    "matching": ("Match", "SearchResult", "TemplateError", "find_matches", "match_template",
                 "refine_matches", "search"),
    "params": ("LayerCost", "ParamsError", "conv_cost", "dense_cost", "model_costs",
               "parse_layers", "stage_costs"),
    "pictures": ("heatmap",),
}  # fmt: skip
_lazy_getattr, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)


def __getattr__(name: str):
    """``__version__`` from the installed package's metadata (``0+unknown`` in a source tree
    that is not installed), looked up on first use; the other names load their module."""
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            value = version("convtool")
        except PackageNotFoundError:
            value = "0+unknown"
        globals()["__version__"] = value
        return value
    return _lazy_getattr(name)


if TYPE_CHECKING:
    from .engine import BORDER_MODES, EngineError, convolve, correlate
    from .kernels import (
        Kernel,
        KernelError,
        KernelInfo,
        Magnitude,
        gaussian_kernel,
        list_kernels,
        parse_kernel,
        separable_factors,
    )
    from .matching import (
        Match,
        SearchResult,
        TemplateError,
        find_matches,
        match_template,
        refine_matches,
        search,
    )
    from .params import (
        LayerCost,
        ParamsError,
        conv_cost,
        dense_cost,
        model_costs,
        parse_layers,
        stage_costs,
    )
    from .pictures import heatmap

__all__ = [
    "BORDER_MODES",
    "EngineError",
    "Kernel",
    "KernelError",
    "KernelInfo",
    "LayerCost",
    "Magnitude",
    "Match",
    "ParamsError",
    "SearchResult",
    "TemplateError",
    "conv_cost",
    "convolve",
    "correlate",
    "dense_cost",
    "find_matches",
    "gaussian_kernel",
    "heatmap",
    "list_kernels",
    "match_template",
    "model_costs",
    "parse_kernel",
    "parse_layers",
    "refine_matches",
    "search",
    "separable_factors",
    "stage_costs",
]
