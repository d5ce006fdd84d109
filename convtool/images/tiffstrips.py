"""Reading a baseline strip TIFF reduced by a whole factor, a few MB of rows at a time.

Owns :func:`read_layout` and :func:`reduce_strips`, which :mod:`.reduced` uses for ``convtool
show``: Pillow's libtiff decoder fills a full-size buffer of 4 bytes a pixel before an image can
be reduced (914 MB for a 217-megapixel RGB file); here the strips are inflated one after another
and every ``factor`` rows are summed into one row of block means, so memory holds a few MB of
rows and the small result. It reads the first page's tags itself (both byte orders): 8- or
16-bit unsigned grey, grey+alpha, RGB and RGBA, chunky, uncompressed or deflate (8, 32946), with
or without horizontal differencing (predictor 2). Anything else (tiles, planes, other
compressions, palettes, floats, associated alpha, strips missing) gives ``None``: the caller
reads it another way. Pixels come as stored: the orientation tag and the pixel limit are the
caller's. Damaged strips raise ValueError with what is wrong.
Must not import: PIL, convtool.engine, matching or cli, click, rich.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

__all__ = ["StripLayout", "read_layout", "reduce_strips"]

_CHUNK = 1 << 22  # bytes of rows read or inflated at a time
_MAX_ENTRIES = 4096  # an IFD with more entries than this is not a baseline image
_TYPES = {3: "H", 4: "I"}  # SHORT, LONG: every tag read here is one or the other
_TILED = {322, 323, 324, 325}  # TileWidth, TileLength, TileOffsets, TileByteCounts


@dataclass(frozen=True)
class StripLayout:
    """Where a page's samples are and how they are stored."""

    width: int
    height: int
    channels: int
    bits: int  # 8 or 16
    order: str  # "<" or ">"
    deflate: bool
    predictor: int  # 1 or 2
    rows_per_strip: int
    offsets: tuple[int, ...]
    counts: tuple[int, ...]

    @property
    def alpha(self) -> bool:
        return self.channels in (2, 4)

    @property
    def row_bytes(self) -> int:
        return self.width * self.channels * self.bits // 8


def _file_size(fh: BinaryIO) -> int:
    here = fh.tell()
    size = fh.seek(0, 2)
    fh.seek(here)
    return size


def _read_at(fh: BinaryIO, offset: int, size: int, end: int) -> bytes:
    if offset + size > end:
        raise ValueError(f"TIFF data at {offset:,} (+{size:,} bytes) beyond the end of the file")
    fh.seek(offset)
    data = fh.read(size)
    if len(data) != size:
        raise ValueError("TIFF file shorter than its tags say")
    return data


def _tags(fh: BinaryIO, end: int) -> tuple[str, dict[int, tuple[int, int, bytes]]] | None:
    """The byte order and the first IFD's entries ``tag: (type, count, value field)``."""
    head = _read_at(fh, 0, 8, end)
    order = {b"II*\x00": "<", b"MM\x00*": ">"}.get(head[:4])
    if order is None:  # BigTIFF or not a TIFF
        return None
    (at,) = struct.unpack(order + "I", head[4:])
    (n,) = struct.unpack(order + "H", _read_at(fh, at, 2, end))
    if n > _MAX_ENTRIES:
        return None
    raw = _read_at(fh, at + 2, 12 * n, end)
    tags = {}
    for i in range(n):
        tag, kind, count = struct.unpack_from(order + "HHI", raw, 12 * i)
        tags[tag] = (kind, count, raw[12 * i + 8 : 12 * i + 12])
    return order, tags


def _values(fh, order, entry, end, count=None) -> tuple[int, ...] | None:
    """A SHORT or LONG tag's values (``None``: another type, or not ``count`` values)."""
    kind, n, field = entry
    if kind not in _TYPES or n == 0 or (count is not None and n != count):
        return None
    size = n * struct.calcsize(_TYPES[kind])
    if size > 4:
        field = _read_at(fh, struct.unpack(order + "I", field)[0], size, end)
    return struct.unpack_from(f"{order}{n}{_TYPES[kind]}", field)


