"""What a signal raised, found inside the exception Python wrapped it in.

Owns :func:`signal_cause`, which the start-up guard (:mod:`convtool._entry`) and the CLI's
entry point (:func:`convtool.cli.main`) use. Standard library only: it runs before the rest of
convtool loads. Must not import: anything else of convtool.
"""

from __future__ import annotations

__all__ = ["signal_cause"]


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
