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
    copy).
``ssd-normed``
    ``ssd / sqrt(sum T^2 * sum I^2)``, OpenCV's ``TM_SQDIFF_NORMED``, clamped to [0, 1] as
    OpenCV does without a mask. Lower is better; invariant to a common gain.
``ccorr``
    ``sum T * I``, OpenCV's ``TM_CCORR``: a raw product, higher is better.
``ccoeff``
    ``sum (T - mean T) * (I - mean of the window)``, OpenCV's ``TM_CCOEFF``: the numerator of
    zncc, higher is better.

OpenCV's names are accepted as aliases (``"TM_SQDIFF_NORMED"``, ``"cv2.TM_CCOEFF"``, any
case). :func:`search` reports the raw sums (ssd, ccorr, ccoeff) per (mask-weighted) pixel and
channel, so that scores of different template sizes compare; :func:`match_template` returns
them as OpenCV does.

Degenerate cases are decided, not left to rounding (scores are never NaN or infinite):

=============  ===========================  ==========================  =====================
method         flat template                flat window                 all-zero window
=============  ===========================  ==========================  =====================
zncc           error (OpenCV: all 1;        0 (OpenCV's rule for        0
               scikit-image: all 0)         float32; see below)
ncc            all-zero template: error     its value (no special       0 (as OpenCV)
               (OpenCV: all 0)              case)
ssd-normed     all-zero template: error     its value                   1 (as OpenCV)
               (OpenCV: all 1)
ssd            its value (no special case)  its value                   its value
ccorr          its value                    its value                   0
ccoeff         0 everywhere (as OpenCV)     0                           0
=============  ===========================  ==========================  =====================

* **Flat windows** depend on the data's precision: with float32 data (and integer data, which
  is computed in float32) a window is flat when its summed variance is at most
  ``10 * FLT_EPSILON`` times its sum of squares (OpenCV's rule: below that, float32 rounding
  decides the score). float64 data keeps its precision: the cut-off is ``10 * DBL_EPSILON``
  times the sum of squares about the image's mean, times how much larger the sums are that the
  window's statistics are differences of (image rows / template rows for the running sums,
  sqrt(image pixels) for the FFTs of the masked path). A window of two grey levels (236/237 on
  scikit-image's ``page()``, as float64) scores as scikit-image scores it, not 0.
  scikit-image's own rule is an absolute ``denominator <= eps`` (so its score depends on the
  data's scale); convtool's is relative (scale-invariant, as zncc itself).
* zncc and ncc are clamped to [-1, 1], ssd to >= 0, ssd-normed to [0, 1] (OpenCV clamps
  ``TM_SQDIFF_NORMED`` only without a mask: masked OpenCV returns values above 1, and NaN on
  an all-zero window).

Precision: float64 input gives float64 scores; float32 and integer input float32. zncc,
ccoeff and ssd are computed about the image's channel means (the running sums and the
spectra hold ``I - mean``, and ssd takes the same constant from the template), so data with a
large constant offset (1e15 + a pattern in [0, 1], float64) scores as the pattern alone.
ncc, ccorr and ssd-normed are ill-posed on such data: every window's score is 1 (0 for
ssd-normed) to ~1e-30, the pattern is below float64's resolution of the ratio; use zncc or
ssd there. Values far from 1 (1e-300, 1e300) are brought near 1 by powers of two before
scoring (:func:`convtool.matching.inputs.safe_range`); peaks are picked before the scores
are brought back to the inputs' units.

Masks follow OpenCV's masked definitions (``mask=`` of ``cv2.matchTemplate``): float mask
values are weights, zero-weight pixels are ignored; integer and boolean masks are on/off
(nonzero = 1), as OpenCV's 8-bit masks (a 0/255 mask is not a weight of 255). A template's
alpha channel is a natural mask (:func:`split_alpha`).

Padding: ``pad_input=True`` (:func:`match_template`, :func:`search`; ``find --pad``) gives a
score map the image's size, as scikit-image's ``match_template(pad_input=True)``: the image is
padded (default with 0, ``mode``/``constant_values`` as :func:`numpy.pad`), entry ``[y, x]``
scores the window centred at ``(x, y)``, and windows hanging over the border are scored.

Modules, in the order data flows through them: :mod:`.inputs` (methods, thresholds, the
error, input checks), :mod:`.windows` (running sums and window statistics), :mod:`.spectral`
(FFT correlation), :mod:`.prepared` (the image's spectra and running sums, once),
:mod:`.masked` (weighted score maps), :mod:`.scoring` (plain score maps,
:func:`match_template`), :mod:`.peaks` (local maxima, NMS, sub-pixel peaks,
:func:`find_matches`), :mod:`.search` (scales and angles, :func:`search`). Resizing and
turning templates is :mod:`convtool.geometry`; heatmaps are :mod:`convtool.pictures`.

Must not import: :mod:`convtool.cli`, :mod:`convtool.images`, :mod:`convtool.pictures`,
click, rich, PIL.
"""

from ..geometry import resize, rotate
from .inputs import (
    ALIASES,
    DEFAULT_THRESHOLDS,
    METHODS,
    TemplateError,
    canonical_method,
    lower_is_better,
    mask_weights,
    split_alpha,
    to_gray,
)
from .peaks import Match, find_matches, subpixel_peak
from .scoring import match_template, pad_image
from .search import SearchResult, parse_angles, parse_scales, refine_matches, search

__all__ = [
    "ALIASES",
    "DEFAULT_THRESHOLDS",
    "METHODS",
    "Match",
    "SearchResult",
    "TemplateError",
    "canonical_method",
    "find_matches",
    "lower_is_better",
    "mask_weights",
    "match_template",
    "pad_image",
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
