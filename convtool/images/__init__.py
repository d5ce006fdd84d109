"""Image and array I/O: the only module that talks to Pillow.

Pixel values are handed to the engine as floats in *normalized units*: 8-bit and 16-bit images
are divided by 255 or 65535, so 0.0 is black and 1.0 is white at any depth (``--bias 0.5`` is
mid-grey for both). Float images (Pillow mode ``F``, ``.npy`` float arrays) keep their raw values,
untouched on the way in and out. Integer ``.npy`` arrays are normalized like images of their depth.

Outputs are encoded in memory first, then written to a temporary file beside the target and
renamed over it, so a failed run never leaves a partial file nor clobbers an existing one.

Layout: :mod:`.info` (ImageInfo, ImageIOError, FORMATS), :mod:`.decode` (reading, probing, EXIF
orientation), :mod:`.encode` (value mapping and encoding), :mod:`.write` (the one atomic
writer), :mod:`.draw` (annotations). The only package that talks to Pillow; it must not import
click, rich, convtool.cli, convtool.engine or the matcher.
"""

import importlib
from typing import TYPE_CHECKING

# Names load on first use (PEP 562): error types and the writer do not need Pillow, so a
# command that only reports an ImageIOError or writes bytes does not import it.
_EXPORTS = {
    "decode": ("decode_image", "probe_image", "read_image", "read_pixels", "set_max_pixels"),
    "draw": ("draw_boxes",),
    "encode": (
        "encode_image",
        "format_for_path",
        "save_stored",
        "stored_layout",
        "to_output_array",
    ),
    "info": ("FORMATS", "ImageInfo", "ImageIOError"),
    "write": ("atomic_path", "write_bytes"),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from .decode import decode_image, probe_image, read_image, read_pixels, set_max_pixels
    from .draw import draw_boxes
    from .encode import (
        encode_image,
        format_for_path,
        save_stored,
        stored_layout,
        to_output_array,
    )
    from .info import FORMATS, ImageInfo, ImageIOError
    from .write import atomic_path, write_bytes

__all__ = [
    "FORMATS",
    "ImageIOError",
    "ImageInfo",
    "atomic_path",
    "decode_image",
    "draw_boxes",
    "encode_image",
    "format_for_path",
    "probe_image",
    "read_image",
    "read_pixels",
    "save_stored",
    "set_max_pixels",
    "stored_layout",
    "to_output_array",
    "write_bytes",
]
