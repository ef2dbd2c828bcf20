"""ArtifactLayout: one name per artifact path, relative storage, legacy absolute paths."""

from __future__ import annotations

from pathlib import Path

from data_catalog.artifacts import ArtifactLayout
from data_catalog.workspace import Workspace


def test_layout_names_match_the_paths_the_engine_builds(tmp_path):
    from data_catalog.catalog import Catalog
    from dsdm_engine.cli import launch
    from dsdm_engine.stages import pool_map

    ws = Workspace.open(tmp_path / "ws")
    lay = ws.layout
    cat = Catalog(ws)
    assert lay.map_path("p", "a" * 64, "pca") == pool_map.layout_path(cat, "p", "a" * 64, "pca")
    assert lay.embeddings_path("p") == pool_map.embeddings_path(cat, "p")
    assert lay.logs_dir == launch.log_dir(ws.root)
    assert lay.run_dir("proxies-abc") == ws.root / "artifacts" / "runs" / "proxies-abc"
    assert lay.model_dir("r", 2) == lay.run_dir("r") / "model_2"
    assert lay.a_matrix_path("f", 0, 0.01).name == "A_lambda0.01.npy"
    assert lay.target_features_dir("f", "t@v1", "heldout").parts[-2:] == ("targets", "t@v1-heldout")
    assert lay.tokens_dir("p-h-v512", 64).name == "p-h-v512-L64"
    assert lay.validation_dir("p", "k").parent.name == "lds"
    assert lay.tmp == ws.tmp and lay.exports == ws.exports


def test_rel_and_resolve_round_trip(tmp_path):
    lay = ArtifactLayout(tmp_path / "ws")
    run = lay.run_dir("r1")
    assert lay.rel(run) == "artifacts/runs/r1"
    assert lay.rel("artifacts/runs/r1") == "artifacts/runs/r1"
    assert lay.resolve(lay.rel(run)) == run
    assert lay.resolve(None) is None and lay.resolve("") is None
    outside = tmp_path / "elsewhere" / "file.txt"
    assert lay.rel(outside) == outside.as_posix()  # not under any anchor: kept absolute
    assert lay.resolve(outside) == outside


def test_legacy_absolute_paths_map_onto_the_current_root(tmp_path):
    old = tmp_path / "old-home" / "ws"
    new = ArtifactLayout(tmp_path / "new-home" / "ws")
    assert new.resolve(old / "artifacts" / "runs" / "r1") == new.root / "artifacts/runs/r1"
    assert new.resolve(old / "exports" / "e" / "data.parquet") == new.exports / "e/data.parquet"
    assert new.rel(old / "artifacts" / "maps" / "m.npy") == "artifacts/maps/m.npy"


def test_resolve_prefers_the_tail_that_exists(tmp_path):
    # the old root itself had an "artifacts" component: the later anchor is the real one
    lay = ArtifactLayout(tmp_path / "ws")
    (lay.run_dir("r1")).mkdir(parents=True)
    legacy = Path("/data/artifacts/ws/artifacts/runs/r1")
    assert lay.resolve(legacy) == lay.run_dir("r1")
