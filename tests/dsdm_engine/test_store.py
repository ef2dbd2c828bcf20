"""The feature store: float16 rows with a float32 scale per row read back as float32 within
float16 precision whatever a row's norm; float32 stores (and those written before float16
existed) read exactly; a short write leaves nothing behind."""

import numpy as np
import pytest

from dsdm_engine.compute.featurize.store import (
    FeatureWriter,
    RowScaled,
    bytes_per_row,
    load_features,
)


def heavy_tailed(n=300, k=64, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    norms = 10.0 ** rng.uniform(-4, 5, n)  # whole-document features span many decades
    rows = rng.standard_normal((n, k)) * norms[:, None]
    rows[7] = 0.0  # an empty document
    return rows


def write(tmp_path, rows, store, blocks=(0, 100, 250)):
    with FeatureWriter(tmp_path, len(rows), rows.shape[1], store) as w:
        for a, b in zip(blocks, [*blocks[1:], len(rows)], strict=True):
            w.write(rows[a:b])
    return load_features(tmp_path)


def test_float16_rows_keep_three_digits_at_every_scale(tmp_path):
    rows = heavy_tailed()
    got = write(tmp_path, rows, "float16")
    assert isinstance(got, RowScaled) and got.shape == rows.shape and len(got) == 300
    full = np.asarray(got)
    assert full.dtype == np.float32 and np.all(full[7] == 0)
    peak = np.abs(rows).max(axis=1, keepdims=True)
    err = np.abs(full - rows) / np.where(peak > 0, peak, 1)
    assert err.max() < 1e-3  # float16's 11-bit mantissa, relative to each row's largest value
    on_disk = (tmp_path / "features.npy").stat().st_size
    assert on_disk < 0.55 * rows.size * 4 and bytes_per_row(64, "float16") == 64 * 2 + 8


def test_row_scaled_indexing_matches_a_plain_array(tmp_path):
    rows = heavy_tailed(50, 8)
    got = write(tmp_path, rows, "float16", blocks=(0,))
    full = np.asarray(got)
    np.testing.assert_array_equal(got[3:9], full[3:9])
    np.testing.assert_array_equal(got[4], full[4])
    np.testing.assert_array_equal(got[np.array([1, 5, 2])], full[[1, 5, 2]])
    np.testing.assert_array_equal(got[2:6, 3], full[2:6, 3])
    assert np.asarray(got, np.float64).dtype == np.float64
    by_map = np.asarray(got.values[3:9], np.float32) * got.scale[3:9, None]
    np.testing.assert_array_equal(got[3:9], by_map)  # the file read = the memmap's rows


def _file_rss_mb() -> float:
    """Resident pages of files mapped into this process (Linux `RssFile`), in MB."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("RssFile")) / 1024


def test_streaming_a_store_does_not_grow_the_process_rss(tmp_path):
    """Blocks of rows are read from the file, not touched through the memmap (mapped pages
    count in RSS: a 1M-document store streamed that way grew RSS by its size)."""
    n, k = 4096, 4096  # 32 MB of float16
    with FeatureWriter(tmp_path, n, k, "float16") as w:
        for s in range(0, n, 512):
            w.write(np.random.default_rng(s).standard_normal((512, k)))
    got = load_features(tmp_path)
    got[0:256]  # warm-up: imports
    before = _file_rss_mb()
    total = sum(float(got[s : s + 256].sum()) for s in range(0, n, 256))
    assert np.isfinite(total) and _file_rss_mb() - before < 8  # mapped: +32


def test_float32_stores_are_exact_and_older_stores_read_unchanged(tmp_path):
    rows = heavy_tailed(40, 16)
    got = write(tmp_path / "a", rows, "float32", blocks=(0, 10))
    np.testing.assert_array_equal(np.asarray(got), rows.astype(np.float32))
    old = tmp_path / "old"  # a store from before float16: a bare float32 features.npy
    old.mkdir()
    np.save(old / "features.npy", rows.astype(np.float32))
    np.testing.assert_array_equal(np.asarray(load_features(old)), rows.astype(np.float32))


def test_a_short_write_is_an_error_and_leaves_no_file(tmp_path):
    rows = heavy_tailed(20, 4)
    with pytest.raises(ValueError, match="wrote 10 rows, expected 20"):
        with FeatureWriter(tmp_path, 20, 4, "float16") as w:
            w.write(rows[:10])
    assert not (tmp_path / "features.npy").exists() and not list(tmp_path.glob("*.tmp*"))


@pytest.mark.parametrize("cols", [None, 3])
def test_the_streamed_product_equals_the_rows_times_w(tmp_path, cols):
    rows = heavy_tailed(300, 16)
    got = write(tmp_path, rows, "float16")
    w = np.random.default_rng(1).standard_normal(16 if cols is None else (16, cols))
    want = np.asarray(got, np.float64) @ w
    for store in (got, RowScaled(np.asarray(got.values), got.scale)):  # from the file; in memory
        prod = store.matmul(w.astype(np.float32), block=64, threads=1)  # a short last block
        assert prod.shape == want.shape and prod.dtype == np.float32
        np.testing.assert_allclose(prod, want, rtol=1e-4, atol=1e-6 * np.abs(want).max())
        for threads in (2, 3):  # row ranges streamed side by side: the same numbers
            np.testing.assert_array_equal(store.matmul(w.astype(np.float32), 64, threads), prod)
