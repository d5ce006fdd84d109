"""Image and array I/O: the only module that talks to Pillow.

Pixel values are handed to the engine as floats in *normalized units*: 8-bit and 16-bit images
are divided by 255 or 65535, so 0.0 is black and 1.0 is white at any depth (``--bias 0.5`` is
mid-grey for both). Float images (Pillow mode ``F``, ``.npy`` float arrays) keep their raw values,
untouched on the way in and out. Integer ``.npy`` arrays are normalized like images of their depth.

Outputs are encoded in memory first, then written to a temporary file beside the target and
renamed over it, so a failed run never leaves a partial file nor clobbers an existing one.
Links are written through to their target, which keeps its permission bits; devices, FIFOs and
sockets are written into, never replaced (see :mod:`.write`).
A ``.npy`` filled band by band is written into that temporary file (:func:`atomic_path`).

Layout: :mod:`.info` (ImageInfo, ImageIOError, FORMATS), :mod:`.decode` (reading, probing, EXIF
orientation, 16-bit colour at full depth, the pixel limit), :mod:`.pixels` (:func:`read_pixels`
in the file's own type for the banded path), :mod:`.frames` (every frame or page, and timing),
:mod:`.encode` (value mapping, output-path checks, choice of writer), :mod:`.depths` (which
depths each output format holds, for ``--depth``), :mod:`.png` and
:mod:`.tiff` (our own PNG/APNG and integer TIFF writers), :mod:`.netpbm` (PBM/PGM/PPM/PAM/PFM),
:mod:`.stream` (many images one after another on a pipe, raw frames), :mod:`.write` (the one atomic
writer), :mod:`.draw` (annotations). The only package that talks to Pillow; it must not import
click, rich, convtool.cli, convtool.engine or the matcher.
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

# Names load on first use (PEP 562): error types and the writer do not need Pillow, so a
# command that only reports an ImageIOError or writes bytes does not import it.
_EXPORTS = {
    "decode": ("decode_image", "probe_image", "read_image", "set_max_pixels"),
    "pixels": ("read_pixels",),
    "draw": ("draw_boxes",),
    "encode": ("DEFAULT_JPEG_QUALITY", "Timing", "check_output_path", "encode_frames",
               "encode_image", "encode_stored", "format_for_path", "layout_stored", "save_stored",
               "stored_in_place", "stored_layout", "to_output_array"),
    "frames": ("Frames", "decode_frames", "parse_frame_spec", "read_frames"),
    "info": ("FORMATS", "MULTI_FRAME_FORMATS", "ImageInfo", "ImageIOError"),
    "write": ("atomic_path", "write_bytes", "write_outputs"),
    "stream": ("RawLayout", "StreamFrame", "StreamTruncated", "encode_frame", "iter_frames",
               "write_frames"),
}  # fmt: skip
__getattr__, __dir__ = lazy_exports(
    __name__, globals(), _EXPORTS, {"DEFAULT_PNG_LEVEL": ("png", "DEFAULT_LEVEL")}
)


if TYPE_CHECKING:
    from .decode import decode_image, probe_image, read_image, set_max_pixels
    from .draw import draw_boxes
    from .encode import (
        DEFAULT_JPEG_QUALITY,
        Timing,
        check_output_path,
        encode_frames,
        encode_image,
        encode_stored,
        format_for_path,
        layout_stored,
        save_stored,
        stored_in_place,
        stored_layout,
        to_output_array,
    )
    from .frames import Frames, decode_frames, parse_frame_spec, read_frames
    from .info import FORMATS, MULTI_FRAME_FORMATS, ImageInfo, ImageIOError
    from .pixels import read_pixels
    from .png import DEFAULT_LEVEL as DEFAULT_PNG_LEVEL
    from .stream import (
        RawLayout,
        StreamFrame,
        StreamTruncated,
        encode_frame,
        iter_frames,
        write_frames,
    )
    from .write import atomic_path, write_bytes, write_outputs

__all__ = [
    "DEFAULT_JPEG_QUALITY",
    "DEFAULT_PNG_LEVEL",
    "FORMATS",
    "MULTI_FRAME_FORMATS",
    "Frames",
    "ImageIOError",
    "ImageInfo",
    "RawLayout",
    "StreamFrame",
    "StreamTruncated",
    "Timing",
    "atomic_path",
    "check_output_path",
    "decode_frames",
    "decode_image",
    "draw_boxes",
    "encode_frame",
    "encode_frames",
    "encode_image",
    "encode_stored",
    "format_for_path",
    "iter_frames",
    "layout_stored",
    "parse_frame_spec",
    "probe_image",
    "read_frames",
    "read_image",
    "read_pixels",
    "save_stored",
    "set_max_pixels",
    "stored_in_place",
    "stored_layout",
    "to_output_array",
    "write_bytes",
    "write_frames",
    "write_outputs",
]
