"""Reading images: bytes or files to normalized float arrays, header probing, EXIF orientation.

Owns Pillow and ``.npy`` decoding (:func:`decode_image`, :func:`read_image`, :func:`probe_image`,
and :func:`frame_array` for one frame of an open file, which :mod:`.frames` uses for every frame).
16-bit colour PNG/TIFF are read at full depth through Pillow: decoded once as opened (high
bytes) and once with each tile's byte order swapped (low bytes); what still cannot be read at
full depth is said in ``ImageInfo.notes``, never reduced silently.
Must not import: convtool.engine, matching or cli, click, rich.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps

from .._npy import NPY_MAGIC, load_npy
from . import netpbm
from .info import (
    DEFAULT_MAX_PIXELS,
    FORMATS,
    MAX_PIXELS_ENV,
    ImageInfo,
    ImageIOError,
    pixel_limit_error,
)

# Pillow logs what it finds wrong in a file (``More samples per pixel than can be decoded``)
# before it raises; with no handler configured, Python's last-resort handler printed that on
# stderr beside our one ``Error:`` line, in batch workers too. A handler on Pillow's logger
# keeps stderr to convtool's lines; a program that configures logging still gets the records.
logging.getLogger("PIL").addHandler(logging.NullHandler())


def set_max_pixels(limit: int | None = None) -> int:
    """Set the pixel limit for decoding (0: none); ``None`` takes ``$CONVTOOL_MAX_PIXELS``,
    else :data:`DEFAULT_MAX_PIXELS`. Returns the limit in force.

    Examples
    --------
    >>> set_max_pixels(0), Image.MAX_IMAGE_PIXELS
    (0, None)
    >>> set_max_pixels(10**6), Image.MAX_IMAGE_PIXELS
    (1000000, 1000000)
    """
    if limit is None:
        text = os.environ.get(MAX_PIXELS_ENV, "").strip()
        try:
            limit = int(text) if text else DEFAULT_MAX_PIXELS
        except ValueError:
            raise ImageIOError(
                f"{MAX_PIXELS_ENV}={text!r} is not a whole number of pixels (0: no limit)"
            ) from None
    if limit < 0:
        raise ImageIOError(f"the pixel limit must be 0 (none) or more, got {limit}")
    # Pillow warns over MAX_IMAGE_PIXELS (an error here, see _pillow_errors) when it reads the
    # header, before decoding.
    Image.MAX_IMAGE_PIXELS = limit or None
    return limit


def _over_limit(name: str, pixels: int | None) -> ImageIOError:
    return pixel_limit_error(name, pixels, Image.MAX_IMAGE_PIXELS)


try:  # the library's default; the CLI sets it again from --max-pixels, reporting bad values
    set_max_pixels()
except ImageIOError:
    set_max_pixels(DEFAULT_MAX_PIXELS)


def _sniff_format(data: bytes) -> str | None:
    if data.startswith(NPY_MAGIC):
        return "npy"
    return None


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


_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


@contextlib.contextmanager
def _libtiff_quiet(head: bytes) -> Iterator[None]:
    """Point file descriptor 2 at devnull while libtiff decodes: it prints its own complaints
    (``ZIPDecode: Decoding error ...``) straight to stderr, before our one ``Error:`` line.
    Only for TIFF bytes, the one format decoded by a C library that talks on stderr."""
    if not head.startswith(_TIFF_MAGIC):
        yield
        return
    try:
        saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
    except OSError:  # no stderr to protect, or no descriptors left
        yield
        return
    try:
        os.dup2(devnull, 2)
        os.close(devnull)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@contextlib.contextmanager
def _pillow_errors(name: str, head: bytes = b"") -> Iterator[None]:
    """Turn what Pillow raises on bad bytes into one-line ImageIOErrors; keep stderr quiet.

    Pillow's decoders raise more than OSError on damaged files (struct.error, IndexError,
    KeyError, TypeError, ZeroDivisionError, OverflowError, ...): every exception is reported
    as ``NAME: ...`` with its type. Pillow's warnings (truncated EXIF, skipped tags) say
    nothing the result or the error does not, so they are not shown.
    """
    try:
        with warnings.catch_warnings(), _libtiff_quiet(head):
            warnings.simplefilter("ignore")
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        numbers = re.findall(r"\((\d+) pixels\)", str(exc))  # "Image size (N pixels) ..."
        raise _over_limit(name, int(numbers[0]) if numbers else None) from None
    except Image.UnidentifiedImageError:
        raise ImageIOError(f"{name}: not an image Pillow can read") from None
    except ImageIOError as exc:  # ours (a --frame the file does not have): not a damaged file
        if str(exc).startswith(f"{name}: "):
            raise
        raise ImageIOError(f"{name}: {exc}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageIOError(f"{name}: truncated or corrupt image ({exc})") from None
    except MemoryError:
        raise ImageIOError(f"{name}: image too large for the memory available") from None
    except Exception as exc:  # any other decoder failure on damaged bytes
        raise ImageIOError(
            f"{name}: truncated or corrupt image ({type(exc).__name__}: {exc})"
        ) from None


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


def open_image(data: bytes, name: str) -> Image.Image:
    """A Pillow image over ``data`` (lazy: only the header is read)."""
    with _pillow_errors(name, data[:4]):
        return Image.open(io.BytesIO(data))


def _swap_order(rawmode: str) -> str:
    """``RGB;16B`` <-> ``RGB;16L``; ``;16N`` (native) becomes the other order."""
    order = rawmode[-1]
    if order == "N":
        order = "L" if sys.byteorder == "little" else "B"
    return rawmode[:-1] + ("L" if order == "B" else "B")


def _is_16bit_colour(img: Image.Image) -> bool:
    """Whether Pillow would unpack this frame's 16-bit colour samples to 8 bits."""
    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return False
    return any(";16" in _tile_rawmode(t) for t in img.tile)


