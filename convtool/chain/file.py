"""One image file through a kernel chain into one output file: the single-file CLI and every
batch worker run this, so both keep every frame, honour the same options and stay in bounded
memory.

Owns: :func:`filter_file` (one frame in bands, integers kept; several frames whole, each
through :func:`convtool.chain.memory.apply_chain`), the notes on options an output format has
no use for, and the check that a single-frame format is not handed several frames.
Must not import: click, rich, convtool.cli; image I/O only through :mod:`convtool.images`.

Memory of one frame: the decoded pixels in their own type (uint8/uint16, or a map of a
``.npy`` or uncompressed TIFF file), the output in the stored type (an anonymous map handed
to the encoders, or for ``.npy`` a map of the writer's temporary file) and a few bands of
float32 rows: a 15360x8640 RGB TIFF peaks at ~1.5x its 8-bit bytes (tests/bench/bench_big.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .._mmap import anonymous_array
from ..images import (
    MULTI_FRAME_FORMATS,
    ImageInfo,
    ImageIOError,
    atomic_path,
    encode_frames,
    encode_stored,
    layout_stored,
    read_frames,
    read_pixels,
    save_stored,
    stored_in_place,
    stored_layout,
    to_output_array,
    write_bytes,
)
from ..kernels import Kernel, Magnitude
from ..levels import band_percentiles, parse_stretch
from .bands import BandedChain
from .memory import FilterOptions, apply_chain

__all__ = ["Filtered", "filter_file"]

# Preview: every k-th row and column of the result, k so that the longer side is at most this
# (a terminal shows far fewer pixels; the whole float result of a big image would not fit).
_PREVIEW_SIDE = 2048


@dataclass
class Filtered:
    """What :func:`filter_file` wrote: the output's shape (of one frame), how many frames,
    the input's info (with its notes), the output format, and the preview values (the
    result's normalized 8-bit values, subsampled) when asked for."""

    shape: tuple[int, ...]
    frames: int
    info: ImageInfo
    fmt: str
    preview: np.ndarray | None = None


def filter_file(
    source: str,
    target: str,
    steps: Sequence[Kernel | Magnitude],
    opts: FilterOptions,
    *,
    mapping: str | None = None,
    fmt: str | None = None,
    frames: str | None = None,
    quality: int | None = None,
    compression: int | None = None,
    stdin: BinaryIO | None = None,
    stdout: BinaryIO | None = None,
    progress: Callable[[int, int], None] | None = None,
    preview: bool = False,
    make_dirs: bool = False,
    depth: str | None = None,
) -> Filtered:
    """Read ``source``, run ``steps`` over every frame (or those ``frames`` picks) and write
    ``target`` (``"-"``: ``stdout``) atomically: a failure leaves an existing file as it was.

    ``fmt`` is the output format (None: the input's), ``mapping`` how values are stored
    (see :func:`convtool.images.to_output_array`), ``progress(done_rows, total_rows)`` is
    called as bands of a single frame are done, ``make_dirs`` creates the target's folder,
    ``depth`` (``"8"``, ``"16"``, ``"float"``; None: the input's, see
    :func:`convtool.images.stored_layout`) the stored depth.
    ``stdin`` (a seekable stream) is read when ``source`` is ``"-"``.

    Examples
    --------
    >>> import tempfile
    >>> from PIL import Image
    >>> from convtool.kernels import parse_kernel
    >>> d = tempfile.mkdtemp()
    >>> Image.fromarray(np.full((4, 6), 100, np.uint8)).save(f"{d}/in.png")
    >>> done = filter_file(f"{d}/in.png", f"{d}/out.png", [parse_kernel("box:3")], FilterOptions())
    >>> done.shape, done.frames, done.fmt, np.asarray(Image.open(f"{d}/out.png"))[0, 0]
    ((4, 6), 1, 'png', np.uint8(100))
    """
    if source == "-" and stdin is None:
        raise ValueError("reading '-' needs the stdin stream")
    done = _one_frame(
        source, stdin, target, fmt, steps, opts, mapping, frames=frames, quality=quality,
        compression=compression, stdout=stdout, progress=progress, preview=preview,
        make_dirs=make_dirs, depth=depth,
    )  # fmt: skip
    if done is not None:
        return done
    if stdin is not None:
        stdin.seek(0)
    return _all_frames(
        source, stdin, target, fmt, steps, opts, mapping, frames=frames, quality=quality,
        compression=compression, stdout=stdout, preview=preview, make_dirs=make_dirs,
        depth=depth,
    )  # fmt: skip


def _note_unused(info: ImageInfo, fmt: str, *, quality: int | None, compression: int | None):
    """An option the output format has no use for is said, not silently ignored."""
    if quality is not None and fmt not in ("jpeg", "webp"):
        info.notes.append(f"--quality is for JPEG and WebP; {fmt.upper()} ignores it")
    if compression is not None and fmt not in ("png", "tiff"):
        info.notes.append(f"--compression is for PNG and TIFF; {fmt.upper()} ignores it")


def _check_frame_count(count: int, fmt: str, source: str) -> None:
    """Several frames need a multi-frame output format: say how to pick one otherwise."""
    if count > 1 and fmt not in MULTI_FRAME_FORMATS:
        formats = ", ".join(f.upper() for f in MULTI_FRAME_FORMATS)
        raise ImageIOError(
            f"{source} has {count} frames but {fmt.upper()} holds one: pick a frame with "
            f"--frame N (or a range like 1-3 with a multi-frame output), or write {formats}"
        )


