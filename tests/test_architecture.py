"""The flow configs -> samples -> results -> analysis holds in the tree and in the imports: each stage is a
package of `designspace/`, and no module imports from a later stage (ARCHITECTURE.md lists them)."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PKG = REPO / "designspace"
STAGES = ["configs", "util", "net", "space", "training", "sweep", "analysis", "reporting", "studies", "cli"]
"""In flow order; `designspace/__init__.py` and the `python -m designspace.<verb>` entry points come last."""
RANK = {name: i for i, name in enumerate(STAGES)}
DATA = {"docs"}
"""Folders of package data beside the stages: the guides (docs/*.md), shipped so that messages can cite them."""
VERBS = {"sample", "train", "analyze", "describe", "spaces", "reproduce", "refine", "compare", "notebooks"}


def _stage_of(path: Path) -> str:
    rel = path.relative_to(PKG)
    return rel.parts[0] if len(rel.parts) > 1 else "entry"


def _imported_stages(source: str) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(source)):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] if node.module != "designspace" else [f"designspace.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "designspace" and len(parts) > 1:
                out.add(parts[1])
    return out


def test_the_tree_is_one_package_per_stage_and_thin_entry_points() -> None:
    top = {p.name for p in PKG.iterdir() if not p.name.startswith((".", "_"))}
    packages = {p for p in top if (PKG / p).is_dir()} - DATA
    assert packages == set(STAGES), f"packages not in the flow: {sorted(packages ^ set(STAGES))}"
    assert all(not (PKG / d / "__init__.py").exists() for d in DATA)
    modules = {p.removesuffix(".py") for p in top if p.endswith(".py")}
    assert modules == VERBS, f"top-level modules that are not entry points: {sorted(modules - VERBS)}"
    for verb in VERBS:
        tree = ast.parse((PKG / f"{verb}.py").read_text())
        imports = [n for n in tree.body if isinstance(n, ast.ImportFrom)]
        assert [n.module for n in imports] == [f"designspace.cli.{verb}"], f"designspace/{verb}.py is not a thin shim"
        assert (PKG / "cli" / f"{verb}.py").is_file()


def test_models_is_configs_not_a_package() -> None:
    """models/ holds the zoo's exported pycls/timm configs and the script that writes them; the import shim is gone
    (a package named `models` would shadow others'); `designspace` itself offers build_model and zoo."""
    assert not (REPO / "models" / "__init__.py").exists()
    assert {p.suffix for p in (REPO / "models").rglob("*") if p.is_file()} <= {".yaml", ".py", ".md"}
    init = ast.parse((PKG / "__init__.py").read_text())
    names = next(n for n in init.body if isinstance(n, ast.Assign) and n.targets[0].id == "__all__").value
    exported = {e.value for e in names.elts if isinstance(e, ast.Constant)}
    assert {"zoo", "export"} <= exported and (PKG / "py.typed").is_file()


def _violations(stage: str, source: str) -> list[str]:
    bad = []
    for dep in _imported_stages(source):
        if dep in VERBS:
            bad.append(f"imports the entry point designspace.{dep}")
        elif dep in RANK and RANK[dep] > RANK[stage]:
            bad.append(f"({stage}) imports designspace.{dep} (a later stage)")
    return bad


def test_no_module_imports_from_a_later_stage() -> None:
    bad = [f"{path.relative_to(REPO)} {v}" for path in PKG.rglob("*.py") if _stage_of(path) != "entry"
           for v in _violations(_stage_of(path), path.read_text())]
    assert not bad, "\n".join(bad)


def test_the_check_finds_a_reach_back_up_the_flow() -> None:
    assert _violations("net", "from designspace.sweep.layout import SweepDir") != []
    assert _violations("space", "def f():\n    from designspace import sample\n") != []  # an entry point
    assert _violations("analysis", "import designspace.reporting.plots") != []
    assert _violations("analysis", "from designspace.net import zoo\nfrom designspace.sweep import load") == []


def test_network_and_sampling_stages_do_not_import_torch() -> None:
    """torch only where a network runs: the sampler and the counter load without it."""
    import subprocess
    import sys

    code = ("import sys; import designspace.space.sampler, designspace.net.complexity, designspace.space.spaces; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_the_tests_are_laid_out_like_the_package() -> None:
    """Each test module sits under tests/<stage>/ (or tests/cluster/ for the real engines); helpers live in
    tests/helpers/ only and are imported one way (`from tests.helpers...`)."""
    tests = REPO / "tests"
    allowed = {*STAGES, "cluster"} - {"configs", "util"} | {"helpers", "data"}
    misplaced, stray, styles = [], [], []
    for path in tests.rglob("*.py"):
        rel = path.relative_to(tests)
        if rel.parts[0] in ("data",) or rel == Path("conftest.py") or rel == Path("test_architecture.py"):
            continue
        if rel.parts[0] not in allowed or len(rel.parts) != 2:
            misplaced.append(str(rel))
        elif rel.parts[0] != "helpers" and not (rel.name.startswith("test_") or rel.name == "conftest.py"):
            stray.append(str(rel))
        text = path.read_text()
        styles += [f"{rel}: {line.strip()}" for line in text.splitlines()
                   if line.strip().startswith(("from train_helpers", "import train_helpers", "from cluster_helpers",
                                               "from tests.fixtures", "from tests.conftest", "sys.path.insert"))]
    assert not misplaced and not stray and not styles, (misplaced, stray, styles)


def _own_names(source: str) -> set[str] | None:
    """The names a module defines at its top level (functions, classes, assignments; None when a module
    `__getattr__` serves more: every name is then its own)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.col_offset == 0:
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.col_offset == 0:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return None if "__getattr__" in names else names


def _borrowed(source: str, own: dict[str, set[str] | None]) -> list[str]:
    """`from M import x` where M is a module (not a package's `__init__`) that does not define x itself, and
    `__all__` entries of such a module that it does not define: a name re-exported, not imported from its home."""
    bad = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module in own and own[node.module] is not None:
            bad += [f"{a.name} from {node.module}" for a in node.names
                    if a.name not in own[node.module] and f"{node.module}.{a.name}" not in own]
    return bad


def _modules() -> dict[str, set[str] | None]:
    return {".".join(p.relative_to(REPO).with_suffix("").parts): _own_names(p.read_text())
            for p in PKG.rglob("*.py") if p.name != "__init__.py"}


def test_no_module_re_exports_a_name_defined_elsewhere() -> None:
    """Each name is imported from the module that defines it; only a package's `__init__` gathers names."""
    own = _modules()
    bad = [f"{path.relative_to(REPO)}: {v}" for folder in ("designspace", "tests", "experiments")
           for path in (REPO / folder).rglob("*.py") for v in _borrowed(path.read_text(), own)]
    for name, names in own.items():
        source = (REPO / (name.replace(".", "/") + ".py")).read_text()
        exported = next((n.value for n in ast.parse(source).body if isinstance(n, ast.Assign)
                         and any(isinstance(t, ast.Name) and t.id == "__all__" for t in n.targets)), None)
        if exported is not None and names is not None:
            bad += [f"{name}.__all__: {e}" for e in ast.literal_eval(exported) if e not in names]
    assert not bad, "\n".join(bad)


def test_the_re_export_check_finds_a_borrowed_name() -> None:
    own = {"designspace.a": {"Here"}, "designspace.b": {"There"}, "designspace.lazy": None}
    assert _borrowed("from designspace.a import There", own) == ["There from designspace.a"]
    assert _borrowed("def f():\n    from designspace.a import Here\n", own) == []
    assert _borrowed("from designspace.lazy import Anything\nfrom designspace import a", own) == []
    assert _own_names("import os\nfrom x import y\nZ = 1\ndef f():\n    w = 2\n") == {"Z", "f"}
