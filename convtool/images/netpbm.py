"""The Netpbm codec: PBM, PGM, PPM (plain and binary), PAM and PFM, read and written with numpy.

Owns :func:`read_header`, :func:`read_raster` (one image of a :class:`~._bytesource.ByteSource`,
so that images following each other on a pipe are read one at a time), :func:`decode_all`
(every image of a bytes object), :func:`stored_layout` and :func:`encode`.

Read: PBM ``P1``/``P4`` (1 = black), PGM ``P2``/``P5`` and PPM ``P3``/``P6`` with any maxval
1..65535 (two bytes per sample, most significant first, above 255), PAM ``P7`` with 1 to 4
channels (GRAYSCALE, RGB, BLACKANDWHITE and their ``_ALPHA`` forms), PFM ``Pf`` (grey) and
``PF`` (colour) float32, little-endian when the scale is negative, rows stored bottom to top
(the scale's size is not applied: values come back as stored, as Pillow and OpenCV do).
Samples come back in their own type with ``full_scale`` = maxval (divide for normalized
units: a maxval of 1023 reads 1023 as white), PBM as 0/1 with ``full_scale`` 1.
Written: ``pgm`` (P5, grey), ``ppm`` (P6; grey is repeated into the three channels), ``pnm``
(P5 or P6 as the channels say), ``pam`` (P7, 1 to 4 channels, TUPLTYPE from the channels),
all with maxval 255 or 65535 as the depth says; ``pfm`` (float32, little-endian, scale -1).
Several frames are images one after another, as Netpbm's tools and ffmpeg write streams.
Must not import: PIL, convtool.engine, matching or cli, click, rich.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._bytesource import ByteSource
from .info import ImageInfo, ImageIOError, pixel_limit_error

__all__ = [
    "READ_FORMATS",
    "WRITE_FORMATS",
    "Header",
    "Truncated",
    "decode_all",
    "encode",
    "is_netpbm",
    "read_header",
    "read_image",
    "read_raster",
    "stored_layout",
]

# magic -> (kind, plain, channels; None: the header says)
_MAGIC = {
    b"P1": ("pbm", True, 1), b"P2": ("pgm", True, 1), b"P3": ("ppm", True, 3),
    b"P4": ("pbm", False, 1), b"P5": ("pgm", False, 1), b"P6": ("ppm", False, 3),
    b"P7": ("pam", False, None), b"Pf": ("pfm", False, 1), b"PF": ("pfm", False, 3),
}  # fmt: skip
READ_FORMATS = ("pbm", "pgm", "ppm", "pam", "pfm")
WRITE_FORMATS = ("pgm", "ppm", "pnm", "pam", "pfm")
_SPACE = frozenset(b" \t\n\r\v\f")
_TUPLTYPES = {1: "GRAYSCALE", 2: "GRAYSCALE_ALPHA", 3: "RGB", 4: "RGB_ALPHA"}


class Truncated(ImageIOError):
    """The input ended inside an image (its header or its raster)."""


def is_netpbm(head: bytes) -> bool:
    """Whether ``head`` starts like a Netpbm or PFM image.

    Examples
    --------
    >>> is_netpbm(b"P6\\n"), is_netpbm(b"Pf 2"), is_netpbm(b"\\x89PNG")
    (True, True, False)
    """
    return head[:2] in _MAGIC and (len(head) < 3 or head[2] in _SPACE)


@dataclass
class Header:
    """What an image's header says: its kind, size, channels, maxval (0 for PFM) and layout."""

    magic: str
    kind: str
    width: int
    height: int
    channels: int
    maxval: int
    plain: bool = False
    little: bool = False  # PFM byte order
    alpha: bool = False

    @property
    def sample_type(self) -> np.dtype:
        if self.kind == "pfm":
            return np.dtype("<f4" if self.little else ">f4")
        return np.dtype("u1" if self.maxval < 256 else ">u2")

    @property
    def raster_bytes(self) -> int:
        if self.kind == "pbm":
            return (self.width + 7) // 8 * self.height
        return self.width * self.height * self.channels * self.sample_type.itemsize

    def info(self, name: str) -> ImageInfo:
        """The ImageInfo of an image with this header (its format: what it is written back as)."""
        fmt = {"pbm": "pgm"}.get(self.kind, self.kind)
        depth = "float" if self.kind == "pfm" else "8" if self.maxval < 256 else "16"
        return ImageInfo(format=fmt, depth=depth, alpha=self.alpha, source_mode=self.magic,
                         name=name)  # fmt: skip


def _label(kind: str) -> str:
    return kind.upper()


