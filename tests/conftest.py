"""Shared fixtures: a fresh workspace per test, and small helpers to write input files.

The session also checks that every `dsdm` subcommand ran at least once (in-process or as a
child process): `main()` appends each command it parses to $DSDM_RECORD_COMMANDS, and a full
default run that passed fails at its end if a subcommand never ran.
"""

from __future__ import annotations

import json
import os
import tempfile
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


_RECORD = Path(tempfile.mkdtemp(prefix="dsdm-commands-")) / "commands.txt"


def pytest_configure(config: pytest.Config) -> None:
    os.environ["DSDM_RECORD_COMMANDS"] = str(_RECORD)  # inherited by child `dsdm` processes


def all_subcommands() -> set[str]:
    from dsdm_engine.cli import build_parser

    def walk(parser, prefix=()):
        for action in parser._actions:
            if action.__class__.__name__ == "_SubParsersAction":
                for name, sub in action.choices.items():
                    inner = list(walk(sub, (*prefix, name)))
                    yield from inner or [" ".join((*prefix, name))]

    return set(walk(build_parser()))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail a full default run that passed but never executed some subcommand."""
    opts = session.config.option
    by_testpaths = session.config.args_source == pytest.Config.ArgsSource.TESTPATHS
    full = not opts.keyword and opts.markexpr == "not slow and not gpu" and by_testpaths
    if exitstatus != 0 or not full or session.testscollected < 100:
        return
    ran = set(_RECORD.read_text().split("\n")) if _RECORD.exists() else set()
    missing = sorted(all_subcommands() - ran)
    if missing:
        print(f"\nerror: these dsdm subcommands never ran in the default suite: {missing}")
        session.exitstatus = 1
