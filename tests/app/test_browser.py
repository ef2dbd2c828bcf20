"""Real-browser test: the app served on a free loopback port, driven by Debian Chromium.

One session end to end on the tiny workspace: create a target task from pasted examples, run a
DsDm and a random selection from the Jobs page (real detached `dsdm select` processes), open
Compare and Inspect, export a Parquet subset and check the downloaded file against its manifest.
A second session opens every page by its URL path (no "Page not found" dialog) and turns a box
drawn on the Map into an exclusion of exactly the documents inside it.
Screenshots of every page go to `artifacts_ci/screenshots/` (gitignored; kept by CI).

The DsDm scores for the pasted target are written by the test (the stand-in scorer of
`tiny_ws.py`) while the server runs, in place of `dsdm score`, which needs trained proxies;
this also exercises the app reading while another process writes the catalog.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pyarrow.parquet as pq
import pytest
from tiny_ws import POOL, build_tiny_workspace, stand_in_scores

from data_catalog.catalog import Catalog
from dsdm_engine.cli.serve import free_port, server_command, server_env
from dsdm_engine.stages.pool_map import load_pool_map, region_mask

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts_ci" / "screenshots"
TIMEOUT_MS = 60_000
PASTED = (
    "Whisk the eggs with sugar, then fold in the flour and bake the cake.\n\n"
    "Simmer the onions in butter until golden, then add the stock.\n\n"
    "Grill the fish with lemon and garlic for ten minutes.\n\n"
    "Knead the dough, let it rise, and bake the bread until crusty."
)


def wait_until_serving(proc: subprocess.Popen, url: str, log: Path, ready=lambda: True) -> None:
    """Poll the server's health endpoint (and `ready()`) until both answer, or fail with its log."""
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200 and ready():
                    return
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the app server did not start:\n{log.read_text()}")
        time.sleep(0.2)


@contextmanager
def serving(cat: Catalog, tmp_path: Path, first_port: int) -> Iterator[str]:
    """The app served for `cat` on a free loopback port (log in tmp_path); yields its URL."""
    port = free_port("127.0.0.1", first_port)
    with open(tmp_path / "server.log", "wb") as log:
        proc = subprocess.Popen(
            server_command("127.0.0.1", port), env=server_env(cat.workspace.root),
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_serving(proc, url, tmp_path / "server.log")
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=20)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Catalog]]:
    cat = build_tiny_workspace(tmp_path / "ws")
    with serving(cat, tmp_path, 8600) as url:
        yield url, cat


def open_page(page, url: str, heading: str) -> None:
    page.goto(url)
    page.get_by_role("heading", name=heading).first.wait_for(timeout=TIMEOUT_MS)
    settle(page)


def settle(page) -> None:
    """Wait until the script run that builds the page has finished."""
    page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for()


def shoot(page, name: str) -> None:
    """Screenshot once every element has rendered (no skeletons, charts and tables drawn)."""
    from playwright.sync_api import expect

    settle(page)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(page.get_by_test_id("stSkeleton")).to_have_count(0)
    charts = page.get_by_test_id("stPlotlyChart")
    expect(charts.locator(".js-plotly-plot")).to_have_count(charts.count())
    tables = page.get_by_test_id("stDataFrame")
    for i in range(tables.count()):
        if tables.nth(i).is_visible():  # a table in a closed expander is never drawn
            expect(tables.nth(i).locator("canvas").first).to_be_attached()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def choose(page, label: str, option: str) -> None:
    """Pick `option` in the Streamlit selectbox labelled `label` (retrying while the page
    re-renders under the pointer)."""
    box = page.get_by_label(label, exact=True)
    for attempt in range(5):
        box.click()
        choice = page.get_by_role("option", name=option, exact=True)
        try:
            choice.wait_for(timeout=5_000)
            choice.click()
            break
        except Exception:  # noqa: BLE001 - the dropdown closed or never opened: try again
            page.keyboard.press("Escape")
            if attempt == 4:
                raise


