"""Hostile use of outputs and streams through the real CLI (subprocesses, real files, signals).

Each test is one finding of issue 10 (or a sibling): special files and links, full disks,
several outputs of one run, signals, closed or gone streams and usage errors end with one
``Error:`` line (exit 2) or quietly, with no half-written file and nothing of the user's
destroyed. Bad input *data* (kernels, images, extreme values) is in test_hostile_input.py.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from _hostile import (
    ROOT,
    RUN_LIMIT,
    assert_one_error,
    convtool,
    finish,
    is_png,
    no_parts,
    png,
    root_only,
)
from PIL import Image

# --- finding 2: special files and links are written into, never replaced ----------------------


@root_only
def test_character_device_output_stays_a_device(tmp_path):
    src = png(tmp_path / "in.png")
    node = tmp_path / "null"
    os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # a private /dev/null
    proc = convtool("filter", src, "-k", "box:3", "-o", node, "--format", "png")
    assert proc.returncode == 0, proc.stderr
    st = os.lstat(node)
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3)
    assert no_parts(tmp_path)


def test_link_to_an_open_descriptor_is_written_into(tmp_path):
    """``-o /dev/stdout``: a link into /proc/self/fd stays a link and the bytes reach stdout."""
    src = png(tmp_path / "in.png")
    link = tmp_path / "stdout"
    link.symlink_to("/proc/self/fd/1")
    proc = convtool("filter", src, "-k", "box:3", "-o", link, "--format", "png")
    assert proc.returncode == 0, proc.stderr
    assert link.is_symlink() and os.readlink(link) == "/proc/self/fd/1"
    assert is_png(proc.stdout)


def test_symlink_is_written_through_to_its_target(tmp_path):
    src = png(tmp_path / "in.png")
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "out.png"
    target.write_bytes(b"old")
    link = tmp_path / "link.png"
    link.symlink_to(target)
    proc = convtool("filter", src, "-k", "box:3", "-o", link)
    assert proc.returncode == 0, proc.stderr
    assert link.is_symlink() and link.resolve() == target.resolve()
    assert is_png(target.read_bytes())
    assert no_parts(tmp_path) and no_parts(tmp_path / "real")


def test_dangling_symlink_creates_its_target(tmp_path):
    src = png(tmp_path / "in.png")
    link = tmp_path / "link.png"
    link.symlink_to("made.png")  # relative, not there yet
    proc = convtool("filter", src, "-k", "box:3", "-o", link)
    assert proc.returncode == 0, proc.stderr
    assert link.is_symlink()
    assert is_png((tmp_path / "made.png").read_bytes())


def test_chain_of_links_is_followed(tmp_path):
    src = png(tmp_path / "in.png")
    target = tmp_path / "out.png"
    target.write_bytes(b"old")
    (tmp_path / "b.png").symlink_to("out.png")
    (tmp_path / "a.png").symlink_to(tmp_path / "b.png")
    proc = convtool("filter", src, "-k", "box:3", "-o", tmp_path / "a.png")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "a.png").is_symlink() and (tmp_path / "b.png").is_symlink()
    assert is_png(target.read_bytes())


def test_symlink_loop_is_one_error(tmp_path):
    src = png(tmp_path / "in.png")
    (tmp_path / "a.png").symlink_to("b.png")
    (tmp_path / "b.png").symlink_to("a.png")
    assert_one_error(convtool("filter", src, "-k", "box:3", "-o", tmp_path / "a.png"))
    assert (tmp_path / "a.png").is_symlink() and no_parts(tmp_path)


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o755])
def test_permission_bits_of_the_target_are_kept(tmp_path, mode):
    src = png(tmp_path / "in.png")
    target = tmp_path / "out.png"
    target.write_bytes(b"old")
    os.chmod(target, mode)
    proc = convtool("filter", src, "-k", "box:3", "-o", target)
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE(os.stat(target).st_mode) == mode
    assert is_png(target.read_bytes())


def test_new_file_gets_the_umask_bits(tmp_path):
    src = png(tmp_path / "in.png")
    target = tmp_path / "out.png"
    proc = convtool("filter", src, "-k", "box:3", "-o", target, preexec_fn=lambda: os.umask(0o027))
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o640


@root_only
def test_owner_of_the_target_is_kept(tmp_path):
    src = png(tmp_path / "in.png")
    target = tmp_path / "out.png"
    target.write_bytes(b"old")
    os.chown(target, 12345, 23456)
    proc = convtool("filter", src, "-k", "box:3", "-o", target)
    assert proc.returncode == 0, proc.stderr
    st = os.stat(target)
    assert (st.st_uid, st.st_gid) == (12345, 23456)


def test_fifo_output_is_written_into(tmp_path):
    src = png(tmp_path / "in.png")
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    received = []

    def reader():
        with open(fifo, "rb") as fh:
            received.append(fh.read())

    thread = threading.Thread(target=reader)
    thread.start()
    proc = convtool("filter", src, "-k", "box:3", "-o", fifo)
    thread.join(RUN_LIMIT)
    assert proc.returncode == 0, proc.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert received and is_png(received[0])
    assert no_parts(tmp_path)


def test_socket_is_not_replaced(tmp_path):
    src = png(tmp_path / "in.png")
    path = tmp_path / "sock.png"
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(path))
        assert_one_error(convtool("filter", src, "-k", "box:3", "-o", path))
        assert stat.S_ISSOCK(os.lstat(path).st_mode)
    finally:
        server.close()
    assert no_parts(tmp_path)


# --- full disk ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["full.png", "full.tif"])
def test_full_device_as_output_file_is_one_error(tmp_path, name):
    src = png(tmp_path / "in.png")
    link = tmp_path / name
    link.symlink_to("/dev/full")
    line = assert_one_error(convtool("filter", src, "-k", "box:3", "-o", link))
    assert "No space left on device" in line
    assert link.is_symlink() and no_parts(tmp_path)


@pytest.mark.parametrize(
    "args",
    [
        ["filter", "{src}", "-k", "box:3", "-o", "-"],
        ["kernels"],
        ["kernels", "gaussian:3"],
        ["kernels", "--json"],
        ["params", "--input", "32x32x3", "-k", "3", "--out-channels", "8"],
        ["params", "--input", "32x32x3", "-k", "3", "--out-channels", "8", "--json"],
        ["find", "{src}", "{tpl}", "--threshold", "-1"],
        ["find", "{src}", "{tpl}", "--threshold", "-1", "--json"],
        ["--help"],
    ],
)
def test_stdout_on_a_full_disk_is_one_error(tmp_path, args):
    src = png(tmp_path / "in.png")
    tpl = tmp_path / "tpl.png"
    Image.open(src).crop((4, 4, 12, 12)).save(tpl)
    args = [a.format(src=src, tpl=tpl) for a in args]
    with open("/dev/full", "wb") as full:
        proc = convtool(*args, stdout=full)
    line = assert_one_error(proc)
    assert "standard output" in line and "No space left on device" in line


@pytest.fixture
def small_disk(tmp_path):
    """A 64 KiB tmpfs (root only): a genuinely full disk, no patched system calls."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)])
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


