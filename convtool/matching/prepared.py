"""The prepared image of the matcher: channel spectra and running sums, computed once.

Owns: :class:`_Prepared` (an image's channel spectra and running sums, computed once and
reused for every template and placement; the masked spectra on demand). Both score modules
build on it: :mod:`.scoring` (plain scores, :func:`match_template`) and :mod:`.masked`
(weighted scores); neither imports the other's pieces through here.

Must not import: the CLI, :mod:`convtool.images`, click, rich, PIL, and of the matcher only
:mod:`.inputs`, :mod:`.windows` and :mod:`.spectral`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .. import runtime
from ..engine import next_fast_len
from .inputs import flat_limit
from .spectral import _correlate_spectrum, _rfft2
from .windows import _chunks, _prefix_tasks, _stats_tasks


class _Prepared:
    """An image ready for matching: spectra of its channels and running sums, computed once."""

    def __init__(self, image: np.ndarray, dtype: np.dtype) -> None:
        self.image = image  # (H, W, C)
        self.dtype = dtype
        self.height, self.width, self.channels = image.shape
        self.fft_shape = (next_fast_len(self.height), next_fast_len(self.width))
        # Removing each channel's global mean leaves zero-mean-template correlations unchanged
        # but shrinks the values the float32 FFT rounds against.
        # Only a constant per channel: subtracting any constant leaves the scores exact
        # (zero-mean templates; the masked formulas carry it along), and one near the mean
        # shrinks the values the float32 FFT rounds against. So ~64 rows suffice. Row-wise
        # sums: reducing a (H*W, C) view over its long axis is a strided loop, 10x slower.
        sample = image[:: max(1, self.height // 64)]
        columns = sample.reshape(sample.shape[0], -1).sum(axis=0, dtype=np.float64)
        self.means = columns.reshape(self.width, self.channels).sum(axis=0) / (
            sample.shape[0] * self.width
        )
        # The constant the running sums are taken about (see _prefix_tasks): the means for
        # float64 data (1e15 + a pattern keeps its pattern), 0 for float32 data, whose float64
        # sums lose nothing that float32 holds (and the fast path keeps OpenCV's raw rule).
        self.offset = self.means if dtype == np.float64 else np.zeros(self.channels)
        self._spectrum: np.ndarray | None = None
        self._prefix: np.ndarray | None = None
        self._complete = False
        self._masked: dict[str, np.ndarray] = {}

    # -- unmasked -------------------------------------------------------------------------
    def ready(self) -> bool:
        return self._complete

    def ensure(self) -> None:
        """Compute the channel spectra and the running sums (once; reused for every template)."""
        if not self.ready():
            sums, ffts, _, _ = self.plan()
            runtime.run_lanes(sums, ffts)
            self._complete = True

    def plan(
        self,
    ) -> tuple[list[Callable[[], None]], list[Callable[[], None]], runtime.Latch, runtime.Latch]:
        """Tasks filling ``_prefix``, ``_spectrum``: ``(sums, ffts, prefix_done, spectrum_done)``.

        ``sums`` computes the running sums, ``ffts`` the spectra (row FFTs of the centred
        channels in row blocks, then column FFTs in column blocks, in place); the latches
        open when each is complete. Empty when already computed. The caller runs the tasks
        (with its own, see :func:`_zncc_scores`) and then sets ``_complete``.
        """
        if self.ready():
            return [], [], runtime.Latch(0), runtime.Latch(0)
        height, width, channels = self.image.shape
        fh, fw = self.fft_shape
        half = fw // 2 + 1
        spectrum = np.empty((channels, fh, half), dtype=np.result_type(self.dtype, np.complex64))
        spectrum[:, height:] = 0  # zero padding below the image
        prefix, prefix_tasks = _prefix_tasks(self.image, offset=self.offset)
        self._spectrum, self._prefix = spectrum, prefix
        n = None if width == fw else fw
        # Unlike the engine's strip FFT: one whole-image spectrum per channel, built in place in
        # row then column blocks that run beside the running sums (run_lanes).

        def rows(c: int, r0: int, r1: int) -> None:
            # Removing each channel's global mean leaves zero-mean-template correlations
            # unchanged but shrinks the values the float32 FFT rounds against.
            centred = np.empty((32, width), dtype=self.dtype)
            for y0 in range(r0, r1, 32):
                y1 = min(r1, y0 + 32)
                part = centred[: y1 - y0]
                np.subtract(self.image[y0:y1, :, c], self.means[c], out=part, casting="unsafe")
                np.fft.rfft(part, n=n, axis=-1, norm="ortho", out=spectrum[c, y0:y1])

        def cols(c: int, c0: int, c1: int) -> None:
            part = spectrum[c, :, c0:c1]
            np.fft.fft(part, axis=0, norm="ortho", out=part)

        prefix_done = runtime.Latch(len(prefix_tasks))
        sums = [runtime.after(task, (), prefix_done) for task in prefix_tasks]
        row_blocks, col_blocks = _chunks(height, 128), _chunks(half, 64)
        spectrum_done = runtime.Latch(channels * len(col_blocks))
        ffts = []
        for c in range(channels):
            rows_done = runtime.Latch(len(row_blocks))
            ffts += [runtime.after(lambda c=c, r=r: rows(c, *r), (), rows_done) for r in row_blocks]
            ffts += [
                runtime.after(lambda c=c, r=r: cols(c, *r), (rows_done,), spectrum_done)
                for r in col_blocks
            ]
        return sums, ffts, prefix_done, spectrum_done

    def terms(self, tpl: np.ndarray, method: str):
        """``(corr, den, add)`` for an unmasked float64 template ``(h, w, C)``.

        ``corr`` = sum_c corr(I_c - mean_c, T_c - mean(T_c)), from the FFT; ``den``/``add`` are
        the window terms of :func:`_stats_tasks` (running sums about ``offset``), computed at
        the same time on another thread.
        """
        self.ensure()
        h, w, channels = tpl.shape
        # About the image's means first (exact: both near them), then its own mean: with
        # 1e15 + a pattern, a mean taken of the raw values is off by the pattern's size.
        tcent = tpl - self.offset
        tmean = tcent.reshape(-1, channels).mean(axis=0)  # about the means
        tzero = tcent - tmean
        tnorm2 = float(np.sum(tzero * tzero))
        tsq = float(np.sum(tpl * tpl))  # raw: ncc and ssd-normed only (ill-posed on offsets)

        (den, add), tasks = _stats_tasks(
            self._prefix.transpose(1, 0, 2),
            h,
            w,
            method=method,
            tmean=tmean,
            tnorm2=tnorm2,
            tsq=tsq,
            dtype=self.dtype,
            offset=self.offset,
            limit=flat_limit(self.dtype, self.height / h),
        )
        corr = _correlate_spectrum(self._spectrum, tzero, self.fft_shape, self.height, self.width)
        if tasks:
            runtime.run_all(tasks)
        return corr, den, add

    # -- masked ---------------------------------------------------------------------------
    def masked_spectrum(self, key: str) -> np.ndarray:
        """float64 spectra of the channels: 'raw' I, 'square' I**2, 'centred' I - mean,
        'square_centred' (I - mean)**2."""
        if key not in self._masked:
            # Unlike the engine: float64 whatever the image dtype (the masked variance cancels).
            img = self.image.astype(np.float64)
            if key in ("centred", "square_centred"):
                img = img - self.means
            if key in ("square", "square_centred"):
                img = img * img
            self._masked[key] = np.stack(
                [_rfft2(img[:, :, c], self.fft_shape) for c in range(self.channels)]
            )
        return self._masked[key]
