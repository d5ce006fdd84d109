"""Image streams: many images one after another on a pipe, read and written one at a time.

Owns :class:`RawLayout` (``--raw WxH[xC][:u8|u16|f32]``), :class:`StreamFrame`,
:func:`iter_frames` (the frames of a stream, one at a time, in bounded memory),
:func:`encode_frame` and :func:`write_frames` (each frame encoded, written and flushed).

A stream holds Netpbm/PFM images (what ``ffmpeg -f image2pipe -c:v ppm`` and Netpbm's tools
write), PNG images (``-c:v png``; an APNG gives each of its frames), in any mix, or raw frames
of one layout (``ffmpeg -f rawvideo -pix_fmt rgb24|gray|rgb48le|gray16le|grayf32le|...``).
Raw samples are uint8, or **little-endian** uint16 / float32 (``u16``, ``f32``), as ffmpeg's
``*le`` pixel formats; channels are interleaved (``rgb24``, ``rgba``: C = 3, 4), rows top down.
Any other image (JPEG, TIFF, GIF, ...) is read whole as the first and only item of a stream.
A stream that ends inside a frame raises :class:`StreamTruncated` (``stdin: frame N
truncated``) after the frames before it were given out.
Must not import: convtool.engine, matching or cli, click, rich.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from . import netpbm
from ._bytesource import ByteSource
from .info import ImageInfo, ImageIOError, pixel_limit_error

__all__ = [
    "RAW_FORMAT",
    "RawLayout",
    "StreamFrame",
    "StreamTruncated",
    "encode_frame",
    "is_stream_head",
    "iter_frames",
    "write_frames",
]

RAW_FORMAT = "raw"  # the output format of raw frames (not a file format: streams only)
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_RAW_SAMPLES = {"u8": ("u1", "8"), "u16": ("<u2", "16"), "f32": ("<f4", "float")}
_RAW_SPEC = re.compile(r"^(\d+)x(\d+)(?:x(\d+))?(?::(u8|u16|f32))?$")


class StreamTruncated(ImageIOError):
    """The stream ended inside a frame (the frames before it were complete)."""


@dataclass(frozen=True)
class RawLayout:
    """The layout of raw frames: width, height, channels (1 to 4) and sample type.

    Examples
    --------
    >>> RawLayout.parse("1920x1080x3")
    RawLayout(width=1920, height=1080, channels=3, sample='u8')
    >>> RawLayout.parse("64x48:u16").frame_bytes, RawLayout.parse("64x48:u16").dtype.str
    (18432, '<u2')
    """

    width: int
    height: int
    channels: int = 3
    sample: str = "u8"

    @classmethod
    def parse(cls, spec: str) -> RawLayout:
        """``WxH[xC][:u8|u16|f32]`` (C defaults to 3, the sample type to u8)."""
        found = _RAW_SPEC.match(spec.strip().lower())
        if not found:
            raise ImageIOError(
                f"--raw {spec}: give WIDTHxHEIGHT[xCHANNELS][:u8|u16|f32], e.g. 1920x1080x3 "
                "or 640x480x1:u16"
            )
        w, h, c = int(found[1]), int(found[2]), int(found[3] or 3)
        if w < 1 or h < 1 or not 1 <= c <= 4:
            raise ImageIOError(f"--raw {spec}: width and height from 1, channels 1 to 4")
        return cls(w, h, c, found[4] or "u8")

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(_RAW_SAMPLES[self.sample][0])

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.height, self.width) + ((self.channels,) if self.channels > 1 else ())

    @property
    def frame_bytes(self) -> int:
        return self.width * self.height * self.channels * self.dtype.itemsize

    def info(self, name: str) -> ImageInfo:
        depth = _RAW_SAMPLES[self.sample][1]
        alpha = self.channels in (2, 4)
        return ImageInfo(format=RAW_FORMAT, depth=depth, alpha=alpha, source_mode=f"raw:{self}",
                         name=name)  # fmt: skip

    def __str__(self) -> str:
        return f"{self.width}x{self.height}x{self.channels}:{self.sample}"


@dataclass
class StreamFrame:
    """One frame of a stream: its number (from 1), pixels in their own type, and info.

    ``full_scale`` divides integer pixels into normalized units (255, 65535, a Netpbm
    maxval); None for floats, which are taken as they are.
    """

    number: int
    pixels: np.ndarray
    info: ImageInfo
    full_scale: float | None

    def values(self) -> np.ndarray:
        """The pixels as float32 in normalized units (0 black, 1 white), as read_image gives."""
        if self.full_scale is None:
            return self.pixels.astype(np.float32, copy=False)
        return np.divide(self.pixels, np.float32(self.full_scale), dtype=np.float32)


def is_stream_head(head: bytes) -> bool:
    """Whether ``head`` starts a Netpbm/PFM or PNG image (what a stream is made of)."""
    return netpbm.is_netpbm(head[:3]) or head.startswith(_PNG_SIGNATURE)


def _limit() -> int | None:
    from PIL import Image  # the limit in force (set_max_pixels)

    return Image.MAX_IMAGE_PIXELS


def _truncated(name: str, number: int) -> StreamTruncated:
    return StreamTruncated(f"{name}: frame {number} truncated")


def _png_bytes(src: ByteSource, name: str, number: int) -> bytes:
    """One PNG file of the stream, chunk by chunk up to IEND."""
    parts = [src.read(8)]
    while True:
        head = src.read(8)
        if len(head) < 8:
            raise _truncated(name, number)
        length = int.from_bytes(head[:4], "big")
        if length > 1 << 31:
            raise ImageIOError(f"{name}: frame {number}: corrupt PNG (a chunk of {length} bytes)")
        body = src.read(length + 4)
        if len(body) < length + 4:
            raise _truncated(name, number)
        parts += [head, body]
        if head[4:8] == b"IEND":
            return b"".join(parts)


def _raw_frames(src: ByteSource, layout: RawLayout, name: str) -> Iterator[StreamFrame]:
    limit = _limit()
    if limit and layout.width * layout.height > limit:
        raise pixel_limit_error(f"--raw {layout}", layout.width * layout.height, limit)
    scale = {"u8": 255.0, "u16": 65535.0}.get(layout.sample)
    number = 0
    while True:
        number += 1
        pixels = np.empty(layout.shape, layout.dtype)
        got = src.read_into(pixels)
        if got == 0:
            return
        if got < layout.frame_bytes:
            raise StreamTruncated(
                f"{name}: frame {number} truncated ({got:,} of {layout.frame_bytes:,} bytes)"
            )
        if layout.sample == "u16" and pixels.dtype.byteorder == ">":
            pixels = pixels.astype(np.uint16)
        elif layout.sample == "f32":
            pixels = pixels.astype(np.float32, copy=False)
            if not np.all(np.isfinite(pixels)):
                raise ImageIOError(f"{name}: frame {number} holds NaN or infinite values")
        yield StreamFrame(number, pixels, layout.info(name), scale)


def _whole(src: ByteSource, name: str) -> Iterator[StreamFrame]:
    """A stream that is one image of another format: read whole, every frame of it given."""
    from .frames import decode_frames

    got = decode_frames(src.read_all(), name)
    for i, arr in enumerate(got.arrays):
        yield StreamFrame(i + 1, arr, got.info, None)


def iter_frames(
    stream: BinaryIO | bytes | ByteSource,
    *,
    raw: RawLayout | str | None = None,
    name: str = "stdin",
) -> Iterator[StreamFrame]:
    """The frames of an image stream, one at a time, as they arrive.

    ``stream`` is a binary file object (a pipe: ``sys.stdin.buffer``, a subprocess's stdout)
    or bytes; ``raw`` gives the layout of raw frames (a :class:`RawLayout` or its ``--raw``
    text). Only the frame being read is held: memory does not grow with the stream. Errors
    name ``name``; a stream that ends inside a frame raises :class:`StreamTruncated` once
    the frames before it were given out. Images over the pixel limit in force
    (:func:`convtool.images.set_max_pixels`) are refused before their data are read.

    Examples
    --------
    >>> from convtool.images.netpbm import encode
    >>> data = encode([np.zeros((2, 3), np.uint8), np.full((2, 3), 9, np.uint8)], "pgm")
    >>> [(f.number, f.info.format, int(f.pixels.max())) for f in iter_frames(data)]
    [(1, 'pgm', 0), (2, 'pgm', 9)]

    Filtering a video's frames from an ffmpeg subprocess, and sending them on to another::

        import subprocess
        from convtool.chain.memory import FilterOptions, apply_chain
        from convtool.images import iter_frames, write_frames
        from convtool.kernels import parse_kernel

        src = subprocess.Popen(["ffmpeg", "-v", "error", "-i", "clip.mp4", "-f", "rawvideo",
                                "-pix_fmt", "rgb24", "-"], stdout=subprocess.PIPE)
        dst = subprocess.Popen(["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt",
                                "rgb24", "-s", "1920x1080", "-r", "30", "-i", "-", "out.mp4"],
                               stdin=subprocess.PIPE)
        blur = [parse_kernel("gaussian:2")]
        frames = iter_frames(src.stdout, raw="1920x1080x3")
        write_frames(dst.stdin, ((apply_chain(f.values(), blur, FilterOptions()), f.info)
                                 for f in frames))
        dst.stdin.close(); dst.wait(); src.wait()
    """
    layout = RawLayout.parse(raw) if isinstance(raw, str) else raw
    src = stream if isinstance(stream, ByteSource) else ByteSource(stream)
    if layout is not None:
        yield from _raw_frames(src, layout, name)
        return
    number = 0
    while True:
        if number:  # whitespace between images (after a plain raster) is skipped
            while (ahead := src.peek(1)) and ahead in b" \t\n\r\v\f":
                src.skip(1)
        head = src.peek(8)
        if not head:
            if number == 0:
                raise ImageIOError(f"{name}: empty input (0 bytes)")
            return
        number += 1
        if netpbm.is_netpbm(head[:3]):
            try:
                one = netpbm.read_image(src, name, max_pixels=_limit())
            except netpbm.Truncated:
                raise _truncated(name, number) from None
            assert one is not None
            yield StreamFrame(number, one[0], one[1], one[2])
        elif head.startswith(_PNG_SIGNATURE):
            number = yield from _png_frames(_png_bytes(src, name, number), name, number)
        elif number == 1:
            yield from _whole(src, name)
            return
        else:
            raise ImageIOError(
                f"{name}: frame {number} is not a Netpbm, PFM or PNG image (starts with "
                f"{head[:4]!r})"
            )


def _png_frames(data: bytes, name: str, number: int):
    """The frames of one PNG of the stream (an APNG has several); returns the last number."""
    from .frames import decode_frames
    from .pixels import read_pixels

    one = read_pixels("-", stdin=io.BytesIO(data))
    if one is not None:
        pixels, info, scale = one
        info.name = name
        yield StreamFrame(number, pixels, info, scale)
        return number
    got = decode_frames(data, name)
    for i, arr in enumerate(got.arrays):
        yield StreamFrame(number + i, arr, got.info, None)
    return number + len(got.arrays) - 1


def encode_frame(
    values: np.ndarray, info: ImageInfo, fmt: str | None = None, *, mapping: str | None = None
) -> bytes:
    """One frame of computed values as ``fmt`` bytes (default: ``info.format``).

    ``"raw"`` gives the samples alone, in the depth of ``info``: uint8, little-endian uint16,
    or little-endian float32 kept as computed (for ``info.depth == "float"``).

    Examples
    --------
    >>> encode_frame(np.array([[0.0, 1.0]]), ImageInfo(depth="16"), "raw")
    b'\\x00\\x00\\xff\\xff'
    """
    from .encode import encode_frames, to_output_array

    fmt = fmt or info.format
    if fmt != RAW_FORMAT:
        return encode_frames([values], info, fmt, mapping=mapping)
    return bytes(stored_raw(to_output_array(values, **raw_layout(info, mapping))))


def raw_layout(info: ImageInfo, mapping: str | None, depth: str | None = None) -> dict:
    """The ``depth`` and ``mapping`` raw frames of ``info``'s depth (or ``depth``, as
    ``--depth`` asks: u8, u16 or f32 frames) are stored with."""
    if (depth or info.depth) == "float":
        return {"depth": "float", "mapping": mapping or "none"}
    return {"depth": depth or info.depth, "mapping": mapping or "clip"}


def stored_raw(stored: np.ndarray) -> memoryview:
    """Raw bytes of a stored frame (uint8, uint16 or float32), little-endian (a view of the
    array when it is laid out so already: no copy)."""
    order = {"f": "<f4", "u": "<u2" if stored.dtype.itemsize == 2 else "u1"}[stored.dtype.kind]
    flat = np.ascontiguousarray(stored, order).reshape(-1)
    return memoryview(flat.view(np.uint8))


def write_frames(
    stream: BinaryIO,
    frames: Iterable[tuple[np.ndarray, ImageInfo]],
    fmt: str | None = None,
    *,
    mapping: str | None = None,
) -> int:
    """Write ``(values, info)`` frames to ``stream`` one after another, each flushed as soon
    as it is encoded (``fmt`` None: each frame's ``info.format``); returns how many.

    Examples
    --------
    >>> out = io.BytesIO()
    >>> write_frames(out, [(np.zeros((1, 2)), ImageInfo()), (np.ones((1, 2)), ImageInfo())], "pgm")
    2
    >>> out.getvalue()
    b'P5\\n2 1\\n255\\n\\x00\\x00P5\\n2 1\\n255\\n\\xff\\xff'
    """
    from .write import write_stream

    count = 0
    for values, info in frames:
        write_stream(encode_frame(values, info, fmt, mapping=mapping), stream)
        count += 1
    return count
