"""``python -m convtool``."""

from ._entry import main

main()
