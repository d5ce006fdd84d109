"""A byte stream read piece by piece: headers a byte at a time, rasters straight into arrays.

Owns :class:`ByteSource`, what the Netpbm codec (:mod:`.netpbm`) and the stream reader
(:mod:`.stream`) read images from, one after another, out of a pipe or a bytes object. It keeps
what it has read ahead in its own buffer, so nothing of the next image is lost.
Must not import: PIL, convtool.engine, matching or cli, click, rich.
"""

from __future__ import annotations

import io
from typing import BinaryIO

import numpy as np

_CHUNK = 1 << 16


class ByteSource:
    """Bytes of ``stream`` (or of a bytes object), with look-ahead and exact reads.

    Examples
    --------
    >>> src = ByteSource(b"P5 2 1 255\\n\\x01\\x02rest")
    >>> src.peek(2), src.read(3), src.consumed
    (b'P5', b'P5 ', 3)
    >>> buf = np.empty(2, np.uint8); src.skip(8); src.read_into(buf), buf.tolist()
    (2, [1, 2])
    >>> src.read(10), src.at_eof()
    (b'rest', True)
    """

    def __init__(self, stream: BinaryIO | bytes) -> None:
        self._stream = io.BytesIO(stream) if isinstance(stream, (bytes, bytearray)) else stream
        self._buf = b""
        self._pos = 0
        self._eof = False
        self.consumed = 0  # bytes handed out so far

    def _more(self, want: int) -> bool:
        """Read at least ``want`` more bytes into the buffer if the stream has them."""
        if self._eof:
            return False
        rest = self._buf[self._pos :]
        parts, have = [rest], len(rest)
        target = have + want
        while have < target:
            data = self._stream.read(max(_CHUNK, target - have))
            if not data:
                self._eof = True
                break
            parts.append(data)
            have += len(data)
        self._buf, self._pos = b"".join(parts), 0
        return have > len(rest)

    def buffered(self) -> bytes:
        """The bytes read ahead and not yet handed out."""
        return self._buf[self._pos :]

    def fill(self, n: int) -> bytes:
        """At least ``n`` bytes ahead (fewer at the end of the stream), not consumed."""
        while len(self._buf) - self._pos < n and self._more(n - (len(self._buf) - self._pos)):
            pass
        return self._buf[self._pos : self._pos + n]

    def peek(self, n: int) -> bytes:
        return self.fill(n)[:n]

    def grow(self) -> bool:
        """Read one more chunk ahead; False at the end of the stream."""
        return self._more(_CHUNK)

    def skip(self, n: int) -> None:
        self.fill(n)
        n = min(n, len(self._buf) - self._pos)
        self._pos += n
        self.consumed += n

    def read(self, n: int) -> bytes:
        data = self.fill(n)
        self.skip(len(data))
        return data

    def read_all(self) -> bytes:
        """Every byte left."""
        rest = self.buffered() + (b"" if self._eof else self._stream.read())
        self._buf, self._pos, self._eof = b"", 0, True
        self.consumed += len(rest)
        return rest

    def byte(self) -> int:
        """The next byte, or -1 at the end of the stream."""
        if self._pos >= len(self._buf) and not self._more(1):
            return -1
        value = self._buf[self._pos]
        self._pos += 1
        self.consumed += 1
        return value

    def unread(self) -> None:
        """Give back the last byte :meth:`byte` handed out."""
        self._pos -= 1
        self.consumed -= 1

    def read_into(self, out: np.ndarray) -> int:
        """Fill ``out`` (a C-contiguous array) with the next bytes; returns how many came
        (fewer than ``out.nbytes`` only at the end of the stream). Large reads go straight
        from the stream into ``out``, with no copy in between."""
        view = memoryview(out.reshape(-1).view(np.uint8))
        ahead = self.buffered()[: len(view)]
        view[: len(ahead)] = ahead
        self.skip(len(ahead))
        got = len(ahead)
        reader = getattr(self._stream, "readinto", None)
        while got < len(view) and not self._eof:
            if reader is not None:
                n = reader(view[got:])
            else:
                data = self._stream.read(len(view) - got)
                n = len(data or b"")
                view[got : got + n] = data or b""
            if not n:
                self._eof = True
                break
            got += n
        self.consumed += got - len(ahead)
        return got

    def at_eof(self) -> bool:
        """True when every byte has been handed out and the stream has no more."""
        return self._pos >= len(self._buf) and not self._more(1)