def _token(src: ByteSource, name: str, kind: str, what: str) -> bytes:
    """The next header token, after whitespace and ``#`` comments (to the end of the line)."""
    while True:
        b = src.byte()
        if b == -1:
            raise Truncated(f"{name}: truncated {_label(kind)} header (it ends before the {what})")
        if b == 35:  # '#'
            while b not in (10, 13, -1):
                b = src.byte()
            continue
        if b not in _SPACE:
            break
    token = bytearray([b])
    while True:
        b = src.byte()
        if b == -1:
            break
        if b in _SPACE or b == 35:
            src.unread()
            break
        token.append(b)
        if len(token) > 40:
            raise ImageIOError(f"{name}: bad {_label(kind)} header ({what} is not a number)")
    return bytes(token)


def _whole(token: bytes, name: str, kind: str, what: str, lo: int, hi: int) -> int:
    text = token.decode("latin-1")
    if not text.isdigit() or not text.isascii():
        raise ImageIOError(f"{name}: bad {_label(kind)} header ({what} {text!r} is not a number)")
    value = int(text)
    if not lo <= value <= hi:
        raise ImageIOError(
            f"{name}: bad {_label(kind)} header ({what} {value} is out of range {lo} to {hi})"
        )
    return value


def _end_of_header(src: ByteSource, name: str, kind: str) -> None:
    """The single whitespace character between the header and the raster (a comment ending
    in a newline counts)."""
    b = src.byte()
    if b == 35:
        while b not in (10, 13, -1):
            b = src.byte()
    if b == -1:
        raise Truncated(f"{name}: truncated {_label(kind)} header (no data after it)")
    if b not in _SPACE:
        raise ImageIOError(f"{name}: bad {_label(kind)} header (no whitespace before the data)")


def _pam_header(src: ByteSource, name: str) -> Header:
    fields: dict[str, str] = {}
    tupltype = ""
    while True:
        line = bytearray()
        while (b := src.byte()) not in (10, -1):
            line.append(b)
            if len(line) > 1024:
                raise ImageIOError(f"{name}: bad PAM header (a line over 1024 bytes)")
        if b == -1:
            raise Truncated(f"{name}: truncated PAM header (no ENDHDR)")
        text = line.decode("latin-1").strip()
        if not text or text.startswith("#"):
            continue
        key, _, value = text.partition(" ")
        key, value = key.upper(), value.strip()
        if key == "ENDHDR":
            break
        if key == "TUPLTYPE":
            tupltype = f"{tupltype} {value}".strip()
        elif key in ("WIDTH", "HEIGHT", "DEPTH", "MAXVAL"):
            fields[key] = value
        else:
            raise ImageIOError(f"{name}: bad PAM header (unknown line {text[:40]!r})")
    for key in ("WIDTH", "HEIGHT", "DEPTH", "MAXVAL"):
        if key not in fields:
            raise ImageIOError(f"{name}: bad PAM header (no {key} line)")
    size = {k.lower(): fields[k].encode() for k in fields}
    width = _whole(size["width"], name, "pam", "width", 1, 1 << 31)
    height = _whole(size["height"], name, "pam", "height", 1, 1 << 31)
    depth = _whole(size["depth"], name, "pam", "depth", 1, 1 << 31)
    maxval = _whole(size["maxval"], name, "pam", "maxval", 1, 65535)
    if depth > 4:
        raise ImageIOError(f"{name}: PAM with DEPTH {depth}: convtool reads 1 to 4 channels")
    alpha = tupltype.endswith("_ALPHA") if tupltype else depth in (2, 4)
    return Header("P7", "pam", width, height, depth, maxval, alpha=alpha)


def read_header(src: ByteSource, name: str, *, max_pixels: int | None = None) -> Header | None:
    """The header of the next image of ``src``; None at the end of the stream.

    Raises a one-line ImageIOError for a damaged header (:class:`Truncated` when the stream
    ends inside it) and for an image over ``max_pixels`` (0 or None: no limit).

    Examples
    --------
    >>> h = read_header(ByteSource(b"P5 # a comment\\n3 2\\n65535\\n"), "x.pgm")
    >>> h.kind, h.width, h.height, h.channels, h.maxval, h.raster_bytes
    ('pgm', 3, 2, 1, 65535, 12)
    >>> read_header(ByteSource(b"P6 3 2 0\\n"), "x.ppm")
    Traceback (most recent call last):
    ...
    convtool.images.ImageIOError: x.ppm: bad PPM header (maxval 0 is out of range 1 to 65535)
    """
    magic = src.read(2)
    if not magic:
        return None
    if magic not in _MAGIC:
        raise ImageIOError(f"{name}: not a Netpbm image (starts with {magic!r})")
    kind, plain, channels = _MAGIC[magic]
    if kind == "pam":
        if src.byte() not in (10, 13, 32, 9):
            raise ImageIOError(f"{name}: bad PAM header (no newline after P7)")
        header = _pam_header(src, name)
    else:
        width = _whole(_token(src, name, kind, "width"), name, kind, "width", 1, 1 << 31)
        height = _whole(_token(src, name, kind, "height"), name, kind, "height", 1, 1 << 31)
        maxval, little = 1, False
        if kind == "pfm":
            token = _token(src, name, kind, "scale").decode("latin-1")
            try:
                scale = float(token)
            except ValueError:
                scale = 0.0
            if scale == 0.0 or scale != scale:
                raise ImageIOError(f"{name}: bad PFM header (scale {token!r} is not a non-zero "
                                   "number)")  # fmt: skip
            maxval, little = 0, scale < 0
        elif kind != "pbm":
            maxval = _whole(_token(src, name, kind, "maxval"), name, kind, "maxval", 1, 65535)
        _end_of_header(src, name, kind)
        header = Header(magic.decode(), kind, width, height, channels, maxval, plain, little)
    pixels = header.width * header.height
    if max_pixels and pixels > max_pixels:
        raise pixel_limit_error(name, pixels, max_pixels)
    return header


