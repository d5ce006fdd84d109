"""Helpers shared by the hostile-input tests (test_hostile*.py): run the CLI, check errors."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

ROOT = os.geteuid() == 0 if hasattr(os, "geteuid") else False
root_only = pytest.mark.skipif(not ROOT, reason="needs root (device nodes, renaming in /dev)")
# Generous bound on a run that must end by itself: a hang (issue 10, finding 1) is a failure,
# not a wait. No test asserts how fast anything is.
RUN_LIMIT = 120


def convtool(*args, stdin=None, stdout=subprocess.PIPE, input_bytes=None, **kw):
    """Run ``python -m convtool ARGS`` and return the CompletedProcess (bytes)."""
    return subprocess.run(
        [sys.executable, "-m", "convtool", *map(str, args)],
        stdin=stdin,
        stdout=stdout,
        stderr=subprocess.PIPE,
        input=input_bytes,
        timeout=RUN_LIMIT,
        **kw,
    )


def finish(proc, timeout=RUN_LIMIT):
    """``proc.communicate`` that kills the child (and its process group, when it leads one)
    if it outlives ``timeout``: a hang fails the test, never leaves a process behind."""
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_tree(proc)
        proc.communicate()
        pytest.fail(f"{proc.args!r} still running after {timeout} s: killed")


def kill_tree(proc):
    """SIGKILL ``proc`` and, when it leads a process group (``start_new_session``), the group."""
    try:
        if os.getpgid(proc.pid) == proc.pid:
            os.killpg(proc.pid, 9)
            return
    except OSError:
        pass
    proc.kill()


def assert_one_error(proc, code=2):
    """Exit ``code``, stderr is one ``Error:`` line (plus at most a ``Try ...`` hint line)."""
    err = proc.stderr.decode()
    lines = err.splitlines()
    assert proc.returncode == code, (proc.returncode, err)
    assert lines and lines[0].startswith("Error: "), err
    assert len(lines) == 1 or (len(lines) == 2 and lines[1].startswith("Try ")), err
    assert "Traceback" not in err
    return lines[0]


def png(path, h=24, w=32, seed=0):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (h, w), dtype=np.uint8)).save(path)
    return str(path)


def is_png(data: bytes) -> bool:
    return data.startswith(b"\x89PNG\r\n\x1a\n")


def no_parts(directory) -> bool:
    return not [p for p in os.listdir(directory) if p.endswith(".part")]
