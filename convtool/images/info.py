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
}
# Formats that hold several frames (APNG for png, pages for tiff).
MULTI_FRAME_FORMATS = ("gif", "png", "webp", "tiff")


class ImageIOError(ValueError):
    """An image could not be read or written; the message is fit for the user."""


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
