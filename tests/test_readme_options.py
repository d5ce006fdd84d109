"""The README's option tables list every value --help offers for an option.

Each command's section (the ``## `` part whose title names ``convtool NAME``) holds a Markdown
table whose rows start with the option names (``| `--values clip|abs` | ...``). For every
``click.Choice`` option (or a type with ``choices``, as ``--values``), each choice must appear
in the option's row as a word of its own. That every option has a row at all is checked by
tests/test_readme.py (test_help_and_readme_option_tables_agree).
"""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from convtool.cli import cli

README = Path(__file__).resolve().parent.parent / "README.md"
COMMANDS = ("filter", "find", "kernels", "params", "show", "fit")


def _section(text: str, command: str) -> str:
    parts = re.split(r"^## ", text, flags=re.MULTILINE)
    for part in parts:
        title = part.splitlines()[0] if part else ""
        if f"convtool {command}`" in title:
            return part
    return ""


def _rows(section: str) -> list[tuple[str, str]]:
    rows = []
    for line in section.splitlines():
        if not line.startswith("| `-"):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
        rows.append((cells[0], line.replace("\\|", "|")))
    return rows


def _flags(cell: str) -> set[str]:
    return set(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", cell))


def problems(markdown: str, command: str) -> list[str]:
    """What the README's table for ``command`` leaves out of ``convtool COMMAND --help``."""
    with click.Context(cli) as ctx:
        cmd = cli.get_command(ctx, command)
    assert cmd is not None
    section = _section(markdown, command)
    rows = _rows(section)
    if not rows:
        return [f"{command}: no option table in its README section"]
    found = []
    for param in cmd.params:
        if not isinstance(param, click.Option) or param.hidden:
            continue
        names = [n for n in (*param.opts, *param.secondary_opts) if n != "--help"]
        choices = getattr(param.type, "choices", ()) or ()
        row = next((line for cell, line in rows if _flags(cell) & set(names)), None)
        if row is None:
            if choices:  # a missing row is test_readme.py's; its values cannot be listed
                found.append(f"{command}: {'/'.join(names)} has no row to list its values")
            continue
        for choice in choices:
            if not re.search(rf"(?<![\w-]){re.escape(str(choice))}(?![\w-])", row):
                found.append(f"{command}: {names[-1]} row does not list {choice!r}")
    return found


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_option_table_matches_help(command):
    assert problems(README.read_text(encoding="utf-8"), command) == []


def test_the_checker_sees_a_missing_choice():
    table = (
        "## `convtool filter`: x\n\n| option | meaning |\n|---|---|\n"
        "| `--alpha keep\\|premultiply\\|filter\\|drop` | alpha |\n"
        "| `--depth` | `8`, `16` or `float` |\n"
    )
    found = problems(table, "filter")
    assert "filter: --alpha row does not list 'keep'" not in found
    assert "filter: --depth row does not list 'float'" not in found
    assert "filter: --border has no row to list its values" in found
    assert "filter: --format row does not list 'gif'" not in found  # no row: reported above
    assert "filter: --depth row does not list '16'" in problems(
        table.replace("`16` or ", ""), "filter"
    )
