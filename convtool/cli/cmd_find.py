"""``convtool find``: template search from the command line (a Where's-Waldo search).

Reads IMAGE, TEMPLATE and an optional mask through :mod:`convtool.images`, searches with
:mod:`convtool.matching`, prints matches through :mod:`.output` and writes the heatmap and
annotated pictures through the one image writer. ``-t TEMPLATE IMAGE...`` searches many images
as a batch (:mod:`convtool.batch`, :mod:`.batchrun`), each output line carrying its image's path.
Must not import the group or another command.
"""

from __future__ import annotations

import csv
import io

import click
from rich.table import Table

from .. import batch, matching
from ..framesearch import merge_frames as _merge_frames
from ..images import (
    ImageIOError,
    check_output_path,
    iter_frames,
    probe_image,
    read_frames,
    read_image,
    read_pixels,
)
from . import find_frames
from .batchrun import batch_options, run_batch
from .common import FINITE_FLOAT, LIBRARY_ERRORS, binary_stdin, fail, stderr_console
from .find_pictures import annotated_rgb8, miss_message, write_pictures
from .output import echo_csv, echo_json, echo_tsv, print_table, table_option, use_table
from .preview import preview_options, preview_values
from .progress import Progress, wanted
from .scheduler import check_options, executor_for, scheduler_option

FIND_ERRORS = (*LIBRARY_ERRORS, matching.TemplateError)


def _find_output_format(path: str | None, option: str, npy: bool = False) -> str | None:
    """Check an output path before any work, so that a bad one leaves no file behind."""
    if path is None:
        return None
    fmt = check_output_path(path, format_option=False)  # find has no --format
    if fmt == "npy" and not npy:
        raise matching.TemplateError(
            f"{option} {path}: write a picture (.png, .jpg, ...), not .npy"
        )
    return fmt


class _MethodChoice(click.Choice):
    """The method names, and OpenCV's for them (``TM_SQDIFF_NORMED``, any case)."""

    def convert(self, value, param, ctx):
        try:
            return matching.canonical_method(value)
        except matching.TemplateError:
            return super().convert(value, param, ctx)  # click's usage error


def _find_mask(mask_path: str, template_channels: int):
    mask, info = read_image(mask_path)
    if info.alpha:
        return matching.split_alpha(mask)[1]
    if mask.ndim == 3 and mask.shape[2] != template_channels:
        return matching.to_gray(mask)
    return mask


def _columns(with_scale: bool, with_angle: bool, with_subpixel: bool) -> list[str]:
    columns = ["x", "y", "width", "height", "score"] + (["scale"] if with_scale else [])
    columns += ["angle"] if with_angle else []
    return columns + (["x_subpixel", "y_subpixel"] if with_subpixel else [])


def _row(m, with_scale: bool, with_angle: bool, with_subpixel: bool) -> list[str]:
    return (
        [str(m.x), str(m.y), str(m.width), str(m.height), f"{m.score:.4f}"]
        + ([f"{m.scale:g}"] if with_scale else [])
        + ([f"{m.angle:g}"] if with_angle else [])
        + ([f"{m.x_subpixel:.3f}", f"{m.y_subpixel:.3f}"] if with_subpixel else [])
    )


def _find_print(
    matches: list,
    *,
    with_scale: bool,
    with_angle: bool,
    with_subpixel: bool,
    as_json: bool,
    as_csv: bool,
    as_table: bool | None,
    method: str,
    frames: list[int] | None = None,
):
    """Print the matches; with ``frames`` (1-based, one per match) a ``frame`` field first."""
    keys = {"with_scale": with_scale, "with_angle": with_angle}

    def fields(i: int, m) -> dict:
        return ({"frame": frames[i]} if frames else {}) | m.as_dict(**keys)

    if as_json:
        echo_json([fields(i, m) for i, m in enumerate(matches)])
        return
    columns = (["frame"] if frames else []) + _columns(with_scale, with_angle, with_subpixel)
    rows = [
        ([str(frames[i])] if frames else []) + _row(m, with_scale, with_angle, with_subpixel)
        for i, m in enumerate(matches)
    ]
    if as_csv:
        echo_csv(columns, [list(fields(i, m).values()) for i, m in enumerate(matches)])
        return
    if not use_table(as_table):
        echo_tsv(rows)
        return
    if not rows:
        return

    better = "lower is better" if matching.lower_is_better(method) else "higher is better"
    table = Table(title=f"{len(rows)} match(es), {method} ({better})")
    for name in columns:
        table.add_column(name, justify="right")
    for row in rows:
        table.add_row(*row)
    print_table(table)


