"""The PNG (and APNG) writer: 8- and 16-bit grey, grey+alpha, RGB and RGBA, filtered and deflated
in parallel bands of rows.

Owns :func:`encode_png`, the row filters (:func:`filter_rows`) and the band compressor. Rows are
filtered with numpy (on encode every PNG filter is a function of the raw bytes, so all of them
vectorize); each row gets the filter whose output has the smallest sum of absolute signed bytes
(libpng's heuristic). Each band of rows picks the zlib strategy that deflates its first block
smallest (LZ77 for graphics, Huffman-only or RLE for photographs). Bands are deflated on the
one thread pool (:mod:`convtool.runtime`; zlib releases the GIL) as independent raw-deflate
streams ended with a sync flush, as pigz does, and joined into one zlib stream with one header
and the combined Adler-32 of the whole data.
Returns bytes; writes no file (that is :mod:`.write`). Must not import: PIL, convtool.engine,
matching or cli, click, rich.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

import numpy as np

from .. import runtime

__all__ = ["DEFAULT_LEVEL", "adler32_combine", "encode_png", "filter_rows"]

SIGNATURE = b"\x89PNG\r\n\x1a\n"
# zlib level 4, as convtool's Pillow writer used. Photographs pick Huffman-only coding, where the
# level barely matters (4K photo-like RGB: 4.9 MB at every level, Pillow 5.7 MB at level 4); text
# and graphics pick LZ77, where level 4 made a 4K screenshot 17% smaller than level 2 for 1.6x
# the time (still below Pillow's level 4). tests/bench/bench_png.py prints the table.
DEFAULT_LEVEL = 4
_COLOUR_TYPE = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> PNG colour type
_BAND_BYTES = 1 << 20  # rows are deflated in bands of about this many filtered bytes
_BLOCK_BYTES = 1 << 16  # and filtered in blocks of about this many (they stay in cache)
_ADLER_BASE = 65521
DISPOSE_OPS = {"none": 0, "background": 1, "previous": 2}


def adler32_combine(adler1: int, adler2: int, len2: int) -> int:
    """Adler-32 of ``A + B`` from the Adler-32 of ``A``, of ``B`` and ``len(B)`` (zlib's formula).

    Examples
    --------
    >>> a, b = b"convolution ", b"kernels"
    >>> adler32_combine(zlib.adler32(a), zlib.adler32(b), len(b)) == zlib.adler32(a + b)
    True
    """
    rem = len2 % _ADLER_BASE
    sum1 = adler1 & 0xFFFF
    sum2 = (rem * sum1) % _ADLER_BASE
    sum1 += (adler2 & 0xFFFF) + _ADLER_BASE - 1
    sum2 += ((adler1 >> 16) & 0xFFFF) + ((adler2 >> 16) & 0xFFFF) + _ADLER_BASE - rem
    return (sum1 % _ADLER_BASE) | ((sum2 % _ADLER_BASE) << 16)


def _row_cost(filtered: np.ndarray) -> np.ndarray:
    """Per row: the sum of |byte as signed|, i.e. min(v, 256 - v) in uint8 arithmetic."""
    return np.minimum(filtered, 0 - filtered).sum(axis=-1, dtype=np.uint32)


def filter_rows(raw: np.ndarray, prev: np.ndarray, bpp: int) -> np.ndarray:
    """Filter rows of raw PNG bytes; each row gets the filter with the smallest signed-byte sum.

    ``raw`` is ``(h, n)`` uint8 (the rows' bytes), ``prev`` the ``n`` bytes of the row above the
    first (zeros for an image's top row), ``bpp`` the bytes per pixel (at least 1). Returns
    ``(h, n + 1)`` uint8: each row's filter type byte (0 None, 1 Sub, 2 Up, 3 Average) then its
    filtered bytes, ready for deflate. Paeth (4) is not tried: on photo-like images Average
    compressed within 0.1% of it, and Paeth's predictor cost more than the other four together.

    Examples
    --------
    >>> raw = np.array([[10, 20, 30, 40], [10, 20, 30, 40]], np.uint8)
    >>> filter_rows(raw, np.zeros(4, np.uint8), 1).tolist()
    [[1, 10, 10, 10, 10], [2, 0, 0, 0, 0]]
    """
    h, n = raw.shape
    up_rows = np.empty_like(raw)
    up_rows[0] = prev
    up_rows[1:] = raw[:-1]
    left = np.zeros_like(raw)  # the byte bpp to the left (0 before the first pixel)
    left[:, bpp:] = raw[:, :-bpp]
    cands = np.empty((4, h, n), np.uint8)
    cands[0] = raw
    np.subtract(raw, left, out=cands[1])
    np.subtract(raw, up_rows, out=cands[2])
    # floor((a + b) / 2) in uint8 without overflow: (a & b) + ((a ^ b) >> 1).
    np.bitwise_and(left, up_rows, out=cands[3])
    cands[3] += (left ^ up_rows) >> 1
    np.subtract(raw, cands[3], out=cands[3])
    choice = np.argmin(_row_cost(cands), axis=0)
    out = np.empty((h, n + 1), np.uint8)
    out[:, 0] = choice
    out[:, 1:] = cands[choice, np.arange(h)]
    return out


def _raw_rows(arr: np.ndarray) -> tuple[np.ndarray, int]:
    """The image as ``(h, w * bytes per pixel)`` uint8 in PNG byte order, and bytes per pixel."""
    channels = 1 if arr.ndim == 2 else arr.shape[2]
    if arr.dtype == np.uint16:
        big = arr.astype(">u2", copy=False)
        rows = np.ascontiguousarray(big).view(np.uint8).reshape(arr.shape[0], -1)
        return rows, 2 * channels
    return np.ascontiguousarray(arr).reshape(arr.shape[0], -1), channels


def _chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(payload, zlib.crc32(kind))
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


_STRATEGIES = (zlib.Z_DEFAULT_STRATEGY, zlib.Z_RLE, zlib.Z_HUFFMAN_ONLY)


def _pick_strategy(sample: bytes, level: int) -> int:
    """The zlib strategy that deflates ``sample`` smallest at ``level``.

    On filtered photographs LZ77 matches rarely pay: Huffman-only coding made a 4K photo-like
    image 23% smaller than the default strategy at level 2, in half the time; on text and flat
    graphics the default strategy made files 3-5x smaller than Huffman-only. A band's first
    block decides for the whole band.
    """
    if level == 0:
        return zlib.Z_DEFAULT_STRATEGY
    sizes = []
    for strategy in _STRATEGIES:
        comp = zlib.compressobj(level, zlib.DEFLATED, -15, 9, strategy)
        sizes.append(len(comp.compress(sample)) + len(comp.flush()))
    return _STRATEGIES[sizes.index(min(sizes))]


def _band_task(rows, bpp, y0, y1, level, results, index):
    """Filter and deflate rows ``y0:y1``; store ``(deflated, adler32, length)`` at ``index``."""

    def task() -> None:
        step = max(1, _BLOCK_BYTES // max(1, rows.shape[1]))
        parts, adler, length, comp = [], 1, 0, None
        for b0 in range(y0, y1, step):
            b1 = min(y1, b0 + step)
            prev = rows[b0 - 1] if b0 > 0 else np.zeros(rows.shape[1], np.uint8)
            data = filter_rows(rows[b0:b1], prev, bpp).tobytes()
            if comp is None:
                strategy = _pick_strategy(data, level)
                comp = zlib.compressobj(level, zlib.DEFLATED, -15, 9, strategy)
            adler = zlib.adler32(data, adler)
            length += len(data)
            parts.append(comp.compress(data))
        parts.append(comp.flush(zlib.Z_FINISH if y1 == rows.shape[0] else zlib.Z_SYNC_FLUSH))
        results[index] = (b"".join(parts), adler, length)

    return task


def _zlib_stream(arr: np.ndarray, level: int) -> list[bytes]:
    """The image's filtered rows as one zlib stream, in pieces (one per band of rows)."""
    rows, bpp = _raw_rows(arr)
    h = rows.shape[0]
    band_rows = max(1, _BAND_BYTES // max(1, rows.shape[1]))
    starts = list(range(0, h, band_rows))
    results: list = [None] * len(starts)
    tasks = [
        _band_task(rows, bpp, y0, min(h, y0 + band_rows), level, results, i)
        for i, y0 in enumerate(starts)
    ]
    runtime.run_queue(tasks)
    adler = 1
    for _, band_adler, length in results:
        adler = adler32_combine(adler, band_adler, length)
    # CMF 0x78: deflate, 32 KiB window; FLG: the level's class, made a multiple of 31.
    flevel = 0 if level < 2 else 1 if level < 6 else 2 if level == 6 else 3
    cmf, flg = 0x78, flevel << 6
    flg += 31 - ((cmf << 8) + flg) % 31
    pieces = [r[0] for r in results]
    pieces[0] = bytes((cmf, flg)) + pieces[0]
    pieces[-1] += struct.pack(">I", adler)
    return pieces


def _check(frames: Sequence[np.ndarray]) -> tuple[int, int, int, int]:
    first = frames[0]
    if first.dtype not in (np.uint8, np.uint16) or first.ndim not in (2, 3):
        raise ValueError(f"PNG stores uint8/uint16 (H, W[, C]) arrays, got {first.dtype}")
    channels = 1 if first.ndim == 2 else first.shape[2]
    if channels not in _COLOUR_TYPE:
        raise ValueError(f"PNG stores 1 to 4 channels, got {channels}")
    for f in frames[1:]:
        if f.shape != first.shape or f.dtype != first.dtype:
            raise ValueError("every frame of an APNG must have the first frame's shape and depth")
    return first.shape[0], first.shape[1], channels, 8 * first.itemsize


def _header_chunks(h, w, channels, bits, icc, dpi) -> list[bytes]:
    out = [_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bits, _COLOUR_TYPE[channels], 0, 0, 0))]
    if icc:
        out.append(_chunk(b"iCCP", b"ICC profile\x00\x00" + zlib.compress(icc)))
    if dpi:
        ppm = [max(1, round(d / 0.0254)) for d in dpi]  # pixels per inch to pixels per metre
        out.append(_chunk(b"pHYs", struct.pack(">IIB", ppm[0], ppm[1], 1)))
    return out


def encode_png(
    frames: np.ndarray | Sequence[np.ndarray],
    *,
    level: int = DEFAULT_LEVEL,
    icc: bytes | None = None,
    dpi: tuple[float, float] | None = None,
    durations: Sequence[int] | None = None,
    loop: int = 0,
    disposal: Sequence[str] | None = None,
) -> bytes:
    """PNG bytes of a uint8/uint16 ``(H, W)`` or ``(H, W, C)`` array (C = 1..4), or an APNG of
    several such frames.

    ``level`` is the zlib level (0-9); ``icc`` an ICC profile (iCCP chunk); ``dpi`` ``(x, y)``
    pixels per inch (pHYs chunk). For several frames: ``durations`` in milliseconds per frame,
    ``loop`` (0 = forever) and ``disposal`` per frame (``none``, ``background``, ``previous``).
    Every frame is a whole canvas drawn with APNG's ``source`` blend.

    Examples
    --------
    >>> data = encode_png(np.zeros((2, 3, 3), np.uint16))
    >>> data[:8] == SIGNATURE, data[24:26]  # bit depth 16, colour type 2 (RGB)
    (True, b'\\x10\\x02')
    """
    if isinstance(frames, np.ndarray):
        frames = [frames]
    h, w, channels, bits = _check(frames)
    parts = [SIGNATURE, *_header_chunks(h, w, channels, bits, icc, dpi)]
    many = len(frames) > 1
    if many:
        parts.append(_chunk(b"acTL", struct.pack(">II", len(frames), loop)))
    seq = 0
    for i, frame in enumerate(frames):
        if many:
            delay = min(65535, max(0, int(durations[i]))) if durations else 100
            dispose = DISPOSE_OPS.get(disposal[i] if disposal else "none", 0)
            fctl = struct.pack(">IIIIIHHBB", seq, w, h, 0, 0, delay, 1000, dispose, 0)
            parts.append(_chunk(b"fcTL", fctl))
            seq += 1
        for piece in _zlib_stream(frame, level):
            if i == 0:
                parts.append(_chunk(b"IDAT", piece))
            else:
                parts.append(_chunk(b"fdAT", struct.pack(">I", seq) + piece))
                seq += 1
    parts.append(_chunk(b"IEND", b""))
    return b"".join(parts)
