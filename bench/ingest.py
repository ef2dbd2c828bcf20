"""Ingest benchmark: docs/s and peak RSS for 100k, 1M and 2M short JSONL documents, same run.

Each size runs in its own subprocess so each gets its own peak RSS (ru_maxrss). The claim under
test: ingestion streams, so peak RSS does not grow with input size.

    python bench/ingest.py [--sizes 100000 1000000] [--out bench/out/ingest.json]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORDS = (
    "data model selection target loss pool document token proxy gradient feature score "
    "random subset train held out budget quality web text news wiki story fox dog"
).split()


def make_jsonl(path: Path, n: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    with open(path, "w") as f:
        for i in range(n):
            words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 30)))
            f.write(json.dumps({"text": f"{i} {words}", "source": f"s{i % 7}"}) + "\n")


def child(path: str, workspace: str) -> None:
    from data_catalog.catalog import Catalog
    from data_catalog.ingest import ingest

    cat = Catalog.open(workspace)
    t0 = time.perf_counter()
    report = ingest(cat, "bench", [path])
    dt = time.perf_counter() - t0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"n_docs": report.n_inserted, "seconds": dt, "peak_rss_mb": rss_mb}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 2_000_000])
    ap.add_argument("--out", type=Path)
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            path = Path(tmp) / f"docs_{n}.jsonl"
            make_jsonl(path, n)
            proc = subprocess.run(
                [sys.executable, __file__, "--child", str(path), str(Path(tmp) / f"ws_{n}")],
                capture_output=True,
                text=True,
                check=True,
            )
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            r["input_mb"] = path.stat().st_size / 1e6
            r["docs_per_s"] = r["n_docs"] / r["seconds"]
            rows.append(r)
    print(f"{'docs':>10} {'input MB':>9} {'seconds':>8} {'docs/s':>9} {'peak RSS MB':>12}")
    for r in rows:
        print(
            f"{r['n_docs']:>10} {r['input_mb']:>9.1f} {r['seconds']:>8.1f} "
            f"{r['docs_per_s']:>9.0f} {r['peak_rss_mb']:>12.0f}"
        )
    ratio = rows[-1]["peak_rss_mb"] / rows[0]["peak_rss_mb"]
    size_ratio = rows[-1]["n_docs"] / rows[0]["n_docs"]
    print(f"peak RSS ratio largest/smallest: {ratio:.2f} for {size_ratio:.0f}x the documents")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"runs": rows, "rss_ratio": ratio}, indent=2))


if __name__ == "__main__":
    main()
