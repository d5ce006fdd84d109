"""``convtool filter``: read an image, run a kernel chain through the engine, write the result.

Parses options only: pixels are computed by :mod:`convtool.chain` and bytes go in and out
through :mod:`convtool.images` (its one atomic writer). Several inputs (or a directory, or an
output directory / name template) run as a batch through :mod:`convtool.batch` and
:mod:`.batchrun`. Must not import the group or another command.
"""

from __future__ import annotations

import io
import os
import time
from typing import TYPE_CHECKING

import click

from .. import engine
from ..chain.file import filter_file
from ..chain.memory import ALPHA_MODES, FilterOptions
from ..engine import BORDER_ALIASES, BORDER_MODES
from ..images import (
    DEFAULT_JPEG_QUALITY,
    DEFAULT_PNG_LEVEL,
    FORMATS,
    ImageIOError,
    check_output_path,
    set_max_pixels,
)
from ..images.depths import check_depth
from ..images.info import DEFAULT_MAX_PIXELS, MAX_PIXELS_ENV
from ..kernels import MAX_KERNEL_SIDE, parse_kernel
from . import common, streamrun
from .batchrun import batch_options, run_batch
from .common import (
    FLOAT32,
    binary_stdout,
    fail,
    on_terminal,
    stderr_console,
)
from .completion import complete_kernel
from .filter_options import (
    DEFAULT_STRETCH,
    VALUES,
    check_cval,
    check_not_input,
    check_stdin,
    conversion_steps,
    habit_options,
)
from .preview import preview_options, preview_values
from .progress import Progress, wanted
from .scheduler import check_options, executor_for, scheduler_option, split_one

if TYPE_CHECKING:
    from .. import batch