def _tile_rawmode(tile) -> str:
    args = tile.args
    rawmode = args if isinstance(args, str) else (args[0] if args else "")
    return rawmode if isinstance(rawmode, str) else ""


def _low_bytes(data: bytes | Path, index: int, swap=_swap_order) -> np.ndarray:
    """The low bytes of a 16-bit colour frame: decoded again with every tile's byte order swapped.

    Pillow unpacks a 16-bit sample to its high byte after decompressing and unfiltering; the
    unpacker is chosen by the tile's raw mode, so the opposite byte order yields the low byte.
    """
    img = Image.open(io.BytesIO(data) if isinstance(data, bytes) else data)
    img.seek(index)
    tiles = []
    for tile in img.tile:
        args = tile.args
        if isinstance(args, str):
            args = swap(args)
        else:
            args = (swap(args[0]), *args[1:])
        tiles.append(tile._replace(args=args))
    img.tile = tiles
    img.load()
    return np.asarray(img)


def _full_depth(img: Image.Image, tiles: list, data: bytes, index: int, info: ImageInfo):
    """The frame's exact 16-bit colour samples (uint16), or None (with a note) when unreadable."""
    if info.frames > 1 and info.format == "png":
        info.notes.append(
            "16-bit colour APNG frames are read at 8 bits per channel (Pillow composites "
            "them at 8 bits); the output is 8-bit"
        )
        return None
    try:
        if any(_tile_rawmode(t) == "LA;16B" for t in tiles):
            # 16-bit grey+alpha PNG opens as RGBA and has no low-byte unpacker; the 8-bit RGBA
            # unpacker takes 4 bytes per pixel too, so it hands over the unfiltered bytes as is.
            raw = _low_bytes(data, index, swap=lambda _: "RGBA").astype(np.uint16)
            return (raw[:, :, 0::2] << 8) | raw[:, :, 1::2]
        high = np.asarray(img)
        low = _low_bytes(data, index)
    except (OSError, ValueError, KeyError) as exc:
        info.notes.append(f"this 16-bit colour file is read at 8 bits per channel ({exc})")
        return None
    if low.shape != high.shape:
        info.notes.append("this 16-bit colour file is read at 8 bits per channel")
        return None
    full = high.astype(np.uint16) << 8
    full |= low
    return full


