"""What an image array is and where it goes: ImageInfo, ImageIOError and the output FORMATS.

Must not import: other convtool modules, PIL, click, rich.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Output format names (as --format takes them) and the file extensions that select them.
FORMATS = {
    "png": (".png",),
    "jpeg": (".jpg", ".jpeg"),
    "tiff": (".tif", ".tiff"),
    "bmp": (".bmp",),
    "webp": (".webp",),
    "npy": (".npy",),
    "gif": (".gif",),
    "pgm": (".pgm",),
    "ppm": (".ppm",),
    "pnm": (".pnm",),
    "pam": (".pam",),
    "pfm": (".pfm",),
}
# Formats that hold several frames (APNG for png, pages for tiff, images one after another for
# the Netpbm formats).
MULTI_FRAME_FORMATS = ("gif", "png", "webp", "tiff", "pgm", "ppm", "pnm", "pam", "pfm")


# Size policy: images declaring more pixels than this are refused before any pixel is decoded
# (a small file can declare a huge size: a decompression bomb). Pillow's own default is
# 89,478,485 (a 9459x9459 RGBA image at 256 MiB); Debian's ImageMagick policy refuses widths or
# heights over 16K and caches images over 128 MP on a 1 GiB disk budget; libvips has no pixel
# cap (10,000,000 per side). 1 gigapixel passes 133 MP panoramas and 400 MP scans, and is
# 3 GB as 8-bit RGB: still a size whose memory the user asked for by name.
DEFAULT_MAX_PIXELS = 1_000_000_000
MAX_PIXELS_ENV = "CONVTOOL_MAX_PIXELS"


class ImageIOError(ValueError):
    """An image could not be read or written; the message is fit for the user."""


def pixel_limit_error(name: str, pixels: int | None, limit: int | None) -> ImageIOError:
    """The error for an image over the pixel limit (``pixels`` None: too large to say)."""
    what = f"has {pixels:,} pixels" if pixels else "is too large"
    return ImageIOError(
        f"{name}: image {what}, over the limit of {limit or 0:,} pixels (raise it "
        f"with --max-pixels N or {MAX_PIXELS_ENV}=N; 0 = no limit)"
    )


@dataclass
class ImageInfo:
    """Where an array came from and how to write it back."""

    format: str = "png"  # lower-case key of FORMATS
    depth: str = "8"  # "8", "16" or "float"
    alpha: bool = False
    source_mode: str = ""
    notes: list[str] = field(default_factory=list)
    icc: bytes | None = None  # ICC colour profile, carried to outputs that can hold one
    dpi: tuple[float, float] | None = None  # pixels per inch (x, y), when the file says
    frames: int = 1  # frames (pages) in the file; read_image returns the first
    name: str = ""  # the file's name in messages

    @property
    def full_scale(self) -> float:
        return {"8": 255.0, "16": 65535.0}.get(self.depth, 1.0)


# Their public home: reprs and tracebacks say convtool.images.ImageIOError, as before the split.
for _cls in (ImageIOError, ImageInfo):
    _cls.__module__ = "convtool.images"
del _cls
