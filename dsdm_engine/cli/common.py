"""Terminal output and run lookups shared by the `dsdm` command modules (its own module: no
import cycle)."""

from __future__ import annotations

import argparse
from typing import Any

import pandas as pd

from data_catalog.catalog import Catalog
from data_catalog.errors import InputError


def print_df(df: pd.DataFrame, digits: int | None = None) -> None:
    """A table for the terminal; `digits` fixes the decimals of float columns."""
    if df.empty:
        print("(none)")
        return
    fmt = None if digits is None else (lambda x: f"{x:.{digits}f}")
    with pd.option_context("display.max_columns", 20, "display.width", 160):
        print(df.to_string(index=False, float_format=fmt))


def add_command(sub: Any, name: str, func: Any, help: str, description: str | None = None) -> Any:
    """A `dsdm` subcommand: its parser, with `func` as the handler."""
    parser = sub.add_parser(name, help=help, description=description or help)
    parser.set_defaults(func=func)
    return parser


def open_catalog(args: argparse.Namespace) -> Catalog:
    """The catalog of `--workspace`."""
    return Catalog.open(args.workspace)


def run_as_job(args: argparse.Namespace, kind: str, stage: Any) -> Any:
    """Run `stage(catalog, progress)` as a job of `kind` (progress echoed to the terminal)."""
    from dsdm_engine.jobs import run_job

    params = {k: v for k, v in vars(args).items() if k not in ("func",) and not callable(v)}
    cat = open_catalog(args)
    return run_job(cat, kind, params, lambda progress: stage(cat, progress), echo=True)


def latest_run(cat: Catalog, kind: str, pool_id: str | None = None) -> str:
    """The newest finished run of `kind` (on `pool_id`); else an error saying what to run."""
    runs = cat.list_runs(kind)
    runs = runs[runs["status"] == "done"]
    if pool_id:
        runs = runs[runs["pool_id"] == pool_id]
    if runs.empty:
        where = f" for pool {pool_id!r}" if pool_id else ""
        raise InputError(f"no finished {kind} run{where}; run the previous stage first")
    return str(runs.iloc[-1]["run_id"])


def given_run(cat: Catalog, run_id: str, kind: str, flag: str) -> str:
    """`run_id` if it is a finished run of `kind`; else an error naming `flag`."""
    run = cat.get_run(run_id)
    if run["kind"] != kind:
        raise InputError(f"{flag} {run_id} is a {run['kind']} run, not a {kind} run")
    if run["status"] != "done":
        raise InputError(f"{flag} {run_id} is {run['status']}, not finished")
    return run_id


def stage_input(cat: Catalog, args: argparse.Namespace, kind: str, flag: str) -> str:
    """The run a stage reads: the one `flag` names, else the latest of `--pool`."""
    given = getattr(args, flag.removeprefix("--"))
    if given:
        return given_run(cat, given, kind, flag)
    if not args.pool:
        raise InputError(f"give --pool (its latest {kind} run is used) or {flag} RUN_ID")
    return latest_run(cat, kind, args.pool)
