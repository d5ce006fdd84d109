"""The ``--layers`` grammar and the cost of a layer stack next to its dense counterpart.

Owns :class:`LayerSpec`, :class:`ModelLayer`, :func:`parse_layers`, :func:`read_layers` and
:func:`model_costs`; builds on :mod:`.costs`. Never imports click, rich, PIL or
:mod:`convtool.cli`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from .costs import (
    MAX_DIM,
    LayerCost,
    ParamsError,
    _check_dim,
    conv_cost,
    dense_cost,
    output_size,
)

LAYER_GRAMMAR = "convK[xK]:OUT[/STRIDE], poolK[xK][/STRIDE] or fc:N"
_CONV = re.compile(r"conv(\d+)(?:x(\d+))?:(\d+)(?:/(\d+))?")
_POOL = re.compile(r"pool(\d+)(?:x(\d+))?(?:/(\d+))?")
_FC = re.compile(r"fc:(\d+)")


@dataclass(frozen=True)
class LayerSpec:
    """One layer of ``--layers``: ``kind`` is ``conv``, ``pool`` or ``fc``."""

    text: str
    kind: str
    kernel: tuple[int, int] = (1, 1)
    units: int = 0
    stride: tuple[int, int] = (1, 1)


@dataclass(frozen=True)
class ModelLayer:
    """A layer's own cost next to the dense layer with the same input and output sizes."""

    spec: LayerSpec
    cost: LayerCost
    dense: LayerCost = field(repr=False)


def _dims_ok(values: tuple[str | None, ...], text: str) -> tuple[int, ...]:
    out = []
    for v in values:
        if v is None:
            out.append(0)
            continue
        if len(v) > 30 or int(v) > MAX_DIM:
            raise ParamsError(f"layer {text!r}: {v} is too large (at most {MAX_DIM})")
        if int(v) < 1:
            raise ParamsError(f"layer {text!r}: sizes must be positive, got {v}")
        out.append(int(v))
    return tuple(out)


def parse_layers(text: str) -> list[LayerSpec]:
    """Parse a layer stack: items separated by commas or newlines, ``#`` starts a comment.

    Grammar (lower-case, no spaces inside an item):

    ``convK:OUT[/S]``, ``convKHxKW:OUT[/S]``
        convolution, ``OUT`` output channels, stride ``S`` (default 1), "same" padding.
    ``poolK[/S]``, ``poolKHxKW[/S]``
        pooling (max or average: no parameters, no MACs), stride default ``K``.
    ``fc:N``
        flatten, then a dense layer of ``N`` units.

    Examples
    --------
    >>> [(s.kind, s.kernel, s.units, s.stride) for s in parse_layers("conv3x3:16, pool2, fc:10")]
    [('conv', (3, 3), 16, (1, 1)), ('pool', (2, 2), 0, (2, 2)), ('fc', (1, 1), 10, (1, 1))]
    """
    items = [
        item.strip()
        for line in text.splitlines()
        for item in line.split("#", 1)[0].split(",")
        if item.strip()
    ]
    if not items:
        raise ParamsError(f"no layers given (expected a list like {LAYER_GRAMMAR})")
    specs = []
    for item in items:
        low = item.lower()
        if m := _CONV.fullmatch(low):
            kh, kw, out, s = _dims_ok(m.groups(), item)
            specs.append(LayerSpec(item, "conv", (kh, kw or kh), out, (s or 1, s or 1)))
        elif m := _POOL.fullmatch(low):
            kh, kw, s = _dims_ok(m.groups(), item)
            kw = kw or kh
            specs.append(LayerSpec(item, "pool", (kh, kw), 0, (s, s) if s else (kh, kw)))
        elif m := _FC.fullmatch(low):
            (n,) = _dims_ok(m.groups(), item)
            specs.append(LayerSpec(item, "fc", (1, 1), n))
        else:
            raise ParamsError(f"layer {item!r} is not {LAYER_GRAMMAR}")
    return specs


def read_layers(source: str) -> list[LayerSpec]:
    """Layers from a spec string, or from a file: text in the :func:`parse_layers` grammar, or
    (``.json``) an array of layer strings.

    Examples
    --------
    >>> len(read_layers("conv3:8/2,fc:10"))
    2
    """
    path = Path(source)
    try:
        is_file = path.is_file()
    except OSError:  # a spec string too long to be a file name
        is_file = False
    if not is_file:
        return parse_layers(source)
    try:
        data = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ParamsError(f"{source}: cannot read layers ({exc})") from None
    if path.suffix.lower() == ".json":
        try:
            items = json.loads(data)
        except json.JSONDecodeError as exc:
            raise ParamsError(f"{source}: not valid JSON ({exc})") from None
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise ParamsError(f"{source}: expected a JSON array of layer strings")
        return parse_layers("\n".join(items))
    return parse_layers(data)


def model_costs(
    height: int, width: int, channels: int, layers: list[LayerSpec]
) -> list[ModelLayer]:
    """Costs of a layer stack, each next to the dense layer mapping the same activation sizes.

    Pooling layers have no parameters in either network.

    Examples
    --------
    >>> stack = model_costs(32, 32, 3, parse_layers("conv3:16,pool2,fc:10"))
    >>> [(m.spec.text, m.cost.output, m.cost.params, m.dense.params) for m in stack]
    ... # doctest: +NORMALIZE_WHITESPACE
    [('conv3:16', (32, 32, 16), 448, 50348032), ('pool2', (16, 16, 16), 0, 0),
     ('fc:10', (1, 1, 10), 40970, 40970)]
    """
    for value, what in ((height, "height"), (width, "width"), (channels, "channels")):
        _check_dim(value, what)
    shape = (height, width, channels)
    result = []
    for spec in layers:
        h, w, c = shape
        if spec.kind == "conv":
            cost = conv_cost(
                h, w, c, kernel=spec.kernel, out_channels=spec.units, stride=spec.stride[0],
                name=spec.text,
            )  # fmt: skip
        elif spec.kind == "pool":
            out = (output_size(h, spec.stride[0]), output_size(w, spec.stride[1]), c)
            cost = LayerCost(spec.text, 0, 0, 0, 0, 0, 0, out)
        else:
            cost = dense_cost(h * w * c, spec.units, name=spec.text)
        if spec.kind == "pool":
            dense = cost
        else:
            ho, wo, co = cost.output
            dense = dense_cost(h * w * c, ho * wo * co, name=spec.text)
            dense = LayerCost(
                spec.text, dense.weights, dense.biases, dense.effective_weights, dense.macs,
                dense.effective_macs, dense.bias_adds, cost.output,
            )  # fmt: skip
        result.append(ModelLayer(spec, cost, dense))
        shape = cost.output
    return result
