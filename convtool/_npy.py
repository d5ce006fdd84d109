"""Loading ``.npy`` bytes safely, shared by image and kernel files (never unpickles).

Stays outside convtool.images so that kernels can use it without loading Pillow.
Must not import: other convtool modules, click, rich, PIL.
"""

from __future__ import annotations

import io

import numpy as np

NPY_MAGIC = b"\x93NUMPY"


def load_npy(data: bytes, label: str, error: type[ValueError]) -> np.ndarray:
    """Load ``.npy`` bytes with ``allow_pickle=False``, raising ``error`` with a one-line message.

    Examples
    --------
    >>> buf = io.BytesIO()
    >>> np.save(buf, np.eye(2))
    >>> load_npy(buf.getvalue(), "eye.npy", ValueError)
    array([[1., 0.],
           [0., 1.]])
    >>> load_npy(b"hello", "x.npy", ValueError)
    Traceback (most recent call last):
    ...
    ValueError: x.npy: not a .npy file (no NUMPY header)
    """
    if not data.startswith(NPY_MAGIC):
        # np.load would take any other bytes for a pickle and blame allow_pickle.
        raise error(f"{label}: not a .npy file (no NUMPY header)")
    try:
        arr = np.load(io.BytesIO(data), allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise error(f"{label}: .npy holds Python objects; refusing to unpickle") from None
        raise error(f"{label}: not a valid .npy file ({exc})") from None
    except (OSError, EOFError) as exc:
        raise error(f"{label}: truncated or corrupt .npy file ({exc})") from None
    except MemoryError:
        raise error(f"{label}: .npy array too large for the memory available") from None
    except Exception as exc:  # the header parser raises SyntaxError, TokenError, ...
        raise error(f"{label}: not a valid .npy file ({type(exc).__name__}: {exc})") from None
    if not isinstance(arr, np.ndarray):  # .npz archives load as a mapping
        raise error(f"{label}: not a .npy array file")
    return arr
