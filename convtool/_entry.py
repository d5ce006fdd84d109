"""The console-script entry point: guards start-up, then hands over to :func:`convtool.cli.main`.

Loading numpy, Pillow and rich takes a noticeable moment; a signal in that moment must end the
run quietly (130 for SIGINT, ``128 + signum`` for SIGTERM and SIGHUP), never with a traceback.
Nothing is written yet, so there is nothing to clean up. Must not import anything heavy at module
level (only the standard library): it runs before the rest of convtool loads.
"""

from __future__ import annotations

import signal
import sys

from ._signals import redeliver_swallowed_signals, signal_cause


def _quit(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main() -> None:
    """Install start-up signal handling, load the CLI, run it (see :func:`convtool.cli.main`)."""
    for name in ("SIGTERM", "SIGHUP"):
        signum = getattr(signal, name, None)
        if signum is not None:
            signal.signal(signum, _quit)
    redeliver_swallowed_signals()
    try:
        from .cli import main as cli_main
    except KeyboardInterrupt:
        sys.exit(130)
    except RuntimeError as exc:
        cause = signal_cause(exc)
        if isinstance(cause, KeyboardInterrupt):
            sys.exit(130)
        if cause is None:
            raise
        raise cause from None
    cli_main()
