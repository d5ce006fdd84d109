"""Multi-frame reading: every frame of a GIF / APNG / WebP and every page of a TIFF, with timing.

Owns :class:`Frames`, :func:`decode_frames`, :func:`read_frames` and :func:`parse_frame_spec`
(``--frame 2``, ``1-3``, ``1,3``). Frames are decoded one by one as :mod:`.decode` decodes a
single image (16-bit colour at full depth, EXIF orientation applied), then given one channel
layout (a GIF's later frames may gain alpha). Writing them is :func:`.encode.encode_frames`.
Must not import: convtool.engine, matching or cli, click, rich.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

from . import netpbm
from .decode import (
    _decode_npy,
    _normalized,
    _pillow_errors,
    _read_error,
    _sniff_format,
    frame_array,
    netpbm_images,
    open_image,
    source_info,
)
from .encode import Timing
from .info import ImageInfo, ImageIOError

__all__ = ["Frames", "decode_frames", "parse_frame_spec", "read_frames"]

_APNG_DISPOSAL = {0: "none", 1: "background", 2: "previous"}
_GIF_DISPOSAL = {0: "none", 1: "none", 2: "background", 3: "previous"}


@dataclass
class Frames:
    """The frames picked from a file (``indices``, 0-based), their info and timing."""

    arrays: list[np.ndarray]
    info: ImageInfo
    timing: Timing = field(default_factory=Timing)
    indices: list[int] = field(default_factory=list)


def parse_frame_spec(spec: str, count: int) -> list[int]:
    """0-based frame indices from a 1-based ``--frame`` list: ``2``, ``1-3``, ``1,3,5-6``.

    Examples
    --------
    >>> parse_frame_spec("1,3-4", 5)
    [0, 2, 3]
    >>> parse_frame_spec("7", 3)
    Traceback (most recent call last):
    ...
    convtool.images.ImageIOError: --frame 7: the input has 3 frame(s), numbered 1 to 3
    """
    picked: list[int] = []
    for part in spec.replace(" ", "").split(","):
        lo, sep, hi = part.partition("-")
        try:
            first, last = int(lo), int(hi if sep else lo)
        except ValueError:
            raise ImageIOError(
                f"--frame {spec}: give frame numbers like 2, 1-3 or 1,3 (counting from 1)"
            ) from None
        if not 1 <= first <= last <= count:
            raise ImageIOError(
                f"--frame {spec}: the input has {count} frame(s), numbered 1 to {count}"
            )
        picked += [i for i in range(first - 1, last) if i not in picked]
    return picked


def _timing_of(img, info: ImageInfo) -> tuple[int | None, str | None]:
    """The current frame's duration (ms) and disposal, as the file gives them."""
    duration = img.info.get("duration")
    duration = round(float(duration)) if isinstance(duration, (int, float)) else None
    disposal = None
    if info.format == "gif":
        disposal = _GIF_DISPOSAL.get(getattr(img, "disposal_method", 0), "none")
    elif info.format == "png":
        disposal = _APNG_DISPOSAL.get(img.info.get("disposal", 0), "none")
    return duration, disposal


def _same_layout(arrays: list[np.ndarray]) -> list[np.ndarray]:
    """Give every frame the widest channel layout among them (grey -> RGB, add opaque alpha)."""
    channels = {1 if a.ndim == 2 else a.shape[2] for a in arrays}
    if len(channels) == 1:
        return arrays
    colour = any(c >= 3 for c in channels)
    alpha = any(c in (2, 4) for c in channels)
    out = []
    for a in arrays:
        a3 = a[:, :, None] if a.ndim == 2 else a
        c = a3.shape[2]
        body, opacity = (a3[:, :, :-1], a3[:, :, -1:]) if c in (2, 4) else (a3, None)
        if colour and body.shape[2] == 1:
            body = np.repeat(body, 3, axis=2)
        if alpha and opacity is None:
            opacity = np.ones((*a3.shape[:2], 1), a3.dtype)
        out.append(np.concatenate([body, opacity], axis=2) if alpha else body)
    return out