@root_only
@pytest.mark.parametrize("name", ["out.npy", "out.tif"])  # both laid out, then filled in place
@pytest.mark.parametrize("existing", [False, True])
def test_genuinely_full_disk_is_one_error_and_no_file(tmp_path, small_disk, existing, name):
    src = tmp_path / "in.npy"
    np.save(src, np.random.default_rng(2).random((200, 200)))  # 320 / 80 KB out: no fit
    target = small_disk / name
    if existing:
        target.write_bytes(b"precious")
    proc = convtool("filter", src, "-k", "box:3", "-o", target)
    assert "No space left on device" in assert_one_error(proc)
    assert os.listdir(small_disk) == ([name] if existing else [])
    if existing:
        assert target.read_bytes() == b"precious"


# --- finding 4: a run that fails writes none of its outputs ------------------------------------


def test_find_that_fails_writes_no_heatmap(tmp_path):
    src = png(tmp_path / "in.png")
    tpl = tmp_path / "tpl.png"
    Image.open(src).crop((4, 4, 12, 12)).save(tpl)
    (tmp_path / "ann.png").mkdir()
    heat = tmp_path / "heat.png"
    proc = convtool("find", src, tpl, "--heatmap", heat, "--annotate", tmp_path / "ann.png")
    assert_one_error(proc)
    assert not heat.exists() and no_parts(tmp_path)


def test_find_that_fails_keeps_the_old_heatmap(tmp_path):
    src = png(tmp_path / "in.png")
    tpl = tmp_path / "tpl.png"
    Image.open(src).crop((4, 4, 12, 12)).save(tpl)
    heat = tmp_path / "heat.png"
    heat.write_bytes(b"previous")
    full = tmp_path / "ann.png"
    full.symlink_to("/dev/full")
    proc = convtool("find", src, tpl, "--heatmap", heat, "--annotate", full)
    assert_one_error(proc)
    assert heat.read_bytes() == b"previous" and no_parts(tmp_path)