@click.command(name="filter")
@click.argument(
    "inputs", metavar="INPUT...", nargs=-1, required=True, type=click.Path(allow_dash=True)
)
@click.option(
    "-k",
    "--kernel",
    "kernels",
    multiple=True,
    metavar="KERNEL",
    shell_complete=complete_kernel,
    help="Named kernel with optional parameters after a colon (sharpen, gaussian:2, "
    "sobel-x, ...; see 'convtool kernels'), an inline matrix ('1 2 1; 2 4 2; 1 2 1 /16', "
    "'3x3: 1,2,1 2,4,2 1,2,1', '[[1,2,1]]') or a kernel file (.txt, .json, .npy; './NAME' "
    "for a file named like a number). Repeat to apply several in order. Without -k: a "
    "conversion (format, --depth, --frame, --alpha), pixels unchanged.",
)
@click.option(
    "-o",
    "--output",
    default=None,
    type=click.Path(allow_dash=True),
    help="Output file ('-' for stdout); its extension picks the format unless --format is "
    "given. With several inputs: a directory (created if needed; files keep their names and "
    "their paths under a directory input) or a name template with fields {stem}, {name}, "
    "{ext}, {parent}, {rel}, {reldir}, {index}, e.g. 'out/{stem}-blur.{ext}'.",
)
@click.option(
    "--border",
    type=click.Choice(BORDER_MODES + tuple(BORDER_ALIASES), case_sensitive=False),
    default="reflect",
    show_default=True,
    help="How pixels beyond the edge are made up: reflect (dcba|abcd), mirror/reflect101 "
    "(dcb|abcd), nearest/replicate, wrap, constant (--cval), zero, valid (no padding, output "
    "shrinks), full (zero padding, output grows).",
)
@click.option(
    "--cval",
    type=FLOAT32,
    default=0.0,
    show_default=True,
    help="Fill value for --border constant, in normalized units (0 black, 1 white).",
)
@click.option(
    "--convolve/--correlate",
    "true_convolution",
    default=False,
    show_default=True,
    help="True convolution (kernel flipped in both axes) or cross-correlation, which is what "
    "CNN layers, OpenCV filter2D and ImageMagick -convolve compute.",
)
@click.option(
    "--anchor",
    metavar="Y,X",
    default=None,
    help="The kernel tap (row,column, from 0, in the kernel as given) that lies over each "
    "output pixel; -1 is the centre (the default, kh//2,kw//2). OpenCV's filter2D anchor "
    "with y first; scipy.ndimage's origin is Y-kh//2,X-kw//2. Applies to each kernel.",
)
@click.option(
    "--precision",
    type=click.Choice(("float32", "float64"), case_sensitive=False),
    default=None,
    help="Precision of the sums: float32 (the default, float64 for float64 .npy/TIFF input) "
    "or float64 (double-precision sums, as scipy.ndimage; .npy output keeps float64).",
)
@click.option(
    "--stride",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Keep every Nth output row and column (applies to each kernel).",
)
@click.option(
    "--dilation",
    type=click.IntRange(min=1, max=MAX_KERNEL_SIDE),
    default=1,
    show_default=True,
    help="Spacing between kernel taps (applies to each kernel).",
)
@click.option(
    "--normalize",
    is_flag=True,
    help="Divide each kernel by the sum of its weights (zero-sum kernels: by the sum of the "
    "positive weights).",
)
@click.option(
    "--scale",
    type=FLOAT32,
    default=1.0,
    show_default=True,
    help="Multiply the result by this factor (after the last kernel).",
)
@click.option(
    "--bias",
    type=FLOAT32,
    default=0.0,
    show_default=True,
    help="Add this to the result, in normalized units: --bias 0.5 shows the negative responses "
    "of edge kernels around mid-grey.",
)
@click.option(
    "--values",
    "mapping",
    type=VALUES,
    default=None,
    help="How results map to the output's range: clip (default; negative edge responses "
    "become black), abs (magnitude of signed responses), rescale (min..max to the full "
    "range), stretch[:P] (the P-th..(100-P)-th percentiles to the full range, the rest "
    f"clipped; P defaults to {DEFAULT_STRETCH:g}). With --depth float the default keeps "
    "the raw values (none).",
)
@habit_options
@click.option(
    "--alpha",
    type=click.Choice(ALPHA_MODES, case_sensitive=False),
    default="keep",
    show_default=True,
    help="Alpha channel: keep (passes through untouched), premultiply (filter colour "
    "premultiplied by alpha: no dark fringes around cut-outs), filter (like any channel), drop.",
)
@click.option(
    "--format",
    "out_format",
    type=click.Choice(tuple(FORMATS), case_sensitive=False),
    default=None,
    help="Output format. Default: from the output's extension; on stdout the input's format, "
    "else PNG.",
)
@click.option(
    "--frame",
    "frame_spec",
    metavar="LIST",
    default=None,
    help="Frames (pages) to filter, counting from 1: 2, 1-3 or 1,3. Default: every frame of "
    "an animated GIF/PNG/WebP or multi-page TIFF; several frames need a GIF, PNG (APNG), WebP "
    "or TIFF output.",
)
@click.option("--raw", "raw", metavar="WxH[xC][:TYPE]", default=None, help=streamrun.RAW_HELP)
@click.option(
    "--quality",
    type=click.IntRange(1, 100),
    default=None,
    help=f"JPEG/WebP quality, 1-100. Default: {DEFAULT_JPEG_QUALITY} for JPEG; lossless WebP.",
)
@click.option(
    "--compression",
    type=click.IntRange(0, 9),
    default=None,
    help=f"zlib level for PNG (default {DEFAULT_PNG_LEVEL}; higher is slower and smaller on "
    "graphics, photographs barely change) and TIFF (default 0: uncompressed; 1-9: deflate).",
)
@click.option(
    "--strategy",
    type=click.Choice(("auto", *engine.STRATEGIES), case_sensitive=False),
    default="auto",
    show_default=True,
    help="Force an engine strategy instead of the cost model's choice.",
)
@click.option(
    "--max-pixels",
    type=click.IntRange(min=0),
    default=None,
    metavar="N",
    help=f"Refuse images of more than N pixels before decoding any (decompression bombs); "
    f"0 = no limit. Default: ${MAX_PIXELS_ENV}, else {DEFAULT_MAX_PIXELS:,}.",
)
@click.option(
    "-v", "--verbose", is_flag=True, help="Print the strategy and time of each step to stderr."
)
@click.option(
    "--skip-existing",
    is_flag=True,
    help="Leave outputs that already exist alone (a rerun after an interruption does only "
    "what is missing; outputs are never half-written).",
)
@batch_options
@scheduler_option
@preview_options
def filter_command(
    inputs: tuple[str, ...],
    kernels: tuple[str, ...],
    output: str | None,
    border: str,
    cval: float,
    true_convolution: bool,
    anchor: str | None,
    precision: str | None,
    stride: int,
    dilation: int,
    normalize: bool,
    scale: float,
    bias: float,
    mapping: str | None,
    depth: str | None,
    in_place: bool,
    alpha: str,
    out_format: str | None,
    frame_spec: str | None,
    raw: str | None,
    quality: int | None,
    compression: int | None,
    strategy: str,
    max_pixels: int | None,
    verbose: bool,
    skip_existing: bool,
    recursive: bool,
    workers: int | None,
    fail_fast: bool,
    progress: bool | None,
    quiet: bool,
    scheduler: str | None,
    preview: str | None,
) -> None:
    """Filter INPUT (or many: files, directories) with one or more kernels and write OUTPUT.

    Values are computed in float32 in normalized units (0 = black, 1 = white for 8- and 16-bit
    images; raw values for float TIFF and .npy). Outputs keep the input's depth where the
    format allows (PNG and TIFF hold 16 bits in every channel; an 8-bit input gives uint8 in
    .npy too); --depth float keeps the raw signed results (.npy, one-channel TIFF). Without
    -k the run is a conversion. An output that is one of the inputs is refused unless
    --in-place. Every frame of an animation or page of a TIFF is filtered; --frame picks
    some. Signs: sobel-x is positive where intensity grows to the right, sobel-y where it grows
    downwards (as OpenCV).
    A single image is filtered in bands of rows: 8- and 16-bit pixels stay integers until a
    band is computed, and .npy files (and uncompressed TIFF) are memory-mapped, so memory
    stays near the input plus the output.

    Several inputs, a directory input or an output directory/template make a batch run: files
    go to --jobs worker processes; a bad file is reported as 'Error: path: reason' and the
    others go on; a summary line ends the run (exit status 2 if any file failed).

    Example:

        convtool filter photo.png -k gaussian:2 -k sharpen -o out.png

        convtool filter photo.png -k sobel-x --bias 0.5 -o edges.png

        cat photo.png | convtool filter - -k box:5 -o - | convtool filter - -k emboss -o out.png

        convtool filter photo.png -k emboss -o out.png --preview

        convtool filter shots/*.png -k gaussian:2 -o 'blurred/{stem}-blur.{ext}'

        convtool filter shots/ --recursive -k sharpen -o sharp/ --skip-existing

        convtool filter anim.gif -k sharpen -o sharp.gif

        convtool filter scan.tif --frame 2 -k gaussian:1 -o page2.jpg --quality 90

        convtool filter photo.png -k box:4 --anchor 0,0 -o shifted.png

        convtool filter photo.png -k '1 2 1; 2 4 2; 1 2 1 /16' -o soft.png

        convtool filter photo.png -k sobel-x --depth float -o sx.npy

        convtool filter photo.png -k sobel --values stretch:0.5 -o edges.png

        convtool filter photo.png -o photo.tif

        convtool filter photo.png -k sharpen -o photo.png --in-place

        cat a.ppm b.ppm | convtool filter - -k gaussian:1 -o - > blurred.ppm

        ffmpeg -i clip.mp4 -f rawvideo -pix_fmt rgb24 - | convtool filter - --raw 1920x1080x3
        -k gaussian:2 -o - | ffmpeg -f rawvideo -pix_fmt rgb24 -s 1920x1080 -i - out.mp4
    """
    if output is None:
        raise fail(_missing_output(inputs))
    check_cval(border)
    check_stdin(inputs)
    try:
        limit = set_max_pixels(max_pixels)
    except ImageIOError as exc:
        raise fail(str(exc)) from None
    opts = FilterOptions(
        border=border,
        cval=cval,
        convolve=true_convolution,
        stride=stride,
        dilation=dilation,
        normalize=normalize,
        scale=scale,
        bias=bias,
        alpha=alpha,
        strategy=strategy,
        anchor=None if anchor is None else _parse_anchor(anchor),
        precision=None if precision is None else precision.lower(),
    )
    check_options(scheduler, workers)
    if _is_batch(inputs, output):
        if raw is not None:
            raise fail("--raw reads one stream of frames: give one INPUT")
        if preview == "always":
            raise fail("--force-preview draws one image: not with several inputs")
        _filter_batch(inputs, kernels, output, opts, mapping, out_format, scheduler, limit)
        return
    if skip_existing and output != "-" and os.path.exists(output):
        if not quiet:
            stderr_console().print(f"note: {output} exists, skipped (--skip-existing)")
        return
    check_not_input(output, inputs, in_place)
    if scheduler is not None:  # one image: its row bands over the cluster's workers
        if raw is not None:
            raise fail("--raw reads one stream of frames: not with --scheduler")
        split_one(inputs[0], kernels, output, opts, mapping, out_format, scheduler,
                  depth=depth, compression=compression)  # fmt: skip
        return
    _filter_single(
        inputs[0], kernels, output, opts, mapping, out_format, verbose, quiet, progress, preview,
        frame_spec=frame_spec, quality=quality, compression=compression, raw=raw,
    )  # fmt: skip


