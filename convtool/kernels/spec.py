"""Kernel specs: resolving ``NAME[:ARGS]`` or a file path, and rank-1 factorization.

Owns :func:`parse_kernel` and :func:`separable_factors`. Must not import: convtool.engine,
convtool.images, click, rich, PIL.
"""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path

import numpy as np

from .files import _finish, _load_file, _nested_array
from .library import _DERIVED_NAMES, _NAMED, _parse_params
from .text import is_literal, literal_label, parse_rows
from .types import KERNEL_FILE_SUFFIXES, Kernel, KernelError, Magnitude, check_compute_range

# --------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------


def _looks_like_path(spec: str) -> bool:
    return (
        Path(spec).suffix.lower() in KERNEL_FILE_SUFFIXES
        or "/" in spec
        or os.sep in spec
        or Path(spec).is_file()
    )


def parse_literal(spec: str) -> Kernel:
    """An inline kernel: rows of the text grammar (:mod:`.text`: ``1 2 1; 2 4 2; 1 2 1 /16``,
    ``3x3: 1,2,1 2,4,2 1,2,1``) or a JSON nested list (``[[1,2,1]]``, optionally ``/N``).

    Examples
    --------
    >>> parse_literal("1 2 1 /4").weights
    array([[0.25, 0.5 , 0.25]])
    >>> parse_literal("[[1], [2], [1]]").weights.shape
    (3, 1)
    >>> parse_literal("1 2; 3")
    Traceback (most recent call last):
    ...
    convtool.kernels.KernelError: kernel '1 2; 3': row 2 has 1 value, expected 2 as in row 1
    """
    label = literal_label(spec)
    body, divisor = spec.strip(), 1.0
    if body.startswith("["):
        close = body.rfind("]")
        if close < 0:
            raise KernelError(f"{label}: a list without its closing ']'")
        head, (rest, slash, tail) = body[: close + 1], body[close + 1 :].partition("/")
        if rest.strip():
            raise KernelError(f"{label}: unexpected {rest.strip()!r} after the closing ']'")
        if slash:
            divisor = parse_rows(label, [(1, "0 /" + tail)], unit="row")[1]
        try:
            doc = json.loads(head)
        except (json.JSONDecodeError, RecursionError):
            raise KernelError(f"{label}: not a valid nested list of numbers") from None
        weights = _nested_array(label, "weights", doc)
    else:
        weights, divisor = parse_rows(label, enumerate(body.splitlines(), 1), unit="row")
    return _finish(label, weights / divisor if divisor != 1.0 else weights)


def _unknown(name: str) -> KernelError:
    # The Gaussian derivatives (gaussian-dx...) are suggested only for names with a dash, so
    # that a typo of a base name is not answered with its whole family.
    pool = [n for n in _NAMED if "-" in name or n not in _DERIVED_NAMES]
    close = difflib.get_close_matches(name, pool, n=3, cutoff=0.6)
    if close:
        quoted = [repr(c) for c in close]
        hint = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
        return KernelError(f"unknown kernel {name!r} (did you mean {hint}?)")
    return KernelError(
        f"unknown kernel {name!r}, and no such file (named kernels: {', '.join(_NAMED)})"
    )


def parse_kernel(spec: str | os.PathLike[str]) -> Kernel | Magnitude:
    """Resolve ``NAME[:ARGS]``, an inline kernel or a kernel file path.

    The rule, in order: the part before the first ``:`` is a kernel name (and the spec holds no
    path separator): the named kernel; the spec starts with a digit, sign, point, ``[`` or a
    ``WxH:`` header and does not end in ``.txt``/``.json``/``.npy``: an inline kernel
    (:func:`parse_literal`); else a file path. ``./NAME`` always reads a file.

    Parameters
    ----------
    spec : str or path
        A named kernel with optional comma-separated parameters after a colon (see
        :func:`list_kernels`), or a ``.txt`` / ``.json`` / ``.npy`` kernel file.

    Returns
    -------
    Kernel or Magnitude
        Weights are read-only float64 arrays.

    Raises
    ------
    KernelError
        Unknown name (with the nearest names suggested), bad parameters, or an unreadable or
        malformed file; the message is one line naming the problem.

    Examples
    --------
    >>> parse_kernel("sobel-x").weights
    array([[-1.,  0.,  1.],
           [-2.,  0.,  2.],
           [-1.,  0.,  1.]])
    >>> parse_kernel("gaussian:0.5").weights.shape
    (5, 5)
    >>> parse_kernel("gausian:2")
    Traceback (most recent call last):
    ...
    convtool.kernels.KernelError: unknown kernel 'gausian' (did you mean 'gaussian'?)
    """
    spec = os.fspath(spec)
    name, colon, args = spec.partition(":")
    key = name.strip().lower()
    if key in _NAMED and "/" not in spec and os.sep not in spec:
        named = _NAMED[key]
        values = _parse_params(key, named.params, args if colon else None)
        canonical = key + (":" + ",".join(t.strip() for t in args.split(",")) if colon else "")
        with np.errstate(all="ignore"):  # extreme parameters are caught by the check below
            kernel = named.build(canonical, *values)
        parts = (kernel.gx, kernel.gy) if isinstance(kernel, Magnitude) else (kernel,)
        if not all(np.all(np.isfinite(k.weights)) for k in parts):
            raise KernelError(f"{key}: parameters {args.strip()} give infinite weights")
        for part in parts:
            check_compute_range(part.name, part.weights)
        return kernel
    if not spec.strip():
        raise KernelError("empty kernel spec")
    if is_literal(spec):
        return parse_literal(spec)
    if _looks_like_path(spec):
        return _load_file(spec, Path(spec))
    if not key:
        raise KernelError(f"missing kernel name before the colon in {spec!r}")
    raise _unknown(key)


def separable_factors(
    weights: np.ndarray, *, rtol: float = 1e-10
) -> tuple[np.ndarray, np.ndarray] | None:
    """Return ``(column, row)`` with ``np.outer(column, row) == weights`` for a rank-1 kernel.

    Parameters
    ----------
    weights : ndarray
        Kernel weights; only 2-D kernels can be separable.
    rtol : float
        Second singular value, relative to the first, below which the kernel counts as rank 1.

    Returns
    -------
    tuple of ndarray or None
        The factors (from an SVD, so up to rounding), or ``None`` when not separable.

    Examples
    --------
    >>> col, row = separable_factors(parse_kernel("sobel-x").weights)
    >>> bool(np.allclose(np.outer(col, row), parse_kernel("sobel-x").weights))
    True
    >>> separable_factors(parse_kernel("sharpen").weights) is None
    True
    """
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 2:
        return None
    if not np.any(w):
        return np.zeros(w.shape[0]), np.zeros(w.shape[1])
    u, s, vt = np.linalg.svd(w)
    if len(s) > 1 and s[1] > rtol * s[0]:
        return None
    # Scale split evenly, so a symmetric kernel such as a Gaussian gets two equal factors.
    col, row = u[:, 0] * np.sqrt(s[0]), vt[0] * np.sqrt(s[0])
    # Flip both so that the larger-magnitude end of the row is positive (a stable, readable sign).
    if row[np.argmax(np.abs(row))] < 0:
        col, row = -col, -row
    return col, row