def _plain_samples(src: ByteSource, h: Header, name: str) -> np.ndarray:
    """The samples of a plain (ASCII) raster, read chunk by chunk with numpy."""
    count = h.width * h.height * h.channels
    while True:
        data = np.frombuffer(src.buffered(), np.uint8)
        digit = (data >= 48) & (data <= 57)
        if h.kind == "pbm":  # one character per sample, spaces optional
            starts = np.flatnonzero(digit)
            ends = starts + 1
        else:
            starts = np.flatnonzero(digit & ~np.concatenate(([False], digit[:-1])))
            ends = np.flatnonzero(digit & ~np.concatenate((digit[1:], [False]))) + 1
        enough = len(starts) > count or (
            len(starts) == count and count and (ends[-1] < len(data) or not src.grow())
        )
        if enough or count == 0:
            end = int(ends[count - 1]) if count else 0
            break
        if not np.all(digit | np.isin(data, list(_SPACE))):  # all of it is this raster's
            raise ImageIOError(
                f"{name}: bad plain {_label(h.kind)} data (a sample is not a number)"
            )
        if not src.grow():
            raise Truncated(
                f"{name}: truncated {_label(h.kind)} data ({len(starts):,} of {count:,} samples)"
            )
    body = data[:end]
    if not np.all(digit[:end] | np.isin(body, list(_SPACE))):
        raise ImageIOError(f"{name}: bad plain {_label(h.kind)} data (a sample is not a number)")
    if h.kind == "pbm":
        values = (1 - (data[starts[:count]] - 48)).astype(np.uint8)
        if np.any(data[starts[:count]] > 49):
            raise ImageIOError(f"{name}: bad plain PBM data (a sample is not 0 or 1)")
    else:
        values = np.array(bytes(body).split()).astype(np.int64)
        if values.size and int(values.max()) > h.maxval:
            raise ImageIOError(f"{name}: bad {_label(h.kind)} data (a sample is above maxval "
                               f"{h.maxval})")  # fmt: skip
        values = values.astype(np.uint8 if h.maxval < 256 else np.uint16)
    src.skip(end)
    return values


