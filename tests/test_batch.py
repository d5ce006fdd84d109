"""Batch runs: planning, per-file work, the runner (order, failures, killed workers, Ctrl-C)."""

from __future__ import annotations

import concurrent.futures as cf
import os
import signal
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from convtool import batch
from convtool.filtering import FilterOptions
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
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        for child in map(int, children):
            out += [child, *_descendants(child)]
    return out


def _workers() -> list[int]:
    """This process's pool workers (children of the forkserver)."""
    found = []
    for pid in _descendants(os.getpid()):
        try:
            parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
            cmd = Path(f"/proc/{parent}/cmdline").read_bytes()
        except (OSError, ValueError):
            continue
        if b"forkserver" in cmd:
            found.append(pid)
    return found


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