def _filter_batch(inputs, kernels, output, opts, mapping, out_format, scheduler, limit) -> None:
    """Many files: planned (clashes refused) before any work, then run on --jobs workers or a
    Dask scheduler; exit status 2 if any file failed."""
    from .. import batch

    p = click.get_current_context().params
    try:
        steps = tuple(_steps(kernels))
        settings = batch.FilterSettings(
            steps, opts, mapping, out_format, frames=p["frame_spec"], quality=p["quality"],
            compression=p["compression"], max_pixels=limit, depth=p["depth"],
        )  # fmt: skip
        jobs = batch.plan_filter(
            inputs, output, settings, recursive=p["recursive"], skip_existing=p["skip_existing"],
            in_place=p["in_place"],
        )  # fmt: skip
        if p["depth"] is not None:
            for fmt in sorted({job.fmt for job in jobs if job.fmt}):
                check_depth(fmt, p["depth"], 1)
    except (*common.LIBRARY_ERRORS, batch.BatchError) as exc:
        raise fail(str(exc)) from None
    with executor_for(scheduler) as executor:
        tally = run_batch(
            jobs, batch.filter_one, workers=p["workers"], fail_fast=p["fail_fast"],
            progress=p["progress"], quiet=p["quiet"], verb="filtering",
            on_result=_timing_line if p["verbose"] else None, executor=executor,
        )  # fmt: skip
    if tally.failed or tally.aborted:
        click.get_current_context().exit(2)


