"""Runs and stored paths: begin_run statuses, typed records, relative paths (migration and a
moved workspace), once-per-process migrations, selection id checks, engine-given z-scores."""

from __future__ import annotations

import json
import shutil

import duckdb
import numpy as np
import pytest

from data_catalog.catalog import Catalog, config_hash
from data_catalog.catalog import connection as conn_mod
from data_catalog.errors import CatalogError, InputError, NotFoundError
from data_catalog.export import export_selection
from data_catalog.ingest import ingest
from data_catalog.records import Run, Selection
from data_catalog.schema import LATEST_VERSION, MIGRATIONS
from data_catalog.workspace import Workspace


class Cancelled(Exception):
    """Stands in for the engine's cancel exception (matched by class name)."""


def _raw(catalog: Catalog, sql: str, params=()):
    with catalog.connect() as con:
        return con.execute(sql, list(params)).fetchall()


def test_begin_run_records_id_dir_and_done(catalog):
    frozen = {"b": 2, "a": [1, "x"]}
    with catalog.begin_run("proxies", frozen, pool_id="p") as run:
        assert isinstance(run, Run) and run.status == "running"
        assert run.run_id == f"proxies-{config_hash({'a': [1, 'x'], 'b': 2})[:12]}"
        assert run.artifact_dir == catalog.layout.run_dir(run.run_id)
        assert run.artifact_dir.is_dir() and run.config == frozen and run.pool_id == "p"
    done = catalog.run(run.run_id)
    assert done.status == "done" and done.finished_at is not None
    assert _raw(catalog, "SELECT artifact_path FROM runs") == [(f"artifacts/runs/{run.run_id}",)]
    assert catalog.get_run(run.run_id)["artifact_path"] == str(done.artifact_dir)


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (ValueError("boom"), "failed"),
        (KeyboardInterrupt(), "cancelled"),
        (Cancelled(), "cancelled"),
    ],
)
def test_begin_run_failure_statuses_reraise(catalog, exc, status):
    with pytest.raises(type(exc)), catalog.begin_run("scores", {"k": 1}, with_dir=False) as run:
        raise exc
    got = catalog.run(run.run_id)
    assert got.status == status and got.finished_at is not None and got.artifact_dir is None


def test_begin_run_reuses_the_row_and_sets_running_again(catalog):
    with pytest.raises(RuntimeError), catalog.begin_run("features", {"k": 1}) as first:
        raise RuntimeError("killed")
    assert catalog.run(first.run_id).status == "failed"
    with catalog.begin_run("features", {"k": 1}) as again:
        assert again.run_id == first.run_id and again.status == "running"
        assert again.finished_at is None and again.created_at == first.created_at
    assert [r.status for r in catalog.runs("features")] == ["done"]


def test_runs_filters(catalog):
    for kind, pool in (("proxies", "a"), ("proxies", "b"), ("map", "a")):
        with catalog.begin_run(kind, {"pool": pool}, pool_id=pool, with_dir=False):
            pass
    catalog.create_run("scores", {"x": 1}, "f" * 64, pool_id="a", task_id="t@v1")
    assert {r.kind for r in catalog.runs(pool_id="a")} == {"proxies", "map", "scores"}
    assert [r.pool_id for r in catalog.runs("proxies", status="done")] == ["a", "b"]
    assert [r.run_id for r in catalog.runs(task_id="t@v1", status="running")] == [
        "scores-ffffffffffff"
    ]
    with pytest.raises(InputError, match="run status"):
        catalog.runs(status="finished")
    with pytest.raises(NotFoundError, match="run 'nope'"):
        catalog.run("nope")


def test_create_run_stores_absolute_or_relative_paths_relative(catalog):
    lay = catalog.layout
    catalog.create_run("a", {}, "1" * 64, artifact_path=str(lay.run_dir("x")))
    catalog.create_run("b", {}, "2" * 64, artifact_path="artifacts/maps/m.npy")
    stored = dict(_raw(catalog, "SELECT kind, artifact_path FROM runs"))
    assert stored == {"a": "artifacts/runs/x", "b": "artifacts/maps/m.npy"}
    paths = catalog.list_runs()["artifact_path"].tolist()
    assert paths == [str(lay.run_dir("x")), str(lay.artifacts / "maps" / "m.npy")]


def _v2_workspace_with_absolute_paths(root, old_root):
    ws = Workspace.open(root)
    con = duckdb.connect(str(ws.catalog_path))
    con.execute("CREATE TABLE schema_version (version INTEGER, applied_at TIMESTAMP)")
    for v in (1, 2):
        for stmt in MIGRATIONS[v]:
            con.execute(stmt)
        con.execute("INSERT INTO schema_version VALUES (?, now())", [v])
    run_dir = f"{old_root}/artifacts/runs/proxies-abc"
    con.execute(
        "INSERT INTO runs VALUES ('proxies-abc', 'proxies', 'p', NULL, '{}', 'abc', 'done', ?, "
        "now(), now())",
        [run_dir],
    )
    path = f"{old_root}/exports/e1/data.parquet"
    con.execute(
        "INSERT INTO exports VALUES ('exp-1', 'sel-1', 'parquet', ?, 'h', 3, ?, now())",
        [path, json.dumps({"path": path, "format": "parquet"})],
    )
    con.close()
    return ws


