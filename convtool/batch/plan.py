"""Batch planning: input paths to jobs, output names from a directory or a name template.

Owns: listing inputs (files, directories, ``--recursive``), the output template fields
(:data:`FIELDS`), the job and settings records, and refusing clashing outputs before any
work. Must not import: click, rich; it reads no pixels (only names and ``os.stat``).
"""

from __future__ import annotations

import os
import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..chain.memory import FilterOptions
from ..images import FORMATS, format_for_path
from ..samefile import file_id, same_file_message

FIELDS = {
    "stem": "file name without its extension (photo)",
    "name": "file name (photo.png)",
    "ext": "extension without the dot (png)",
    "parent": "directory of the input as given (shots/2024)",
    "rel": "path under the input directory it was found in (2024/photo.png)",
    "reldir": "directory part of rel ('.' for files at the top)",
    "index": "position in the input order, from 1 ({index:04d} pads)",
}
# Extensions picked up when a directory is listed (the ones convtool reads and writes).
LISTED = frozenset(ext for exts in FORMATS.values() for ext in exts)


class BatchError(ValueError):
    """A run cannot start (bad output spec, clashing outputs); the message is fit for the user."""


# --------------------------------------------------------------------------------------------
# planning
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """One input file and the directory argument it was found under (None: named directly)."""

    path: str
    base: str | None = None


def _listed(directory: Path, *, recursive: bool, exclude: set[str]) -> list[Path]:
    found = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(
            d
            for d in dirs
            if recursive
            and not d.startswith(".")
            and os.path.realpath(os.path.join(root, d)) not in exclude
        )
        for name in sorted(files):
            if not name.startswith(".") and Path(name).suffix.lower() in LISTED:
                found.append(Path(root, name))
    return found


def expand_inputs(
    inputs: Sequence[str], *, recursive: bool = False, exclude: Iterable[str] = ()
) -> list[Source]:
    """Input arguments to files, in order: a directory gives its image files (sorted by name;
    with ``recursive`` its subdirectories too), hidden names and directories in ``exclude``
    skipped; a file is taken as named (a missing one then fails on its own, not the run).

    Examples
    --------
    >>> expand_inputs(["a.png", "b.jpg"])
    [Source(path='a.png', base=None), Source(path='b.jpg', base=None)]
    """
    if "-" in inputs and len(inputs) > 1:
        raise BatchError("'-' (standard input) can only be the single input")
    skip = {os.path.realpath(p) for p in exclude}
    sources = []
    for arg in inputs:
        if arg != "-" and os.path.isdir(arg):
            listed = _listed(Path(arg), recursive=recursive, exclude=skip)
            sources += [Source(str(p), arg) for p in listed]
        else:
            sources.append(Source(arg))
    return sources


def _fields(source: Source, index: int) -> dict[str, Any]:
    path = Path(source.path)
    rel = os.path.relpath(source.path, source.base) if source.base is not None else path.name
    return {
        "stem": path.stem,
        "name": path.name,
        "ext": path.suffix[1:],
        "parent": str(path.parent),
        "rel": rel,
        "reldir": os.path.dirname(rel) or ".",
        "index": index,
    }


def is_template(spec: str) -> bool:
    """True when an output spec holds ``{field}`` parts (or unbalanced braces: a template
    with a mistake, which :func:`render_target` reports).

    Examples
    --------
    >>> is_template("out/{stem}.png"), is_template("out/"), is_template("out/{stem.png")
    (True, False, True)
    """
    try:
        return any(name is not None for _, name, _, _ in string.Formatter().parse(spec))
    except ValueError:  # "Single '}'", "expected '}' before end of string"
        return True


