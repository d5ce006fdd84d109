"""The base install's dependencies and the optional dask extra."""

import subprocess
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def _project():
    return tomllib.loads(PYPROJECT.read_text())["project"]


def _names(requirements):
    return {r.split(";")[0].split("[")[0].split(">")[0].split("=")[0].strip() for r in requirements}


def test_base_install_is_exactly_four_packages():
    assert _names(_project()["dependencies"]) == {"click", "numpy", "pillow", "rich"}


def test_dask_extra_and_test_extra():
    extras = _project()["optional-dependencies"]
    assert _names(extras["dask"]) == {"dask", "distributed"}
    assert any(r.startswith("dask[array]") for r in extras["dask"])
    assert {"dask", "distributed"} <= _names(extras["test"])


def test_zarr_extra_is_the_dask_extra_and_zarr_3():
    extras = _project()["optional-dependencies"]
    assert _names(extras["zarr"]) == {"zarr", "dask", "distributed"}
    assert set(extras["dask"]) <= set(extras["zarr"]) and "zarr>=3" in extras["zarr"]
    assert "zarr" in _names(extras["test"])


def _run(code):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)


def test_importing_convtool_never_imports_dask():
    code = (
        "import sys, convtool, convtool.cli, convtool.chain.memory\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed'))\n"
        "print(loaded)\n"
    )
    proc = _run(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_cluster_and_split_leave_dask_array_unloaded():
    # --scheduler's client and every worker import these: dask.array (with pandas, scipy and
    # xarray where installed) cost each of them about a second at start-up.
    pytest.importorskip("distributed")
    code = (
        "import sys, convtool.dask.cluster, convtool.dask.split, convtool.batch.work\n"
        "print('dask.array' in sys.modules)\n"
        "from convtool import dask as cdask\n"
        "print(callable(cdask.correlate), callable(cdask.to_npy), 'dask.array' in sys.modules)\n"
        "print(set(cdask.__all__) <= set(dir(cdask)))\n"
    )
    proc = _run(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "True", "True", "True", "True"]


def test_convtool_dask_unknown_name_is_an_attribute_error():
    pytest.importorskip("dask")
    import convtool.dask

    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        convtool.dask.nope  # noqa: B018


def test_convtool_dask_without_the_extra_says_how_to_install_it():
    # None in sys.modules makes `import dask` fail as if the package were not installed.
    code = "import sys\nsys.modules['dask'] = None\nimport convtool.dask\n"
    proc = _run(code)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last == ("ImportError: convtool.dask needs the dask extra: pip install 'convtool[dask]'")


def test_zarr_functions_without_zarr_say_how_to_install_it():
    pytest.importorskip("dask")
    code = (
        "import sys\nsys.modules['zarr'] = None\nimport convtool.dask\n"
        "try:\n    convtool.dask.from_zarr('x.zarr')\nexcept ImportError as e:\n    print(e)\n"
        "convtool.dask.to_zarr(None, 'x.zarr')\n"
    )
    proc = _run(code)
    assert proc.returncode != 0
    extra = "needs the zarr extra: pip install 'convtool[zarr]'"
    assert proc.stdout == f"convtool.dask.from_zarr {extra}\n"
    assert proc.stderr.strip().splitlines()[-1] == f"ImportError: convtool.dask.to_zarr {extra}"
