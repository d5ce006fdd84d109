"""convtool on a real distributed cluster: a `dask scheduler` and two nanny worker processes.

The cluster is started by this module (subprocesses on 127.0.0.1, in a directory of their
own) and killed at the end. Inputs are tiny: the cluster's start-up is most of the time.
The last test kills the scheduler in the middle of a run.
"""

from __future__ import annotations

import json
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
da = pytest.importorskip("dask.array")

import convtool  # noqa: E402
from convtool import dask as cdask  # noqa: E402
from convtool import runtime  # noqa: E402
from convtool.chain.memory import FilterOptions, apply_chain  # noqa: E402
from convtool.dask import split  # noqa: E402
from convtool.dask.cluster import scheduler_executor  # noqa: E402
from convtool.kernels import parse_kernel  # noqa: E402

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, PYTHONPATH=str(ROOT))


def _start(args, cwd: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        args,
        cwd=cwd,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=open(log, "wb"),
        start_new_session=True,  # its own group: the nanny's worker processes die with it
    )


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """(scheduler address, scheduler process): 2 single-threaded workers, each with a nanny,
    started in a directory of their own (relative paths of a run elsewhere mean nothing there)."""
    home = tmp_path_factory.mktemp("workers-home")
    info = home / "scheduler.json"
    dask = str(Path(sys.executable).with_name("dask"))
    scheduler = _start(
        [dask, "scheduler", "--host", "127.0.0.1", "--port", "0",
         "--dashboard-address", "127.0.0.1:0", "--scheduler-file", str(info)],
        home, home / "scheduler.log",
    )  # fmt: skip
    workers = None
    try:
        end = time.monotonic() + 60
        while not info.exists() or not info.read_text().strip():
            assert time.monotonic() < end and scheduler.poll() is None, "no scheduler"
            time.sleep(0.1)
        address = json.loads(info.read_text())["address"]
        workers = _start(
            [dask, "worker", address, "--nworkers", "2",
             "--nthreads", "1", "--nanny", "--no-dashboard"],
            home, home / "workers.log",
        )  # fmt: skip
        with distributed.Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=90)
        yield address, scheduler
    finally:
        for proc in (workers, scheduler):
            if proc is not None:
                _kill(proc)


def _convtool(args, cwd, timeout=120) -> tuple[int, str, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "convtool", *map(str, args)],
        cwd=cwd, env=ENV, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    return proc.returncode, proc.stdout, proc.stderr


def _photos(directory: Path, n: int, h: int = 24, w: int = 32) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        rng = np.random.default_rng(i)
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(
            directory / f"p{i:02d}.png"
        )


def _files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_relative_paths_from_another_directory_and_the_dashboard_link(tmp_path, cluster):
    address, _ = cluster
    _photos(tmp_path / "in", 6)
    args = ["filter", "in", "-k", "gaussian:1", "-o"]
    assert _convtool([*args, "ref", "-j", "1"], tmp_path)[0] == 0
    code, out, err = _convtool([*args, "out", "--scheduler", address, "-v"], tmp_path)
    assert (code, out) == (0, ""), err
    lines = err.splitlines()
    assert lines[0].startswith("Dask dashboard: http://127.0.0.1:")
    assert lines[-1] == "processed 6 of 6 files, 0 failed"
    assert not any("Traceback" in line or "distributed." in line for line in lines)
    assert _files(tmp_path / "out") == _files(tmp_path / "ref")


