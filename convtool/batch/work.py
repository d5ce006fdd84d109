"""Per-file batch work: top-level, picklable functions that do a whole file and never raise.

Owns: :class:`FileResult`, :func:`filter_one` (read, filter chain, encode, atomic write) and
:func:`find_one` (read, template search, optional pictures), and the per-process template
cache. Every error is caught and returned as a one-line ``FileResult.error``.
Must not import: click, rich; image I/O only through :mod:`convtool.images`.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import matching, pictures, runtime
from ..chain.file import filter_file
from ..framesearch import search_frames
from ..images import (
    ImageInfo,
    draw_boxes,
    encode_image,
    format_for_path,
    read_frames,
    read_image,
    set_max_pixels,
    write_bytes,
)
from ..images.write import remove_temps
from .plan import FilterJob, FindJob


@dataclass
class FileResult:
    """What happened to one file. ``error`` is one line, without the file name."""

    index: int
    source: str
    target: str | None = None
    ok: bool = True
    skipped: bool = False
    error: str | None = None
    notes: tuple[str, ...] = ()
    seconds: float = 0.0
    shape: tuple[int, ...] = ()
    threads: int = 0  # engine threads the file ran with (jobs x threads stays within the cores)
    # find only
    matches: tuple[Any, ...] = ()
    skipped_scales: tuple[float, ...] = ()
    method: str = ""
    threshold: float = 0.0
    frames: tuple[int, ...] = ()  # the frame (from 1) of each match
    frame_count: int = 1  # frames searched


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, killed but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: it exists
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True  # no /proc: kill(0) said it exists


def watch_parent(parent: int, interval: float = 0.25) -> threading.Thread:
    """End this worker process soon after ``parent`` (the batch run that started it) dies.

    A worker whose parent was killed (SIGKILL, out of memory) has nobody to hand its results
    to, and it holds the run's stdout and stderr open: a pipeline reader would never see
    end-of-file. A daemon thread checks every ``interval`` seconds that the parent still runs
    and that this process was not re-parented (the forkserver that forked it gone); if not, it
    removes this worker's temporary files and exits at once (``os._exit``: no clean-up
    handler may wait for the dead parent).
    """
    ppid = os.getppid()

    def watch() -> None:
        while _alive(parent) and os.getppid() == ppid:
            time.sleep(interval)
        remove_temps()
        os._exit(1)

    thread = threading.Thread(target=watch, name="convtool-parent-watch", daemon=True)
    thread.start()
    return thread


def _one_line(source: str, exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if not isinstance(exc, ValueError):  # not a library's message for the user: name it
        text = f"{type(exc).__name__}: {text}" if text != type(exc).__name__ else text
        if isinstance(exc, MemoryError):
            text = "out of memory"
    for prefix in (f"{source}: ", f"{Path(source).name}: ", f"{source} "):
        if text.startswith(prefix):
            return text[len(prefix) :]
    return text


def filter_one(job: FilterJob) -> FileResult:
    """Read, filter, encode and atomically write one file (as the single-file command does:
    every frame, one frame in bands); errors come back in the result."""
    started = time.perf_counter()
    result = FileResult(job.index, job.source, job.target)
    try:
        settings = job.settings
        if settings.max_pixels is not None:
            set_max_pixels(settings.max_pixels)
        opts = dataclasses.replace(settings.options, runs=[])
        done = filter_file(
            job.source, job.target, list(settings.kernels), opts, mapping=settings.mapping,
            fmt=job.fmt, frames=settings.frames, quality=settings.quality,
            compression=settings.compression, make_dirs=job.make_dirs, depth=settings.depth,
        )  # fmt: skip
        result.notes, result.shape = tuple(done.info.notes), done.shape
    except Exception as exc:  # one bad file must not stop the others
        result.ok, result.error = False, _one_line(job.source, exc)
    result.seconds, result.threads = time.perf_counter() - started, runtime.threads()
    return result


def _stamp(path: str | None) -> tuple[int, int] | None:
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


def load_template(path: str, mask_path: str | None = None):
    """The template as searched (alpha split off) and its weights (None: every pixel counts).

    Kept per process while the files are unchanged: a worker reads it once for all its images.
    """
    return _load_template(path, mask_path, _stamp(path), _stamp(mask_path))


@functools.lru_cache(maxsize=4)
def _load_template(path, mask_path, _stamp1, _stamp2):
    templ, info = read_image(path)
    mask = None
    if info.alpha:
        templ, alpha = matching.split_alpha(templ)
        mask = None if bool((alpha >= 1.0).all()) else alpha
    if mask_path is not None:
        values, mask_info = read_image(mask_path)
        channels = 1 if templ.ndim == 2 else templ.shape[2]
        if mask_info.alpha:
            values = matching.split_alpha(values)[1]
        elif values.ndim == 3 and values.shape[2] != channels:
            values = matching.to_gray(values)
        mask = values
    return templ, mask


def _find_pictures(job: FindJob, image: np.ndarray, result) -> None:
    if job.heatmap:
        fmt = format_for_path(job.heatmap)
        data = encode_image(pictures.heatmap(result), ImageInfo(format=fmt, depth="8"), fmt)
        Path(job.heatmap).parent.mkdir(parents=True, exist_ok=True)
        write_bytes(data, job.heatmap)
    if job.annotate:
        fmt = format_for_path(job.annotate)
        boxes = [(m.x, m.y, m.width, m.height, f"{m.score:.2f}") for m in result.matches]
        values = draw_boxes(pictures.to_rgb8(image), boxes).astype(np.float32) / 255
        data = encode_image(values, ImageInfo(format=fmt, depth="8"), fmt)
        Path(job.annotate).parent.mkdir(parents=True, exist_ok=True)
        write_bytes(data, job.annotate)


def find_one(job: FindJob) -> FileResult:
    """Search one image for the template; matches (or the error) come back in the result."""
    started = time.perf_counter()
    result = FileResult(job.index, job.source)
    s = job.settings
    try:
        templ, mask = load_template(s.template, s.mask)
        read = read_frames(job.source, spec=s.frames)  # every frame, as find IMAGE TEMPLATE
        images, info = read.arrays, read.info
        if info.alpha:
            images = [matching.split_alpha(image)[0] for image in images]
        found, frame_of, best, per_frame = search_frames(
            images, templ, method=s.method, mask=mask, scales=s.scales, angles=s.angles,
            top=s.top, threshold=s.threshold, overlap=s.overlap, subpixel=s.subpixel,
            pad_input=s.pad,
        )  # fmt: skip
        image = images[best]
        _find_pictures(job, image, per_frame[best])
        result.frames = tuple(read.indices[f] + 1 for f in frame_of)
        result.frame_count = len(images)
        result.matches, result.method = tuple(found.matches), found.method
        result.threshold, result.skipped_scales = found.threshold, tuple(found.skipped_scales)
        result.notes, result.shape = tuple(info.notes), image.shape
    except Exception as exc:  # one bad image must not stop the others
        result.ok, result.error = False, _one_line(job.source, exc)
    result.seconds, result.threads = time.perf_counter() - started, runtime.threads()
    return result
