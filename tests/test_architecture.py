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