def test_every_worker_is_set_up_as_a_jobs_worker(cluster):
    address, _ = cluster
    with scheduler_executor(address) as executor:
        client = executor.client
        # The nanny sets these in each worker's environment; the plugin takes them out.
        names = ("MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                 "MKL_NUM_THREADS")  # fmt: skip
        env = client.run(lambda: [os.environ.get(k) for k in names])
        threads = client.run(runtime.threads)
    assert list(env.values()) == [[None] * 4, [None] * 4]
    # Two single-threaded workers on this host share its cores.
    assert set(threads.values()) == {max(1, len(os.sched_getaffinity(0)) // 2)}


def test_one_big_npy_is_split_over_both_workers(tmp_path, cluster):
    address, _ = cluster
    image = np.random.default_rng(1).random((120, 50, 3)).astype(np.float32)
    np.save(tmp_path / "big.npy", image)
    steps = [parse_kernel("gaussian:1.5"), parse_kernel("sharpen")]
    opts = FilterOptions(border="mirror", strategy="direct")  # exact whatever the bands
    with scheduler_executor(address) as executor:
        done = split.filter_split(tmp_path / "big.npy", tmp_path / "out.npy", steps, opts,
                                  executor, workers=2, band_rows=8)  # fmt: skip
    assert done.tasks == 8 and len({pid for _, pid in done.workers}) == 2
    want = apply_chain(image, steps, FilterOptions(border="mirror", strategy="direct"))
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), want)


def test_one_big_npy_through_the_cli_is_the_local_file(tmp_path, cluster):
    address, _ = cluster
    rng = np.random.default_rng(2)
    np.save(tmp_path / "big.npy", rng.integers(0, 256, (1000, 1500, 3), dtype=np.uint8))
    args = ["filter", "big.npy", "-k", "gaussian:2", "-k", "sobel", "--values", "abs", "-o"]
    assert _convtool([*args, "ref.npy"], tmp_path) == (0, "", "")
    # Relative paths, run from the input's directory: the workers live elsewhere.
    assert _convtool([*args, "out.npy", "--scheduler", address], tmp_path) == (0, "", "")
    assert (tmp_path / "out.npy").read_bytes() == (tmp_path / "ref.npy").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.npy", "out.npy", "ref.npy"]


def test_one_big_npy_into_a_tiff_is_the_local_file(tmp_path, cluster):
    address, _ = cluster
    rng = np.random.default_rng(8)
    np.save(tmp_path / "big.npy", rng.random((1100, 900, 3), dtype=np.float32))
    args = ["filter", "big.npy", "-k", "gaussian:2", "-k", "sharpen", "-o"]
    assert _convtool([*args, "ref.tif"], tmp_path) == (0, "", "")
    assert _convtool([*args, "out.tif", "--scheduler", address], tmp_path) == (0, "", "")
    assert (tmp_path / "out.tif").read_bytes() == (tmp_path / "ref.tif").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.npy", "out.tif", "ref.tif"]
    with Image.open(tmp_path / "out.tif") as img:  # 16-bit RGB: Pillow reads the tags
        assert (img.size, img.tag_v2[258], img.tag_v2[259]) == ((900, 1100), (16, 16, 16), 1)


def test_storage_round_trips_and_the_readme_example(tmp_path, cluster):
    address, _ = cluster
    rng = np.random.default_rng(3)
    image = rng.random((70, 45)).astype(np.float32)
    np.save(tmp_path / "in.npy", image)
    with distributed.Client(address):
        lazy = cdask.from_npy(tmp_path / "in.npy", chunks=(16, 20))
        assert lazy.chunks[0][:2] == (16, 16)
        np.testing.assert_array_equal(lazy.compute(), image)
        steps = [parse_kernel("gaussian:2")]
        cdask.to_npy(cdask.apply_chain(lazy, steps, FilterOptions()), tmp_path / "out.npy")
        want = apply_chain(image, steps, FilterOptions())
        np.testing.assert_allclose(np.load(tmp_path / "out.npy"), want, rtol=1e-5, atol=1e-6)

        rgb = rng.integers(0, 256, (33, 21, 3), dtype=np.uint8)
        grey16 = rng.integers(0, 65536, (33, 21), dtype=np.uint16)
        for name, pixels in (("rgb.tif", rgb), ("grey16.tif", grey16)):
            cdask.to_tiff(da.from_array(pixels, chunks=(10, 8, 3)[: pixels.ndim]), tmp_path / name)
            with Image.open(tmp_path / name) as img:  # an independent reader
                np.testing.assert_array_equal(np.asarray(img), pixels)
            back = cdask.from_tiff(tmp_path / name, chunks=(7, 21, 3)[: pixels.ndim])
            np.testing.assert_array_equal(back.compute(), pixels)


def test_zarr_round_trip_written_by_the_worker_processes(tmp_path, cluster):
    zarr = pytest.importorskip("zarr")
    address, _ = cluster
    image = np.random.default_rng(7).random((90, 64)).astype(np.float32)
    np.save(tmp_path / "in.npy", image)
    steps = [parse_kernel("gaussian:1.5")]
    want = apply_chain(image, steps, FilterOptions(strategy="direct"))
    with distributed.Client(address) as client:
        lazy = cdask.apply_chain(cdask.from_npy(tmp_path / "in.npy", chunks=(20, 32)), steps,
                                 FilterOptions(strategy="direct"))  # fmt: skip
        with distributed.get_task_stream(client) as stream:
            cdask.to_zarr(lazy, tmp_path / "out.zarr")
        # The chunk files are written by both worker processes (not by this one).
        assert len(set(client.run(os.getpid).values())) == 2
        assert len({task["worker"] for task in stream.data if "store" in task["key"][0]}) == 2
        back = cdask.from_zarr(tmp_path / "out.zarr")
        assert back.chunks == ((20, 20, 20, 20, 10), (32, 32))
        np.testing.assert_array_equal(back.compute(), want)
    # Read here too, from the chunk files the workers wrote.
    np.testing.assert_array_equal(zarr.open_array(tmp_path / "out.zarr", mode="r")[:], want)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.npy", "out.zarr"]


def test_twenty_crops_computed_one_by_one(tmp_path, cluster):
    address, _ = cluster
    image = np.random.default_rng(4).random((64, 48)).astype(np.float32)
    np.save(tmp_path / "in.npy", image)
    kernel = np.random.default_rng(5).random((5, 5))
    want = convtool.correlate(image, kernel, border="mirror", strategy="direct")
    lazy = cdask.correlate(
        cdask.from_npy(tmp_path / "in.npy", chunks=(16, 16)), kernel, border="mirror",
        strategy="direct",
    )  # fmt: skip
    assert not any("take" in name for name in lazy.dask.layers)
    rng = np.random.default_rng(6)
    with distributed.Client(address):
        for _ in range(20):
            y, x = int(rng.integers(0, 56)), int(rng.integers(0, 40))
            np.testing.assert_array_equal(
                lazy[y : y + 8, x : x + 8].compute(), want[y : y + 8, x : x + 8]
            )


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs to hold the workers")
def test_scheduler_killed_mid_run_is_one_error_and_a_true_summary(tmp_path, cluster):
    """Runs last: it kills the module's scheduler."""
    address, scheduler = cluster
    n = 12
    _photos(tmp_path / "in", n)
    for i in (7, 8):  # both workers block on these, the files after them wait
        os.unlink(tmp_path / "in" / f"p{i:02d}.png")
        os.mkfifo(tmp_path / "in" / f"p{i:02d}.png")
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "convtool", "filter", "in", "-k", "box:3", "-o", "out",
         "--scheduler", address],
        cwd=tmp_path, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        end = time.monotonic() + 60
        while not (out.is_dir() and len(os.listdir(out)) >= 5):
            assert time.monotonic() < end and proc.poll() is None
            time.sleep(0.05)
        time.sleep(1.0)  # the workers reach the FIFOs
        os.kill(scheduler.pid, signal.SIGKILL)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    on_disk = sorted(p.name for p in out.iterdir())
    assert proc.returncode == 2, err
    lines = err.splitlines()
    assert not any("Traceback" in line for line in lines), err
    assert len(lines) == 2, err
    missing = n - len(on_disk)
    assert lines[0] == f"Error: lost the Dask scheduler {address}; {missing} file(s) not processed"
    assert lines[1] == (
        f"processed {len(on_disk)} of {n} files, 0 failed, {missing} not done (lost the Dask "
        f"scheduler {address}; rerun with --skip-existing to finish)"
    )
    assert 5 <= len(on_disk) < n and all(name.endswith(".png") for name in on_disk)
