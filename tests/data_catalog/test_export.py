"""Export: Parquet/JSONL/id lists with a manifest whose checksum matches, names stay in exports/."""

from __future__ import annotations

import hashlib
import json

import pyarrow.parquet as pq
import pytest

from data_catalog.errors import InputError
from data_catalog.export import export_selection
from data_catalog.ingest import ingest
from data_catalog.records import Selection
from data_catalog.targets import add_target_task


@pytest.fixture
def selection(catalog, jsonl_file):
    ingest(catalog, "p", [str(jsonl_file([{"text": f"doc {i}", "k": i} for i in range(6)]))])
    task = add_target_task(catalog, "t", [("q1", " a"), ("q2", " b")], origin="test")
    ids = catalog.doc_ids("p")
    sel = Selection("dsdm", (ids[4], ids[1], ids[2]), (0.9, 0.5, 0.1), {"k": 3}, seed=11)
    sid = catalog.save_selection(
        "p", sel, task_id=task["task_id"], name="best", overrides={"exclude": [ids[0]]}
    )
    return sid, ids


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_parquet_export_and_manifest(catalog, selection):
    sid, ids = selection
    m = export_selection(catalog, sid, "parquet", name="subset")
    out = catalog.workspace.exports / "subset"
    table = pq.read_table(out / "data.parquet").to_pylist()
    assert [r["id"] for r in table] == [ids[4], ids[1], ids[2]]
    assert [r["text"] for r in table] == ["doc 4", "doc 1", "doc 2"]
    assert [r["rank"] for r in table] == [1, 2, 3]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["sha256"] == _sha(out / "data.parquet") == m["sha256"]
    assert manifest["row_count"] == 3 and manifest["seed"] == 11
    assert manifest["method"] == "dsdm" and manifest["parameters"] == {"k": 3}
    assert manifest["manual_overrides"] == {"exclude": [ids[0]]}
    assert manifest["pool_content_hash"] == catalog.get_pool("p")["content_hash"]
    assert manifest["target_task_hash"] == catalog.get_target_task("t")["content_hash"]
    for key in ("code_version", "created_at", "pool_id", "target_task_id"):
        assert manifest[key]
    assert len(catalog.list_exports()) == 1


def test_jsonl_and_ids_exports(catalog, selection):
    sid, ids = selection
    export_selection(catalog, sid, "jsonl", name="j")
    lines = (catalog.workspace.exports / "j" / "data.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    assert [r["id"] for r in rows] == [ids[4], ids[1], ids[2]]
    assert json.loads(rows[0]["metadata"]) == {"k": 4}
    export_selection(catalog, sid, "ids", name="i")
    path = catalog.workspace.exports / "i" / "ids.txt"
    assert path.read_text().split() == sorted([ids[4], ids[1], ids[2]])
    manifest = json.loads((catalog.workspace.exports / "i" / "manifest.json").read_text())
    assert manifest["sha256"] == _sha(path)


@pytest.mark.parametrize("name", ["../../x", "/etc/passwd", "..", "a/../../b", "~/x"])
def test_export_names_stay_inside_exports(catalog, selection, tmp_path, name):
    sid, _ = selection
    try:
        m = export_selection(catalog, sid, "ids", name=name)
    except InputError:
        return  # refusing is fine too
    exports = catalog.workspace.exports.resolve()
    assert exports in (catalog.workspace.exports / m["path"]).resolve().parents
    assert not (tmp_path / "x").exists()


def test_existing_export_is_not_overwritten_by_default(catalog, selection):
    sid, _ = selection
    export_selection(catalog, sid, "ids", name="same")
    with pytest.raises(InputError, match="already exists"):
        export_selection(catalog, sid, "ids", name="same")
    export_selection(catalog, sid, "ids", name="same", overwrite=True)
    with pytest.raises(InputError, match="unknown export format 'xml'"):
        export_selection(catalog, sid, "xml")