def _parse_anchor(text: str) -> tuple[int, int]:
    """``--anchor Y,X``: two integers, each -1 (the centre) or a tap index."""
    parts = [p.strip() for p in text.split(",")]
    try:
        ay, ax = (int(p) for p in parts)
    except ValueError:
        raise fail(f"--anchor must be two integers Y,X (-1 for the centre), got {text!r}") from None
    if min(ay, ax) < -1:
        raise fail(f"--anchor must be two integers Y,X (-1 for the centre), got {text!r}")
    return ay, ax


def _steps(kernels: tuple[str, ...]) -> list:
    """The chain of -k specs, or a conversion's identity step without any."""
    return [parse_kernel(spec) for spec in kernels] if kernels else conversion_steps()


def _missing_output(inputs: tuple[str, ...]) -> str:
    """The error for a run without -o, with the likely intent when the last input is no file
    yet (``filter in.png -k x out.png`` is one -o away from working)."""
    message = "missing option -o/--output: where to write the result"
    last = inputs[-1]
    if len(inputs) > 1 and last != "-" and not os.path.exists(last):
        return f"{message} (did you mean -o {last}?)"
    return message


def _is_batch(inputs: tuple[str, ...], output: str) -> bool:
    """A batch run: several inputs, or OUTPUT a directory or a name template, or a directory
    input with an OUTPUT that is not a file name (``DIR -o out.png`` stays a single-file
    error: a directory is not an image)."""
    if len(inputs) != 1:
        return True
    from .. import batch  # its plan module only: the runner loads when a batch runs

    if output == "-":
        return False
    bare = output.rstrip("/" + os.sep)
    if bare != output and os.path.splitext(bare)[1].lower() in batch.LISTED:
        return False  # `-o x.png/`: a file name with a slash, which check_output_path refuses
    if batch.is_template(output) or os.path.isdir(output) or output.endswith(("/", os.sep)):
        return True
    looks_like_file = os.path.splitext(output)[1].lower() in batch.LISTED
    return inputs[0] != "-" and os.path.isdir(inputs[0]) and not looks_like_file


def _timing_line(result: batch.FileResult, bar: Progress) -> None:
    bar.echo(f"{result.source} -> {result.target}: {result.seconds * 1000:.1f} ms")


