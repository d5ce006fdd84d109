"""Command-line interface: parses options, does image I/O through :mod:`convtool.images`, renders.

Library errors (``ValueError`` subclasses raised by the core) become a one-line ``Error: ...`` on
stderr and exit status 2; nothing here computes pixels.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from functools import reduce
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _pkg_version
from pathlib import Path

import click
from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from . import engine, template
from .engine import BORDER_ALIASES, BORDER_MODES, EngineError
from .filtering import ALPHA_MODES, FilterOptions, apply_chain
from .images import (
    FORMATS,
    ImageInfo,
    ImageIOError,
    draw_boxes,
    encode_image,
    format_for_path,
    probe_image,
    read_image,
    write_bytes,
)
from .kernels import KernelError, Magnitude, list_kernels, parse_kernel, separable_factors
from .params import (
    DTYPE_BYTES,
    LAYER_GRAMMAR,
    LayerCost,
    ParamsError,
    filter_geometry,
    human_bytes,
    human_count,
    model_costs,
    parse_kernel_size,
    parse_size,
    read_layers,
    stage_costs,
)

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _version() -> str:
    try:
        return _pkg_version("convtool")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"


class InputError(click.ClickException):
    """Bad input or usage: printed as ``Error: ...``, exit status 2."""

    exit_code = 2


def fail(message: str) -> InputError:
    return InputError(message.splitlines()[0] if message else "failed")


def stderr_console() -> Console:
    """Rich console on stderr (progress, verbose notes); honours NO_COLOR and non-terminals."""
    return Console(stderr=True, highlight=False, soft_wrap=True)


def stdout_console() -> Console:
    return Console(highlight=False, soft_wrap=False)


def binary_stdin():
    """The byte stream under stdin (looked up at call time, so CliRunner's stream is used)."""
    return sys.stdin.buffer


def binary_stdout():
    return sys.stdout.buffer


def stdout_is_terminal() -> bool:
    try:
        return os.isatty(sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):
        return False


class FiniteFloat(click.ParamType):
    """A float that is not NaN or infinite (click's FLOAT accepts 'nan' and 'inf')."""

    name = "float"

    def convert(self, value, param, ctx):
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if number != number or number in (float("inf"), float("-inf")):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


FINITE_FLOAT = FiniteFloat()


# Errors the core raises for bad input; they all derive from ValueError.
LIBRARY_ERRORS = (EngineError, KernelError, ImageIOError, ParamsError, template.TemplateError)


@click.group(context_settings=CONTEXT_SETTINGS)
@click.version_option(_version(), "--version", prog_name="convtool", message="%(prog)s %(version)s")
def cli() -> None:
    """Image filtering with a vectorized convolution engine.

    Commands: filter (apply kernels), kernels (list named kernels), find (template search),
    params (parameter cost of dense vs convolutional layers).

    Example:

        convtool filter samples/waldo-scene.png -k sharpen -o sharp.png
    """


# --------------------------------------------------------------------------------------------
# filter
# --------------------------------------------------------------------------------------------

VALUE_MAPPINGS = ("clip", "abs", "rescale")


@cli.command(name="filter")
@click.argument("input_path", metavar="INPUT", type=click.Path(allow_dash=True))
@click.option(
    "-k",
    "--kernel",
    "kernels",
    multiple=True,
    required=True,
    metavar="KERNEL",
    help="Named kernel with optional parameters after a colon (sharpen, gaussian:2, "
    "sobel-x, ...; see 'convtool kernels') or a kernel file (.txt, .json, .npy). "
    "Repeat to apply several in order.",
)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(allow_dash=True),
    help="Output file ('-' for stdout). Its extension picks the format unless --format is given.",
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
    type=FINITE_FLOAT,
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
    "--stride",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Keep every Nth output row and column (applies to each kernel).",
)
@click.option(
    "--dilation",
    type=click.IntRange(min=1),
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
    type=FINITE_FLOAT,
    default=1.0,
    show_default=True,
    help="Multiply the result by this factor (after the last kernel).",
)
@click.option(
    "--bias",
    type=FINITE_FLOAT,
    default=0.0,
    show_default=True,
    help="Add this to the result, in normalized units: --bias 0.5 shows the negative responses "
    "of edge kernels around mid-grey.",
)
@click.option(
    "--values",
    "mapping",
    type=click.Choice(VALUE_MAPPINGS),
    default=None,
    help="How results map back to the output's integer range: clip (default; negative edge "
    "responses become black), abs (magnitude of signed responses), rescale (min..max to the "
    "full range). .npy output keeps raw floats unless abs/rescale is asked for.",
)
@click.option(
    "--alpha",
    type=click.Choice(ALPHA_MODES),
    default="keep",
    show_default=True,
    help="Alpha channel: keep (passes through untouched), premultiply (filter colour "
    "premultiplied by alpha: no dark fringes around cut-outs), filter (like any channel), drop.",
)
@click.option(
    "--format",
    "out_format",
    type=click.Choice(tuple(FORMATS)),
    default=None,
    help="Output format. Default: from the output's extension; on stdout the input's format, "
    "else PNG.",
)
@click.option(
    "--strategy",
    type=click.Choice(("auto", *engine.STRATEGIES)),
    default="auto",
    show_default=True,
    help="Force an engine strategy instead of the cost model's choice.",
)
@click.option(
    "-v", "--verbose", is_flag=True, help="Print the strategy and time of each step to stderr."
)
def filter_command(
    input_path: str,
    kernels: tuple[str, ...],
    output: str,
    border: str,
    cval: float,
    true_convolution: bool,
    stride: int,
    dilation: int,
    normalize: bool,
    scale: float,
    bias: float,
    mapping: str | None,
    alpha: str,
    out_format: str | None,
    strategy: str,
    verbose: bool,
) -> None:
    """Filter INPUT with one or more kernels and write OUTPUT.

    Values are computed in float32 in normalized units (0 = black, 1 = white for 8- and 16-bit
    images; raw values for float TIFF and .npy). 8-bit and 16-bit outputs keep the input's
    depth where the format allows. Signs: sobel-x is positive where intensity grows to the
    right, sobel-y where it grows downwards (as OpenCV).

    Example:

        convtool filter photo.png -k gaussian:2 -k sharpen -o out.png

        convtool filter photo.png -k sobel-x --bias 0.5 -o edges.png

        cat photo.png | convtool filter - -k box:5 -o - | convtool filter - -k emboss -o out.png
    """
    started = time.perf_counter()
    if output == "-":
        fmt = out_format
    else:
        try:
            fmt = out_format or format_for_path(output)
        except ImageIOError as exc:
            raise fail(str(exc)) from None
    if output == "-" and stdout_is_terminal():
        raise fail(
            "refusing to write binary image data to a terminal; redirect stdout or use -o FILE"
        )
    try:
        steps = [parse_kernel(spec) for spec in kernels]
        image, info = read_image(input_path, stdin=binary_stdin())
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
        )
        has_alpha = info.alpha
        result = apply_chain(image, steps, opts, has_alpha=has_alpha)
        if alpha == "drop":
            info.alpha = False
        fmt = fmt or info.format
        data = encode_image(result, info, fmt, mapping=mapping)
        write_bytes(data, output, stdout=binary_stdout())
    except LIBRARY_ERRORS as exc:
        raise fail(str(exc)) from None
    err = stderr_console()
    for note in info.notes:
        err.print(f"note: {note}")
    if verbose:
        for name, run in opts.runs:
            err.print(f"{name}: strategy {run.strategy}, {run.seconds * 1000:.1f} ms")
        shape = "x".join(str(s) for s in result.shape)
        err.print(f"output {shape} {fmt}, total {(time.perf_counter() - started) * 1000:.1f} ms")


