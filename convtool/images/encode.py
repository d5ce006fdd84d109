"""Encoding results: values to stored integers or floats, then PNG/JPEG/TIFF/BMP/WebP/npy bytes.

Owns :func:`to_output_array`, :func:`encode_image`, :func:`format_for_path` and Pillow saving.
Writes no file (that is :mod:`convtool.images.write`). Must not import: convtool.engine,
matching or cli, click, rich.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image

from .._mmap import discard_rows
from .info import FORMATS, ImageInfo, ImageIOError

_PIL_FORMAT = {"png": "PNG", "jpeg": "JPEG", "tiff": "TIFF", "bmp": "BMP", "webp": "WEBP"}


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


def to_output_array(
    values: np.ndarray,
    *,
    depth: str,
    mapping: str = "clip",
    limits: tuple[float, float] | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Map computed values to the stored type.

    ``mapping`` is ``clip`` (values outside [0, 1] are clipped), ``abs`` (absolute value, then
    clip: edge magnitudes), ``rescale`` (min..max stretched to the full range; a flat image maps
    to 0; ``limits`` gives the min and max of the whole image when ``values`` is a band of it)
    or ``none`` (only for float output). Integer depths are rounded half to even. ``out``
    (of the stored dtype) receives the result instead of a new array.

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
        lo, hi = (float(work.min()), float(work.max())) if limits is None else limits
        work = (work - lo) / (hi - lo) if hi > lo else np.zeros_like(work)
    elif mapping not in ("clip", "none"):
        raise ImageIOError(f"unknown value mapping {mapping!r}")
    if depth == "float":
        result = work.astype(np.float32) if work.dtype != np.float64 else work
        if out is None:
            return result
        np.copyto(out, result, casting="unsafe")
        return out
    scale = 255.0 if depth == "8" else 65535.0
    dtype = np.uint8 if depth == "8" else np.uint16
    tmp = np.clip(work, 0.0, 1.0)  # a new array: the caller's values are not touched
    np.multiply(tmp, scale, out=tmp)
    np.rint(tmp, out=tmp)
    if out is None:
        return tmp.astype(dtype)
    np.copyto(out, tmp, casting="unsafe")
    return out


def stored_layout(
    info: ImageInfo, fmt: str, channels: int, mapping: str | None = None
) -> tuple[str, str]:
    """``(depth, mapping)`` that :func:`encode_image` stores ``channels``-channel values with.

    Raises ImageIOError where ``fmt`` cannot hold the values (unknown format, more than 4
    channels, alpha in JPEG), before anything is computed.
    """
    if fmt == "npy":
        if info.depth == "float":
            return "float", mapping or "none"
        return info.depth, mapping or "clip"
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
            return "float", mapping if mapping != "clip" else "none"
        depth = "16" if (channels == 1 and fmt in ("png", "tiff")) else "8"
    if depth == "16" and not (channels == 1 and fmt in ("png", "tiff")):
        depth = "8"  # Pillow stores 16 bits only for single-channel PNG and TIFF
    if fmt == "jpeg" and channels in (2, 4):
        raise ImageIOError(
            "JPEG cannot store an alpha channel; write PNG, WebP or TIFF, or use --alpha drop"
        )
    return depth, mapping


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
    depth, mapping = stored_layout(info, fmt, channels, mapping)
    buf = io.BytesIO()
    save_stored(to_output_array(values, depth=depth, mapping=mapping), fmt, buf)
    return buf.getvalue()


def _pillow_image(arr: np.ndarray) -> Image.Image:
    if arr.dtype.kind == "f":
        return Image.fromarray(arr.astype(np.float32, copy=False))  # single-channel float TIFF
    # Pillow infers the mode from dtype and shape: uint16 2-D is I;16, uint8 L/LA/RGB/RGBA.
    return Image.fromarray(np.ascontiguousarray(arr))


def save_stored(arr: np.ndarray, fmt: str, fh: BinaryIO, *, consume: bool = False) -> None:
    """Encode an array already in its stored type (:func:`to_output_array`'s result, as
    :func:`stored_layout` says) as ``fmt`` into the open binary file ``fh``.

    With ``consume`` the array is copied into Pillow's image a band of rows at a time and
    each band given back to the system once copied (``arr`` from
    :func:`convtool._mmap.anonymous_array` then reads as zeros): memory stays near Pillow's
    copy alone (RGB takes 4 bytes a pixel there) instead of both.
    """
    if fmt == "npy":
        np.save(fh, arr, allow_pickle=False)
        return
    if not consume:
        img = _pillow_image(arr)
    else:
        first = _pillow_image(arr[:1])
        img = Image.new(first.mode, (arr.shape[1], arr.shape[0]), None)  # None: not zero-filled
        rows = max(1, (8 << 20) // max(1, arr[:1].nbytes))
        for r0 in range(0, arr.shape[0], rows):
            r1 = min(arr.shape[0], r0 + rows)
            img.paste(_pillow_image(arr[r0:r1]), (0, r0))
            discard_rows(arr, r0, r1)
    if fmt == "bmp" and arr.ndim == 3 and arr.shape[2] == 2:
        img = img.convert("RGBA")
    _pil_save(img, fmt, fh)


def _pil_save(img: Image.Image, fmt: str, fh: BinaryIO) -> None:
    # JPEG is lossy by nature (quality 95); WebP can be lossless, so it is.
    options: dict[str, object] = {"quality": 95} if fmt == "jpeg" else {}
    if fmt == "webp":
        options.update(lossless=True, exact=True)  # exact: keep RGB under transparent pixels
    if fmt == "png":
        # zlib level 4, not Pillow's 6: on smooth (filtered) 4K images level 6 took 2.4 s
        # against 0.85 s for a file 6% larger; noisy images barely differ (1.0 s either way).
        options["compress_level"] = 4
    try:
        img.save(fh, format=_PIL_FORMAT[fmt], **options)
    except (OSError, ValueError, KeyError) as exc:
        raise ImageIOError(f"cannot encode {img.mode} image as {fmt.upper()} ({exc})") from None
