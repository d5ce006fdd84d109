"""Batch runs: planning, per-file work, the runner (order, failures, killed workers, Ctrl-C)."""

from __future__ import annotations

import concurrent.futures as cf
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from convtool import batch
from convtool.chain.memory import FilterOptions
from convtool.kernels import parse_kernel

ndi = pytest.importorskip("scipy.ndimage")


def photo(seed: int, h: int = 40, w: int = 56, channels: int = 3) -> np.ndarray:
    """Smooth-ish random picture (a blurred noise field), 8-bit."""
    rng = np.random.default_rng(seed)
    shape = (h, w, channels) if channels > 1 else (h, w)
    noise = rng.random(shape)
    sigma = (2, 2, 0) if channels > 1 else 2
    smooth = ndi.gaussian_filter(noise, sigma)
    span = smooth.max() - smooth.min()
    return np.round(255 * (smooth - smooth.min()) / span).astype(np.uint8)


def save(path: Path, array: np.ndarray) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return str(path)


def load(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im)


@pytest.fixture
def tree(tmp_path):
    """in/a0..a3.png, in/sub/b0..b1.png, in/broken.png, in/.hidden.png, in/notes.txt."""
    root = tmp_path / "in"
    for i in range(4):
        save(root / f"a{i}.png", photo(i))
    for i in range(2):
        save(root / "sub" / f"b{i}.png", photo(10 + i, channels=1))
    (root / "broken.png").write_bytes(b"this is not an image")
    save(root / ".hidden.png", photo(99))
    (root / "notes.txt").write_text("not an image")
    return root


def blur(**options) -> batch.FilterSettings:
    return batch.FilterSettings((parse_kernel("gaussian:1"),), FilterOptions(**options))


def rel_names(sources, root):
    return [os.path.relpath(s.path, root) for s in sources]


# --------------------------------------------------------------------------------------------
# planning
# --------------------------------------------------------------------------------------------


def test_directory_lists_images_sorted_top_level_only(tree):
    sources = batch.expand_inputs([str(tree)])
    assert rel_names(sources, tree) == ["a0.png", "a1.png", "a2.png", "a3.png", "broken.png"]
    assert all(s.base == str(tree) for s in sources)


def test_recursive_descends_and_skips_hidden(tree):
    (tree / ".cache").mkdir()
    save(tree / ".cache" / "c.png", photo(5))
    sources = batch.expand_inputs([str(tree)], recursive=True)
    names = rel_names(sources, tree)
    top = ["a0.png", "a1.png", "a2.png", "a3.png", "broken.png"]
    assert names == [*top, "sub/b0.png", "sub/b1.png"]


def test_named_files_are_kept_even_missing_and_in_order(tree):
    args = [str(tree / "a2.png"), str(tree / "missing.png"), str(tree / "a0.png")]
    assert [s.path for s in batch.expand_inputs(args)] == args


def test_stdin_only_alone():
    with pytest.raises(batch.BatchError, match="single input"):
        batch.expand_inputs(["-", "a.png"])


def test_template_fields():
    source = batch.Source("in/2024/x/photo.jpeg", "in/2024")
    spec = "{parent}|{stem}|{name}|{ext}|{rel}|{reldir}|{index:04d}"
    assert batch.render_target(spec, source, 7) == os.path.normpath(
        "in/2024/x|photo|photo.jpeg|jpeg|x/photo.jpeg|x|0007"
    )
    top = batch.Source("shot.png")  # named directly: rel is the name, reldir '.'
    assert batch.render_target("out/{reldir}/{rel}", top, 1) == os.path.normpath("out/shot.png")


def test_unknown_template_field_is_an_error_naming_the_fields():
    with pytest.raises(batch.BatchError, match=r"unknown field \{size\}.*stem, name"):
        batch.render_target("out/{size}.png", batch.Source("a.png"), 1)


def test_directory_output_keeps_the_tree_and_format_extension(tree, tmp_path):
    settings = batch.FilterSettings((parse_kernel("box:3"),), out_format="jpeg")
    jobs = batch.plan_filter([str(tree)], str(tmp_path / "out"), settings, recursive=True)
    got = [os.path.relpath(j.target, tmp_path / "out") for j in jobs]
    top = ["a0.jpg", "a1.jpg", "a2.jpg", "a3.jpg", "broken.jpg"]
    assert got == [*top, "sub/b0.jpg", "sub/b1.jpg"]
    assert {j.fmt for j in jobs} == {"jpeg"}