def render_target(spec: str, source: Source, index: int) -> str:
    """The output path of ``source`` under the name template ``spec`` (see :data:`FIELDS`).

    Examples
    --------
    >>> render_target("out/{stem}-blur.{ext}", Source("in/a.png"), 1)
    'out/a-blur.png'
    >>> render_target("out/{reldir}/{index:03d}.png", Source("in/x/a.png", "in"), 7)
    'out/x/007.png'
    """
    try:
        text = spec.format(**_fields(source, index))
    except KeyError as exc:
        raise BatchError(
            f"unknown field {{{exc.args[0]}}} in output template {spec!r} "
            f"(fields: {', '.join(FIELDS)})"
        ) from None
    except (ValueError, IndexError, AttributeError, TypeError) as exc:
        raise BatchError(f"bad output template {spec!r} ({exc})") from None
    return os.path.normpath(text)


def _with_format(path: str, fmt: str | None) -> str:
    if fmt is None or Path(path).suffix.lower() in FORMATS[fmt]:
        return path
    return str(Path(path).with_suffix(FORMATS[fmt][0]))


def _targets(sources: Sequence[Source], output: str, out_format: str | None) -> list[str]:
    if is_template(output):
        return [render_target(output, s, i) for i, s in enumerate(sources, 1)]
    return [
        _with_format(os.path.normpath(os.path.join(output, _fields(s, i)["rel"])), out_format)
        for i, s in enumerate(sources, 1)
    ]


def _key(path: str) -> str:
    return os.path.normcase(os.path.realpath(path))


def check_clashes(
    sources: Sequence[Source], targets: Sequence[str | None], *, in_place: bool = False
) -> None:
    """Refuse two inputs writing one output, an output that is another job's input, and (unless
    ``in_place``) an output that is its own input. Paths are compared with links resolved, and
    existing files by device and inode: an output directory that is a symbolic link to the input
    directory, or a hard link to an input, is caught here, before any work."""
    seen: dict[str, str] = {}
    inputs: dict[object, str] = {}
    for s in sources:
        inputs.setdefault(file_id(s.path) or _key(s.path), s.path)
    for source, target in zip(sources, targets, strict=True):
        if target is None:
            continue
        key = _key(target)
        if key in seen:
            raise BatchError(f"{seen[key]} and {source.path} would both be written to {target}")
        seen[key] = source.path
        hit = inputs.get(file_id(target) or key)
        if hit is None:
            continue
        own = (file_id(source.path) or _key(source.path)) == (file_id(hit) or _key(hit))
        if not own:
            raise BatchError(f"{target}: output of {source.path} would overwrite the input {hit}")
        if not in_place:
            raise BatchError(same_file_message(target, source.path))


@dataclass(frozen=True)
class FilterSettings:
    """What :func:`filter_one` does to each file (``kernels``: parsed Kernel/Magnitude steps)."""

    kernels: tuple[Any, ...]
    options: FilterOptions = field(default_factory=FilterOptions)
    mapping: str | None = None
    out_format: str | None = None
    frames: str | None = None  # --frame: which frames or pages (None: all)
    quality: int | None = None
    compression: int | None = None
    # The pixel limit in force where the run was planned: worker processes start with their
    # own (the environment's or the default), not the --max-pixels the user gave.
    max_pixels: int | None = None
    depth: str | None = None  # --depth: "8", "16", "float" (None: the input's)


@dataclass(frozen=True)
class FilterJob:
    """One file to filter: ``skip`` when ``--skip-existing`` found the target there already."""

    index: int
    source: str
    target: str
    settings: FilterSettings
    fmt: str | None = None  # None: the input's own format (only for stdout)
    make_dirs: bool = True
    skip: bool = False