@contextmanager
def chromium_page(tmp_path: Path) -> Iterator:
    """A page in headless Debian Chromium; a screenshot is kept if the test fails."""
    if not CHROMIUM.exists():
        pytest.fail(
            "Debian chromium is missing at /usr/bin/chromium: `make test` installs it "
            "(apt-get install -y chromium chromium-driver)"
        )
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking"],
        )  # fmt: skip
        page = browser.new_page(viewport={"width": 1400, "height": 2600}, accept_downloads=True)
        page.set_default_timeout(TIMEOUT_MS)
        expect.set_options(timeout=TIMEOUT_MS)
        try:
            yield page
        except Exception:
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / "failure.png"))
            raise
        finally:
            browser.close()


def test_a_curation_session_in_a_real_browser(server, tmp_path: Path):
    url, cat = server
    with chromium_page(tmp_path) as page:
        session(page, url, cat, tmp_path)
    check_export(cat, tmp_path)


PATHS = {
    "workspace": "Workspace",
    "targets": "Target tasks",
    "jobs": "Jobs",
    "map": "Pool map",
    "compare": "Compare selection methods",
    "inspect": "Inspect documents",
    "harmful": "Harmful data",
    "select": "Build a selection",
    "evidence": "Evidence: do the scores predict?",
    "export": "Export a subset",
    "": "Workspace",  # the root forwards to /workspace
}


def test_every_page_opens_by_its_path_and_a_box_on_the_map_excludes(server, tmp_path: Path):
    from playwright.sync_api import expect

    url, cat = server
    with chromium_page(tmp_path) as page:
        for path, heading in PATHS.items():
            open_page(page, f"{url}/{path}", heading)
            # The "Page not found" dialog opens a moment after the page has run: look later.
            page.wait_for_timeout(700)
            assert page.get_by_role("dialog").count() == 0, page.get_by_role("dialog").inner_text()
            expect(page.get_by_test_id("stException")).to_have_count(0)
            assert urlparse(page.url).path == f"/{path or 'workspace'}", page.url
        open_page(page, f"{url}/map", "Pool map")
        box_select(page, page.locator(".js-plotly-plot .nsewdrag").first)
        region = page.get_by_role("heading", name="Region:")
        expect(region).to_be_visible()
        n = int(region.inner_text().split()[1])
        [shape] = page.evaluate("() => document.querySelector('.js-plotly-plot').layout.shapes")
        layout = load_pool_map(cat, POOL)
        box = {"box": [(shape["x0"], shape["x1"], shape["y0"], shape["y1"])]}
        inside = region_mask(layout.xy, box)
        assert 0 < n == inside.sum() < len(layout.xy)  # every document in the drawn box
        shoot(page, "8-map-region")
        page.get_by_text(f"Yes, add all {n} documents in the region").click()
        page.get_by_role("button", name=f"Exclude all {n} documents in the region").click()
        expect(page.get_by_text(f"{n} documents added to {POOL}'s exclusion list")).to_be_visible()
    assert sorted(cat.exclusions(POOL)) == sorted(np.asarray(cat.doc_ids(POOL))[inside])


def box_select(page, plot_area) -> None:
    """Drag a box over the left half of the plot with plotly's box-select tool."""
    plot_area.hover()
    page.locator('.modebar-btn[data-title="Box Select"]').first.click()
    b = plot_area.bounding_box()
    page.mouse.move(b["x"] + 0.02 * b["width"], b["y"] + 0.02 * b["height"])
    page.mouse.down()
    page.mouse.move(b["x"] + 0.5 * b["width"], b["y"] + 0.98 * b["height"], steps=12)
    page.mouse.up()


