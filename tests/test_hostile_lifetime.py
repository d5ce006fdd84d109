"""Process lifetime under hostile signals (issue 28, finding 1; issue 30, finding 5).

A signal at any moment of a run ends the process within seconds (no thread of the engine's pool
keeps the interpreter from exiting), and the workers of a batch do not outlive a parent that
was killed: a pipeline reader then sees end-of-file.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from _hostile import RUN_LIMIT, finish, kill_tree, no_parts, png

# One process imports convtool once, then forks a child per try that runs the real entry point
# (handlers, writer, exit) on a fresh .npy output; the parent sends SIGTERM after a random
# delay (start-up, reading, computing, the chunked write, the rename, the interpreter's exit)
# and waits at most EXIT_LIMIT seconds for the child, SIGKILLing it past that.
_FORK_DRIVER = r"""
import json, os, random, signal, sys, time
src, target = sys.argv[1], sys.argv[2]
tries, limit, seed = int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
import convtool.cli
rng = random.Random(seed)
results = []
for i in range(tries):
    err = f"{target}.{i}.err"
    with open(target, "wb") as fh:
        fh.write(b"precious")
    open(err, "wb").close()
    pid = os.fork()
    if pid == 0:
        fd = os.open(err, os.O_WRONLY)
        os.dup2(fd, 2)
        sys.argv = ["convtool", "filter", src, "-k", "box:3", "-o", target]
        convtool.cli.main()
    delay = rng.uniform(0.0, 0.25)
    time.sleep(delay)
    os.kill(pid, signal.SIGTERM)
    sent = time.monotonic()
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() - sent > limit:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            status = None
            break
        time.sleep(0.002)
    with open(target, "rb") as fh:
        head = fh.read(8)
    results.append({
        "delay": delay,
        "seconds": time.monotonic() - sent,
        "code": None if status is None else os.waitstatus_to_exitcode(status),
        "stderr": open(err).read(),
        "target": {b"precious": "precious", b"\x93NUMPY\x01\x00": "npy"}.get(head, repr(head)),
    })
    os.unlink(err)
print(json.dumps(results))
"""

EXIT_LIMIT = 5.0


def test_sigterm_at_random_points_always_ends_the_process(tmp_path):
    """50 SIGTERMs at random moments of a run writing a 9 MB .npy: every run ends within
    EXIT_LIMIT seconds, with 143 (or 0 when it finished first), a silent stderr, the target
    either untouched or fully written, and no .part file left."""
    src = tmp_path / "in.npy"
    np.save(src, np.random.default_rng(0).random((768, 1024, 3), dtype=np.float32))
    target = tmp_path / "out.npy"
    proc = subprocess.Popen(
        [sys.executable, "-c", _FORK_DRIVER, str(src), str(target), "50", str(EXIT_LIMIT), "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    out, err = finish(proc)
    assert proc.returncode == 0, err
    results = json.loads(out)
    assert len(results) == 50
    hung = [r for r in results if r["code"] is None]
    assert not hung, hung
    for r in results:
        # -15: the signal came before the entry point installed its handlers (default action).
        assert r["code"] in (143, 0, -signal.SIGTERM), r
        assert r["stderr"] == "", r
        assert r["target"] == ("npy" if r["code"] == 0 else "precious") or (
            r["code"] == 143 and r["target"] in ("npy", "precious")
        ), r
    assert no_parts(tmp_path)
    # The random points did reach into the run, not only its start or its end.
    assert sum(r["code"] == 143 for r in results) >= 10


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
def test_killed_batch_parent_takes_its_workers_along(tmp_path):
    """SIGKILL to a -j 2 batch parent: its workers (and the forkserver) are gone within a few
    seconds, and the reader of its stdout sees end-of-file."""
    inputs = []
    for i in range(6):
        path = tmp_path / f"in{i}.npy"
        np.save(path, np.random.default_rng(i).random((1024, 1024), dtype=np.float32))
        inputs.append(str(path))
    cmd = [sys.executable, "-m", "convtool", "filter", *inputs, "-k", "gaussian:20"]
    cmd += ["-o", str(tmp_path / "out" / "{stem}.npy"), "-j", "2"]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 60
        while len(_descendants(proc.pid)) < 3:  # the forkserver and two workers
            assert proc.poll() is None, "the batch ended before its workers were seen"
            assert time.monotonic() < deadline, "no workers started"
            time.sleep(0.02)
        family = _descendants(proc.pid)
        proc.kill()
        proc.wait(RUN_LIMIT)
        started = time.monotonic()
        while any(_alive(pid) for pid in family) and time.monotonic() - started < 10:
            time.sleep(0.05)
        left = [pid for pid in family if _alive(pid)]
        assert not left, f"still alive {time.monotonic() - started:.1f} s after the parent: {left}"
        # Nothing holds the pipe any more: the reader gets end-of-file.
        os.set_blocking(proc.stdout.fileno(), False)
        proc.stdout.read()
        os.set_blocking(proc.stdout.fileno(), True)
        assert proc.stdout.read() == b""
    finally:
        kill_tree(proc)
        proc.stdout.close()


def test_stale_part_file_of_a_killed_run_is_removed_by_the_next(tmp_path):
    """A SIGKILLed single-file run leaves its .part file; the next run writing that target
    removes it, and leaves alone a newer one and files that only look alike."""
    src = png(tmp_path / "in.png")
    target = tmp_path / "out.png"
    stale = tmp_path / ".out.png.k2j4_x9q.part"
    stale.write_bytes(b"left by a killed run")
    old = time.time() - 60
    os.utime(stale, (old, old))
    lookalikes = [
        tmp_path / ".out.png.k2j4_x9.part",  # 7 characters: not the writer's pattern
        tmp_path / ".other.png.k2j4_x9q.part",  # another target's
        tmp_path / "out.png.k2j4_x9q.part",  # not hidden
    ]
    for path in lookalikes:
        path.write_bytes(b"not ours")
        os.utime(path, (old, old))
    proc = subprocess.run(
        [sys.executable, "-m", "convtool", "filter", src, "-k", "box:3", "-o", target],
        capture_output=True,
        timeout=RUN_LIMIT,
    )
    assert proc.returncode == 0, proc.stderr
    assert not stale.exists()
    assert all(path.exists() for path in lookalikes)


def test_pool_threads_never_hold_the_interpreter_at_exit():
    """The engine's pool threads are daemons: the interpreter's exit never waits for them."""
    from convtool import runtime

    runtime.run_all([lambda: None, lambda: None])
    pool = [t for t in __import__("threading").enumerate() if t.name.startswith("convtool")]
    assert pool or runtime.threads() == 1
    assert all(t.daemon for t in pool)


def test_part_file_newer_than_the_run_is_left_alone(tmp_path, monkeypatch):
    """A temporary file made after this run started belongs to a run still going: kept."""
    from convtool.images import write

    part = tmp_path / ".out.bin.abcd1234.part"
    part.write_bytes(b"another run's")
    monkeypatch.setattr(write, "_STALE", {})
    monkeypatch.setattr(write, "_STARTED", time.time() - 3600)  # this run began before it
    write.write_bytes(b"x", tmp_path / "out.bin")
    assert part.exists()
    monkeypatch.setattr(write, "_STALE", {})
    monkeypatch.setattr(write, "_STARTED", time.time() + 1)  # and now after it
    write.write_bytes(b"y", tmp_path / "out.bin")
    assert not part.exists()
    assert (tmp_path / "out.bin").read_bytes() == b"y"


@pytest.mark.parametrize(("raised", "code"), [(SystemExit(143), 143), (KeyboardInterrupt(), 130)])
def test_a_signal_inside_a_class_being_made_at_start_up_is_a_quiet_exit(monkeypatch, raised, code):
    """Python 3.11 wraps what ``__set_name__`` raises in RuntimeError: the start-up guard
    must still end with the signal's status (it once printed a traceback and exit 1)."""
    import types

    from convtool import _entry

    class Broken(types.ModuleType):
        def __getattr__(self, name):
            raise RuntimeError("Error calling __set_name__ on 'Field' instance") from raised

    monkeypatch.setitem(sys.modules, "convtool.cli", Broken("convtool.cli"))
    monkeypatch.setattr(_entry.signal, "signal", lambda *args: None)  # keep pytest's handlers
    with pytest.raises(SystemExit) as info:
        _entry.main()
    assert info.value.code == code


