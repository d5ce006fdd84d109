"""Encoding results: values to stored integers or floats, then PNG/JPEG/TIFF/BMP/WebP/npy bytes.

Owns :func:`check_output_path`, :func:`to_output_array`, :func:`stored_layout`,
:func:`encode_frames`, :func:`encode_stored`, :func:`save_stored`, :func:`encode_image`,
:func:`format_for_path`, Pillow saving, and the choice of writer per format (:mod:`.png`,
:mod:`.tiff` for integer PNG/TIFF).
Writes no file (that is :mod:`convtool.images.write`). Must not import: convtool.engine,
matching or cli, click, rich.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image

from .. import runtime
from .._mmap import discard_rows
from ..levels import parse_stretch, stretch_limits
from . import netpbm, tiff
from .depths import check_depth
from .info import FORMATS, MULTI_FRAME_FORMATS, ImageInfo, ImageIOError
from .png import DEFAULT_LEVEL, encode_png
from .tiff import Strips, encode_tiff, layout_tiff, write_tiff

_PIL_FORMAT = {"jpeg": "JPEG", "tiff": "TIFF", "bmp": "BMP", "webp": "WEBP", "gif": "GIF"}


def format_for_path(path: str, fallback: str | None = None, *, format_option: bool = True) -> str:
    """Output format from a file name's extension (or ``fallback`` when it has none we know).

    ``format_option``: the command has ``--format``, which the error then suggests.

    Examples
    --------
    >>> format_for_path("a.TIF")
    'tiff'
    >>> format_for_path("result", format_option=False)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    convtool.images.ImageIOError: result: the output name has no extension to tell the format ...
    """
    suffix = Path(path).suffix.lower()
    for fmt, exts in FORMATS.items():
        if suffix in exts:
            return fmt
    if fallback is not None:
        return fallback
    known = ", ".join(e for exts in FORMATS.values() for e in exts)
    hint = ", or give --format" if format_option else ""
    if not suffix:
        raise ImageIOError(
            f"{path}: the output name has no extension to tell the format from (add one: "
            f"{known}{hint})"
        )
    raise ImageIOError(
        f"{path}: cannot tell the output format from the extension {suffix!r} "
        f"(use one of {known}{hint.replace(' give', '')})"
    )


def check_output_path(
    path: str, fmt: str | None = None, *, format_option: bool = True
) -> str | None:
    """The output format for ``path`` (``fmt`` is --format, or None), checked before any work.

    Errors, each naming what is wrong: ``path`` is an existing directory, ends with a slash,
    or lies in a directory that does not exist; its extension names another format than
    ``fmt``. Rule: a name without a known extension (``out.bin``, ``result``) takes ``fmt``;
    with neither, the extension must say. ``"-"`` (stdout) gives ``fmt`` as it is.

    Examples
    --------
    >>> check_output_path("out.tif"), check_output_path("out.bin", "png")
    ('tiff', 'png')
    >>> check_output_path("out.jpg", "png")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    convtool.images.ImageIOError: out.jpg: the extension '.jpg' says JPEG but --format says PNG...
    """
    if path == "-":
        return fmt
    target = Path(path)
    if target.is_dir():
        raise ImageIOError(
            f"{path}: is a directory; give a file name for the output (e.g. "
            f"{(target / 'out.png').as_posix()})"
        )
    if path.endswith(("/", os.sep)):
        raise ImageIOError(
            f"{path}: ends with '/', which names a directory, not a file; drop the slash to "
            f"write the file {target.name!r}"
        )
    parent = target.parent
    if not parent.is_dir():
        raise ImageIOError(f"{path}: output directory {str(parent)!r} does not exist")
    by_name = format_for_path(path, fallback="") or None
    if fmt is None:
        return format_for_path(path, format_option=format_option)
    if by_name is not None and by_name != fmt:
        raise ImageIOError(
            f"{path}: the extension {target.suffix!r} says {by_name.upper()} but --format says "
            f"{fmt.upper()}; make them agree"
        )
    return fmt


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
    to 0; ``limits`` gives the min and max of the whole image when ``values`` is a band of it),
    ``stretch[:P]`` (the P-th..(100-P)-th percentiles to the full range, the rest clipped; see
    :mod:`convtool.levels`; ``limits`` as for rescale) or ``none`` (only for float output).
    Integer depths are rounded half to even. ``out`` (of the stored dtype) receives the result
    instead of a new array.

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
    elif mapping.startswith("stretch"):
        percent = parse_stretch(mapping)
        if percent is None:
            raise ImageIOError(f"unknown value mapping {mapping!r}")
        lo, hi = stretch_limits(work, percent) if limits is None else limits
        work = (work - lo) / (hi - lo) if hi > lo else np.zeros_like(work)
        if depth == "float":
            work = np.clip(work, 0.0, 1.0)
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
    out = np.empty(work.shape, dtype) if out is None else out
    # In bands of rows on the thread pool: four passes over a 4K RGB float image took ~0.2 s.
    step = max(1, (1 << 18) // max(1, work[0].size if work.ndim > 1 else 1))

    def band(y0: int):
        def task() -> None:
            part = np.clip(work[y0 : y0 + step], 0.0, 1.0)  # new: the caller's values stay
            np.multiply(part, scale, out=part)
            out[y0 : y0 + step] = np.rint(part, out=part)

        return task

    runtime.run_queue([band(y0) for y0 in range(0, max(1, len(work)), step)])
    return out


# JPEG is lossy by nature; WebP without --quality is lossless.
DEFAULT_JPEG_QUALITY = 95
_GIF_DISPOSAL = {"none": 1, "background": 2, "previous": 3}


@dataclass
class Timing:
    """How the frames of an animation play: per-frame milliseconds, loop count and disposal.

    ``loop`` is the file's count as Pillow reports it (0 = forever; None = the file sets none,
    play once); ``disposal`` per frame is ``none``, ``background`` or ``previous``.
    """

    durations: list[int] | None = None
    loop: int | None = None
    disposal: list[str] | None = None


def _stored_depth(info: ImageInfo, fmt: str, channels: int) -> str:
    """The depth an output of ``fmt`` stores for a result of ``info.depth`` (noting losses)."""
    deep = fmt in ("png", "tiff")
    if info.depth == "float":
        return "16" if deep else "8"
    if info.depth == "16" and not deep:
        info.notes.append(
            f"{fmt.upper()} stores 8 bits per channel: the 16-bit result is written at 8 bits "
            "(PNG and TIFF keep 16)"
        )
        return "8"
    return info.depth


def encode_frames(
    frames: Sequence[np.ndarray],
    info: ImageInfo,
    fmt: str,
    *,
    mapping: str | None = None,
    quality: int | None = None,
    compression: int | None = None,
    timing: Timing | None = None,
    depth: str | None = None,
) -> bytes:
    """Encode one or more frames of computed values as ``fmt`` bytes.

    Integer outputs keep the depth of ``info`` where ``fmt`` can (PNG and TIFF hold 16 bits
    in every channel layout; the others 8, with a note in ``info.notes``); ICC profile and DPI
    go where the format holds them. ``quality`` (1-100) is for JPEG (default
    :data:`DEFAULT_JPEG_QUALITY`) and WebP (default: lossless); ``compression`` is the zlib
    level for PNG (default :data:`.png.DEFAULT_LEVEL`) and TIFF (default 0: uncompressed).
    Several frames need a format of :data:`MULTI_FRAME_FORMATS`. ``depth`` (``"8"``, ``"16"``,
    ``"float"``; None: as above) asks for a stored depth (see :func:`stored_layout`).
    """
    values = [_squeeze(np.asarray(f)) for f in frames]
    if len(values) > 1 and fmt not in MULTI_FRAME_FORMATS:
        raise ImageIOError(
            f"{fmt.upper()} holds one frame, the input has {len(values)}: pick one with "
            f"--frame N or write {', '.join(f.upper() for f in MULTI_FRAME_FORMATS)}"
        )
    channels = 1 if values[0].ndim == 2 else values[0].shape[2]
    depth, mapping = stored_layout(info, fmt, channels, mapping, depth=depth)
    arrs = [to_output_array(v, depth=depth, mapping=mapping) for v in values]
    return encode_stored(arrs, info, fmt, quality=quality, compression=compression, timing=timing)


def stored_layout(
    info: ImageInfo,
    fmt: str,
    channels: int,
    mapping: str | None = None,
    *,
    depth: str | None = None,
) -> tuple[str, str]:
    """``(depth, mapping)`` that :func:`encode_frames` stores ``channels``-channel values with.

    Raises ImageIOError where ``fmt`` cannot hold the values (unknown format, more than 4
    channels, alpha in JPEG, a ``depth`` it does not hold: see :mod:`.depths`), before anything
    is computed. A 16-bit result bound for an 8-bit format is noted in ``info.notes``.

    ``depth`` None (the default) keeps the input's depth where ``fmt`` holds it: 8-bit stays
    8-bit (also in ``.npy``: uint8), 16-bit stays 16-bit in PNG, TIFF and ``.npy``, float
    input stays float in ``.npy`` and one-channel TIFF (else 16-bit PNG/TIFF, 8-bit others).
    ``depth="float"`` stores the raw results (normalized units, signed, unclipped: mapping
    ``none`` unless one is asked for).

    Examples
    --------
    >>> stored_layout(ImageInfo(depth="8"), "npy", 1)
    ('8', 'clip')
    >>> stored_layout(ImageInfo(depth="8"), "tiff", 1, depth="float")
    ('float', 'none')
    """
    if depth is not None:
        if fmt not in FORMATS:
            raise ImageIOError(f"unknown output format {fmt!r} (choose from {', '.join(FORMATS)})")
        check_depth(fmt, depth, channels)
    if fmt == "npy":
        if depth is not None:
            return depth, mapping or ("none" if depth == "float" else "clip")
        if info.depth == "float":
            return "float", mapping or "none"
        return info.depth, mapping or "clip"
    if fmt not in FORMATS:
        raise ImageIOError(f"unknown output format {fmt!r} (choose from {', '.join(FORMATS)})")
    if fmt in netpbm.WRITE_FORMATS:
        layout = netpbm.stored_layout(info, fmt, channels, mapping)
        if depth is not None:
            return depth, mapping or ("none" if depth == "float" else "clip")
        return layout
    if channels not in (1, 2, 3, 4):
        raise ImageIOError(
            f"cannot store {channels} channels as {fmt.upper()} (1 to 4 channels); "
            "write .npy instead"
        )
    if fmt == "jpeg" and channels in (2, 4):
        raise ImageIOError(
            "JPEG cannot store an alpha channel; write PNG, WebP or TIFF, or use --alpha drop"
        )
    if depth is not None:
        return depth, mapping or ("none" if depth == "float" else "clip")
    mapping = mapping or "clip"
    if info.depth == "float" and fmt == "tiff" and channels == 1:
        # Float sources (TIFF 'F') stay float where the format can hold it.
        return "float", mapping if mapping != "clip" else "none"
    return _stored_depth(info, fmt, channels), mapping


def encode_stored(
    frames: Sequence[np.ndarray],
    info: ImageInfo,
    fmt: str,
    *,
    quality: int | None = None,
    compression: int | None = None,
    timing: Timing | None = None,
    consume: bool = False,
) -> bytes:
    """Encode frames already in their stored type (:func:`to_output_array`'s result for the
    ``(depth, mapping)`` of :func:`stored_layout`) as ``fmt`` bytes; options as
    :func:`encode_frames`.

    With ``consume``, formats saved through Pillow (JPEG, WebP, BMP, GIF) copy each frame
    into Pillow's image a band of rows at a time and give each band back to the system once
    copied (a frame from :func:`convtool._mmap.anonymous_array` then reads as zeros): memory
    stays near Pillow's copy alone instead of both.
    """
    arrs = [_squeeze(np.asarray(f)) for f in frames]
    if fmt == "npy":
        buf = io.BytesIO()
        np.save(buf, arrs[0], allow_pickle=False)
        return buf.getvalue()
    if fmt in netpbm.WRITE_FORMATS:
        return netpbm.encode(arrs, fmt)
    if arrs[0].dtype.kind == "f":  # single-channel float TIFF
        return _pil_save([Image.fromarray(a.astype(np.float32)) for a in arrs], fmt, info)
    timing = timing or Timing()
    if fmt == "png":
        return _guard(fmt, lambda: _png(arrs, info, compression, timing))
    if fmt == "tiff":
        level = compression or 0
        pages = _tiff_pages(arrs)
        return _guard(fmt, lambda: encode_tiff(pages, level=level, icc=info.icc, dpi=info.dpi))
    images = [_pil_image(a, fmt, consume=consume) for a in arrs]
    return _pil_save(images, fmt, info, quality=quality, timing=timing)


def save_stored(
    frames: Sequence[np.ndarray],
    info: ImageInfo,
    fmt: str,
    fh: BinaryIO,
    *,
    compression: int | None = None,
    **options,
) -> None:
    """:func:`encode_stored`'s bytes written into the seekable binary file ``fh`` (a
    temporary file of :func:`convtool.images.write.atomic_path`); options as there.

    Integer TIFF goes in a group of strips at a time (:func:`.tiff.write_tiff`): the encoded
    file is never held whole beside the pixels.
    """
    arrs = [_squeeze(np.asarray(f)) for f in frames]
    if fmt == "tiff" and arrs[0].dtype.kind == "u":
        level, pages = compression or 0, _tiff_pages(arrs)
        _guard(fmt, lambda: write_tiff(fh, pages, level=level, icc=info.icc, dpi=info.dpi))
        return
    fh.write(encode_stored(arrs, info, fmt, compression=compression, **options))


def stored_in_place(fmt: str, shape: tuple[int, ...], dtype, *, compression=None) -> bool:
    """Whether the file :func:`save_stored` writes for one page of ``shape`` and ``dtype`` can
    be laid out first and its pixels filled in place, band by band: ``.npy``, and uncompressed
    8/16-bit TIFF (not 16-bit grey+alpha, stored as RGBA; not rows that cannot be one run).

    Examples
    --------
    >>> stored_in_place("tiff", (100, 80, 3), np.uint8), stored_in_place("png", (1, 1), np.uint8)
    (True, False)
    """
    dtype = np.dtype(dtype)
    if fmt == "npy":
        return True
    if fmt != "tiff" or compression or dtype not in (np.uint8, np.uint16):
        return False
    return tiff.stored_page(shape, dtype) == tuple(shape) and tiff.one_run(tuple(shape), dtype)


def layout_stored(fh: BinaryIO, shape: tuple[int, ...], dtype, info: ImageInfo) -> Strips:
    """Lay out in ``fh`` the uncompressed TIFF :func:`save_stored` writes for one page
    (:func:`stored_in_place`), its strips left to fill (:meth:`.tiff.Strips.mapped`); a page
    over classic TIFF's 4 GiB is an :class:`ImageIOError` before any pixel is computed."""
    return _guard("tiff", lambda: layout_tiff(fh, shape, dtype, icc=info.icc, dpi=info.dpi))


