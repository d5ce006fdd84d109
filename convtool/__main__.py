"""``python -m convtool``."""

from .cli import main

main()