def _reserve(path: str) -> None:
    """Allocate a memory-mapped output's blocks now: on a full disk a store into a mapped page
    that has no block is SIGBUS, which kills the process; posix_fallocate says ENOSPC."""
    with open(path, "rb+") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size and hasattr(os, "posix_fallocate"):
            os.posix_fallocate(fh.fileno(), 0, size)


def _parent(target: str, make_dirs: bool) -> None:
    if make_dirs and target != "-":
        Path(target).parent.mkdir(parents=True, exist_ok=True)


def _one_frame(source, stdin, target, fmt, steps, opts: FilterOptions, mapping, *, frames,
               quality, compression, stdout, progress, preview,
               make_dirs, depth=None) -> Filtered | None:  # fmt: skip
    """One frame, read, filtered band by band and written; None when the input has (or
    ``frames`` picks) several frames."""
    picked = read_pixels(source, stdin=stdin, spec=frames)
    if picked is None:
        return None
    pixels, info, full_scale = picked
    del picked
    chain = BandedChain(
        pixels.shape, pixels.dtype, steps, opts, has_alpha=info.alpha, input_scale=full_scale
    )
    if opts.alpha == "drop":
        info.alpha = False
    shape = chain.out_shape[:2] if chain.out_shape[2:] == (1,) else chain.out_shape
    fmt = fmt or info.format
    _note_unused(info, fmt, quality=quality, compression=compression)
    asked = mapping or "clip"  # what the preview shows (as before the bands)
    channels = 1 if len(shape) == 2 else shape[2]
    depth, mapping = stored_layout(info, fmt, channels, mapping, depth=depth)
    dtype = {"8": np.uint8, "16": np.uint16}.get(depth, chain.dtype)
    limits = None
    percent = parse_stretch(mapping)
    if mapping == "rescale" or percent is not None:  # a pass for the min and max of the result
        lo, hi = np.inf, -np.inf
        for _, _, values in chain.bands(pixels):
            lo, hi = min(lo, float(values.min())), max(hi, float(values.max()))
        limits = (lo, hi)
        if percent is not None:  # and one for the histogram of its values
            bands = (values for _, _, values in chain.bands(pixels))
            limits = band_percentiles(bands, percent, lo, hi)
    step = max(1, -(-max(shape[:2]) // _PREVIEW_SIDE))
    kept: dict[int, np.ndarray] = {}  # by first row: bands finish in any order

    def convert(values: np.ndarray, dst: np.ndarray, r0: int) -> None:
        to_output_array(values, depth=depth, mapping=mapping, limits=limits, out=dst)
        if preview:
            kept[r0] = values[(-r0) % step :: step, ::step].copy()

    _parent(target, make_dirs)
    if target != "-" and stored_in_place(fmt, shape, dtype, compression=compression):
        with atomic_path(target) as tmp:  # the writer's file, its pixels filled band by band
            if fmt == "npy":
                out = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=shape)
            else:
                with open(tmp, "wb") as fh:
                    out = layout_stored(fh, shape, dtype, info).mapped(tmp)
            _reserve(tmp)
            chain.run(pixels, out, convert=convert, progress=progress)
            out.flush()
            del out
    else:
        out = chain.run(pixels, anonymous_array(shape, dtype), convert=convert, progress=progress)
        del pixels  # the encoder's copy takes its place
        options = {"quality": quality, "compression": compression, "consume": True}
        if target == "-":
            data = encode_stored([out], info, fmt, **options)
            del out
            write_bytes(data, target, stdout=stdout)
        else:  # straight into the writer's temporary file (TIFF strips a group at a time)
            with atomic_path(target) as tmp, open(tmp, "wb") as fh:
                save_stored([out], info, fmt, fh, **options)
    opts.runs.extend(chain.runs)
    small = None
    if preview:
        values = np.concatenate([kept[r0] for r0 in sorted(kept)])
        small = to_output_array(values, depth="8", mapping=asked, limits=limits) / 255
    return Filtered(tuple(shape), 1, info, fmt, small)


def _all_frames(source, stdin, target, fmt, steps, opts: FilterOptions, mapping, *, frames,
                quality, compression, stdout, preview, make_dirs,
                depth=None) -> Filtered:  # fmt: skip
    """Several frames: each decoded to floats and filtered whole, all encoded in one file."""
    read = read_frames(source, stdin=stdin, spec=frames)
    info = read.info
    fmt = fmt or info.format
    _check_frame_count(len(read.arrays), fmt, source)
    _note_unused(info, fmt, quality=quality, compression=compression)
    # The library works on one array at a time: every frame goes through the chain.
    results = [apply_chain(f, steps, opts, has_alpha=info.alpha) for f in read.arrays]
    if opts.alpha == "drop":
        info.alpha = False
    data = encode_frames(
        results, info, fmt, mapping=mapping, quality=quality, compression=compression,
        timing=read.timing, depth=depth,
    )  # fmt: skip
    _parent(target, make_dirs)
    write_bytes(data, target, stdout=stdout)
    small = None
    if preview:
        small = to_output_array(results[0], depth="8", mapping=mapping or "clip") / 255
    return Filtered(tuple(results[0].shape), len(results), info, fmt, small)