def _tiff_pages(arrs: list[np.ndarray]) -> list[np.ndarray]:
    if tiff.stored_page(arrs[0].shape, arrs[0].dtype) != arrs[0].shape:  # grey+alpha: RGBA
        return [a[:, :, [0, 0, 0, 1]] for a in arrs]
    return arrs


def encode_image(
    values: np.ndarray,
    info: ImageInfo,
    fmt: str,
    *,
    mapping: str | None = None,
    quality: int | None = None,
    compression: int | None = None,
    depth: str | None = None,
) -> bytes:
    """Encode computed values as ``fmt`` bytes with the depth of ``info`` where ``fmt`` allows.

    ``.npy`` keeps float values as they are (unless ``mapping`` asks for ``abs``/``rescale``);
    image formats store integers, clipped by default. See :func:`encode_frames`.
    """
    return encode_frames(
        [values], info, fmt, mapping=mapping, quality=quality, compression=compression, depth=depth
    )


def _squeeze(values: np.ndarray) -> np.ndarray:
    return values[:, :, 0] if values.ndim == 3 and values.shape[2] == 1 else values


def _png(arrs: list[np.ndarray], info: ImageInfo, level: int | None, timing: Timing) -> bytes:
    return encode_png(
        arrs,
        level=DEFAULT_LEVEL if level is None else level,
        icc=info.icc,
        dpi=info.dpi,
        durations=timing.durations,
        loop=1 if timing.loop is None else timing.loop,  # no loop in the source: play once
        disposal=timing.disposal,
    )


