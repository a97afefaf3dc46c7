"""The flow configs -> samples -> results -> analysis holds in the imports: no module reaches back up
(ARCHITECTURE.md lists the stages)."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STAGES = [
    ("helpers", {"atomic", "validation", "usage", "configs"}),
    ("network", {"spec", "blocks", "regnet", "regnet_stages", "zoo", "complexity", "describe", "widthfit",
                 "models"}),
    ("samples", {"distributions", "spaces", "budgets", "cardinality", "network_count", "candidates", "sample"}),
    ("training", {"schedule", "data", "trainer"}),
    ("results", {"sweep", "results", "setups", "runner", "train"}),
    ("analysis", {"analysis", "edf", "bootstrap", "outcomes", "power", "fidelity", "findings",
                  "suggest", "nds", "collect"}),
    ("reports", {"report", "plots", "analyze"}),
    ("studies", {"reproduce", "reproduce_report", "refine"}),
]
RANK = {mod: i for i, (_, mods) in enumerate(STAGES) for mod in mods}
EXCEPTIONS = {("sample", "sweep")}  # the sampler writes the sweep directory it draws into


def _module_of(path: Path) -> str:
    rel = path.relative_to(REPO)
    return rel.parts[0] if rel.parts[0] == "models" else rel.parts[1].removesuffix(".py")


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            parts = node.module.split(".")
            if parts[0] == "designspace" and len(parts) > 1:
                out.add(parts[1])
            elif parts[0] == "designspace":
                out |= {a.name for a in node.names}
            elif parts[0] == "models":
                out.add("models")
        elif isinstance(node, ast.Import):
            for a in node.names:
                parts = a.name.split(".")
                if parts[0] == "designspace" and len(parts) > 1:
                    out.add(parts[1])
    return out


def test_every_module_has_a_stage() -> None:
    files = [*REPO.glob("designspace/*.py"), *REPO.glob("designspace/*/__init__.py"), *REPO.glob("models/*.py")]
    names = {_module_of(p) for p in files} - {"__init__"}
    assert names <= set(RANK), f"modules without a stage in ARCHITECTURE.md: {sorted(names - set(RANK))}"


def test_no_module_imports_from_a_later_stage() -> None:
    bad = []
    for path in [*REPO.glob("designspace/**/*.py"), *REPO.glob("models/*.py")]:
        mod = _module_of(path)
        if mod not in RANK:
            continue
        for dep in _imports(path):
            if dep in RANK and RANK[dep] > RANK[mod] and (mod, dep) not in EXCEPTIONS:
                bad.append(f"{path.relative_to(REPO)} ({STAGES[RANK[mod]][0]}) imports {dep} "
                           f"({STAGES[RANK[dep]][0]})")
    assert not bad, "\n".join(bad)
