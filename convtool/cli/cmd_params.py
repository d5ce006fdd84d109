"""``convtool params``: parameter and MAC cost of dense vs convolutional layers, as a report.

The counts come from :mod:`convtool.params`; this module reads the options, asks for the costs
(one layer's four variants, or a ``--layers`` stack) and lays them out as JSON, a rich table or
tab-separated text through :mod:`.output`. Must not import the group or another command.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import reduce

import click

from ..params import (
    DTYPE_BYTES,
    LAYER_GRAMMAR,
    LayerCost,
    ModelLayer,
    ParamsError,
    exact_ratio,
    filter_geometry,
    human_bytes,
    human_count,
    model_costs,
    parse_kernel_size,
    parse_size,
    read_layers,
    stage_costs,
)
from . import common
from .common import binary_stdin, fail
from .output import echo_json, echo_tsv, print_report, table_option, use_table

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


def _shape(dims: tuple[int, ...]) -> str:
    return "x".join(str(d) for d in dims)


@click.command(name="params")
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
    type=click.Choice(tuple(DTYPE_BYTES), case_sensitive=False),
    default="float32",
    show_default=True,
    help="Parameter type for the bytes column.",
)
@click.option(
    "--exact", is_flag=True, help="Exact integers in the table instead of 1.00 B-style magnitudes."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON with exact integers.")
@table_option
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
    try:
        size = _input_size(input_size, image_path)
        if layers_spec is not None:
            _refuse_with_layers(kernel_spec, out_channels, hidden, stride)
            stack = model_costs(*size, read_layers(layers_spec))
        else:
            layer = _one_layer(size, kernel_spec, out_channels, hidden, stride or 1)
    except ValueError as exc:  # the core's errors; their tuple is looked up only for one
        if not isinstance(exc, (ParamsError, *common.LIBRARY_ERRORS)):
            raise
        raise fail(str(exc)) from None
    style = _Style.of(dtype, exact=exact, as_json=as_json, as_table=as_table)
    if layers_spec is not None:
        _report_stack(size, stack, style)
    else:
        _report_layer(size, layer, style, image_path=image_path)


@dataclass(frozen=True)
class _Style:
    """How the report is printed: the dtype of its bytes, its number format and its form."""

    dtype: str
    as_json: bool
    show_table: bool
    count: Callable[[int], str]
    size: Callable[[int], str]
    notes: tuple[str, ...]
    unit: str = ""  # after a size in running text: " bytes" when --exact prints bare integers

    @classmethod
    def of(cls, dtype: str, *, exact: bool, as_json: bool, as_table: bool | None) -> _Style:
        return cls(
            dtype=dtype,
            as_json=as_json,
            show_table=use_table(as_table),
            count=(lambda n: f"{n:,}") if exact else human_count,
            size=(lambda n: f"{n:,}") if exact else human_bytes,
            notes=(*PARAMS_CONVENTION, _bytes_note(dtype)),
            unit=" bytes" if exact else "",
        )


@dataclass(frozen=True)
class _OneLayer:
    """The four variants of one layer (``costs``, the convolution last) and how it was asked."""

    costs: list[LayerCost]
    kernel: tuple[int, int]
    groups: int
    stride: int
    hidden: int | None
    filter_name: str | None


def _input_size(input_size: str | None, image_path: str | None) -> tuple[int, int, int]:
    """(H, W, C) from exactly one of --input and --image."""
    if input_size is not None and image_path is not None:
        raise fail("give the input size with --input or --image, not both")
    if input_size is None and image_path is None:
        raise fail("give the input size with --input HxW[xC] or --image FILE")
    return parse_size(input_size) if input_size is not None else _image_size(image_path)


def _image_size(path: str) -> tuple[int, int, int]:
    """(H, W, C) of an image file (header only) or of the image on stdin (decoded)."""
    from ..images import probe_image, read_image  # Pillow only when an image is asked for

    if path != "-":
        return probe_image(path)
    values, _ = read_image("-", stdin=binary_stdin())
    height, width = values.shape[:2]
    return height, width, 1 if values.ndim == 2 else values.shape[2]


def _refuse_with_layers(kernel_spec, out_channels, hidden, stride) -> None:
    """Each layer of --layers names its own kernel, channels and stride: refuse the options."""
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


def _one_layer(
    size: tuple[int, int, int],
    kernel_spec: str | None,
    out_channels: int | None,
    hidden: int | None,
    stride: int,
) -> _OneLayer:
    """The four variants of the layer a kernel size, or a convtool kernel's shape, sets."""
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
        from ..kernels import parse_kernel  # numpy only for a named kernel or a kernel file

        kernel, out_channels, groups = filter_geometry(parse_kernel(kernel_spec), size[2])
        filter_name = kernel_spec
    costs = stage_costs(
        *size,
        kernel=kernel,
        out_channels=out_channels,
        hidden=hidden,
        stride=stride,
        groups=groups,
    )
    return _OneLayer(costs, kernel, groups, stride, hidden, filter_name)