def test_output_directory_inside_the_input_is_not_listed(tree):
    out = tree / "out"
    save(out / "a0.png", photo(0))  # an earlier run's output
    jobs = batch.plan_filter([str(tree)], str(out), blur(), recursive=True)
    assert not any("out" in Path(j.source).parts[-2:-1] for j in jobs)
    assert len(jobs) == 7


def test_two_inputs_to_one_output_is_refused_before_any_work(tmp_path):
    a = save(tmp_path / "x" / "a.png", photo(0))
    b = save(tmp_path / "y" / "a.png", photo(1))
    out = tmp_path / "out"
    with pytest.raises(batch.BatchError, match=r"a\.png and .*a\.png would both be written to"):
        batch.plan_filter([a, b], str(out), blur())
    with pytest.raises(batch.BatchError, match="would both be written"):
        batch.plan_filter([a, b], str(out / "{stem}.png"), blur())
    assert not out.exists()


def test_output_over_another_jobs_input_is_refused(tmp_path):
    two = save(tmp_path / "2.png", photo(0))
    one = save(tmp_path / "1.png", photo(1))
    # 2.png -> 1.png would replace 1.png before (or while) its own job reads it
    with pytest.raises(batch.BatchError, match=r"2\.png would overwrite the input .*1\.png"):
        batch.plan_filter([two, one], str(tmp_path / "{index}.png"), blur())


def test_unknown_output_extension_is_refused_before_work(tmp_path):
    a = save(tmp_path / "a.png", photo(0))
    with pytest.raises(batch.BatchError, match="cannot tell the output format"):
        batch.plan_filter([a], str(tmp_path / "{stem}.xyz"), blur())


def test_skip_existing_marks_present_targets(tree, tmp_path):
    out = tmp_path / "out"
    save(out / "a1.png", photo(3))
    jobs = batch.plan_filter([str(tree)], str(out), blur(), skip_existing=True)
    assert [j.skip for j in jobs] == [False, True, False, False, False]


# --------------------------------------------------------------------------------------------
# per-file work and the runner
# --------------------------------------------------------------------------------------------


def test_filter_many_with_a_broken_file(tree, tmp_path):
    out = tmp_path / "out"
    jobs = batch.plan_filter([str(tree)], str(out / "{stem}-g.png"), blur(), recursive=True)
    seen = []
    results = list(batch.run(jobs, batch.filter_one, jobs=2, on_done=seen.append))
    assert [r.index for r in results] == list(range(7))  # input order
    assert sorted(r.index for r in seen) == list(range(7))  # each reported once
    bad = [r for r in results if not r.ok]
    assert [(Path(r.source).name, r.error) for r in bad] == [
        ("broken.png", "not an image Pillow can read")
    ]
    assert not (out / "broken-g.png").exists()
    # every good output is the scipy Gaussian of its input (sigma 1, radius 3, reflect)
    for r in results:
        if r.ok:
            src = load(r.source).astype(np.float64) / 255
            sigma = (1, 1, 0) if src.ndim == 3 else 1
            want = ndi.gaussian_filter(src, sigma, mode="reflect", truncate=3.0)
            got = load(r.target).astype(np.float64) / 255
            assert got.shape == src.shape
            assert np.abs(got - want).max() <= 0.5 / 255 + 1e-4


