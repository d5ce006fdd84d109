"""Hostile input through the real CLI (subprocesses, real files, real signals).

Each test is one finding of issue 10 (or a sibling): no hang, no traceback, one ``Error:`` line
with exit status 2, no half-written file and nothing of the user's destroyed.
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


def test_full_device_as_output_file_is_one_error(tmp_path):
    src = png(tmp_path / "in.png")
    link = tmp_path / "full.png"
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
@pytest.mark.parametrize("existing", [False, True])
def test_genuinely_full_disk_is_one_error_and_no_file(tmp_path, small_disk, existing):
    src = tmp_path / "in.npy"
    np.save(src, np.random.default_rng(2).random((200, 200)))  # 320 KB out: does not fit
    target = small_disk / "out.npy"
    if existing:
        target.write_bytes(b"precious")
    proc = convtool("filter", src, "-k", "box:3", "-o", target)
    assert "No space left on device" in assert_one_error(proc)
    assert os.listdir(small_disk) == (["out.npy"] if existing else [])
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
        _, err = proc.communicate(timeout=RUN_LIMIT)
        if seen:
            break
    else:
        pytest.fail("the .part file was never seen while the run lasted")
    assert proc.returncode == code, err
    assert err == b""
    assert (tmp_path / "out.npy").read_bytes() == b"precious"
    assert no_parts(tmp_path)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_while_computing_ends_quietly(tmp_path, signum, code):
    cmd = _slow_filter(tmp_path, 2048)
    cmd[cmd.index("box:3")] = "gaussian:8"
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(1.0)  # well into start-up or the computation; either must end quietly
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=RUN_LIMIT)
    assert proc.returncode in (code, -signum), err
    assert b"Traceback" not in err and b"KeyboardInterrupt" not in err
    assert (tmp_path / "out.npy").read_bytes() == b"precious"
    assert no_parts(tmp_path)


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
    err = proc.stderr.read()
    proc.wait(RUN_LIMIT)
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
        [],
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


# --- finding 1: weights beyond float32 are an error naming the tap, never a hang ---------------


@pytest.mark.parametrize(
    ("name", "text", "tap"),
    [
        ("k.txt", "1e39\n", "row 1, column 1"),
        ("k.txt", "1 2 3\n4 5 -1e39\n", "row 2, column 3"),
        ("k.json", "[[1e39]]", "row 1, column 1"),
        ("k.json", '{"weights": [[0, 1], [2, 4e38]]}', "row 2, column 2"),
        ("k.json", "[[[1, 2]], [[3, 5e38]]]", "index [1, 0, 1]"),
    ],
)
def test_weight_beyond_float32_names_the_tap(tmp_path, name, text, tap):
    src = png(tmp_path / "in.png", 1, 1)
    kernel = tmp_path / name
    kernel.write_text(text)
    line = assert_one_error(convtool("filter", src, "-k", kernel, "-o", tmp_path / "o.png"))
    assert tap in line and "float32" in line
    assert not (tmp_path / "o.png").exists()


def test_npy_weight_beyond_float32_is_an_error(tmp_path):
    src = png(tmp_path / "in.png", 1, 1)
    kernel = tmp_path / "k.npy"
    np.save(kernel, np.array([[1.0, 1e300]]))
    line = assert_one_error(convtool("filter", src, "-k", kernel, "-o", tmp_path / "o.png"))
    assert "row 1, column 2" in line


@pytest.mark.parametrize("spec", ["unsharp:1,1e308", "unsharp:1,1e39"])
def test_named_kernel_beyond_float32_is_an_error(tmp_path, spec):
    src = png(tmp_path / "in.png", 1, 1)
    line = assert_one_error(convtool("filter", src, "-k", spec, "-o", tmp_path / "o.png"))
    assert "float32" in line


@pytest.mark.parametrize(
    "bias", ["1e39", "[1e39]", "1" + "0" * 400, "[1" + "0" * 400 + "]", "-1e39"]
)
def test_json_bias_beyond_float32_is_an_error(tmp_path, bias):
    src = png(tmp_path / "in.png", 1, 1)
    kernel = tmp_path / "k.json"
    kernel.write_text('{"weights": [[1]], "bias": ' + bias + "}")
    line = assert_one_error(convtool("filter", src, "-k", kernel, "-o", tmp_path / "o.png"))
    assert "bias" in line


# --- finding 5: JSON numbers and nesting beyond what Python or numpy hold ----------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[[1" + "0" * 400 + "]]", "too large"),
        ("[[1" + "0" * 5000 + "]]", "digits"),
        ("[" * 100000, "nested too deeply"),
        ("[" * 100 + "1" + "]" * 100, "levels deep"),
        ("[" * 70 + "1" + "]" * 70, "levels deep"),
        ("[" * 40 + "1" + "]" * 40, "levels deep"),
        ("[[[[[1]]]]]", "got 5-D"),
    ],
)
def test_json_kernel_extremes_are_one_error(tmp_path, text, words):
    src = png(tmp_path / "in.png", 1, 1)
    kernel = tmp_path / "k.json"
    kernel.write_text(text)
    line = assert_one_error(convtool("filter", src, "-k", kernel, "-o", tmp_path / "o.png"))
    assert words in line


def test_huge_dilation_is_a_usage_error(tmp_path):
    src = png(tmp_path / "in.png")
    args = ("filter", src, "-k", "box:3", "--dilation", "9" * 20, "-o", tmp_path / "o.png")
    assert "--dilation" in assert_one_error(convtool(*args))


@pytest.mark.parametrize("scales", ["1e308", "1e308,1e300", "1e-308"])
def test_extreme_scales_are_one_error_or_a_result(tmp_path, scales):
    src = png(tmp_path / "in.png")
    tpl = tmp_path / "tpl.png"
    Image.open(src).crop((4, 4, 12, 12)).save(tpl)
    proc = convtool("find", src, tpl, "--scales", scales)
    if proc.returncode != 0:
        assert_one_error(proc, code=proc.returncode if proc.returncode == 1 else 2)


# --- finding 10: kernel files obey the generated kernels' size limit ---------------------------


def test_oversized_text_kernel_is_refused_at_once(tmp_path):
    from convtool.kernels import MAX_KERNEL_SIDE

    src = png(tmp_path / "in.png", 48, 64)
    kernel = tmp_path / "k.txt"
    side = MAX_KERNEL_SIDE + 1
    kernel.write_text(("1 " * side + "\n") * side)
    line = assert_one_error(convtool("filter", src, "-k", kernel, "-o", tmp_path / "o.png"))
    assert f"{MAX_KERNEL_SIDE}x{MAX_KERNEL_SIDE}" in line


@pytest.mark.parametrize("suffix", [".json", ".npy"])
def test_oversized_kernel_files_are_refused(tmp_path, suffix):
    from convtool.kernels import MAX_KERNEL_SIDE

    src = png(tmp_path / "in.png", 8, 8)
    kernel = tmp_path / f"k{suffix}"
    weights = np.ones((1, MAX_KERNEL_SIDE + 1))
    if suffix == ".npy":
        np.save(kernel, weights)
    else:
        kernel.write_text(json.dumps(weights.tolist()))
    line = assert_one_error(convtool("filter", src, "-k", kernel, "-o", tmp_path / "o.png"))
    assert f"{MAX_KERNEL_SIDE}x{MAX_KERNEL_SIDE}" in line


@pytest.mark.parametrize("suffix", [".txt", ".json", ".npy"])
def test_huge_kernel_file_is_refused_before_reading(tmp_path, suffix):
    from convtool.kernels.types import MAX_KERNEL_FILE_BYTES

    kernel = tmp_path / f"k{suffix}"
    with open(kernel, "wb") as fh:  # sparse: the size is there, the bytes cost nothing
        fh.truncate(MAX_KERNEL_FILE_BYTES + 1)
    src = png(tmp_path / "in.png", 8, 8)
    line = assert_one_error(convtool("filter", src, "-k", kernel, "-o", tmp_path / "o.png"))
    assert "MiB" in line


def test_kernel_with_too_many_weights_is_refused(tmp_path):
    from convtool.kernels import MAX_KERNEL_WEIGHTS

    kernel = tmp_path / "k.npy"
    side = 64
    np.save(kernel, np.zeros((side, side, 2, MAX_KERNEL_WEIGHTS // (side * side * 2) + 1), "f4"))
    src = png(tmp_path / "in.png", 8, 8)
    line = assert_one_error(convtool("filter", src, "-k", kernel, "-o", tmp_path / "o.png"))
    assert str(MAX_KERNEL_WEIGHTS) in line


@pytest.mark.parametrize(
    "border", ["reflect", "mirror", "nearest", "wrap", "constant", "zero", "valid", "full"]
)
def test_kernel_larger_than_the_image(tmp_path, border):
    """Every border mode gives its own output size (never larger than asked) or one error."""
    src = tmp_path / "in.npy"
    image = np.random.default_rng(1).random((12, 16)).astype(np.float32)
    np.save(src, image)
    kernel = tmp_path / "k.txt"
    kernel.write_text(("1 " * 41 + "\n") * 31)
    out = tmp_path / "o.npy"
    proc = convtool("filter", src, "-k", kernel, "--border", border, "-o", out)
    if border == "valid":
        assert "larger than the image" in assert_one_error(proc)
        assert not out.exists()
        return
    assert proc.returncode == 0, proc.stderr
    expected = (12 + 30, 16 + 40) if border == "full" else (12, 16)
    result = np.load(out)
    assert result.shape == expected
    if border in ("constant", "zero", "full"):  # zeros beyond the edge: each output sums all
        assert np.allclose(result.max(), image.sum(), rtol=1e-5)


# --- finding 6: find on extreme values finds what it finds on ordinary ones --------------------


def _scene(tmp_path, image_scale, templ_scale, dtype="f8"):
    rng = np.random.default_rng(3)
    scene = rng.random((40, 50))
    np.save(tmp_path / "scene.npy", (scene * image_scale).astype(dtype))
    np.save(tmp_path / "tpl.npy", (scene[10:20, 30:42] * templ_scale).astype(dtype))
    return tmp_path / "scene.npy", tmp_path / "tpl.npy"


def _found(proc):
    assert proc.returncode == 0, proc.stderr
    (match,) = json.loads(proc.stdout)
    return match


@pytest.mark.parametrize("method", ["zncc", "ncc"])
@pytest.mark.parametrize(
    ("image_scale", "templ_scale", "dtype"),
    [(1e300, 1, "f8"), (1, 1e300, "f8"), (1e-300, 1, "f8"), (1e300, 1e-300, "f8"), (1e30, 1, "f4")],
)
def test_find_is_invariant_to_extreme_scales(tmp_path, method, image_scale, templ_scale, dtype):
    scene, tpl = _scene(tmp_path, image_scale, templ_scale, dtype)
    heat = tmp_path / "heat.png"
    proc = convtool("find", scene, tpl, "--method", method, "--json", "--heatmap", heat)
    match = _found(proc)
    assert (match["x"], match["y"]) == (30, 10)  # where the template was cut out
    assert match["score"] == pytest.approx(1.0, abs=1e-4)
    assert is_png(heat.read_bytes())


@pytest.mark.parametrize("mask_value", [1e300, 1e-300])
@pytest.mark.parametrize("method", ["zncc", "ncc", "ssd"])
def test_find_with_an_extreme_mask(tmp_path, mask_value, method):
    scene, tpl = _scene(tmp_path, 1, 1)
    mask = tmp_path / "mask.npy"
    np.save(mask, np.full((10, 12), mask_value))
    match = _found(convtool("find", scene, tpl, "--mask", mask, "--method", method, "--json"))
    assert (match["x"], match["y"]) == (30, 10)


@pytest.mark.parametrize(("scale", "dtype"), [(1e300, "f8"), (1e200, "f8"), (1e30, "f4")])
def test_ssd_on_extreme_values_has_no_nan(scale, dtype):
    from convtool.matching import match_template, search

    rng = np.random.default_rng(3)
    scene = (rng.random((40, 50)) * scale).astype(dtype)
    result = search(scene, scene[10:20, 30:42], method="ssd", threshold=float("inf"))
    scores = match_template(scene, scene[10:20, 30:42], method="ssd")
    assert not np.isnan(scores).any() and not np.isnan(result.maps[0][2]).any()
    assert (result.matches[0].x, result.matches[0].y) == (30, 10)


def test_zncc_scores_of_scaled_inputs_equal_the_unscaled_ones():
    """Invariance, checked on the whole map: scaling by powers of ten changes nothing."""
    from convtool.matching import match_template

    rng = np.random.default_rng(4)
    scene = rng.random((30, 40))
    tpl = scene[5:14, 7:20].copy()
    plain = match_template(scene, tpl, method="zncc")
    for a, b in [(1e300, 1.0), (1.0, 1e-300), (1e-300, 1e300)]:
        scaled = match_template(scene * a, tpl * b, method="zncc")
        assert np.allclose(scaled, plain, atol=1e-9)


# --- findings 5 and 9: damaged image files are one Error line, and nothing else on stderr ------


def _corrupt_deflate_tiff(path):
    import io

    buf = io.BytesIO()
    pixels = np.random.default_rng(5).integers(0, 256, (40, 40), dtype=np.uint8)
    Image.fromarray(pixels).save(buf, format="TIFF", compression="tiff_deflate")
    data = bytearray(buf.getvalue())
    for i in range(30):  # damage the compressed strip, keep the header
        data[len(data) // 3 + i] ^= 0x55
    path.write_bytes(bytes(data))
    return path


def test_corrupt_tiff_prints_only_our_error_line(tmp_path):
    bad = _corrupt_deflate_tiff(tmp_path / "bad.tif")
    proc = convtool("filter", bad, "-k", "box:3", "-o", tmp_path / "o.png")
    line = assert_one_error(proc)
    assert str(bad) in line
    assert "ZIPDecode" not in proc.stderr.decode()


def test_stderr_still_works_after_a_corrupt_tiff(tmp_path):
    """The descriptor silenced for libtiff comes back: a later message still reaches stderr."""
    from convtool.images import ImageIOError, decode_image

    bad = _corrupt_deflate_tiff(tmp_path / "bad.tif").read_bytes()
    code = (
        "import sys\n"
        "from convtool.images import decode_image, ImageIOError\n"
        f"try:\n    decode_image({bad!r}, 'bad.tif')\nexcept ImageIOError:\n    pass\n"
        "sys.stderr.write('still here\\n')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=RUN_LIMIT)
    assert proc.stderr == b"still here\n"
    with pytest.raises(ImageIOError):
        decode_image(bad, "bad.tif")


@pytest.mark.parametrize(
    "header",
    [
        b"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), ",  # unclosed: TokenError
        b"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2)} + ",  # SyntaxError
        b"{'descr': '<f4', 'fortran_order': False, 'shape': (2, -2), }",
        b"{'descr': 'O', 'fortran_order': False, 'shape': (2, 2), }",
        b"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999), }",
        b"[1, 2]",
        b"",
    ],
)
def test_npy_header_damage_is_one_error(tmp_path, header):
    padded = header + b" " * (118 - len(header)) + b"\n"
    data = b"\x93NUMPY\x01\x00" + len(padded).to_bytes(2, "little") + padded + b"\0" * 16
    bad = tmp_path / "bad.npy"
    bad.write_bytes(data)
    line = assert_one_error(convtool("filter", bad, "-k", "box:3", "-o", tmp_path / "o.png"))
    assert line.startswith(f"Error: {bad}: ")
    kernel_line = assert_one_error(
        convtool("filter", png(tmp_path / "in.png"), "-k", bad, "-o", tmp_path / "o.png")
    )
    assert kernel_line.startswith(f"Error: {bad}: ")


@pytest.mark.parametrize(
    "exc",
    [
        __import__("struct").error("unpack requires a buffer of 4 bytes"),
        IndexError("list index out of range"),
        KeyError("tag"),
        TypeError("unsupported operand"),
        ZeroDivisionError("division by zero"),
        OverflowError("int too large"),
        RuntimeError("decoder gave up"),
        RecursionError("maximum recursion depth exceeded"),
        MemoryError(),
        AssertionError("internal check"),
    ],
)
def test_every_exception_from_pillow_becomes_one_named_error(monkeypatch, exc):
    """Whatever Pillow raises on damaged bytes, decoding reports ``NAME: ...`` (ImageIOError)."""
    from PIL import Image as PILImage

    from convtool.images import ImageIOError, decode_image, probe_image

    def broken(*args, **kwargs):
        raise exc

    monkeypatch.setattr(PILImage, "open", broken)
    with pytest.raises(ImageIOError, match=r"^shot\.png: "):
        decode_image(b"\x89PNG\r\n\x1a\n" + b"\0" * 32, "shot.png")
    with pytest.raises(ImageIOError, match=r": "):
        probe_image(__file__)