def test_migration_rewrites_absolute_paths_to_relative(tmp_path):
    ws = _v2_workspace_with_absolute_paths(tmp_path / "ws", tmp_path / "gone" / "oldws")
    cat = Catalog(ws)
    assert cat.schema_version() == LATEST_VERSION
    assert _raw(cat, "SELECT artifact_path FROM runs") == [("artifacts/runs/proxies-abc",)]
    path, manifest = _raw(cat, "SELECT path, manifest FROM exports")[0]
    assert path == "exports/e1/data.parquet" and json.loads(manifest)["path"] == path
    assert cat.run("proxies-abc").artifact_dir == ws.root / "artifacts/runs/proxies-abc"
    assert cat.list_exports()["path"].tolist() == [str(ws.root / "exports/e1/data.parquet")]


def test_a_moved_workspace_still_finds_run_dirs_and_exports(tmp_path, jsonl_file):
    cat = Catalog.open(tmp_path / "before")
    ingest(cat, "p", [str(jsonl_file([{"text": f"doc {i}"} for i in range(4)]))])
    with cat.begin_run("proxies", {"n": 1}, pool_id="p") as run:
        (run.artifact_dir / "model_0").mkdir()
    sid = cat.save_selection(
        "p", Selection("random", tuple(cat.doc_ids("p")[:2]), (1.0, 0.5), {}, 0)
    )
    export_selection(cat, sid, "ids", name="mine")
    shutil.move(tmp_path / "before", tmp_path / "after")
    moved = Catalog.open(tmp_path / "after")
    art = moved.run(run.run_id).artifact_dir
    assert art == tmp_path / "after" / "artifacts" / "runs" / run.run_id
    assert (art / "model_0").is_dir()
    exported = moved.list_exports()["path"].tolist()
    assert exported == [str(tmp_path / "after" / "exports" / "mine" / "ids.txt")]
    assert len(open(exported[0]).read().split()) == 2


def test_migrations_run_once_per_process_per_file(tmp_path, monkeypatch):
    calls = []
    real = conn_mod.CatalogBase._migrate
    monkeypatch.setattr(
        conn_mod.CatalogBase, "_migrate", lambda self: calls.append(1) or real(self)
    )
    ws = Workspace.open(tmp_path / "ws")
    for _ in range(3):
        Catalog(ws).list_pools()
    Catalog.open(tmp_path / "other")
    assert len(calls) == 2  # one per catalog file
    con = duckdb.connect(str(ws.catalog_path))  # another (newer) process upgrades the file
    con.execute("INSERT INTO schema_version VALUES (?, now())", [LATEST_VERSION + 1])
    con.close()
    with pytest.raises(CatalogError, match="upgrade"):
        Catalog(ws)


def test_unknown_ids_in_a_selection_are_counted_and_the_first_named(catalog, jsonl_file):
    ingest(catalog, "p", [str(jsonl_file([{"text": f"doc {i}"} for i in range(3)]))])
    ids = catalog.doc_ids("p")
    sel = Selection("m", (ids[0], "zz-late", "aa-early", ids[1]), (4.0, 3.0, 2.0, 1.0), {}, 0)
    with pytest.raises(InputError, match=r"2 ids not in pool 'p' \(first: zz-late\)"):
        catalog.save_selection("p", sel)
    assert catalog.list_selections().empty  # nothing stored


def test_engine_given_zscores_and_percentiles_are_stored(catalog, jsonl_file):
    ingest(catalog, "p", [str(jsonl_file([{"text": f"doc {i}"} for i in range(3)]))])
    ids = catalog.doc_ids("p")
    z, pct = np.array([0.1, 0.2, 0.3]), np.array([10.0, 20.0, 30.0])
    catalog.save_scores("r", "t", "p", ids, np.array([5.0, 1.0, 3.0]), zscores=z, percentiles=pct)
    df = catalog.scores("r", "t")
    assert np.allclose(df["zscore"], z) and np.allclose(df["percentile"], pct)
    with pytest.raises(ValueError, match="percentiles has shape"):
        catalog.save_scores("r", "t", "p", ids, np.ones(3), percentiles=np.ones(2))


def test_typed_and_dict_accessors_agree(catalog, jsonl_file):
    ingest(catalog, "p", [str(jsonl_file([{"text": f"doc {i}"} for i in range(3)]))])
    pool = catalog.pool("p")
    assert pool.n_docs == 3 and catalog.get_pool("p")["content_hash"] == pool.content_hash
    assert [p.pool_id for p in catalog.pools()] == ["p"]
    job = catalog.create_job("ingest", {"a": 1})
    catalog.update_job(job, status="done", done=3, total=3)
    typed = catalog.job(job)
    assert typed.status == "done" and typed.finished_at is not None and typed.rate is None
    assert catalog.get_job(job)["params"] == typed.params == {"a": 1}
