"""Least-squares kernel fitting: :func:`fit_kernel`, the solve of the normal equations, quality.

Every output value of ``correlate(x, K, border=...) + bias`` is a linear function of its window
of the (padded) input, so the kernel that best maps ``x`` to a target is a linear least-squares
problem. This module owns the validation of a fit's arguments, the normal equations assembled
from the sums of :mod:`convtool.fit.windows` (bias columns, ridge), their solve (diagonal
scaling, Cholesky, an eigen-decomposition fallback for singular systems) and the quality
figures (RMSE, PSNR, R^2 from a filter pass through the engine).

Must not import: click, rich, PIL, convtool.cli, convtool.images.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..engine import EngineError, correlate, normalize_border
from ..engine.run import check_finite_in_dtype
from .named import NamedMatch, closest_named
from .windows import FitError, Layout, Sums, accumulate, make_layout, strip

__all__ = ["CHANNEL_MODES", "COND_WARN", "FitError", "FitResult", "fit_kernel"]

CHANNEL_MODES = ("auto", "shared", "depthwise", "mixing")

# Condition number of the (diagonally scaled) normal equations above which the input is said
# to have too little texture to determine the kernel: the weights then move by up to COND_WARN
# times the relative error of the target (8-bit rounding is ~1e-3). The sample photo gives 7e2
# (3x3 shared) to 2e5 (11x11 mixing, tests/test_fit.py); flat or linear-ramp inputs give 1e15
# or infinity.
COND_WARN = 1e8
# Above this the Cholesky factor is not trusted and the minimum-norm eigen solution is used.
_CHOLESKY_MAX_COND = 1e12


@dataclass(frozen=True)
class FitResult:
    """A fitted kernel and how well it reproduces the target.

    ``weights`` has the engine's kernel layout: ``(kh, kw)`` (shared), ``(kh, kw, C)``
    (depthwise) or ``(kh, kw, Cin, Cout)`` (mixing, the chapter's ``V[a, b, c, d]``).
    ``bias`` holds one value per output channel, or is None when no bias was fitted.
    ``windows`` counts the output pixels, ``unknowns`` the fitted numbers, ``ignored`` the
    target values left out by ``limits`` and ``saturated`` those at or beyond the limits
    (``(0, 1)`` when no limits were given: a hint that the target was clipped).
    ``rmse`` and ``psnr`` are in the units of the arrays (0..1 for normalized images; PSNR
    takes 1 as the peak). ``condition`` is the condition number of the normal equations after
    diagonal scaling (the largest over channels for depthwise kernels).
    """

    weights: np.ndarray
    bias: np.ndarray | None
    channels: str
    border: str
    dilation: tuple[int, int]
    windows: int
    unknowns: int
    ignored: int
    saturated: int
    rmse: float
    psnr: float
    r2: float
    condition: float
    solver: str
    closest: NamedMatch | None

    @property
    def ill_conditioned(self) -> bool:
        """True when the input has too little texture to determine the kernel."""
        return not self.condition <= COND_WARN

    def kernel_document(self, name: str = "fit") -> dict:
        """The kernel as a JSON document that ``convtool filter -k FILE.json`` reads back."""
        doc: dict = {
            "name": name,
            "shape": list(self.weights.shape),
            "weights": self.weights.tolist(),
        }
        if self.bias is not None:
            values = [float(v) for v in self.bias]
            doc["bias"] = values[0] if len(values) == 1 else values
        return doc


def _as_image(arr, name: str) -> np.ndarray:
    a = np.asarray(arr)
    if a.ndim not in (2, 3) or a.size == 0:
        raise FitError(f"{name} must be a non-empty (H, W) or (H, W, C) array, got {a.shape}")
    if a.dtype.kind not in "biuf":
        raise FitError(f"{name} must hold real numbers, got dtype {a.dtype}")
    if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
        raise FitError(f"{name} holds NaN or infinite values")
    return a if a.ndim == 3 else a[:, :, None]


# Data whose largest magnitude lies within 2**+-_SCALE_FREE is fitted as it is: its sums
# cannot overflow or underflow float64, and the results stay bit for bit as they were.
_SCALE_FREE = 64


def _exponent(a: np.ndarray, extra: float = 0.0) -> int:
    """The power of two that brings ``a``'s largest magnitude (and ``extra``'s) near 1, or 0
    when it is already within ``2**+-_SCALE_FREE`` (or all zero)."""
    top = max(abs(float(a.max())), abs(float(a.min())), abs(extra))  # no |a| copy of a
    if top == 0.0:
        return 0
    exponent = math.frexp(top)[1]
    return exponent if abs(exponent) > _SCALE_FREE else 0


def _aligned_target(y3: np.ndarray, lay: Layout, mode: str, in_shape: tuple[int, int]):
    """The target pixels that line up with the output grid of the layout.

    With border ``valid`` a target of the input's size is accepted too: only the pixels whose
    windows lie inside the image are used (the rest depend on an unknown border treatment).
    """
    th, tw = y3.shape[:2]
    if (th, tw) == (lay.out_h, lay.out_w):
        return y3
    if mode == "valid" and (th, tw) == in_shape:
        top, left = (lay.kh // 2) * lay.dy, (lay.kw // 2) * lay.dx
        return y3[top : top + lay.out_h, left : left + lay.out_w]
    h, w = in_shape
    expected = f"{lay.out_h}x{lay.out_w}"
    if mode == "valid":
        expected += f" or {h}x{w}"
    raise FitError(
        f"the target is {th}x{tw}, but a {lay.kh}x{lay.kw} kernel with border {mode} maps the "
        f"{h}x{w} input to {expected}"
    )


def _channel_mode(channels: str, cin: int, cout: int) -> str:
    mode = channels.lower()
    if mode not in CHANNEL_MODES:
        choices = ", ".join(CHANNEL_MODES)
        raise FitError(f"unknown channel mode {channels!r} (choose from {choices})")
    if mode == "auto":
        return "shared" if cin == cout else "mixing"
    if mode != "mixing" and cin != cout:
        raise FitError(
            f"{mode} kernels keep the channel count, but the input has {cin} channel(s) and the "
            f"target {cout} (fit a mixing kernel instead)"
        )
    return mode


def _solve(m: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, float, str]:
    """Solve the symmetric positive semi-definite system ``m z = r``.

    Returns ``(z, condition number, solver)``. The system is scaled to a unit diagonal first
    (the bias column and the weights then weigh alike); Cholesky solves well-conditioned
    systems, anything it refuses or that is too close to singular gets the minimum-norm
    solution from the eigen-decomposition (what ``lstsq`` would return).
    """
    d = np.sqrt(np.diag(m).copy())
    d[~(d > 0)] = 1.0
    scale = d.reshape(-1, *([1] * (r.ndim - 1)))
    ms = m / d[:, None] / d[None, :]
    rs = r / scale
    evals, evecs = np.linalg.eigh(ms)
    top = max(float(evals[-1]), 0.0)
    cond = top / float(evals[0]) if evals[0] > 0 else math.inf
    if cond <= _CHOLESKY_MAX_COND:
        try:
            low = np.linalg.cholesky(ms)
            z = np.linalg.solve(low.T, np.linalg.solve(low, rs))
            return z / scale, cond, "cholesky"
        except np.linalg.LinAlgError:
            pass
    keep = evals > top * len(evals) * np.finfo(np.float64).eps
    v = evecs[:, keep]
    coeff = (v.T @ rs) / evals[keep].reshape(-1, *([1] * (r.ndim - 1)))
    return (v @ coeff) / scale, cond, "eigh"


def _bordered(g: np.ndarray, s: np.ndarray, n) -> np.ndarray:
    """``[[G, S^T], [S, diag(n)]]``: the normal equations with one bias column per row of
    ``S`` (``n`` equations each)."""
    s = s.reshape(-1, g.shape[0])
    p, k = g.shape[0], s.shape[0]
    out = np.empty((p + k, p + k))
    out[:p, :p] = g
    out[:p, p:] = s.T
    out[p:, :p] = s
    out[p:, p:] = np.diag(np.broadcast_to(np.asarray(n, dtype=np.float64), (k,)))
    return out


def _solve_sums(sums: Sums, lay: Layout, mode: str, bias: bool, ridge: float):
    """Weights, bias (or None), condition number and solver from the accumulated sums.

    Sums that overflowed float64 and a system LAPACK cannot solve become one FitError.
    """
    if not all(np.isfinite(getattr(sums, key)).all() for key in ("G", "B", "S", "T")):
        raise FitError("the sums of the normal equations overflow float64 (values too large)")
    if not math.isfinite(ridge * float(sums.n.sum()) * max(1.0, float(np.max(sums.G)))):
        raise FitError(f"ridge {ridge:g} is too large for this input (the penalty overflows)")
    try:
        return _solve_system(sums, lay, mode, bias, ridge)
    except np.linalg.LinAlgError as exc:
        raise FitError(f"the normal equations cannot be solved ({exc})") from None


def _solve_system(sums: Sums, lay: Layout, mode: str, bias: bool, ridge: float):
    kh, kw = lay.kh, lay.kw
    if mode == "depthwise":
        results = []
        for c in range(sums.G.shape[0]):
            g = sums.G[c] + ridge * sums.n[c] * np.eye(sums.G.shape[1])
            m = _bordered(g, sums.S[c], sums.n[c]) if bias else g
            r = np.r_[sums.B[c], sums.T[c]] if bias else sums.B[c]
            results.append(_solve(m, r))
        p = kh * kw
        weights = np.stack([z[:p].reshape(kh, kw) for z, _, _ in results], axis=-1)
        bias_out = np.array([z[p] for z, _, _ in results]) if bias else None
        solver = "cholesky" if all(s == "cholesky" for *_, s in results) else "eigh"
        return weights, bias_out, max(c for _, c, _ in results), solver
    g = sums.G + ridge * sums.n.sum() * np.eye(sums.G.shape[0])
    p = g.shape[0]
    if bias:
        m = _bordered(g, sums.S, sums.n)
        r = np.concatenate([sums.B, sums.T.reshape(-1, *sums.B.shape[1:])], axis=0)
    else:
        m, r = g, sums.B
    z, cond, solver = _solve(m, r)
    if mode == "shared":
        weights, bias_out = z[:p].reshape(kh, kw), (z[p:] if bias else None)
    else:
        cin, cout = p // (kh * kw), sums.T.shape[0]
        weights, bias_out = z[:p].reshape(kh, kw, cin, cout), (z[p] if bias else None)
    return weights, bias_out, cond, solver


# Bytes of padded input per band of the quality pass (a few MiB: the fit's memory stays that of
# its inputs plus a few bands, whatever the image size).
_QUALITY_BAND_BYTES = 8 * 2**20


def _quality(
    x3: np.ndarray, y3: np.ndarray, lay: Layout, squeeze: bool, weights, bias, opts, limits
):
    """RMSE, PSNR (peak 1) and R^2 of the fitted kernel, run through the engine itself (its
    output clipped to ``limits`` when given, as an 8-bit file would store it).

    In bands of output rows: each band's padded input rows (padded as the engine pads the
    whole image, see :func:`convtool.fit.windows.strip`) filtered with border ``valid`` are
    exactly those rows of the whole output, so no image-sized output is ever held (on an
    8000x8000 float64 pair that was 488 MiB on top of the inputs). An image that fits in one
    band is filtered whole with ``opts`` (border, cval, dilation), as before the bands: its
    figures stay those the engine gives the user's own filter run, to the last bit.
    """
    row_bytes = (lay.out_w + lay.ew - 1) * x3.shape[2] * x3.itemsize
    rows = max(1, _QUALITY_BAND_BYTES // row_bytes)
    sse = sst = 0.0
    mean = y3.mean(axis=(0, 1), dtype=np.float64)
    for o0 in range(0, lay.out_h, rows):
        o1 = min(lay.out_h, o0 + rows)
        if rows >= lay.out_h:
            out = correlate(x3[:, :, 0] if squeeze else x3, weights, bias=bias, **opts)
        else:
            band = strip(x3, lay, o0, o1)
            band = band[:, :, 0] if squeeze else band
            out = correlate(band, weights, bias=bias, border="valid", dilation=(lay.dy, lay.dx))
        out = out.reshape(o1 - o0, lay.out_w, -1)
        if limits is not None:
            np.clip(out, limits[0], limits[1], out=out)
        yb = y3[o0:o1].astype(np.float64)
        sse += float(np.sum((out - yb) ** 2))
        sst += float(np.sum((yb - mean) ** 2))
    mse = sse / y3.size
    if 0 < mse < math.inf:
        psnr = 10.0 * math.log10(1.0 / mse)
    else:  # a perfect fit, or a sum beyond float64 (no "math domain error")
        psnr = math.inf if mse == 0 else -math.inf
    r2 = 1.0 - sse / sst if sst > 0 else math.nan
    return math.sqrt(mse), psnr, r2


def _prepare(x, y, size, channels, border, cval, dilation, ridge, limits):
    """Validate the arguments: ``(x3, y3 aligned, layout, channel mode, canonical border)``."""
    x3, y3 = _as_image(x, "input"), _as_image(y, "target")
    if not (ridge >= 0 and math.isfinite(ridge)):
        raise FitError(f"ridge must be a finite number >= 0, got {ridge}")
    if limits is not None and not (len(limits) == 2 and limits[0] < limits[1]):
        raise FitError(f"limits must be (low, high) with low < high, got {limits!r}")
    try:
        mode_border = normalize_border(border)[0]
        lay = make_layout(x3.shape[:2], size, border, cval, dilation)
    except EngineError as exc:
        raise FitError(str(exc)) from None
    mode = _channel_mode(channels, x3.shape[2], y3.shape[2])
    y3 = _aligned_target(y3, lay, mode_border, x3.shape[:2])
    x3 = x3.astype(np.float64 if x3.dtype == np.float64 else np.float32, copy=False)
    return x3, y3, lay, mode, mode_border


def fit_kernel(
    x: np.ndarray,
    y: np.ndarray,
    size: int | tuple[int, int],
    *,
    channels: str = "auto",
    border: str = "reflect",
    cval: float = 0.0,
    dilation: int | tuple[int, int] = 1,
    bias: bool = False,
    ridge: float = 0.0,
    limits: tuple[float, float] | None = None,
) -> FitResult:
    """Fit the kernel (and bias) that maps ``x`` to ``y`` under ``correlate``'s conventions.

    Minimizes ``mean((correlate(x, K, border=border, ...) + bias - y) ** 2) + ridge * sum(K**2)``
    (the bias is not penalized).

    Parameters
    ----------
    x, y : ndarray, shape (H, W) or (H, W, C)
        Input and target, any real dtype (normalized images: 0 black, 1 white). ``y`` has the
        size of the engine's output for this border mode; with ``border="valid"`` a target of
        the input's size is also accepted, and its pixels whose windows cross the border are
        ignored.
    size : int or (int, int)
        Kernel height and width.
    channels : {"auto", "shared", "depthwise", "mixing"}
        One 2-D kernel for every channel, one per channel, or a ``(kh, kw, Cin, Cout)`` kernel
        mixing every input channel into every output channel. ``auto``: shared when ``x`` and
        ``y`` have the same channel count, mixing otherwise (e.g. RGB to grey).
    border, cval, dilation
        As for :func:`convtool.engine.correlate` (stride is not supported).
    bias : bool
        Also fit one bias per output channel.
    ridge : float
        Ridge (Tikhonov) weight, per equation: independent of the image size.
    limits : (low, high), optional
        Leave out target values ``<= low`` or ``>= high`` (``(0, 1)``: values an 8-bit file
        clipped, which are not linear in the input; a mixing fit leaves out the whole pixel).
        The quality figures then compare the filter output clipped to these limits.

    Returns
    -------
    FitResult

    Examples
    --------
    >>> from convtool.engine import correlate
    >>> x = np.random.default_rng(0).random((40, 50))
    >>> k = np.array([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
    >>> fit = fit_kernel(x, correlate(x, k), 3)
    >>> bool(np.allclose(fit.weights, k, atol=1e-5)), fit.closest.spec
    (True, 'laplacian')
    """
    x3, y3, lay, mode, border_name = _prepare(
        x, y, size, channels, border, cval, dilation, ridge, limits
    )
    # Least squares is scale-equivariant: input and target far from 1 (1e50, 1e-300) are
    # fitted scaled by powers of two (exact), and the weights scaled back.
    ex, ey = _exponent(x3, lay.cval), _exponent(y3)
    if ex or ey:
        x3, y3 = np.ldexp(x3, -ex), np.ldexp(y3, -ey)
        lay = lay._replace(cval=math.ldexp(lay.cval, -ex))
        try:  # the penalty is on the weights, which scale by 2**-ex
            ridge = math.ldexp(ridge, -2 * ex)
        except OverflowError:
            raise FitError(f"ridge {ridge:g} is too large for this input") from None
        if limits is not None:
            limits = (math.ldexp(limits[0], -ey), math.ldexp(limits[1], -ey))
    sums = accumulate(x3, y3, lay, mode, limits)
    if sums.used() == 0:
        raise FitError(f"every target value lies outside the limits {limits}: nothing to fit")
    weights, bias_out, cond, solver = _solve_sums(sums, lay, mode, bias, ridge)
    bias_out = None if bias_out is None else np.atleast_1d(bias_out)
    scaled_w, scaled_b = weights, bias_out
    weights = np.ldexp(weights, ey - ex)
    bias_out = None if bias_out is None else np.ldexp(bias_out, ey)
    try:  # a kernel file (and the engine on float32 images) holds float32 weights
        check_finite_in_dtype(
            np.empty(0, np.float32), weights, 0.0 if bias_out is None else bias_out
        )
    except EngineError as exc:
        raise FitError(f"the fitted {exc}, the largest a kernel file holds") from None
    squeeze = x3.shape[2] == 1 and mode != "mixing"  # the engine's 2-D image for a 2-D kernel
    scaled_b = 0.0 if scaled_b is None else scaled_b
    opts = {"border": border, "cval": lay.cval if ex else cval, "dilation": (lay.dy, lay.dx)}
    quality = _quality(x3, y3, lay, squeeze, scaled_w, scaled_b, opts, limits)
    if ey:  # back to the target's units (R^2 has none)
        quality = (
            math.ldexp(quality[0], ey),
            quality[1] - 20.0 * ey * math.log10(2.0),
            quality[2],
        )
    return FitResult(
        weights=weights,
        bias=bias_out,
        channels=mode,
        border=border_name,
        dilation=(lay.dy, lay.dx),
        windows=sums.windows,
        unknowns=weights.size + (0 if bias_out is None else bias_out.size),
        ignored=sums.windows * y3.shape[2] - sums.used(),
        saturated=sums.saturated,
        rmse=quality[0],
        psnr=quality[1],
        r2=quality[2],
        condition=cond,
        solver=solver,
        closest=closest_named(weights, mode),
    )
