"""--scheduler values, the missing-extra error, and the executor on a real LocalCluster."""

import os
import subprocess
import sys

import pytest

from convtool import runtime
from convtool.cli.scheduler import MISSING_EXTRA
from convtool.dask.cluster import (
    WORKERS_PER_CORE,
    SchedulerError,
    parse_scheduler,
    scheduler_executor,
)


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("local", ("local", None)),
        ("local:3", ("local", 3)),
        (" local:1 ", ("local", 1)),
        ("tcp://10.1.2.3:8786", ("tcp://10.1.2.3:8786", None)),
        ("scheduler.example:8786", ("scheduler.example:8786", None)),
    ],
)
def test_parse_scheduler(text, want):
    assert parse_scheduler(text) == want


@pytest.mark.parametrize("text", ["", "local:0", "local:two", "local:", "local:-1"])
def test_bad_scheduler_values_are_one_line_errors(text):
    with pytest.raises(SchedulerError) as info:
        parse_scheduler(text)
    assert "\n" not in str(info.value) and "--scheduler" in str(info.value)


def test_missing_distributed_is_an_import_error():
    # None in sys.modules makes the import fail as if the package were not installed.
    code = (
        "import sys\n"
        "sys.modules['distributed'] = None\n"
        "from convtool.dask.cluster import scheduler_executor\n"
        "try:\n"
        "    with scheduler_executor('local:1'):\n"
        "        pass\n"
        "except ImportError as exc:\n"
        "    print('ImportError')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ImportError"
    assert MISSING_EXTRA == "--scheduler needs the dask extra: pip install 'convtool[dask]'"


def test_local_worker_count_is_bounded_by_the_cores():
    most = WORKERS_PER_CORE * len(os.sched_getaffinity(0))
    assert parse_scheduler(f"local:{most}") == ("local", most)
    with pytest.raises(SchedulerError) as info:
        parse_scheduler(f"local:{most + 1}")
    assert str(info.value) == (
        f"--scheduler local:N allows at most {most} workers here ({WORKERS_PER_CORE} per "
        f"core), got 'local:{most + 1}'"
    )


def test_local_cluster_executor_runs_jobs_in_worker_processes():
    pytest.importorskip("distributed")
    with scheduler_executor("local:2") as executor:
        pids = {executor.submit(os.getpid).result() for _ in range(6)}
        threads = executor.submit(runtime.threads).result()
        trim = executor.submit(os.environ.get, "MALLOC_TRIM_THRESHOLD_").result()
    assert os.getpid() not in pids and 1 <= len(pids) <= 2
    # Two workers share the cores: each engine gets its part, at least one thread.
    assert threads == max(1, len(os.sched_getaffinity(0)) // 2)
    # glibc's usual malloc, as in the local pool (distributed would set a trim threshold).
    assert trim is None