def test_a_signal_inside_a_lazy_import_of_a_command_is_its_exit_status(monkeypatch):
    """The same wrapping during a command's own lazy import (FilterOptions being made when a
    SIGTERM lands): exit 128 + signum, not a traceback."""
    from convtool import cli
    from convtool.images.write import Terminated

    def wrapped(args):
        raise RuntimeError("Error calling __set_name__") from Terminated(signal.SIGTERM)

    monkeypatch.setattr(cli, "_invoke", wrapped)
    monkeypatch.setattr(cli, "install_signal_handlers", lambda: None)
    monkeypatch.setattr(sys, "argv", ["convtool", "filter"])
    with pytest.raises(SystemExit) as info:
        cli.main()
    assert info.value.code == 128 + signal.SIGTERM


@pytest.mark.parametrize(
    ("raised", "signum"),
    [(KeyboardInterrupt(), signal.SIGINT), (SystemExit(143), signal.SIGTERM), (ValueError(), None)],
)
def test_a_signal_swallowed_as_unraisable_is_sent_again(monkeypatch, raised, signum):
    """A handler's exception inside a weakref callback (importlib's module locks) is only
    printed by Python ("Exception ignored in ..."): the hook sends the signal again instead;
    other unraisable exceptions go to the hook that was there before."""
    import types

    from convtool import _signals
    from convtool.images.write import Terminated

    sent, reported = [], []
    monkeypatch.setattr(_signals.os, "kill", lambda pid, sig: sent.append((pid, sig)))
    started = []
    monkeypatch.setattr(
        _signals.threading,
        "Timer",
        lambda delay, fn, args: types.SimpleNamespace(
            daemon=False, start=lambda: started.append(delay) or fn(*args)
        ),
    )
    monkeypatch.setattr(_signals, "_previous", reported.append)
    hook = types.SimpleNamespace(exc_value=raised)
    _signals._unraisable(hook)
    _signals._unraisable(types.SimpleNamespace(exc_value=Terminated(signal.SIGHUP)))
    expected = [] if signum is None else [(os.getpid(), signum)]
    assert sent == [*expected, (os.getpid(), signal.SIGHUP)]
    assert reported == ([hook] if signum is None else [])