def read_raster(src: ByteSource, h: Header, name: str) -> tuple[np.ndarray, float | None]:
    """The raster after header ``h``: ``(pixels, full_scale)``, ``(H, W)`` or ``(H, W, C)``.

    Integers in their own type (uint8 up to maxval 255, else uint16) with ``full_scale`` the
    maxval; PBM 0 (black) / 1 with 1; PFM float32 top row first with None.
    """
    shape = (h.height, h.width) if h.channels == 1 else (h.height, h.width, h.channels)
    if h.plain:
        values = _plain_samples(src, h, name).reshape(shape)
        return values, float(h.maxval)
    if h.kind == "pbm":
        packed = np.empty((h.height, (h.width + 7) // 8), np.uint8)
    else:
        packed = np.empty(shape, h.sample_type)
    got = src.read_into(packed)
    if got < h.raster_bytes:
        raise Truncated(
            f"{name}: truncated {_label(h.kind)} data ({got:,} of {h.raster_bytes:,} bytes)"
        )
    if h.kind == "pbm":
        bits = np.unpackbits(packed, axis=1)[:, : h.width]
        return np.subtract(1, bits, out=bits), 1.0
    if h.kind == "pfm":
        values = packed[::-1].astype(np.float32)  # bottom row first in the file
        if not np.all(np.isfinite(values)):
            raise ImageIOError(f"{name}: PFM holds NaN or infinite values")
        return values, None
    if packed.dtype.byteorder == ">":
        packed = packed.astype(np.uint16)
    if h.maxval not in (255, 65535) and int(packed.max()) > h.maxval:
        raise ImageIOError(f"{name}: bad {_label(h.kind)} data (a sample is above maxval "
                           f"{h.maxval})")  # fmt: skip
    return packed, float(h.maxval)


def read_image(
    src: ByteSource, name: str, *, max_pixels: int | None = None
) -> tuple[np.ndarray, ImageInfo, float | None] | None:
    """The next image of ``src`` as ``(pixels, info, full_scale)``; None at the end.

    Examples
    --------
    >>> pixels, info, scale = read_image(ByteSource(b"P2 2 1 1023 0 1023\\n"), "x.pgm")
    >>> pixels.tolist(), pixels.dtype, info.format, info.depth, scale
    ([[0, 1023]], dtype('uint16'), 'pgm', '16', 1023.0)
    """
    header = read_header(src, name, max_pixels=max_pixels)
    if header is None:
        return None
    pixels, full_scale = read_raster(src, header, name)
    return pixels, header.info(name), full_scale


def decode_all(
    data: bytes, name: str, *, max_pixels: int | None = None, first: bool = False
) -> list[tuple[np.ndarray, ImageInfo, float | None]]:
    """Every image of ``data`` (images one after another; only the first with ``first``).

    Whitespace after the last image is allowed, as Netpbm's tools allow it.
    """
    src = ByteSource(data)
    images = []
    while True:
        one = read_image(src, name, max_pixels=max_pixels)
        if one is None:
            break
        images.append(one)
        if first:
            break
        rest = src.peek(64)
        if not rest.strip() and len(src.fill(1 << 16)) == len(rest):
            break
    if not images:
        raise ImageIOError(f"{name}: empty input (0 bytes)")
    return images


def _check_channels(fmt: str, channels: int) -> None:
    what = fmt.upper()
    if fmt in ("pgm", "ppm", "pnm", "pfm") and channels in (2, 4):
        raise ImageIOError(
            f"{what} cannot store an alpha channel; write PAM, PNG or TIFF, or use --alpha drop"
        )
    if fmt in ("pgm",) and channels != 1:
        raise ImageIOError(f"PGM stores grey: the result has {channels} channels; write PPM")
    if channels not in (1, 2, 3, 4):
        raise ImageIOError(f"cannot store {channels} channels as {what} (1 to 4 channels)")


def stored_layout(
    info: ImageInfo, fmt: str, channels: int, mapping: str | None = None
) -> tuple[str, str]:
    """``(depth, mapping)`` for :func:`convtool.images.stored_layout`: 8 or 16 bits as the
    result's depth (float results: 16), PFM float32 kept as computed unless ``mapping``."""
    _check_channels(fmt, channels)
    if fmt == "pfm":
        return "float", mapping or "none"
    return ("16" if info.depth == "float" else info.depth), mapping or "clip"


def header_for(arr: np.ndarray, fmt: str) -> tuple[bytes, np.ndarray]:
    """``(header, samples)`` of one stored frame as ``fmt``: the samples in file order."""
    h, w = arr.shape[:2]
    channels = 1 if arr.ndim == 2 else arr.shape[2]
    _check_channels(fmt, channels)
    if fmt == "pfm":
        head = f"{'PF' if channels == 3 else 'Pf'}\n{w} {h}\n-1.0\n".encode()
        return head, arr[::-1].astype("<f4", copy=False)
    if arr.dtype not in (np.uint8, np.uint16):
        raise ImageIOError(f"{fmt.upper()} stores uint8/uint16 samples, got {arr.dtype}")
    maxval = 255 if arr.dtype == np.uint8 else 65535
    if fmt == "ppm" and channels == 1:
        arr, channels = np.repeat(arr[:, :, None], 3, axis=2), 3
    if fmt == "pam":
        head = (f"P7\nWIDTH {w}\nHEIGHT {h}\nDEPTH {channels}\nMAXVAL {maxval}\n"
                f"TUPLTYPE {_TUPLTYPES[channels]}\nENDHDR\n").encode()  # fmt: skip
    else:
        head = f"{'P6' if channels == 3 else 'P5'}\n{w} {h}\n{maxval}\n".encode()
    return head, arr.astype(">u2", copy=False) if maxval == 65535 else arr


def encode(frames: list[np.ndarray], fmt: str) -> bytes:
    """``fmt`` bytes of stored frames (uint8/uint16; float32 for PFM), one image after another.

    Examples
    --------
    >>> encode([np.array([[1, 2]], np.uint16)], "pgm")
    b'P5\\n2 1\\n65535\\n\\x00\\x01\\x00\\x02'
    """
    parts = []
    for arr in frames:
        head, samples = header_for(np.asarray(arr), fmt)
        parts += [head, np.ascontiguousarray(samples).tobytes()]
    return b"".join(parts)