def frame_array(img: Image.Image, data: bytes, index: int, info: ImageInfo) -> np.ndarray:
    """The frame ``img`` is on (``index``), loaded, turned upright, as normalized floats.

    Sets ``info.depth``, ``alpha`` and ``source_mode`` (and notes what could not be kept).
    """
    arr, full_scale = frame_pixels(img, data, index, info)
    return arr if full_scale is None else _normalized(arr, full_scale)


def _file_head(path: Path) -> bytes:
    """The first bytes of a file (its format's magic number), or none if it cannot be read."""
    try:
        with open(path, "rb") as fh:
            return fh.read(4)
    except OSError:
        return b""


def frame_pixels(
    img: Image.Image, data: bytes | Path, index: int, info: ImageInfo
) -> tuple[np.ndarray, float | None]:
    """:func:`frame_array` before the float step: ``(pixels, full_scale)``.

    8- and 16-bit frames (16-bit colour at full depth) come back as integers with
    ``full_scale`` 255/65535, float frames as float32 with ``None``. ``data`` is the file's
    bytes or its path (16-bit colour is decoded from it a second time for the low bytes).
    """
    head = data[:4] if isinstance(data, bytes) else _file_head(data)
    with _pillow_errors(info.name, head):
        sixteen = _is_16bit_colour(img)  # before load(), which empties img.tile
        tiles = list(img.tile)
        img.load()
        deep = None
        if sixteen and img.mode in ("RGB", "RGBA"):
            deep = _full_depth(img, tiles, data, index, info)
        elif sixteen:
            info.notes.append(f"16-bit {img.mode} is read at 8 bits per channel")
        if _orientation(img) != 1:
            # Pixels as every viewer shows them (OpenCV's imread does the same): outputs carry
            # no EXIF, so an unrotated result would look turned against its input.
            if deep is not None:
                deep = _exif_turn(deep, _orientation(img))
            img = ImageOps.exif_transpose(img)
        info.source_mode = img.mode
        if deep is not None:
            info.depth, info.alpha = "16", deep.ndim == 3 and deep.shape[2] in (2, 4)
            return deep, info.full_scale
        mode = img.mode
        if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
            arr = _pillow_rows(img)
            if mode == "I" and (arr.min() < 0 or arr.max() > 65535):
                info.depth = "float"
                return arr.astype(np.float32), None
            info.depth = "16"
            return arr, info.full_scale
        if mode == "F":
            info.depth = "float"
            return _pillow_rows(img).astype(np.float32, copy=False), None
        target = _working_mode(mode, "transparency" in img.info)
        if target != mode:
            img = img.convert(target)
        info.depth, info.alpha = "8", img.mode in ("LA", "RGBA")
        return _pillow_rows(img), info.full_scale


def _exif_turn(arr: np.ndarray, orientation: int) -> np.ndarray:
    """``arr`` turned upright the way ImageOps.exif_transpose turns the image (tags 2-8)."""
    if orientation in (5, 6, 7, 8):
        # 5: transpose, 6: turn 90 clockwise, 7: transverse, 8: turn 90 anticlockwise
        arr = {5: arr.swapaxes(0, 1), 6: np.rot90(arr, -1), 7: np.rot90(arr, 2).swapaxes(0, 1),
               8: np.rot90(arr, 1)}[orientation]  # fmt: skip
    elif orientation in (2, 3, 4):
        arr = {2: arr[:, ::-1], 3: arr[::-1, ::-1], 4: arr[::-1]}[orientation]
    return np.ascontiguousarray(arr)