def decode_frames(data: bytes, name: str = "<stdin>", spec: str | None = None) -> Frames:
    """Decode the frames ``spec`` picks (default: all) of image bytes as normalized floats.

    Examples
    --------
    >>> from convtool.images import encode_frames
    >>> data = encode_frames([np.zeros((2, 2)), np.ones((2, 2))], ImageInfo(), "png")
    >>> got = decode_frames(data)
    >>> len(got.arrays), got.info.frames, float(got.arrays[1].max())
    (2, 2, 1.0)
    """
    if not data:
        raise ImageIOError(f"{name}: empty input (0 bytes)")
    if _sniff_format(data) == "npy":
        arr, info = _decode_npy(data, name)
        if spec is not None:
            parse_frame_spec(spec, 1)
        return Frames([arr], info, Timing(), [0])
    if netpbm.is_netpbm(data[:3]):
        return _netpbm_frames(data, name, spec)
    img = open_image(data, name)
    info = source_info(img, name)
    indices = parse_frame_spec(spec, info.frames) if spec else list(range(info.frames))
    arrays, durations, disposal = [], [], []
    depths = set()
    for index in indices:
        if index:
            with _pillow_errors(name, data[:4]):
                img.seek(index)
        arrays.append(frame_array(img, data, index, info))
        depths.add(info.depth)
        duration, dispose = _timing_of(img, info)
        durations.append(duration)
        disposal.append(dispose)
    if len(depths) > 1:  # pages of mixed depths: keep the deepest
        info.depth = "float" if "float" in depths else "16"
    timing = Timing(
        durations=None if None in durations else durations,
        loop=img.info.get("loop") if isinstance(img.info.get("loop"), int) else None,
        disposal=None if None in disposal else disposal,
    )
    info.notes[:] = list(dict.fromkeys(info.notes))  # a note per file, not per frame
    arrays = _same_layout(arrays)
    info.alpha = arrays[0].ndim == 3 and arrays[0].shape[2] in (2, 4)
    _check_sizes(arrays, name)
    return Frames(arrays, info, timing, indices)


def _netpbm_frames(data: bytes, name: str, spec: str | None) -> Frames:
    """The images of a Netpbm/PFM file (one after another) as frames: one size and layout."""
    images = netpbm_images(data, name)
    indices = parse_frame_spec(spec, len(images)) if spec else list(range(len(images)))
    picked = [images[i] for i in indices]
    arrays = [a if s is None else _normalized(a, s) for a, _, s in picked]
    depths = {info.depth for _, info, _ in picked}
    info = picked[0][1]
    info.frames = len(images)
    if len(depths) > 1:
        info.depth = "float" if "float" in depths else "16"
    arrays = _same_layout(arrays)
    info.alpha = arrays[0].ndim == 3 and arrays[0].shape[2] in (2, 4)
    _check_sizes(arrays, name)
    return Frames(arrays, info, Timing(), indices)


def _check_sizes(arrays: list[np.ndarray], name: str) -> None:
    shapes = {a.shape[:2] for a in arrays}
    if len(shapes) > 1:
        raise ImageIOError(
            f"{name}: its frames differ in size ({', '.join(f'{w}x{h}' for h, w in shapes)}); "
            "pick frames of one size with --frame"
        )


def read_frames(
    source: str | os.PathLike[str], stdin: BinaryIO | None = None, spec: str | None = None
) -> Frames:
    """Read the frames ``spec`` picks (default: all) of a file, or of stdin when ``"-"``."""
    if str(source) == "-":
        stream = stdin if stdin is not None else sys.stdin.buffer
        return decode_frames(stream.read(), "<stdin>", spec)
    try:
        data = Path(source).read_bytes()
    except OSError as exc:
        raise _read_error(str(source), exc) from None
    return decode_frames(data, str(source), spec)
