"""The reference strategy: shift-and-add over the kernel taps on the padded image.

Owns: ``_direct``, the path every other strategy is tested against.

Must not import: the other strategies, the cost model, chain, matching, cli, images, click,
rich, PIL.
"""

from __future__ import annotations

import numpy as np

from .plan import Plan, pad_image


def _direct(plan: Plan) -> np.ndarray:
    """Reference path: shift-and-add over the kernel taps on the padded image.

    Cost: kh*kw passes over the output (times Cout for 4-D kernels, done as one small matrix
    product per tap); memory: the padded image plus the output.
    """
    padded = pad_image(plan)
    kh, kw = plan.kernel.shape[:2]
    sy, sx = plan.stride
    dy, dx = plan.dilation
    oh, ow = plan.out_shape
    cout = plan.source.shape[2] if plan.depthwise else plan.kernel.shape[3]
    out = np.zeros((oh, ow, cout), dtype=plan.dtype)
    tmp = np.empty_like(out)
    for a in range(kh):
        for b in range(kw):
            y0, x0 = a * dy, b * dx
            window = padded[y0 : y0 + (oh - 1) * sy + 1 : sy, x0 : x0 + (ow - 1) * sx + 1 : sx]
            if plan.depthwise:
                np.multiply(window, plan.kernel[a, b], out=tmp)
                out += tmp
            else:
                out += window @ plan.kernel[a, b]
    return out
