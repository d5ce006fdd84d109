"""The one output writer: bytes to a file atomically (temp file beside it, then rename) or stdout.

Every output of convtool goes through :func:`write_bytes` or, for outputs written in place,
:func:`atomic_path` (the same temp-then-rename commit); never add a second writer.
Must not import: PIL, convtool.engine, matching or cli, click, rich.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from .info import ImageIOError


def write_bytes(data: bytes, dest: str | os.PathLike[str], stdout: BinaryIO | None = None) -> None:
    """Write ``data`` to ``dest`` atomically (temp file in the same directory, then rename).

    ``"-"`` writes to standard output.
    """
    if str(dest) == "-":
        stream = stdout if stdout is not None else sys.stdout.buffer
        # A buffered write into a pipe whose reader has gone can report a short count instead
        # of raising; keep writing so that the closed pipe surfaces as BrokenPipeError.
        view = memoryview(data)
        while view:
            written = stream.write(view)
            if not written:
                raise BrokenPipeError("short write to standard output")
            view = view[written:]
        stream.flush()
        return
    with atomic_path(dest) as tmp, open(tmp, "wb") as fh:
        fh.write(data)


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike[str]) -> Iterator[str]:
    """A temporary file beside ``dest`` to write an output into, renamed over ``dest`` when
    the block ends without error and removed otherwise.

    :func:`write_bytes` writes through it; outputs written in place (a memory-mapped ``.npy``
    filled band by band, a Pillow image saved straight to disk) use it directly.

    Examples
    --------
    >>> import tempfile
    >>> dest = os.path.join(tempfile.mkdtemp(), "out.bin")
    >>> with atomic_path(dest) as tmp, open(tmp, "wb") as fh:
    ...     _ = fh.write(b"done")
    >>> open(dest, "rb").read()
    b'done'
    """
    path = Path(dest)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise ImageIOError(f"{dest}: output directory {str(parent)!r} does not exist")
    if path.is_dir():
        raise ImageIOError(f"{dest}: is a directory")
    try:
        fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.", suffix=".part")
        os.close(fd)
    except OSError as exc:
        raise ImageIOError(f"{dest}: cannot write ({exc.strerror or exc})") from None
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except OSError as exc:
        _unlink(tmp)
        raise ImageIOError(f"{dest}: cannot write ({exc.strerror or exc})") from None
    except BaseException:
        _unlink(tmp)
        raise


def _unlink(tmp: str) -> None:
    try:
        os.unlink(tmp)
    except OSError:
        pass
