"""``convtool filter``: read an image, run a kernel chain through the engine, write the result.

Parses options only: pixels are computed by :mod:`convtool.filtering` and bytes go in and out
through :mod:`convtool.images` (its one atomic writer). Must not import the group or another
command.
"""

from __future__ import annotations

import time

import click

from .. import engine
from ..engine import BORDER_ALIASES, BORDER_MODES
from ..filtering import ALPHA_MODES, FilterOptions, apply_chain
from ..images import FORMATS, ImageIOError, encode_image, format_for_path, read_image, write_bytes
from ..kernels import MAX_KERNEL_SIDE, parse_kernel
from .common import (
    FINITE_FLOAT,
    LIBRARY_ERRORS,
    binary_stdin,
    binary_stdout,
    fail,
    on_terminal,
    stderr_console,
)

VALUE_MAPPINGS = ("clip", "abs", "rescale")


@click.command(name="filter")
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
    if output == "-" and on_terminal():
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
