"""FFT correlation of the matcher: spectra of image planes and "valid" correlations from them.

Owns: :func:`_rfft2`, :func:`_kernel_spectrum`, :func:`_valid_inverse`,
:func:`_correlate_spectrum` and :func:`_correlate_each`. The transform sizes come from the
engine's :func:`convtool.engine.next_fast_len`; the engine's own FFT path
(``convtool.engine._fft_primitive``) is overlap-save over row strips of a padded image and
does not fit here, for the reasons noted at each function.

Must not import: the CLI, :mod:`convtool.images`, click, rich, PIL; of the matcher only
:mod:`.windows`.
"""

from __future__ import annotations

import math

import numpy as np

from .. import runtime
from .windows import _halves


def _rfft2(plane: np.ndarray, fft_shape: tuple[int, int]) -> np.ndarray:
    """Spectrum of one real ``(h, w)`` plane zero-padded to ``fft_shape``, ``norm="ortho"``.

    ``norm="ortho"`` on purpose: numpy 2.4's pocketfft runs the unscaled directions (forward
    with the default norm) several times slower than scaled ones on this kind of machine.
    Large planes are split in halves (rows, then columns) over two threads.
    """
    # Unlike the engine (overlap-save strips, spectrum dropped per strip): the whole image is
    # transformed once and its spectrum kept, for every template scale and angle.
    height, width = plane.shape
    fh, fw = fft_shape
    half = fw // 2 + 1
    # complex128 for the float64 planes of the masked sums (see masked.py).
    dtype = np.result_type(plane.dtype, np.complex64)
    rows = np.empty((height, half), dtype=dtype)
    spectrum = np.empty((fh, half), dtype=dtype)
    n = None if width == fw else fw

    def row_part(r0: int, r1: int) -> None:
        np.fft.rfft(plane[r0:r1], n=n, axis=-1, norm="ortho", out=rows[r0:r1])

    def col_part(c0: int, c1: int) -> None:
        m = None if height == fh else fh
        np.fft.fft(rows[:, c0:c1], n=m, axis=0, norm="ortho", out=spectrum[:, c0:c1])

    big = plane.size >= 1 << 18
    runtime.run_all([lambda r=r: row_part(*r) for r in (_halves(height) if big else [(0, height)])])
    runtime.run_all([lambda c=c: col_part(*c) for c in (_halves(half) if big else [(0, half)])])
    return spectrum


def _kernel_spectrum(plane: np.ndarray, fft_shape: tuple[int, int], real: np.dtype) -> np.ndarray:
    """Conjugate spectrum of one template plane, scaled so that products invert to plain
    correlations (ortho transforms: a factor sqrt(N) on the template)."""
    gain = math.sqrt(fft_shape[0] * fft_shape[1])
    # Unlike the engine (gain on the spectrum): scaled before the transform, in `real`.
    spectrum = _rfft2((plane * gain).astype(real), fft_shape)
    return np.conjugate(spectrum, out=spectrum)


def _valid_inverse(
    cross: np.ndarray, fft_shape: tuple[int, int], out_h: int, out_w: int
) -> np.ndarray:
    """The valid ``(out_h, out_w)`` corner of the inverse transform of ``cross`` (consumed)."""
    real = cross.real.dtype
    # Unlike the engine (irfft of whole strips): columns first (complex, only the valid rows
    # are kept), then rows (real output).
    cols = np.empty((fft_shape[0], cross.shape[1]), dtype=cross.dtype)
    full = np.empty((out_h, fft_shape[1]), dtype=real)

    def col_part(c0: int, c1: int) -> None:
        np.fft.ifft(cross[:, c0:c1], axis=0, norm="ortho", out=cols[:, c0:c1])

    def row_part(r0: int, r1: int) -> None:
        np.fft.irfft(cols[r0:r1], n=fft_shape[1], axis=-1, norm="ortho", out=full[r0:r1])

    runtime.run_all([lambda c=c: col_part(*c) for c in _halves(cross.shape[1])])
    runtime.run_all([lambda r=r: row_part(*r) for r in _halves(out_h)])
    return full[:, :out_w]


def _correlate_spectrum(
    spectrum: np.ndarray, templ: np.ndarray, fft_shape: tuple[int, int], height: int, width: int
) -> np.ndarray:
    """Valid cross-correlation summed over channels: ``sum_c corr(image_c, templ_c)``.

    ``spectrum`` is ``(C, *fft_shape)`` from :func:`_rfft2`. Circular correlation of a size at
    least the image's has no wrap-around in the valid region, so no padding by the template
    size is needed; the channel sum is taken on the spectra (one inverse FFT).
    """
    h, w, channels = templ.shape
    real = spectrum.real.dtype
    cross = None
    for c in range(channels):
        tspec = _kernel_spectrum(templ[:, :, c], fft_shape, real)
        np.multiply(tspec, spectrum[c], out=tspec)
        if cross is None:
            cross = tspec
        else:
            cross += tspec
    return _valid_inverse(cross, fft_shape, height - h + 1, width - w + 1)


def _correlate_each(
    spectrum: np.ndarray, plane: np.ndarray, fft_shape: tuple[int, int], height: int, width: int
) -> list[np.ndarray]:
    """``[corr(image_c, plane) for each channel c]``: one kernel spectrum for all channels."""
    h, w = plane.shape
    kernel = _kernel_spectrum(plane, fft_shape, spectrum.real.dtype)
    return [
        _valid_inverse(spectrum[c] * kernel, fft_shape, height - h + 1, width - w + 1)
        for c in range(spectrum.shape[0])
    ]
