"""Pixels in the file's own type for the banded filter path: nothing converted to float.

Owns :func:`read_pixels`: 8- and 16-bit images as uint8/uint16 (16-bit colour at full depth,
through :mod:`.decode`), ``.npy`` files memory-mapped, uncompressed TIFF strips mapped straight
from the file, and Pillow images copied a few MB at a time; what the banded runner
(:mod:`convtool.chain.bands`) reads a band of rows from. Multi-frame files are left to
:mod:`.frames`. Must not import: convtool.engine, matching or cli, click, rich.
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image

from .._npy import NPY_MAGIC, load_npy, npy_errors
from . import netpbm
from .decode import (
    _COPY_BYTES,
    _check_npy_layout,
    _orientation,
    _pillow_errors,
    _read_error,
    frame_pixels,
    netpbm_images,
    source_info,
)
from .frames import parse_frame_spec
from .info import ImageInfo, ImageIOError


def _npy_pixels(arr: np.ndarray, name: str) -> tuple[np.ndarray, ImageInfo, float | None]:
    from .._mmap import release_rows

    _check_npy_layout(name, arr.shape, arr.dtype)
    info = ImageInfo(format="npy", depth="float", alpha=False, source_mode=f"npy:{arr.dtype}")
    if arr.dtype in (np.uint8, np.uint16):
        info.depth = "8" if arr.dtype == np.uint8 else "16"
        return arr, info, info.full_scale
    if arr.dtype.kind == "f":
        step = max(1, _COPY_BYTES // max(1, arr[:1].nbytes))
        for r0 in range(0, arr.shape[0], step):
            if not np.isfinite(arr[r0 : r0 + step]).all():
                raise ImageIOError(f"{name}: .npy array holds NaN or infinite values")
            release_rows(arr, r0, r0 + step)
    return arr, info, None


def _open_npy(path: Path, name: str) -> np.ndarray:
    with npy_errors(name, ImageIOError):
        return np.load(path, mmap_mode="r", allow_pickle=False)


# Uncompressed TIFF strips that numpy can map as they are: (mode, rawmode) -> dtype, channels.
_RAW_LAYOUTS = {
    ("L", "L"): ("u1", 1),
    ("LA", "LA"): ("u1", 2),
    ("RGB", "RGB"): ("u1", 3),
    ("RGBA", "RGBA"): ("u1", 4),
    ("I;16", "I;16"): ("<u2", 1),
    ("I;16B", "I;16B"): (">u2", 1),
    ("F", "F;32F"): ("<f4", 1),
    ("F", "F;32BF"): (">f4", 1),
}


def _map_raw(img: Image.Image, path: Path) -> np.ndarray | None:
    """The pixels of an uncompressed TIFF as a read-only map of its file, or None.

    Only when Pillow's tiles (read from the header) say the pixels are stored as numpy lays
    them out: raw top-down strips of whole rows, one after another, in a layout of
    ``_RAW_LAYOUTS``, with no orientation to apply. Nothing is decoded then: rows are read
    when a band uses them, and leave memory again after (libvips streams such files too).
    """
    if img.format != "TIFF" or not img.tile or _orientation(img) != 1:
        return None
    width, height = img.size
    tiles = sorted(img.tile, key=lambda t: t[1][1])
    first = tiles[0]
    rawmode = first[3][0] if isinstance(first[3], tuple) else first[3]
    layout = _RAW_LAYOUTS.get((img.mode, rawmode))
    if layout is None:
        return None
    dtype, channels = np.dtype(layout[0]), layout[1]
    row_bytes = width * channels * dtype.itemsize
    start, y = first[2], 0
    for codec, extents, offset, args in tiles:
        args = args if isinstance(args, tuple) else (args, 0, 1)
        if (
            codec != "raw"
            or args[0] != rawmode
            or args[1] not in (0, row_bytes)
            or (len(args) > 2 and args[2] != 1)
            or tuple(extents) != (0, y, width, extents[3])
            or offset != start + y * row_bytes
        ):
            return None
        y = extents[3]
    if y != height:
        return None
    shape = (height, width) if channels == 1 else (height, width, channels)
    try:
        return np.memmap(path, dtype=dtype, mode="r", offset=start, shape=shape)
    except (ValueError, OSError):  # shorter than its header says: let Pillow report it
        return None


def _mapped_info(img: Image.Image, arr: np.ndarray, info: ImageInfo) -> float | None:
    info.source_mode, info.alpha = img.mode, img.mode in ("LA", "RGBA")
    if arr.dtype.kind == "f":
        info.depth = "float"
        return None
    info.depth = "8" if arr.dtype.itemsize == 1 else "16"
    return info.full_scale


def read_pixels(
    source: str | os.PathLike[str], stdin: BinaryIO | None = None, *, spec: str | None = None
) -> tuple[np.ndarray, ImageInfo, float | None] | None:
    """Read one frame of an image in its own type: ``(pixels, info, full_scale)``.

    Unlike :func:`read_image` nothing is converted to float: 8- and 16-bit images (16-bit
    colour PNG/TIFF at full depth) come back as uint8/uint16 with ``full_scale`` 255/65535
    (divide by it for normalized units, as :func:`decode_image` does), float images with
    ``None``. ``.npy`` files are memory-mapped (``np.load(mmap_mode="r")``), so nothing is
    read until rows are used; so are uncompressed TIFF files whose strips are stored as numpy
    lays rows out. The values and the ``info`` are those :func:`read_image` gives, before the
    float conversion. ``spec`` picks frames as ``--frame`` does; ``None`` is returned when
    the file has (or ``spec`` picks) several frames: :func:`read_frames` reads those.

    Examples
    --------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "grey.png")
    >>> Image.new("L", (3, 2), 128).save(path)
    >>> pixels, info, scale = read_pixels(path)
    >>> pixels.dtype, pixels.shape, info.depth, scale
    (dtype('uint8'), (2, 3), '8', 255.0)
    """
    name = "<stdin>" if str(source) == "-" else str(source)
    if str(source) == "-":
        stream = stdin if stdin is not None else sys.stdin.buffer
        data = stream.read()
        if not data:
            raise ImageIOError(f"{name}: empty input (0 bytes)")
        if data.startswith(NPY_MAGIC):
            _pick_frames(spec, 1)
            return _npy_pixels(load_npy(data, name, ImageIOError), name)
        if netpbm.is_netpbm(data[:3]):
            return _netpbm_pixels(data, name, spec)
        with _pillow_errors(name):
            return _one_frame(Image.open(io.BytesIO(data)), name, data, spec)
    path = Path(source)
    try:
        with open(path, "rb") as fh:
            head = fh.read(32)
            if not head:
                raise ImageIOError(f"{name}: empty input (0 bytes)")
            if head.startswith(NPY_MAGIC):
                _pick_frames(spec, 1)
                return _npy_pixels(_open_npy(path, name), name)
            if netpbm.is_netpbm(head[:3]):
                fh.seek(0)
                return _netpbm_pixels(fh.read(), name, spec)
            fh.seek(0)
            with _pillow_errors(name):
                return _one_frame(Image.open(fh), name, path, spec)
    except OSError as exc:
        raise _read_error(name, exc) from None


def _netpbm_pixels(data: bytes, name: str, spec: str | None):
    """The image ``spec`` picks of Netpbm/PFM bytes (None for several)."""
    images = netpbm_images(data, name)
    indices = _pick_frames(spec, len(images))
    if len(indices) != 1:
        return None
    pixels, info, full_scale = images[indices[0]]
    info.frames = len(images)
    return pixels, info, full_scale


def _pick_frames(spec: str | None, count: int) -> list[int]:
    return parse_frame_spec(spec, count) if spec else list(range(count))


def _one_frame(img: Image.Image, name: str, source: bytes | Path, spec: str | None):
    """The frame ``spec`` picks as :func:`read_pixels` returns it (None for several)."""
    info = source_info(img, name)
    indices = _pick_frames(spec, info.frames)
    if len(indices) != 1:
        return None
    if indices[0]:
        img.seek(indices[0])
    if isinstance(source, Path):
        mapped = _map_raw(img, source)
        if mapped is not None:
            return mapped, info, _mapped_info(img, mapped, info)
    pixels, full_scale = frame_pixels(img, source, indices[0], info)
    return pixels, info, full_scale