def _filter_single(
    input_path: str,
    kernels: tuple[str, ...],
    output: str,
    opts: FilterOptions,
    mapping: str | None,
    out_format: str | None,
    verbose: bool,
    quiet: bool,
    progress: bool | None,
    preview: str | None = None,
    *,
    frame_spec: str | None = None,
    quality: int | None = None,
    compression: int | None = None,
    raw: str | None = None,
) -> None:
    """One file (or stdin) to one file (or stdout): every frame, in one output file; a
    stream on stdin (or --raw frames) frame by frame (:mod:`.streamrun`)."""
    started = time.perf_counter()
    depth = click.get_current_context().params.get("depth")
    source = None
    try:
        if input_path == "-" or raw is not None:
            source, name, layout = streamrun.open_input(input_path, raw)
            if layout is not None and (frame_spec is not None or preview is not None):
                raise ImageIOError("--frame and --preview are not for --raw frames")
            if streamrun.is_stream(source, layout) and preview is None and frame_spec is None:
                fmt = streamrun.output_format(output, out_format, layout)
                _filter_stream(source, name, layout, kernels, output, opts, mapping, fmt,
                               verbose, quiet, quality, compression, started)  # fmt: skip
                return
        fmt = check_output_path(output, out_format)
        if depth is not None and fmt is not None:
            check_depth(fmt, depth, 1)
    except common.LIBRARY_ERRORS as exc:
        raise fail(str(exc)) from None
    if output == "-" and preview == "always":
        raise fail("--force-preview draws on stdout: write the image with -o FILE, not -o -")
    if output == "-" and on_terminal():
        raise fail(
            "refusing to write binary image data to a terminal; redirect stdout or use -o FILE"
        )
    name = "<stdin>" if input_path == "-" else os.path.basename(input_path)
    # A sign of life for big images: a bar over the rows as bands are done (after a second
    # unless --progress asked for it).
    shown, delay = wanted(progress, quiet=quiet), 0.0 if progress else 1.0
    with Progress(
        f"filtering {name}", None, enabled=shown, delay=delay, unit="rows", counted=True
    ) as bar:
        try:
            steps = _steps(kernels)
            stdin = io.BytesIO(source.read_all()) if source is not None else None
            done = filter_file(
                input_path, output, steps, opts, mapping=mapping, fmt=fmt, frames=frame_spec,
                quality=quality, compression=compression, stdin=stdin, stdout=binary_stdout(),
                progress=bar.update, preview=preview is not None, depth=depth,
            )  # fmt: skip
        except common.LIBRARY_ERRORS as exc:  # loads the matcher only on an error
            raise fail(str(exc)) from None
    if done.preview is not None:
        preview_values(preview, done.preview)
    notes = done.info.notes if not quiet else []
    if notes or verbose:  # rich loads only when there is something to say
        err = stderr_console()
        for note in notes:
            err.print(f"note: {note}")
        if verbose:
            _print_runs(err, opts, done.shape, done.frames, done.fmt, started)


def _filter_stream(source, name, layout, kernels, output, opts, mapping, fmt, verbose, quiet,
                   quality, compression, started) -> None:  # fmt: skip
    """A stream of frames (stdin, --raw): each written as soon as it is done."""
    if output == "-" and on_terminal():
        raise fail(
            "refusing to write binary image data to a terminal; redirect stdout or use -o FILE"
        )
    try:
        steps = _steps(kernels)
        done = streamrun.filter_frames(
            source, name, layout, output, fmt, steps, opts, mapping=mapping, quality=quality,
            compression=compression, stdout=binary_stdout(),
            depth=click.get_current_context().params.get("depth"),
        )  # fmt: skip
    except common.LIBRARY_ERRORS as exc:
        raise fail(str(exc)) from None
    if (done.notes and not quiet) or verbose:
        err = stderr_console()
        for note in done.notes if not quiet else []:
            err.print(f"note: {note}")
        if verbose:
            _print_runs(err, opts, done.shape, done.frames, done.fmt, started)


def _print_runs(err, opts: FilterOptions, shape, count: int, fmt: str, started: float) -> None:
    """--verbose: each kernel's strategy and time, then the output and the total time."""
    for name, run in opts.runs:
        err.print(f"{name}: strategy {run.strategy}, {run.seconds * 1000:.1f} ms")
    size = "x".join(str(s) for s in shape)
    frames = f"{count} frames of " if count > 1 else ""
    elapsed = (time.perf_counter() - started) * 1000
    err.print(f"output {frames}{size} {fmt}, total {elapsed:.1f} ms")
