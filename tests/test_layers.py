"""Architecture guard: imports point down only (app → dsdm_engine → data_catalog).

data_catalog must not import torch, streamlit, dsdm_engine or app; dsdm_engine must not import
streamlit or app. Walks every module's AST, so a lazy import inside a function counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "data_catalog": {"torch", "streamlit", "dsdm_engine", "app", "transformers", "trak"},
    "dsdm_engine": {"streamlit", "app"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_upward_imports(package):
    bad = []
    for path in sorted((ROOT / package).rglob("*.py")):
        hits = _imports(path) & FORBIDDEN[package]
        if hits:
            bad.append(f"{path.relative_to(ROOT)} imports {sorted(hits)}")
    assert not bad, "layer violations:\n" + "\n".join(bad)


def test_every_module_has_a_docstring():
    missing = [
        str(p.relative_to(ROOT))
        for pkg in ("app", "data_catalog", "dsdm_engine")
        for p in sorted((ROOT / pkg).rglob("*.py"))
        if p.stat().st_size and ast.get_docstring(ast.parse(p.read_text())) is None
    ]
    assert not missing, f"modules without a docstring: {missing}"
