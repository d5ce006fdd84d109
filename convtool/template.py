"""Compatibility alias: the old ``convtool.template`` module, now :mod:`convtool.matching`.

Everything the single ``template`` module used to define is re-exported from its new home:
the matcher (:mod:`convtool.matching` and its modules), image geometry
(:mod:`convtool.geometry`) and pictures (:mod:`convtool.pictures`). New code imports from
those. Setting a name on this alias (as ``monkeypatch.setattr(template, name, spy)`` does)
sets it in every one of those modules that holds the same object under that name, so a
patched helper is the one the matcher calls, as when it all lived in one module.

Must not import: the CLI, :mod:`convtool.images`, click, rich, PIL.
"""

# ruff: noqa: F401  (every import is a re-export of the old module)
from __future__ import annotations

import sys
import types

from . import geometry, pictures
from .engine import next_fast_len
from .geometry import _resize_matrix, resize, rotate
from .matching import inputs, masked, peaks, scoring, spectral, windows
from .matching import search as _search_module
from .matching.inputs import (
    _FLT_EPSILON,
    DEFAULT_THRESHOLDS,
    METHODS,
    TemplateError,
    _as_hwc,
    _check_method,
    _check_template_contrast,
    _prepare,
    lower_is_better,
    split_alpha,
    to_gray,
)
from .matching.masked import _masked_scores
from .matching.peaks import (
    Match,
    _candidates,
    _check_find_args,
    _gather,
    _local_maxima,
    _nms,
    _parabola_offset,
    _select,
    find_matches,
    subpixel_peak,
)
from .matching.scoring import _Prepared, _score_map, _zncc_scores, match_template
from .matching.search import (
    SearchResult,
    _parse_list,
    _turned,
    parse_angles,
    parse_scales,
    refine_matches,
    search,
)
from .matching.spectral import (
    _correlate_each,
    _correlate_spectrum,
    _kernel_spectrum,
    _rfft2,
    _valid_inverse,
)
from .matching.windows import (
    _STRIP_ELEMS,
    _WORKERS,
    _box_sum,
    _chunks,
    _halves,
    _prefix_rows,
    _prefix_tasks,
    _stats_tasks,
)
from .pictures import _INFERNO_ANCHORS, INFERNO, heatmap, to_rgb8

__all__ = [
    "DEFAULT_THRESHOLDS",
    "INFERNO",
    "METHODS",
    "Match",
    "SearchResult",
    "TemplateError",
    "find_matches",
    "heatmap",
    "lower_is_better",
    "match_template",
    "next_fast_len",
    "parse_scales",
    "refine_matches",
    "resize",
    "search",
    "split_alpha",
    "subpixel_peak",
    "to_gray",
    "to_rgb8",
]

_HOMES = (inputs, windows, spectral, masked, scoring, peaks, _search_module, geometry, pictures)


class _Alias(types.ModuleType):
    """This module's type: setting a name also sets it where the matcher looks it up."""

    def __setattr__(self, name: str, value: object) -> None:
        missing = object()
        old = self.__dict__.get(name, missing)
        if old is not missing:
            for home in _HOMES:
                if home.__dict__.get(name, missing) is old:
                    setattr(home, name, value)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Alias
