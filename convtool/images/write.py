"""The one output writer: bytes to files atomically, or to stdout; temp-file cleanup on signals.

Every output of convtool goes through :func:`write_bytes` (one output) or :func:`write_outputs`
(several outputs of one run: all are prepared, then all committed, so a run that fails writes
none); never add a second writer.

How a target is written, as trusted writers (GNU ``sed -i``, ``sponge``, editors) do:

* a regular file (or a new name): a temporary file beside it, filled, synced, given the old
  file's permission bits (and owner, when allowed), then renamed over it;
* a symbolic link: written through to the file it points at; the link stays a link;
* anything that is not a regular file (``/dev/null``, a FIFO, a character device, a socket):
  written straight into, never replaced.

:func:`install_signal_handlers` makes SIGTERM and SIGHUP unwind like SIGINT does, so the
temporary file is removed and the run ends with status ``128 + signum``.
Must not import: PIL, convtool.engine, matching or cli, click, rich.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import signal
import stat
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from .._signals import redeliver_swallowed_signals
from .info import ImageIOError

# Bytes per write call: a signal that arrives mid-write is handled between two chunks.
_CHUNK = 1 << 20

# Temporary files not yet renamed into place; a signal handler removes what is left.
_LIVE_TEMPS: set[str] = set()

# The writer's temporary files: ``.NAME.XXXXXXXX.part`` beside ``NAME`` (8 characters of
# :mod:`tempfile`'s alphabet, or of ``secrets.token_hex`` for the backups of a rollback).
PART_NAME = re.compile(r"\.(.+)\.[a-z0-9_]{8}\.part")
# When this run started (the module loads before any output is prepared): temporary files
# older than this beside a target were left by a run that was killed (SIGKILL, power loss).
_STARTED = time.time()
# Per directory, the stale temporary files found there, by the name of their target.
_STALE: dict[str, dict[str, list[str]]] = {}


class Terminated(BaseException):
    """Raised in the main thread by SIGTERM or SIGHUP (as SIGINT raises KeyboardInterrupt).

    A BaseException, so that ``except Exception`` blocks let it through to the entry point,
    which exits with ``128 + signum``.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


# Signal handling is deferred while a temporary file is created and registered, or renamed and
# unregistered (a process-directed signal may be taken by any thread, so blocking it in this
# one is not enough: the handler is what waits).
_hold = {"depth": 0, "pending": None}


def _interrupt(signum: int) -> BaseException:
    return KeyboardInterrupt() if signum == signal.SIGINT else Terminated(signum)


def _on_signal(signum: int, frame: object) -> None:
    if _hold["depth"]:
        _hold["pending"] = signum
        return
    remove_temps()
    raise _interrupt(signum)


