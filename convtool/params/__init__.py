"""Parameter and multiply-accumulate counts: fully connected vs convolutional layers.

The argument of *Dive into Deep Learning*, "From fully connected layers to convolutions", in
numbers. A hidden representation shaped like the input (``H x W x D``) is computed from an
``H x W x C`` image by four layers, each adding one assumption:

``fully-connected``
    every hidden unit sees every input value: ``(H*W*C) * N`` weights, ``N = H*W*D`` hidden
    units (or any ``hidden``), ``N`` biases.
``locally-connected``
    locality only: every output position has its own ``kh x kw`` window,
    ``Ho*Wo * kh*kw * C*D`` weights and one bias per output value (Keras ``LocallyConnected2D``).
``shared-weights``
    translation invariance only: one kernel shared by all positions, but as large as the
    offsets that reach into the image, ``(2H-1) x (2W-1)`` per channel pair, ``D`` biases.
``convolution``
    both: ``kh*kw * C*D`` weights and ``D`` biases (PyTorch ``nn.Conv2d``).

Conventions
-----------
* *weights* is the stored tensor size (PyTorch ``numel``); *effective weights* are the ones
  that can reach the output: with zero padding a locally-connected window offset that falls
  outside the image multiplies only zeros, and a kernel tap that no output position lines up
  with the image is never used.
* Padding is "same": the kernel is anchored at ``(kh // 2, kw // 2)`` (as
  :func:`convtool.correlate`), the output is ``ceil(H / stride) x ceil(W / stride)`` and output
  row ``i`` is centred on input row ``i * stride``.
* 1 MAC = 1 multiply + 1 add; FLOPs = 2 x MACs. *macs* counts every multiply of the padded
  computation (padded zeros included), as torchinfo, fvcore and ``torch.utils.flop_counter``
  do; *effective_macs* skips the products with padding. Bias additions are not MACs: they are
  counted apart in *bias_adds*. torchinfo's "Mult-Adds" = macs + bias_adds; fvcore = macs;
  ``FlopCounterMode`` = 2 x macs.
* ``groups`` has PyTorch's meaning: ``groups == C`` is a depthwise layer (``C*D/groups``
  connected channel pairs).

All counts are exact Python integers.

Layout: :mod:`.costs` (sizes, tap counts, the four layers, a filter's layer geometry),
:mod:`.layers` (the ``--layers`` grammar and the cost of a stack), :mod:`.numbers` (K/M/B and
kB/MB/GB text). Pure Python: imports nothing of click, rich, PIL or :mod:`convtool.cli`.
"""

from .costs import (
    DTYPE_BYTES,
    MAX_DIM,
    STAGES,
    LayerCost,
    ParamsError,
    conv_cost,
    dense_cost,
    filter_geometry,
    live_taps,
    output_size,
    parse_kernel_size,
    parse_size,
    reachable_taps,
    stage_costs,
)
from .layers import LAYER_GRAMMAR, LayerSpec, ModelLayer, model_costs, parse_layers, read_layers
from .numbers import exact_ratio, human_bytes, human_count

__all__ = [
    "DTYPE_BYTES",
    "LAYER_GRAMMAR",
    "MAX_DIM",
    "STAGES",
    "LayerCost",
    "LayerSpec",
    "ModelLayer",
    "ParamsError",
    "conv_cost",
    "dense_cost",
    "exact_ratio",
    "filter_geometry",
    "human_bytes",
    "human_count",
    "live_taps",
    "model_costs",
    "output_size",
    "parse_kernel_size",
    "parse_layers",
    "parse_size",
    "reachable_taps",
    "read_layers",
    "stage_costs",
]
