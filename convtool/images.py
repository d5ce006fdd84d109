"""Image and array I/O: the only module that talks to Pillow.

Pixel values are handed to the engine as floats in *normalized units*: 8-bit and 16-bit images
are divided by 255 or 65535, so 0.0 is black and 1.0 is white at any depth (``--bias 0.5`` is
mid-grey for both). Float images (Pillow mode ``F``, ``.npy`` float arrays) keep their raw values,
untouched on the way in and out. Integer ``.npy`` arrays are normalized like images of their depth.

Outputs are encoded in memory first, then written to a temporary file beside the target and
renamed over it, so a failed run never leaves a partial file nor clobbers an existing one.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

from ._npy import NPY_MAGIC, load_npy

__all__ = [
    "FORMATS",
    "ImageIOError",
    "ImageInfo",
    "decode_image",
    "encode_image",
    "read_image",
    "to_output_array",
    "write_bytes",
]

# Output format names (as --format takes them) and the file extensions that select them.
FORMATS = {
    "png": (".png",),
    "jpeg": (".jpg", ".jpeg"),
    "tiff": (".tif", ".tiff"),
    "bmp": (".bmp",),
    "webp": (".webp",),
    "npy": (".npy",),
}
_PIL_FORMAT = {"png": "PNG", "jpeg": "JPEG", "tiff": "TIFF", "bmp": "BMP", "webp": "WEBP"}


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

    @property
    def full_scale(self) -> float:
        return {"8": 255.0, "16": 65535.0}.get(self.depth, 1.0)


def _sniff_format(data: bytes) -> str | None:
    if data.startswith(NPY_MAGIC):
        return "npy"
    return None


def _png_is_16bit_colour(data: bytes) -> bool:
    # IHDR: bit depth at byte 24, colour type at 25 (2 = RGB, 6 = RGBA).
    return (
        data[:8] == b"\x89PNG\r\n\x1a\n"
        and len(data) > 25
        and data[24] == 16
        and data[25]
        in (
            2,
            6,
        )
    )


def _normalized(arr: np.ndarray, full_scale: int) -> np.ndarray:
    """Integers to float32 in [0, 1] in one pass (no float copy of the integers first)."""
    return np.divide(arr, np.float32(full_scale), dtype=np.float32)


def _check_npy_layout(name: str, shape: tuple[int, ...], dtype: np.dtype) -> None:
    if dtype.kind not in "uifb":
        raise ImageIOError(f"{name}: .npy must hold a real numeric array, got dtype {dtype}")
    if len(shape) not in (2, 3) or 0 in shape:
        raise ImageIOError(f"{name}: .npy array must be (H, W) or (H, W, C), got {shape}")


def _decode_npy(data: bytes, name: str) -> tuple[np.ndarray, ImageInfo]:
    arr = load_npy(data, name, ImageIOError)
    _check_npy_layout(name, arr.shape, arr.dtype)
    info = ImageInfo(format="npy", depth="float", alpha=False, source_mode=f"npy:{arr.dtype}")
    if arr.dtype == np.uint8:
        info.depth = "8"
        return _normalized(arr, 255), info
    if arr.dtype == np.uint16:
        info.depth = "16"
        return _normalized(arr, 65535), info
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise ImageIOError(f"{name}: .npy array holds NaN or infinite values")
    if arr.dtype != np.float64:
        arr = arr.astype(np.float32)
    return arr, info


@contextlib.contextmanager
def _pillow_errors(name: str) -> Iterator[None]:
    """Turn what Pillow raises on bad bytes into one-line ImageIOErrors."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageIOError(
            f"{name}: image is too large (over Pillow's decompression-bomb limit of "
            f"{Image.MAX_IMAGE_PIXELS} pixels)"
        ) from None
    except Image.UnidentifiedImageError:
        raise ImageIOError(f"{name}: not an image Pillow can read") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageIOError(f"{name}: truncated or corrupt image ({exc})") from None


# Modes handed to numpy as they are; everything else is converted by _working_mode.
_NATIVE_MODES = ("L", "LA", "RGB", "RGBA", "F", "I", "I;16", "I;16L", "I;16B", "I;16N")
_MODE_CHANNELS = {"LA": 2, "RGB": 3, "RGBA": 4}