def test_workers_share_the_cores(tree, tmp_path):
    from convtool import runtime

    jobs = batch.plan_filter([str(tree)], str(tmp_path / "o"), blur())
    pooled = {r.threads for r in batch.run(jobs, batch.filter_one, jobs=2)}
    assert pooled == {max(1, batch.default_jobs() // 2)}
    inline = {r.threads for r in batch.run(jobs, batch.filter_one, jobs=1)}
    assert inline == {runtime.threads()}  # in this process: its own setting, untouched


def test_jobs_1_and_jobs_2_write_identical_bytes(tree, tmp_path):
    settings = batch.FilterSettings(
        (parse_kernel("gaussian:1.5"), parse_kernel("sharpen")), FilterOptions(border="wrap")
    )
    one = batch.plan_filter([str(tree)], str(tmp_path / "one"), settings, recursive=True)
    two = batch.plan_filter([str(tree)], str(tmp_path / "two"), settings, recursive=True)
    r1 = list(batch.run(one, batch.filter_one, jobs=1))
    r2 = list(batch.run(two, batch.filter_one, jobs=2))
    assert [r.ok for r in r1] == [r.ok for r in r2]
    written = [(a.target, b.target) for a, b in zip(r1, r2, strict=True) if a.ok]
    assert len(written) == 6
    for a, b in written:
        assert Path(a).read_bytes() == Path(b).read_bytes()


def test_any_executor_plugs_in_and_is_left_running(tree, tmp_path):
    jobs = batch.plan_filter([str(tree)], str(tmp_path / "t"), blur())
    ref = batch.plan_filter([str(tree)], str(tmp_path / "ref"), blur())
    with cf.ThreadPoolExecutor(3) as pool:
        got = list(batch.run(jobs, batch.filter_one, executor=pool))
        assert pool.submit(lambda: 42).result() == 42  # still usable
    want = list(batch.run(ref, batch.filter_one, jobs=1))
    assert [r.index for r in got] == [0, 1, 2, 3, 4]
    for a, b in zip(got, want, strict=True):
        assert a.ok == b.ok
        if a.ok:
            assert Path(a.target).read_bytes() == Path(b.target).read_bytes()


def test_fail_fast_stops_at_the_first_failure(tmp_path):
    files = [save(tmp_path / f"p{i}.png", photo(i)) for i in range(2)]
    bad = tmp_path / "p2.png"
    bad.write_bytes(b"")
    files += [str(bad)] + [save(tmp_path / f"p{i}.png", photo(i)) for i in range(3, 6)]
    jobs = batch.plan_filter(files, str(tmp_path / "out"), blur())
    results = list(batch.run(jobs, batch.filter_one, jobs=1, fail_fast=True))
    assert [(r.index, r.ok) for r in results] == [(0, True), (1, True), (2, False)]
    assert results[2].error == "empty input (0 bytes)"
    assert sorted(os.listdir(tmp_path / "out")) == ["p0.png", "p1.png"]
    # in a pool: the failure is reported, and the run stops short of the whole list
    jobs = batch.plan_filter(files, str(tmp_path / "pool"), blur())
    results = list(batch.run(jobs, batch.filter_one, jobs=2, fail_fast=True))
    assert [r.index for r in results] == sorted(r.index for r in results)
    assert any(r.index == 2 and not r.ok for r in results)


def test_remove_stale_temps_only_touches_its_targets(tmp_path):
    keep = [".other.png.abcd1234.part", ".a.png.part", "a.png.abcd1234.part", ".a.png.x.part"]
    gone = [".a.png.abcd1234.part", ".b.jpg.k_9zz0q1.part"]
    for name in keep + gone:
        (tmp_path / name).write_bytes(b"x")
    removed = batch.remove_stale_temps([str(tmp_path / "a.png"), str(tmp_path / "b.jpg")])
    assert removed == 2
    assert sorted(os.listdir(tmp_path)) == sorted(keep)


def _descendants(pid: int) -> list[int]:
    out = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:  # the process ended meanwhile
        return out
    for task in tasks:
        try:  # a thread (a pool's, ending) may be gone between the listing and the read
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            out += [child, *_descendants(child)]
    return out


def _forkserver_children(pid: int) -> list[int]:
    """Pool workers under ``pid``: the children of its multiprocessing fork server."""
    found = []
    for child in _descendants(pid):
        try:
            parent = int(Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[1])
            if b"forkserver" in Path(f"/proc/{parent}/cmdline").read_bytes():
                found.append(child)
        except (OSError, ValueError):
            continue
    return found


def _workers() -> list[int]:
    return _forkserver_children(os.getpid())


linux_only = pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs /proc")


def _many(tmp_path, n=24):
    return [save(tmp_path / "in" / f"p{i:02d}.png", photo(i, 96, 128)) for i in range(n)]


@linux_only
def test_killed_worker_then_skip_existing_finishes_the_run(tmp_path):
    files = _many(tmp_path)
    settings = batch.FilterSettings((parse_kernel("gaussian:3"),))
    out = tmp_path / "out"
    out.mkdir()
    stale = out / ".p05.png.zz99aa00.part"  # what a writer killed mid-write leaves
    stale.write_bytes(b"half")
    killed = []

    def kill_one(result):
        if not killed:
            killed.append(_workers()[0])
            os.kill(killed[0], signal.SIGKILL)

    jobs = batch.plan_filter(files, str(out), settings)
    finished = []
    with pytest.raises(batch.WorkerError, match=r"file\(s\) not processed"):
        for result in batch.run(jobs, batch.filter_one, jobs=2, on_done=kill_one):
            finished.append(result)
    assert killed and 1 <= len(finished) < len(files)
    assert not [p for p in os.listdir(out) if p.endswith(".part")]
    for r in finished:
        assert r.ok and Path(r.target).exists()
    # the rerun does only what is missing, and the set is complete and correct
    again = batch.plan_filter(files, str(out), settings, skip_existing=True)
    assert sum(j.skip for j in again) == len(os.listdir(out)) >= len(finished)
    rerun = list(batch.run(again, batch.filter_one, jobs=2))
    assert all(r.ok for r in rerun)
    ref = batch.plan_filter(files, str(tmp_path / "ref"), settings)
    for r in batch.run(ref, batch.filter_one, jobs=1):
        assert Path(r.target).read_bytes() == (out / Path(r.target).name).read_bytes()


@linux_only
def test_ctrl_c_stops_the_workers_and_leaves_no_partial_files(tmp_path):
    files = _many(tmp_path)
    out = tmp_path / "out"
    settings = batch.FilterSettings((parse_kernel("gaussian:3"),))

    def interrupt(result):
        raise KeyboardInterrupt

    jobs = batch.plan_filter(files, str(out), settings)
    with pytest.raises(KeyboardInterrupt):
        list(batch.run(jobs, batch.filter_one, jobs=2, on_done=interrupt))
    assert _workers() == []  # terminated, not left to finish the list
    written = os.listdir(out)
    assert len(written) < len(files)
    assert not [p for p in written if p.endswith(".part")]
    for name in written:
        assert load(out / name).shape == (96, 128, 3)


# --------------------------------------------------------------------------------------------
# find over many scenes
# --------------------------------------------------------------------------------------------


def test_find_over_scenes(tmp_path):
    template = photo(50, 12, 16)
    placed = {"s0.png": (5, 7), "s2.png": (30, 20)}  # (x, y) of the template's top-left
    for i in range(4):
        scene = photo(60 + i, 48, 64)
        name = f"s{i}.png"
        if name in placed:
            x, y = placed[name]
            scene[y : y + 12, x : x + 16] = template
        save(tmp_path / name, scene)
    (tmp_path / "s4.png").write_bytes(b"broken")
    tpl = save(tmp_path / "tpl" / "t.png", template)
    settings = batch.FindSettings(tpl, threshold=0.9)
    jobs = batch.plan_find([str(tmp_path)], settings, annotate=str(tmp_path / "a/{stem}.png"))
    results = list(batch.run(jobs, batch.find_one, jobs=2))
    got = {Path(r.source).name: [(m.x, m.y) for m in r.matches] for r in results if r.ok}
    assert got == {"s0.png": [(5, 7)], "s1.png": [], "s2.png": [(30, 20)], "s3.png": []}
    assert [Path(r.source).name for r in results if not r.ok] == ["s4.png"]
    assert sorted(os.listdir(tmp_path / "a")) == ["s0.png", "s1.png", "s2.png", "s3.png"]
    with pytest.raises(batch.BatchError, match="needs a name template"):
        batch.plan_find([str(tmp_path)], settings, heatmap=str(tmp_path / "h.png"))


# --------------------------------------------------------------------------------------------
# the command line
# --------------------------------------------------------------------------------------------


def cli_run(args, **kw):
    from click.testing import CliRunner

    from convtool.cli import cli

    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False, **kw)


def test_cli_filter_many_files_with_broken_ones(tree, tmp_path):
    out = tmp_path / "out"
    args = [tree / "a0.png", tree / "broken.png", tree / "a1.png", tmp_path / "missing.png"]
    result = cli_run(["filter", *args, "-k", "box:3", "-o", f"{out}/", "--jobs", "2"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"Error: {tree / 'broken.png'}: not an image Pillow can read",
        f"Error: {tmp_path / 'missing.png'}: no such file",
        "processed 2 of 4 files, 2 failed",
    ]
    assert sorted(os.listdir(out)) == ["a0.png", "a1.png"]
    for name in ("a0.png", "a1.png"):  # the same bytes as the single-file form writes
        single = tmp_path / f"single-{name}"
        assert cli_run(["filter", tree / name, "-k", "box:3", "-o", single]).exit_code == 0
        assert (out / name).read_bytes() == single.read_bytes()


def test_cli_filter_directory_recursive_into_a_template(tree, tmp_path):
    (tree / "broken.png").unlink()
    spec = f"{tmp_path}/out/{{reldir}}/{{index:02d}}-{{stem}}.jpg"
    result = cli_run(["filter", tree, "-r", "-k", "gaussian:1", "-o", spec, "-j", "1"])
    assert result.exit_code == 0, result.output
    assert result.stderr == "processed 6 of 6 files, 0 failed\n"
    found = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*"))
    top = ["01-a0.jpg", "02-a1.jpg", "03-a2.jpg", "04-a3.jpg"]
    assert found == [*top, "sub", "sub/05-b0.jpg", "sub/06-b1.jpg"]
    with Image.open(tmp_path / "out" / "sub" / "05-b0.jpg") as im:
        assert (im.format, im.mode, im.size) == ("JPEG", "L", (56, 40))


def test_cli_filter_clash_is_an_error_before_any_work(tmp_path):
    a = save(tmp_path / "x" / "a.png", photo(0))
    b = save(tmp_path / "y" / "a.png", photo(1))
    result = cli_run(["filter", a, b, "-k", "box:3", "-o", tmp_path / "out"])
    assert result.exit_code == 2
    assert result.stderr == f"Error: {a} and {b} would both be written to {tmp_path}/out/a.png\n"
    assert not (tmp_path / "out").exists()


def test_cli_filter_jobs_1_and_2_identical_and_quiet(tree, tmp_path):
    (tree / "broken.png").unlink()
    for jobs in (1, 2):
        args = ["filter", tree, "-r", "-k", "sobel", "-k", "box:3", "-o", tmp_path / f"j{jobs}"]
        result = cli_run([*args, "--jobs", jobs, "--quiet"])
        assert (result.exit_code, result.output) == (0, "")
    one = sorted((tmp_path / "j1").rglob("*.png"))
    two = sorted((tmp_path / "j2").rglob("*.png"))
    assert [p.relative_to(tmp_path / "j1") for p in one] == [
        p.relative_to(tmp_path / "j2") for p in two
    ]
    assert len(one) == 6
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(one, two, strict=True))


def _strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\r", "\n", text)


def test_cli_progress_forced_on_goes_to_stderr_only(tree, tmp_path):
    (tree / "broken.png").unlink()
    result = cli_run(["filter", tree, "-k", "box:3", "-o", tmp_path / "o", "--progress"])
    assert result.exit_code == 0 and result.stdout == ""
    shown = _strip_ansi(result.stderr)
    assert "4/4" in shown and "files/s" in shown
    # default: stderr is not a terminal here, so no bar; --no-progress likewise
    for flag in ([], ["--no-progress"]):
        result = cli_run(["filter", tree, "-k", "box:3", "-o", tmp_path / "p", *flag])
        assert result.stderr == "processed 4 of 4 files, 0 failed\n"


def _scenes(tmp_path, n=5, hits=(0, 3)):
    template = photo(50, 12, 16)
    for i in range(n):
        scene = photo(60 + i, 48, 64)
        if i in hits:
            scene[10 + i : 22 + i, 20 + i : 36 + i] = template
        save(tmp_path / "scenes" / f"s{i}.png", scene)
    return save(tmp_path / "t.png", template), tmp_path / "scenes"


def test_cli_find_over_scenes_with_file_names_and_grep_statuses(tmp_path):
    tpl, scenes = _scenes(tmp_path)
    base = ["find", "-t", tpl, "--threshold", "0.9"]
    result = cli_run([*base, scenes, "--jobs", "2"])
    assert result.exit_code == 0
    s0, s3 = scenes / "s0.png", scenes / "s3.png"
    assert result.stdout.splitlines() == [
        f"{s0}\t20\t10\t16\t12\t1.0000",
        f"{s3}\t23\t13\t16\t12\t1.0000",
    ]
    assert result.stderr == "processed 5 of 5 files, 0 failed, 2 with a match\n"
    result = cli_run([*base, scenes, "--json", "-q"])
    records = json.loads(result.stdout)
    assert [(r["file"], r["x"], r["y"]) for r in records] == [(str(s0), 20, 10), (str(s3), 23, 13)]
    result = cli_run([*base, scenes, "--csv", "-q"])
    assert result.stdout.splitlines()[0] == "file,x,y,width,height,score"
    assert result.stdout.splitlines()[2] == f"{s3},23,13,16,12,1.0"
    # none matched: 1; any failed: 2 even when others matched
    none = [scenes / "s1.png", scenes / "s2.png"]
    assert cli_run([*base, *none]).exit_code == 1
    (scenes / "s4.png").write_bytes(b"junk")
    result = cli_run([*base, scenes, "-q"])
    assert result.exit_code == 2
    assert result.stderr == f"Error: {scenes / 's4.png'}: not an image Pillow can read\n"
    assert len(result.stdout.splitlines()) == 2


def test_cli_find_old_form_unchanged(tmp_path):
    tpl, scenes = _scenes(tmp_path, n=1)
    result = cli_run(["find", scenes / "s0.png", tpl, "--threshold", "0.9"])
    assert (result.exit_code, result.stdout) == (0, "20\t10\t16\t12\t1.0000\n")
    result = cli_run(["find", scenes / "s0.png", tpl, scenes / "s0.png"])
    assert result.exit_code == 2
    assert "Error: " in result.stderr and "-t TEMPLATE" in result.stderr


def _convtool(args, **kw):
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=str(root))
    return subprocess.Popen(
        [sys.executable, "-m", "convtool", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,  # its own process group, as a shell job has
        **kw,
    )


def _wait_for(predicate, timeout=60.0):
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.02)