def _guard(fmt: str, make):
    try:
        return make()
    except ValueError as exc:
        raise ImageIOError(f"cannot encode as {fmt.upper()} ({exc})") from None


def _pil_image(arr: np.ndarray, fmt: str, *, consume: bool = False) -> Image.Image:
    # Pillow infers the mode from dtype and shape: uint8 gives L/LA/RGB/RGBA.
    if not consume:
        img = Image.fromarray(np.ascontiguousarray(arr))
    else:  # a band at a time, each given back once copied (see encode_stored)
        img = Image.new(Image.fromarray(arr[:1]).mode, (arr.shape[1], arr.shape[0]), None)
        rows = max(1, (8 << 20) // max(1, arr[:1].nbytes))
        for r0 in range(0, arr.shape[0], rows):
            r1 = min(arr.shape[0], r0 + rows)
            img.paste(Image.fromarray(np.ascontiguousarray(arr[r0:r1])), (0, r0))
            discard_rows(arr, r0, r1)
    if fmt in ("bmp", "gif") and img.mode == "LA":
        img = img.convert("RGBA")
    return img


def _save_options(fmt: str, info: ImageInfo, quality: int | None) -> dict[str, object]:
    options: dict[str, object] = {}
    if fmt == "jpeg":
        options["quality"] = DEFAULT_JPEG_QUALITY if quality is None else quality
    if fmt == "webp":
        if quality is None:
            options.update(lossless=True, exact=True)  # exact: keep RGB under transparent pixels
        else:
            options["quality"] = quality
    if info.icc and fmt in ("jpeg", "webp", "tiff"):
        options["icc_profile"] = info.icc
    if info.dpi and fmt in ("jpeg", "bmp", "tiff"):
        options["dpi"] = info.dpi
    return options


def _pil_save(
    images: list[Image.Image],
    fmt: str,
    info: ImageInfo,
    *,
    quality: int | None = None,
    timing: Timing | None = None,
) -> bytes:
    buf = io.BytesIO()
    options = _save_options(fmt, info, quality)
    if len(images) > 1:
        options.update(save_all=True, append_images=images[1:])
        timing = timing or Timing()
        if timing.durations and fmt in ("gif", "webp"):
            options["duration"] = list(timing.durations)
        if timing.loop is not None and fmt in ("gif", "webp"):
            options["loop"] = timing.loop
        if timing.disposal and fmt == "gif":
            options["disposal"] = [_GIF_DISPOSAL.get(d, 1) for d in timing.disposal]
    try:
        images[0].save(buf, format=_PIL_FORMAT[fmt], **options)
    except (OSError, ValueError, KeyError) as exc:
        mode = images[0].mode
        raise ImageIOError(f"cannot encode {mode} image as {fmt.upper()} ({exc})") from None
    return buf.getvalue()
