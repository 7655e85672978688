"""The Ansible plugins stand on the model and the rules only (import-linter checks the package itself)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MODEL_AND_RULES = {"pyctl.inventory", "pyctl.gpu", "pyctl.errors", "pyctl.ansible_filters", "pyctl.etcd_metrics",
                   "pyctl.plan"}
# The inventory plugin's job is to read NetBox and give the plan's variables: it takes pyctl's one way in
# (pyctl.site: NetBox → inventory → plan), as every verb does.
INVENTORY_PLUGIN_EXTRA = {"pyctl.site"}


def pyctl_imports(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "pyctl":
            out.update(f"{node.module}.{a.name}" if node.module == "pyctl" else node.module for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == "pyctl")
    return out


def _allowed(module: str, allowed: set[str]) -> bool:
    return any(module == a or module.startswith(a + ".") for a in allowed)


@pytest.mark.parametrize("path", sorted((REPO / "plugins").rglob("*.py")), ids=lambda p: p.name)
def test_a_plugin_imports_only_the_model_and_the_rules(path: Path) -> None:
    allowed = MODEL_AND_RULES | (INVENTORY_PLUGIN_EXTRA if path.parent.name == "inventory" else set())
    imports = pyctl_imports(path)
    assert imports, f"{path.name} imports nothing of pyctl"
    assert sorted(m for m in imports if not _allowed(m, allowed)) == []
