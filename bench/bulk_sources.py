"""Bulk sources benchmark: fetch (once, cached) and stream every large source, count passages.

Prints a table (source, passages, words, download MB, parse seconds) and the peak RSS of the
streaming pass (``ru_maxrss``: records are counted and dropped, never kept), and writes JSON.
Downloads go to ``$DSDM_CACHE`` or ``~/.cache/dsdm`` and are reused by later runs.

    python bench/bulk_sources.py [--only bible sotu] [--out bench/out/bulk_sources.json]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from data_catalog.sources.bulk import BULK_DOWNLOADS, BULK_SOURCES  # noqa: E402
from data_catalog.sources.cache import cache_dir  # noqa: E402

_FILES = {name: list(files) for name, files in BULK_DOWNLOADS.items()}


def _download_mb(cache: Path, name: str) -> float:
    files = [cache / "downloads" / f for f in _FILES.get(name, [])]
    return sum(f.stat().st_size for f in files if f.exists()) / 1e6


def measure(cache: Path, only: list[str] | None = None) -> dict:
    """Fetch and stream each bulk source; passages, words, sizes and times per source."""
    rows = []
    for source in BULK_SOURCES:
        if only and source.name not in only:
            continue
        t0 = time.perf_counter()
        root = source.fetch(cache)
        t1 = time.perf_counter()
        passages = words = 0
        min_w, max_w = 10**9, 0
        for rec in source.parse(root):
            n = len(rec["text"].split())
            passages += 1
            words += n
            min_w, max_w = min(min_w, n), max(max_w, n)
        t2 = time.perf_counter()
        rows.append(
            {
                "source": source.name,
                "license": source.license,
                "passages": passages,
                "words": words,
                "min_words": min_w if passages else 0,
                "max_words": max_w,
                "download_mb": round(_download_mb(cache, source.name), 1),
                "fetch_s": round(t1 - t0, 1),
                "parse_s": round(t2 - t1, 1),
            }
        )
        print(f"  {source.name}: {passages} passages, {t2 - t1:.1f} s", flush=True)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    total = sum(r["passages"] for r in rows)
    return {"rows": rows, "total_passages": total, "peak_rss_mb": round(peak_mb, 1)}


def print_table(result: dict) -> None:
    """The result as a plain-text table."""
    head = f"{'source':<20}{'passages':>10}{'words':>12}{'dl MB':>8}{'parse s':>9}"
    print(head)
    print("-" * len(head))
    for r in result["rows"]:
        print(
            f"{r['source']:<20}{r['passages']:>10}{r['words']:>12}"
            f"{r['download_mb']:>8.1f}{r['parse_s']:>9.1f}"
        )
    rows = result["rows"]
    print("-" * len(head))
    print(
        f"{'total':<20}{result['total_passages']:>10}{sum(r['words'] for r in rows):>12}"
        f"{sum(r['download_mb'] for r in rows):>8.1f}{sum(r['parse_s'] for r in rows):>9.1f}"
    )
    print(f"peak RSS of the streaming pass: {result['peak_rss_mb']} MB")


def main() -> None:
    """Command line: ``--only`` some sources, ``--out`` a JSON file."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", help="source names (default: all bulk sources)")
    ap.add_argument("--out", type=Path, help="write the results as JSON here")
    args = ap.parse_args()
    t0 = time.perf_counter()
    result = measure(cache_dir(), args.only)
    result["wall_s"] = round(time.perf_counter() - t0, 1)
    print_table(result)
    print(f"wall time: {result['wall_s']} s")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
