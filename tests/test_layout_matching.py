"""Layering of the matcher, image geometry and pictures (issue 9): who may import whom."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import convtool

PACKAGE = Path(convtool.__file__).parent


def _imported(path: Path) -> set[str]:
    """Absolute names of the convtool modules and packages ``path`` imports (any level)."""
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    package = ".".join(("convtool", *path.relative_to(PACKAGE).parent.parts))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1]
            module = node.module if node.level == 0 else ".".join([*base, node.module or ""])
            names.add(module.rstrip("."))
            names.update(f"{module.rstrip('.')}.{alias.name}" for alias in node.names)
    return names


def _offends(names: set[str], banned: tuple[str, ...]) -> list[str]:
    return sorted(n for n in names if any(n == b or n.startswith(b + ".") for b in banned))


def test_importing_the_matcher_loads_no_cli_terminal_or_pil_code():
    code = (
        "import sys, convtool.matching, convtool.geometry, convtool.pictures\n"
        "bad = ('click', 'rich', 'PIL', 'convtool.cli', 'convtool.images')\n"
        "print(sorted(m for m in sys.modules if m.startswith(bad)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("path", sorted((PACKAGE / "matching").glob("*.py")), ids=lambda p: p.name)
def test_matching_modules_import_neither_cli_images_nor_pictures(path):
    banned = ("click", "rich", "PIL", "convtool.cli", "convtool.images", "convtool.pictures")
    assert _offends(_imported(path), banned) == []


@pytest.mark.parametrize("name", ["geometry.py", "pictures.py"])
def test_geometry_and_pictures_do_not_import_the_matcher(name):
    banned = ("click", "rich", "PIL", "convtool.cli", "convtool.images", "convtool.matching")
    assert _offends(_imported(PACKAGE / name), banned) == []


def test_the_import_checker_sees_relative_imports():
    # Guards the guard: search.py imports the scorer (one dot) and geometry (two dots).
    names = _imported(PACKAGE / "matching" / "search.py")
    assert "convtool.matching.scoring" in names and "convtool.geometry" in names
