"""Names a package loads on first use (PEP 562): the one lazy ``__getattr__``.

``convtool``, ``convtool.images``, ``convtool.batch`` and ``convtool.dask`` export names whose
modules are costly to import (numpy, Pillow, the engine, multiprocessing, dask.array); each maps
its names to their modules with :func:`lazy_exports`, so that a command imports only what it
uses.
Must not import: anything but the standard library (``import convtool`` stays instant).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str,
    namespace: dict[str, Any],
    exports: Mapping[str, tuple[str, ...]],
    renamed: Mapping[str, tuple[str, str]] | None = None,
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package`` whose ``exports`` map each submodule to the
    names it defines (``renamed``: exported name -> (submodule, name there)). A name, once
    loaded, is stored in ``namespace`` (the package's globals) and never looked up again.

    Examples
    --------
    >>> space = {}
    >>> getattr_, dir_ = lazy_exports("json", space, {"decoder": ("JSONDecodeError",)})
    >>> getattr_("JSONDecodeError").__name__, "JSONDecodeError" in space
    ('JSONDecodeError', True)
    """
    where = {name: (module, name) for module, names in exports.items() for name in names}
    where.update(renamed or {})

    def __getattr__(name: str) -> Any:
        found = where.get(name)
        if found is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{found[0]}", package), found[1])
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *where})

    return __getattr__, __dir__
