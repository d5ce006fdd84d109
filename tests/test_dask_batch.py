"""Batch runs on a Dask cluster (--scheduler): same files as --jobs 1, a killed worker, errors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

distributed = pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parents[1]


def _photo(seed: int, h: int = 48, w: int = 64) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def _save(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def _convtool(args, **kw) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [sys.executable, "-m", "convtool", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        **kw,
    )


def _run(args, timeout=180) -> tuple[int, str, str]:
    proc = _convtool(args)
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def _files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2,
        processes=True,
        threads_per_worker=1,
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        yield cluster


@pytest.fixture
def inputs(tmp_path):
    return [_save(tmp_path / "in" / f"p{i:02d}.png", _photo(i)) for i in range(6)]


FILTER = ["-k", "gaussian:1.5", "-k", "sharpen", "--border", "wrap"]


def test_local_scheduler_writes_the_files_of_jobs_1(tmp_path, inputs):
    code, out, err = _run(["filter", tmp_path / "in", *FILTER, "-o", tmp_path / "ref", "-j", "1"])
    assert (code, err) == (0, "processed 6 of 6 files, 0 failed\n")
    code, out, err = _run(
        ["filter", tmp_path / "in", *FILTER, "-o", tmp_path / "dask", "--scheduler", "local:2"]
    )
    assert (code, out) == (0, "")
    assert err.splitlines()[-1] == "processed 6 of 6 files, 0 failed"
    ref, got = _files(tmp_path / "ref"), _files(tmp_path / "dask")
    assert sorted(got) == [f"p{i:02d}.png" for i in range(6)]
    assert got == ref


def test_scheduler_address_runs_find_over_scenes(tmp_path, inputs, cluster):
    scene = _photo(0)
    _save(tmp_path / "logo.png", scene[10:26, 20:36])
    args = ["find", "-t", tmp_path / "logo.png", *inputs[:3], "--json"]
    want = _run([*args, "-j", "1"])
    got = _run([*args, "--scheduler", cluster.scheduler_address])
    assert got == want and want[0] == 0
    assert str(inputs[0]) in want[1]


def _worker_pids(client) -> dict[str, int]:
    return client.run(os.getpid)


def _wait_for(predicate, timeout=60.0):
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.05)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs a FIFO to hold a worker")
def test_worker_killed_mid_file_is_retried_and_every_output_is_whole(tmp_path, cluster):
    n = 8
    files = [_save(tmp_path / "in" / f"p{i:02d}.png", _photo(i)) for i in range(n)]
    ref = tmp_path / "ref"
    assert _run(["filter", tmp_path / "in", *FILTER, "-o", ref, "-j", "1"])[0] == 0
    # p03 becomes a FIFO: the worker that opens it blocks there, in the middle of its file.
    os.unlink(files[3])
    os.mkfifo(files[3])
    out = tmp_path / "out"
    address = cluster.scheduler_address
    proc = _convtool(["filter", tmp_path / "in", *FILTER, "-o", out, "--scheduler", address])
    with distributed.Client(address) as client:
        _wait_for(lambda: out.is_dir() and len(os.listdir(out)) == n - 1)

        def busy() -> list[str]:
            return [w for w, keys in client.processing().items() if keys]

        _wait_for(lambda: len(busy()) == 1)  # the others' results are home: only p03 is left
        pid = _worker_pids(client)[busy()[0]]
        # The real picture takes the FIFO's name; the blocked open keeps waiting on the FIFO.
        os.unlink(files[3])
        _save(files[3], _photo(3))
        (out / ".p03.png.ab12cd34.part").write_bytes(b"half")  # as a killed writer leaves it
        os.kill(pid, signal.SIGKILL)
        _, err = proc.communicate(timeout=120)
        _wait_for(lambda: len(client.scheduler_info()["workers"]) == 2)  # the nanny restarts it
        assert pid not in _worker_pids(client).values()
    assert proc.returncode == 0, err
    assert err.splitlines()[-1] == f"processed {n} of {n} files, 0 failed"
    assert _files(out) == _files(ref)  # each output once, whole, and no temp file left


def test_missing_extra_is_one_line_and_exit_2(tmp_path, inputs):
    code = (
        "import sys\n"
        "sys.modules['distributed'] = None\n"
        "sys.modules['dask'] = None\n"
        "from convtool.cli import main\n"
        f"sys.argv = ['convtool', 'filter', {str(tmp_path / 'in')!r}, '-k', 'box:3',\n"
        f"            '-o', {str(tmp_path / 'out')!r}, '--scheduler', 'local']\n"
        "main()\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr == "Error: --scheduler needs the dask extra: pip install 'convtool[dask]'\n"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--scheduler", "local:0"], "Error: --scheduler local:N needs a worker count N >= 1"),
        (["--scheduler", "local", "--jobs", "2"], "Error: --jobs and --scheduler"),
        (
            ["--scheduler", "local:100000"],
            f"Error: --scheduler local:N allows at most {4 * len(os.sched_getaffinity(0))} "
            "workers here (4 per core), got 'local:100000'",
        ),
        (
            ["--scheduler", "bogus://x"],
            "Error: cannot reach the Dask scheduler bogus://x: unknown address scheme 'bogus'",
        ),
    ],
)
def test_bad_scheduler_options_are_one_line_errors(tmp_path, inputs, extra, message):
    code, out, err = _run(["filter", tmp_path / "in", "-k", "box:3", "-o", tmp_path / "o", *extra])
    assert (code, out) == (2, "")
    assert err.startswith(message) and len(err.splitlines()) == 1


def test_one_input_on_a_cluster_needs_npy_in_and_out(tmp_path, inputs):
    code, out, err = _run(
        ["filter", inputs[0], "-k", "box:3", "-o", tmp_path / "x.png", "--scheduler", "local:1"]
    )
    assert (code, out) == (2, "")
    assert err == (
        "Error: --scheduler with one input splits it in row bands over the cluster: it needs "
        "a .npy input and a .npy or TIFF output (or -o DIR/ to send the file whole to one worker)\n"
    )
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("delay", [0.5, 2.0])
def test_early_ctrl_c_leaves_no_noise(tmp_path, inputs, delay):
    # Issue 30: a SIGINT while the local cluster starts printed `Exception ignored in atexit`.
    proc = _convtool(["filter", tmp_path / "in", "-k", "box:3", "-o", tmp_path / "o",
                      "--scheduler", "local:2"])  # fmt: skip
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    # 130 once convtool's handler is in place; a SIGINT still inside Python's start-up (a
    # loaded machine) ends the process by the signal itself: both are a quiet Ctrl-C.
    assert proc.returncode in (130, -signal.SIGINT)
    assert "Traceback" not in err and "Exception ignored" not in err, err
    assert all(line.startswith("processed ") for line in err.splitlines()), err
