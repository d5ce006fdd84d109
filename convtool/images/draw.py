"""Annotation drawing on 8-bit RGB arrays (match boxes and their labels), with Pillow.

Must not import: convtool.engine, matching or cli, click, rich.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont


def draw_boxes(
    rgb: np.ndarray,
    boxes: list[tuple[int, int, int, int, str]],
    *,
    color: tuple[int, int, int] = (255, 0, 0),
) -> np.ndarray:
    """Draw rectangles ``(x, y, w, h, label)`` on an 8-bit RGB array; returns a new array."""
    img = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8))
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    width = max(1, round(min(img.size) / 300))
    for x, y, w, h, label in boxes:
        draw.rectangle([x, y, x + w - 1, y + h - 1], outline=color, width=width)
        if label:
            ty = y - 12 if y >= 12 else y + h + 1
            draw.text((x + 1, ty), label, fill=color, font=font)
    return np.asarray(img)
