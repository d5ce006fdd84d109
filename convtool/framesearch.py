"""Template search over the frames of an animation, a multi-page file or a stream.

Owns :func:`merge_frames` (one result from one search per frame: the best matches of every
frame, each with its frame) and :func:`search_frames`, which ``find IMAGE TEMPLATE``,
``find -t TEMPLATE IMAGE...`` (:func:`convtool.batch.find_one`) and ``find`` over a stream
share. Must not import: click, rich, convtool.cli, PIL.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import matching

__all__ = ["merge_frames", "search_frames"]


def merge_frames(found: list, top: int):
    """One result from one search per frame: ``(result, frame of each match, frame to draw)``.

    The matches of every frame, best first, at most ``top``; the pictures show the frame of
    the best match (the first frame when nothing matched).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> frames = [rng.random((30, 40)).astype(np.float32) for _ in range(3)]
    >>> found = [matching.search(f, frames[2][5:15, 8:20]) for f in frames]
    >>> result, frame_of, best = merge_frames(found, 1)
    >>> (result.matches[0].x, result.matches[0].y), frame_of, best
    ((8, 5), [2], 2)
    """
    if len(found) == 1:
        return found[0], [0] * len(found[0].matches), 0
    pairs = [(f, m) for f, one in enumerate(found) for m in one.matches]
    lower = matching.lower_is_better(found[0].method)
    pairs.sort(key=lambda p: p[1].score if lower else -p[1].score)
    pairs = pairs[:top]
    first = found[0]
    merged = matching.SearchResult(
        matches=[m for _, m in pairs],
        method=first.method,
        threshold=first.threshold,
        maps=[mp for one in found for mp in one.maps],  # a miss reports the best of any frame
        skipped_scales=first.skipped_scales,
        image_shape=first.image_shape,
    )
    return merged, [f for f, _ in pairs], pairs[0][0] if pairs else 0


def search_frames(images: Sequence[np.ndarray], template: np.ndarray, *, top: int = 1,
                  subpixel: bool = False, **options):  # fmt: skip
    """Search every image (frame) for ``template`` (``options`` as :func:`matching.search`).

    Returns ``(merged result, frame index of each match, frame to draw, per-frame results)``.
    """
    found = [matching.search(image, template, top=top, **options) for image in images]
    if subpixel:
        for one in found:
            matching.refine_matches(one)
    merged, frame_of, best = merge_frames(found, top)
    return merged, frame_of, best, found