def session(page, url: str, cat: Catalog, tmp_path: Path) -> None:
    """The user's clicks, page by page; screenshots of each."""
    from playwright.sync_api import expect

    open_page(page, f"{url}/", "Workspace")
    expect(page.get_by_text("Pool tiny")).to_be_visible()
    shoot(page, "1-workspace")

    open_page(page, f"{url}/targets", "Target tasks")
    page.get_by_label("Name", exact=True).fill("soup")
    page.get_by_label("Pasted examples: one per paragraph, or JSONL prompt/completion").fill(PASTED)
    page.get_by_role("button", name="Create target task").click()
    expect(page.get_by_text("Target soup@v1 created")).to_be_visible()
    shoot(page, "2-targets")

    # Stand-in for `dsdm score` (see the module docstring), written while the app serves.
    texts = [e.prompt + e.completion for e in cat.target_examples("soup@v1", "selection")]
    docs = cat.documents(POOL, limit=1000)
    run = cat.create_run(
        "scores", {"stand_in": "word-share"}, "browser", pool_id=POOL, task_id="soup@v1"
    )
    cat.save_scores(
        run,
        "soup@v1",
        POOL,
        list(docs["doc_id"]),
        np.asarray(stand_in_scores(list(docs["text"]), texts)),
    )
    cat.set_run_status(run, "done")

    open_page(page, f"{url}/jobs", "Jobs")
    choose(page, "Target task", "soup@v1")
    page.get_by_label("Documents to select (selection)").fill("8")
    page.get_by_role("button", name="Launch").click()
    launched = page.get_by_role("status").filter(has_text="Launched")
    expect(launched.filter(has_text="--method dsdm")).to_be_visible()
    choose(page, "Method (selection)", "random")
    page.get_by_role("button", name="Launch").click()
    expect(launched.filter(has_text="--method random")).to_be_visible()
    expect(page.get_by_text("exited (exit 0)")).to_have_count(2, timeout=120_000)
    shoot(page, "3-jobs")
    sels = cat.list_selections(POOL)
    soup = sels[sels["task_id"] == "soup@v1"].set_index("method")
    assert set(soup.index) == {"dsdm", "random"}, sels

    open_page(
        page,
        f"{url}/compare?target=soup@v1&pool={POOL}&method=dsdm,random",
        "Compare selection methods",
    )
    expect(page.locator(".js-plotly-plot")).to_have_count(3)  # no evaluations for soup
    expect(page.get_by_text("Rank correlation")).to_be_visible()
    shoot(page, "4-compare")

    open_page(page, f"{url}/inspect?target=soup@v1&pool={POOL}", "Inspect documents")
    expect(page.get_by_text("Most helpful", exact=True)).to_be_visible()
    expect(page.get_by_text("positive = predicted to lower target loss").first).to_be_visible()
    shoot(page, "5-inspect")

    open_page(page, f"{url}/harmful?target=soup@v1", "Harmful data")
    shoot(page, "6-harmful")

    sel_id = soup.loc["dsdm", "selection_id"]
    open_page(page, f"{url}/export?selection={sel_id}", "Export a subset")
    expect(page.get_by_text('"method": "dsdm"')).to_be_visible()  # the manifest preview
    page.get_by_role("button", name="Write export").click()
    expect(page.get_by_text("Wrote 8 rows")).to_be_visible()
    with page.expect_download() as dl:
        page.get_by_role("button", name="Download data.parquet").click()
    data = tmp_path / "data.parquet"
    dl.value.save_as(data)
    with page.expect_download() as dl:
        page.get_by_role("button", name="Download manifest.json").click()
    dl.value.save_as(tmp_path / "manifest.json")
    shoot(page, "7-export")


def check_export(cat: Catalog, tmp_path: Path) -> None:
    """The downloaded Parquet file is the selection, and the manifest describes it."""
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    data = tmp_path / "data.parquet"
    table = pq.read_table(data).to_pandas()
    members = cat.selection_members(manifest["selection_id"])
    assert list(table["id"]) == list(members["doc_id"]) and len(table) == 8
    assert manifest["sha256"] == hashlib.sha256(data.read_bytes()).hexdigest()
    assert (manifest["method"], manifest["target_task_id"], manifest["row_count"]) == (
    "dsdm", "soup@v1", 8)  # fmt: skip
    assert list(Path(cat.workspace.exports).glob("*/data.parquet"))  # findable in exports/