@click.command(name="find")
@click.argument(
    "paths",
    metavar="IMAGE TEMPLATE | -t TEMPLATE IMAGE...",
    nargs=-1,
    required=True,
    type=click.Path(allow_dash=True),
)
@click.option(
    "-t",
    "--template",
    "template_opt",
    type=click.Path(),
    default=None,
    help="Search for this template in every IMAGE given (files or directories): each output "
    "line, JSON and CSV record then starts with the image's path, as grep -H.",
)
@click.option(
    "--top",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Report at most this many matches, best first.",
)
@click.option(
    "--threshold",
    type=FINITE_FLOAT,
    default=None,
    help="Score a match needs: at least T for zncc (default 0.8) and ncc (default 0.95); "
    "at most T for ssd, the mean squared difference per pixel (default 0.01), and ssd-normed "
    "(default 0.05); ccorr and ccoeff have no default (every peak counts).",
)
@click.option(
    "--method",
    type=_MethodChoice(matching.METHODS, case_sensitive=False),
    default="zncc",
    show_default=True,
    help="zncc: zero-mean normalized correlation in [-1, 1], ignores brightness and contrast "
    "(OpenCV TM_CCOEFF_NORMED); ncc: normalized correlation (TM_CCORR_NORMED); ssd: mean "
    "squared difference, lower is better (TM_SQDIFF per pixel); ssd-normed: TM_SQDIFF_NORMED "
    "in [0, 1], lower is better; ccorr, ccoeff: TM_CCORR and TM_CCOEFF per pixel (raw "
    "products: no default threshold, --top picks the best). OpenCV's names work too.",
)
@click.option(
    "--pad",
    is_flag=True,
    help="Also score windows that hang over the image's border (the image padded with 0, as "
    "scikit-image's pad_input): the score map is the image's size, and a match's x or y may "
    "be negative.",
)
@click.option(
    "--overlap",
    type=click.FloatRange(0.0, 1.0),
    default=0.5,
    show_default=True,
    help="Largest overlap (intersection over union) allowed between two reported boxes; "
    "lower values spread matches further apart.",
)
@click.option(
    "--scales",
    metavar="LIST",
    default=None,
    help="Also search resized templates: a list like 0.5,0.75,1,1.5 or START:STOP:STEP "
    "(STOP included). Each match then reports its scale.",
)
@click.option(
    "--angles",
    metavar="LIST",
    default=None,
    help="Also search turned templates, in degrees counter-clockwise: a list like -10,0,10 or "
    "START:STOP:STEP (STOP included). Each match then reports its angle; the box is the "
    "turned template's, and its empty corners are ignored.",
)
@click.option(
    "--subpixel",
    is_flag=True,
    help="Also report each match's top-left corner to a fraction of a pixel (x_subpixel, "
    "y_subpixel: the vertex of a parabola through the score and its neighbours, per axis).",
)
@click.option(
    "--mask",
    "mask_path",
    type=click.Path(),
    default=None,
    help="Weights for the template's pixels (white = used, black = ignored), the template's "
    "size. Default: the template's alpha channel, if it has one.",
)
@click.option(
    "--frame",
    "frame_spec",
    metavar="LIST",
    default=None,
    help="Frames (pages) of IMAGE to search, counting from 1: 2, 1-3 or 1,3. Default: every "
    "frame; with more than one, each match reports its frame.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of matches.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV with a header line.")
