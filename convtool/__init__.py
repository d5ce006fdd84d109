"""convtool: image filtering with a vectorized multi-channel convolution engine.

The core (this package minus :mod:`convtool.cli`) is pure numpy and knows nothing of the terminal.

>>> import numpy as np
>>> from convtool import correlate
>>> correlate(np.arange(9.0).reshape(3, 3), np.array([[0.0, 1.0], [2.0, 3.0]]), border="valid")
array([[19., 25.],
       [37., 43.]])
"""

from .engine import BORDER_MODES, EngineError, convolve, correlate
from .kernels import (
    Kernel,
    KernelError,
    KernelInfo,
    Magnitude,
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