# --------------------------------------------------------------------------------------------
# kernels  (region owned by the kernel library work)
# --------------------------------------------------------------------------------------------


def _weight_text(value: float) -> str:
    return f"{float(value) + 0.0:.6g}"  # + 0.0 turns -0.0 into 0.0


def _matrix_lines(matrix) -> list[str]:
    cells = [[_weight_text(v) for v in row] for row in matrix]
    width = max(len(c) for row in cells for c in row)
    return ["  ".join(c.rjust(width) for c in row) for row in cells]


def _kernel_lines(kernel) -> list[str]:
    """A kernel as '#' header lines and weight rows (a 2-D one reads back as a .txt kernel)."""

    w = kernel.weights
    lines = [f"# name: {kernel.name}", "# shape: " + "x".join(str(n) for n in w.shape)]
    if w.ndim == 2:
        lines.append(f"# sum: {_weight_text(w.sum())}")
        factors = kernel.factors or separable_factors(w)
        if factors is None:
            lines.append("# separable: no")
        else:
            col, row = (" ".join(_weight_text(v) for v in f) for f in factors)
            lines.append(f"# separable: yes, column [{col}] x row [{row}]")
    bias = _bias_values(kernel.bias)
    if any(bias):
        lines.append("# bias: " + " ".join(_weight_text(v) for v in bias))
    if any(float(_weight_text(v)) != v for v in w.reshape(-1).tolist()):
        lines.append("# weights rounded to 6 significant digits (--json prints them exactly)")
    if w.ndim == 2:
        return lines + _matrix_lines(w)
    if w.ndim == 3:
        for c in range(w.shape[2]):
            lines.append(f"# channel {c} (sum {_weight_text(w[:, :, c].sum())})")
            lines += _matrix_lines(w[:, :, c])
        return lines
    if w.shape[:2] == (1, 1):
        lines.append("# channel mixer: one row per output channel, one column per input channel")
        return lines + _matrix_lines(w[0, 0].T)
    for d in range(w.shape[3]):
        for c in range(w.shape[2]):
            lines.append(f"# input channel {c} -> output channel {d}")
            lines += _matrix_lines(w[:, :, c, d])
    return lines


