"""``filter`` and ``find`` over image streams: the input side the two commands share.

Owns :func:`open_input` (stdin, or a file read as a stream with ``--raw``), :func:`is_stream`
(whether an input is read frame by frame: raw frames, or stdin starting with a Netpbm/PFM or
PNG image) and :func:`filter_frames` (``filter - ... -o -``: each frame filtered and written as
soon as it is done, through :func:`convtool.chain.stream.filter_stream`). Matches over a
stream are :mod:`.find_frames`. Must not import the group or a command module.
"""

from __future__ import annotations

from typing import BinaryIO

from ..images import ImageIOError
from ..images._bytesource import ByteSource
from ..images.stream import RAW_FORMAT, RawLayout, is_stream_head
from .common import binary_stdin

# Buffers up to this size are reused from the heap during a stream (1080p: 1.2 -> 0.25 s of
# system time over 60 frames, the page faults of fresh mmaps).
STREAM_MMAP_THRESHOLD = 64 << 20

RAW_HELP = (
    "Read INPUT ('-': stdin) as raw frames one after another, WIDTHxHEIGHT[xCHANNELS]"
    "[:u8|u16|f32] (channels default 3, samples u8; u16 and f32 little-endian, as ffmpeg's "
    "rgb48le/gray16le/grayf32le; channels interleaved as rgb24/rgba). The output is raw "
    "frames of the same layout unless --format or -o FILE's extension says otherwise."
)


def open_input(path: str, raw: str | None) -> tuple[ByteSource, str, RawLayout | None]:
    """``(source, name in messages, raw layout)`` for ``path`` (``"-"``: stdin)."""
    layout = RawLayout.parse(raw) if raw is not None else None
    if path == "-":
        return ByteSource(binary_stdin()), "stdin", layout
    try:
        fh: BinaryIO = open(path, "rb")
    except FileNotFoundError:
        raise ImageIOError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ImageIOError(f"{path}: is a directory, not an image") from None
    except OSError as exc:
        raise ImageIOError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return ByteSource(fh), path, layout


def is_stream(source: ByteSource, layout: RawLayout | None) -> bool:
    """Raw frames, or an input that starts with a Netpbm/PFM or PNG image: read frame by
    frame. Anything else (JPEG, TIFF, GIF, .npy) is read whole, as a file is."""
    return layout is not None or is_stream_head(source.peek(8))


def output_format(output: str, fmt: str | None, layout: RawLayout | None) -> str | None:
    """The output format of a stream: --format, else -o FILE's extension, else (stdout) the
    stream's own (raw frames stay raw)."""
    from ..images import check_output_path

    if fmt is None and output == "-" and layout is not None:
        return RAW_FORMAT
    return check_output_path(output, fmt)


def filter_frames(source, name, layout, output, fmt, steps, opts, *, mapping, quality,
                  compression, stdout, depth=None):  # fmt: skip
    """``filter`` over a stream: every frame filtered and written in order (see
    :mod:`convtool.chain.stream`); returns its :class:`~convtool.chain.stream.StreamResult`."""
    from .._malloc import keep_freed_memory
    from ..chain.stream import StreamSink, filter_stream
    from ..images import iter_frames

    # Every frame allocates the same buffers again: keep them in the heap (see _malloc).
    keep_freed_memory(STREAM_MMAP_THRESHOLD, 2 * STREAM_MMAP_THRESHOLD)

    if output != "-" and fmt == RAW_FORMAT:
        raise ImageIOError("raw frames go to a stream (-o -); name a format for a file")
    sink = StreamSink(output, fmt, stdout)
    frames = iter_frames(source, raw=layout, name=name)
    return filter_stream(
        frames,
        steps,
        opts,
        sink,
        mapping=mapping,
        quality=quality,
        compression=compression,
        depth=depth,
    )