@click.option(
    "--heatmap",
    "heatmap_path",
    type=click.Path(),
    default=None,
    help="Write a colour map of the scores (bright = good match), the size of IMAGE, with the "
    "matches outlined and a colour bar; FILE.npy saves the raw float score map instead. For "
    "an animation: the frame holding the best match.",
)
@click.option(
    "--annotate",
    "annotate_path",
    type=click.Path(),
    default=None,
    help="Write IMAGE with a box, rank and score on each match (the best in gold).",
)
@table_option
@batch_options
@scheduler_option
@preview_options
def find_command(
    paths: tuple[str, ...],
    template_opt: str | None,
    top: int,
    threshold: float | None,
    method: str,
    pad: bool,
    overlap: float,
    scales: str | None,
    angles: str | None,
    subpixel: bool,
    mask_path: str | None,
    frame_spec: str | None,
    as_json: bool,
    as_csv: bool,
    heatmap_path: str | None,
    annotate_path: str | None,
    as_table: bool | None,
    recursive: bool,
    workers: int | None,
    fail_fast: bool,
    progress: bool | None,
    quiet: bool,
    scheduler: str | None,
    preview: str | None,
) -> None:
    """Find TEMPLATE in IMAGE (a Where's-Waldo search) and print where it is.

    Prints x, y (top-left corner), width, height and score of each match, best first: a table
    on a terminal, tab-separated lines when piped, or --json / --csv. Exit status as grep: 0
    when a match passes the threshold, 1 when none does, 2 on error. IMAGE may be '-'
    (standard input). A template with an alpha channel is matched only where it is opaque.

    A stream on stdin (several PPM/PGM/PAM/PFM or PNG images one after another, as
    ffmpeg -f image2pipe writes) is searched frame by frame: each frame's matches are printed
    (and flushed) as soon as it is searched, with a 'frame' field; --json prints JSON Lines.

    With -t TEMPLATE, every IMAGE (files, directories) is searched, over --jobs workers: each
    line starts with the image's path (JSON and CSV get a 'file' field), in the order the
    images were given. Exit status: 0 if any image matched, 1 if none did, 2 if any failed.
    --heatmap and --annotate then take name templates such as 'found/{stem}.png'. Every frame
    of each image is searched (or those --frame picks); a 'frame' column follows the path when
    --frame is given or an image's format holds frames (GIF, WebP, TIFF, Netpbm).

    Example:

        convtool find samples/waldo-scene.png samples/waldo.png --annotate found.png

        convtool find shot.png icon.png --top 5 --scales 0.5:2:0.25 --json

        convtool find scan.png stamp.png --angles -30:30:5

        convtool find shot.png icon.png --method ssd-normed --pad

        convtool filter photo.png -k gaussian:1 -o - | convtool find - icon.png

        convtool find samples/waldo-scene.png samples/waldo.png --heatmap scores.npy --preview

        convtool find -t icon.png screenshots/ --recursive --csv > hits.csv

        convtool find animation.gif sprite.png --top 3 --json

        ffmpeg -i clip.mp4 -f image2pipe -c:v ppm - | convtool find - logo.png --json
    """
    if as_json and as_csv:
        raise fail("--json and --csv cannot be used together")
    params = click.get_current_context().params
    check_options(scheduler, workers)
    if scheduler is not None and template_opt is None:
        raise fail("--scheduler needs the batch form: -t TEMPLATE IMAGE...")
    if template_opt is not None:
        _find_many(paths, params)
    elif len(paths) != 2:
        raise fail("give IMAGE TEMPLATE, or -t TEMPLATE IMAGE... to search several images")
    else:
        _find_single(paths[0], paths[1], params)


def _find_single(image_path: str, template_path: str, p: dict) -> None:
    """One image, the original form: matches without file names, exit 1 when none."""
    heatmap_path, annotate_path = p["heatmap_path"], p["annotate_path"]
    stdin = None
    if image_path == "-":  # a stream of several frames is searched frame by frame
        try:
            data, frames = find_frames.stdin_image()
        except FIND_ERRORS as exc:
            raise fail(str(exc)) from None
        if frames is not None:
            _find_stream(frames, template_path, p, file_name=None)
            return
        stdin = io.BytesIO(data)
    try:
        heat_fmt = _find_output_format(heatmap_path, "--heatmap", npy=True)
        annotate_fmt = _find_output_format(annotate_path, "--annotate")
        if heatmap_path and annotate_path and heatmap_path == annotate_path:
            raise matching.TemplateError("--heatmap and --annotate must be different files")
        scale_list = matching.parse_scales(p["scales"]) if p["scales"] is not None else [1.0]
        angle_list = matching.parse_angles(p["angles"]) if p["angles"] is not None else [0.0]
        images, image_info, templ, mask, numbers, image_scale = _read_inputs(
            image_path, template_path, p["mask_path"], p["frame_spec"], stdin
        )
        shown = wanted(p["progress"], quiet=p["quiet"])
        total = len(scale_list) * len(angle_list) * len(images)
        delay = 0.0 if p["progress"] else 0.5  # a quick search never flashes a bar
        with Progress("searching", total, enabled=shown, unit="placements", delay=delay) as bar:
            found = [
                matching.search(
                    image, templ, method=p["method"], mask=mask, scales=scale_list,
                    angles=angle_list, top=p["top"], threshold=p["threshold"],
                    overlap=p["overlap"], progress=bar.update, pad_input=p["pad"],
                    image_scale=image_scale, keep_maps=heatmap_path is not None,
                )
                for image in images
            ]  # fmt: skip
        if p["subpixel"]:
            for one in found:
                matching.refine_matches(one)
        result, frame_of, best = _merge_frames(found, p["top"])
        image = images[best]
        if image_scale != 1.0 and (annotate_path or p["preview"]):
            image = image.astype("float32") * image_scale  # integers of a large image
        notes = write_pictures(
            found[best], image, (heatmap_path, heat_fmt), (annotate_path, annotate_fmt)
        )
    except FIND_ERRORS as exc:
        raise fail(str(exc)) from None
    err = stderr_console()
    for note in [*image_info.notes, *notes] if not p["quiet"] else notes:
        err.print(f"note: {note}")
    if result.skipped_scales and not p["quiet"]:
        skipped = ", ".join(f"{s:g}" for s in result.skipped_scales)
        err.print(f"note: skipped scale(s) {skipped}: the template would not fit in the image")
    _find_print(
        result.matches,
        with_scale=p["scales"] is not None,
        with_angle=p["angles"] is not None,
        with_subpixel=p["subpixel"],
        as_json=p["as_json"],
        as_csv=p["as_csv"],
        as_table=p["as_table"],
        method=result.method,
        frames=[numbers[f] for f in frame_of] if len(images) > 1 else None,
    )
    if p["preview"]:
        preview_values(p["preview"], annotated_rgb8(found[best], image).astype("float32") / 255)
    if not result.matches:
        with_scale, with_angle = p["scales"] is not None, p["angles"] is not None
        err.print(miss_message(result, with_scale=with_scale, with_angle=with_angle))
        click.get_current_context().exit(1)


