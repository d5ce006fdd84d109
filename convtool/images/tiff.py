"""The integer TIFF writer: 8- and 16-bit grey, grey+alpha, RGB and RGBA, one page or many.

Owns :func:`encode_tiff` and :func:`write_tiff` (the same bytes into a seekable file, a group
of strips at a time, so a big page is never held twice), and :func:`layout_tiff` with
:class:`Strips` (the same file laid out with its uncompressed strips left empty, then filled
in place rows at a time, by any process: a Dask cluster's workers; or mapped as one array,
as a single machine's banded run fills it). Baseline TIFF 6.0:
chunky samples in strips, uncompressed or Adobe deflate (compression 8; strips deflated in
parallel on :mod:`convtool.runtime`), little- or big-endian, with resolution (DPI) and ICC
profile tags; pages are chained IFDs. Float TIFF stays with Pillow (:mod:`.encode`). Returns
bytes, fills a file object :mod:`.write` opened, or writes into a descriptor it is given;
opens no file itself. Must not import: PIL, convtool.engine, matching or cli, click, rich.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import BinaryIO

import numpy as np

from .. import runtime

__all__ = [
    "CLASSIC_BYTES",
    "Strips",
    "encode_tiff",
    "layout_tiff",
    "one_run",
    "stored_page",
    "write_tiff",
]

_SHORT, _LONG, _RATIONAL, _UNDEFINED = 3, 4, 5, 7
_TYPE_SIZE = {_SHORT: 2, _LONG: 4, _RATIONAL: 8, _UNDEFINED: 1}
_STRIP_BYTES = 1 << 20  # rows per strip: about this many bytes
_GROUP_STRIPS = 32  # strips made (deflated in parallel) and written at a time: ~32 MB held


# Classic TIFF's offsets are 32-bit: the pixels must end below 4 GiB, with room for the tags.
CLASSIC_BYTES = 2**32 - 2**24


def _rows_per_strip(shape: tuple[int, ...], itemsize: int) -> int:
    row = int(np.prod(shape[1:])) * itemsize
    per = max(1, _STRIP_BYTES // max(1, row))
    # Strips of an even byte count: no pad byte between them, so an uncompressed page is one
    # run of rows in the file (mapped as one array by :meth:`Strips.mapped`).
    return per - per % 2 if row % 2 and per > 1 else per


def _strips(page: np.ndarray, order: str, level: int) -> Iterator[list[bytes]]:
    """The page's bytes in strips of :func:`_rows_per_strip` rows (deflated when ``level`` > 0),
    :data:`_GROUP_STRIPS` strips at a time; the byte order is converted a strip at a time."""
    dtype = np.dtype(page.dtype).newbyteorder(order)
    per = _rows_per_strip(page.shape, page.itemsize)
    starts = range(0, page.shape[0], per)

    def task(out: list[bytes], i: int, y0: int):
        def run() -> None:
            chunk = np.ascontiguousarray(page[y0 : y0 + per].astype(dtype, copy=False)).tobytes()
            out[i] = zlib.compress(chunk, level) if level > 0 else chunk

        return run

    for g in range(0, len(starts), _GROUP_STRIPS):
        group = starts[g : g + _GROUP_STRIPS]
        out: list[bytes] = [b""] * len(group)
        runtime.run_queue([task(out, i, y0) for i, y0 in enumerate(group)])
        yield out


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


def _tags(shape, itemsize, sizes, per, offsets, level, icc, dpi) -> list[tuple[int, int, list]]:
    h, w = shape[:2]
    channels = 1 if len(shape) == 2 else shape[2]
    tags = [
        (256, _LONG, [w]),
        (257, _LONG, [h]),
        (258, _SHORT, [8 * itemsize] * channels),
        (259, _SHORT, [8 if level > 0 else 1]),
        (262, _SHORT, [2 if channels >= 3 else 1]),  # RGB or min-is-black
        (273, _LONG, offsets),
        (277, _SHORT, [channels]),
        (278, _LONG, [per]),
        (279, _LONG, sizes),
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
    buf = io.BytesIO()
    write_tiff(buf, pages, byteorder=byteorder, level=level, icc=icc, dpi=dpi)
    return buf.getvalue()


def write_tiff(
    fh: BinaryIO,
    pages: np.ndarray | Sequence[np.ndarray],
    *,
    byteorder: str = "<",
    level: int = 0,
    icc: bytes | None = None,
    dpi: tuple[float, float] | None = None,
) -> list[tuple[list[int], int]]:
    """Write :func:`encode_tiff`'s bytes into the seekable binary file ``fh`` (from its current
    position), a group of strips at a time: besides the pages, memory holds one group.

    Returns each page's strip offsets (from ``fh``'s start position) and rows per strip, so
    that uncompressed strips can be filled in place later (:func:`convtool.dask.to_tiff`).
    """
    if isinstance(pages, np.ndarray):
        pages = [pages]
    for page in pages:
        _check(page.shape, page.dtype)
    if level == 0:  # deflated strips may fit: found when they are written
        _check_size(sum(int(np.prod(p.shape)) * p.dtype.itemsize for p in pages))
    try:
        return _write_pages(fh, pages, byteorder, level, icc, dpi)
    except struct.error:  # deflated strips that did not fit after all
        raise ValueError("the file is over classic TIFF's 4 GiB: write .npy") from None


def _write_pages(fh, pages, byteorder, level, icc, dpi) -> list[tuple[list[int], int]]:
    start = fh.tell()
    fh.write(_header(byteorder, 0))  # the first IFD's offset, filled in below
    pos, pointer_at = 8, 4
    layout = []
    for page in pages:
        offsets: list[int] = []
        sizes: list[int] = []
        for group in _strips(page, byteorder, level):
            for strip in group:
                offsets.append(pos)
                sizes.append(len(strip))
                pad = b"\0" if len(strip) % 2 else b""
                fh.write(strip + pad if pad else strip)
                pos += len(strip) + len(pad)
        per = _rows_per_strip(page.shape, page.itemsize)
        tags = _tags(page.shape, page.itemsize, sizes, per, offsets, level, icc, dpi)
        body, extra = _ifd(tags, byteorder, pos)
        fh.seek(start + pointer_at)
        fh.write(struct.pack(byteorder + "I", pos))
        fh.seek(start + pos)
        fh.write(body)
        pointer_at = pos + len(body)
        fh.write(b"\0\0\0\0" + extra)  # next IFD: none unless another page follows
        pos = pointer_at + 4 + len(extra)
        layout.append((offsets, per))
    return layout


def stored_page(shape: tuple[int, ...], dtype) -> tuple[int, ...]:
    """The shape a page of ``shape`` and ``dtype`` is stored with: 16-bit grey+alpha as RGBA
    (grey in R, G and B; few readers take 16-bit grey+alpha), any other as it is.

    Examples
    --------
    >>> stored_page((5, 4, 2), np.uint16), stored_page((5, 4, 2), np.uint8)
    ((5, 4, 4), (5, 4, 2))
    """
    if np.dtype(dtype) == np.uint16 and len(shape) == 3 and shape[2] == 2:
        return (*shape[:2], 4)
    return tuple(shape)


def one_run(shape: tuple[int, ...], dtype) -> bool:
    """Whether an uncompressed page's strips follow each other with no pad byte between them
    (always, but for rows over the strip size with an odd byte count: one row a strip).

    Examples
    --------
    >>> one_run((4000, 3001), np.uint8), one_run((4, 2_000_001), np.uint8)
    (True, False)
    """
    row = int(np.prod(shape[1:])) * np.dtype(dtype).itemsize
    per = _rows_per_strip(tuple(shape), np.dtype(dtype).itemsize)
    return (per * row) % 2 == 0 or shape[0] <= per


def _check(shape: tuple[int, ...], dtype) -> None:
    channels = 1 if len(shape) != 3 else shape[2]
    if np.dtype(dtype) not in (np.uint8, np.uint16) or len(shape) not in (2, 3) or channels > 4:
        raise ValueError(f"TIFF pages are uint8/uint16 (H, W[, 1..4]), got {np.dtype(dtype)}")


def _check_size(size: int) -> None:
    if size > CLASSIC_BYTES:
        raise ValueError(f"{size} bytes of pixels are over classic TIFF's 4 GiB: write .npy")


def _header(byteorder: str, first_ifd: int) -> bytes:
    return (b"II" if byteorder == "<" else b"MM") + struct.pack(byteorder + "HI", 42, first_ifd)


@dataclass(frozen=True)
class Strips:
    """Where the rows of a page laid out by :func:`layout_tiff` go: strip offsets (from the
    file's start), rows per strip, the page's shape and its samples' dtype in file order."""

    offsets: tuple[int, ...]
    per: int
    shape: tuple[int, ...]
    dtype: np.dtype

    def mapped(self, path: str) -> np.memmap:
        """The page of the file at ``path`` as one writable array mapped from it: rows stored
        into it land in their strips. Needs strips that are one run of bytes
        (:func:`one_run`)."""
        if not one_run(self.shape, self.dtype):
            raise ValueError(f"strips of {self.shape} pages are not one run of bytes")
        return np.memmap(path, dtype=self.dtype, mode="r+", offset=self.offsets[0],
                         shape=self.shape)  # fmt: skip

    def write_rows(self, fd: int, r0: int, rows: np.ndarray, c0: int = 0) -> None:
        """Write ``rows`` (page rows ``r0:r0 + len(rows)``, columns ``c0:`` as wide as they are,
        every channel) into their strips of the open file ``fd`` with ``os.pwrite``: any number
        of processes at once, each its own rows or columns."""
        data = np.ascontiguousarray(rows, dtype=self.dtype)
        pixel = data.itemsize * (1 if len(self.shape) == 2 else self.shape[2])
        line = self.shape[1] * pixel
        if c0 == 0 and data.shape[1] == self.shape[1]:  # whole rows: one write per strip
            r1 = r0 + len(data)
            for k in range(r0 // self.per, (r1 - 1) // self.per + 1 if r1 > r0 else 0):
                a, b = max(r0, k * self.per), min(r1, (k + 1) * self.per)
                _pwrite(fd, data[a - r0 : b - r0], self.offsets[k] + (a - k * self.per) * line)
            return
        for i, row in enumerate(data):  # a column span: one write per row
            r = r0 + i
            _pwrite(fd, row, self.offsets[r // self.per] + (r % self.per) * line + c0 * pixel)


def _pwrite(fd: int, data: np.ndarray, at: int) -> None:
    view = memoryview(np.ascontiguousarray(data)).cast("B")
    while view:  # pwrite may write less than asked
        n = os.pwrite(fd, view, at)
        view, at = view[n:], at + n


def layout_tiff(
    fh: BinaryIO,
    shape: tuple[int, ...],
    dtype,
    *,
    byteorder: str = "<",
    icc: bytes | None = None,
    dpi: tuple[float, float] | None = None,
) -> Strips:
    """Lay out a one-page uncompressed TIFF in ``fh`` (a file opened ``wb``, at its start):
    the header and the tags written, the strips left as a hole of their size to be filled by
    :meth:`Strips.write_rows`. Once every row is written, the file is byte for byte
    :func:`write_tiff`'s of the same page (level 0, the same ``icc`` and ``dpi``).

    Examples
    --------
    >>> page = np.arange(6, dtype=np.uint16).reshape(2, 3)
    >>> buf = io.BytesIO()
    >>> strips = layout_tiff(buf, page.shape, page.dtype)
    >>> strips.offsets, strips.per
    ((8,), 174762)
    >>> data = bytearray(buf.getvalue())
    >>> data[8:20] = page.astype("<u2").tobytes()
    >>> bytes(data) == encode_tiff(page)
    True
    """
    _check(tuple(shape), dtype)
    _check_size(int(np.prod(shape)) * np.dtype(dtype).itemsize)
    itemsize = np.dtype(dtype).itemsize
    per = _rows_per_strip(tuple(shape), itemsize)
    row = int(np.prod(shape[1:])) * itemsize
    sizes = [min(per, shape[0] - y0) * row for y0 in range(0, shape[0], per)]
    offsets, pos = [], 8
    for size in sizes:
        offsets.append(pos)
        pos += size + size % 2
    body, extra = _ifd(_tags(shape, itemsize, sizes, per, offsets, 0, icc, dpi), byteorder, pos)
    fh.write(_header(byteorder, pos))
    fh.seek(pos)
    fh.write(body + b"\0\0\0\0" + extra)
    order = np.dtype(dtype).newbyteorder(byteorder)
    return Strips(tuple(offsets), per, tuple(shape), order)
