"""The text grammar of kernels: one parser for ``.txt`` kernel files and ``-k`` literals.

Owns :func:`parse_rows` (rows of numbers, ``#`` comments, an optional ``/N`` divisor, an
optional ImageMagick ``WxH:`` header), :func:`is_literal` (the rule that tells a literal from a
named kernel or a file) and :func:`parse_literal`. Must not import: convtool.engine,
convtool.images, click, rich, PIL.

Grammar (files and literals alike): rows are separated by newlines or ``;``, values by spaces
and/or commas; ``#`` starts a comment up to the end of the line; a last item ``/N`` divides
every weight by N (``1 2 1; 2 4 2; 1 2 1 /16``). ``WxH:`` before the values gives the shape
and the values then come in row-major order, as ImageMagick writes ``3x3: 1,2,1 2,4,2 1,2,1``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

import numpy as np

from .types import KERNEL_FILE_SUFFIXES, MAX_KERNEL_SIDE, KernelError

_SEPARATORS = re.compile(r"[\s,]+")
_HEADER = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*([+-]\d+[+-]\d+)?\s*:(.*)$", re.DOTALL)
# A literal starts like a number, a list or a WxH header (see is_literal).
_LITERAL_START = re.compile(r"^\s*([-+.\d\[]|\d+\s*[xX]\s*\d+\s*:)")


def _count(n: int, noun: str) -> str:
    plural = noun[:-1] + "ies" if noun.endswith("y") else noun + "s"
    return f"{n} {noun if n == 1 else plural}"


def _number(label: str, where: str, token: str) -> float:
    try:
        value = float(token)
    except ValueError:
        raise KernelError(f"{label}: {where}: {token!r} is not a number") from None
    if not math.isfinite(value):
        raise KernelError(f"{label}: {where}: {token!r} is not allowed (NaN or infinite)")
    return value


def _divisor(label: str, where: str, token: str) -> float:
    value = _number(label, where, token)
    if value == 0:
        raise KernelError(f"{label}: {where}: divisor /{token} is zero")
    return value


def parse_rows(
    label: str, lines: Iterable[tuple[int, str]], *, unit: str = "line"
) -> tuple[np.ndarray, float]:
    """Parse numbered lines of the kernel text grammar into ``(weights, divisor)``.

    Parameters
    ----------
    label : str
        What the user called the kernel (file name or literal), at the start of messages.
    lines : iterable of (int, str)
        Line numbers and texts; a ``;`` inside a line also ends a row.
    unit : str
        How messages name a line: ``"line"`` (files) or ``"row"`` (literals).

    Returns
    -------
    (ndarray, float)
        2-D float64 weights (not yet divided) and the divisor (1.0 without ``/N``).

    Raises
    ------
    KernelError
        One line naming the first bad token, a ragged row, a kernel over the size limit or no
        numbers at all.

    Examples
    --------
    >>> w, d = parse_rows("k", [(1, "1 2 1; 2 4 2"), (2, "1,2,1 /16")], unit="row")
    >>> w.shape, d
    ((3, 3), 16.0)
    >>> parse_rows("k", [(1, "3x1: 1 2 3")])[0]
    array([[1., 2., 3.]])
    """
    rows: list[list[float]] = []
    first = 0
    divisor = 1.0
    header: tuple[int, int] | None = None
    flat: list[float] = []
    numbered = unit == "line"
    row_no = 0
    seen_divisor = False
    for number, line in lines:
        body = line.split("#", 1)[0]
        if not rows and header is None and not flat:
            match = _HEADER.match(body)
            if match:
                if match.group(3):
                    raise KernelError(
                        f"{label}: an origin ({match.group(3)}) is not supported in a kernel; "
                        "the anchor is the centre tap"
                    )
                header = (int(match.group(2)), int(match.group(1)))  # WxH: rows are H
                if max(header) > MAX_KERNEL_SIDE or min(header) < 1:
                    raise KernelError(
                        f"{label}: kernel {match.group(1)}x{match.group(2)} is not within "
                        f"1x1 to {MAX_KERNEL_SIDE}x{MAX_KERNEL_SIDE}"
                    )
                body = match.group(4)
        for part in body.split(";"):
            part, slash, text = part.partition("/")
            tokens = [t for t in _SEPARATORS.split(part) if t]
            if not tokens and not slash:
                continue
            row_no += 1
            where = f"{unit} {number if numbered else row_no}"
            if divisor != 1.0 or seen_divisor:
                raise KernelError(f"{label}: {where}: values after the divisor")
            if slash:
                seen_divisor = True
                divisor = _divisor(label, where, text.strip())
                if not tokens:
                    row_no -= 1
                    continue
            row = [_number(label, where, t) for t in tokens]
            if header is not None:
                flat.extend(row)
                if len(flat) > header[0] * header[1]:
                    break
                continue
            if len(row) > MAX_KERNEL_SIDE or len(rows) >= MAX_KERNEL_SIDE:
                raise KernelError(
                    f"{label}: {where}: kernel larger than {MAX_KERNEL_SIDE}x{MAX_KERNEL_SIDE}"
                )
            if rows and len(row) != len(rows[0]):
                raise KernelError(
                    f"{label}: {where} has {_count(len(row), 'value')}, expected "
                    f"{len(rows[0])} as {'on' if numbered else 'in'} {unit} {first}"
                )
            if not rows:
                first = number if numbered else row_no
            rows.append(row)
    if header is not None:
        height, width = header
        if len(flat) != height * width:
            raise KernelError(
                f"{label}: {width}x{height} needs {height * width} values, got "
                f"{'more' if len(flat) > height * width else len(flat)}"
            )
        return np.array(flat, dtype=np.float64).reshape(height, width), divisor
    if not rows:
        raise KernelError(f"{label}: empty kernel{' file' if numbered else ''} (no numbers)")
    return np.array(rows, dtype=np.float64), divisor


def is_literal(spec: str) -> bool:
    """True when ``spec`` is an inline kernel rather than a kernel name or a file path.

    The rule: a literal starts with a digit, a sign, a point or ``[`` (or a ``WxH:`` header)
    and does not end in a kernel file suffix (``.txt``, ``.json``, ``.npy``). A file whose name
    starts like a number and has no such suffix is read as a file by writing ``./NAME``.

    Examples
    --------
    >>> is_literal("1,2,1"), is_literal("[[1,2,1]]"), is_literal("3x3: 1,2,1 2,4,2 1,2,1")
    (True, True, True)
    >>> is_literal("sobel-x"), is_literal("3x3.txt"), is_literal("./1,2,1")
    (False, False, False)
    """
    if not _LITERAL_START.match(spec) or spec.lstrip().startswith(("./", "../")):
        return False
    return not spec.rstrip().lower().endswith(KERNEL_FILE_SUFFIXES)


def literal_label(spec: str) -> str:
    """A short one-line name for a literal in messages (``-k '1 2 1'``)."""
    flat = " ".join(spec.split())
    return f"kernel {flat[:40] + '...' if len(flat) > 43 else flat!r}"
