"""Annotation drawing on 8-bit RGB arrays with Pillow: ranked match boxes, labels, text.

Owns: :func:`draw_matches` (the best match distinct, each box labelled with its rank and
score, labels placed by :func:`place_labels` so that they neither overlap each other nor run
off the image), :func:`draw_texts` and :func:`text_size` (text on pictures such as the
heatmap's colour bar), :func:`draw_boxes` (plain boxes, kept for callers of the old API).

Must not import: convtool.engine, matching or cli, click, rich.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

# Box colours: the best match gold and twice as thick, the others red.
BEST_COLOUR = (255, 200, 0)
OTHER_COLOUR = (230, 40, 40)

Rect = tuple[int, int, int, int]  # x, y, width, height


@lru_cache(maxsize=8)
def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ValueError, OSError):  # Pillow without FreeType: the bitmap font
        return ImageFont.load_default()


def font_size(shape: tuple[int, ...]) -> int:
    """Text height in pixels for a picture of ``shape``: 10, growing with the smaller side."""
    return max(10, min(int(shape[0]), int(shape[1])) // 40)


def text_size(text: str, size: int = 10) -> tuple[int, int]:
    """``(width, height)`` in pixels of ``text`` as :func:`draw_texts` draws it."""
    _, _, right, bottom = _font(size).getbbox(text)
    return int(right), int(max(bottom, size))


def draw_texts(
    rgb: np.ndarray,
    items: list[tuple[int, int, str, tuple[int, int, int]]],
    *,
    size: int = 10,
) -> np.ndarray:
    """Draw each ``(x, y, text, colour)`` (top-left corner) on an 8-bit RGB array; a new array."""
    img = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8))
    draw = ImageDraw.Draw(img)
    for x, y, text, colour in items:
        draw.text((x, y), text, fill=tuple(colour), font=_font(size))
    return np.asarray(img)


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


def _hits(rect: Rect, others: list[Rect]) -> bool:
    x, y, w, h = rect
    return any(
        x < ox + ow and ox < x + w and y < oy + oh and oy < y + h for ox, oy, ow, oh in others
    )


def _clamp(x: int, y: int, w: int, h: int, width: int, height: int) -> Rect:
    return min(max(x, 0), width - w), min(max(y, 0), height - h), w, h


def _nearest_free(
    goal: tuple[int, int], size: tuple[int, int], placed: list[Rect], image: tuple[int, int]
) -> Rect | None:
    """The free spot (no overlap with ``placed``) on a 2-pixel grid nearest to ``goal``."""
    (w, h), (width, height) = size, image
    xs = np.arange(0, width - w + 1, 2)
    ys = np.arange(0, height - h + 1, 2)
    gx, gy = np.meshgrid(xs, ys)
    free = np.ones(gx.shape, dtype=bool)
    for ox, oy, ow, oh in placed:  # one whole-grid test per placed label
        free &= ~((gx < ox + ow) & (ox < gx + w) & (gy < oy + oh) & (oy < gy + h))
    if not free.any():
        return None
    dist = np.where(free, (gx - goal[0]) ** 2 + (gy - goal[1]) ** 2, np.iinfo(np.int64).max)
    k = np.unravel_index(int(np.argmin(dist)), dist.shape)
    return int(gx[k]), int(gy[k]), w, h


def place_labels(
    boxes: list[Rect], sizes: list[tuple[int, int]], image: tuple[int, int]
) -> list[Rect | None]:
    """Rectangles for one label per box, in order (the first box gets the first choice).

    Each label tries, in turn: above the box (left-aligned), below it, above and below
    right-aligned, left and right of its top edge, inside its top-left corner, each moved
    inside the image; first a spot that covers no other label and no box, then one that covers
    no other label; else the free spot nearest to above its box. A label that fits nowhere
    (image ``(width, height)`` full or too small) is ``None``.

    Examples
    --------
    >>> place_labels([(10, 10, 20, 20), (10, 10, 20, 20)], [(15, 8), (15, 8)], (100, 100))
    [(10, 2, 15, 8), (10, 30, 15, 8)]
    """
    width, height = image
    placed: list[Rect] = []
    out: list[Rect | None] = []
    for (x, y, bw, bh), (w, h) in zip(boxes, sizes, strict=True):
        if w > width or h > height:
            out.append(None)
            continue
        tries = [
            (x, y - h), (x, y + bh), (x + bw - w, y - h), (x + bw - w, y + bh),
            (x - w, y), (x + bw, y), (x, y),
        ]  # fmt: skip
        spots = [_clamp(tx, ty, w, h, width, height) for tx, ty in tries]
        rect = next((r for r in spots if not _hits(r, placed + boxes)), None)
        rect = rect or next((r for r in spots if not _hits(r, placed)), None)
        rect = rect or _nearest_free((x, y - h), (w, h), placed, image)
        if rect is not None:
            placed.append(rect)
        out.append(rect)
    return out


def _text_colour(background: tuple[int, int, int]) -> tuple[int, int, int]:
    r, g, b = background
    return (0, 0, 0) if 0.299 * r + 0.587 * g + 0.114 * b > 140 else (255, 255, 255)


def draw_matches(
    rgb: np.ndarray, boxes: list[Rect], labels: list[str]
) -> tuple[np.ndarray, list[Rect | None]]:
    """Draw ranked match boxes (best first) with their labels; ``(new array, label rects)``.

    The best box is :data:`BEST_COLOUR` and twice as thick, the others :data:`OTHER_COLOUR`.
    Each label is written on a filled tag of its box's colour, at the place
    :func:`place_labels` gives it (``None``: no room left for it).
    """
    img = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8))
    draw = ImageDraw.Draw(img)
    size = font_size(rgb.shape)
    thickness = max(1, round(min(img.size) / 300))
    colours = [BEST_COLOUR if i == 0 else OTHER_COLOUR for i in range(len(boxes))]
    for rank in reversed(range(len(boxes))):  # the best drawn last, on top
        x, y, w, h = boxes[rank]
        t = 2 * thickness if rank == 0 else thickness
        draw.rectangle([x, y, x + w - 1, y + h - 1], outline=colours[rank], width=t)
    tags = [(tw + 4, th + 2) for tw, th in (text_size(label, size) for label in labels)]
    rects = place_labels(list(boxes), tags, img.size)
    font = _font(size)
    for rect, label, colour in zip(rects, labels, colours, strict=True):
        if rect is None:
            continue
        x, y, w, h = rect
        draw.rectangle([x, y, x + w - 1, y + h - 1], fill=colour)
        draw.text((x + 2, y), label, fill=_text_colour(colour), font=font)
    return np.asarray(img), rects
