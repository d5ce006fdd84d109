"""What ``convtool find`` shows people: the heatmap (picture or raw .npy), the annotated image,
the terminal preview and the message of a miss.

Pictures are computed by :mod:`convtool.pictures` (pure numpy) and labelled by
:mod:`convtool.images.draw`; bytes go out through the one writer of :mod:`convtool.images`.
Must not import the group or a command module.
"""

from __future__ import annotations

import numpy as np

from .. import matching, pictures
from ..images import ImageInfo, encode_image, write_outputs
from ..images.draw import draw_matches, draw_texts, font_size, text_size

BAR_TEXT = (235, 235, 235)


def score_text(score: float, method: str) -> str:
    """A score as labels and messages print it: 2 decimals for zncc and ncc (in [-1, 1]), 3
    significant digits for the others.

    Examples
    --------
    >>> score_text(0.98765, "zncc"), score_text(0.0012345, "ssd")
    ('0.99', '0.00123')
    """
    return f"{score:.2f}" if method in ("zncc", "ncc") else f"{score:.3g}"


def raw_scores(result) -> tuple[np.ndarray, str | None]:
    """The score map ``--heatmap FILE.npy`` saves, and a note when there were several.

    With one scale and angle it is the map :func:`convtool.matching.match_template` returns
    (for ssd divided by the template's pixel and channel count, as the scores printed). With
    several, it is the map of the best match's placement (else of the best score's).
    """
    if len(result.maps) == 1:
        return result.maps[0][2], None
    if result.matches:
        key = (result.matches[0].scale, result.matches[0].angle)
    else:
        best = pictures.best_score(result)
        key = (best.scale, best.angle)
    scores = next(s for scale, _, s, angle in result.maps if (scale, angle) == key)
    note = f"--heatmap .npy holds the score map of scale {key[0]:g}, angle {key[1]:g} (the best)"
    return scores, note


def heatmap_rgb8(result) -> np.ndarray:
    """The heatmap picture: scores, matches outlined, a labelled colour bar in a free corner."""
    picture = pictures.heatmap(result, matches=result.matches)
    title, top, bottom = pictures.bar_labels(result)
    size = font_size(picture.shape)
    value_w = max(text_size(top, size)[0], text_size(bottom, size)[0])
    text_h = max(text_size(t, size)[1] for t in (title, top, bottom))
    panel = pictures.add_colour_bar(
        picture,
        text_size=(value_w, text_h),
        title_width=text_size(title, size)[0],
        avoid=result.matches,
    )
    rgb = pictures.to_rgb8(picture)
    if panel is None:
        return rgb
    texts = [
        (x, y, t, BAR_TEXT) for (x, y), t in zip(panel.labels, (title, top, bottom), strict=True)
    ]
    return draw_texts(rgb, texts, size=size)


def annotated_rgb8(result, image: np.ndarray) -> np.ndarray:
    """IMAGE with the matches boxed, best first and distinct, labelled ``#rank score``."""
    boxes = [(m.x, m.y, m.width, m.height) for m in result.matches]
    labels = [
        f"#{rank} {score_text(m.score, result.method)}"
        for rank, m in enumerate(result.matches, start=1)
    ]
    drawn, _ = draw_matches(pictures.to_rgb8(image), boxes, labels)
    return drawn


def write_pictures(result, image, heatmap: tuple, annotate: tuple) -> list[str]:
    """Encode the heatmap and the annotated image (each a ``(path, format)``), then write
    both through the one writer, all or nothing; returns notes for stderr."""
    (heatmap_path, heat_fmt), (annotate_path, annotate_fmt) = heatmap, annotate
    outputs, notes = [], []
    if heatmap_path and heat_fmt == "npy":
        scores, note = raw_scores(result)
        notes += [note] if note else []
        outputs.append((encode_image(scores, ImageInfo(format="npy", depth="float"), "npy"), 0))
    elif heatmap_path:
        values = heatmap_rgb8(result).astype(np.float32) / 255
        outputs.append((encode_image(values, ImageInfo(format=heat_fmt, depth="8"), heat_fmt), 0))
    if annotate_path:
        values = annotated_rgb8(result, image).astype(np.float32) / 255
        info = ImageInfo(format=annotate_fmt, depth="8")
        outputs.append((encode_image(values, info, annotate_fmt), 1))
    # Every output prepared before any is committed: a run that fails writes none of them.
    write_outputs([(data, (heatmap_path, annotate_path)[which]) for data, which in outputs])
    return notes


def miss_message(result, *, with_scale: bool, with_angle: bool) -> str:
    """``no match with score >= T; best S at x=X y=Y`` (+ scale and angle when searched).

    The position is the top-left corner of the best window, as matches are reported.
    """
    lower = matching.lower_is_better(result.method)
    text = f"no match with score {'<=' if lower else '>='} {result.threshold:g}"
    best = pictures.best_score(result)
    if best is None:
        return text
    shown = score_text(best.score, result.method)
    for digits in range(3, 8):  # never round a miss onto the threshold
        if (float(shown) > result.threshold) if lower else (float(shown) < result.threshold):
            break
        shown = f"{best.score:.{digits}f}"
    text += f"; best {shown} at x={best.x} y={best.y}"
    if with_scale:
        text += f" scale {best.scale:g}"
    if with_angle:
        text += f" angle {best.angle:g}"
    return text
