"""The package keeps the shape docs/architecture.md describes: stage packages in the order data
flows, imports only from the same or an earlier stage, and no import cycles.

Every ``import`` counts, including those inside functions: an import deferred to call time is
still a dependency, and deferring was how the old cycles were hidden.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "consistency"

#: Stage of each top-level part of the package, in the order data flows. ``providers`` (one
#: adapter per API family, with the client-side pacing its HTTP hooks feed) sits below the
#: runner that sends through it. The face (the CLI, the one-run pipeline that calls every
#: stage, and the thin public re-exports) sits above all of them.
STAGES = {
    "__init__": 0,  # the package root: ``__version__`` only, it imports nothing
    "common": 0,
    "design": 1,
    "providers": 2,
    "run": 3,
    "measure": 4,
    "analyse": 5,
    "publish": 6,
    "interop": 7,
    "cli": 8, "pipeline": 8, "stats": 8, "analysis": 8, "settings": 8,
}
#: Top-level modules that are not stage packages: the face. Anything else must live in a stage.
FACE = {"__init__", "cli", "pipeline", "stats", "analysis", "settings"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that ``name`` imports (``from a.b import c`` counts ``a.b.c`` when
    ``c`` is a module, else ``a.b``)."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[:len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            targets = [f"{module}.{alias.name}" if f"{module}.{alias.name}" in known else module
                       for alias in node.names]
        else:
            continue
        found.update(t for t in targets if t == "consistency" or t.startswith("consistency."))
    found.discard(name)
    return found


def stage_of(name: str) -> str:
    parts = name.split(".")
    return "__init__" if len(parts) == 1 else parts[1]


def graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imports_of(name, path, set(found)) for name, path in found.items()}


def test_every_module_lives_in_a_stage_package_or_is_the_face():
    strays = sorted(name for name in modules()
                    if stage_of(name) not in STAGES
                    or (name.count(".") == 1 and stage_of(name) not in FACE
                        and not (PACKAGE / stage_of(name)).is_dir()))
    assert not strays, f"modules outside the stage packages (see docs/architecture.md): {strays}"


def test_no_module_imports_from_a_later_stage():
    upward = sorted(f"{name} ({stage_of(name)}) imports {target} ({stage_of(target)})"
                    for name, targets in graph().items() for target in targets
                    if STAGES[stage_of(target)] > STAGES[stage_of(name)])
    assert not upward, "imports against the data flow:\n" + "\n".join(upward)


def test_the_import_graph_has_no_cycles():
    try:
        tuple(graphlib.TopologicalSorter(graph()).static_order())
    except graphlib.CycleError as exc:
        pytest.fail(f"import cycle: {' -> '.join(exc.args[1])}")


def test_the_checks_see_imports_inside_functions_and_relative_ones(tmp_path, monkeypatch):
    """The rule must catch what the old layout hid: a deferred import back up the stages."""
    fake = tmp_path / "consistency"
    (fake / "run").mkdir(parents=True)
    (fake / "publish").mkdir()
    (fake / "run" / "__init__.py").write_text("")
    (fake / "publish" / "__init__.py").write_text("")
    (fake / "publish" / "report.py").write_text("from ..run import runner\n")
    (fake / "run" / "runner.py").write_text("def go():\n    from consistency.publish import report\n")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", fake)
    edges = graph()
    assert edges["consistency.run.runner"] == {"consistency.publish.report"}
    assert edges["consistency.publish.report"] == {"consistency.run.runner"}
    with pytest.raises(AssertionError, match="imports against the data flow"):
        test_no_module_imports_from_a_later_stage()
    with pytest.raises(pytest.fail.Exception, match="import cycle"):
        test_the_import_graph_has_no_cycles()


def test_the_public_api_keeps_its_names():
    """What notebooks import: every test function and result type of ``consistency.stats``,
    ``consistency.analysis.analyse`` and ``consistency.settings.AnalysisSettings``."""
    from consistency import stats
    from consistency.analyse import stats as staged
    from consistency.analysis import analyse
    from consistency.settings import AnalysisSettings

    assert set(stats.__all__) == set(staged.__all__)
    assert all(getattr(stats, name) is getattr(staged, name) for name in staged.__all__)
    assert callable(analyse) and AnalysisSettings().alpha == 0.05


def test_the_architecture_document_names_every_module():
    """docs/architecture.md's package map is kept with the tree: a new module is listed there."""
    doc = (PACKAGE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    missing = []
    for name, path in modules().items():
        if path.name == "__init__.py" and name.count(".") > 1:
            continue  # a sub-package is listed by its folder
        stem = path.stem
        listed = (f"`{stem}.py`" in doc or f"/{stem}.py`" in doc or f"`{stem}`" in doc
                  or (path.name == "__init__.py" and f"`{path.parent.name}/`" in doc))
        if not listed:
            missing.append(str(path.relative_to(PACKAGE)))
    assert not missing, f"modules missing from docs/architecture.md: {missing}"
