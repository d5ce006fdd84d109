"""--scheduler values, the missing-extra error, and the executor on a real LocalCluster."""

import concurrent.futures as cf
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from convtool import runtime
from convtool.batch import FileResult
from convtool.cli.batchrun import run_batch
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


class _Executor(cf.Executor):
    """A cluster's executor as the batch runner sees it: ``outcome(job)`` is a FileResult, an
    exception, or None (the job never ends); ``lost()`` as convtool.dask.cluster's."""

    def __init__(self, outcome, lost=None):
        self.outcome, self.lost = outcome, lost or (lambda: None)

    def submit(self, fn, job):
        future = cf.Future()
        result = self.outcome(job)
        if isinstance(result, BaseException):
            future.set_exception(result)
        elif result is not None:
            future.set_result(result)
        return future


def _jobs(tmp_path, n):
    return [SimpleNamespace(index=i, source=f"p{i}.png", target=str(tmp_path / f"o{i}.png"))
            for i in range(n)]  # fmt: skip


class KilledWorker(Exception):  # distributed's is recognised by its name
    pass


def test_a_file_that_kills_its_workers_is_named_and_will_fail_again(tmp_path, capsys):
    def outcome(job):
        if job.index == 1:
            return KilledWorker(
                "Attempted to run task 'filter_one-1f' on 4 different workers, but all those "
                "workers died while computing it. The last worker that attempt to run the task "
                "was tcp://127.0.0.1:40000."
            )
        return FileResult(job.index, os.path.abspath(job.source), job.target)

    tally = run_batch(_jobs(tmp_path, 3), None, workers=None, fail_fast=False, progress=False,
                      quiet=False, verb="filtering", executor=_Executor(outcome))  # fmt: skip
    assert capsys.readouterr().err.splitlines() == [
        "Error: p1.png: killed 4 workers (out of memory?)",
        "processed 2 of 3 files, 1 failed (1 file(s) killed their workers and will fail again)",
    ]
    assert (tally.done, tally.failed) == (2, 1)


def test_every_worker_lost_is_an_error_and_the_disk_is_counted(tmp_path, capsys):
    jobs = _jobs(tmp_path, 4)
    Path(jobs[2].target).write_bytes(b"png")  # written by a worker whose result never came

    def outcome(job):
        return FileResult(job.index, job.source, job.target) if job.index == 0 else None

    executor = _Executor(outcome, lost=lambda: "lost every Dask worker of tcp://h:1")
    tally = run_batch(jobs, None, workers=None, fail_fast=False, progress=False,
                      quiet=False, verb="filtering", executor=executor)  # fmt: skip
    assert capsys.readouterr().err.splitlines() == [
        "Error: lost every Dask worker of tcp://h:1; 2 file(s) not processed",
        "processed 2 of 4 files, 0 failed, 2 not done (lost every Dask worker of tcp://h:1; "
        "rerun with --skip-existing to finish)",
    ]
    assert tally.done == 2
