"""App benchmark: time to first render of Inspect, Compare, Map and Select on a 100,000-document
pool.

Builds (once, cached under bench/out/app_ws) a workspace with a 100k-document pool in 7 sources
(1% planted), a target task, stored scores for it (random normal numbers: the app only reads
them, so their values do not matter for speed) and `dsdm` and `random` selections of 10,000
documents made by the real selectors, and a stored pool map (a PCA layout of hashed bags of
words: MiniLM on 100k documents takes many minutes on this CPU, and the Map page only reads the
stored layout, so its speed does not depend on how it was made). Then it serves the app, opens
it on the Workspace page (server start-up and loading the app's JavaScript are not what is
measured), and times going to Inspect, Compare, Map and Select from the sidebar, each for the
first time (their queries not cached yet), until the page's script run has finished and its
tables and charts are drawn (Select: its live DsDm preview of a 10% selection, composition and
histogram). Goals: Inspect, Compare and Select under 2 s, Map (cached layout) under 3 s.

    python bench/app.py [--docs 100000] [--out FILE]   # FILE gets the timings as JSON

Needs Debian chromium at /usr/bin/chromium (`make test` installs it); `--apptest` times the
script runs with Streamlit's AppTest instead (no browser).
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from data_catalog.catalog import Catalog  # noqa: E402
from data_catalog.ingest import ingest  # noqa: E402
from data_catalog.targets import add_target_task  # noqa: E402
from dsdm_engine.cli.serve import free_port, server_command, server_env  # noqa: E402

WORDS = (
    "data model selection target loss pool document token proxy gradient feature score "
    "random subset train held out budget quality web text news wiki story fox dog recipe "
    "garlic pasta bank rates match goal code function"
).split()
TARGET = "bench-target"


def hashed_embed(texts: list[str]) -> np.ndarray:
    """A cheap stand-in embedding for the bench's map layout: hashed bag of words, 64-d."""
    out = np.zeros((len(texts), 64), dtype=np.float32)
    for i, text in enumerate(texts):
        for word in text.split():
            out[i, zlib.crc32(word.encode()) % 64] += 1.0
    return out


def ensure_map(cat: Catalog) -> None:
    from dsdm_engine.stages.pool_map import compute_pool_map, load_pool_map

    if load_pool_map(cat, "bench") is None:
        compute_pool_map(cat, "bench", method="pca", embed_fn=hashed_embed)


def build(root: Path, n_docs: int) -> Catalog:
    cat = Catalog.open(root)
    if cat.pool_exists("bench") and int(cat.get_pool("bench")["n_docs"]) == n_docs:
        ensure_map(cat)
        return cat
    rng = random.Random(0)
    src = root.parent / "bench_pool.jsonl"
    with open(src, "w") as f:
        for i in range(n_docs):
            words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 120)))
            rec = {"text": f"{i} {words}", "source": f"source{i % 7}"}
            if i % 100 == 0:
                rec["planted"] = "garbled"
            f.write(json.dumps(rec) + "\n")
    ingest(cat, "bench", [str(src)])
    task = add_target_task(
        cat, TARGET, [("", f"example {i} recipe garlic pasta") for i in range(20)], origin="bench"
    )
    ids = cat.doc_ids("bench")
    scores = np.random.default_rng(0).standard_normal(len(ids))
    run = cat.create_run(
        "scores", {"bench": True}, "bench", pool_id="bench", task_id=task["task_id"]
    )
    cat.save_scores(run, task["task_id"], "bench", ids, scores)
    cat.set_run_status(run, "done")
    from dsdm_engine.selectors import SelectionRule
    from dsdm_engine.stages import run_selection

    for method in ("dsdm", "random"):
        run_selection(cat, method, "bench", task_ref=task["task_id"], rule=SelectionRule(k=10_000))
    ensure_map(cat)
    return cat


@contextmanager
def app_page(root: Path) -> Iterator[tuple[Any, Any, str]]:
    """The app served on workspace `root` and a headless Chromium page at its address:
    (page, the "script finished" locator, url)."""
    from playwright.sync_api import expect, sync_playwright

    port = free_port("127.0.0.1", 8700)
    proc = subprocess.Popen(
        server_command("127.0.0.1", port),
        env=server_env(root),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path="/usr/bin/chromium",
                args=[
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                ],
            )
            page = browser.new_page(viewport={"width": 1400, "height": 2600})
            page.set_default_timeout(120_000)
            expect.set_options(timeout=120_000)
            done = page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]')
            yield page, done, url
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def time_browser(cat: Catalog, task_id: str) -> dict[str, float]:
    from playwright.sync_api import expect

    with app_page(cat.workspace.root) as (page, done, url):
        # warm-up: server runtime, browser, JS bundles; the pages then show this target
        page.goto(f"{url}/?{urllib.parse.urlencode({'target': task_id})}")
        page.get_by_role("heading", name="Workspace").wait_for()
        done.wait_for()
        out = {}
        for name, link, heading in (
            ("inspect", "Inspect", "Inspect documents"),
            ("compare", "Compare", "Compare selection methods"),
            ("map", "Map", "Pool map"),
            ("select", "Select", "Build a selection"),
        ):
            t0 = time.perf_counter()
            page.get_by_test_id("stSidebarNav").get_by_role("link", name=link).click()
            page.get_by_role("heading", name=heading).wait_for()
            done.wait_for()
            charts = page.get_by_test_id("stPlotlyChart")
            expect(charts.locator(".js-plotly-plot")).to_have_count(charts.count())
            tables = page.get_by_test_id("stDataFrame")
            if name in ("inspect", "compare"):
                expect(tables.first.locator("canvas").first).to_be_attached()
            elif name == "map":  # the drawn points: WebGL canvases of the scattergl traces
                expect(charts.locator("canvas").first).to_be_attached()
            else:  # select: the preview's composition and histogram
                expect(charts.locator(".js-plotly-plot")).to_have_count(2)
            out[f"{name}_first_render_s"] = time.perf_counter() - t0
    return out


def time_apptest(cat: Catalog, task_id: str) -> dict[str, float]:
    import os

    from streamlit.testing.v1 import AppTest

    os.environ["DSDM_WORKSPACE"] = str(cat.workspace.root)
    out = {}
    for name, page, params in (
        ("inspect", "inspector", {"pool": "bench", "target": task_id}),
        ("compare", "compare", {"pool": "bench", "target": task_id, "method": "dsdm,random"}),
        ("map", "map", {"pool": "bench"}),
        ("select", "select", {"pool": "bench", "target": task_id, "method": "dsdm"}),
    ):
        at = AppTest.from_file(str(ROOT / "app" / "main.py"), default_timeout=120)
        at.run()
        at.query_params.update(params)
        at.switch_page(f"app_pages/{page}.py")
        t0 = time.perf_counter()
        at.run()
        out[f"{name}_first_render_s"] = time.perf_counter() - t0
        assert not at.exception, at.exception
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--workspace", type=Path, default=ROOT / "bench" / "out" / "app_ws")
    ap.add_argument("--apptest", action="store_true", help="time script runs only (no browser)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    t0 = time.perf_counter()
    cat = build(args.workspace, args.docs)
    print(f"workspace ready in {time.perf_counter() - t0:.1f} s: {args.workspace}", flush=True)
    task_id = cat.get_target_task(TARGET)["task_id"]
    result = time_apptest(cat, task_id) if args.apptest else time_browser(cat, task_id)
    result |= {"n_docs": args.docs, "mode": "apptest" if args.apptest else "browser"}
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