def _report_stack(size: tuple[int, int, int], stack: list[ModelLayer], style: _Style) -> None:
    """A --layers stack next to the dense network with the same activation sizes."""
    dtype, count = style.dtype, style.count
    total = reduce(LayerCost.__add__, (m.cost for m in stack))
    dense_total = reduce(LayerCost.__add__, (m.dense for m in stack))
    ratio = dense_total.params / total.params if total.params else None
    if style.as_json:
        doc = {
            "input": list(size),
            "dtype": dtype,
            "layers": [
                {**m.cost.as_dict(dtype=dtype), "dense": m.dense.as_dict(dtype=dtype)}
                for m in stack
            ],
            "total": total.as_dict(dtype=dtype),
            "dense_total": dense_total.as_dict(dtype=dtype),
            "dense_ratio": ratio,
            "convention": "; ".join(style.notes),
        }
        echo_json(doc, indent=2)
        return
    rows = [(m.cost.name, m.cost, m.dense) for m in stack]
    rows.append(("total", total, dense_total))
    notes = [
        "dense = a fully-connected layer from each layer's input to its output size; "
        "pool layers have no params or MACs in either network; fc flattens; effective = "
        "params (biases included) that can reach the output",
        *style.notes,
    ]
    if style.show_table:
        header = ["layer", "output", "params", "effective", "MACs", "dense params",
                  "dense MACs"]  # fmt: skip
        body = [
            [name, _shape(c.output), count(c.params), count(c.effective_weights + c.biases),
             count(c.macs), count(d.params), count(d.macs)]
            for name, c, d in rows
        ]  # fmt: skip
        summary = f"{_shape(size)} input, {len(stack)} layers"
        notes.insert(
            0,
            f"{dtype} parameters: {style.size(total.nbytes(dtype))}{style.unit}, the dense "
            f"network's {style.size(dense_total.nbytes(dtype))}{style.unit}",
        )
        if ratio is not None:
            summary += f"; the dense network has {_ratio_text(ratio)} the parameters"
        print_report(summary, header, body, notes)
    else:
        header = ["layer", "output", "weights", "effective_weights", "biases", "params",
                  f"{dtype}_bytes", "macs", "bias_adds", "dense_params", "dense_macs"]  # fmt: skip
        body = [
            [name, _shape(c.output), c.weights, c.effective_weights, c.biases, c.params,
             c.nbytes(dtype), c.macs, c.bias_adds, d.params, d.macs]
            for name, c, d in rows
        ]  # fmt: skip
        echo_tsv(body, header=header, notes=notes)


def _plain_number(value: int | Decimal) -> str:
    """An exact ratio as text: whole digits, never an exponent."""
    return str(value) if isinstance(value, int) else format(value, "f")


def _json_number(value: int | Decimal) -> int | float:
    """An exact ratio as JSON: an integer stays whole, a fraction keeps its 4 decimals."""
    return value if isinstance(value, int) else float(value)


def _report_layer(
    size: tuple[int, int, int], layer: _OneLayer, style: _Style, *, image_path: str | None
) -> None:
    """One layer's four variants, each with its ratio to the convolution."""
    costs, dtype = layer.costs, style.dtype
    conv = costs[-1]
    ratios = [c.params / conv.params for c in costs]
    exact = [exact_ratio(c.params, conv.params) for c in costs]
    if style.as_json:
        doc = {
            "input": list(size),
            "kernel": list(layer.kernel),
            "out_channels": conv.output[2],
            "groups": layer.groups,
            "stride": layer.stride,
            "hidden": costs[0].output[2],
            "dtype": dtype,
            "layers": [
                {**c.as_dict(dtype=dtype), "ratio_to_convolution": _json_number(r)}
                for c, r in zip(costs, exact, strict=True)
            ],
            "convention": "; ".join(style.notes),
        }
        if image_path is not None:
            doc["image"] = image_path
        if layer.filter_name is not None:
            doc["filter"] = layer.filter_name
        echo_json(doc, indent=2)
    elif style.show_table:
        _layer_table(size, layer, ratios, style)
    else:
        header = ["layer", "weights", "effective_weights", "biases", "params", f"{dtype}_bytes",
                  "macs", "effective_macs", "bias_adds", "ratio_to_convolution"]  # fmt: skip
        body = [
            [c.name, c.weights, c.effective_weights, c.biases, c.params, c.nbytes(dtype),
             c.macs, c.effective_macs, c.bias_adds, _plain_number(r)]
            for c, r in zip(costs, exact, strict=True)
        ]  # fmt: skip
        echo_tsv(body, header=header, notes=style.notes)


def _layer_table(
    size: tuple[int, int, int], layer: _OneLayer, ratios: list[float], style: _Style
) -> None:
    costs, count, hidden, stride = layer.costs, style.count, layer.hidden, layer.stride
    conv = costs[-1]
    title = (
        f"{_shape(size)} input -> {_shape(conv.output)} hidden, {_shape(layer.kernel)} kernel"
        + (f" ({layer.filter_name})" if layer.filter_name else "")
        + (f", stride {stride}" if stride > 1 else "")
        + (f", depthwise ({layer.groups} groups)" if layer.groups > 1 else "")
        + (f", fully-connected: {hidden:,} hidden units" if hidden is not None else "")
    )
    header = ["layer", "weights", "effective", "biases", "params", "bytes", "MACs",
              "vs conv"]  # fmt: skip
    body = [
        [c.name, count(c.weights), count(c.effective_weights), count(c.biases),
         count(c.params), style.size(c.nbytes(style.dtype)), count(c.macs), _ratio_text(r)]
        for c, r in zip(costs, ratios, strict=True)
    ]  # fmt: skip
    bias_note = (
        f"bias adds per image (not in MACs): {count(costs[0].bias_adds)} fully-connected, "
        f"{count(conv.bias_adds)} the others"
    )
    print_report(title, header, body, [bias_note, *style.notes])
