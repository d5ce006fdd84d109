"""Output writers shared by the commands: rich tables, tab-separated text, CSV and JSON.

Owns how results reach stdout, not what they contain: each command builds its rows and picks
a writer. Imports click, rich and :mod:`.common`; must not import the group or a command.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from rich.table import Table

from .common import on_terminal, stdout_console

table_option = click.option(
    "--table/--plain",
    "as_table",
    default=None,
    help="Rich table or tab-separated text [default: table on a terminal, text when piped].",
)


def use_table(choice: bool | None = None) -> bool:
    """A rich table when asked (``--table/--plain``), else when stdout is a terminal."""
    return choice if choice is not None else on_terminal()


def echo_json(doc: object, *, indent: int | None = None) -> None:
    click.echo(json.dumps(doc, indent=indent))


def echo_tsv(rows, *, header: list[str] | None = None, notes=()) -> None:
    """Tab-separated lines: an optional header, the rows, then each note as ``# note``."""
    if header is not None:
        click.echo("\t".join(header))
    for row in rows:
        click.echo("\t".join(str(v) for v in row))
    for note in notes:
        click.echo(f"# {note}")


def echo_csv(header: list[str], rows) -> None:
    """Comma-separated lines under a header line (values are numbers and plain names)."""
    click.echo(",".join(header))
    for row in rows:
        click.echo(",".join(str(v) for v in row))


def print_table(table: Table) -> None:
    """A rich table on stdout, fitted to the terminal's width."""
    stdout_console().print(table)


def print_report(title: str, header: list[str], rows: list[list[str]], notes: list[str]) -> None:
    """A compact numeric table (first column left, the others right) with dim notes under it.

    A row named ``total`` is set off by a rule; on a pipe the table is printed whole.
    """
    from rich import box
    from rich.measure import Measurement
    from rich.table import Table

    table = Table(
        title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False,
        pad_edge=False, collapse_padding=True,
    )  # fmt: skip
    for i, name in enumerate(header):
        # Numbers never wrap mid-value; on a narrow terminal the layer names give way first.
        table.add_column(name, justify="left" if i == 0 else "right", no_wrap=i > 0)
    for i, row in enumerate(rows):
        before_total = i + 1 < len(rows) and rows[i + 1][0] == "total"
        table.add_row(*row, end_section=before_total)
    out = stdout_console()
    if not out.is_terminal:
        # A pipe has no width to fit: print the table whole rather than squeezed into 80 columns.
        natural = Measurement.get(out, out.options.update(max_width=10_000), table).maximum
        out.width = max(out.width, natural)
    out.print(table)
    for note in notes:
        out.print(f"[dim]{note}[/dim]")
