"""Collection settings for the package's doctests (tests/conftest.py covers the test files)."""

import importlib.util

# convtool.dask needs the optional dask extra; a base install skips its doctests instead of
# failing to import it (its tests in tests/test_dask.py skip themselves the same way).
collect_ignore = [] if importlib.util.find_spec("dask") else ["convtool/dask.py"]
