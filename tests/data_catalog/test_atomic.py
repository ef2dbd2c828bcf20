"""The atomic-write helpers: round trips, no torn or leftover files, unique tmp names."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from data_catalog import atomic


def test_round_trips_and_no_tmp_left(tmp_path):
    atomic.write_bytes(tmp_path / "a.bin", b"\x00\x01")
    atomic.write_text(tmp_path / "sub" / "b.txt", "héllo")
    atomic.write_json(tmp_path / "c.json", {"b": 1, "a": [1, 2]})
    atomic.write_npy(tmp_path / "d.npy", np.arange(6).reshape(2, 3))
    assert (tmp_path / "a.bin").read_bytes() == b"\x00\x01"
    assert (tmp_path / "sub" / "b.txt").read_text(encoding="utf-8") == "héllo"
    assert json.loads((tmp_path / "c.json").read_text()) == {"a": [1, 2], "b": 1}
    np.testing.assert_array_equal(np.load(tmp_path / "d.npy"), np.arange(6).reshape(2, 3))
    leftovers = [p.name for p in tmp_path.rglob("*") if atomic.TMP_MARKER in p.name]
    assert leftovers == []


def test_failed_write_keeps_old_file_and_removes_tmp(tmp_path):
    dest = tmp_path / "x.txt"
    atomic.write_text(dest, "old")
    with pytest.raises(RuntimeError), atomic.atomic_path(dest) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed mid-write")
    assert dest.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.txt"]


def test_tmp_names_are_unique_and_carry_the_pid(tmp_path):
    names = {atomic.tmp_name(tmp_path / "f.npy").name for _ in range(200)}
    assert len(names) == 200
    assert all(f"-{os.getpid()}-" in n and n.startswith(".f.npy") for n in names)


_HAMMER = """
import sys
from data_catalog import atomic
for _ in range(30):
    atomic.write_bytes(sys.argv[1], bytes([int(sys.argv[2])]) * 200_000)
"""


def test_two_processes_writing_one_file_never_tear_it(tmp_path):
    # plain subprocesses, not multiprocessing: spawn re-imports whatever __main__ pytest has
    dest = tmp_path / "shared.bin"
    procs = [subprocess.Popen([sys.executable, "-c", _HAMMER, str(dest), str(b)]) for b in (1, 2)]
    assert [p.wait(60) for p in procs] == [0, 0]
    data = dest.read_bytes()
    assert len(data) == 200_000 and len(set(data)) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["shared.bin"]


def test_streamed_npy_rows_load_like_np_save(tmp_path):
    rng = np.random.default_rng(0)
    blocks = [rng.integers(-5, 50, (r, 7)).astype(np.int32) for r in (3, 0, 11, 1)]
    dest = tmp_path / "rows.npy"
    with atomic.npy_rows(dest, 7, np.int32) as w:
        for b in blocks:
            w.append(b)
    want = np.concatenate(blocks)
    assert np.array_equal(np.load(dest), want) and np.load(dest).dtype == np.int32
    assert np.array_equal(np.load(dest, mmap_mode="r"), want)
    with atomic.npy_rows(tmp_path / "empty.npy", 4, np.float16):
        pass
    assert np.load(tmp_path / "empty.npy").shape == (0, 4)
    with pytest.raises(RuntimeError), atomic.npy_rows(dest, 7, np.int32) as w:
        w.append(blocks[0])
        raise RuntimeError("killed mid-write")
    assert np.array_equal(np.load(dest), want)  # the old file stands, no tmp left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.npy", "rows.npy"]