def _find_stream(frames, template_path: str, p: dict, *, file_name: str | None) -> None:
    """A stream of frames on stdin: matches printed frame by frame (:mod:`.find_frames`)."""
    if p["heatmap_path"] or p["annotate_path"] or p["preview"] == "always":
        raise fail("--heatmap, --annotate and --force-preview draw one image, not a stream")
    keys = (p["scales"] is not None, p["angles"] is not None, p["subpixel"])
    try:
        templ, mask = batch.load_template(template_path, p["mask_path"])
        code = find_frames.search_stream(
            frames, templ, mask, p, columns=_columns(*keys), row=lambda m: _row(m, *keys),
            file_name=file_name,
        )  # fmt: skip
    except FIND_ERRORS as exc:
        raise fail(str(exc)) from None
    click.get_current_context().exit(code)


def _find_many(images: tuple[str, ...], p: dict) -> None:
    """``-t TEMPLATE IMAGE...``: every image searched as a batch; exit 0/1/2 as grep -r."""
    if p["preview"] == "always":
        raise fail("--force-preview draws one image: not with -t TEMPLATE IMAGE...")
    if images == ("-",):  # stdin: one image or a stream, searched frame by frame
        try:
            data, frames = find_frames.stdin_image()
        except FIND_ERRORS as exc:
            raise fail(str(exc)) from None
        frames = frames if frames is not None else iter_frames(data)
        _find_stream(frames, p["template_opt"], p, file_name="-")
        return
    try:
        settings = batch.FindSettings(
            p["template_opt"], p["mask_path"], p["method"],
            tuple(matching.parse_scales(p["scales"]) if p["scales"] is not None else [1.0]),
            tuple(matching.parse_angles(p["angles"]) if p["angles"] is not None else [0.0]),
            p["top"], p["threshold"], p["overlap"], p["subpixel"], p["frame_spec"],
            pad=p["pad"],
        )  # fmt: skip
        batch.load_template(settings.template, settings.mask)  # a bad template: one error
        jobs = batch.plan_find(
            images, settings, recursive=p["recursive"],
            heatmap=p["heatmap_path"], annotate=p["annotate_path"],
        )  # fmt: skip
    except (*FIND_ERRORS, batch.BatchError) as exc:
        raise fail(str(exc)) from None
    keys = {"with_scale": p["scales"] is not None, "with_angle": p["angles"] is not None}
    with_frame = find_frames.wants_frame_column([job.source for job in jobs], p["frame_spec"])
    printer = _ManyPrinter(p, keys=keys, with_frame=with_frame)
    try:
        with executor_for(p["scheduler"]) as executor:
            tally = run_batch(
                jobs, batch.find_one, workers=p["workers"], fail_fast=p["fail_fast"],
                progress=p["progress"], quiet=p["quiet"], verb="searching",
                on_result=printer.add, find=True, executor=executor,
            )  # fmt: skip
    finally:
        printer.close(matching.lower_is_better(settings.method))
    code = 2 if tally.failed or tally.aborted else 0 if tally.matched else 1
    click.get_current_context().exit(code)


