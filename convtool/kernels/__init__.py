"""Named kernels and kernel files.

A kernel spec is either a name with optional parameters after a colon (``gaussian:2``,
``box:5,3``, ``motion:9,30``) or the path of a kernel file:

``.txt`` (or any other text file)
    One row per line (or rows separated by ``;``), numbers separated by spaces and/or commas,
    ``#`` starts a comment, blank lines are ignored, a last ``/N`` divides every weight by N,
    an ImageMagick ``WxH:`` header gives the shape of row-major values. Always 2-D. Read a line
    at a time: a line over :data:`.files.MAX_TEXT_LINE_BYTES` is refused before more is read.
``.json``
    ``{"weights": [[...]], "bias": 0.0, "normalize": false}`` or a bare nested list. Weights may be
    2-D ``(kh, kw)``, 3-D ``(kh, kw, C)`` or 4-D ``(kh, kw, Cin, Cout)``; ``bias`` is a number or
    one number per output channel; ``normalize`` divides the weights by their sum as
    ``convtool filter --normalize`` does. ``name`` and ``shape`` keys (as written by
    ``convtool kernels --json``) are accepted; ``shape`` must then match the weights.
``.npy``
    A real numeric array of 2 to 4 dimensions, loaded without unpickling.

An inline kernel (a *literal*) uses the text grammar on one line: ``1 2 1; 2 4 2; 1 2 1 /16``,
``3x3: 1,2,1 2,4,2 1,2,1``, or a JSON nested list ``[[1,2,1]]`` (see :mod:`.text`).

The rule, in order: the part before ``:`` is a kernel name: the named kernel; the spec starts with
a digit, a sign, a point, ``[`` or ``WxH:`` and does not end in ``.txt``/``.json``/``.npy``: a
literal; else a file path. So ``./sharpen`` reads a file called ``sharpen`` while ``sharpen`` is
the named kernel, and ``./121`` reads a file while ``121`` is the 1x1 kernel 121.

Sign conventions (under correlation, the default of ``convtool filter``): ``sobel-x`` is positive
where intensity grows to the right and ``sobel-y`` where it grows downwards, exactly as
``cv2.Sobel`` with ``dx=1`` / ``dy=1``; the Laplacians have a negative centre, as
``cv2.Laplacian``. Derivative kernels are not normalized (OpenCV's weights); ``--normalize``
scales them so that a unit step gives a response of 1.

Layout: :mod:`.types` (Kernel, Magnitude, KernelInfo, KernelError), :mod:`.library` (named
kernels as grids, :func:`list_kernels`), :mod:`.files` (kernel files), :mod:`.spec`
(:func:`parse_kernel`, :func:`parse_literal`, :func:`separable_factors`), :mod:`.text` (the
one text grammar of files and literals). Pure numpy: must not import
convtool.engine, convtool.images, click, rich or PIL.
"""

from .library import (
    CENTRAL_DIFFERENCE,
    EMBOSS,
    IDENTITY,
    LAPLACIAN_4,
    LAPLACIAN_8,
    LUMA_601,
    LUMA_709,
    OUTLINE,
    PREWITT_SMOOTHING,
    PREWITT_X,
    PREWITT_Y,
    SCHARR_SMOOTHING,
    SCHARR_X,
    SCHARR_Y,
    SEPIA,
    SHARPEN,
    SOBEL_SMOOTHING,
    SOBEL_X,
    SOBEL_Y,
    gaussian_1d,
    gaussian_kernel,
    list_kernels,
)
from .spec import parse_kernel, separable_factors
from .types import (
    KERNEL_FILE_SUFFIXES,
    MAX_KERNEL_SIDE,
    MAX_KERNEL_WEIGHTS,
    Kernel,
    KernelError,
    KernelInfo,
    Magnitude,
)

__all__ = [
    # Named kernel grids
    "CENTRAL_DIFFERENCE",
    "EMBOSS",
    "IDENTITY",
    "KERNEL_FILE_SUFFIXES",
    "LAPLACIAN_4",
    "LAPLACIAN_8",
    "LUMA_601",
    "LUMA_709",
    "MAX_KERNEL_SIDE",
    "MAX_KERNEL_WEIGHTS",
    "OUTLINE",
    "PREWITT_SMOOTHING",
    "PREWITT_X",
    "PREWITT_Y",
    "SCHARR_SMOOTHING",
    "SCHARR_X",
    "SCHARR_Y",
    "SEPIA",
    "SHARPEN",
    "SOBEL_SMOOTHING",
    "SOBEL_X",
    "SOBEL_Y",
    "Kernel",
    "KernelError",
    "KernelInfo",
    "Magnitude",
    "gaussian_1d",
    "gaussian_kernel",
    "list_kernels",
    "parse_kernel",
    "separable_factors",
]
