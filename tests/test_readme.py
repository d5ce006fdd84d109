"""Every example in the README runs as shown.

Each ```console block is a session: every ``$ `` line runs in bash, in a scratch directory holding
``samples/`` plus the stand-ins the text names (``photo.png``, a 640x480 RGB photo, and
``my-kernel.txt``), and its output must equal the lines shown under it. A ``...`` line stands
for any number of lines. Only the scratch directory's path is normalized. ```sh blocks must
run with exit status 0, and ```python blocks must run. A block preceded by
``<!-- readme-test: skip REASON -->`` is not run (kept few: installs, the full test suite,
benchmarks); one preceded by ``<!-- readme-test: needs MODULE -->`` (a marker at the end of the
line before it counts too) is skipped where MODULE is not installed (an optional extra).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
SKIP = re.compile(r"<!--\s*readme-test:\s*skip\b(.*?)-->")
NEEDS = re.compile(r"<!--\s*readme-test:\s*needs\s+([\w.]+)\s*-->")


@dataclass
class Block:
    lang: str
    line: int  # 1-based line of the opening fence
    text: str
    skip: str | None
    needs: str | None = None  # a module the block imports that an optional extra installs


def blocks() -> list[Block]:
    lines = README.read_text(encoding="utf-8").splitlines()
    found, i = [], 0
    while i < len(lines):
        fence = re.match(r"^```(\w+)\s*$", lines[i])
        if not fence:
            i += 1
            continue
        start = i
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        before = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        marker = SKIP.search(before)
        skip = (marker.group(1).strip() or "marked") if marker else None
        needs = NEEDS.search(before)
        text = "\n".join(lines[start + 1 : end])
        found.append(Block(fence.group(1), start + 1, text, skip, needs and needs.group(1)))
        i = end + 1
    return found


def _param(block: Block):
    marks = [pytest.mark.skip(reason=f"README: {block.skip}")] if block.skip else []
    return pytest.param(block, id=f"{block.lang}-line{block.line}", marks=marks)


RUNNABLE = [_param(b) for b in blocks() if b.lang in ("console", "sh", "python")]


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "samples", tmp_path / "samples")
    rng = np.random.default_rng(7)
    photo = (rng.random((480, 640, 3)) * 255).astype(np.uint8)
    Image.fromarray(photo).save(tmp_path / "photo.png")
    (tmp_path / "my-kernel.txt").write_text("1 2 1\n2 4 2\n1 2 1\n")
    return tmp_path


def _env() -> dict[str, str]:
    env = dict(os.environ)
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(COLUMNS="80", LINES="24", NO_COLOR="1", TERM="dumb")
    env.pop("FORCE_COLOR", None)
    return env


def _bash(command: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-c", command],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def _sessions(text: str) -> list[tuple[str, list[str]]]:
    """``$ `` commands with the output lines shown under each."""
    sessions: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith("$ "):
            sessions.append((line[2:], []))
        elif sessions:
            sessions[-1][1].append(line.rstrip())
    return sessions


def _matches(expected: list[str], actual: list[str]) -> bool:
    pattern = "".join(
        r"(?:[^\n]*\n)*?" if line == "..." else re.escape(line) + r"\n" for line in expected
    )
    return re.fullmatch(pattern, "".join(line + "\n" for line in actual)) is not None


def _shown(lines: list[str]) -> list[str]:
    while lines and not lines[-1]:
        lines = lines[:-1]
    return lines


@pytest.mark.parametrize("block", RUNNABLE)
def test_readme_block(block: Block, scratch: Path):
    if block.needs:
        pytest.importorskip(block.needs)
    if block.lang == "python":
        proc = subprocess.run(
            [sys.executable, "-c", block.text], cwd=scratch, env=_env(),
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        return
    if block.lang == "sh":
        for command in (line for line in block.text.splitlines() if line.strip()):
            if command.lstrip().startswith("#"):
                continue
            proc = _bash(command, scratch)
            assert proc.returncode == 0, f"{command}\n{proc.stderr}"
        return
    for command, expected in _sessions(block.text):
        proc = _bash("{ " + command + "\n} 2>&1", scratch)
        actual = [line.rstrip().replace(str(scratch), ".") for line in proc.stdout.splitlines()]
        assert _matches(_shown(expected), _shown(actual)), (
            f"README line {block.line}: $ {command}\n--- shown ---\n"
            + "\n".join(expected)
            + "\n--- printed ---\n"
            + "\n".join(actual)
        )


def test_readme_has_examples_that_run():
    runnable = [b for b in blocks() if b.lang == "console" and not b.skip]
    assert len(runnable) >= 5
    skipped = [b for b in blocks() if b.skip]
    assert len(skipped) <= 6, [f"line {b.line}: {b.skip}" for b in skipped]


def test_every_fence_names_its_language():
    # A bare ``` block would be neither run nor skipped: it would escape the checks above.
    fences = [
        (n, line) for n, line in enumerate(README.read_text(encoding="utf-8").splitlines(), 1)
        if line.startswith("```")
    ]  # fmt: skip
    openings = fences[::2]
    assert len(fences) % 2 == 0
    bad = [n for n, line in openings if line[3:].strip() not in ("console", "sh", "python", "text")]
    assert bad == []


def test_ci_runs_the_readme_test_command_as_written():
    quick = _sections()["Quick start"]
    command = next(line for line in quick.splitlines() if "python -m pytest" in line)
    assert command in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()


def _sections() -> dict[str, str]:
    """README text under each ``## `` heading."""
    text = README.read_text(encoding="utf-8")
    parts = re.split(r"^## ", text, flags=re.MULTILINE)
    return {part.splitlines()[0]: part for part in parts[1:]}


def _documented_options(section: str) -> set[str]:
    """Flags named in the first cell of the section's option-table rows."""
    flags: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| `-"):
            first = line.split("|")[1]
            flags.update(re.findall(r"(?<![\w-])(--?[a-zA-Z][\w-]*)", first))
    return flags


def _command_options(name: str) -> set[str]:
    import click

    from convtool.cli import cli

    command = cli.commands[name]
    flags: set[str] = set()
    for param in command.params:
        if isinstance(param, click.Option) and "--help" not in param.opts:
            flags.update(param.opts)
            flags.update(param.secondary_opts)
    return flags


def _section_of(command: str) -> str:
    sections = _sections()
    title = next((t for t in sections if f"`convtool {command}`" in t), None)
    assert title is not None, f"README has no '## ... `convtool {command}`' section"
    return sections[title]


def test_every_command_has_a_readme_section_with_an_option_table():
    from convtool.cli import cli

    for name in cli.commands:
        assert _documented_options(_section_of(name)), f"no option table for {name}"


def test_help_and_readme_option_tables_agree():
    from convtool.cli import cli

    for name in cli.commands:
        documented = _documented_options(_section_of(name))
        actual = _command_options(name)
        assert actual - documented == set(), f"{name}: options missing from the README table"
        assert documented - actual == set(), f"{name}: README table names unknown options"
