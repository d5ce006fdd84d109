"""``convtool fit``: learn the kernel that turns INPUT into TARGET (options, report, kernel file).

Parses options, reads both images through convtool.images, calls convtool.fit.fit_kernel,
renders the report on stderr and writes the JSON kernel file through the one atomic writer.
Must not compute pixels or solve anything itself; must not import the group or another command.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import click
import numpy as np

from ..engine import BORDER_ALIASES, BORDER_MODES
from ..fit import CHANNEL_MODES, FitError, FitResult, fit_kernel
from ..images import read_image, read_pixels, write_bytes
from ..params import ParamsError, parse_kernel_size
from .common import (
    FLOAT32,
    LIBRARY_ERRORS,
    binary_stdin,
    binary_stdout,
    fail,
    stderr_console,
)

FIT_ERRORS = (*LIBRARY_ERRORS, FitError, ParamsError)
# Weight matrices up to this side are printed in the report.
_PRINT_SIDE = 7


def _colour(image: np.ndarray, has_alpha: bool) -> np.ndarray:
    """The colour channels: alpha is left out, as ``convtool filter --alpha keep`` does."""
    if not has_alpha or image.ndim != 3:
        return image
    colour = image[:, :, :-1]
    return colour[:, :, 0] if colour.shape[2] == 1 else colour


def _read(path: str, stdin=None) -> tuple[np.ndarray, object]:
    """An image as :func:`read_image` gives it, but a ``.npy`` file memory-mapped and integer
    pixels normalized in one pass: fit reads its inputs in bands, so an 8000x8000 float64
    pair costs its two files, not a bytes copy and an array each (1.6x -> ~1x)."""
    got = read_pixels(path, stdin=stdin)
    if got is None:  # several frames: read_image takes the first
        return read_image(path, stdin=stdin)
    pixels, info, scale = got
    if scale is not None:
        return np.divide(pixels, np.float32(scale), dtype=np.float32), info
    return (pixels if pixels.dtype == np.float64 else pixels.astype(np.float32)), info


def _number(value: float, digits: int = 6) -> str:
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "inf"
    return f"{value:.{digits}g}"


def _weight_rows(weights: np.ndarray) -> list[str]:
    cells = [[f"{round(float(v), 4) + 0.0:.4f}" for v in row] for row in weights]  # no -0.0000
    width = max(len(c) for row in cells for c in row)
    return ["  " + "  ".join(c.rjust(width) for c in row) for row in cells]


def report_lines(fit: FitResult) -> list[str]:
    """The plain-text report (also what the README shows)."""
    shape = "x".join(str(n) for n in fit.weights.shape)
    lines = [
        f"fitted {shape} {fit.channels} kernel"
        + (" + bias" if fit.bias is not None else "")
        + f" ({fit.unknowns} unknowns) from {fit.windows:,} windows, border {fit.border}",
        f"RMSE {_number(fit.rmse, 4)} (normalized 0..1), PSNR {_number(fit.psnr, 4)} dB, "
        f"R^2 {fit.r2:.6f}",
    ]
    verdict = "too little texture to determine the kernel" if fit.ill_conditioned else "ok"
    lines.append(f"condition number {fit.condition:.3g} ({verdict}; solver {fit.solver})")
    if fit.closest is not None:
        lines.append(
            f"close to {fit.closest.spec} (max weight difference {fit.closest.max_diff:.2g})"
        )
    else:
        lines.append("no named kernel is close")
    if fit.weights.ndim == 2 and max(fit.weights.shape) <= _PRINT_SIDE:
        lines.append("weights:")
        lines += _weight_rows(fit.weights)
    if fit.bias is not None:
        lines.append("bias: " + " ".join(f"{round(float(b), 4) + 0.0:.4f}" for b in fit.bias))
    return lines


def _warnings(fit: FitResult, total: int, ignore_clipped: bool) -> list[str]:
    notes = []
    if fit.ill_conditioned:
        notes.append(
            "warning: the input has too little texture to determine the kernel (condition "
            f"number {fit.condition:.3g}); the weights are one of many equally good fits: "
            "use a more detailed input, a smaller --size or --ridge"
        )
    if ignore_clipped and fit.ignored:
        notes.append(f"note: left out {fit.ignored:,} clipped target values (at 0 or 1)")
    elif not ignore_clipped and fit.saturated > 0.001 * total:
        share = 100.0 * fit.saturated / total
        notes.append(
            f"note: {share:.1f}% of the target values are 0 or 1, maybe clipped; "
            "--ignore-clipped leaves them out of the fit"
        )
    return notes


# Image extensions (convtool.images.FORMATS, without .npy), spelled out so that fit's checks
# need not import the image package.
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".gif")


def _check_output(output: str | None, as_json: bool) -> None:
    if output is None and not as_json:
        raise fail("give -o FILE (or -o - for stdout) to write the kernel, or --json")
    if output == "-" and as_json:
        raise fail("-o - and --json both write to stdout; choose one")
    suffix = Path(output or "").suffix.lower()
    if output not in (None, "-") and (suffix in (".txt", ".npy") or suffix in _IMAGE_SUFFIXES):
        raise fail(f"{output}: fit writes JSON kernel files; use a .json name")


@click.command(name="fit")
@click.argument("input_path", metavar="INPUT", type=click.Path(allow_dash=True))
@click.argument("target_path", metavar="TARGET", type=click.Path())
@click.option(
    "--size",
    required=True,
    metavar="K[xK2]",
    help="Kernel size: K (square) or KHxKW, e.g. 3 or 5x3.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(allow_dash=True),
    default=None,
    help="Write the kernel as a JSON kernel file ('-' for stdout) that 'convtool filter -k' "
    "reads back.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help='Print {"kernel": ..., "report": ...} on stdout: the kernel document and the fit '
    "statistics (-o - prints the kernel file alone).",
)
@click.option(
    "--border",
    type=click.Choice(BORDER_MODES + tuple(BORDER_ALIASES), case_sensitive=False),
    default="reflect",
    show_default=True,
    help="Border mode the target was filtered with (as for filter); valid ignores every "
    "target pixel whose window crosses the border, so TARGET may then be INPUT's size.",
)
@click.option(
    "--cval",
    type=FLOAT32,
    default=0.0,
    show_default=True,
    help="Fill value for --border constant, in normalized units (0 black, 1 white).",
)
@click.option(
    "--dilation",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Spacing between kernel taps (as for filter).",
)
@click.option(
    "--channels",
    type=click.Choice(CHANNEL_MODES),
    default="auto",
    show_default=True,
    help="shared: one 2-D kernel for every channel; depthwise: one per channel; mixing: "
    "every output channel from every input channel (KHxKWxCinxCout); auto: shared when "
    "INPUT and TARGET have the same channel count, else mixing (e.g. RGB -> grey).",
)
@click.option("--bias", is_flag=True, help="Also fit a bias per output channel.")
@click.option(
    "--ridge",
    type=click.FloatRange(min=0.0),
    default=0.0,
    show_default=True,
    help="Ridge regularization: minimize mean squared error + L * sum of squared weights.",
)
@click.option(
    "--ignore-clipped",
    is_flag=True,
    help="Leave out target values at 0 or 1 (clipped by an 8- or 16-bit file, so not linear "
    "in the input); the report then compares the clipped filter output.",
)
def fit_command(
    input_path: str,
    target_path: str,
    size: str,
    output: str | None,
    as_json: bool,
    border: str,
    cval: float,
    dilation: int,
    channels: str,
    bias: bool,
    ridge: float,
    ignore_clipped: bool,
) -> None:
    """Find the kernel that best turns INPUT into TARGET (linear least squares).

    Uses filter's conventions (cross-correlation, anchor, --border), so 'convtool filter
    INPUT -k kernel.json' reproduces TARGET. The report on stderr gives the RMSE and PSNR in
    normalized units, R^2, the condition of the system (a warning when INPUT has too little
    texture) and the closest named kernel.

    Example:

        convtool fit photo.png sharpened.png --size 3 -o kernel.json

        convtool fit photo.png grey.png --size 1 --channels mixing --json
    """
    _check_output(output, as_json)
    if math.isinf(ridge):
        raise fail("--ridge must be finite")
    try:
        kh, kw = parse_kernel_size(size)
        x, x_info = _read(input_path, stdin=binary_stdin())
        y, y_info = _read(target_path)
        x, y = _colour(x, x_info.alpha), _colour(y, y_info.alpha)
        fit = fit_kernel(
            x,
            y,
            (kh, kw),
            channels=channels,
            border=border,
            cval=cval,
            dilation=dilation,
            bias=bias,
            ridge=ridge,
            limits=(0.0, 1.0) if ignore_clipped else None,
        )
        doc = fit.kernel_document()
        if output is not None:
            write_bytes((json.dumps(doc) + "\n").encode(), output, stdout=binary_stdout())
    except FIT_ERRORS as exc:
        raise fail(str(exc)) from None
    if as_json:  # stdout first: a reader that left ends the run before the report (exit 1)
        click.echo(json.dumps({"kernel": doc, "report": _report_json(fit)}))
    err = stderr_console()
    for note in (*x_info.notes, *y_info.notes):
        err.print(f"note: {note}")
    for line in report_lines(fit):
        err.print(line)
    for line in _warnings(fit, y.size, ignore_clipped):
        err.print(line)
    if output not in (None, "-"):
        err.print(f"wrote {output}")


def _report_json(fit: FitResult) -> dict:
    def num(v: float) -> float | None:
        return None if math.isnan(v) or math.isinf(v) else v

    return {
        "channels": fit.channels,
        "border": fit.border,
        "windows": fit.windows,
        "unknowns": fit.unknowns,
        "ignored": fit.ignored,
        "rmse": fit.rmse,
        "psnr": num(fit.psnr),
        "r2": num(fit.r2),
        "condition": num(fit.condition),
        "ill_conditioned": fit.ill_conditioned,
        "solver": fit.solver,
        "closest": None
        if fit.closest is None
        else {"spec": fit.closest.spec, "max_diff": fit.closest.max_diff},
    }