def _working_mode(mode: str, palette_alpha: bool) -> str:
    """The Pillow mode an image is converted to before it becomes an array."""
    if mode in _NATIVE_MODES:
        return mode
    if mode in ("P", "PA"):
        return "RGBA" if (mode == "PA" or palette_alpha) else "RGB"
    if mode == "1":
        return "L"
    if mode == "La":
        return "LA"
    # CMYK, YCbCr, LAB, HSV, RGBX, RGBa, ...: colour, with alpha only when the mode ends in it.
    return "RGBA" if mode.endswith(("A", "a")) else "RGB"


def _orientation(img: Image.Image) -> int:
    """The EXIF orientation tag (1: as stored; 2-8: flipped and/or turned), 1 when absent."""
    try:
        value = img.getexif().get(0x0112, 1)
    except Exception:  # a damaged EXIF block must not stop the pixels from loading
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def decode_image(data: bytes, name: str = "<stdin>") -> tuple[np.ndarray, ImageInfo]:
    """Decode image bytes (any format Pillow reads, or ``.npy``) to a float array.

    Examples
    --------
    >>> buf = encode_image(np.full((2, 3), 0.5, np.float32), ImageInfo(), "png")
    >>> arr, info = decode_image(buf)
    >>> arr.shape, info.format, info.depth, round(float(arr[0, 0]), 3)
    ((2, 3), 'png', '8', 0.502)
    """
    if not data:
        raise ImageIOError(f"{name}: empty input (0 bytes)")
    if _sniff_format(data) == "npy":
        return _decode_npy(data, name)
    with _pillow_errors(name):
        img = Image.open(io.BytesIO(data))
        img.load()
        source_format = img.format
        if _orientation(img) != 1:
            # Pixels as every viewer shows them (OpenCV's imread does the same): outputs carry
            # no EXIF, so an unrotated result would look turned against its input.
            img = ImageOps.exif_transpose(img)
            img.format = source_format
    fmt = (img.format or "png").lower()
    fmt = {"jpeg": "jpeg", "mpo": "jpeg", "tiff": "tiff"}.get(fmt, fmt)
    info = ImageInfo(format=fmt if fmt in FORMATS else "png", source_mode=img.mode)
    mode = img.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        arr = np.asarray(img)
        if mode == "I" and (arr.min() < 0 or arr.max() > 65535):
            info.depth = "float"
            return arr.astype(np.float32), info
        info.depth = "16"
        return _normalized(arr, 65535), info
    if mode == "F":
        info.depth = "float"
        return np.asarray(img, dtype=np.float32).copy(), info
    if _png_is_16bit_colour(data):
        info.notes.append(
            "Pillow decodes 16-bit colour PNG at 8 bits per channel; the output is 8-bit"
        )
    target = _working_mode(mode, "transparency" in img.info)
    if target != mode:
        img = img.convert(target)
    info.alpha = img.mode in ("LA", "RGBA")
    arr = _normalized(np.asarray(img), 255)
    return arr, info


def read_image(source: str | os.PathLike[str], stdin: BinaryIO | None = None):
    """Read an image file, or standard input when ``source`` is ``"-"``."""
    if str(source) == "-":
        stream = stdin if stdin is not None else sys.stdin.buffer
        return decode_image(stream.read(), "<stdin>")
    path = Path(source)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _read_error(str(source), exc) from None
    return decode_image(data, str(source))


def _read_error(name: str, exc: OSError) -> ImageIOError:
    if isinstance(exc, FileNotFoundError):
        return ImageIOError(f"{name}: no such file")
    if isinstance(exc, IsADirectoryError):
        return ImageIOError(f"{name}: is a directory, not an image")
    return ImageIOError(f"{name}: cannot read ({exc.strerror or exc})")


def format_for_path(path: str, fallback: str | None = None) -> str:
    """Output format from a file name's extension (or ``fallback`` when it has none we know)."""
    suffix = Path(path).suffix.lower()
    for fmt, exts in FORMATS.items():
        if suffix in exts:
            return fmt
    if fallback is not None:
        return fallback
    known = ", ".join(e for exts in FORMATS.values() for e in exts)
    raise ImageIOError(
        f"{path}: cannot tell the output format from the extension {suffix or '(none)'!r} "
        f"(use one of {known}, or --format)"
    )