def _bias_values(bias) -> list[float]:
    return [float(v) for v in bias.reshape(-1)] if hasattr(bias, "reshape") else [float(bias)]


def _kernel_json(kernel) -> dict:
    scalar = getattr(kernel.bias, "ndim", 0) == 0
    bias = _bias_values(kernel.bias)
    return {
        "name": kernel.name,
        "shape": list(kernel.weights.shape),
        "weights": kernel.weights.tolist(),
        "bias": bias[0] if scalar else bias,
    }


@cli.command(name="kernels")
@click.argument("spec", metavar="[SPEC]", required=False)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print JSON: the list of named kernels, or one kernel as {name, shape, weights, bias} "
    "(readable back as a .json kernel file).",
)
def kernels_command(spec: str | None, as_json: bool) -> None:
    """List the named kernels, or print the weights of SPEC (a name with parameters, or a file).

    For one kernel it prints the shape, the sum, whether it is separable and the weight matrix;
    a 2-D kernel's plain output is itself a valid .txt kernel file.

    Example:

        convtool kernels

        convtool kernels gaussian:1.5

        convtool kernels sobel-x --json
    """
    import json

    if spec is None:
        infos = list_kernels()
        if as_json:
            click.echo(json.dumps([info._asdict() for info in infos], indent=2))
        elif stdout_is_terminal():
            table = Table(title="Named kernels (-k NAME[:PARAMS]; or a .txt/.json/.npy file)")
            table.add_column("Kernel", style="bold", no_wrap=True)
            table.add_column("Parameters", no_wrap=True)
            table.add_column("Description")
            for info in infos:
                table.add_row(info.name, info.params, info.description)
            stdout_console().print(table)
        else:
            for info in infos:
                click.echo(f"{info.name}\t{info.params}\t{info.description}")
        return
    try:
        kernel = parse_kernel(spec)
    except LIBRARY_ERRORS as exc:
        raise fail(str(exc)) from None
    if isinstance(kernel, Magnitude):
        if as_json:
            parts = {"gx": _kernel_json(kernel.gx), "gy": _kernel_json(kernel.gy)}
            click.echo(json.dumps({"name": kernel.name, **parts}))
            return
        click.echo(f"# {kernel.name}: gradient magnitude sqrt(gx^2 + gy^2) of")
        click.echo("\n".join(_kernel_lines(kernel.gx)))
        click.echo("\n".join(_kernel_lines(kernel.gy)))
        return
    if as_json:
        click.echo(json.dumps(_kernel_json(kernel)))
        return
    click.echo("\n".join(_kernel_lines(kernel)))


