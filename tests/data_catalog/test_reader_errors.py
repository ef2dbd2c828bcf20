"""Damaged input files end in one InputError naming the file and place, never a traceback."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from data_catalog.errors import InputError
from data_catalog.ingest import ingest
from data_catalog.readers import read_records
from data_catalog.targets import read_target_file


def _payload(n: int = 3000) -> bytes:
    return "".join(
        json.dumps({"text": f"document {i} " + "x" * 40}) + "\n" for i in range(n)
    ).encode()


def _flip(data: bytes, start: int, stop: int) -> bytes:
    out = bytearray(data)
    for i in range(start, min(stop, len(out))):
        out[i] ^= 0xFF
    return bytes(out)


def _drain(path: Path, kind: str) -> int:
    return sum(1 for _ in read_records(path, kind))


def test_corrupt_gzip_names_the_file(catalog, tmp_path):
    path = tmp_path / "c.jsonl.gz"
    path.write_bytes(_flip(gzip.compress(_payload()), 200, 260))
    with pytest.raises(InputError, match=r"c\.jsonl\.gz.*corrupt gzip data"):
        _drain(path, "jsonl")
    with pytest.raises(InputError, match=r"c\.jsonl\.gz"):
        ingest(catalog, "p", [str(path)])
    assert not catalog.pool_exists("p")


def test_corrupt_gzip_csv_names_the_file(tmp_path):
    path = tmp_path / "c.csv.gz"
    rows = "text\n" + "".join(f"row {i} {'y' * 30}\n" for i in range(3000))
    path.write_bytes(_flip(gzip.compress(rows.encode()), 150, 220))
    with pytest.raises(InputError, match=r"c\.csv\.gz.*corrupt gzip data"):
        _drain(path, "csv")


@pytest.mark.parametrize("where", ["header", "body"])
def test_corrupt_zstd_names_the_file(tmp_path, where):
    data = zstandard.ZstdCompressor(write_checksum=True).compress(_payload())
    path = tmp_path / "c.jsonl.zst"
    path.write_bytes(_flip(data, 0, 4) if where == "header" else _flip(data, 300, 600))
    with pytest.raises(InputError, match=r"c\.jsonl\.zst.*corrupt zstd data"):
        _drain(path, "jsonl")


def test_truncated_zstd_says_truncated_not_malformed(tmp_path):
    data = zstandard.ZstdCompressor().compress(_payload())
    path = tmp_path / "t.jsonl.zst"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"t\.jsonl\.zst.*truncated") as err:
        _drain(path, "jsonl")
    assert "malformed" not in str(err.value)


def test_truncated_gzip_says_truncated(tmp_path):
    data = gzip.compress(_payload())
    path = tmp_path / "t.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"t\.jsonl\.gz.*truncated"):
        _drain(path, "jsonl")


def test_truncated_plain_jsonl_last_line_says_truncated(catalog, tmp_path):
    data = _payload(50)
    path = tmp_path / "t.jsonl"
    path.write_bytes(data[: len(data) - 20])
    with pytest.raises(InputError, match=r"t\.jsonl line 50: .*truncated"):
        ingest(catalog, "p", [str(path)])


def test_parquet_with_corrupt_pages(catalog, tmp_path):
    path = tmp_path / "c.parquet"
    table = pa.table({"text": [f"doc {i} " + "y" * 40 for i in range(5000)]})
    pq.write_table(table, path, compression="snappy")
    data = path.read_bytes()
    path.write_bytes(_flip(data, 100, 400))  # the footer at the end stays valid
    pq.ParquetFile(path)  # opens fine: only the pages are damaged
    with pytest.raises(InputError, match=r"c\.parquet.*corrupt Parquet data"):
        ingest(catalog, "p", [str(path)])
    assert not catalog.pool_exists("p")


@pytest.mark.parametrize(
    "doc, message",
    [
        ({"data": [1]}, r"data\[0\]: expected an object"),
        ({"data": [{"paragraphs": "x"}]}, r"data\[0\]\.paragraphs: expected a list"),
        ({"data": [{"paragraphs": [7]}]}, r"data\[0\]\.paragraphs\[0\]: expected an object"),
        (
            {"data": [{"paragraphs": [{"context": "c", "qas": [{"answers": ["a"]}]}]}]},
            r"qas\[0\]: no answer text",
        ),
        (
            {
                "data": [
                    {
                        "paragraphs": [
                            {"context": "c", "qas": [{"question": 3, "answers": [{"text": "a"}]}]}
                        ]
                    }
                ]
            },
            r"qas\[0\]: 'question' is int",
        ),
        ({"data": [{"paragraphs": [{"context": "c", "qas": {"a": 1}}]}]}, r"qas: expected a list"),
    ],
)
def test_malformed_squad_is_named(tmp_path, doc, message):
    path = tmp_path / "squad.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError, match=r"squad\.json: .*" + message):
        read_target_file(path)
