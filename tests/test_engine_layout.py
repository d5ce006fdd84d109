"""The engine package's layering: what its modules may import, and no import circles."""

import ast
import pathlib
import subprocess
import sys

import convtool.engine

ENGINE = pathlib.Path(convtool.engine.__file__).parent
MODULES = sorted(ENGINE.glob("*.py"))
FORBIDDEN = ("click", "rich", "PIL", "scipy", "cv2", "skimage")
# convtool modules outside the engine package that engine modules may import (_blas: OpenBLAS
# held to one thread while a strategy runs; it imports nothing of convtool).
ALLOWED_CONVTOOL = {"runtime", "_blas"}


def _imports(path: pathlib.Path) -> list[tuple[int, str]]:
    """(relative level, dotted name) of every import in a module (level 0: absolute)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(0, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.module:
                found.append((node.level, node.module))
            else:  # from . import a, b
                found += [(node.level, alias.name) for alias in node.names]
    return found


def test_importing_the_engine_loads_no_cli_or_image_libraries():
    code = (
        "import sys, convtool.engine\n"
        f"bad = [m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}]\n"
        "print(','.join(bad))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_engine_modules_import_only_numpy_the_runtime_and_each_other():
    for path in MODULES:
        for level, name in _imports(path):
            top = name.split(".")[0]
            if level == 0:
                assert top not in FORBIDDEN, (path.name, name)
                assert top != "convtool", (path.name, name)  # relative imports only
            elif level == 2:  # from .. import x / from ..x import y: outside the package
                assert top in ALLOWED_CONVTOOL, (path.name, name)
            else:
                assert level == 1, (path.name, name)


def test_engine_modules_import_each_other_without_circles():
    graph = {path.stem: set() for path in MODULES}
    for path in MODULES:
        for level, name in _imports(path):
            if level == 1 and name.split(".")[0] in graph:
                graph[path.stem].add(name.split(".")[0])
    # __init__ re-exports everything; circles among the submodules are what matter.
    graph.pop("__init__")
    done: set[str] = set()

    def visit(node: str, stack: tuple[str, ...]) -> None:
        assert node not in stack, " -> ".join((*stack, node))
        if node in done:
            return
        for dep in graph[node]:
            visit(dep, (*stack, node))
        done.add(node)

    for node in graph:
        visit(node, ())


def test_every_engine_module_says_what_it_owns_and_must_not_import():
    for path in MODULES:
        doc = ast.get_docstring(ast.parse(path.read_text()))
        assert doc, path.name
        assert "Must not import" in doc, path.name


def test_a_runner_nested_in_a_queue_task_works_inline_on_every_thread():
    # The pool's threads are all draining the queue: a nested runner must not wait on them.
    from convtool import runtime

    before = runtime.threads()
    runtime.set_threads(2)
    try:
        seen = []

        def task():
            inner = []
            runtime.run_queue([lambda: inner.append(runtime.in_worker())] * 3)
            seen.append((runtime.in_worker(), inner))

        runtime.run_queue([task] * 4)
        assert seen == [(True, [True] * 3)] * 4
        assert not runtime.in_worker()  # the calling thread is free again
    finally:
        runtime.set_threads(before)
