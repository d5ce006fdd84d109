"""Kernel files: ``.txt``, ``.json`` and ``.npy`` parsing with one-line errors.

Owns reading a kernel file into a :class:`Kernel` (see :mod:`convtool.kernels` for the formats).
Must not import: convtool.engine, convtool.chain, convtool.images, click, rich, PIL.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .._npy import NPY_MAGIC, load_npy
from ..weights import normalize_weights
from .text import parse_rows
from .types import (
    KERNEL_FILE_SUFFIXES,
    MAX_KERNEL_DIMS,
    MAX_KERNEL_FILE_BYTES,
    MAX_KERNEL_SIDE,
    MAX_KERNEL_WEIGHTS,
    Kernel,
    KernelError,
    _frozen,
    check_compute_range,
    check_kernel_size,
)

# --------------------------------------------------------------------------------------------
# Kernel files
# --------------------------------------------------------------------------------------------


def _finish(
    label: str,
    weights: np.ndarray,
    *,
    bias: float | np.ndarray = 0.0,
    normalize: bool = False,
) -> Kernel:
    """Validate an array read from a file and wrap it in a Kernel."""
    if weights.dtype.kind not in "biuf":
        raise KernelError(f"{label}: kernel must hold real numbers, got dtype {weights.dtype}")
    if weights.ndim not in (2, 3, 4):
        raise KernelError(
            f"{label}: kernel must be 2-D, 3-D or 4-D, got {weights.ndim}-D "
            f"(shape {tuple(weights.shape)})"
        )
    if weights.size == 0:
        raise KernelError(f"{label}: kernel is empty (shape {tuple(weights.shape)})")
    check_kernel_size(label, weights.shape)
    weights = weights.astype(np.float64)
    if not np.all(np.isfinite(weights)):
        raise KernelError(f"{label}: kernel holds NaN or infinite values")
    if normalize:
        weights = normalize_weights(weights)
    check_compute_range(label, weights)
    return Kernel(label, _frozen(weights), bias=bias)


def _count(n: int, noun: str) -> str:
    plural = noun[:-1] + "ies" if noun.endswith("y") else noun + "s"
    return f"{n} {noun if n == 1 else plural}"


# Streaming limits of text kernel files, checked line by line before any more is read: a row
# holds at most MAX_KERNEL_SIDE values (a float64 needs 24 characters at most), and comments and
# blank lines around at most MAX_KERNEL_SIDE rows stay well under this many lines.
MAX_TEXT_LINE_BYTES = MAX_KERNEL_SIDE * 64 + 4096
MAX_TEXT_LINES = 100_000


def _text_lines(label: str, fh: BinaryIO) -> Iterator[tuple[int, str]]:
    """Numbered lines of a text kernel file, each refused once over its streaming limit."""
    for number in range(1, MAX_TEXT_LINES + 2):
        raw = fh.readline(MAX_TEXT_LINE_BYTES + 1)
        if not raw:
            return
        if number > MAX_TEXT_LINES:
            raise KernelError(
                f"{label}: more than {MAX_TEXT_LINES:,} lines (a kernel has at most "
                f"{MAX_KERNEL_SIDE} rows)"
            )
        if len(raw) > MAX_TEXT_LINE_BYTES:
            raise KernelError(
                f"{label}: line {number} is longer than {MAX_TEXT_LINE_BYTES:,} bytes (a kernel "
                f"row holds at most {MAX_KERNEL_SIDE} values)"
            )
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        try:
            yield number, raw.decode("utf-8")
        except UnicodeDecodeError:
            raise KernelError(f"{label}: not a UTF-8 text kernel file") from None


def _load_text(label: str, fh: BinaryIO) -> Kernel:
    weights, divisor = parse_rows(label, _text_lines(label, fh))
    if divisor != 1.0:
        weights = weights / divisor
    return _finish(label, weights)


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    return "an object" if isinstance(value, dict) else "a list"


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# Deeper lists are refused while reading; shallower ones get _finish's 2-D/3-D/4-D message.
_MAX_NESTING = 32


def _nested_array(label: str, key: str, value: object) -> np.ndarray:
    """Turn a JSON nested list into an array, naming the first ragged or non-numeric entry."""
    if not isinstance(value, list):
        raise KernelError(
            f"{label}: {key} must be a nested list of numbers, got {_json_type(value)}"
        )

    def where(index: tuple[int, ...]) -> str:
        return key + "".join(f"[{i}]" for i in index)

    shape: list[int] = []
    level: list[tuple[tuple[int, ...], list]] = [((), value)]
    while True:
        n = len(level[0][1])
        for index, items in level:
            if len(items) != n:
                raise KernelError(
                    f"{label}: {where(index)} has {_count(len(items), 'entry')}, expected {n} "
                    f"as in {where(level[0][0])}"
                )
        if n == 0:
            raise KernelError(f"{label}: {where(level[0][0])} is empty")
        shape.append(n)
        if len(shape) > _MAX_NESTING:  # numpy holds at most 64 dimensions
            raise KernelError(
                f"{label}: {key} nested {_MAX_NESTING} levels deep or more "
                f"(a kernel has {MAX_KERNEL_DIMS} at most)"
            )
        check_kernel_size(label, shape, partial=True)
        children = [((*index, i), c) for index, items in level for i, c in enumerate(items)]
        if not isinstance(children[0][1], list):
            break
        for index, child in children:
            if not isinstance(child, list):
                raise KernelError(
                    f"{label}: {where(index)} is {_json_type(child)}, expected a list "
                    f"like {where(children[0][0])}"
                )
        level = children
    for index, child in children:
        if not _is_number(child):
            raise KernelError(
                f"{label}: {where(index)} must be a number, got {_json_type(child)} "
                f"({json.dumps(child)})"
            )
    try:
        flat = np.array([c for _, c in children], dtype=np.float64)
    except OverflowError:
        raise KernelError(f"{label}: {key} holds a number too large for a float") from None
    return flat.reshape(shape)


def _json_bias(label: str, value: object, weights: np.ndarray) -> float | np.ndarray:
    if _is_number(value):
        try:
            bias = float(value)  # type: ignore[arg-type]
        except OverflowError:
            bias = math.inf
        if not math.isfinite(bias) or not math.isfinite(np.float32(bias)):
            raise KernelError(f"{label}: bias must be a finite number within float32 range")
        return bias
    if not isinstance(value, list) or not all(_is_number(v) for v in value) or not value:
        raise KernelError(f"{label}: bias must be a number or a list of numbers")
    try:
        arr = np.array(value, dtype=np.float64)
    except OverflowError:
        raise KernelError(f"{label}: bias holds a number too large for a float") from None
    with np.errstate(over="ignore"):
        finite32 = np.isfinite(arr.astype(np.float32))
    if not np.all(np.isfinite(arr)) or not np.all(finite32):
        raise KernelError(f"{label}: bias must be finite numbers within float32 range")
    if weights.ndim >= 3:
        channels = weights.shape[-1]
        if arr.size not in (1, channels):
            raise KernelError(
                f"{label}: bias has {arr.size} values, expected 1 or {channels} "
                f"(one per output channel)"
            )
    return _frozen(arr)


_JSON_KEYS = ("name", "shape", "weights", "bias", "normalize")


def _reject_constant(token: str) -> None:
    raise KernelError(f"{token} is not allowed")


def _load_json(label: str, data: bytes) -> Kernel:
    try:
        doc = json.loads(data.decode("utf-8-sig"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise KernelError(f"{label}: not a UTF-8 JSON kernel file") from None
    except json.JSONDecodeError as exc:
        if not data.strip():
            raise KernelError(f"{label}: empty kernel file") from None
        raise KernelError(
            f"{label}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except KernelError as exc:
        raise KernelError(f"{label}: {exc} (weights must be finite numbers)") from None
    except RecursionError:
        raise KernelError(f"{label}: JSON nested too deeply") from None
    except ValueError as exc:  # an integer beyond Python's digit limit for int(str)
        raise KernelError(
            f"{label}: a JSON integer has more than {sys.get_int_max_str_digits()} digits"
            if "digits" in str(exc)
            else f"{label}: invalid JSON ({exc})"
        ) from None
    if isinstance(doc, list):
        return _finish(label, _nested_array(label, "weights", doc))
    if not isinstance(doc, dict):
        raise KernelError(
            f'{label}: expected an object with "weights" or a nested list, got {_json_type(doc)}'
        )
    unknown = [k for k in doc if k not in _JSON_KEYS]
    if unknown:
        raise KernelError(f"{label}: unknown key {unknown[0]!r} (expected {', '.join(_JSON_KEYS)})")
    if "weights" not in doc:
        raise KernelError(f'{label}: missing "weights"')
    weights = _nested_array(label, "weights", doc["weights"])
    if "shape" in doc and doc["shape"] != list(weights.shape):
        raise KernelError(
            f"{label}: shape {json.dumps(doc['shape'])} does not match the weights "
            f"{list(weights.shape)}"
        )
    normalize = doc.get("normalize", False)
    if not isinstance(normalize, bool):
        raise KernelError(f"{label}: normalize must be true or false, got {json.dumps(normalize)}")
    bias = _json_bias(label, doc.get("bias", 0.0), weights)
    return _finish(label, weights, bias=bias, normalize=normalize)


def _load_npy(label: str, data: bytes) -> Kernel:
    arr = load_npy(data, label, KernelError)
    return _finish(label, arr)


_JSON_CHUNK = 1 << 20
# A kernel file names at most a few keys: more strings than this is not a kernel.
_MAX_JSON_QUOTES = 4096


def _json_prescan(label: str, fh: BinaryIO) -> None:
    """Refuse a JSON kernel over the size limits from its brackets and commas, a chunk at a
    time, before the whole text is parsed (63 M rows parsed took 36 s and 7 GB to refuse).

    Lists opened at bracket depth 2 are the weights' rows (at most MAX_KERNEL_SIDE), at depth
    3 their columns (at most MAX_KERNEL_SIDE squared); commas bound the number of weights.
    """
    depth = 0
    opened = np.zeros(8, dtype=np.int64)
    commas = quotes = 0
    limits = {2: (MAX_KERNEL_SIDE, "rows"), 3: (MAX_KERNEL_SIDE**2, "columns of rows")}
    while chunk := fh.read(_JSON_CHUNK):
        a = np.frombuffer(chunk, dtype=np.uint8)
        quotes += int(np.count_nonzero(a == ord('"')))
        commas += int(np.count_nonzero(a == ord(",")))
        if quotes > _MAX_JSON_QUOTES:
            raise KernelError(f"{label}: more than {_MAX_JSON_QUOTES} strings in a kernel file")
        pos = np.flatnonzero((a == ord("[")) | (a == ord("]")))
        if pos.size:
            step = np.where(a[pos] == ord("["), 1, -1)
            after = depth + np.cumsum(step)
            depth = int(after[-1])
            opened += np.bincount(np.clip(after[step == 1], 0, 7), minlength=8)
        for level, (limit, what) in limits.items():
            if opened[level] > limit:
                raise KernelError(
                    f"{label}: JSON kernel with more than {limit:,} {what} (kernels are at most "
                    f"{MAX_KERNEL_SIDE}x{MAX_KERNEL_SIDE})"
                )
        if commas > MAX_KERNEL_WEIGHTS + int(opened.sum()) + 64:
            raise KernelError(f"{label}: kernel holds more than {MAX_KERNEL_WEIGHTS} weights")
    fh.seek(0)


def _load_file(label: str, path: Path) -> Kernel:
    if path.is_dir():
        raise KernelError(f"{label}: is a directory, not a kernel file")
    try:
        if path.stat().st_size > MAX_KERNEL_FILE_BYTES:
            raise KernelError(
                f"{label}: kernel file larger than {MAX_KERNEL_FILE_BYTES >> 20} MiB "
                f"(kernels are at most {MAX_KERNEL_SIDE}x{MAX_KERNEL_SIDE})"
            )
        with path.open("rb") as fh:
            return _load_open(label, path, fh)
    except FileNotFoundError:
        raise KernelError(f"{label}: no such kernel file") from None
    except OSError as exc:
        raise KernelError(f"{label}: cannot read ({exc.strerror or exc})") from None


def _load_open(label: str, path: Path, fh: BinaryIO) -> Kernel:
    """Sniff the format from the suffix (else the first bytes), then parse: text as a stream
    of lines, JSON after :func:`_json_prescan`, ``.npy`` whole (its header gives the size)."""
    suffix = path.suffix.lower()
    head = fh.read(64)
    fh.seek(0)
    if suffix == ".npy" or (suffix not in KERNEL_FILE_SUFFIXES and head.startswith(NPY_MAGIC)):
        return _load_npy(label, fh.read())
    if suffix == ".json" or (suffix != ".txt" and head.lstrip()[:1] in (b"{", b"[")):
        _json_prescan(label, fh)
        return _load_json(label, fh.read())
    return _load_text(label, fh)
