"""Template matching ("find Waldo"): score maps, peak picking with NMS, multi-scale search.

Everything here is pure numpy. The score map of :func:`match_template` has shape
``(H - h + 1, W - w + 1)`` and holds the score of the window whose *top-left* corner is at that
position, exactly like OpenCV's ``cv2.matchTemplate``:

``zncc``
    Zero-mean normalized cross-correlation, OpenCV's ``TM_CCOEFF_NORMED``. For colour, each
    channel's mean is removed separately and numerator and denominator are summed over the
    channels. Range [-1, 1], higher is better, invariant to gain and offset of the image.
``ncc``
    Normalized cross-correlation without mean removal, OpenCV's ``TM_CCORR_NORMED``. Range
    [-1, 1] ([0, 1] for non-negative images), higher is better; invariant to gain only.
``ssd``
    Sum of squared differences, OpenCV's ``TM_SQDIFF``. **Lower is better** (0 is a perfect
    copy). :func:`search` reports it per pixel and channel (the mean squared difference, MSE) so
    that scores of different template sizes compare.

Degenerate cases are decided, not left to rounding:

* a window with no variance (flat) scores 0 for ``zncc`` (OpenCV's rule: the window's summed
  variance is at most ``10 * FLT_EPSILON`` times its sum of squares), and an all-black window
  scores 0 for ``ncc``; scores are never NaN or infinite;
* ``zncc`` is clamped to [-1, 1], ``ssd`` to >= 0;
* a template with no contrast is an error for ``zncc`` (OpenCV silently scores every window 1),
  an all-zero template is an error for ``ncc``.

Masks follow OpenCV's masked definitions (``mask=`` of ``cv2.matchTemplate`` with a float32
mask): mask values are weights, zero-weight pixels are ignored. A template's alpha channel is a
natural mask (:func:`split_alpha`).

Modules, in the order data flows through them: :mod:`.inputs` (methods, thresholds, the
error, input checks), :mod:`.windows` (running sums and window statistics), :mod:`.spectral`
(FFT correlation), :mod:`.scoring` (plain score maps, :func:`match_template`),
:mod:`.masked` (weighted score maps), :mod:`.peaks` (local maxima, NMS, sub-pixel peaks,
:func:`find_matches`), :mod:`.search` (scales and angles, :func:`search`). Resizing and turning
templates is :mod:`convtool.geometry`; heatmaps are :mod:`convtool.pictures`.

Must not import: :mod:`convtool.cli`, :mod:`convtool.images`, :mod:`convtool.pictures`,
click, rich, PIL.
"""

from ..geometry import resize, rotate
from .inputs import (
    DEFAULT_THRESHOLDS,
    METHODS,
    TemplateError,
    lower_is_better,
    split_alpha,
    to_gray,
)
from .peaks import Match, find_matches, subpixel_peak
from .scoring import match_template
from .search import SearchResult, parse_angles, parse_scales, refine_matches, search

__all__ = [
    "DEFAULT_THRESHOLDS",
    "METHODS",
    "Match",
    "SearchResult",
    "TemplateError",
    "find_matches",
    "lower_is_better",
    "match_template",
    "parse_angles",
    "parse_scales",
    "refine_matches",
    "resize",
    "rotate",
    "search",
    "split_alpha",
    "subpixel_peak",
    "to_gray",
]
