"""convtool: image filtering with a vectorized multi-channel convolution engine.

The core (this package minus :mod:`convtool.cli`) is pure numpy and knows nothing of the terminal.
The names below load their module on first use, so that ``import convtool`` is quick and the
command line can guard its start-up (signals) before numpy and Pillow load.

>>> import numpy as np
>>> from convtool import correlate
>>> correlate(np.arange(9.0).reshape(3, 3), np.array([[0.0, 1.0], [2.0, 3.0]]), border="valid")
array([[19., 25.],
       [37., 43.]])
"""

from __future__ import annotations

import importlib

# Public name -> the module that owns it (loaded on first use).
_HOMES = {
    "BORDER_MODES": "engine",
    "EngineError": "engine",
    "convolve": "engine",
    "correlate": "engine",
    "Kernel": "kernels",
    "KernelError": "kernels",
    "KernelInfo": "kernels",
    "Magnitude": "kernels",
    "list_kernels": "kernels",
    "parse_kernel": "kernels",
    "separable_factors": "kernels",
    "Match": "matching",
    "SearchResult": "matching",
    "TemplateError": "matching",
    "find_matches": "matching",
    "match_template": "matching",
    "refine_matches": "matching",
    "search": "matching",
    "LayerCost": "params",
    "ParamsError": "params",
    "conv_cost": "params",
    "dense_cost": "params",
    "model_costs": "params",
    "parse_layers": "params",
    "stage_costs": "params",
    "heatmap": "pictures",
}

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


def __getattr__(name: str):
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'convtool' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
