"""Named kernels and kernel files.

A kernel spec is either a name with optional parameters after a colon (``gaussian:2``,
``box:5,3``, ``motion:9,30``) or the path of a kernel file:

``.txt`` (or any other text file)
    One row per line, numbers separated by spaces and/or commas, ``#`` starts a comment,
    blank lines are ignored. Always 2-D.
``.json``
    ``{"weights": [[...]], "bias": 0.0, "normalize": false}`` or a bare nested list. Weights may be
    2-D ``(kh, kw)``, 3-D ``(kh, kw, C)`` or 4-D ``(kh, kw, Cin, Cout)``; ``bias`` is a number or
    one number per output channel; ``normalize`` divides the weights by their sum as
    ``convtool filter --normalize`` does. ``name`` and ``shape`` keys (as written by
    ``convtool kernels --json``) are accepted; ``shape`` must then match the weights.
``.npy``
    A real numeric array of 2 to 4 dimensions, loaded without unpickling.

A spec is read as a file when its name part is not a named kernel and it exists as a file, ends in
``.txt``/``.json``/``.npy`` or contains a path separator; so ``./sharpen`` reads a file called
``sharpen`` while ``sharpen`` is the named kernel.

Sign conventions (under correlation, the default of ``convtool filter``): ``sobel-x`` is positive
where intensity grows to the right and ``sobel-y`` where it grows downwards, exactly as
``cv2.Sobel`` with ``dx=1`` / ``dy=1``; the Laplacians have a negative centre, as
``cv2.Laplacian``. Derivative kernels are not normalized (OpenCV's weights); ``--normalize``
scales them so that a unit step gives a response of 1.

Layout: :mod:`.types` (Kernel, Magnitude, KernelInfo, KernelError), :mod:`.library` (named
kernels as grids, :func:`list_kernels`), :mod:`.files` (kernel files), :mod:`.spec`
(:func:`parse_kernel`, :func:`separable_factors`). Pure numpy: must not import
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