def build_scored_workspace(root: Path) -> Catalog:
    """A tiny topical pool with *real* DsDm scores (two tiny proxies trained here, features,
    `score_task`) and a pool map: what the curation path runs on in the next test."""
    import random

    from tiny_ws import stand_in_embed

    from data_catalog.ingest import ingest
    from data_catalog.targets import add_target_task
    from dsdm_engine import stages
    from dsdm_engine.stages.pool_map import compute_pool_map

    topics = {
        "cooking": "stir sauce garlic onion simmer pan oven bake flour butter salt recipe",
        "sports": "team scored goal match player coach league season win defense ball",
        "code": "function returns list string array loop index variable compile python",
    }
    rng = random.Random(0)
    path = root.parent / "real_pool.jsonl"
    with open(path, "w") as f:
        for i in range(150):
            topic = list(topics)[i % 3]
            words = topics[topic].split()
            text = " ".join(rng.choice(words) for _ in range(rng.randint(15, 30)))
            f.write(json.dumps({"text": f"{text} {i}", "source": topic}) + "\n")
    cat = Catalog.open(root)
    ingest(cat, "real", [str(path)])
    words = topics["cooking"].split()
    examples = [
        (" ".join(rng.choice(words) for _ in range(8)), " " + " ".join(rng.sample(words, 3)))
        for _ in range(16)
    ]
    add_target_task(cat, "cook", examples, origin="test")
    cfg = stages.ProxyConfig.make(n_models=2, preset="tiny", vocab_size=300, seq_len=32)
    proxies = stages.train_proxies(cat, "real", cfg)
    features = stages.featurize(cat, proxies, stages.FeatureConfig(proj_dim=128, shard_size=64))
    stages.score_task(cat, features, "cook")
    compute_pool_map(cat, "real", method="pca", embed_fn=stand_in_embed)
    return cat


def test_real_scores_map_region_excluded_then_select_recipe_and_export(tmp_path: Path):
    """Map region → exclusion list → Select page recipe → create → export, on scores from the
    real engine; the export matches its manifest and the manifest's recipe reruns identically."""
    from playwright.sync_api import expect

    from dsdm_engine.cli import main

    cat = build_scored_workspace(tmp_path / "ws")
    with serving(cat, tmp_path, 8650) as url:
        with chromium_page(tmp_path) as page:
            open_page(page, f"{url}/map?pool=real&target=cook@v1", "Pool map")
            box_select(page, page.locator(".js-plotly-plot .nsewdrag").first)
            region = page.get_by_role("heading", name="Region:")
            n = int(region.inner_text().split()[1])
            page.get_by_text(f"Yes, add all {n} documents in the region").click()
            page.get_by_role("button", name=f"Exclude all {n} documents in the region").click()
            expect(
                page.get_by_text(f"{n} documents added to real's exclusion list")
            ).to_be_visible()

            open_page(page, f"{url}/select?pool=real&method=dsdm&target=cook@v1",
                      "Build a selection")  # fmt: skip
            page.get_by_label("How many").fill("10")
            page.get_by_label("How many").press("Enter")
            settle(page)
            page.get_by_label("Selection name").fill("browser-pick")
            page.get_by_label("Selection name").press("Enter")
            settle(page)
            expect(page.get_by_test_id("stMetricValue").first).to_have_text("10")
            shoot(page, "9-select")
            page.get_by_role("button", name="Create selection").click()
            expect(page.get_by_text("Selection browser-pick")).to_be_visible()
            page.get_by_role("button", name="Export", exact=True).click()
            expect(page.get_by_text("Wrote 10 rows")).to_be_visible()
    excluded = set(cat.exclusions("real"))
    assert 0 < len(excluded) < 150
    [manifest_path] = Path(cat.workspace.exports).glob("browser-pick-*/manifest.json")
    manifest = json.loads(manifest_path.read_text())
    data = manifest_path.parent / manifest["file"]
    table = pq.read_table(data).to_pandas()
    picked = list(cat.selection_members(manifest["selection_id"]).sort_values("rank")["doc_id"])
    assert list(table["id"]) == picked and len(picked) == 10
    assert manifest["sha256"] == hashlib.sha256(data.read_bytes()).hexdigest()
    assert not excluded & set(picked)  # the map region stayed out
    recipe = tmp_path / "recipe.json"
    recipe.write_text(json.dumps({**manifest["recipe"], "name": "cli-again"}))
    assert main(["--workspace", str(cat.workspace.root), "select", "--recipe", str(recipe)]) == 0
    sels = cat.list_selections("real")
    again = sels[sels["name"] == "cli-again"]["selection_id"].iloc[0]
    assert list(cat.selection_members(again).sort_values("rank")["doc_id"]) == picked
