"""Layering of the matcher, image geometry and pictures (issue 9): who may import whom."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import convtool
from convtool import geometry, matching, pictures, template

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
        "import sys, convtool.matching, convtool.geometry, convtool.pictures, convtool.template\n"
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
    banned += ("convtool.template",)
    assert _offends(_imported(PACKAGE / name), banned) == []


def test_the_import_checker_sees_relative_imports():
    # Guards the guard: template.py imports the matcher and pictures, relatively.
    names = _imported(PACKAGE / "template.py")
    assert "convtool.matching.scoring" in names and "convtool.pictures" in names


def test_compatibility_alias_exposes_the_new_homes_objects():
    for name in template.__all__:
        home = matching if hasattr(matching, name) else pictures
        if name == "next_fast_len":
            continue  # the engine's
        assert getattr(template, name) is getattr(home, name), name
    assert template.resize is geometry.resize and template.rotate is geometry.rotate


def test_patching_the_alias_patches_where_the_matcher_looks(monkeypatch):
    spy = object()
    original = matching.windows._prefix_tasks
    monkeypatch.setattr(template, "_prefix_tasks", spy)
    assert matching.windows._prefix_tasks is spy
    monkeypatch.undo()
    assert matching.windows._prefix_tasks is original
