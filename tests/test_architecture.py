"""The structure the README's Architecture section promises, checked on the source itself.

- the torch-free packages (engine.core, engine.data, engine.estimate) never load torch, and the
  dashboard (app.py, pages/, ui/) imports nothing else of the engine;
- no import cycle between engine modules, no private name imported across modules;
- no engine module over 450 lines;
- what differs between texts and pictures is looked up in the task registry, never an
  ``if task == "image"``.
"""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ENGINE = ROOT / "engine"
TORCH_FREE = ("engine.core", "engine.data", "engine.estimate")
DASHBOARD_FILES = [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py")), *sorted((ROOT / "ui").glob("*.py"))]
MAX_LINES = 450


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


ENGINE_MODULES = {module_name(p): p for p in sorted(ENGINE.rglob("*.py"))}


def imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(module, names, line) of every import in a file, at any depth (function-level ones included)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(a.name, [], node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, [a.name for a in node.names], node.lineno))
    return found


def engine_targets(module: str, names: list[str]) -> set[str]:
    """The engine modules an import statement reaches (``from engine.data import text`` reaches engine.data.text)."""
    targets = {module} if module in ENGINE_MODULES else set()
    targets |= {f"{module}.{n}" for n in names if f"{module}.{n}" in ENGINE_MODULES}
    return targets


def test_no_import_cycle_between_engine_modules():
    graph = {
        name: {t for mod, names, _ in imports(path) for t in engine_targets(mod, names) if t != name}
        for name, path in ENGINE_MODULES.items()
    }
    # A package's __init__ is imported before its modules; an edge to a parent package is not a cycle.
    graph = {m: {t for t in ts if not m.startswith(t + ".")} for m, ts in graph.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt) :] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for name in graph:
        if name not in state:
            visit(name)


def test_no_private_name_is_imported_across_modules():
    for path in [*ENGINE_MODULES.values(), *DASHBOARD_FILES, *sorted((ROOT / "bench").glob("*.py"))]:
        for module, names, line in imports(path):
            if module.startswith("engine"):
                private = [n for n in names if n.startswith("_")]
                assert not private, f"{path.relative_to(ROOT)}:{line} imports {private} from {module}"


def test_engine_modules_stay_small():
    for name, path in ENGINE_MODULES.items():
        lines = len(path.read_text(encoding="utf-8").splitlines())
        assert lines <= MAX_LINES, f"{name} has {lines} lines (split it: one job per module)"


def test_torch_free_packages_never_load_torch():
    names = [n for n in ENGINE_MODULES if n.startswith(TORCH_FREE)]
    assert len(names) > 20  # the check really covers the packages
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in ('torch', 'transformers', 'peft') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


# Deliberate lazy imports from the torch-free packages into torch code, run only in a worker process.
LAZY_TORCH = {("engine.core.resolve", "engine.tasks.text.gguf")}  # SmolLM2's one-time GGUF conversion


def test_torch_free_packages_import_only_torch_free_engine_modules_even_lazily():
    """Also inside functions: a lazy import of engine.training from engine.core once loaded torch into the
    Streamlit server when a run was started."""
    for name, path in ENGINE_MODULES.items():
        if not name.startswith(TORCH_FREE):
            continue
        for module, names, line in imports(path):
            for target in engine_targets(module, names):
                assert target.startswith(TORCH_FREE) or (name, target) in LAZY_TORCH, (
                    f"{name}:{line} imports {target}, which is not torch-free"
                )


def test_the_dashboard_imports_only_the_torch_free_engine():
    for path in DASHBOARD_FILES:
        for module, names, line in imports(path):
            if module == "engine" or module.startswith("engine."):
                reached = {module, *(f"{module}.{n}" for n in names)} if module == "engine" else {module}
                assert all(r.startswith(TORCH_FREE) for r in reached), (
                    f"{path.relative_to(ROOT)}:{line} imports {module} {names}"
                )


def test_task_branches_are_lookups_in_the_registry():
    from engine.core.tasks import TASKS

    def compares_a_task_name(node: ast.AST) -> bool:
        if not isinstance(node, ast.Compare):
            return False
        sides = [node.left, *node.comparators]
        return any(isinstance(s, ast.Constant) and s.value in TASKS for s in sides)

    allowed = {ENGINE / "core" / "tasks.py"}
    for path in [*ENGINE_MODULES.values(), *DASHBOARD_FILES]:
        if path in allowed:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            assert not compares_a_task_name(node), (
                f"{path.relative_to(ROOT)}:{node.lineno} compares with a task name; look it up in engine.core.tasks"
            )


def test_every_task_is_complete():
    """Each registered task names a loader, a summary, an input reader, a Task, an estimate and a recommendation
    that exist, and its Task implements the whole interface."""
    from engine.core.tasks import TASKS
    from engine.tasks.base import Task

    for task in TASKS.values():
        for part in ("loader", "describer", "input_reader", "estimator", "recommender"):
            assert callable(task.load(part)), (task.name, part)
        implementation = task.load("implementation")
        assert issubclass(implementation, Task) and implementation.name == task.name
        assert not inspect.isabstract(implementation), implementation


def test_the_router_relies_on_a_streamlit_flag_that_still_exists():
    """ui/router.py flips Streamlit's private ``PagesManager.uses_pages_directory`` the way st.navigation
    itself does (see its docstring). This fails the day Streamlit renames or stops using it."""
    import streamlit.commands.navigation as navigation
    from streamlit.runtime.pages_manager import PagesManager

    assert "uses_pages_directory" in vars(PagesManager)
    assert "PagesManager.uses_pages_directory = False" in inspect.getsource(navigation)
