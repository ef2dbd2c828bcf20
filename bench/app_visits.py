"""First and later visits of Inspect, Compare and Map in one Chromium session, on any workspace.

`bench/app.py` and `bench/scale.py` time the first render of each page; this bench repeats the
round (Workspace, then Inspect, Compare and Map from the sidebar) so the first visit (cold query
caches, the browser's first chart) can be told from later ones, and reports per visit when the
heading appeared, when the script finished and when the page was drawn:

    sync; echo 1 > /proc/sys/vm/drop_caches      # optional, as root: a cold page cache
    python bench/app_visits.py --workspace /tmp/scale/ws-1m --out bench/out/app_visits.json

Prints a table and writes JSON (seconds).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dsdm_engine.cli.serve import free_port, server_command, server_env  # noqa: E402

PAGES = (
    ("inspect", "Inspect", "Inspect documents"),
    ("compare", "Compare", "Compare selection methods"),
    ("map", "Map", "Pool map"),
)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def visits(ws: str, n: int) -> list[dict]:
    from playwright.sync_api import expect, sync_playwright

    port = free_port("127.0.0.1", 8700)
    proc = subprocess.Popen(server_command("127.0.0.1", port), env=server_env(ws),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    url, rows = f"http://127.0.0.1:{port}", []
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
            page = browser.new_page(viewport={"width": 1400, "height": 2600})
            page.set_default_timeout(120_000)
            expect.set_options(timeout=120_000)
            done = page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]')
            t0 = time.perf_counter()
            page.goto(f"{url}/")
            page.get_by_role("heading", name="Workspace").wait_for()
            done.wait_for()
            rows.append({"visit": 0, "page": "workspace", "drawn_s": time.perf_counter() - t0})
            for visit in range(1, n + 1):
                for name, link, heading in PAGES:
                    t0 = time.perf_counter()
                    page.get_by_test_id("stSidebarNav").get_by_role("link", name=link).click()
                    page.get_by_role("heading", name=heading).wait_for()
                    t_head = time.perf_counter() - t0
                    done.wait_for()
                    t_script = time.perf_counter() - t0
                    charts = page.get_by_test_id("stPlotlyChart")
                    expect(charts.locator(".js-plotly-plot")).to_have_count(charts.count())
                    if name == "map":  # the drawn points: WebGL canvases of the scattergl traces
                        expect(charts.locator("canvas").first).to_be_attached()
                    else:
                        tables = page.get_by_test_id("stDataFrame")
                        expect(tables.first.locator("canvas").first).to_be_attached()
                    rows.append({"visit": visit, "page": name, "heading_s": t_head,
                                 "script_done_s": t_script,
                                 "drawn_s": time.perf_counter() - t0})  # fmt: skip
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workspace", required=True)
    ap.add_argument("--visits", type=int, default=3)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    rows = visits(args.workspace, args.visits)
    print(f"{'visit':>5} {'page':<10} {'heading':>8} {'script':>8} {'drawn':>8}")
    for r in rows:
        print(f"{r['visit']:>5} {r['page']:<10} {r.get('heading_s', float('nan')):8.2f} "
              f"{r.get('script_done_s', float('nan')):8.2f} {r['drawn_s']:8.2f}")  # fmt: skip
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"workspace": args.workspace, "visits": rows}, indent=1))


if __name__ == "__main__":
    main()
