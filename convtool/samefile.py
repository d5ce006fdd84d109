"""Is an output one of the run's inputs? Files compared by device and inode, links followed.

Owns :func:`file_id` and :func:`input_overwritten`, used by the single-file ``filter`` and by
batch planning (:func:`convtool.batch.plan.check_clashes`) before any work, so that an output
reached through a symbolic link (to the file or to its directory) or a hard link is known to be
the input it would replace. Pure standard library: must not import numpy, click, rich, PIL.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

__all__ = ["file_id", "input_overwritten", "same_file_message"]


def file_id(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """``(st_dev, st_ino)`` of the file ``path`` names, links followed; None when there is
    none (a new output) or it cannot be looked at.

    Examples
    --------
    >>> file_id("/no/such/file") is None
    True
    """
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino


def input_overwritten(target: str, inputs: Iterable[str]) -> str | None:
    """The first of ``inputs`` that writing ``target`` would replace (the same file by device
    and inode), or None. ``"-"`` (a stream) is never a file here.

    Examples
    --------
    >>> import tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> open(f"{d}/a.png", "wb").close(); os.link(f"{d}/a.png", f"{d}/b.png")
    >>> input_overwritten(f"{d}/b.png", [f"{d}/a.png"]) == f"{d}/a.png"
    True
    >>> input_overwritten(f"{d}/c.png", [f"{d}/a.png"]) is None
    True
    """
    if target == "-":
        return None
    tid = file_id(target)
    if tid is None:
        return None
    for source in inputs:
        if source != "-" and file_id(source) == tid:
            return source
    return None


def same_file_message(target: str, source: str) -> str:
    """What to say when ``target`` is the input ``source`` (and how to ask for it)."""
    how = "" if os.path.abspath(target) == os.path.abspath(source) else " (through a link)"
    return (
        f"{target}: is the input {source}{how}; write the output elsewhere, or pass "
        "--in-place to replace the input"
    )
