"""A stream of frames through a kernel chain: each result written as soon as it is done.

Owns :func:`filter_stream`: frames from :func:`convtool.images.iter_frames` (a pipe of
Netpbm/PNG images or raw video frames) are filtered band by band (:class:`convtool.chain.bands.
BandedChain`, integers kept until a band is computed) and encoded, a few frames in flight on
the one thread pool (:func:`convtool.runtime.submit`: while the calling thread reads frame
*n + 2* and writes frame *n*, the pool filters and encodes frames *n + 1* and *n + 2*, each on
one thread); results are written in the stream's order. Memory holds those few frames
whatever the stream's length.

Where results go (:class:`StreamSink`): a stream (stdout) gets each frame's bytes as soon as
they are ready, flushed (not atomic: what was written stays written when a later frame fails);
a file in a format that holds images one after another (Netpbm, raw) is filled frame by frame
in the writer's temporary file and renamed into place at the end; any other file format is
encoded once every frame is done (APNG, GIF, WebP, TIFF pages; one frame for the others),
atomically, as single files are. Must not import: click, rich, convtool.cli.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np

from .. import runtime
from .._blas import single_threaded_blas
from ..images import (
    MULTI_FRAME_FORMATS,
    ImageInfo,
    ImageIOError,
    StreamFrame,
    atomic_path,
    encode_stored,
    stored_layout,
    to_output_array,
    write_bytes,
)
from ..images.netpbm import WRITE_FORMATS as NETPBM_FORMATS
from ..images.stream import RAW_FORMAT, raw_layout, stored_raw
from ..images.write import write_stream
from ..kernels import Kernel, Magnitude
from ..levels import band_percentiles, parse_stretch
from .bands import BandedChain
from .memory import FilterOptions

__all__ = ["StreamResult", "StreamSink", "filter_stream"]

# Formats written frame by frame to a stream: images that follow each other on a pipe.
_STREAMABLE = (*NETPBM_FORMATS, RAW_FORMAT, "png", "jpeg", "bmp")
_APPENDABLE = (*NETPBM_FORMATS, RAW_FORMAT)


@dataclass
class StreamResult:
    """What :func:`filter_stream` wrote: frames, the last frame's output shape and format,
    and the notes of every frame (each once)."""

    frames: int = 0
    shape: tuple[int, ...] = ()
    fmt: str = ""
    notes: list[str] = field(default_factory=list)


class StreamSink:
    """Where encoded frames go: ``target`` ``"-"`` is ``stdout``, else a file (see module).

    ``fmt`` None takes each frame's own format (the stream's).
    """

    def __init__(self, target: str, fmt: str | None, stdout: BinaryIO | None = None) -> None:
        self.target, self.fmt, self.stdout = target, fmt, stdout
        self.collected: list[np.ndarray] = []
        self.first_info: ImageInfo | None = None
        self._append = None  # (context manager, file) of an appended file
        self.options: dict = {}

    def mode(self, fmt: str) -> str:
        """``stream`` (bytes out now), ``append`` (into the temporary file) or ``collect``."""
        if self.target == "-":
            return "stream" if fmt in _STREAMABLE else "collect"
        return "append" if fmt in _APPENDABLE else "collect"

    def put(self, fmt: str, item, info: ImageInfo, count: int) -> None:
        mode = self.mode(fmt)
        if mode == "stream":
            write_stream(item, self.stdout)
        elif mode == "append":
            if self._append is None:
                ctx = atomic_path(self.target)
                fh = open(ctx.__enter__(), "wb")
                self._append = (ctx, fh)
            self._append[1].write(item)
        else:
            if count > 1 and fmt not in MULTI_FRAME_FORMATS:
                formats = ", ".join(f.upper() for f in MULTI_FRAME_FORMATS)
                raise ImageIOError(
                    f"the stream has more than one frame but {fmt.upper()} holds one: write "
                    f"one of {formats}, or a stream to -o -"
                )
            self.first_info = self.first_info or info
            self.collected.append(item)

    def finish(self, fmt: str) -> None:
        if self._append is not None:
            ctx, fh = self._append
            self._append = None
            fh.close()
            ctx.__exit__(None, None, None)
        elif self.collected:
            data = encode_stored(self.collected, self.first_info, fmt, **self.options)
            self.collected = []
            write_bytes(data, self.target, stdout=self.stdout)

    def abort(self, exc: BaseException) -> None:
        if self._append is not None:
            ctx, fh = self._append
            self._append = None
            fh.close()
            try:
                ctx.__exit__(type(exc), exc, exc.__traceback__)
            except BaseException:  # the temporary file is removed; the original error stands
                pass


class _Chains:
    """One planned chain per frame layout, shared by the pool threads."""

    def __init__(self, steps, opts: FilterOptions) -> None:
        self.steps, self.opts = steps, opts
        self._chains: dict = {}
        self._lock = threading.Lock()

    def get(self, frame: StreamFrame) -> BandedChain:
        key = (frame.pixels.shape, frame.pixels.dtype.str, frame.info.alpha, frame.full_scale)
        with self._lock:
            chain = self._chains.get(key)
            if chain is None:
                chain = BandedChain(
                    frame.pixels.shape, frame.pixels.dtype, self.steps, self.opts,
                    has_alpha=frame.info.alpha, input_scale=frame.full_scale,
                )  # fmt: skip
                self._chains[key] = chain
                self.opts.runs.extend(chain.runs)
            return chain


def _process(frame: StreamFrame, chains: _Chains, sink: StreamSink, mapping, options, depth=None):
    """Filter and store one frame; returns ``(fmt, bytes or stored array, info, shape)``."""
    chain = chains.get(frame)
    info = frame.info
    if chains.opts.alpha == "drop":
        info.alpha = False
    shape = chain.out_shape[:2] if chain.out_shape[2:] == (1,) else chain.out_shape
    fmt = sink.fmt or info.format
    channels = 1 if len(shape) == 2 else shape[2]
    if fmt == RAW_FORMAT:
        layout = raw_layout(info, mapping, depth)
        depth, how = layout["depth"], layout["mapping"]
    else:
        depth, how = stored_layout(info, fmt, channels, mapping, depth=depth)
    dtype = {"8": np.uint8, "16": np.uint16}.get(depth, chain.dtype)
    limits = None
    percent = parse_stretch(how)
    if how == "rescale" or percent is not None:  # a first pass for the frame's levels
        bands = [values.copy() if percent is not None else values for *_, values in
                 chain.bands(frame.pixels)]  # fmt: skip
        lo = min(float(v.min()) for v in bands)
        hi = max(float(v.max()) for v in bands)
        limits = (lo, hi) if percent is None else band_percentiles(bands, percent, lo, hi)

    def convert(values: np.ndarray, dst: np.ndarray, r0: int) -> None:
        to_output_array(values, depth=depth, mapping=how, limits=limits, out=dst)

    out = chain.run(frame.pixels, np.empty(shape, dtype), convert=convert)
    if sink.mode(fmt) == "collect":
        return fmt, out, info, shape
    if fmt == RAW_FORMAT:
        return fmt, stored_raw(out), info, shape
    return fmt, encode_stored([out], info, fmt, **options), info, shape


def filter_stream(
    frames: Iterable[StreamFrame],
    steps: Sequence[Kernel | Magnitude],
    opts: FilterOptions,
    sink: StreamSink,
    *,
    mapping: str | None = None,
    quality: int | None = None,
    compression: int | None = None,
    depth: str | None = None,
    on_frame: Callable[[int], None] | None = None,
) -> StreamResult:
    """Filter every frame of ``frames`` through ``steps`` and hand each result to ``sink`` in
    order, as soon as it and the frames before it are done.

    A few frames are in flight on the thread pool (:func:`convtool.runtime.threads` + 1);
    reading the next frame overlaps their filtering. When reading fails (a stream cut inside a
    frame), the frames before it are finished and written first, then the error is raised.
    ``on_frame(count)`` is called after each frame is written.

    Examples
    --------
    >>> import io
    >>> from convtool.images import iter_frames
    >>> from convtool.images.netpbm import encode
    >>> from convtool.kernels import parse_kernel
    >>> data = encode([np.full((2, 3), v, np.uint8) for v in (10, 20, 30)], "pgm")
    >>> out = io.BytesIO()
    >>> done = filter_stream(iter_frames(data), [parse_kernel("box:3")], FilterOptions(),
    ...                      StreamSink("-", None, out))
    >>> done.frames, done.fmt, [f.pixels[0, 0] for f in iter_frames(out.getvalue())]
    (3, 'pgm', [np.uint8(10), np.uint8(20), np.uint8(30)])
    """
    chains = _Chains(steps, opts)
    options = {"quality": quality, "compression": compression}
    sink.options = options
    result = StreamResult()
    pending: collections.deque = collections.deque()
    ahead = runtime.threads() + 1

    def emit() -> None:
        fmt, item, info, shape = pending.popleft().result()
        result.frames += 1
        sink.put(fmt, item, info, result.frames)
        result.shape, result.fmt = tuple(shape), fmt
        result.notes += [n for n in info.notes if n not in result.notes]
        if on_frame is not None:
            on_frame(result.frames)

    with single_threaded_blas():  # the pool's threads each filter a frame: BLAS adds none
        try:
            try:
                for frame in frames:
                    task = lambda f=frame: _process(f, chains, sink, mapping, options, depth)  # noqa: E731
                    pending.append(runtime.submit(task))
                    # results already done go out before the next frame is waited for
                    while pending and (len(pending) >= ahead or pending[0].done()):
                        emit()
            except (ImageIOError, OSError):  # the frames read before the failure go out first
                while pending:
                    emit()
                raise
            while pending:
                emit()
            sink.finish(result.fmt)
        except BaseException as exc:
            for future in pending:
                future.cancel()
            for future in pending:
                if not future.cancelled():
                    future.exception()  # wait: no thread still works on this run's frames
            sink.abort(exc)
            raise
    return result
