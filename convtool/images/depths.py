"""Which output formats hold which depths: the table behind ``filter --depth``.

Owns :data:`FORMAT_DEPTHS` (the depths ``"8"``, ``"16"`` and ``"float"`` each format stores),
:data:`FLOAT_CHANNELS` (channel counts a format stores as float, where limited),
:func:`register_depths` (a new codec declares its depths here) and :func:`check_depth` (a depth a
format cannot hold is one error naming the formats that can). Must not import: other convtool
modules, PIL, click, rich.
"""

from __future__ import annotations

from .info import ImageIOError

DEPTHS = ("8", "16", "float")

FORMAT_DEPTHS: dict[str, tuple[str, ...]] = {
    "png": ("8", "16"),
    "jpeg": ("8",),
    "tiff": ("8", "16", "float"),
    "bmp": ("8",),
    "webp": ("8",),
    "gif": ("8",),
    "npy": ("8", "16", "float"),
    "pgm": ("8", "16"),
    "ppm": ("8", "16"),
    "pnm": ("8", "16"),
    "pam": ("8", "16"),
    "pfm": ("float",),
}
# Float TIFF is written by Pillow's mode F: one channel; PFM holds grey or RGB. Formats not
# listed hold float in any channel count they hold at all.
FLOAT_CHANNELS: dict[str, tuple[int, ...]] = {"tiff": (1,), "pfm": (1, 3)}

_WORDS = {"8": "8-bit", "16": "16-bit", "float": "float"}


def register_depths(
    fmt: str, depths: tuple[str, ...], float_channels: tuple[int, ...] | None = None
):
    """Declare the depths a format holds (for a codec added later, e.g. PFM: ``("float",)``).

    Examples
    --------
    >>> register_depths("demo", ("float",)); FORMAT_DEPTHS.pop("demo")
    ('float',)
    """
    FORMAT_DEPTHS[fmt] = tuple(depths)
    if float_channels is not None:
        FLOAT_CHANNELS[fmt] = tuple(float_channels)


def _holders(depth: str, channels: int) -> list[str]:
    names = []
    for fmt, held in FORMAT_DEPTHS.items():
        limited = FLOAT_CHANNELS.get(fmt) if depth == "float" else None
        if depth not in held or (limited is not None and channels not in limited):
            continue
        counts = "" if limited is None else " or ".join(map(str, limited))
        names.append(fmt.upper() + (f" ({counts} channel{'s' * (limited != (1,))})" * bool(counts)))
    return names


def check_depth(fmt: str, depth: str, channels: int) -> None:
    """Raise ImageIOError when ``fmt`` cannot store ``channels`` channels at ``depth``.

    Examples
    --------
    >>> check_depth("png", "16", 3)
    >>> check_depth("jpeg", "16", 3)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    convtool.images.ImageIOError: JPEG cannot hold 16-bit values; formats that can: PNG, TIFF, ...
    >>> check_depth("tiff", "float", 3)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    convtool.images.ImageIOError: TIFF holds float values in 1 channel only, the result has 3; ...
    """
    if depth not in DEPTHS:
        raise ImageIOError(f"unknown depth {depth!r} (choose from {', '.join(DEPTHS)})")
    held = FORMAT_DEPTHS.get(fmt, ())
    holders = ", ".join(_holders(depth, channels))
    if depth not in held:
        raise ImageIOError(
            f"{fmt.upper()} cannot hold {_WORDS[depth]} values; formats that can: {holders}"
        )
    allowed = FLOAT_CHANNELS.get(fmt)
    if depth == "float" and allowed is not None and channels not in allowed:
        counts = " or ".join(map(str, allowed))
        raise ImageIOError(
            f"{fmt.upper()} holds float values in {counts} channel{'s' * (allowed != (1,))} "
            f"only, the result has {channels}; formats that can: {holders}"
        )