def _blocked_run(tmp_path, n=8):
    """A batch whose file p03.png is a FIFO: the worker reading it waits until we act."""
    files = [save(tmp_path / "in" / f"p{i:02d}.png", photo(i)) for i in range(n)]
    os.unlink(files[3])
    os.mkfifo(files[3])
    out = tmp_path / "out"
    proc = _convtool(["filter", tmp_path / "in", "-k", "gaussian:2", "-o", out, "--jobs", "2"])
    _wait_for(lambda: out.is_dir() and len(os.listdir(out)) == n - 1)
    time.sleep(0.3)  # let the last result travel back; the count is checked loosely anyway
    return proc, files, out


def _summary(line: str, tail: str) -> int:
    """Files reported done in a summary ``processed K of 8 files, 0 failed, M not done TAIL``
    of a run stopped with p03 blocked: K + M = 8 and K <= 7 (the files written)."""
    m = re.fullmatch(r"processed (\d) of 8 files, 0 failed, (\d) not done " + re.escape(tail), line)
    assert m, line
    done, missing = int(m[1]), int(m[2])
    assert done + missing == 8 and 1 <= done <= 7
    return done


@linux_only
def test_cli_killed_worker_then_skip_existing(tmp_path):
    proc, files, out = _blocked_run(tmp_path)
    workers = _forkserver_children(proc.pid)
    assert len(workers) == 2
    stale = out / ".p03.png.ab12cd34.part"  # as a writer killed mid-write leaves it
    stale.write_bytes(b"half")
    for pid in workers:  # one of them is the one reading the FIFO
        os.kill(pid, signal.SIGKILL)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    lines = err.splitlines()
    assert lines[0].startswith("Error: a worker failed (")
    assert lines[0].endswith(" file(s) not processed")
    _summary(lines[1], "(a worker process died; rerun with --skip-existing to finish)")
    assert len(lines) == 2
    assert sorted(os.listdir(out)) == [f"p{i:02d}.png" for i in range(8) if i != 3]
    os.unlink(files[3])
    save(Path(files[3]), photo(3))
    again = _convtool(["filter", tmp_path / "in", "-k", "gaussian:2", "-o", out, "--skip-existing"])
    _, err = again.communicate(timeout=60)
    assert (again.returncode, err) == (
        0,
        "processed 1 of 8 files, 0 failed, 7 skipped (output exists)\n",
    )
    ref = tmp_path / "ref"
    assert (
        cli_run(["filter", tmp_path / "in", "-k", "gaussian:2", "-o", ref, "-j", "1"]).exit_code
        == 0
    )
    assert sorted(os.listdir(out)) == sorted(os.listdir(ref))  # no temp file left either
    for name in os.listdir(ref):
        assert (out / name).read_bytes() == (ref / name).read_bytes()


