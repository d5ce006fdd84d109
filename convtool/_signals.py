"""Signals whose exceptions Python wrapped (RuntimeError) or swallowed (unraisable).

Owns :func:`signal_cause` and :func:`redeliver_swallowed_signals`, which the start-up guard
(:mod:`convtool._entry`) and the CLI's signal handlers (:mod:`convtool.images.write`) use.
Standard library only: it runs before the rest of convtool loads. Must not import: anything
else of convtool.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

__all__ = ["redeliver_swallowed_signals", "signal_cause"]


def signal_cause(exc: BaseException) -> BaseException | None:
    """The signal's exception (SystemExit, KeyboardInterrupt, the CLI's Terminated: anything
    not an ``Exception``) that ``exc`` wraps, or None.

    Python 3.11 wraps what ``__set_name__`` raises in RuntimeError: a signal landing while a
    dataclass was being made (an import at start-up, or a command's lazy import) came out as a
    traceback and exit 1.

    Examples
    --------
    >>> try:
    ...     raise RuntimeError("Error calling __set_name__") from KeyboardInterrupt()
    ... except RuntimeError as exc:
    ...     type(signal_cause(exc)).__name__
    'KeyboardInterrupt'
    >>> signal_cause(RuntimeError("plain")) is None
    True
    """
    cause = exc.__cause__
    while cause is not None and isinstance(cause, Exception):
        cause = cause.__cause__
    return cause


def _signum(exc: BaseException) -> int | None:
    """The signal a signal handler's exception stands for (None: not one)."""
    if isinstance(exc, KeyboardInterrupt):
        return int(signal.SIGINT)
    if isinstance(exc, SystemExit) and isinstance(exc.code, int) and exc.code > 128:
        return exc.code - 128
    return getattr(exc, "signum", None)


def _unraisable(unraisable) -> None:
    signum = _signum(unraisable.exc_value) if unraisable.exc_value is not None else None
    if signum is None:
        _previous(unraisable)
        return
    # From another thread, a moment later: sent from here, the handler would run at once,
    # still inside this hook, and its exception would be swallowed again.
    timer = threading.Timer(0.01, os.kill, (os.getpid(), signum))
    timer.daemon = True
    timer.start()


_previous = sys.unraisablehook


def redeliver_swallowed_signals() -> None:
    """Send a signal again when the exception its handler raised was swallowed.

    A handler that raises runs in whatever the main thread is doing; inside a weakref callback
    (importlib's module locks) Python cannot raise, prints ``Exception ignored in ...`` and goes
    on: a SIGTERM during an import printed that and the run ended 0. The unraisable hook sends
    the signal again a moment later, so the handler runs once more where the exception can
    unwind; other unraisable exceptions are reported as before.

    Examples
    --------
    >>> redeliver_swallowed_signals()
    >>> sys.unraisablehook is _unraisable
    True
    >>> sys.unraisablehook = _previous
    """
    sys.unraisablehook = _unraisable