def to_output_array(values: np.ndarray, *, depth: str, mapping: str = "clip") -> np.ndarray:
    """Map computed values to the stored type.

    ``mapping`` is ``clip`` (values outside [0, 1] are clipped), ``abs`` (absolute value, then
    clip: edge magnitudes), ``rescale`` (min..max stretched to the full range; a flat image maps
    to 0) or ``none`` (only for float output). Integer depths are rounded half to even.

    Examples
    --------
    >>> to_output_array(np.array([-0.5, 0.25, 2.0]), depth="8", mapping="clip")
    array([  0,  64, 255], dtype=uint8)
    >>> to_output_array(np.array([-0.5, 0.25, 2.0]), depth="8", mapping="abs")
    array([128,  64, 255], dtype=uint8)
    >>> to_output_array(np.array([-0.5, 0.25, 2.0]), depth="8", mapping="rescale")
    array([  0,  76, 255], dtype=uint8)
    """
    work = np.asarray(values)
    if mapping == "abs":
        work = np.abs(work)
    elif mapping == "rescale":
        lo, hi = float(work.min()), float(work.max())
        work = (work - lo) / (hi - lo) if hi > lo else np.zeros_like(work)
    elif mapping not in ("clip", "none"):
        raise ImageIOError(f"unknown value mapping {mapping!r}")
    if depth == "float":
        return work.astype(np.float32) if work.dtype != np.float64 else work
    scale = 255.0 if depth == "8" else 65535.0
    dtype = np.uint8 if depth == "8" else np.uint16
    out = np.clip(work, 0.0, 1.0)  # a new array: the caller's values are not touched
    np.multiply(out, scale, out=out)
    return np.rint(out, out=out).astype(dtype)


def encode_image(
    values: np.ndarray, info: ImageInfo, fmt: str, *, mapping: str | None = None
) -> bytes:
    """Encode computed values as ``fmt`` bytes with the depth of ``info`` where ``fmt`` allows.

    ``.npy`` keeps float values as they are (unless ``mapping`` asks for ``abs``/``rescale``);
    image formats store integers, clipped by default.
    """
    values = np.asarray(values)
    if values.ndim == 3 and values.shape[2] == 1:
        values = values[:, :, 0]
    channels = 1 if values.ndim == 2 else values.shape[2]
    if fmt == "npy":
        if info.depth == "float":
            arr = to_output_array(values, depth="float", mapping=mapping or "none")
        else:
            arr = to_output_array(values, depth=info.depth, mapping=mapping or "clip")
        buf = io.BytesIO()
        np.save(buf, arr, allow_pickle=False)
        return buf.getvalue()
    if fmt not in _PIL_FORMAT:
        raise ImageIOError(f"unknown output format {fmt!r} (choose from {', '.join(FORMATS)})")
    if channels not in (1, 2, 3, 4):
        raise ImageIOError(
            f"cannot store {channels} channels as {fmt.upper()} (1 to 4 channels); "
            "write .npy instead"
        )
    mapping = mapping or "clip"
    depth = info.depth
    if depth == "float":
        # Float sources (TIFF 'F') stay float where the format can hold it.
        if fmt == "tiff" and channels == 1:
            arr = to_output_array(
                values, depth="float", mapping=mapping if mapping != "clip" else "none"
            )
            return _pil_save(Image.fromarray(arr.astype(np.float32)), fmt)
        depth = "16" if (channels == 1 and fmt in ("png", "tiff")) else "8"
    if depth == "16" and not (channels == 1 and fmt in ("png", "tiff")):
        depth = "8"  # Pillow stores 16 bits only for single-channel PNG and TIFF
    if fmt == "jpeg" and channels in (2, 4):
        raise ImageIOError(
            "JPEG cannot store an alpha channel; write PNG, WebP or TIFF, or use --alpha drop"
        )
    arr = to_output_array(values, depth=depth, mapping=mapping)
    # Pillow infers the mode from dtype and shape: uint16 2-D is I;16, uint8 gives L/LA/RGB/RGBA.
    img = Image.fromarray(np.ascontiguousarray(arr))
    if fmt == "bmp" and channels == 2:
        img = img.convert("RGBA")
    return _pil_save(img, fmt)


