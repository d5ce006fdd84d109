"""Reading an image reduced for display: the terminal's few thousand pixels of a huge image.

Owns :func:`read_reduced`, which ``convtool show`` uses. A 217-megapixel file decoded to
float64 for a terminal 200 characters wide took 15-17 GB; here Pillow decodes it in its own
8-bit mode (JPEG at 1/2 to 1/8 of the size already, through ``draft``), ``Image.reduce``
averages whole blocks of pixels, and only the small result becomes a float array. A baseline
strip TIFF (8/16-bit grey, grey+alpha, RGB, RGBA; uncompressed or deflate) is summed from the
open file a few MB of rows at a time by :mod:`.tiffstrips` instead: Pillow's libtiff decoder
would fill a full-size 4-bytes-a-pixel buffer first. Smaller images, other modes and ``.npy``
arrays are read as :func:`convtool.images.read_image` reads them.
Must not import: convtool.engine, matching or cli, click, rich.
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image

from .._npy import NPY_MAGIC
from . import tiffstrips
from .decode import (
    _exif_turn,
    _normalized,
    _orientation,
    _pillow_errors,
    _read_error,
    decode_image,
    open_image,
    source_info,
)
from .info import ImageInfo

__all__ = ["read_reduced"]

# Classic TIFF in either byte order (BigTIFF stays with Pillow).
_STRIP_TIFF = (b"II*\x00", b"MM\x00*")
# Modes Image.reduce averages as they are (not 1-bit, palette or 16-bit: those are read whole).
_REDUCIBLE = ("L", "LA", "RGB", "RGBA", "I", "F", "CMYK", "YCbCr")


def read_reduced(
    source: str | os.PathLike[str],
    max_width: int | None,
    max_height: int | None = None,
    stdin: BinaryIO | None = None,
) -> tuple[np.ndarray, ImageInfo, tuple[int, int]]:
    """The image at ``source`` reduced by a whole factor to at least ``max_width`` x
    ``max_height`` pixels (never smaller: the caller fits it exactly), its info, and the
    file's own ``(height, width)``.

    Examples
    --------
    >>> import tempfile
    >>> from PIL import Image
    >>> path = os.path.join(tempfile.mkdtemp(), "big.png")
    >>> Image.new("RGB", (400, 300), (255, 0, 0)).save(path)
    >>> values, info, size = read_reduced(path, 100)
    >>> values.shape, size, float(values[0, 0, 0])
    ((75, 100, 3), (300, 400), 1.0)
    """
    name = str(source)
    if name == "-":
        stream = stdin if stdin is not None else sys.stdin.buffer
        data, name = stream.read(), "<stdin>"
        if data[:4] in _STRIP_TIFF:
            found = _strip_tiff(io.BytesIO(data), name, max_width, max_height)
            if found is not None:
                return found
    else:
        try:
            with open(source, "rb") as fh:  # a TIFF's strips are read from the open file
                if fh.read(4) in _STRIP_TIFF:
                    fh.seek(0)
                    found = _strip_tiff(fh, name, max_width, max_height)
                    if found is not None:
                        return found
            data = Path(source).read_bytes()
        except OSError as exc:
            raise _read_error(name, exc) from None
    if data.startswith(NPY_MAGIC):
        values, info = decode_image(data, name)
        return values, info, values.shape[:2]
    img = open_image(data, name)
    width, height = img.size
    turned, bounds = _orientation(img), (max_width, max_height)
    if turned in (5, 6, 7, 8):  # stored a quarter turn away from how it is shown
        max_width, max_height = max_height, max_width
    factor = _factor((width, height), max_width, max_height)
    if factor < 2 or img.mode not in _REDUCIBLE:
        values, info = decode_image(data, name)
        return values, info, values.shape[:2]
    info = source_info(img, name)
    with _pillow_errors(name, data[:4]):
        img.draft(img.mode, (width // factor, height // factor))  # JPEG: a smaller DCT scale
        img.load()
        if turned != 1 and _orientation(img) == 1:  # Pillow turned it as it loaded (TIFF)
            (width, height), turned, (max_width, max_height) = img.size, 1, bounds
        step = _factor(img.size, max_width, max_height)
        small = img.reduce(step) if step > 1 else img
        if small.mode in ("CMYK", "YCbCr"):
            small = small.convert("RGB")
        if small.mode == "I":
            small = small.convert("F")
    if small.mode == "F":
        values = np.asarray(small, dtype=np.float32)
        info.depth = "float"
    else:
        buffer = io.BytesIO()
        small.save(buffer, "PNG", compress_level=0)
        values, shown = decode_image(buffer.getvalue(), name)
        info.depth, info.alpha = shown.depth, shown.alpha
    return (
        _exif_turn(values, turned),
        info,
        ((width, height) if turned in (5, 6, 7, 8) else (height, width)),
    )


def _strip_tiff(fh: BinaryIO, name: str, max_width: int | None, max_height: int | None):
    """:func:`read_reduced`'s answer for a strip TIFF :mod:`.tiffstrips` reads, else ``None``.

    Pillow reads the header (the pixel limit, orientation, ICC profile, DPI, pages) without
    decoding; the pixels are summed a few MB of rows at a time.
    """
    with _pillow_errors(name, b"II*\x00"):
        img = Image.open(fh)  # the pixel limit applies here
        fh.seek(0)
        layout = tiffstrips.read_layout(fh)
        if layout is None:
            return None
        width, height = layout.width, layout.height  # as stored (Pillow's size is as shown)
        turned = _orientation(img)
        if turned in (5, 6, 7, 8):  # stored a quarter turn away from how it is shown
            max_width, max_height = max_height, max_width
        if sorted(img.size) != sorted((width, height)):
            return None
        factor = _factor((width, height), max_width, max_height)
        if factor < 2:
            return None
        info = source_info(img, name)
        pixels = tiffstrips.reduce_strips(fh, layout, factor)
    info.depth, info.alpha = str(layout.bits), layout.alpha
    return (
        _exif_turn(_normalized(pixels, info.full_scale), turned),
        info,
        ((width, height) if turned in (5, 6, 7, 8) else (height, width)),
    )


def _factor(size: tuple[int, int], max_width: int | None, max_height: int | None) -> int:
    """The largest whole factor that keeps ``size`` (width, height) at least the bounds
    (``None``: no bound on that side)."""
    bounds = zip(size, (max_width, max_height), strict=True)
    factors = [n // max(1, bound) for n, bound in bounds if bound]
    return max(1, min(factors, default=1))
