"""The catalog: schema migrations, version refusal, concurrent processes, stored records."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import duckdb
import numpy as np
import pytest

from data_catalog.catalog import Catalog
from data_catalog.errors import CatalogError, InputError, NotFoundError
from data_catalog.ingest import ingest
from data_catalog.records import Selection
from data_catalog.schema import LATEST_VERSION, MIGRATIONS
from data_catalog.workspace import Workspace, resolve_workspace_path


def test_workspace_layout_and_resolution(tmp_path, monkeypatch):
    cat = Catalog.open(tmp_path / "ws")
    root = tmp_path / "ws"
    assert (root / "catalog.duckdb").is_file()
    assert (root / "artifacts").is_dir() and (root / "exports").is_dir()
    assert cat.schema_version() == LATEST_VERSION
    monkeypatch.setenv("DSDM_WORKSPACE", str(tmp_path / "env_ws"))
    assert resolve_workspace_path() == tmp_path / "env_ws"
    assert resolve_workspace_path(tmp_path / "flag") == tmp_path / "flag"
    monkeypatch.delenv("DSDM_WORKSPACE")
    monkeypatch.chdir(tmp_path)
    assert resolve_workspace_path() == tmp_path / "dsdm_workspace"


def test_opening_an_older_workspace_migrates_it_and_keeps_data(tmp_path):
    ws = Workspace.open(tmp_path / "old")
    con = duckdb.connect(str(ws.catalog_path))
    con.execute("CREATE TABLE schema_version (version INTEGER, applied_at TIMESTAMP)")
    for stmt in MIGRATIONS[1]:
        con.execute(stmt)
    con.execute("INSERT INTO schema_version VALUES (1, now())")
    con.execute("INSERT INTO pools VALUES ('old', now(), 1, 5, 1, 0, 0, 'h', '{\"ingests\": []}')")
    con.execute("INSERT INTO documents VALUES ('old', 'd1', 0, 'hello', 'src', 5, 1, NULL)")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a pid that no longer runs
    con.execute(
        "INSERT INTO jobs (job_id, kind, status, params, pid, created_at, updated_at, message) "
        "VALUES ('job-old', 'ingest', 'running', '{}', ?, now(), now(), 'shard 2')",
        [gone.pid],
    )
    con.close()

    cat = Catalog(ws)
    assert cat.schema_version() == LATEST_VERSION == 5
    old_job = cat.get_job("job-old")  # v5's liveness columns, and a v1 row's pid is still checked
    assert (old_job["status"], old_job["message"], old_job["heartbeat_at"]) == (
        "died",
        "shard 2",
        None,
    )
    assert cat.lds_results().empty  # the table v4 added
    docs = cat.documents("old")
    assert list(docs["text"]) == ["hello"]
    assert docs["n_tokens"].isna().all()  # the column v2 added
    assert cat.add_exclusions("old", ["d1"], "test") == 1  # the table v2 added


def test_a_newer_workspace_is_refused_untouched(tmp_path):
    ws = Workspace.open(tmp_path / "new")
    Catalog(ws)
    con = duckdb.connect(str(ws.catalog_path))
    con.execute("INSERT INTO schema_version VALUES (?, now())", [LATEST_VERSION + 5])
    con.close()
    before = ws.catalog_path.read_bytes()
    with pytest.raises(CatalogError, match=f"schema version {LATEST_VERSION + 5}.*upgrade"):
        Catalog(ws)
    assert ws.catalog_path.read_bytes() == before


def test_a_reader_process_works_while_a_writer_process_writes(tmp_path, jsonl_file):
    """Two processes: one ingests pool after pool, the other reads all the while."""
    ws = tmp_path / "ws"
    cat = Catalog.open(ws)
    src = jsonl_file([{"text": f"doc {i} " + "y" * 40} for i in range(3000)])
    writer = textwrap.dedent(
        f"""
        import json
        from data_catalog.catalog import Catalog
        from data_catalog.ingest import ingest
        cat = Catalog.open({str(ws)!r})
        for i in range(4):
            ingest(cat, f"p{{i}}", [{str(src)!r}])
            job = cat.create_job("w", {{}})
            for k in range(20):
                cat.update_job(job, done=k, total=20)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", writer])
    reads = 0
    seen_pools = set()
    while proc.poll() is None:
        seen_pools |= set(cat.list_pools()["pool_id"])
        cat.list_jobs()
        reads += 1
    assert proc.returncode == 0
    assert reads > 5
    assert len(cat.list_pools()) == 4
    assert all(cat.get_pool(f"p{i}")["n_docs"] == 3000 for i in range(4))