@linux_only
def test_cli_ctrl_c_stops_workers_and_reports(tmp_path):
    proc, _, out = _blocked_run(tmp_path)
    group = os.getpgid(proc.pid)
    os.killpg(group, signal.SIGINT)  # what the terminal sends on Ctrl-C: the whole job
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert len(err.splitlines()) == 1  # no traceback, no error: the summary only
    _summary(err.strip(), "(interrupted)")

    def group_gone():
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return True
        return False

    _wait_for(group_gone, timeout=10)  # workers and the fork server ended too
    assert sorted(os.listdir(out)) == [f"p{i:02d}.png" for i in range(8) if i != 3]


def test_several_inputs_into_one_file_name_is_refused(tree, tmp_path):
    with pytest.raises(batch.BatchError, match="need an output directory or a name template"):
        batch.plan_filter([str(tree)], str(tmp_path / "out.png"), blur())


def test_the_sweep_knows_the_writers_own_temp_names(tmp_path, monkeypatch):
    from convtool.images import write_bytes

    seen = []

    def no_rename(src, dst):
        seen.append(os.path.basename(src))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", no_rename)
    target = tmp_path / "shot.png"
    with pytest.raises(ValueError, match="cannot write"):
        write_bytes(b"data", target)
    monkeypatch.undo()
    assert len(seen) == 1 and not (tmp_path / seen[0]).exists()  # the writer cleaned up
    (tmp_path / seen[0]).write_bytes(b"half")  # as a writer killed before its rename leaves it
    assert batch.remove_stale_temps([str(target)]) == 1
    assert os.listdir(tmp_path) == []


