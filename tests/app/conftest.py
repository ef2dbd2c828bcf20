"""Fixtures for the app tests: a fresh tiny workspace (see `tiny_ws.py`) set as the app's."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_ws import build_tiny_workspace

from data_catalog.catalog import Catalog


@pytest.fixture
def tiny_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Catalog:
    """A fresh tiny workspace, also set as $DSDM_WORKSPACE for the app under test."""
    cat = build_tiny_workspace(tmp_path / "ws")
    monkeypatch.setenv("DSDM_WORKSPACE", str(cat.workspace.root))
    return cat