def plan_filter(
    inputs: Sequence[str],
    output: str,
    settings: FilterSettings,
    *,
    recursive: bool = False,
    skip_existing: bool = False,
    in_place: bool = False,
) -> list[FilterJob]:
    """Jobs for ``convtool filter IN... -o OUT``: OUT a name template, else a directory.

    A directory output keeps each file's path under its input directory (``OUT/{rel}``),
    with the extension of ``settings.out_format`` when one is given. Every output format is
    checked, and clashing outputs refused, before any file is touched; an output that is its own
    input (links followed) only with ``in_place``.
    """
    if "-" in inputs or output == "-":
        raise BatchError("'-' (standard input/output) only works with a single input file")
    template = is_template(output)
    if not template and not os.path.isdir(output) and Path(output).suffix.lower() in LISTED:
        raise BatchError(
            f"-o {output}: several inputs need an output directory or a name template "
            "such as out/{stem}-blur.png"
        )
    exclude = [] if template else [output]
    sources = expand_inputs(inputs, recursive=recursive, exclude=exclude)
    if not sources:
        raise BatchError(f"no image files found in {', '.join(inputs)}")
    targets = _targets(sources, output, settings.out_format)
    check_clashes(sources, targets, in_place=in_place)
    jobs = []
    for i, (source, target) in enumerate(zip(sources, targets, strict=True)):
        try:
            fmt = settings.out_format or format_for_path(target)
        except ValueError as exc:
            raise BatchError(str(exc)) from None
        skip = skip_existing and os.path.exists(target)
        jobs.append(FilterJob(i, source.path, target, settings, fmt, skip=skip))
    return jobs


@dataclass(frozen=True)
class FindSettings:
    """What :func:`find_one` looks for in each image (see ``convtool find --help``)."""

    template: str
    mask: str | None = None
    method: str = "zncc"
    scales: tuple[float, ...] = (1.0,)
    angles: tuple[float, ...] = (0.0,)
    top: int = 1
    threshold: float | None = None
    overlap: float = 0.5
    subpixel: bool = False
    frames: str | None = None  # --frame: which frames of each image (None: all)
    pad: bool = False  # score windows over the border too (search's pad_input)


@dataclass(frozen=True)
class FindJob:
    """One image to search; optional pictures to write (heat map, annotated copy)."""

    index: int
    source: str
    settings: FindSettings
    heatmap: str | None = None
    annotate: str | None = None
    skip: bool = False


def _picture_format(path: str, option: str) -> None:
    fmt = format_for_path(path, format_option=False)  # find has no --format
    if fmt == "npy":
        raise BatchError(f"{option} {path}: write a picture (.png, .jpg, ...), not .npy")


def plan_find(
    inputs: Sequence[str],
    settings: FindSettings,
    *,
    recursive: bool = False,
    heatmap: str | None = None,
    annotate: str | None = None,
) -> list[FindJob]:
    """Jobs for ``convtool find -t TEMPLATE IMAGE...``; ``heatmap``/``annotate`` are name
    templates (one picture per image), checked for clashes before any work."""
    if "-" in inputs:
        raise BatchError("'-' (standard input) only works with a single image")
    sources = expand_inputs(inputs, recursive=recursive)
    if not sources:
        raise BatchError(f"no image files found in {', '.join(inputs)}")
    pictures: dict[str, list[str | None]] = {}
    for option, spec in (("--heatmap", heatmap), ("--annotate", annotate)):
        if spec is None:
            continue
        if not is_template(spec):
            raise BatchError(
                f"{option} with several images needs a name template such as out/{{stem}}.png"
            )
        pictures[option] = [render_target(spec, s, i) for i, s in enumerate(sources, 1)]
        try:
            for path in set(pictures[option]):
                _picture_format(path, option)
        except ValueError as exc:
            raise BatchError(str(exc)) from None
        check_clashes(sources, pictures[option])
    if len(pictures) == 2:
        both = set(map(_key, pictures["--heatmap"])) & set(map(_key, pictures["--annotate"]))
        if both:
            raise BatchError(f"--heatmap and --annotate would both write {both.pop()}")
    none: list[str | None] = [None] * len(sources)
    return [
        FindJob(i, s.path, settings, pictures.get("--heatmap", none)[i],
                pictures.get("--annotate", none)[i])
        for i, s in enumerate(sources)
    ]  # fmt: skip
