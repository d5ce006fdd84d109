"""Every command answers -h and --help, and every option of every command says what it does.

Walks the click objects themselves, so a command or option added later is covered without
editing this file.
"""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from convtool.cli import cli


def _commands() -> list[tuple[list[str], click.Command]]:
    """(argv prefix, command) for the group and every command under it, nested groups included."""
    found = [([], cli)]
    for path, command in found:
        if isinstance(command, click.Group):
            found += [([*path, name], sub) for name, sub in sorted(command.commands.items())]
    return found


COMMANDS = _commands()
IDS = [" ".join(path) or "convtool" for path, _ in COMMANDS]


def test_every_command_is_walked():
    assert sorted(IDS) == ["convtool", "filter", "find", "fit", "kernels", "params", "show"]


@pytest.mark.parametrize("flag", ["-h", "--help"])
@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_help_exits_zero(path, command, flag):
    result = CliRunner().invoke(cli, [*path, flag])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Usage: ")
    # The command's own help text is shown, not the group's.
    first_line = command.help.strip().splitlines()[0]
    assert first_line[:40] in " ".join(result.output.split())


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_every_option_has_help(path, command):
    ctx = click.Context(command, info_name=" ".join(["convtool", *path]))
    options = [p for p in command.get_params(ctx) if isinstance(p, click.Option)]
    assert options  # at least --help
    missing = [p.opts for p in options if not (p.help or "").strip()]
    assert not missing, f"options without help text: {missing}"


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_every_command_docstring_has_an_example(path, command):
    assert "Example:" in command.help


def test_group_help_lists_each_command_with_its_own_summary():
    # `convtool --help` shows SUMMARIES without loading the command modules: they must say
    # what each command's docstring says.
    from convtool.cli import COMMANDS, SUMMARIES

    assert set(SUMMARIES) == set(COMMANDS)
    for name, summary in SUMMARIES.items():
        assert cli.commands[name].get_short_help_str(limit=1000) == summary


def test_group_help_needs_neither_pillow_numpy_nor_rich():
    import subprocess
    import sys

    probe = (
        "import sys\nfrom convtool.cli import main\nsys.argv = ['convtool', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('LOADED', sorted(m for m in ('PIL', 'numpy', 'rich') if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "filter" in proc.stdout and "Commands:" in proc.stdout
    assert proc.stdout.splitlines()[-1] == "LOADED []"