# --------------------------------------------------------------------------------------------
# find  (region owned by the template search work)
# --------------------------------------------------------------------------------------------

FIND_ERRORS = (*LIBRARY_ERRORS, template.TemplateError)


def _find_output_format(path: str | None, option: str) -> str | None:
    """Check an output path before any work, so that a bad one leaves no file behind."""
    if path is None:
        return None
    fmt = format_for_path(path)
    if fmt == "npy":
        raise template.TemplateError(
            f"{option} {path}: write a picture (.png, .jpg, ...), not .npy"
        )
    parent = Path(path).parent
    if not parent.is_dir():
        raise ImageIOError(f"{path}: output directory {str(parent)!r} does not exist")
    return fmt


def _find_mask(mask_path: str, template_channels: int):
    mask, info = read_image(mask_path)
    if info.alpha:
        return template.split_alpha(mask)[1]
    if mask.ndim == 3 and mask.shape[2] != template_channels:
        return template.to_gray(mask)
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
        click.echo(json.dumps([m.as_dict(**keys) for m in matches]))
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
        click.echo(",".join(columns))
        for m in matches:
            values = list(m.as_dict(**keys).values())
            click.echo(",".join(str(v) for v in values))
        return
    if not stdout_is_terminal():
        for row in rows:
            click.echo("\t".join(row))
        return
    if not rows:
        return

    better = "lower is better" if template.lower_is_better(method) else "higher is better"
    table = Table(title=f"{len(rows)} match(es), {method} ({better})")
    for name in columns:
        table.add_column(name, justify="right")
    for row in rows:
        table.add_row(*row)
    stdout_console().print(table)