def source_info(img: Image.Image, name: str) -> ImageInfo:
    """What the file says about itself: format, frame count, ICC profile and DPI."""
    fmt = (img.format or "png").lower()
    fmt = {"jpeg": "jpeg", "mpo": "jpeg", "tiff": "tiff"}.get(fmt, fmt)
    info = ImageInfo(format=fmt if fmt in FORMATS else "png", name=name)
    with _pillow_errors(name):  # counting frames walks a TIFF's pages: damage shows here
        info.frames = max(1, int(getattr(img, "n_frames", 1) or 1))
    if fmt == "mpo" or img.format == "MPO":
        info.frames = 1  # an MPO's extra images are previews or stereo views, not frames
    icc = img.info.get("icc_profile")
    info.icc = icc if isinstance(icc, bytes) and icc else None
    dpi = img.info.get("dpi")
    if isinstance(dpi, tuple) and len(dpi) == 2 and all(float(d) > 0 for d in dpi):
        info.dpi = (float(dpi[0]), float(dpi[1]))
    return info


def decode_image(data: bytes, name: str = "<stdin>") -> tuple[np.ndarray, ImageInfo]:
    """Decode image bytes (any format Pillow reads, or ``.npy``) to a float array.

    A multi-frame file gives its first frame (``info.frames`` says how many there are;
    :func:`convtool.images.decode_frames` gives them all).

    Examples
    --------
    >>> from convtool.images import encode_image
    >>> buf = encode_image(np.full((2, 3), 0.5, np.float32), ImageInfo(), "png")
    >>> arr, info = decode_image(buf)
    >>> arr.shape, info.format, info.depth, round(float(arr[0, 0]), 3)
    ((2, 3), 'png', '8', 0.502)
    """
    if not data:
        raise ImageIOError(f"{name}: empty input (0 bytes)")
    if _sniff_format(data) == "npy":
        return _decode_npy(data, name)
    if netpbm.is_netpbm(data[:3]):
        images = netpbm_images(data, name)
        arr, info, full_scale = images[0]
        info.frames = len(images)
        return (arr if full_scale is None else _normalized(arr, full_scale)), info
    img = open_image(data, name)
    info = source_info(img, name)
    return frame_array(img, data, 0, info), info


def netpbm_images(data: bytes, name: str, *, first: bool = False):
    """Every image of Netpbm/PFM bytes as ``(pixels, info, full_scale)`` (:mod:`.netpbm`),
    under the pixel limit in force."""
    return netpbm.decode_all(data, name, max_pixels=Image.MAX_IMAGE_PIXELS, first=first)


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
                except Exception as exc:  # the header parser raises more than ValueError
                    raise ImageIOError(
                        f"{name}: not a valid .npy array ({type(exc).__name__}: {exc})"
                    ) from None
                _check_npy_layout(name, shape, dtype)
                return (shape[0], shape[1], shape[2] if len(shape) == 3 else 1)
            fh.seek(0)
            head = fh.read(3)
            if netpbm.is_netpbm(head):
                fh.seek(0)
                from ._bytesource import ByteSource

                header = netpbm.read_header(ByteSource(fh.read(1 << 16)), name)
                return (header.height, header.width, header.channels)
            fh.seek(0)
            with _pillow_errors(name, fh.read(4)):
                fh.seek(0)
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


# Rows per Pillow-to-numpy copy: np.asarray(image) goes through tobytes(), a second and third
# whole copy (chunks, then joined); a crop at a time keeps that to a few MB (2 MB chunks: a
# 17 MB lower peak than 8 MB ones on a 133 Mpx RGB PNG, bench_big.py).
_COPY_BYTES = 2 * 1024 * 1024


def _pillow_rows(img: Image.Image) -> np.ndarray:
    """A decoded Pillow image as a numpy array of its own type, copied a few MB at a time."""
    w, h = img.size
    first = np.asarray(img.crop((0, 0, w, 1)))
    out = np.empty((h, *first.shape[1:]), first.dtype)
    rows = max(1, _COPY_BYTES // max(1, first.nbytes))
    for y0 in range(0, h, rows):
        y1 = min(h, y0 + rows)
        out[y0:y1] = np.asarray(img.crop((0, y0, w, y1)))
    return out