def test_search_reports_progress_per_placement():
    from convtool import matching

    rng = np.random.default_rng(0)
    image = rng.random((60, 70)).astype(np.float32)
    calls = []
    found = matching.search(
        image, image[10:30, 20:40], scales=[0.5, 1, 4], angles=[0, 10],
        progress=lambda done, total: calls.append((done, total)),
    )  # fmt: skip
    # scale 4 does not fit (80x80 > 70x60): 2 scales x 2 angles, then done
    assert found.skipped_scales == [4.0]
    assert calls == [(0, 4), (1, 4), (2, 4), (3, 4), (4, 4)]


def test_cli_single_find_progress_forced_on(tmp_path):
    tpl, scenes = _scenes(tmp_path, n=1)
    args = ["find", scenes / "s0.png", tpl, "--scales", "0.5,1", "--angles", "0,90"]
    plain = cli_run([*args, "--threshold", "0.9"])
    shown = cli_run([*args, "--threshold", "0.9", "--progress"])
    assert shown.exit_code == plain.exit_code == 0
    assert shown.stdout == plain.stdout  # data untouched
    assert plain.stderr == ""
    assert "4/4" in _strip_ansi(shown.stderr) and "placements" in shown.stderr


def test_batch_options_cost_no_rich_at_start_up():
    # A shell loop pays start-up per file: the progress code loads rich only to draw a bar.
    code = (
        "import sys, convtool.batch, convtool.cli.batchrun, convtool.cli.progress\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'rich'}))\n"
    )
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=str(root))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert (out.returncode, out.stdout) == (0, "[]\n"), out.stderr