# --- finding 3: signals remove the temporary file and end quietly ------------------------------

_DRIVER = """
import os, signal, sys
from convtool.cli import main
real_fsync = os.fsync
def fsync(fd):
    os.kill(os.getpid(), signal.{sig})  # a real signal, while the .part file exists
    real_fsync(fd)
os.fsync = fsync
sys.argv = ["convtool", *sys.argv[1:]]
main()
"""


@pytest.mark.parametrize(("sig", "code"), [("SIGTERM", 143), ("SIGHUP", 129), ("SIGINT", 130)])
def test_signal_while_writing_removes_the_part_file(tmp_path, sig, code):
    src = png(tmp_path / "in.png")
    target = tmp_path / "out.png"
    target.write_bytes(b"precious")
    proc = subprocess.run(
        [sys.executable, "-c", _DRIVER.format(sig=sig), "filter", src, "-k", "box:3", "-o", target],
        capture_output=True,
        timeout=RUN_LIMIT,
    )
    assert proc.returncode == code, proc.stderr
    assert proc.stderr == b""
    assert target.read_bytes() == b"precious"
    assert no_parts(tmp_path)


def _slow_filter(tmp_path, side):
    """A filter whose .npy output takes a while to write (tens of MB, fsynced)."""
    src = tmp_path / f"big{side}.npy"
    np.save(src, np.random.default_rng(0).random((side, side, 3), dtype=np.float32))
    target = tmp_path / "out.npy"
    target.write_bytes(b"precious")
    return [sys.executable, "-m", "convtool", "filter", str(src), "-k", "box:3", "-o", str(target)]


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_signal_during_a_real_slow_write(tmp_path, signum, code):
    """SIGTERM/SIGHUP once the .part file is seen: it is removed, the target untouched."""
    for side in (2048, 3072, 4096):
        cmd = _slow_filter(tmp_path, side)
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        seen = False
        while proc.poll() is None:
            if not no_parts(tmp_path):
                proc.send_signal(signum)
                seen = True
                break
            time.sleep(0.0005)
        _, err = finish(proc)
        if seen:
            break
    else:
        pytest.fail("the .part file was never seen while the run lasted")
    assert proc.returncode == code, err
    assert err == b""
    assert (tmp_path / "out.npy").read_bytes() == b"precious"
    assert no_parts(tmp_path)


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_while_computing_ends_quietly(tmp_path, signum, code):
    """The signal is sent once the input is in memory (resident size past the input's size),
    so it lands in decoding or computing; the run ends quietly and writes nothing."""
    for side in (2048, 3072, 4096):
        cmd = _slow_filter(tmp_path, side)
        cmd[cmd.index("box:3")] = "gaussian:8"
        loaded = 2 * side * side * 3 * 4
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        sent = False
        while proc.poll() is None:
            if _rss_bytes(proc.pid) > loaded:
                proc.send_signal(signum)
                sent = True
                break
            time.sleep(0.001)
        _, err = finish(proc)
        if sent:
            break
    else:
        pytest.fail("the run ended before its input was seen in memory")
    assert proc.returncode == code, err
    assert err == b""
    assert (tmp_path / "out.npy").read_bytes() == b"precious"
    assert no_parts(tmp_path)


