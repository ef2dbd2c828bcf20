"""Property tests: any input gives a result or ONE clean DsdmError, and a failure changes nothing.

Hypothesis generates random bytes, damaged (truncated or bit-flipped) valid files of every
format, random JSON records, and random JSONL / SQuAD-shaped target files. Example counts are
small so the suite stays fast; failing inputs shrink to a minimal file to reproduce.
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import json
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data_catalog.catalog import Catalog
from data_catalog.errors import DsdmError
from data_catalog.ingest import ingest
from data_catalog.readers import detect_format, read_records
from data_catalog.targets import add_target_task, read_target_file

SETTINGS = settings(
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
SUFFIXES = [".jsonl", ".jsonl.gz", ".jsonl.zst", ".csv", ".csv.gz", ".parquet", ".txt"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
keys = st.sampled_from(["text", "source", "prompt", "completion", "meta"]) | st.text(max_size=6)
records = st.lists(st.dictionaries(keys, json_values, max_size=5), min_size=0, max_size=6)
texts = st.lists(st.text(min_size=1, max_size=60), min_size=1, max_size=8)
_names = itertools.count()


def _encode(texts_: list[str], suffix: str) -> bytes:
    """A valid file of the given kind holding `texts_`."""
    if suffix == ".parquet":
        buf = io.BytesIO()
        pq.write_table(pa.table({"text": texts_}), buf)
        return buf.getvalue()
    if suffix.startswith(".csv"):
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["text"])
        writer.writerows([t] for t in texts_)
        data = out.getvalue().encode()
    elif suffix == ".txt":
        data = "\n".join(texts_).encode()
    else:
        data = "".join(json.dumps({"text": t}) + "\n" for t in texts_).encode()
    if suffix.endswith(".gz"):
        return gzip.compress(data)
    if suffix.endswith(".zst"):
        return zstandard.ZstdCompressor(write_checksum=True).compress(data)
    return data


def _read_all(path: Path) -> None:
    """Drain the reader: records or exactly one DsdmError, nothing else."""
    try:
        for _ in read_records(path, detect_format(path)):
            pass
    except DsdmError:
        pass


@pytest.fixture(scope="module")
def shared_catalog(tmp_path_factory) -> Catalog:
    return Catalog.open(tmp_path_factory.mktemp("props") / "ws")


_TABLES = ("pools", "documents", "target_tasks", "target_examples", "exports")


def _state(catalog: Catalog):
    """Row counts, pool list and a digest of document ids: what a failed call must not change."""
    with catalog.connect() as con:
        counts = [con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in _TABLES]
        pools = con.execute("SELECT pool_id, n_docs FROM pools ORDER BY 1").fetchall()
        digest = con.execute("SELECT coalesce(sum(hash(doc_id)), 0) FROM documents").fetchone()
    return counts, pools, digest


def _ingest_or_clean_error(catalog: Catalog, path: Path) -> None:
    before = _state(catalog)
    try:
        report = ingest(catalog, f"p{next(_names)}", [str(path)], skip_bad=False)
    except DsdmError as exc:
        assert path.name in str(exc)  # the message names the file
        assert _state(catalog) == before
        assert not list(catalog.workspace.tmp.glob("ingest-*"))
    else:
        assert report.n_inserted >= 1


@settings(SETTINGS, max_examples=100)
@given(suffix=st.sampled_from(SUFFIXES), data=st.binary(max_size=300))
def test_random_bytes_never_crash_a_reader(suffix, data):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"f{suffix}"
        path.write_bytes(data)
        _read_all(path)


@SETTINGS
@given(
    suffix=st.sampled_from(SUFFIXES),
    texts_=texts,
    cut=st.floats(0, 1),
    flips=st.lists(st.tuples(st.floats(0, 1), st.integers(1, 255)), max_size=4),
)
def test_damaged_valid_files_give_records_or_one_error(shared_catalog, suffix, texts_, cut, flips):
    data = bytearray(_encode(texts_, suffix))
    for where, mask in flips:
        data[int(where * (len(data) - 1))] ^= mask
    data = data[: max(1, int(len(data) * cut))] if cut < 1 else data
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"f{suffix}"
        path.write_bytes(bytes(data))
        _read_all(path)
        _ingest_or_clean_error(shared_catalog, path)


@SETTINGS
@given(recs=records, tail=st.sampled_from(["", "\n", "{", "[1]\n", "\xff"]))
def test_random_json_records_ingest_or_fail_cleanly(shared_catalog, recs, tail):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "r.jsonl"
        body = "".join(json.dumps(r) + "\n" for r in recs) + tail
        path.write_bytes(body.encode("utf-8", "surrogatepass"))
        _ingest_or_clean_error(shared_catalog, path)


def _target_round_trip(catalog: Catalog, path: Path) -> None:
    before = _state(catalog)
    try:
        examples = read_target_file(path)
        task = add_target_task(catalog, f"t{next(_names)}", examples, origin="prop")
    except DsdmError:
        assert _state(catalog) == before
    else:
        assert task["n_examples"] + task["n_duplicates"] == len(examples)
        sides = {ex.split for ex in catalog.target_examples(task["task_id"])}
        assert sides == {"selection", "heldout"}


@SETTINGS
@given(recs=records)
def test_random_target_jsonl(shared_catalog, recs):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "t.jsonl"
        path.write_bytes(
            "".join(json.dumps(r) + "\n" for r in recs).encode("utf-8", "surrogatepass")
        )
        _target_round_trip(shared_catalog, path)


qa = st.fixed_dictionaries(
    {},
    optional={
        "question": json_values | st.text(max_size=20),
        "answers": st.lists(st.fixed_dictionaries({}, optional={"text": json_values}), max_size=2)
        | json_values,
    },
)
para = st.fixed_dictionaries(
    {},
    optional={
        "context": st.text(max_size=30) | json_values,
        "qas": st.lists(qa, max_size=3) | json_values,
    },
)
article = st.fixed_dictionaries(
    {}, optional={"paragraphs": st.lists(para, max_size=3) | json_values}
)
squad = (
    st.fixed_dictionaries({}, optional={"data": st.lists(article, max_size=3) | json_values})
    | json_values
)


@SETTINGS
@given(doc=squad)
def test_random_squad_like_files(shared_catalog, doc):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "s.json"
        path.write_bytes(json.dumps(doc).encode("utf-8", "surrogatepass"))
        _target_round_trip(shared_catalog, path)
