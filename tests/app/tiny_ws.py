"""A tiny workspace for the app tests, built through the real catalog, ingest and selectors.

Contents: pool `tiny` (the 20-document selector fixture plus 4 planted garbled documents), two
target tasks (`cooking` from the fixture, `finance` written here), one score run per target,
`dsdm` and `random` selections for `cooking`, a few evaluation rows, and a pool map layout
(PCA of a stand-in embedding: hashed bags of words, not MiniLM, which is too slow to load here).

The stored "DsDm" scores are a stand-in: the share of a document's words that occur in the
target's selection examples, centred on the pool mean (positive = more target-like), not
datamodel scores from proxy models, because training proxies is far too slow for a page test.
The app only reads stored scores, so the pages see exactly what they would see after a real
`dsdm score`. The evaluation losses are made-up
numbers that only exercise the loss-curve chart, and so is the stored validation of `cooking`
(its LDS rows and noise floor, `_validation`): the Evidence page and the trust banners read
them; the verdict logic itself is tested on its own in `tests/dsdm_engine/test_evidence.py`.
"""

from __future__ import annotations

import json
import re
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from data_catalog.catalog import Catalog
from data_catalog.ingest import ingest
from data_catalog.targets import add_target_task
from dsdm_engine.selectors import PoolView, SelectionRule, get_selector
from dsdm_engine.stages.pool_map import compute_pool_map

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "selectors"
POOL = "tiny"
FINANCE = [
    ("Q: What did the central bank do? A:", " It raised interest rates."),
    ("Q: Why did bond yields climb? A:", " Investors sold treasuries."),
    ("Q: What happened to stocks? A:", " Shares fell as inflation rose."),
    ("Q: What do investors buy when rates fall? A:", " They buy bonds."),
]
PLANTED = [
    "xq zzv blorf qqq zzv xq blorf wmmp",
    "qqq wmmp zzv xq xq blorf zzv qqq",
    "blorf blorf zzv qqq wmmp xq zzv qqq",
    "wmmp xq qqq blorf zzv zzv xq blorf",
]


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


def stand_in_scores(texts: list[str], target: list[str]) -> np.ndarray:
    """Share of each text's words found in the target examples, minus the mean share."""
    vocab = {w for t in target for w in _words(t)}
    share = np.array([np.mean([w in vocab for w in _words(t)] or [0.0]) for t in texts])
    return share - share.mean()


def stand_in_embed(texts: list[str]) -> np.ndarray:
    """Hashed bag of words in 64 dimensions (rows normalised by the embedding cache)."""
    out = np.zeros((len(texts), 64), dtype=np.float32)
    for i, text in enumerate(texts):
        for word in _words(text):
            out[i, zlib.crc32(word.encode()) % 64] += 1.0
    return out


def _score(cat: Catalog, task_id: str, texts: list[str], view: PoolView) -> str:
    scores = stand_in_scores(list(view.texts), texts)
    run_id = cat.create_run(
        "scores",
        {"stand_in": "word-share", "task": task_id},
        f"test{task_id}",
        pool_id=POOL,
        task_id=task_id,
    )
    cat.save_scores(run_id, task_id, POOL, list(view.ids), np.asarray(scores))
    cat.set_run_status(run_id, "done")
    return run_id


def _validation(cat: Catalog, task_id: str, scores_run: str) -> str:
    """A finished validation of `task_id` with made-up LDS rows and noise floor."""
    run_id = cat.create_run("validation", {"stand_in": True}, "testlds", pool_id=POOL)
    rows = [  # predictor, kind, held-out LDS, CI
        (f"dsdm λ=10.0 none ({scores_run})", "dsdm", 0.45, 0.12, 0.70),
        ("embedding", "similarity", 0.30, 0.02, 0.55),
        ("bm25", "similarity", 0.10, -0.2, 0.38),
        ("token count", "trivial", 0.05, -0.25, 0.33),
    ]
    table = pd.DataFrame(
        [
            {"predictor": p, "kind": k, "task_id": task_id, "split": split,
             "aggregate_lds": lds, "ci_lo": lo, "ci_hi": hi, "n_subsets": 16,
             "per_example_lds": 0.2 if k == "dsdm" and split == "selection" else np.nan}
            for p, k, lds, lo, hi in rows
            for split in ("selection", "heldout")
        ]
    )  # fmt: skip
    cat.save_lds_results(run_id, table)
    folder = cat.layout.validation_dir(POOL, "test")
    folder.mkdir(parents=True, exist_ok=True)
    noise = [{"task_id": task_id, "split": "heldout", "seed_sd": 0.01, "subset_sd": 0.03,
              "noise_ratio": 1 / 3, "mean_logprob": -5.0}]  # fmt: skip
    (folder / f"{run_id}.noise.json").write_text(json.dumps(noise))
    cat.set_run_artifact(run_id, folder)
    cat.set_run_status(run_id, "done")
    return run_id


def build_tiny_workspace(root: Path) -> Catalog:
    """Create the tiny workspace described in the module docstring at `root`."""
    cat = Catalog.open(root)
    src = root.parent / "tiny_pool.jsonl"
    rows = [json.loads(line) for line in (FIXTURES / "pool.jsonl").read_text().splitlines()]
    rows += [
        {"id": f"junk-{i}", "source": "junk", "text": t, "planted": "garbled"}
        for i, t in enumerate(PLANTED)
    ]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ingest(cat, POOL, [str(src)])
    cooking = [json.loads(line) for line in (FIXTURES / "target.jsonl").read_text().splitlines()]
    tasks = {
        "cooking": add_target_task(
            cat,
            "cooking",
            [(r["prompt"], r["completion"]) for r in cooking],
            origin="file:target.jsonl",
        ),
        "finance": add_target_task(cat, "finance", FINANCE, origin="test"),
    }
    docs = cat.documents(POOL, limit=1000)
    view = PoolView(
        list(docs["doc_id"]),
        list(docs["text"]),
        list(docs["source"]),
        docs["n_words"].to_numpy(dtype=np.int64),
    )
    runs = {}
    for name, task in tasks.items():
        texts = [e.prompt + e.completion for e in cat.target_examples(task["task_id"], "selection")]
        runs[name] = _score(cat, task["task_id"], texts, view)
    cook = tasks["cooking"]["task_id"]
    scores = cat.scores(runs["cooking"], cook)
    dsdm = get_selector("dsdm", scores=scores["score"].to_numpy(), score_ids=list(scores["doc_id"]))
    rule = SelectionRule(k=8)
    sel_ids = {}
    for method, selector in (("dsdm", dsdm), ("random", get_selector("random"))):
        sel = selector.select(view, [], rule, seed=0)
        sel_ids[method] = cat.save_selection(POOL, sel, task_id=cook, name=f"{method}-cooking")
    for method, losses in (("dsdm", [3.1, 2.8, 2.6]), ("random", [3.4, 3.1, 2.9])):
        for budget, loss in zip([1000, 2000, 4000], losses, strict=True):
            cat.save_evaluation(sel_ids[method], cook, budget, 0, loss, {"test": True})
    compute_pool_map(cat, POOL, method="pca", embed_fn=stand_in_embed)
    _validation(cat, cook, runs["cooking"])
    return cat