def test_lock_timeout_is_a_clear_error(tmp_path):
    ws = tmp_path / "ws"
    Catalog.open(ws)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, time; c = duckdb.connect({str(ws / 'catalog.duckdb')!r}); "
            "print('held', flush=True); time.sleep(20)",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout.readline().strip() == b"held"
        with pytest.raises(CatalogError, match="locked by another process"):
            Catalog(Workspace(ws), lock_timeout_s=0.5).list_pools()
    finally:
        holder.kill()
        holder.wait()


def test_scores_store_zscores_and_percentiles(catalog, jsonl_file):
    ingest(catalog, "p", [str(jsonl_file([{"text": f"d{i}"} for i in range(4)]))])
    ids = catalog.doc_ids("p")
    catalog.save_scores("run1", "t@v1", "p", ids, np.array([3.0, -1.0, 1.0, 1.0]))
    df = catalog.scores("run1", "t@v1")
    assert list(df["doc_id"]) == ids
    assert np.allclose(df["zscore"], (np.array([3, -1, 1, 1]) - 1) / np.sqrt(2))
    # the one definition (data_catalog.ranks): lowest 0, highest 100, ties share their mean rank
    assert list(df["percentile"]) == [100.0, 0.0, 50.0, 50.0]
    with pytest.raises(ValueError, match="NaN"):
        catalog.save_scores("run1", "t@v1", "p", ids, np.array([1.0, np.nan, 0, 0]))
    assert len(catalog.scores("run1", "t@v1")) == 4  # the failed save replaced nothing


def test_pool_columns_are_ingest_order_with_words_until_tokenised(catalog, jsonl_file):
    rows = [{"text": " ".join(["w"] * (i + 1)), "source": f"s{i % 2}"} for i in range(5)]
    ingest(catalog, "p", [str(jsonl_file(rows))])
    cols = catalog.pool_columns("p")
    assert cols["doc_id"] == catalog.doc_ids("p") and cols["source"] == ["s0", "s1"] * 2 + ["s0"]
    assert cols["n_tokens"].dtype == np.int64 and cols["n_tokens"].tolist() == [1, 2, 3, 4, 5]
    catalog.set_token_counts("p", cols["doc_id"][:2], [7, 9])  # tokenised: counts win
    assert catalog.pool_columns("p")["n_tokens"].tolist() == [7, 9, 3, 4, 5]


def test_selection_round_trip_and_validation(catalog, jsonl_file):
    ingest(catalog, "p", [str(jsonl_file([{"text": f"d{i}"} for i in range(5)]))])
    ids = catalog.doc_ids("p")
    sel = Selection("random", (ids[3], ids[0]), (0.5, 0.25), {"k": 2}, seed=7)
    sid = catalog.save_selection("p", sel, name="mine", overrides={"exclude": [ids[1]]})
    got = catalog.get_selection("mine")
    assert got["selection_id"] == sid and got["seed"] == 7 and got["params"] == {"k": 2}
    assert got["overrides"] == {"exclude": [ids[1]]}
    assert list(catalog.selection_members(sid)["doc_id"]) == [ids[3], ids[0]]
    with pytest.raises(InputError, match="not in pool"):
        catalog.save_selection("p", Selection("x", ("nope",), (1.0,), {}, 0))
    with pytest.raises(NotFoundError, match="known pools: p"):
        catalog.save_selection("q", sel)
    with pytest.raises(ValueError, match="2 ids but 1 scores"):
        Selection("x", ("a", "b"), (1.0,), {}, 0)


def test_jobs_progress_and_cancel(catalog):
    job = catalog.create_job("featurize", {"k": 1})
    assert catalog.update_job(job, status="running", done=1, total=10, rate=2.0) is False
    catalog.request_cancel(job)
    assert catalog.update_job(job, done=2) is True
    j = catalog.get_job(job)
    assert (j["done"], j["total"], j["status"], j["params"]) == (2, 10, "running", {"k": 1})


def test_a_session_reuses_one_connection_in_its_thread_only(tmp_path):
    import threading

    cat = Catalog.open(tmp_path / "ws")
    with cat.connect() as a, cat.connect() as b:
        assert a is not b  # no session: a connection per use
    seen = []
    with cat.session():
        with cat.connect() as a, cat.connect() as b:
            assert a is b
        with cat.session(), cat.connect() as c:  # nested: still the outer one
            assert c is a
        t = threading.Thread(target=lambda: seen.append(cat.query_one("SELECT 41 + 1")))
        t.start()
        t.join()
        assert cat.query_one("SELECT 1") == (1,)
    assert seen == [(42,)]  # another thread opened its own (after waiting for the file lock)
    with cat.connect() as d:
        assert d is not a  # the session's connection is closed and gone
