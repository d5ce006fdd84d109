"""``convtool kernels``: list the named kernels, or print one kernel's weights as text or JSON.

Kernels come from :mod:`convtool.kernels`; this module only formats them. Must not import the
group or another command.
"""

from __future__ import annotations

import math

import click
from rich.table import Table

from ..kernels import Magnitude, list_kernels, parse_kernel, separable_factors
from . import preview
from .common import LIBRARY_ERRORS, fail
from .completion import complete_kernel
from .output import echo_json, echo_tsv, print_table, table_option, use_table
from .preview import KernelGrid, kernel_legend


def _weight_text(value: float) -> str:
    return f"{float(value) + 0.0:.6g}"  # + 0.0 turns -0.0 into 0.0


def _sum_text(weights) -> str:
    """The sum of ``weights``, 0 when it is zero to rounding (a zero-sum kernel such as log:1.4
    sums to -2.8e-17 in float64): within 1e-12 of the sum of the magnitudes."""
    total = math.fsum(float(v) for v in weights.reshape(-1))
    scale = math.fsum(abs(float(v)) for v in weights.reshape(-1))
    return "0" if abs(total) <= 1e-12 * scale else _weight_text(total)


def _matrix_lines(matrix) -> list[str]:
    cells = [[_weight_text(v) for v in row] for row in matrix]
    width = max(len(c) for row in cells for c in row)
    return ["  ".join(c.rjust(width) for c in row) for row in cells]


def _kernel_lines(kernel) -> list[str]:
    """A kernel as '#' header lines and weight rows (a 2-D one reads back as a .txt kernel)."""

    w = kernel.weights
    lines = [f"# name: {kernel.name}", "# shape: " + "x".join(str(n) for n in w.shape)]
    if w.ndim == 2:
        lines.append(f"# sum: {_sum_text(w)}")
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
            lines.append(f"# channel {c} (sum {_sum_text(w[:, :, c])})")
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


@click.command(name="kernels")
@click.argument("spec", metavar="[SPEC]", required=False, shell_complete=complete_kernel)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print JSON: the list of named kernels, or one kernel as {name, shape, weights, bias} "
    "(readable back as a .json kernel file).",
)
@click.option(
    "--show",
    is_flag=True,
    help="Draw SPEC's weights as a grid of colours (blue negative, grey zero, red positive) "
    "with the values where they fit; plain numbers without colour (NO_COLOR, pipes).",
)
@table_option
def kernels_command(spec: str | None, as_json: bool, show: bool, as_table: bool | None) -> None:
    """List the named kernels, or print the weights of SPEC (a name with parameters, or a file).

    For one kernel it prints the shape, the sum, whether it is separable and the weight matrix;
    a 2-D kernel's plain output is itself a valid .txt kernel file.

    Example:

        convtool kernels

        convtool kernels gaussian:1.5

        convtool kernels sobel-x --json

        convtool kernels log:1.4 --show
    """
    if show and (spec is None or as_json):
        raise fail("--show needs a kernel SPEC and cannot be used with --json")
    if spec is None:
        _print_kernel_list(as_json=as_json, as_table=as_table)
        return
    try:
        kernel = parse_kernel(spec)
    except LIBRARY_ERRORS as exc:
        raise fail(str(exc)) from None
    if show:
        _show_kernel(kernel)
        return
    if isinstance(kernel, Magnitude):
        if as_json:
            parts = {"gx": _kernel_json(kernel.gx), "gy": _kernel_json(kernel.gy)}
            echo_json({"name": kernel.name, **parts})
            return
        click.echo(f"# {kernel.name}: gradient magnitude sqrt(gx^2 + gy^2) of")
        click.echo("\n".join(_kernel_lines(kernel.gx)))
        click.echo("\n".join(_kernel_lines(kernel.gy)))
        return
    if as_json:
        echo_json(_kernel_json(kernel))
        return
    click.echo("\n".join(_kernel_lines(kernel)))


def _kernel_slices(kernel) -> list[tuple[str, object]]:
    """``(title, 2-D weights)`` of each plane of a kernel, in the order --show draws them."""
    if isinstance(kernel, Magnitude):
        parts = [_kernel_slices(kernel.gx), _kernel_slices(kernel.gy)]
        return [(f"{kernel.name}: {title}", w) for part in parts for title, w in part]
    w = kernel.weights
    shape = "x".join(str(n) for n in w.shape)
    if w.ndim == 2:
        return [(f"{kernel.name} ({shape}, sum {_sum_text(w)})", w)]
    if w.ndim == 3:
        return [(f"{kernel.name} channel {c}", w[:, :, c]) for c in range(w.shape[2])]
    if w.shape[:2] == (1, 1):
        return [(f"{kernel.name}: rows = output channels, columns = input channels", w[0, 0].T)]
    return [
        (f"{kernel.name}: input channel {c} -> output channel {d}", w[:, :, c, d])
        for d in range(w.shape[3])
        for c in range(w.shape[2])
    ]


def _show_kernel(kernel) -> None:
    """Each plane of ``kernel`` as a signed colour grid, all on one colour scale."""
    planes = _kernel_slices(kernel)
    limit = max(float(abs(w).max()) if w.size else 0.0 for _, w in planes)
    console = preview.make_console()  # looked up at call time: tests record it
    for title, weights in planes:
        console.print(title, markup=False)
        console.print(KernelGrid(weights, limit=limit))
    console.print(kernel_legend(limit), markup=False)


def _print_kernel_list(*, as_json: bool, as_table: bool | None) -> None:
    """The named kernels: JSON, a table on a terminal, else one tab-separated line each."""
    infos = list_kernels()
    if as_json:
        echo_json([info._asdict() for info in infos], indent=2)
    elif use_table(as_table):
        table = Table(title="Named kernels (-k NAME[:PARAMS]; or a .txt/.json/.npy file)")
        table.add_column("Kernel", style="bold", no_wrap=True)
        table.add_column("Parameters", no_wrap=True)
        table.add_column("Description")
        for info in infos:
            table.add_row(info.name, info.params, info.description)
        print_table(table)
    else:
        echo_tsv([info.name, info.params, info.description] for info in infos)
