"""A full disk during an ingest ends in one DsdmError and leaves the catalog exactly as it was."""

from __future__ import annotations

import errno
import json
import random
import string
import subprocess
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest

from data_catalog.catalog import Catalog
from data_catalog.errors import DsdmError
from data_catalog.ingest import ingest


def _snapshot(catalog: Catalog):
    with catalog.connect() as con:
        pools = con.execute("SELECT pool_id, n_docs, content_hash FROM pools ORDER BY 1").fetchall()
        docs = con.execute("SELECT pool_id, doc_id FROM documents ORDER BY 1, 2").fetchall()
    return pools, docs


def _write_docs(path: Path, n: int, size: int, seed: int = 0) -> Path:
    # Random letters barely compress, so staged Parquet and the catalog need about n * size bytes.
    rnd = random.Random(seed)
    alphabet = string.ascii_letters + " "
    lines = (json.dumps({"text": "".join(rnd.choices(alphabet, k=size))}) for _ in range(n))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def seeded(catalog, jsonl_file):
    ingest(catalog, "base", [str(jsonl_file([{"text": f"doc {i}"} for i in range(5)], "b.jsonl"))])
    return catalog


def _assert_clean_failure(catalog: Catalog, exc: DsdmError, before) -> None:
    assert "no space left on the device" in str(exc)
    assert "\n" not in str(exc)
    assert _snapshot(catalog) == before
    assert list(catalog.workspace.tmp.glob("ingest-*")) == []


def test_enospc_while_staging(seeded, jsonl_file, monkeypatch):
    before = _snapshot(seeded)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("pyarrow.parquet.write_table", full)
    with pytest.raises(DsdmError) as err:
        ingest(seeded, "new", [str(jsonl_file([{"text": "a"}, {"text": "b"}]))])
    assert "staging" in str(err.value) and str(seeded.workspace.tmp) in str(err.value)
    _assert_clean_failure(seeded, err.value, before)


def test_enospc_at_commit_rolls_back(seeded, jsonl_file, monkeypatch):
    before = _snapshot(seeded)
    real = seeded.transaction

    @contextmanager
    def failing_commit():
        # The inserts run for real; the disk fills just before COMMIT, as DuckDB reports it.
        with real() as con:
            yield con
            raise duckdb.TransactionException(
                f'Failed to commit: Could not write file "{seeded.path}.wal": '
                "No space left on device"
            )

    monkeypatch.setattr(seeded, "transaction", failing_commit)
    with pytest.raises(DsdmError) as err:
        ingest(seeded, "base", [str(jsonl_file([{"text": "zz"}]))], append=True)
    assert str(seeded.path) in str(err.value)
    _assert_clean_failure(seeded, err.value, before)


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MiB tmpfs (an empty catalog alone takes about 0.5 MiB); skipped where mounting fails."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    res = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)],
        capture_output=True,
        text=True,
    )
    if res.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root in a VM): {res.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.mark.parametrize("n_docs, stage", [(3000, "staging"), (700, "commit")])
def test_real_disk_full(small_disk, tmp_path, n_docs, stage):
    catalog = Catalog.open(small_disk / "ws")
    ingest(catalog, "base", [str(_write_docs(tmp_path / "small.jsonl", 5, 50))])
    before = _snapshot(catalog)
    # 3000 x 2 kB cannot even be staged; 700 x 2 kB stage (1.4 MB) but then fill the disk when
    # DuckDB writes the same rows to its write-ahead log at commit.
    big = _write_docs(tmp_path / "big.jsonl", n_docs, 2000, seed=n_docs)
    with pytest.raises(DsdmError) as err:
        ingest(catalog, "big", [str(big)])
    assert ("staging" in str(err.value)) == (stage == "staging")
    _assert_clean_failure(catalog, err.value, before)
    reopened = Catalog.open(small_disk / "ws")  # the file on disk is intact, not just in memory
    assert _snapshot(reopened) == before
    ingest(reopened, "after", [str(_write_docs(tmp_path / "s2.jsonl", 3, 50, seed=9))])
    assert reopened.pool_exists("after")