def _pil_save(img: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    # JPEG is lossy by nature (quality 95); WebP can be lossless, so it is.
    options: dict[str, object] = {"quality": 95} if fmt == "jpeg" else {}
    if fmt == "webp":
        options.update(lossless=True, exact=True)  # exact: keep RGB under transparent pixels
    if fmt == "png":
        # zlib level 4, not Pillow's 6: on smooth (filtered) 4K images level 6 took 2.4 s
        # against 0.85 s for a file 6% larger; noisy images barely differ (1.0 s either way).
        options["compress_level"] = 4
    try:
        img.save(buf, format=_PIL_FORMAT[fmt], **options)
    except (OSError, ValueError, KeyError) as exc:
        raise ImageIOError(f"cannot encode {img.mode} image as {fmt.upper()} ({exc})") from None
    return buf.getvalue()


def write_bytes(data: bytes, dest: str | os.PathLike[str], stdout: BinaryIO | None = None) -> None:
    """Write ``data`` to ``dest`` atomically (temp file in the same directory, then rename).

    ``"-"`` writes to standard output.
    """
    if str(dest) == "-":
        stream = stdout if stdout is not None else sys.stdout.buffer
        # A buffered write into a pipe whose reader has gone can report a short count instead
        # of raising; keep writing so that the closed pipe surfaces as BrokenPipeError.
        view = memoryview(data)
        while view:
            written = stream.write(view)
            if not written:
                raise BrokenPipeError("short write to standard output")
            view = view[written:]
        stream.flush()
        return
    path = Path(dest)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise ImageIOError(f"{dest}: output directory {str(parent)!r} does not exist")
    if path.is_dir():
        raise ImageIOError(f"{dest}: is a directory")
    try:
        fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.", suffix=".part")
    except OSError as exc:
        raise ImageIOError(f"{dest}: cannot write ({exc.strerror or exc})") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise ImageIOError(f"{dest}: cannot write ({exc.strerror or exc})") from None
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def draw_boxes(
    rgb: np.ndarray,
    boxes: list[tuple[int, int, int, int, str]],
    *,
    color: tuple[int, int, int] = (255, 0, 0),
) -> np.ndarray:
    """Draw rectangles ``(x, y, w, h, label)`` on an 8-bit RGB array; returns a new array."""
    img = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8))
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    width = max(1, round(min(img.size) / 300))
    for x, y, w, h, label in boxes:
        draw.rectangle([x, y, x + w - 1, y + h - 1], outline=color, width=width)
        if label:
            ty = y - 12 if y >= 12 else y + h + 1
            draw.text((x + 1, ty), label, fill=color, font=font)
    return np.asarray(img)


def probe_image(path: str | os.PathLike[str]) -> tuple[int, int, int]:
    """``(height, width, channels)`` of an image file as :func:`read_image` would decode it.

    Reads only the header (Pillow opens images lazily; ``.npy`` headers are parsed without the
    data), so it is cheap for any size. Channels follow :func:`decode_image`'s conversions
    (palette images become RGB or RGBA, 1-bit images grey, ...).

    Examples
    --------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "probe.png")
    >>> Image.new("RGBA", (5, 3)).save(path)
    >>> probe_image(path)
    (3, 5, 4)
    """
    name = str(path)
    try:
        with open(path, "rb") as fh:
            if fh.read(len(NPY_MAGIC)) == NPY_MAGIC:
                fh.seek(0)
                try:
                    version = np.lib.format.read_magic(fh)
                    read_header = (
                        np.lib.format.read_array_header_1_0
                        if version == (1, 0)
                        else np.lib.format.read_array_header_2_0
                    )
                    shape, _, dtype = read_header(fh)
                except ValueError as exc:
                    raise ImageIOError(f"{name}: not a valid .npy array ({exc})") from None
                _check_npy_layout(name, shape, dtype)
                return (shape[0], shape[1], shape[2] if len(shape) == 3 else 1)
            fh.seek(0)
            with _pillow_errors(name):
                img = Image.open(fh)
                width, height = img.size
                if _orientation(img) in (5, 6, 7, 8):  # turned a quarter: as decode_image
                    width, height = height, width
                target = _working_mode(img.mode, "transparency" in img.info)
    except ImageIOError:
        raise
    except OSError as exc:
        raise _read_error(name, exc) from None
    channels = _MODE_CHANNELS.get(target, 1)
    return (height, width, channels)
