"""`dsdm sources list` and the built-in side of `dsdm pool add --builtin`.

`sources list` shows every built-in source: its kind (pool, target or planted), how many
records it gives (measured on the full artifact), its download size, licence, the pinned
artifact, and whether it is already in the cache (so it works offline). `--json` prints the
same as a list of objects for scripts.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from dsdm_engine.cli.common import print_df


def source_rows() -> list[dict[str, Any]]:
    """One dict per built-in source (what `dsdm sources list --json` prints)."""
    from data_catalog.sources import SOURCES, cache_dir

    cache = cache_dir()
    return [
        {
            "name": s.name,
            "kind": s.kind,
            "records": s.records,
            "download_bytes": s.download_bytes,
            "licence": s.license,
            "registry": s.registry,
            "cached": s.is_cached(cache),
            "optional": s.optional,
        }
        for s in SOURCES.values()
    ]


def cmd_sources_list(args: argparse.Namespace) -> int:
    rows = source_rows()
    if args.kind:
        rows = [r for r in rows if r["kind"] == args.kind]
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    import pandas as pd

    df = pd.DataFrame(rows)
    df["records"] = df["records"].map(lambda n: "?" if n is None or n != n else f"{int(n):,}")
    df["MB"] = df["download_bytes"].map(lambda b: "?" if b is None or b != b else f"{b / 1e6:,.1f}")
    df["licence"] = df["licence"].str.slice(0, 48)
    print_df(df[["name", "kind", "records", "MB", "cached", "licence"]])
    return 0


def register_sources_command(sub: Any) -> None:
    """Add `dsdm sources list` to the CLI's subparsers."""
    src = sub.add_parser("sources", help="built-in data sources").add_subparsers(
        dest="sub", required=True, metavar="SUB"
    )
    ls = src.add_parser(
        "list",
        help="every built-in source: kind, records, size, licence, cached",
        description="Built-in sources; pool sources go into `dsdm pool add NAME --builtin "
        "SOURCE...`, targets into `dsdm target add --builtin NAME`.",
    )
    ls.add_argument("--json", action="store_true", help="print a JSON list of objects")
    ls.add_argument("--kind", choices=["pool", "target", "planted"], help="only this kind")
    ls.set_defaults(func=cmd_sources_list)
