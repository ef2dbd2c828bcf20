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
import importlib.util
import json
import sys
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


PAGES = (
    ("inspect", "Inspect", "Inspect documents"),
    ("compare", "Compare", "Compare selection methods"),
    ("map", "Map", "Pool map"),
)


def _bench_app():
    """bench/app.py as a module (its `app_page`: the served app and a Chromium page)."""
    spec = importlib.util.spec_from_file_location("bench_app", ROOT / "bench" / "app.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def visits(ws: str, n: int, target: str | None = None) -> list[dict]:
    from playwright.sync_api import expect

    rows: list[dict] = []
    with _bench_app().app_page(Path(ws)) as (page, done, url):
        t0 = time.perf_counter()
        page.goto(f"{url}/" + (f"?{urllib.parse.urlencode({'target': target})}" if target else ""))
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
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workspace", required=True)
    ap.add_argument("--visits", type=int, default=3)
    ap.add_argument("--target", help="the target task the pages open with (default: the first)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    rows = visits(args.workspace, args.visits, args.target)
    print(f"{'visit':>5} {'page':<10} {'heading':>8} {'script':>8} {'drawn':>8}")
    for r in rows:
        print(f"{r['visit']:>5} {r['page']:<10} {r.get('heading_s', float('nan')):8.2f} "
              f"{r.get('script_done_s', float('nan')):8.2f} {r['drawn_s']:8.2f}")  # fmt: skip
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"workspace": args.workspace, "visits": rows}, indent=1))


if __name__ == "__main__":
    main()
