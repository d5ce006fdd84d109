"""Image and array I/O: the only module that talks to Pillow.

Pixel values are handed to the engine as floats in *normalized units*: 8-bit and 16-bit images
are divided by 255 or 65535, so 0.0 is black and 1.0 is white at any depth (``--bias 0.5`` is
mid-grey for both). Float images (Pillow mode ``F``, ``.npy`` float arrays) keep their raw values,
untouched on the way in and out. Integer ``.npy`` arrays are normalized like images of their depth.

Outputs are encoded in memory first, then written to a temporary file beside the target and
renamed over it, so a failed run never leaves a partial file nor clobbers an existing one.
Links are written through to their target, which keeps its permission bits; devices, FIFOs and
sockets are written into, never replaced (see :mod:`.write`).

Layout: :mod:`.info` (ImageInfo, ImageIOError, FORMATS), :mod:`.decode` (reading, probing, EXIF
orientation), :mod:`.encode` (value mapping and encoding), :mod:`.write` (the one atomic
writer), :mod:`.draw` (annotations). The only package that talks to Pillow; it must not import
click, rich, convtool.cli, convtool.engine or the matcher.
"""

from .decode import decode_image, probe_image, read_image
from .draw import draw_boxes
from .encode import encode_image, format_for_path, to_output_array
from .info import FORMATS, ImageInfo, ImageIOError
from .write import write_bytes, write_outputs

__all__ = [
    "FORMATS",
    "ImageIOError",
    "ImageInfo",
    "decode_image",
    "draw_boxes",
    "encode_image",
    "format_for_path",
    "probe_image",
    "read_image",
    "to_output_array",
    "write_bytes",
    "write_outputs",
]
