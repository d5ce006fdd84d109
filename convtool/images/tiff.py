"""The integer TIFF writer: 8- and 16-bit grey, grey+alpha, RGB and RGBA, one page or many.

Owns :func:`encode_tiff`. Baseline TIFF 6.0: chunky samples in strips, uncompressed or Adobe
deflate (compression 8; strips deflated in parallel on :mod:`convtool.runtime`), little- or
big-endian, with resolution (DPI) and ICC profile tags; pages are chained IFDs. Float TIFF stays
with Pillow (:mod:`.encode`). Returns bytes; writes no file. Must not import: PIL,
convtool.engine, matching or cli, click, rich.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from fractions import Fraction

import numpy as np

from .. import runtime

__all__ = ["encode_tiff"]

_SHORT, _LONG, _RATIONAL, _UNDEFINED = 3, 4, 5, 7
_TYPE_SIZE = {_SHORT: 2, _LONG: 4, _RATIONAL: 8, _UNDEFINED: 1}
_STRIP_BYTES = 1 << 20  # rows per strip: about this many bytes


def _strips(page: np.ndarray, order: str, level: int) -> tuple[list[bytes], int]:
    """The page's bytes in strips (deflated when ``level`` > 0) and the rows per strip."""
    dtype = np.dtype(page.dtype).newbyteorder(order)
    data = np.ascontiguousarray(page.astype(dtype, copy=False)).view(np.uint8)
    rows = data.reshape(page.shape[0], -1)
    per = max(1, _STRIP_BYTES // max(1, rows.shape[1]))
    starts = range(0, rows.shape[0], per)
    out: list[bytes] = [b""] * len(starts)

    def task(i: int, y0: int):
        def run() -> None:
            chunk = rows[y0 : y0 + per].tobytes()
            out[i] = zlib.compress(chunk, level) if level > 0 else chunk

        return run

    runtime.run_queue([task(i, y0) for i, y0 in enumerate(starts)])
    return out, per


def _ifd(entries: list[tuple[int, int, list]], order: str, at: int) -> tuple[bytes, bytes]:
    """An IFD placed at offset ``at``: ``(ifd bytes without the next pointer, overflow values)``.

    Values that do not fit in the 4-byte field follow the IFD (after its next-IFD pointer).
    """
    entries = sorted(entries)
    ifd_size = 2 + 12 * len(entries) + 4
    extra = bytearray()
    body = bytearray(struct.pack(order + "H", len(entries)))
    for tag, kind, values in entries:
        if kind == _RATIONAL:
            packed = b"".join(struct.pack(order + "II", *v) for v in values)
        elif kind == _UNDEFINED:
            packed = bytes(values)
        else:
            packed = struct.pack(order + ("H" if kind == _SHORT else "I") * len(values), *values)
        count = len(packed) // _TYPE_SIZE[kind]
        if len(packed) <= 4:
            field = packed.ljust(4, b"\0")
        else:
            field = struct.pack(order + "I", at + ifd_size + len(extra))
            extra += packed + (b"\0" if len(packed) % 2 else b"")
        body += struct.pack(order + "HHI", tag, kind, count) + field
    return bytes(body), bytes(extra)


def _rational(value: float) -> tuple[int, int]:
    frac = Fraction(value).limit_denominator(10_000)
    return (frac.numerator, frac.denominator)


def _tags(page, strips, per, offsets, level, icc, dpi) -> list[tuple[int, int, list]]:
    h, w = page.shape[:2]
    channels = 1 if page.ndim == 2 else page.shape[2]
    tags = [
        (256, _LONG, [w]),
        (257, _LONG, [h]),
        (258, _SHORT, [8 * page.itemsize] * channels),
        (259, _SHORT, [8 if level > 0 else 1]),
        (262, _SHORT, [2 if channels >= 3 else 1]),  # RGB or min-is-black
        (273, _LONG, offsets),
        (277, _SHORT, [channels]),
        (278, _LONG, [per]),
        (279, _LONG, [len(s) for s in strips]),
        (284, _SHORT, [1]),  # chunky
    ]
    if channels in (2, 4):
        tags.append((338, _SHORT, [2]))  # extra sample: unassociated alpha
    if dpi:
        tags += [(282, _RATIONAL, [_rational(dpi[0])]), (283, _RATIONAL, [_rational(dpi[1])])]
        tags.append((296, _SHORT, [2]))  # inches
    if icc:
        tags.append((34675, _UNDEFINED, list(icc)))
    return tags


def encode_tiff(
    pages: np.ndarray | Sequence[np.ndarray],
    *,
    byteorder: str = "<",
    level: int = 0,
    icc: bytes | None = None,
    dpi: tuple[float, float] | None = None,
) -> bytes:
    """TIFF bytes of uint8/uint16 ``(H, W)`` or ``(H, W, C)`` arrays (C = 1..4), one page each.

    ``byteorder`` is ``"<"`` (II, little-endian) or ``">"`` (MM); ``level`` 0 stores the samples
    uncompressed, 1-9 deflates each strip at that zlib level; ``icc`` and ``dpi`` are written
    as tags 34675 and 282/283 on every page. Two or four channels: the last is unassociated alpha.

    Examples
    --------
    >>> data = encode_tiff(np.zeros((2, 3, 3), np.uint16), byteorder=">")
    >>> data[:4]
    b'MM\\x00*'
    """
    if isinstance(pages, np.ndarray):
        pages = [pages]
    for page in pages:
        channels = 1 if page.ndim == 2 else page.shape[2]
        if page.dtype not in (np.uint8, np.uint16) or page.ndim not in (2, 3) or channels > 4:
            raise ValueError(f"TIFF pages are uint8/uint16 (H, W[, 1..4]), got {page.dtype}")
    out = bytearray((b"II" if byteorder == "<" else b"MM") + struct.pack(byteorder + "H", 42))
    out += b"\0\0\0\0"  # the first IFD's offset, filled in below
    pointer_at = 4
    for page in pages:
        strips, per = _strips(page, byteorder, level)
        offsets = []
        for strip in strips:
            offsets.append(len(out))
            out += strip
            if len(out) % 2:
                out += b"\0"
        at = len(out)
        tags = _tags(page, strips, per, offsets, level, icc, dpi)
        body, extra = _ifd(tags, byteorder, at)
        out[pointer_at : pointer_at + 4] = struct.pack(byteorder + "I", at)
        out += body
        pointer_at = len(out)
        out += b"\0\0\0\0" + extra  # next IFD: none unless another page follows
    return bytes(out)
