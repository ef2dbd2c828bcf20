"""The pool map: layout job, storage keyed by pool content, reuse, regions, the CLI entry.

Embeddings come from a stand-in embedder (documents of three topics get three distinct
directions plus seeded noise), so the layouts have known structure without loading MiniLM.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from data_catalog.catalog import Catalog
from data_catalog.errors import InputError
from data_catalog.ingest import ingest
from dsdm_engine.cli import main
from dsdm_engine.stages import pool_map
from dsdm_engine.stages.pool_map import compute_pool_map, load_pool_map, project_2d, region_mask

TOPICS = ("pasta garlic sauce", "bond yields rates", "goal match striker")


class TopicEmbedder:
    """Three topics → three orthogonal directions, plus small seeded noise; counts calls."""

    name = "topic-stand-in"

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, texts):
        self.calls += 1
        rng = np.random.default_rng(len(texts))
        out = 0.05 * rng.standard_normal((len(texts), 16)).astype(np.float32)
        for i, text in enumerate(texts):
            out[i, next(t for t, words in enumerate(TOPICS) if words in text)] += 1.0
        return out


def topic_pool(catalog: Catalog, tmp_path: Path, n: int = 90, name: str = "p") -> list[int]:
    """A pool of n documents cycling through the three topics; returns each one's topic."""
    src = tmp_path / f"{name}.jsonl"
    lines = [f'{{"text": "doc {i} about {TOPICS[i % 3]}"}}\n' for i in range(n)]
    src.write_text("".join(lines))
    ingest(catalog, name, [str(src)])
    return [i % 3 for i in range(n)]


def test_layout_is_stored_by_content_hash_registered_and_reused(catalog: Catalog, tmp_path):
    topics = topic_pool(catalog, tmp_path)
    embed = TopicEmbedder()
    reports: list[tuple[int, int, str]] = []

    def progress(done: int, total: int, message: str = "") -> None:
        reports.append((done, total, message))

    found = compute_pool_map(catalog, "p", method="pca", embed_fn=embed, progress=progress)
    pool = catalog.get_pool("p")
    assert found.xy.shape == (90, 2) and found.xy.dtype == np.float32
    assert 0.0 <= found.xy.min() and found.xy.max() <= 1.0
    path = Path(catalog.get_run(found.run_id)["artifact_path"])
    assert path.exists() and pool["content_hash"][:16] in path.name
    run = catalog.get_run(found.run_id)
    assert (run["kind"], run["status"], run["pool_id"]) == ("map", "done", "p")
    assert run["config"]["content_hash"] == pool["content_hash"] and run["config"]["seed"] == 0
    assert (90, 90, "embedding") in reports  # progress over every document
    # Documents of one topic sit together: each point's nearest neighbour shares its topic.
    d = np.linalg.norm(found.xy[:, None] - found.xy[None], axis=2) + np.eye(90) * 9
    assert all(topics[j] == topics[i] for i, j in enumerate(d.argmin(1)))
    again = compute_pool_map(catalog, "p", method="pca", embed_fn=embed)
    assert again.run_id == found.run_id and embed.calls == 1  # nothing recomputed
    np.testing.assert_array_equal(load_pool_map(catalog, "p").xy, found.xy)


def test_a_changed_pool_has_no_map_until_recomputed(catalog: Catalog, tmp_path):
    topic_pool(catalog, tmp_path)
    compute_pool_map(catalog, "p", method="pca", embed_fn=TopicEmbedder())
    more = tmp_path / "more.jsonl"
    more.write_text('{"text": "one more doc about bond yields rates"}\n')
    ingest(catalog, "p", [str(more)], append=True)
    assert load_pool_map(catalog, "p") is None
    assert compute_pool_map(catalog, "p", method="pca", embed_fn=TopicEmbedder()).xy.shape[0] == 91


def test_umap_keeps_topics_apart():
    rng = np.random.default_rng(0)
    topic = np.repeat(np.arange(3), 30)
    emb = np.eye(16, dtype=np.float32)[topic] + 0.05 * rng.standard_normal((90, 16))
    xy = project_2d(emb / np.linalg.norm(emb, axis=1, keepdims=True), "umap", seed=0)
    d = np.linalg.norm(xy[:, None] - xy[None], axis=2) + np.eye(90) * 9
    assert (topic[d.argmin(1)] == topic).all()


def test_method_choice_and_bad_method(monkeypatch):
    assert pool_map.resolve_method("auto", 24) == "pca"  # too few for UMAP's neighbours
    assert pool_map.resolve_method("auto", 5_000) == "umap"
    assert pool_map.resolve_method("auto", pool_map.UMAP_MAX_DOCS + 1) == "pca"
    with pytest.raises(InputError, match="--method"):
        pool_map.resolve_method("tsne", 100)
    monkeypatch.setattr(pool_map, "umap_available", lambda: False)
    assert pool_map.resolve_method("auto", 5_000) == "pca"
    with pytest.raises(InputError, match="umap-learn"):
        pool_map.resolve_method("umap", 5_000)


def test_lasso_region_counts_points_exactly():
    grid = np.stack(np.meshgrid(np.arange(10), np.arange(10)), -1).reshape(-1, 2) / 9.0
    square = {"lasso": [([0.2, 0.6, 0.6, 0.2], [0.2, 0.2, 0.6, 0.6])]}
    inside = region_mask(grid, square)
    expected = (grid >= 0.2).all(1) & (grid <= 0.6).all(1)
    # Points exactly on the right/top edge fall either way under the even-odd rule: compare
    # away from the edges only.
    edge = np.isclose(grid, 0.6).any(1) | np.isclose(grid, 0.2).any(1)
    assert (inside[~edge] == expected[~edge]).all() and inside.sum() >= 9
    both = region_mask(grid, {**square, "box": [(0.8, 1.0, 0.8, 1.0)]})
    assert both.sum() == inside.sum() + 4


def test_cli_map_runs_as_a_job(tmp_path, capsys, monkeypatch, jsonl_file):
    ws = str(tmp_path / "ws")
    docs = jsonl_file([{"text": f"doc {i} about {TOPICS[i % 3]}"} for i in range(30)])
    assert main(["--workspace", ws, "pool", "add", "p", str(docs), "--quiet"]) == 0
    monkeypatch.setattr(pool_map, "MiniLMEmbedder", TopicEmbedder)
    assert main(["--workspace", ws, "map", "--pool", "p", "--quiet"]) == 0
    assert "30 documents laid out with pca" in capsys.readouterr().out
    cat = Catalog.open(ws)
    job = cat.list_jobs().iloc[0]
    assert (job["kind"], job["status"]) == ("map", "done")
    assert main(["--workspace", ws, "map", "--pool", "nope", "--quiet"]) == 2
    assert "pool 'nope' not found" in capsys.readouterr().err