def _gif(path: Path, count: int = 3) -> str:
    frames = [Image.fromarray(photo(20 + i, 24, 32)).convert("P") for i in range(count)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=[40, 80, 120][:count])
    return str(path)


def test_cli_batch_keeps_every_frame_as_the_single_form_does(tmp_path):
    gifs = [_gif(tmp_path / f"anim{i}.gif") for i in range(2)]
    out = tmp_path / "out"
    result = cli_run(["filter", *gifs, "-k", "box:3", "-o", f"{out}/", "--jobs", "1"])
    assert result.exit_code == 0, result.output
    for src in gifs:
        single = tmp_path / f"single-{Path(src).name}"
        assert cli_run(["filter", src, "-k", "box:3", "-o", single]).exit_code == 0
        written = out / Path(src).name
        assert written.read_bytes() == single.read_bytes()
        with Image.open(written) as im:
            assert im.n_frames == 3


def test_cli_batch_single_frame_output_of_an_animation_names_frame(tmp_path):
    gif = _gif(tmp_path / "anim.gif")
    png = save(tmp_path / "still.png", photo(3))
    spec = f"{tmp_path}/out/{{stem}}.bmp"
    result = cli_run(["filter", gif, png, "-k", "box:3", "-o", spec, "--jobs", "1"])
    assert result.exit_code == 2
    first, summary = result.stderr.splitlines()
    assert first.startswith(f"Error: {gif}: has 3 frames but BMP holds one: pick a frame with ")
    assert summary == "processed 1 of 2 files, 1 failed"
    assert "--frame N" in first
    assert sorted(os.listdir(tmp_path / "out")) == ["still.bmp"]
    # --frame picks one in a batch too: frame 2 of the animation, filtered.
    result = cli_run(["filter", gif, png, "-k", "box:3", "-o", spec, "--frame", "2", "-j", "1"])
    assert result.exit_code == 2  # the still has no frame 2: said for that file, not as damage
    assert result.stderr.splitlines() == [
        f"Error: {png}: --frame 2: the input has 1 frame(s), numbered 1 to 1",
        "processed 1 of 2 files, 1 failed",
    ]
    with Image.open(gif) as im:
        im.seek(1)
        second = np.asarray(im.convert("RGB"))
    expected = ndi.uniform_filter(second.astype(np.float64), (3, 3, 1), mode="reflect")
    got = load(tmp_path / "out" / "anim.bmp").astype(np.float64)
    assert np.abs(got - expected).max() <= 0.5 + 1e-9