class _ManyPrinter:
    """Matches of many images on stdout, each with its image's path first (as ``grep -H``).

    Tab-separated and CSV lines stream in input order; JSON (one array, a ``file`` field in
    each record) and the terminal table are printed once at the end.
    """

    def __init__(self, p: dict, *, keys: dict, with_frame: bool = False) -> None:
        plain = "table" if use_table(p["as_table"]) else "tsv"
        self.mode = "json" if p["as_json"] else "csv" if p["as_csv"] else plain
        self.keys, self.sub, self.with_frame = keys, p["subpixel"], with_frame
        sub = self.sub
        self.records: list[dict] = []
        self.rows: list[list[str]] = []
        frame = ["frame"] if with_frame else []
        self.columns = ["file", *frame, *_columns(keys["with_scale"], keys["with_angle"], sub)]
        if self.mode == "csv":
            click.echo(_csv_line(self.columns))

    def add(self, result: batch.FileResult, bar: Progress) -> None:
        for i, m in enumerate(result.matches):
            frame = {"frame": result.frames[i] if result.frames else 1} if self.with_frame else {}
            if self.mode in ("json", "csv"):
                record = {"file": result.source, **frame, **m.as_dict(**self.keys)}
                if self.mode == "csv":
                    click.echo(_csv_line(list(record.values())))
                else:
                    self.records.append(record)
                continue
            row = [
                result.source,
                *(str(v) for v in frame.values()),
                *_row(m, self.keys["with_scale"], self.keys["with_angle"], self.sub),
            ]
            if self.mode == "tsv":
                click.echo("\t".join(row))
            else:
                self.rows.append(row)

    def close(self, lower_is_better: bool) -> None:
        if self.mode == "json":
            echo_json(self.records)
        elif self.mode == "table" and self.rows:
            files = len({row[0] for row in self.rows})
            better = "lower is better" if lower_is_better else "higher is better"
            title = f"{len(self.rows)} match(es) in {files} image(s) ({better})"
            table = Table(title=title)
            for i, name in enumerate(self.columns):
                table.add_column(name, justify="left" if i == 0 else "right")
            for row in self.rows:
                table.add_row(*row)
            print_table(table)


def _csv_line(values: list) -> str:
    """One CSV line (paths with commas or quotes are quoted)."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(values)
    return buf.getvalue()


# Images of at least this many values are read in their own type (8-bit: one byte a value,
# not four) and searched in bands (see convtool.matching.bands): find's memory stays a small
# multiple of the 8-bit image.
LARGE_VALUES = 1 << 26


def _read_large(image_path: str, spec: str | None):
    """``(pixels, info, scale)`` of a large one-frame image file in its own type (integers
    with ``scale`` 1/255 or 1/65535, floats with 1), or None: read it with read_frames."""
    if image_path == "-" or spec is not None:
        return None
    try:
        height, width, channels = probe_image(image_path)
    except ImageIOError:
        return None  # read_frames reports it
    if height * width * channels < LARGE_VALUES:
        return None
    got = read_pixels(image_path)
    if got is None:  # several frames
        return None
    pixels, info, full_scale = got
    return pixels, info, 1.0 / full_scale if full_scale else 1.0


def _read_inputs(image_path: str, template_path: str, mask_path: str | None, spec: str | None,
                 stdin=None):  # fmt: skip
    """``(images, image_info, template, mask, numbers, scale)``: every frame picked from IMAGE
    with its alpha split off, the template's alpha (unless fully opaque) or the --mask file as
    its weights, the picked frames' numbers in the file (from 1, as --frame counts); a large
    image comes as integers, ``scale`` times them its normalized values."""
    large = None if stdin is not None else _read_large(image_path, spec)
    if large is not None:
        images, image_info, numbers, scale = [large[0]], large[1], [1], large[2]
    else:
        frames = read_frames(image_path, stdin=stdin or binary_stdin(), spec=spec)
        images, image_info, scale = frames.arrays, frames.info, 1.0
        numbers = [i + 1 for i in frames.indices]
    templ, templ_info = read_image(template_path)
    if image_info.alpha:
        images = [matching.split_alpha(image)[0] for image in images]
    mask = None
    if templ_info.alpha:
        templ, alpha = matching.split_alpha(templ)
        mask = None if bool((alpha >= 1.0).all()) else alpha
    if mask_path is not None:
        mask = _find_mask(mask_path, 1 if templ.ndim == 2 else templ.shape[2])
    return images, image_info, templ, mask, numbers, scale
