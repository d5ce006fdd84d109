"""Generate the sample pictures (deterministic: numpy + Pillow, fixed seed).

    python samples/make_samples.py

writes ``waldo-scene.png`` (480x320 RGB: a crowd of simple figures in varied colours, some in
striped shirts as distractors, and one Waldo hidden among them) and ``waldo.png`` (the Waldo
sprite as an RGBA template whose alpha is the mask of the figure).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
SEED = 20240611
WIDTH, HEIGHT = 480, 320
SPRITE_W, SPRITE_H = 18, 40
WALDO_AT = (311, 187)  # top-left corner of Waldo's sprite in the scene

RED = (214, 30, 36)
WHITE = (246, 246, 240)
SKIN = (241, 194, 152)
BLUE = (48, 72, 170)
BROWN = (92, 58, 30)


def figure(
    shirt: list[tuple[int, int, int]],
    *,
    stripe: int,
    trousers: tuple[int, int, int],
    hair: tuple[int, int, int],
    glasses: bool = False,
    hat: bool = False,
) -> Image.Image:
    """One person as an RGBA sprite: hat or hair, face, striped shirt, arms, trousers."""
    img = Image.new("RGBA", (SPRITE_W, SPRITE_H), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    cx = SPRITE_W // 2
    # trousers (two legs) and shoes
    d.rectangle([cx - 5, 26, cx - 1, 37], fill=trousers)
    d.rectangle([cx + 1, 26, cx + 5, 37], fill=trousers)
    d.rectangle([cx - 6, 37, cx - 1, 39], fill=BROWN)
    d.rectangle([cx + 1, 37, cx + 6, 39], fill=BROWN)
    # shirt with horizontal stripes, and sleeves
    for i, y in enumerate(range(13, 27)):
        colour = shirt[(i // stripe) % len(shirt)]
        d.line([cx - 6, y, cx + 5, y], fill=colour)
        if y < 22:
            d.point([(cx - 8, y), (cx - 7, y), (cx + 6, y), (cx + 7, y)], fill=colour)
    d.rectangle([cx - 8, 22, cx - 7, 23], fill=SKIN)
    d.rectangle([cx + 6, 22, cx + 7, 23], fill=SKIN)
    # head
    d.ellipse([cx - 5, 2, cx + 4, 12], fill=SKIN)
    if hat:
        d.rectangle([cx - 5, 1, cx + 4, 2], fill=RED)
        d.rectangle([cx - 4, 0, cx + 3, 0], fill=WHITE)
        d.rectangle([cx - 1, 0, cx, 0], fill=RED)
    else:
        d.chord([cx - 5, 1, cx + 4, 9], 180, 360, fill=hair)
    if glasses:
        d.ellipse([cx - 5, 5, cx - 1, 8], outline=(20, 20, 20))
        d.ellipse([cx, 5, cx + 4, 8], outline=(20, 20, 20))
    else:
        d.point([(cx - 3, 6), (cx + 2, 6)], fill=(30, 30, 30))
    d.line([cx - 2, 10, cx + 1, 10], fill=(150, 60, 60))
    # binary alpha: the template's mask is exactly the figure
    alpha = np.asarray(img)[:, :, 3]
    img.putalpha(Image.fromarray(np.where(alpha > 0, 255, 0).astype(np.uint8)))
    return img


def waldo() -> Image.Image:
    return figure([RED, WHITE], stripe=2, trousers=BLUE, hair=BROWN, glasses=True, hat=True)


def background(rng: np.random.Generator) -> np.ndarray:
    """Grass and a path: smooth gradients plus a little texture."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    grass = np.stack([96 + 30 * y / HEIGHT, 150 + 20 * np.sin(x / 50), 70 + 0 * x], axis=2)
    path = np.abs((y - 0.35 * x) - 120) < 28
    sand = np.array([214, 190, 140], dtype=np.float32)
    scene = np.where(path[:, :, None], sand, grass)
    scene += rng.normal(0, 6, size=scene.shape).astype(np.float32)
    return np.clip(scene, 0, 255)


def scene() -> tuple[Image.Image, Image.Image]:
    rng = np.random.default_rng(SEED)
    canvas = Image.fromarray(background(rng).astype(np.uint8), "RGB").convert("RGBA")
    palette = [
        (40, 110, 200), (250, 200, 40), (40, 160, 80), (150, 60, 160), (240, 130, 30),
        (30, 30, 30), (200, 200, 210), (120, 200, 220), (230, 90, 140), RED, WHITE,
    ]  # fmt: skip
    hairs = [(20, 20, 20), (92, 58, 30), (200, 160, 60), (160, 60, 20), (120, 120, 120)]
    trousers = [(48, 72, 170), (40, 40, 40), (110, 80, 50), (70, 110, 60), (150, 150, 150)]
    waldo_box = (WALDO_AT[0] - 4, WALDO_AT[1] - 4, SPRITE_W + 8, SPRITE_H + 8)
    people = []
    for _ in range(190):
        x = int(rng.integers(-6, WIDTH - SPRITE_W + 6))
        y = int(rng.integers(-10, HEIGHT - SPRITE_H + 10))
        bx, by, bw, bh = waldo_box
        if bx - SPRITE_W < x < bx + bw and by - SPRITE_H < y < by + bh:
            continue  # keep Waldo in plain view (but among the crowd)
        kind = rng.random()
        if kind < 0.15:
            # distractors: red-and-white stripes, but no glasses and no hat
            shirt = [RED, WHITE] if rng.random() < 0.5 else [WHITE, RED]
            stripe = int(rng.integers(1, 4))
        elif kind < 0.45:
            a, b = rng.choice(len(palette), size=2, replace=False)
            shirt, stripe = [palette[a], palette[b]], int(rng.integers(1, 4))
        else:
            shirt, stripe = [palette[int(rng.integers(len(palette)))]], 1
        sprite = figure(
            shirt,
            stripe=stripe,
            trousers=trousers[int(rng.integers(len(trousers)))],
            hair=hairs[int(rng.integers(len(hairs)))],
            glasses=bool(rng.random() < 0.2),
        )
        people.append((y, x, sprite))
    sprite = waldo()
    people.append((WALDO_AT[1], WALDO_AT[0], sprite))
    for y, x, person in sorted(people, key=lambda p: (p[0], p[1])):  # back to front
        canvas.alpha_composite(person, (x, y))
    return canvas.convert("RGB"), sprite


def main() -> None:
    picture, sprite = scene()
    picture.save(HERE / "waldo-scene.png", optimize=True)
    sprite.save(HERE / "waldo.png", optimize=True)


if __name__ == "__main__":
    main()
