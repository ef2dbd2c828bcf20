"""Export after a crash: an unrecorded export is completed or replaced, stale scratch is removed."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

from data_catalog.catalog import Catalog
from data_catalog.errors import DsdmError, InputError
from data_catalog.export import export_selection
from data_catalog.ingest import ingest
from data_catalog.records import Selection
from data_catalog.targets import add_target_task


@pytest.fixture
def selection(catalog, jsonl_file):
    ingest(catalog, "p", [str(jsonl_file([{"text": f"doc {i}"} for i in range(6)]))])
    task = add_target_task(catalog, "t", [("q1", " a"), ("q2", " b")], origin="test")
    ids = catalog.doc_ids("p")
    sel = Selection("dsdm", (ids[4], ids[1]), (0.9, 0.5), {"k": 2}, seed=3)
    return catalog.save_selection("p", sel, task_id=task["task_id"], name="best")


def _killed_export(catalog: Catalog, sid: str, name: str, kill_in: str) -> None:
    """Export in a child process that SIGKILLs itself inside `kill_in` (a dotted attribute)."""
    script = textwrap.dedent(
        f"""
        import os, signal
        import data_catalog.export as ex
        from data_catalog.catalog import Catalog
        owner, attr = {kill_in!r}.rsplit(".", 1)
        target = Catalog if owner == "Catalog" else ex
        real = getattr(target, attr)
        def die(*args, **kwargs):
            if attr == "_write":
                real(*args, **kwargs)  # the scratch file exists, complete or not
            os.kill(os.getpid(), signal.SIGKILL)
        setattr(target, attr, die)
        ex.export_selection(Catalog.open({str(catalog.workspace.root)!r}), {sid!r}, "jsonl",
                            name={name!r})
        """
    )
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert res.returncode == -9, res.stderr


def test_rerun_records_an_export_killed_before_it_was_recorded(catalog, selection):
    _killed_export(catalog, selection, "cut", "Catalog.record_export")
    folder = catalog.workspace.exports / "cut"
    assert (folder / "data.jsonl").is_file() and (folder / "manifest.json").is_file()
    assert catalog.list_exports().empty
    m = export_selection(catalog, selection, "jsonl", name="cut")  # used to say "already exists"
    rows = catalog.list_exports()
    assert len(rows) == 1 and rows.iloc[0]["sha256"] == m["sha256"]
    assert m["sha256"] == json.loads((folder / "manifest.json").read_text())["sha256"]
    with pytest.raises(InputError, match="already exists"):  # now recorded: protected again
        export_selection(catalog, selection, "jsonl", name="cut")


def test_unrecorded_export_with_other_content_is_replaced(catalog, selection):
    folder = catalog.workspace.exports / "stale"
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps({"selection_id": "other", "sha256": "x"}))
    (folder / "data.jsonl").write_text("half a line")
    m = export_selection(catalog, selection, "jsonl", name="stale")
    assert (folder / "data.jsonl").read_text().count("\n") == m["row_count"] == 2
    assert len(catalog.list_exports()) == 1


def test_foreign_folder_is_not_replaced(catalog, selection):
    folder = catalog.workspace.exports / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("the user's own file")
    with pytest.raises(InputError, match="not an export"):
        export_selection(catalog, selection, "jsonl", name="mine")
    assert (folder / "notes.txt").read_text() == "the user's own file"


def test_scratch_of_killed_export_is_removed_next_time(catalog, selection):
    _killed_export(catalog, selection, "never", "export._write")
    exports = catalog.workspace.exports
    assert [p.name for p in exports.iterdir() if p.name.startswith(".tmp-")]
    assert not (exports / "never").exists()
    export_selection(catalog, selection, "ids", name="next")
    assert not [p.name for p in exports.iterdir() if p.name.startswith(".tmp-")]


def test_scratch_of_live_process_is_kept_and_old_export_restored(catalog, selection):
    exports = catalog.workspace.exports
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    try:
        held = exports / f".tmp-{live.pid}-0123456789ab"
        gone = exports / f".tmp-{dead.pid}-0123456789ab"
        legacy = exports / f".tmp-{'a' * 32}"  # name used before scratch names carried a pid
        # A process killed between moving the previous export aside and putting the new one
        # in its place: the previous export must come back.
        moved = exports / f".old-{dead.pid}-0123456789ab-prev"
        for p in (held, gone, legacy, moved):
            p.mkdir()
            (p / "manifest.json").write_text("{}")
            old = time.time() - 60
            os.utime(p, (old, old))
        export_selection(catalog, selection, "ids", name="fresh")
        assert held.exists()
        assert not gone.exists() and not legacy.exists() and not moved.exists()
        assert (exports / "prev" / "manifest.json").is_file()
    finally:
        live.kill()
        live.wait()


def test_disk_full_while_exporting(catalog, selection, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("data_catalog.export._write", full)
    with pytest.raises(DsdmError, match="no space left on the device while writing the export"):
        export_selection(catalog, selection, "jsonl", name="full")
    exports = catalog.workspace.exports
    assert not list(exports.iterdir()) and catalog.list_exports().empty
