"""``convtool find``: template search from the command line (a Where's-Waldo search).

Reads IMAGE, TEMPLATE and an optional mask through :mod:`convtool.images`, searches with
:mod:`convtool.matching`, prints matches through :mod:`.output` and writes the heatmap and
annotated pictures through the one image writer. Must not import the group or another command.
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from .. import matching, pictures
from ..images import (
    ImageInfo,
    ImageIOError,
    draw_boxes,
    encode_image,
    format_for_path,
    read_image,
    write_outputs,
)
from .common import FINITE_FLOAT, LIBRARY_ERRORS, binary_stdin, fail, stderr_console
from .output import echo_csv, echo_json, echo_tsv, print_table, use_table

FIND_ERRORS = (*LIBRARY_ERRORS, matching.TemplateError)


def _find_output_format(path: str | None, option: str) -> str | None:
    """Check an output path before any work, so that a bad one leaves no file behind."""
    if path is None:
        return None
    fmt = format_for_path(path)
    if fmt == "npy":
        raise matching.TemplateError(
            f"{option} {path}: write a picture (.png, .jpg, ...), not .npy"
        )
    parent = Path(path).parent
    if not parent.is_dir():
        raise ImageIOError(f"{path}: output directory {str(parent)!r} does not exist")
    return fmt


def _find_mask(mask_path: str, template_channels: int):
    mask, info = read_image(mask_path)
    if info.alpha:
        return matching.split_alpha(mask)[1]
    if mask.ndim == 3 and mask.shape[2] != template_channels:
        return matching.to_gray(mask)
    return mask


def _find_print(
    matches: list,
    *,
    with_scale: bool,
    with_angle: bool,
    with_subpixel: bool,
    as_json: bool,
    as_csv: bool,
    method: str,
):
    keys = {"with_scale": with_scale, "with_angle": with_angle}
    if as_json:
        echo_json([m.as_dict(**keys) for m in matches])
        return
    columns = ["x", "y", "width", "height", "score"] + (["scale"] if with_scale else [])
    columns += ["angle"] if with_angle else []
    columns += ["x_subpixel", "y_subpixel"] if with_subpixel else []
    rows = [
        [str(m.x), str(m.y), str(m.width), str(m.height), f"{m.score:.4f}"]
        + ([f"{m.scale:g}"] if with_scale else [])
        + ([f"{m.angle:g}"] if with_angle else [])
        + ([f"{m.x_subpixel:.3f}", f"{m.y_subpixel:.3f}"] if with_subpixel else [])
        for m in matches
    ]
    if as_csv:
        echo_csv(columns, [list(m.as_dict(**keys).values()) for m in matches])
        return
    if not use_table():
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
@click.argument("image_path", metavar="IMAGE", type=click.Path(allow_dash=True))
@click.argument("template_path", metavar="TEMPLATE", type=click.Path())
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
    "at most T for ssd, the mean squared difference per pixel (default 0.01).",
)
@click.option(
    "--method",
    type=click.Choice(matching.METHODS),
    default="zncc",
    show_default=True,
    help="zncc: zero-mean normalized correlation in [-1, 1], ignores brightness and contrast "
    "(OpenCV TM_CCOEFF_NORMED); ncc: normalized correlation (TM_CCORR_NORMED); ssd: mean "
    "squared difference, lower is better (TM_SQDIFF per pixel).",
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
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of matches.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV with a header line.")
@click.option(
    "--heatmap",
    "heatmap_path",
    type=click.Path(),
    default=None,
    help="Write a colour map of the scores (bright = good match), the size of IMAGE.",
)
@click.option(
    "--annotate",
    "annotate_path",
    type=click.Path(),
    default=None,
    help="Write IMAGE with a box and the score drawn on each match.",
)
def find_command(
    image_path: str,
    template_path: str,
    top: int,
    threshold: float | None,
    method: str,
    overlap: float,
    scales: str | None,
    angles: str | None,
    subpixel: bool,
    mask_path: str | None,
    as_json: bool,
    as_csv: bool,
    heatmap_path: str | None,
    annotate_path: str | None,
) -> None:
    """Find TEMPLATE in IMAGE (a Where's-Waldo search) and print where it is.

    Prints x, y (top-left corner), width, height and score of each match, best first: a table
    on a terminal, tab-separated lines when piped, or --json / --csv. Exit status as grep: 0
    when a match passes the threshold, 1 when none does, 2 on error. IMAGE may be '-'
    (standard input). A template with an alpha channel is matched only where it is opaque.

    Example:

        convtool find samples/waldo-scene.png samples/waldo.png --annotate found.png

        convtool find shot.png icon.png --top 5 --scales 0.5:2:0.25 --json

        convtool find scan.png stamp.png --angles -30:30:5

        convtool filter photo.png -k gaussian:1 -o - | convtool find - icon.png
    """
    if as_json and as_csv:
        raise fail("--json and --csv cannot be used together")
    try:
        heat_fmt = _find_output_format(heatmap_path, "--heatmap")
        annotate_fmt = _find_output_format(annotate_path, "--annotate")
        if heatmap_path and annotate_path and heatmap_path == annotate_path:
            raise matching.TemplateError("--heatmap and --annotate must be different files")
        scale_list = matching.parse_scales(scales) if scales is not None else [1.0]
        angle_list = matching.parse_angles(angles) if angles is not None else [0.0]
        image, image_info, templ, mask = _read_inputs(image_path, template_path, mask_path)
        result = matching.search(
            image,
            templ,
            method=method,
            mask=mask,
            scales=scale_list,
            angles=angle_list,
            top=top,
            threshold=threshold,
            overlap=overlap,
        )
        if subpixel:
            matching.refine_matches(result)
        _write_pictures(result, image, (heatmap_path, heat_fmt), (annotate_path, annotate_fmt))
    except FIND_ERRORS as exc:
        raise fail(str(exc)) from None
    err = stderr_console()
    for note in image_info.notes:
        err.print(f"note: {note}")
    if result.skipped_scales:
        skipped = ", ".join(f"{s:g}" for s in result.skipped_scales)
        err.print(f"note: skipped scale(s) {skipped}: the template would not fit in the image")
    _find_print(
        result.matches,
        with_scale=scales is not None,
        with_angle=angles is not None,
        with_subpixel=subpixel,
        as_json=as_json,
        as_csv=as_csv,
        method=result.method,
    )
    if not result.matches:
        sign = "<=" if matching.lower_is_better(result.method) else ">="
        err.print(f"no match with score {sign} {result.threshold:g}")
        click.get_current_context().exit(1)


def _read_inputs(image_path: str, template_path: str, mask_path: str | None):
    """``(image, image_info, template, mask)``: alpha split off the image, the template's alpha
    (unless fully opaque) or the --mask file as the template's weights."""
    image, image_info = read_image(image_path, stdin=binary_stdin())
    templ, templ_info = read_image(template_path)
    if image_info.alpha:
        image = matching.split_alpha(image)[0]
    mask = None
    if templ_info.alpha:
        templ, alpha = matching.split_alpha(templ)
        mask = None if bool((alpha >= 1.0).all()) else alpha
    if mask_path is not None:
        mask = _find_mask(mask_path, 1 if templ.ndim == 2 else templ.shape[2])
    return image, image_info, templ, mask


def _write_pictures(result, image, heatmap: tuple, annotate: tuple) -> None:
    """Encode the heatmap and the annotated image (each a ``(path, format)``), then write both."""
    (heatmap_path, heat_fmt), (annotate_path, annotate_fmt) = heatmap, annotate
    outputs = []
    if heatmap_path:
        picture = pictures.heatmap(result)
        data = encode_image(picture, ImageInfo(format=heat_fmt, depth="8"), heat_fmt)
        outputs.append((data, heatmap_path))
    if annotate_path:
        boxes = [(m.x, m.y, m.width, m.height, f"{m.score:.2f}") for m in result.matches]
        drawn = draw_boxes(pictures.to_rgb8(image), boxes)
        values = drawn.astype("float32") / 255
        info = ImageInfo(format=annotate_fmt, depth="8")
        outputs.append((encode_image(values, info, annotate_fmt), annotate_path))
    write_outputs(outputs)  # all prepared before any is committed: a failed run writes none