@cli.command(name="find")
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
    type=click.Choice(template.METHODS),
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
            raise template.TemplateError("--heatmap and --annotate must be different files")
        scale_list = template.parse_scales(scales) if scales is not None else [1.0]
        angle_list = template.parse_angles(angles) if angles is not None else [0.0]
        image, image_info = read_image(image_path, stdin=binary_stdin())
        templ, templ_info = read_image(template_path)
        if image_info.alpha:
            image = template.split_alpha(image)[0]
        mask = None
        if templ_info.alpha:
            templ, alpha = template.split_alpha(templ)
            mask = None if bool((alpha >= 1.0).all()) else alpha
        if mask_path is not None:
            mask = _find_mask(mask_path, 1 if templ.ndim == 2 else templ.shape[2])
        result = template.search(
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
            template.refine_matches(result)
        outputs = []
        if heatmap_path:
            picture = template.heatmap(result)
            data = encode_image(picture, ImageInfo(format=heat_fmt, depth="8"), heat_fmt)
            outputs.append((data, heatmap_path))
        if annotate_path:
            boxes = [(m.x, m.y, m.width, m.height, f"{m.score:.2f}") for m in result.matches]
            drawn = draw_boxes(template.to_rgb8(image), boxes)
            values = drawn.astype("float32") / 255
            info = ImageInfo(format=annotate_fmt, depth="8")
            outputs.append((encode_image(values, info, annotate_fmt), annotate_path))
        for data, path in outputs:
            write_bytes(data, path)
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
        sign = "<=" if template.lower_is_better(result.method) else ">="
        err.print(f"no match with score {sign} {result.threshold:g}")
        click.get_current_context().exit(1)


# --------------------------------------------------------------------------------------------
# params  (region owned by the parameter counting work)
# --------------------------------------------------------------------------------------------

_KERNEL_SIZE = re.compile(r"\s*[+-]?\d+\s*(x\s*[+-]?\d+\s*)?", re.IGNORECASE)
PARAMS_CONVENTION = (
    "1 MAC = 1 multiply + 1 add; FLOPs = 2 x MACs; MACs count the multiplies with padded zeros "
    "(as torchinfo, fvcore and torch FlopCounterMode do); bias adds are listed apart",
    'torchinfo "Mult-Adds" = MACs + bias adds; fvcore = MACs; torch FlopCounterMode = 2 x MACs',
    "weights = stored tensor size (torch numel); effective = weights that can reach the output "
    "with zero padding",
)


def _bytes_note(dtype: str) -> str:
    return (
        f"bytes = params x {DTYPE_BYTES[dtype]} ({dtype}); kB, MB, GB = 10^3, 10^6, 10^9 bytes "
        "(1 GiB = 2^30 bytes = 1.074 GB)"
    )


def _ratio_text(ratio: float) -> str:
    return f"{ratio:.3g}x" if ratio < 1000 else f"{human_count(round(ratio))}x"


def _print_plain(header: list[str], rows: list[list[object]], notes: list[str]) -> None:
    click.echo("\t".join(header))
    for row in rows:
        click.echo("\t".join(str(v) for v in row))
    for note in notes:
        click.echo(f"# {note}")


def _print_table(title: str, header: list[str], rows: list[list[str]], notes: list[str]) -> None:
    table = Table(
        title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False,
        pad_edge=False, collapse_padding=True,
    )  # fmt: skip
    for i, name in enumerate(header):
        # Numbers never wrap mid-value; on a narrow terminal the layer names give way first.
        table.add_column(name, justify="left" if i == 0 else "right", no_wrap=i > 0)
    for i, row in enumerate(rows):
        before_total = i + 1 < len(rows) and rows[i + 1][0] == "total"
        table.add_row(*row, end_section=before_total)
    out = stdout_console()
    if not out.is_terminal:
        # A pipe has no width to fit: print the table whole rather than squeezed into 80 columns.
        natural = Measurement.get(out, out.options.update(max_width=10_000), table).maximum
        out.width = max(out.width, natural)
    out.print(table)
    for note in notes:
        out.print(f"[dim]{note}[/dim]")


def _shape(dims: tuple[int, ...]) -> str:
    return "x".join(str(d) for d in dims)


@cli.command(name="params")
@click.option(
    "--input",
    "input_size",
    metavar="HxW[xC]",
    help="Input size: height x width [x channels, default 1], e.g. 1000x1000 or 224x224x3.",
)
@click.option(
    "--image",
    "image_path",
    metavar="FILE",
    help="Take the input size from an image file (header only; channels as 'convtool filter' "
    "decodes them); '-' reads the image from stdin.",
)
@click.option(
    "-k",
    "--kernel",
    "kernel_spec",
    metavar="K|KHxKW|KERNEL",
    help="Kernel size (3 or 3x5), or a convtool kernel (name or file, as 'convtool filter -k') "
    "whose shape sets the layer: 2-D and 3-D kernels are depthwise, 4-D ones mix channels.",
)
@click.option(
    "--out-channels",
    type=click.IntRange(min=1),
    default=None,
    help="Channels D of the hidden representation (default: the input's channels).",
)
@click.option(
    "--hidden",
    type=click.IntRange(min=1),
    default=None,
    help="Hidden units of the fully-connected layer (default: as many as the hidden "
    "representation has values, H x W x D).",
)
@click.option(
    "--stride",
    type=click.IntRange(min=1),
    default=None,
    help="Output step of the spatial layers; the output is ceil(H/stride) x ceil(W/stride) "
    "[default: 1].",
)
@click.option(
    "--layers",
    "layers_spec",
    metavar="SPEC|FILE",
    help=f"Count a layer stack instead: {LAYER_GRAMMAR}, separated by commas (or a text file, "
    "or a .json array of such strings), e.g. conv3x3:16,conv3x3:32/2,fc:10. Same padding.",
)
@click.option(
    "--dtype",
    type=click.Choice(tuple(DTYPE_BYTES)),
    default="float32",
    show_default=True,
    help="Parameter type for the bytes column.",
)
@click.option(
    "--exact", is_flag=True, help="Exact integers in the table instead of 1.00 B-style magnitudes."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON with exact integers.")
@click.option(
    "--table/--plain",
    "as_table",
    default=None,
    help="Rich table or tab-separated text [default: table on a terminal, text when piped].",
)
def params_command(
    input_size: str | None,
    image_path: str | None,
    kernel_spec: str | None,
    out_channels: int | None,
    hidden: int | None,
    stride: int | None,
    layers_spec: str | None,
    dtype: str,
    exact: bool,
    as_json: bool,
    as_table: bool | None,
) -> None:
    """Parameter and MAC cost of fully connected vs convolutional layers.

    The argument of D2L "From fully connected layers to convolutions" in numbers: the same
    hidden representation (H x W x D) computed by a fully-connected layer, a locally-connected
    one (locality only), one with shared weights (translation invariance only, a (2H-1)x(2W-1)
    kernel) and a convolution (both). With --layers, a whole stack next to the dense network
    with the same activation sizes. Padding is "same": output = ceil(H / stride).

    Example:

        convtool params --input 1000x1000 --hidden 1000 --kernel 3

        convtool params --input 224x224x3 -k 3 --out-channels 16 --json

        convtool params --input 32x32x3 --layers conv3x3:16,conv3x3:32/2,fc:10

        convtool params --image photo.png -k sobel
    """
    if input_size is not None and image_path is not None:
        raise fail("give the input size with --input or --image, not both")
    if input_size is None and image_path is None:
        raise fail("give the input size with --input HxW[xC] or --image FILE")
    try:
        height, width, channels = (
            parse_size(input_size) if input_size is not None else _image_size(image_path)
        )
        if layers_spec is not None:
            given = [
                name
                for name, value in (
                    ("--kernel", kernel_spec),
                    ("--out-channels", out_channels),
                    ("--hidden", hidden),
                    ("--stride", stride),
                )
                if value is not None
            ]
            if given:
                raise fail(
                    f"{', '.join(given)} cannot be combined with --layers (each layer names "
                    "its own kernel, channels and stride)"
                )
            stack = model_costs(height, width, channels, read_layers(layers_spec))
        else:
            if kernel_spec is None:
                raise fail("give --kernel (a size like 3 or 3x3, or a kernel name) or --layers")
            if _KERNEL_SIZE.fullmatch(kernel_spec):
                kernel, groups, filter_name = parse_kernel_size(kernel_spec), 1, None
            else:
                if out_channels is not None:
                    raise fail(
                        f"--out-channels applies to a kernel size; kernel {kernel_spec!r} sets "
                        "its own output channels"
                    )
                kernel, out_channels, groups = filter_geometry(parse_kernel(kernel_spec), channels)
                filter_name = kernel_spec
            costs = stage_costs(
                height,
                width,
                channels,
                kernel=kernel,
                out_channels=out_channels,
                hidden=hidden,
                stride=stride or 1,
                groups=groups,
            )
    except (ParamsError, *LIBRARY_ERRORS) as exc:
        raise fail(str(exc)) from None

    bytes_key = f"{dtype}_bytes"
    notes = [*PARAMS_CONVENTION, _bytes_note(dtype)]
    show_table = as_table if as_table is not None else stdout_is_terminal()
    count = (lambda n: f"{n:,}") if exact else human_count
    size = (lambda n: f"{n:,}") if exact else human_bytes

    if layers_spec is not None:
        total = reduce(LayerCost.__add__, (m.cost for m in stack))
        dense_total = reduce(LayerCost.__add__, (m.dense for m in stack))
        ratio = dense_total.params / total.params if total.params else None
        if as_json:
            doc = {
                "input": [height, width, channels],
                "dtype": dtype,
                "layers": [
                    {**m.cost.as_dict(dtype=dtype), "dense": m.dense.as_dict(dtype=dtype)}
                    for m in stack
                ],
                "total": total.as_dict(dtype=dtype),
                "dense_total": dense_total.as_dict(dtype=dtype),
                "dense_ratio": ratio,
                "convention": "; ".join(notes),
            }
            click.echo(json.dumps(doc, indent=2))
            return
        rows = [(m.cost.name, m.cost, m.dense) for m in stack]
        rows.append(("total", total, dense_total))
        notes = [
            "dense = a fully-connected layer from each layer's input to its output size; "
            "pool layers have no params or MACs in either network; fc flattens",
            *notes,
        ]
        if show_table:
            header = ["layer", "output", "params", "effective", "MACs", "dense params",
                      "dense MACs"]  # fmt: skip
            body = [
                [name, _shape(c.output), count(c.params), count(c.effective_weights),
                 count(c.macs), count(d.params), count(d.macs)]
                for name, c, d in rows
            ]  # fmt: skip
            summary = f"{_shape((height, width, channels))} input, {len(stack)} layers"
            notes.insert(
                0,
                f"{dtype} parameters: {size(total.nbytes(dtype))}, the dense network's "
                f"{size(dense_total.nbytes(dtype))}",
            )
            if ratio is not None:
                summary += f"; the dense network has {_ratio_text(ratio)} the parameters"
            _print_table(summary, header, body, notes)
        else:
            header = ["layer", "output", "weights", "effective_weights", "biases", "params",
                      bytes_key, "macs", "bias_adds", "dense_params", "dense_macs"]  # fmt: skip
            body = [
                [name, _shape(c.output), c.weights, c.effective_weights, c.biases, c.params,
                 c.nbytes(dtype), c.macs, c.bias_adds, d.params, d.macs]
                for name, c, d in rows
            ]  # fmt: skip
            _print_plain(header, body, notes)
        return

    conv = costs[-1]
    ratios = [c.params / conv.params for c in costs]
    if as_json:
        doc = {
            "input": [height, width, channels],
            "kernel": list(kernel),
            "out_channels": conv.output[2],
            "groups": groups,
            "stride": stride or 1,
            "hidden": costs[0].output[2],
            "dtype": dtype,
            "layers": [
                {**c.as_dict(dtype=dtype), "ratio_to_convolution": r}
                for c, r in zip(costs, ratios, strict=True)
            ],
            "convention": "; ".join(notes),
        }
        if image_path is not None:
            doc["image"] = image_path
        if filter_name is not None:
            doc["filter"] = filter_name
        click.echo(json.dumps(doc, indent=2))
        return
    if show_table:
        ho, wo, d = conv.output
        title = (
            f"{_shape((height, width, channels))} input -> {_shape((ho, wo, d))} hidden, "
            f"{_shape(kernel)} kernel"
            + (f" ({filter_name})" if filter_name else "")
            + (f", stride {stride}" if stride and stride > 1 else "")
            + (f", depthwise ({groups} groups)" if groups > 1 else "")
            + (f", fully-connected: {hidden:,} hidden units" if hidden is not None else "")
        )
        header = ["layer", "weights", "effective", "biases", "params", "bytes", "MACs",
                  "vs conv"]  # fmt: skip
        body = [
            [c.name, count(c.weights), count(c.effective_weights), count(c.biases),
             count(c.params), size(c.nbytes(dtype)), count(c.macs), _ratio_text(r)]
            for c, r in zip(costs, ratios, strict=True)
        ]  # fmt: skip
        bias_note = (
            f"bias adds per image (not in MACs): {count(costs[0].bias_adds)} fully-connected, "
            f"{count(conv.bias_adds)} the others"
        )
        _print_table(title, header, body, [bias_note, *notes])
    else:
        header = ["layer", "weights", "effective_weights", "biases", "params", bytes_key,
                  "macs", "effective_macs", "bias_adds", "ratio_to_convolution"]  # fmt: skip
        body = [
            [c.name, c.weights, c.effective_weights, c.biases, c.params, c.nbytes(dtype),
             c.macs, c.effective_macs, c.bias_adds, f"{r:.6g}"]
            for c, r in zip(costs, ratios, strict=True)
        ]  # fmt: skip
        _print_plain(header, body, notes)


def _image_size(path: str) -> tuple[int, int, int]:
    """(H, W, C) of an image file (header only) or of the image on stdin (decoded)."""
    if path != "-":
        return probe_image(path)
    values, _ = read_image("-", stdin=binary_stdin())
    height, width = values.shape[:2]
    return height, width, 1 if values.ndim == 2 else values.shape[2]


def main() -> None:
    """Console-script entry point: runs the CLI, ends quietly on a closed pipe."""
    try:
        cli.main(prog_name="convtool")
    except BrokenPipeError:
        # Python docs, "Note on SIGPIPE": point stdout at devnull so the interpreter's final
        # flush does not raise again, and exit non-zero.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(1)
    except MemoryError:
        click.echo("Error: not enough memory for this image and kernel", err=True)
        sys.exit(2)
