"""Usage shared by the commands: bare `convtool`, case-insensitive choices, --table/--plain."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from convtool.cli import cli

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
SCENE, WALDO = str(SAMPLES / "waldo-scene.png"), str(SAMPLES / "waldo.png")


def run(*args: str):
    return CliRunner().invoke(cli, list(args), prog_name="convtool")


def test_bare_convtool_prints_help_and_succeeds():
    result = run()
    assert result.exit_code == 0
    assert result.output.startswith("Usage: convtool")
    assert "Commands:" in result.output


@pytest.mark.parametrize("method", ["SSD", "Zncc", "nCC"])
def test_find_method_is_case_insensitive(method):
    lower = run("find", SCENE, WALDO, "--method", method.lower(), "--threshold", "0.5", "--json")
    mixed = run("find", SCENE, WALDO, "--method", method, "--threshold", "0.5", "--json")
    assert mixed.exit_code == lower.exit_code
    assert mixed.output == lower.output


def test_filter_choices_are_case_insensitive(tmp_path):
    args = ["filter", WALDO, "-k", "box:3", "--alpha", "DROP", "--strategy", "Gemm"]
    upper = run(*args, "--format", "PNG", "--values", "CLIP", "-o", str(tmp_path / "a.png"))
    lower = run(*[a.lower() if a[0].isupper() else a for a in args], "-o", str(tmp_path / "b.png"))
    assert upper.exit_code == lower.exit_code == 0, upper.output
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


@pytest.mark.parametrize(
    "args",
    [["find", SCENE, WALDO], ["kernels"], ["params", "--input", "6x6", "--kernel", "3"]],
)
def test_table_and_plain_force_the_layout(args):
    table = run(*args, "--table")
    plain = run(*args, "--plain")
    assert table.exit_code == plain.exit_code == 0
    assert "┃" in table.output or "─" in table.output  # rich's box characters
    assert "\t" in plain.output and "┃" not in plain.output and "─" not in plain.output


def _loaded_after(argv: list[str], heavy: tuple[str, ...]) -> tuple[str, list[str]]:
    """Run ``convtool ARGV`` in a fresh interpreter: (its stdout, the ``heavy`` modules loaded)."""
    import ast
    import subprocess
    import sys

    probe = (
        "import sys\n"
        "from convtool.cli import main\n"
        f"sys.argv = ['convtool', *{argv!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"print('LOADED', sorted(m for m in {heavy!r} if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    *lines, last = proc.stdout.splitlines()
    return "\n".join(lines), ast.literal_eval(last.removeprefix("LOADED "))


def test_params_starts_without_the_engine_matcher_pillow_or_rich():
    # Start-up: a command loads only what it uses (the commands and convtool's names are lazy).
    heavy = ("PIL", "rich", "convtool.engine", "convtool.matching", "importlib.metadata")
    out, loaded = _loaded_after(["params", "--input", "6x6", "--kernel", "3"], heavy)
    assert "fully-connected" in out
    assert loaded == []


def test_filter_without_o_suggests_the_output_it_was_probably_given(tmp_path):
    out = tmp_path / "out.png"
    result = CliRunner().invoke(cli, ["filter", WALDO, "-k", "box:3", str(out)])
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        f"Error: missing option -o/--output: where to write the result (did you mean -o {out}?)"
    )
    assert not out.exists()
    bare = CliRunner().invoke(cli, ["filter", WALDO, "-k", "box:3"])
    assert bare.exit_code == 2
    assert "did you mean" not in bare.output and "missing option -o/--output" in bare.output


def test_one_file_filter_loads_no_terminal_ui_batch_runner_or_matcher(tmp_path):
    # A single file through `filter` pays for numpy, Pillow and the engine only: rich loads
    # when there is something to draw or say, the batch runner and the matcher when used.
    import numpy as np
    from PIL import Image

    src = tmp_path / "in.png"
    Image.fromarray(np.arange(48, dtype=np.uint8).reshape(6, 8)).save(src)
    heavy = ("rich", "multiprocessing", "convtool.batch.runner", "convtool.batch.work",
             "convtool.matching", "convtool.params", "PIL.ImageFont")  # fmt: skip
    argv = ["filter", str(src), "-k", "box:3", "-o", str(tmp_path / "out.png")]
    _, loaded = _loaded_after(argv, heavy)
    assert (tmp_path / "out.png").exists()
    assert loaded == []