def test_cli_batch_honours_quality_and_compression(tmp_path):
    srcs = [save(tmp_path / f"p{i}.png", photo(i, 96, 128)) for i in range(2)]
    sizes = {}
    for quality in (20, 95):
        out = tmp_path / f"q{quality}"
        args = ["filter", *srcs, "-k", "box:3", "-o", f"{out}/{{stem}}.jpg", "-j", "1"]
        assert cli_run([*args, "--quality", quality]).exit_code == 0
        sizes[quality] = sum((out / f"p{i}.jpg").stat().st_size for i in range(2))
    assert sizes[20] < 0.7 * sizes[95]
    for level in (0, 9):
        out = tmp_path / f"c{level}"
        args = ["filter", *srcs, "-k", "box:3", "-o", f"{out}/", "-j", "1"]
        assert cli_run([*args, "--compression", level]).exit_code == 0
        sizes[f"c{level}"] = (out / "p0.png").stat().st_size
        assert np.array_equal(load(out / "p0.png"), load(tmp_path / "c0" / "p0.png"))
    assert sizes["c9"] < 0.8 * sizes["c0"]


def test_batch_worker_filters_in_bands(tmp_path, monkeypatch):
    # The worker runs the single form's banded path: integers kept, bands of rows.
    from convtool.chain import bands

    src = save(tmp_path / "p.png", photo(5, 64, 48))
    seen = []
    real = bands.BandedChain.compute

    def compute(self, image, r0, r1):
        seen.append((image.dtype, r1 - r0))
        return real(self, image, r0, r1)

    monkeypatch.setattr(bands.BandedChain, "compute", compute)
    monkeypatch.setattr(bands, "BAND_BYTES", 48 * 3 * 4 * 16)  # 16 rows a band
    monkeypatch.setattr(bands, "_MIN_BAND_ROWS", 1)
    monkeypatch.setattr(bands, "_HALO_SHARE", 1)
    settings = batch.FilterSettings((parse_kernel("gaussian:1"),))
    jobs = batch.plan_filter([src], str(tmp_path / "out") + "/", settings)
    (result,) = list(batch.run(jobs, batch.filter_one, jobs=1, executor=cf.ThreadPoolExecutor(1)))
    assert result.ok, result.error
    assert {dtype for dtype, _ in seen} == {np.dtype(np.uint8)}
    assert len(seen) >= 4


def test_cli_batch_workers_keep_the_runs_pixel_limit(tmp_path, monkeypatch):
    # Worker processes start with their own limit (environment or default): the run's
    # --max-pixels (or the environment the run saw) travels with the job.
    srcs = [save(tmp_path / f"p{i}.png", photo(i)) for i in range(2)]  # 40x56 = 2240 pixels
    out = tmp_path / "out"
    result = cli_run(["filter", *srcs, "-k", "box:3", "-o", f"{out}/", "-j", "2",
                      "--max-pixels", "1000"])  # fmt: skip
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"Error: {src}: image has 2,240 pixels, over the limit of 1,000 pixels (raise it with "
        "--max-pixels N or CONVTOOL_MAX_PIXELS=N; 0 = no limit)"
        for src in srcs
    ] + ["processed 0 of 2 files, 2 failed"]
    monkeypatch.setenv("CONVTOOL_MAX_PIXELS", "1000")
    result = cli_run(["filter", *srcs, "-k", "box:3", "-o", f"{out}/", "-j", "2"])
    assert result.exit_code == 2 and "over the limit of 1,000 pixels" in result.stderr
    result = cli_run(["filter", *srcs, "-k", "box:3", "-o", f"{out}/", "-j", "2",
                      "--max-pixels", "0"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert sorted(os.listdir(out)) == ["p0.png", "p1.png"]
