"""``find`` over a stream of frames on stdin, and the ``frame`` column of ``find -t``.

Owns :func:`stdin_image` (stdin as one image's bytes, or as a stream of several frames),
:func:`search_stream` (``find - TEMPLATE`` / ``find -t TEMPLATE -`` on a stream: matches
printed frame by frame, TSV lines, CSV rows or JSON Lines each with ``frame``, flushed after
each frame) and :func:`wants_frame_column` (``find -t``: a ``frame`` column when --frame is
given or an image may hold several frames). Must not import the group or a command module.
"""

from __future__ import annotations

import itertools
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import click

from .. import matching
from ..framesearch import search_frames
from ..images import StreamFrame, iter_frames, parse_frame_spec
from ..images._bytesource import ByteSource
from ..images.stream import is_stream_head
from .common import binary_stdin, stderr_console

# Files whose format holds several frames (a .png may be an APNG: give --frame for the column).
MULTI_FRAME_SUFFIXES = frozenset(
    (".gif", ".webp", ".tif", ".tiff", ".pgm", ".ppm", ".pnm", ".pam", ".pfm")
)


def wants_frame_column(sources: list[str], spec: str | None) -> bool:
    """``find -t``: whether every record carries ``frame`` (--frame given, or an image whose
    format holds several frames)."""
    return spec is not None or any(Path(s).suffix.lower() in MULTI_FRAME_SUFFIXES for s in sources)


class _Recorder:
    """stdin, keeping a copy of what is read until :meth:`stop` (the first image's bytes)."""

    def __init__(self, stream) -> None:
        self.stream, self.copy = stream, []

    def read(self, n: int = -1) -> bytes:
        data = self.stream.read(n) if n is not None and n >= 0 else self.stream.read()
        if self.copy is not None and data:
            self.copy.append(data)
        return data

    def stop(self, unread: bytes) -> bytes:
        """The bytes read so far, less ``unread`` (read ahead, past the first image)."""
        data, self.copy = b"".join(self.copy or []), None
        return data[: len(data) - len(unread)] if unread else data


def stdin_image() -> tuple[bytes | None, Iterator[StreamFrame] | None]:
    """``(bytes, None)`` when stdin holds one image (any format), ``(None, frames)`` when it
    is a stream of several Netpbm/PFM or PNG images (read as they arrive)."""
    recorder = _Recorder(binary_stdin())
    source = ByteSource(recorder)
    if not is_stream_head(source.peek(8)):
        recorder.copy = None
        return source.read_all(), None
    frames = iter_frames(source)
    first = next(frames)
    one = recorder.stop(source.buffered())
    while (ahead := source.peek(1)) and ahead in b" \t\n\r\v\f":
        source.skip(1)
    if source.at_eof():
        return one, None
    return None, itertools.chain([first], frames)


def _picked(spec: str | None) -> Callable[[int], bool]:
    """Whether frame ``n`` (from 1) is one --frame picks, on a stream of unknown length."""
    if spec is None:
        return lambda n: True
    parse_frame_spec(spec, sys.maxsize)  # its errors, for a badly written list
    ranges = []
    for part in spec.replace(" ", "").split(","):
        lo, _, hi = part.partition("-")
        ranges.append((int(lo), int(hi or lo)))
    return lambda n: any(a <= n <= b for a, b in ranges)


def search_stream(
    frames: Iterator[StreamFrame],
    template,
    mask,
    p: dict,
    *,
    columns: list[str],
    row: Callable[[object], list[str]],
    file_name: str | None = None,
) -> int:
    """Search every frame of a stream; print each frame's matches as soon as it is searched.

    Records carry ``frame`` (and ``file`` with ``file_name``, the -t form); ``--json`` prints
    JSON Lines. Returns the exit status: 0 if any frame matched, else 1.
    """
    picked = _picked(p["frame_spec"])
    keys = {"with_scale": p["scales"] is not None, "with_angle": p["angles"] is not None}
    head = ([] if file_name is None else ["file"]) + ["frame"]
    if p["as_csv"]:
        click.echo(",".join(head + columns))
    options = {
        "method": p["method"], "mask": mask, "top": p["top"], "threshold": p["threshold"],
        "overlap": p["overlap"], "subpixel": p["subpixel"], "pad_input": p["pad"],
        "scales": matching.parse_scales(p["scales"]) if p["scales"] is not None else [1.0],
        "angles": matching.parse_angles(p["angles"]) if p["angles"] is not None else [0.0],
    }  # fmt: skip
    matched = searched = 0
    for frame in frames:
        if not picked(frame.number):
            continue
        image = frame.values()
        if frame.info.alpha:
            image = matching.split_alpha(image)[0]
        found = search_frames([image], template, **options)[0]
        searched += 1
        matched += bool(found.matches)
        first = ([] if file_name is None else [file_name]) + [frame.number]
        for m in found.matches:
            if p["as_json"]:
                record = dict(zip(head, first, strict=True)) | m.as_dict(**keys)
                click.echo(json.dumps(record))
            elif p["as_csv"]:
                values = list(m.as_dict(**keys).values())
                click.echo(",".join(str(v) for v in [*first, *values]))
            else:
                click.echo("\t".join([*(str(v) for v in first), *row(m)]))
        sys.stdout.flush()
    if not matched and not p["quiet"]:
        stderr_console().print(f"no match in the {searched} frame(s) searched")
    return 0 if matched else 1