def read_layout(fh: BinaryIO) -> StripLayout | None:
    """The first page of the TIFF in the seekable binary file ``fh``, or ``None`` when this
    module does not read it (see the module docstring)."""
    end = _file_size(fh)
    found = _tags(fh, end)
    if found is None:
        return None
    order, tags = found
    if _TILED & tags.keys() or not {256, 257, 258, 273, 279} <= tags.keys():
        return None
    one = {}
    for tag, default in ((256, None), (257, None), (259, 1), (262, None), (277, 1),
                         (278, 2**32 - 1), (284, 1), (317, 1)):  # fmt: skip
        values = _values(fh, order, tags[tag], end, 1) if tag in tags else (default,)
        if values is None or values[0] is None:
            return None
        one[tag] = values[0]
    width, height, channels = one[256], one[257], one[277]
    if not (width and height) or channels not in (1, 2, 3, 4):
        return None
    bits = _values(fh, order, tags[258], end, channels)
    formats = _values(fh, order, tags[339], end, channels) if 339 in tags else (1,)
    extra = _values(fh, order, tags[338], end, 1) if 338 in tags else None
    if bits is None or len(set(bits)) != 1 or bits[0] not in (8, 16) or formats is None:
        return None
    if set(formats) != {1} or one[259] not in (1, 8, 32946) or one[284] != 1:
        return None
    if one[317] not in (1, 2) or one[262] != (1 if channels < 3 else 2):
        return None  # min-is-white, palette, CMYK, YCbCr, ...; floating-point predictor
    if (extra or None) != ((2,) if channels in (2, 4) else None):
        return None  # associated alpha, an unspecified extra sample, or none said
    rows = max(1, min(one[278], height))
    strips = -(-height // rows)
    offsets = _values(fh, order, tags[273], end, strips)
    counts = _values(fh, order, tags[279], end, strips)
    if offsets is None or counts is None or 0 in counts:
        return None  # strips missing (or more than the rows need)
    if one[317] == 2 and one[259] == 1:
        return None  # libtiff applies a predictor only to compressed strips
    return StripLayout(width, height, channels, bits[0], order, one[259] != 1, one[317],
                       rows, offsets, counts)  # fmt: skip


def _inflated(fh: BinaryIO, offset: int, count: int, size: int, step: int) -> Iterator[bytes]:
    """The first ``size`` bytes a deflated strip holds, ``step`` bytes at a time."""
    inflater = zlib.decompressobj()
    tail = b""
    while size > 0:
        want = min(step, size)
        parts, have = [], 0
        while have < want:
            if not tail and (count <= 0 or inflater.eof):
                raise ValueError("deflate data ends early")
            if not tail:
                fh.seek(offset)
                tail = fh.read(min(count, _CHUNK))
                if not tail:
                    raise ValueError("deflate data beyond the end of the file")
                offset, count = offset + len(tail), count - len(tail)
            parts.append(inflater.decompress(tail, want - have))  # never more than asked
            have += len(parts[-1])
            tail = inflater.unconsumed_tail
        yield parts[0] if len(parts) == 1 else b"".join(parts)
        size -= want


def _rows(fh: BinaryIO, layout: StripLayout) -> Iterator[np.ndarray]:
    """Every row of the page in order, as ``(rows, width, channels)`` arrays in native order."""
    end = _file_size(fh)
    dtype = np.dtype(f"{layout.order}u{layout.bits // 8}")
    native = dtype.newbyteorder("=")
    step = max(1, _CHUNK // layout.row_bytes) * layout.row_bytes
    for i, (offset, count) in enumerate(zip(layout.offsets, layout.counts, strict=True)):
        rows = min(layout.rows_per_strip, layout.height - i * layout.rows_per_strip)
        size = rows * layout.row_bytes
        if offset + count > end:
            raise ValueError(f"strip {i} lies beyond the end of the file")
        if layout.deflate:
            pieces = _inflated(fh, offset, count, size, step)
        elif count < size:
            raise ValueError(f"strip {i} holds {count:,} bytes, {size:,} expected")
        else:
            pieces = (_read_at(fh, offset + at, min(step, size - at), end)
                      for at in range(0, size, step))  # fmt: skip
        try:
            for piece in pieces:
                block = np.frombuffer(piece, dtype).reshape(-1, layout.width, layout.channels)
                block = block.astype(native, copy=False)
                if layout.predictor == 2:  # each sample is the difference from the one before
                    block = np.cumsum(block, axis=1, dtype=native)
                yield block
        except zlib.error as exc:
            raise ValueError(f"strip {i}: {exc}") from None


def reduce_strips(fh: BinaryIO, layout: StripLayout, factor: int) -> np.ndarray:
    """The page reduced by ``factor`` as ``Image.reduce`` reduces it: the mean of each ``factor``
    x ``factor`` block (blocks at the right and bottom edges: of the pixels they have), colour
    weighted by alpha (black where the mean alpha rounds to 0), rounded to the page's own
    integer type; ``(H, W)`` for grey or ``(H, W, C)``."""
    w, h, alpha = layout.width, layout.height, layout.alpha
    starts = np.arange(0, w, factor)
    widths = np.diff(np.append(starts, w)).astype(np.uint64)[:, None]
    out = np.empty((-(-h // factor), len(starts), layout.channels), f"u{layout.bits // 8}")
    top = (1 << layout.bits) - 1  # a row of factor sums in 32 bits when it fits: twice as fast
    wide = factor * top * (top if alpha else 1) >= 1 << 32
    sums = np.zeros((w, layout.channels), np.uint64 if wide else np.uint32)
    have = 0  # rows summed into the output row being made
    done = 0  # output rows made
    for block in _rows(fh, layout):
        while len(block):
            rows, block = block[: factor - have], block[factor - have :]
            if alpha:  # colour times alpha: 65535^2 still fits 32 bits
                colour = np.multiply(rows[..., :-1], rows[..., -1:], dtype=np.uint32)
                sums[:, :-1] += colour.sum(axis=0, dtype=sums.dtype)
                sums[:, -1] += rows[..., -1].sum(axis=0, dtype=sums.dtype)
            else:
                sums += rows.sum(axis=0, dtype=sums.dtype)
            have += len(rows)
            if have == factor or done * factor + have == h:
                blocks = np.add.reduceat(sums, starts, axis=0, dtype=np.uint64)
                out[done] = _means(blocks, widths * have, alpha)
                sums[:] = 0
                have, done = 0, done + 1
    return out[:, :, 0] if layout.channels == 1 else out


def _means(sums: np.ndarray, count: np.ndarray, alpha: bool) -> np.ndarray:
    """Rounded block means of ``sums`` over ``count`` pixels; with alpha, the colour sums are
    of colour times alpha and are divided by the alpha sum."""
    if not alpha:
        return (sums + count // 2) // count
    weight = sums[:, -1:]
    means = np.empty_like(sums)
    means[:, -1:] = (weight + count // 2) // count
    shown = means[:, -1:] > 0
    weight = np.where(shown, weight, 1)
    means[:, :-1] = np.where(shown, (sums[:, :-1] + weight // 2) // weight, 0)
    return means