def install_signal_handlers() -> None:
    """SIGTERM and SIGHUP raise :class:`Terminated`, SIGINT KeyboardInterrupt, both after the
    temporary files are removed (main thread only; a no-op elsewhere)."""
    for name in ("SIGTERM", "SIGHUP", "SIGINT"):
        signum = getattr(signal, name, None)
        if signum is not None:
            try:
                signal.signal(signum, _on_signal)
            except (ValueError, OSError):  # not the main thread, or not allowed here
                pass
    redeliver_swallowed_signals()


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Defer SIGINT, SIGTERM and SIGHUP for a few system calls; they take effect right after."""
    _hold["depth"] += 1
    try:
        yield
    finally:
        _hold["depth"] -= 1
        signum = _hold["pending"]
        if not _hold["depth"] and signum is not None:
            _hold["pending"] = None
            remove_temps()
            raise _interrupt(signum)


def remove_temps() -> None:
    """Remove every temporary file this process still holds (best effort)."""
    for path in list(_LIVE_TEMPS):
        try:
            os.unlink(path)
        except OSError:
            pass
        _LIVE_TEMPS.discard(path)


def _describe(exc: OSError) -> str:
    if exc.errno == errno.EBADF:
        return "closed"
    return str(exc.strerror or exc)


def write_stream(data: bytes, stream: BinaryIO | None, name: str = "standard output") -> None:
    """Write ``data`` to a binary stream (stdout); a closed pipe raises BrokenPipeError.

    A full disk or another I/O error becomes an :class:`ImageIOError` naming ``name``.
    """
    if stream is None:
        raise ImageIOError(f"{name} is closed")
    view = memoryview(data)
    try:
        while view:
            # A buffered write into a pipe whose reader has gone can report a short count
            # instead of raising; keep writing so that the closed pipe surfaces.
            written = stream.write(view[:_CHUNK])
            if not written:
                raise BrokenPipeError(errno.EPIPE, "short write")
            view = view[written:]
        stream.flush()
    except BrokenPipeError:
        raise
    except (OSError, ValueError) as exc:
        if isinstance(exc, OSError) and exc.errno == errno.EPIPE:
            raise BrokenPipeError(errno.EPIPE, "broken pipe") from None
        what = _describe(exc) if isinstance(exc, OSError) else "closed"
        raise ImageIOError(f"{name}: cannot write ({what})") from None


@dataclass
class _Prepared:
    """One output ready to commit: a filled temporary file, or a special file to write into."""

    dest: str
    target: str
    data: bytes
    temp: str | None = None


def _resolve(dest: str) -> str | None:
    """The path to write: symbolic links are followed, one hop at a time, to the file they name.

    ``None`` when a hop goes through ``/proc`` or ``/dev/fd`` (``/dev/stdout`` and friends):
    such a link names an open descriptor, which is written into, never replaced.
    """
    path = dest
    for _ in range(40):
        if not os.path.islink(path):
            return path
        if path.startswith(("/proc/", "/dev/fd/")):
            return None
        path = os.path.join(os.path.dirname(path), os.readlink(path))
    raise ImageIOError(f"{dest}: too many levels of symbolic links")


def _stale_parts(parent: str, name: str) -> list[str]:
    """The writer's temporary files for ``name`` in ``parent`` older than this run.

    Each directory is listed once per process (a batch worker writes many targets into it);
    a file counts as stale only when both its modification and its status change predate
    the run, so the temporary file (or rollback link) of a run still going is never taken.
    """
    key = os.path.abspath(parent)
    by_name = _STALE.get(key)
    if by_name is None:
        by_name = {}
        try:
            with os.scandir(parent) as entries:
                for entry in entries:
                    m = PART_NAME.fullmatch(entry.name)
                    if m is None or not entry.is_file(follow_symlinks=False):
                        continue
                    st = entry.stat(follow_symlinks=False)
                    if max(st.st_mtime, st.st_ctime) < _STARTED:
                        by_name.setdefault(m.group(1), []).append(entry.path)
        except OSError:
            pass
        _STALE[key] = by_name
    return by_name.pop(name, [])


def remove_stale_parts(target: str) -> int:
    """Delete the temporary files a killed run of convtool left beside ``target``.

    Only files of the writer's exact pattern for this target (``.NAME.XXXXXXXX.part``) that
    are older than this run. Returns how many were removed.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> remove_stale_parts(str(folder / "out.png"))
    0
    """
    removed = 0
    for path in _stale_parts(os.path.dirname(target) or ".", os.path.basename(target)):
        try:
            os.unlink(path)
            removed += 1
        except OSError:
            pass
    return removed


def _fill(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view[:_CHUNK])
        view = view[written:]
    os.fsync(fd)


def _prepare(data: bytes, dest: str) -> _Prepared:
    target = _resolve(dest)
    if target is None:
        return _Prepared(dest, dest, data)  # an open descriptor: written in place
    try:
        st = os.stat(target)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise ImageIOError(f"{dest}: cannot write ({_describe(exc)})") from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise ImageIOError(f"{dest}: is a directory")
    if st is not None and not stat.S_ISREG(st.st_mode):
        return _Prepared(dest, target, data)  # a device, FIFO or socket: written in place
    parent = os.path.dirname(target) or "."
    if not os.path.isdir(parent):
        raise ImageIOError(f"{dest}: output directory {parent!r} does not exist")
    remove_stale_parts(target)
    try:
        with _signals_held():  # a signal between creating and registering would orphan it
            fd, temp = tempfile.mkstemp(
                dir=parent, prefix=f".{os.path.basename(target)}.", suffix=".part"
            )
            _LIVE_TEMPS.add(temp)
    except OSError as exc:
        raise ImageIOError(f"{dest}: cannot write ({_describe(exc)})") from None
    try:
        _fill(fd, data)
        if st is not None:
            os.fchmod(fd, stat.S_IMODE(st.st_mode))
            if hasattr(os, "fchown") and (st.st_uid, st.st_gid) != (os.getuid(), os.getgid()):
                try:
                    os.fchown(fd, st.st_uid, st.st_gid)
                except OSError:  # not allowed for an ordinary user: keep ours, as sed does
                    pass
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(fd, 0o666 & ~umask)
    except OSError as exc:
        _discard(temp)
        raise ImageIOError(f"{dest}: cannot write ({_describe(exc)})") from None
    except BaseException:
        _discard(temp)
        raise
    finally:
        os.close(fd)
    return _Prepared(dest, target, data, temp)


def _discard(temp: str | None) -> None:
    if temp is None:
        return
    try:
        os.unlink(temp)
    except OSError:
        pass
    _LIVE_TEMPS.discard(temp)


def _keep_old(item: _Prepared) -> str | None:
    """A hard link to the file a rename is about to replace, so that a later output of the same
    run that fails can put it back (None: no file there, or links not supported)."""
    if item.temp is None or not os.path.exists(item.target):
        return None
    folder, name = os.path.split(item.target)
    for _ in range(8):  # named as the writer's temporary files, so that sweeps know it
        backup = os.path.join(folder, f".{name}.{secrets.token_hex(4)}.part")
        try:
            with _signals_held():
                os.link(item.target, backup)
                _LIVE_TEMPS.add(backup)
            return backup
        except FileExistsError:
            continue
        except OSError:
            return None
    return None


def _roll_back(renamed: list[tuple[str, str | None]]) -> None:
    """Undo the renames of a run whose later output failed: each old file back in its place,
    each new one removed, so that a failed run leaves the files as they were."""
    for target, backup in reversed(renamed):
        try:
            with _signals_held():
                if backup is None:
                    os.unlink(target)
                else:
                    os.replace(backup, target)
                    _LIVE_TEMPS.discard(backup)
        except OSError:
            pass


def _commit(item: _Prepared) -> None:
    if item.temp is not None:
        with _signals_held():
            os.replace(item.temp, item.target)
            _LIVE_TEMPS.discard(item.temp)
        return
    # Not a regular file: write into it (O_TRUNC is ignored by devices and FIFOs).
    fd = os.open(item.target, os.O_WRONLY | os.O_TRUNC)
    try:
        view = memoryview(item.data)
        while view:
            view = view[os.write(fd, view[:_CHUNK]) :]
    finally:
        os.close(fd)


def write_outputs(
    outputs: Iterable[tuple[bytes, str | os.PathLike[str]]], stdout: BinaryIO | None = None
) -> None:
    """Write several outputs of one run: prepare each (temp file filled), then commit them all.

    A failure while preparing (full disk, missing directory, a directory in the way) writes
    none of them, and so does a rename that fails at commit: the outputs already renamed are
    put back (the files they replaced were kept as hard links until the last rename). Only
    what went to a stream or device before cannot be taken back, so those go first. ``"-"``
    writes to ``stdout`` (``sys.stdout.buffer`` when not given) at commit.
    """
    prepared: list[_Prepared] = []
    try:
        for data, dest in outputs:
            name = os.fspath(dest)
            if name == "-":
                prepared.append(_Prepared("-", "-", data))
            else:
                prepared.append(_prepare(data, name))
        # Streams and special files first: they can still fail (a full device), and what they
        # took cannot be taken back; a rename of a filled temporary file hardly fails.
        prepared.sort(key=lambda item: item.temp is not None)
        for item in prepared:
            if item.temp is not None:
                continue
            if item.dest == "-":
                stream = stdout if stdout is not None else _stdout_buffer()
                write_stream(item.data, stream)
            else:
                _commit_or_fail(item)
        # The renames as one step: a signal takes effect after the last (they take
        # microseconds; a stream above may block, so signals are held only here).
        with _signals_held():
            _rename_all([item for item in prepared if item.temp is not None])
    finally:
        for item in prepared:
            _discard(item.temp)


def _commit_or_fail(item: _Prepared) -> None:
    try:
        _commit(item)
    except OSError as exc:
        raise ImageIOError(f"{item.dest}: cannot write ({_describe(exc)})") from None


def _rename_all(items: list[_Prepared]) -> None:
    """Rename every filled temporary file over its target; if one fails, put back the ones
    already renamed (old files from their hard links, new ones removed) and raise."""
    renamed: list[tuple[str, str | None]] = []  # (target, hard link to what it replaced)
    for item in items:
        backup = _keep_old(item) if len(items) > 1 else None
        try:
            _commit_or_fail(item)
        except ImageIOError:
            _discard(backup)
            _roll_back(renamed)
            raise
        renamed.append((item.target, backup))
    for _, backup in renamed:
        _discard(backup)


def _stdout_buffer() -> BinaryIO | None:
    stream = sys.stdout
    return getattr(stream, "buffer", None) if stream is not None else None


def write_bytes(data: bytes, dest: str | os.PathLike[str], stdout: BinaryIO | None = None) -> None:
    """Write ``data`` to ``dest`` (see the module notes for links and special files).

    ``"-"`` writes to standard output.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "out.bin"
    >>> write_bytes(b"abc", path)
    >>> path.read_bytes()
    b'abc'
    """
    write_outputs([(data, dest)], stdout=stdout)


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike[str]) -> Iterator[str]:
    """A temporary file to write an output into in place, committed like :func:`write_bytes`.

    For outputs filled piece by piece (a memory-mapped ``.npy`` written band by band, a Pillow
    image saved straight to disk). The file is committed when the block ends without error (a
    regular target renamed over, with its permission bits; a link written through; a device
    or FIFO written into) and removed otherwise, on signals too.

    Examples
    --------
    >>> import tempfile
    >>> dest = os.path.join(tempfile.mkdtemp(), "out.bin")
    >>> with atomic_path(dest) as tmp, open(tmp, "wb") as fh:
    ...     _ = fh.write(b"done")
    >>> open(dest, "rb").read()
    b'done'
    """
    name = os.fspath(dest)
    item = _prepare(b"", name)
    if item.temp is None:  # a device, FIFO or descriptor: fill a private file, then copy
        with _signals_held():
            fd, temp = tempfile.mkstemp(prefix=".convtool.", suffix=".part")
            _LIVE_TEMPS.add(temp)
        os.close(fd)
        item.temp, special = temp, True
    else:
        special = False
    try:
        yield item.temp
        with open(item.temp, "rb+") as fh:
            os.fsync(fh.fileno())
        if special:
            with open(item.temp, "rb") as fh:
                item.data = fh.read()
            _discard(item.temp)
            item.temp = None
        _commit(item)
    except OSError as exc:
        _discard(item.temp)
        raise ImageIOError(f"{name}: cannot write ({_describe(exc)})") from None
    except BaseException:
        _discard(item.temp)
        raise
