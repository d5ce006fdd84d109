"""Shell completion of kernel specs (click's ``shell_complete`` callbacks).

Choices (border modes, methods, strategies, value mappings) complete through click's
``Choice`` already; kernel specs are free text (a name with parameters, or a file), so they
get :func:`complete_kernel`. The README shows the install line (bash; zsh and fish likewise).
Must not import the group or a command module.
"""

from __future__ import annotations

import click
from click.shell_completion import CompletionItem

from ..kernels import list_kernels


def complete_kernel(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """Named kernels starting with ``incomplete`` (with their parameters as help), then files.

    After a colon (``gaussian:``) the parameters are the user's to type: nothing is offered.
    Something that looks like a path (a ``/`` or a ``.``), or that no name starts with, is
    left to the shell's file completion.
    """
    if ":" in incomplete:
        return []
    items = [
        CompletionItem(info.name, help=f"{info.params} {info.description}".strip())
        for info in list_kernels()
        if info.name.startswith(incomplete.lower())
    ]
    if not items or "/" in incomplete or "." in incomplete:
        items.append(CompletionItem(incomplete, type="file"))
    return items
