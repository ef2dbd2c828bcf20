"""Shared fixtures: a fresh workspace per test, and small helpers to write input files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from data_catalog.catalog import Catalog


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    return Catalog.open(tmp_path / "ws")


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture
def jsonl_file(tmp_path: Path):
    def make(records: list[dict], name: str = "data.jsonl") -> Path:
        return write_jsonl(tmp_path / name, records)

    return make
