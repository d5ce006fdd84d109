"""Many files in one run: the library the ``filter``/``find`` batch forms (and Dask) wrap.

Owns nothing itself; it gathers :mod:`.plan` (input paths and an output directory or name
template to jobs, clashes refused before any work), :mod:`.work` (the picklable per-file
functions :func:`filter_one` and :func:`find_one`, which never raise: each error comes back as
a one-line :class:`FileResult`) and :mod:`.runner` (:func:`run` over any
``concurrent.futures.Executor``, its own process pool by default).
Must not import: click, rich.

Order: :func:`run` yields results in *input order* (the order of the jobs), so printed lines do
not depend on which worker finished first; ``on_done`` sees them in *completion order*.

Temp files: the one writer (:func:`convtool.images.write_bytes`) writes ``.NAME.XXXXXXXX.part``
beside the target and renames it over ``NAME``. A worker killed mid-write cannot delete its
temp, so once a run's workers are gone :func:`run` removes the temps of that run's targets
(:func:`remove_stale_temps`): a rerun with ``skip_existing`` finds only complete outputs.

Examples
--------
>>> import os, tempfile, numpy as np
>>> from PIL import Image
>>> from convtool.batch import FilterSettings, filter_one, plan_filter, run
>>> from convtool.kernels import parse_kernel
>>> d = tempfile.mkdtemp()
>>> for i in range(3):
...     Image.fromarray(np.full((8, 8), 40 * i, np.uint8)).save(f"{d}/p{i}.png")
>>> settings = FilterSettings((parse_kernel("box:3"),))
>>> jobs = plan_filter([d], d + "/out/{stem}-box.png", settings)
>>> [(r.ok, os.path.basename(r.target)) for r in run(jobs, filter_one, jobs=1)]
[(True, 'p0-box.png'), (True, 'p1-box.png'), (True, 'p2-box.png')]
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

# Names load on first use (PEP 562): a single-file run asks only whether its arguments make a
# batch (``LISTED``, ``is_template``) and should not pay for the runner's multiprocessing.
_EXPORTS = {
    "plan": ("FIELDS", "LISTED", "BatchError", "FilterJob", "FilterSettings", "FindJob",
             "FindSettings", "Source", "check_clashes", "expand_inputs", "is_template",
             "plan_filter", "plan_find", "render_target"),
    "runner": ("KILLED_SUFFIX", "WorkerError", "default_jobs", "remove_stale_temps", "run"),
    "work": ("FileResult", "filter_one", "find_one", "load_template"),
}  # fmt: skip
__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)


if TYPE_CHECKING:
    from .plan import (
        FIELDS,
        LISTED,
        BatchError,
        FilterJob,
        FilterSettings,
        FindJob,
        FindSettings,
        Source,
        check_clashes,
        expand_inputs,
        is_template,
        plan_filter,
        plan_find,
        render_target,
    )
    from .runner import KILLED_SUFFIX, WorkerError, default_jobs, remove_stale_temps, run
    from .work import FileResult, filter_one, find_one, load_template

__all__ = [
    "FIELDS",
    "KILLED_SUFFIX",
    "LISTED",
    "BatchError",
    "FileResult",
    "FilterJob",
    "FilterSettings",
    "FindJob",
    "FindSettings",
    "Source",
    "WorkerError",
    "check_clashes",
    "default_jobs",
    "expand_inputs",
    "filter_one",
    "find_one",
    "is_template",
    "load_template",
    "plan_filter",
    "plan_find",
    "remove_stale_temps",
    "render_target",
    "run",
]