def _maps_numpy(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/maps") as fh:
            return "numpy" in fh.read()
    except OSError:
        return False


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_during_start_up_ends_quietly(tmp_path, signum, code):
    """Sent while convtool loads its modules (numpy is mapped, the CLI not yet running).

    Earlier than that, in the interpreter's own start-up (``site``), Python answers SIGINT with
    its own fatal-error report: nothing a program can change, so it is not tested here."""
    src = png(tmp_path / "in.png")
    cmd = [sys.executable, "-m", "convtool", "filter", src, "-k", "box:3", "-o", "-"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    while proc.poll() is None and not _maps_numpy(proc.pid):
        time.sleep(0.0005)
    proc.send_signal(signum)
    out, err = finish(proc)
    assert err == b""
    assert proc.returncode == code or (proc.returncode == 0 and is_png(out))


# --- finding 5: closed streams -----------------------------------------------------------------


@pytest.mark.parametrize(
    "args", [["filter", "{src}", "-k", "box:3", "-o", "-"], ["kernels"], ["kernels", "sharpen"]]
)
def test_closed_stdout_is_one_error(tmp_path, args):
    src = png(tmp_path / "in.png")
    args = [a.format(src=src) for a in args]
    proc = subprocess.run(
        [sys.executable, "-m", "convtool", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=RUN_LIMIT,
        preexec_fn=lambda: os.close(1),
    )
    assert "standard output" in assert_one_error(proc)


def test_closed_stdin_is_one_error(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "convtool", "filter", "-", "-k", "box:3", "-o", tmp_path / "o.png"],
        capture_output=True,
        timeout=RUN_LIMIT,
        preexec_fn=lambda: os.close(0),
    )
    assert "standard input" in assert_one_error(proc)
    assert not (tmp_path / "o.png").exists()


# --- finding 8: a reader that leaves early ends the run with status 1, quietly -----------------


def _reader_leaves(args, read=10):
    proc = subprocess.Popen(
        [sys.executable, "-m", "convtool", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.read(read)
    proc.stdout.close()
    _, err = finish(proc)
    return proc.returncode, err


def test_kernels_into_head_exits_1(tmp_path):
    code, err = _reader_leaves(["kernels", "gaussian:150"])
    assert (code, err) == (1, b"")


@pytest.mark.parametrize(
    "args",
    [
        ["params", "--input", "32x32x3", "-k", "3", "--out-channels", "8", "--json"],
        ["kernels", "--json"],
        ["kernels", "sharpen"],
        ["find", "{src}", "{tpl}", "--threshold", "-1", "--top", "50", "--json"],
    ],
)
def test_reader_gone_before_output_exits_1(tmp_path, args):
    src = png(tmp_path / "in.png")
    tpl = tmp_path / "tpl.png"
    Image.open(src).crop((4, 4, 12, 12)).save(tpl)
    args = [a.format(src=src, tpl=tpl) for a in args]
    code, err = _reader_leaves(args, read=0)  # the reader leaves before anything is written
    assert (code, err) == (1, b"")


def test_find_json_many_matches_into_head(tmp_path):
    big = tmp_path / "big.png"
    Image.fromarray(np.tile(np.uint8([[0, 255], [255, 0]]), (32, 32))).save(big)
    tpl = tmp_path / "tpl.png"
    Image.fromarray(np.uint8([[0, 255], [255, 0]])).save(tpl)
    code, err = _reader_leaves(["find", big, tpl, "--top", "5000", "--overlap", "1", "--json"])
    assert (code, err) == (1, b"")


# --- finding 7: every usage error is one Error line first ---------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["filter", "{src}", "-k", "box:3", "-o", "o.png", "--stride", "0"],
        ["filter", "{src}", "-k", "box:3", "-o", "o.png", "--dilation", "0"],
        ["filter", "{src}", "-k", "box:3"],
        ["filter", "{src}", "-k", "box:3", "-o", "o.png", "--border", "bogus"],
        ["find", "{src}", "{tpl}", "--top", "0"],
        ["find", "{src}", "{tpl}", "--threshold", "nan"],
        ["find", "{src}", "{tpl}", "--overlap", "2"],
        ["find", "{src}", "{tpl}", "--method", "foo"],
        ["find", "{src}", "{missing}"],
        ["find", "{src}", "{tpl}", "--mask", "{missing}"],
        ["params", "--input", "32x32x3", "-k", "3", "--out-channels", "0"],
        ["bogus"],
        ["filter", "--no-such-option"],
    ],
)
def test_usage_error_is_one_line_first(tmp_path, args):
    src = png(tmp_path / "in.png")
    tpl = tmp_path / "tpl.png"
    Image.open(src).crop((4, 4, 12, 12)).save(tpl)
    fill = {"src": src, "tpl": tpl, "missing": tmp_path / "nope.png"}
    args = [a.format(**fill) for a in args]
    proc = convtool(*args, cwd=tmp_path)
    line = assert_one_error(proc)
    assert "Usage:" not in proc.stderr.decode()
    assert len(line) > len("Error: ")


def test_unreadable_input_is_one_error(tmp_path):
    src = png(tmp_path / "in.png")
    os.chmod(src, 0)
    if ROOT:  # root reads anything: make it a directory instead
        os.chmod(src, 0o644)
        src = tmp_path / "dir.png"
        src.mkdir()
    assert_one_error(convtool("filter", src, "-k", "box:3", "-o", tmp_path / "o.png"))


def test_json_output_still_parses_after_the_stream_change(tmp_path):
    proc = convtool("params", "--input", "32x32x3", "-k", "3", "--out-channels", "8", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)
