"""Ingestion: every format round-trips, dedup and chunking work, bad input is named and harmless."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from data_catalog.errors import InputError
from data_catalog.ingest import Chunking, doc_id_for, ingest

DOCS = [
    {"text": "The quick brown fox jumps over the lazy dog.", "source": "web", "lang": "en"},
    {"text": "Datamodels predict model outputs from training subsets.", "lang": "en"},
    {"text": "Le renard brun saute par-dessus le chien.", "lang": "fr"},
]


def _texts(catalog, pool="p"):
    return list(catalog.documents(pool, limit=1000)["text"])


def _snapshot(catalog):
    """Everything a failed ingest must leave untouched."""
    with catalog.connect() as con:
        pools = con.execute("SELECT * FROM pools ORDER BY pool_id").fetchall()
        docs = con.execute("SELECT pool_id, doc_id, text FROM documents ORDER BY 1, 2").fetchall()
    return pools, docs


def test_jsonl_round_trip_keeps_source_and_metadata(catalog, jsonl_file):
    path = jsonl_file(DOCS)
    report = ingest(catalog, "p", [str(path)])
    assert report.n_inserted == 3 and report.n_duplicates == 0
    docs = catalog.documents("p")
    assert list(docs["text"]) == [d["text"] for d in DOCS]
    assert list(docs["source"]) == ["web", "data", "data"]  # record field, else file stem
    assert json.loads(docs["metadata"][2]) == {"lang": "fr"}
    assert list(docs["doc_id"]) == [doc_id_for(d["text"]) for d in DOCS]


@pytest.mark.parametrize("suffix", [".jsonl.gz", ".jsonl.zst"])
def test_compressed_jsonl(catalog, tmp_path, suffix):
    raw = "".join(json.dumps(d) + "\n" for d in DOCS).encode()
    path = tmp_path / f"data{suffix}"
    if suffix.endswith(".gz"):
        path.write_bytes(gzip.compress(raw))
    else:
        path.write_bytes(zstandard.ZstdCompressor().compress(raw))
    ingest(catalog, "p", [str(path)])
    assert _texts(catalog) == [d["text"] for d in DOCS]


def test_parquet_and_csv_round_trip(catalog, tmp_path):
    pq.write_table(pa.Table.from_pylist(DOCS), tmp_path / "a.parquet")
    with open(tmp_path / "b.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["body", "lang"])
        w.writeheader()
        w.writerow({"body": "A csv row, with a comma.", "lang": "en"})
    ingest(catalog, "p", [str(tmp_path / "a.parquet")])
    ingest(catalog, "q", [str(tmp_path / "b.csv")], text_field="body")
    assert _texts(catalog) == [d["text"] for d in DOCS]
    assert _texts(catalog, "q") == ["A csv row, with a comma."]


def test_text_folder_and_glob(catalog, tmp_path):
    folder = tmp_path / "notes"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("first note")
    (folder / "sub" / "b.md").write_text("# second\n\nnote")
    (folder / "ignored.bin").write_bytes(b"\x00\x01")
    ingest(catalog, "p", [str(folder)])
    assert sorted(_texts(catalog)) == ["# second\n\nnote", "first note"]
    ingest(catalog, "g", [str(folder / "*.txt")])
    assert _texts(catalog, "g") == ["first note"]


def test_exact_duplicates_dropped_and_counted(catalog, jsonl_file):
    recs = DOCS + [{"text": "  The quick brown fox   jumps over the lazy dog. "}]
    report = ingest(catalog, "p", [str(jsonl_file(recs))])
    assert report.n_inserted == 3 and report.n_duplicates == 1
    assert catalog.get_pool("p")["n_duplicates"] == 1
    # appending the same file again adds nothing and counts everything as duplicates
    report = ingest(catalog, "p", [str(jsonl_file(recs))], append=True)
    assert report.n_inserted == 0 and report.n_duplicates == 4
    assert catalog.get_pool("p")["n_docs"] == 3


def test_chunking_by_chars_and_tokens(catalog, jsonl_file):
    text = " ".join(f"word{i}" for i in range(100))  # 100 words, 689 chars
    path = jsonl_file([{"text": text}])
    ingest(catalog, "c", [str(path)], chunking=Chunking("chars", 100))
    chunks = _texts(catalog, "c")
    assert all(len(c) <= 100 for c in chunks) and " ".join(chunks) == text
    ingest(catalog, "t", [str(path)], chunking=Chunking("tokens", 30))
    chunks = _texts(catalog, "t")
    assert [len(c.split()) for c in chunks] == [30, 30, 30, 10]
    meta = [json.loads(m) for m in catalog.documents("t")["metadata"]]
    assert [m["chunk_index"] for m in meta] == [0, 1, 2, 3]
    assert {m["parent_id"] for m in meta} == {doc_id_for(text)}
    with pytest.raises(InputError, match="--chunk-chars must be a positive integer"):
        Chunking("chars", 0)


def test_pool_content_hash_is_order_independent(catalog, jsonl_file):
    ingest(catalog, "a", [str(jsonl_file(DOCS, "a.jsonl"))])
    ingest(catalog, "b", [str(jsonl_file(DOCS[::-1], "b.jsonl"))])
    assert catalog.get_pool("a")["content_hash"] == catalog.get_pool("b")["content_hash"]


BAD_CASES = [
    ("malformed", b'{"text": "ok"}\n{"text": "broken\n', r"line 2: malformed JSON"),
    ("missing", b'{"text": "ok"}\n{"body": "x"}\n', r"line 2: missing text field 'text'.*body"),
    ("nonstring", b'{"text": 42}\n', r"line 1: field 'text' is int, expected a string"),
    ("null", b'{"text": null}\n', r"line 1: field 'text' is null"),
    ("empty_doc", b'{"text": "ok"}\n{"text": "   "}\n', r"line 2: field 'text' is an empty doc"),
    ("utf8", b'{"text": "ok"}\n{"text": "caf\xe9"}\n', r"line 2: invalid UTF-8"),
    ("not_object", b'["a list"]\n', r"line 1: expected a JSON object, found list"),
    ("empty_file", b"", r"file is empty"),
]


@pytest.mark.parametrize("name,content,message", BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_bad_input_is_named_and_changes_nothing(
    catalog, tmp_path, jsonl_file, name, content, message
):
    ingest(catalog, "existing", [str(jsonl_file(DOCS))])
    before = _snapshot(catalog)
    path = tmp_path / f"{name}.jsonl"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as err:
        ingest(catalog, "new", [str(path)])
    assert str(path) in str(err.value)
    with pytest.raises(InputError, match=message):
        ingest(catalog, "existing", [str(path)], append=True)
    assert _snapshot(catalog) == before
    assert not list(catalog.workspace.tmp.glob("ingest-*")), "staging files left behind"


def test_bad_paths_and_formats(catalog, tmp_path):
    empty = tmp_path / "empty_dir"
    empty.mkdir()
    (empty / "x.bin").write_text("nope")
    with pytest.raises(InputError, match="no files with a known extension"):
        ingest(catalog, "p", [str(empty)])
    (tmp_path / "doc.xml").write_text("<a/>")
    with pytest.raises(InputError, match=r"doc.xml: unknown format '.xml' \(known: .jsonl"):
        ingest(catalog, "p", [str(tmp_path / "doc.xml")])
    with pytest.raises(InputError, match="no such file"):
        ingest(catalog, "p", [str(tmp_path / "missing.jsonl")])
    with pytest.raises(InputError, match="matches no files"):
        ingest(catalog, "p", [str(tmp_path / "*.jsonl")])
    with pytest.raises(InputError, match="pool name"):
        ingest(catalog, "../evil", [str(tmp_path / "doc.xml")])
    (tmp_path / "bad.txt").write_bytes(b"ok \xff\xfe")
    with pytest.raises(InputError, match=r"bad.txt: invalid UTF-8 at byte 3"):
        ingest(catalog, "p", [str(tmp_path / "bad.txt")])
    assert catalog.list_pools().empty


def test_csv_and_parquet_errors_name_the_row(catalog, tmp_path):
    (tmp_path / "a.csv").write_text("text,lang\nfine,en\n,fr\n")
    with pytest.raises(InputError, match=r"a.csv line 3: field 'text' is an empty document"):
        ingest(catalog, "p", [str(tmp_path / "a.csv")])
    pq.write_table(pa.Table.from_pylist([{"text": "a"}, {"text": None}]), tmp_path / "b.parquet")
    with pytest.raises(InputError, match=r"b.parquet row 2: field 'text' is null"):
        ingest(catalog, "p", [str(tmp_path / "b.parquet")])


def test_skip_bad_reports_where(catalog, tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b'{"text": "good one"}\n{"text": \n{"text": 3}\n{"text": "good two"}\n')
    report = ingest(catalog, "p", [str(path)], skip_bad=True)
    assert report.n_inserted == 2 and report.n_skipped == 2
    assert "line 2: malformed JSON" in report.skipped_where[0]
    assert "line 3: field 'text' is int" in report.skipped_where[1]
    assert catalog.get_pool("p")["n_skipped"] == 2


def test_failure_in_second_file_leaves_no_partial_pool(catalog, jsonl_file, tmp_path):
    good = jsonl_file(DOCS, "good.jsonl")
    bad = tmp_path / "z_bad.jsonl"
    bad.write_text('{"text": "fine"}\n{oops}\n')
    with pytest.raises(InputError, match="z_bad.jsonl line 2"):
        ingest(catalog, "p", [str(good), str(bad)])
    assert not catalog.pool_exists("p")


def test_interrupted_ingest_leaves_no_partial_pool(catalog, jsonl_file):
    path = jsonl_file([{"text": f"document number {i}"} for i in range(50_000)])

    def interrupt(done, total, message):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ingest(catalog, "p", [str(path)], progress=interrupt)
    assert not catalog.pool_exists("p")
    assert catalog.list_pools().empty
    assert not list(catalog.workspace.tmp.glob("ingest-*"))
    ingest(catalog, "p", [str(path)])  # and a rerun completes
    assert catalog.get_pool("p")["n_docs"] == 50_000


def test_killed_process_leaves_catalog_consistent(tmp_path, jsonl_file):
    """SIGKILL a real `dsdm pool add` mid-stream: no pool appears; the workspace still opens."""
    import signal
    import subprocess
    import sys
    import time

    from data_catalog.catalog import Catalog

    path = jsonl_file([{"text": f"row {i} " + "x" * 50} for i in range(400_000)])
    ws = tmp_path / "ws"
    Catalog.open(ws)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dsdm_engine.cli",
            "--workspace",
            str(ws),
            "pool",
            "add",
            "p",
            str(path),
            "--quiet",
        ],
        stderr=subprocess.PIPE,
    )
    deadline = time.time() + 60
    while time.time() < deadline and not list((ws / "artifacts" / "tmp").glob("ingest-*/part-*")):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    cat = Catalog.open(ws)
    assert not cat.pool_exists("p")
    assert cat.info()["counts"]["documents"] == 0


def test_progress_reports_bytes(catalog, jsonl_file):
    path = jsonl_file(DOCS)
    seen = []
    ingest(catalog, "p", [str(path)], progress=lambda d, t, m: seen.append((d, t)))
    assert seen[-1] == (Path(path).stat().st_size, Path(path).stat().st_size)


def test_byte_order_marks_and_long_csv_cells(catalog, tmp_path):
    """Excel writes a BOM before CSV headers; real documents can exceed csv's default cell limit."""
    long_text = "word " * 40_000  # 200k chars
    (tmp_path / "excel.csv").write_bytes(
        "\ufefftext,src\n".encode() + f'"{long_text}",x\n'.encode()
    )
    (tmp_path / "bom.jsonl").write_bytes("\ufeff".encode() + b'{"text": "bom first line"}\n')
    ingest(catalog, "c", [str(tmp_path / "excel.csv")])
    ingest(catalog, "j", [str(tmp_path / "bom.jsonl")])
    assert _texts(catalog, "c") == [long_text.strip()]
    assert _texts(catalog, "j") == ["bom first line"]
