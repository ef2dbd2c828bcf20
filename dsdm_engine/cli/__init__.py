"""The `dsdm` command line: one entry point, one subcommand per stage, `--help` on each.

User errors (bad input, unknown names, locked catalog) print one line and exit 2; Ctrl-C or a
cancelled job exits 130, SIGTERM during a job 143 (after the job is recorded `cancelled`).
Handlers are thin: parse, call one catalog or engine function, print.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from data_catalog.catalog import Catalog
from data_catalog.errors import DsdmError, InputError
from data_catalog.workspace import resolve_workspace_path
from dsdm_engine.cli.common import print_df
from dsdm_engine.cli.options import finite_float, nonnegative_int, positive_int, seed_int
from dsdm_engine.jobs import end_progress_line
from dsdm_engine.progress import Cancelled, Terminated

Handler = Callable[[argparse.Namespace], int]


def _catalog(args: argparse.Namespace) -> Catalog:
    return Catalog.open(args.workspace)


# ------------------------------------------------------------------ workspace
def cmd_workspace_info(args: argparse.Namespace) -> int:
    info = _catalog(args).info()
    print(f"workspace:      {info['workspace']}")
    print(f"catalog:        {info['catalog']} ({info['catalog_bytes'] / 1e6:.1f} MB)")
    print(f"schema version: {info['schema_version']}")
    for table, n in info["counts"].items():
        print(f"  {table:<14}{n:>10}")
    cat = _catalog(args)
    runs = cat.list_runs("features")
    runs = runs[runs["status"] == "done"]
    if not runs.empty:
        from dsdm_engine.stages.features import feature_storage

        print("feature storage (finished featurisations):")
        for run_id in runs["run_id"]:
            s = feature_storage(cat, str(run_id))
            print(
                f"  {s['run_id']}  pool {s['pool_id']}: {s['members']} members x k={s['k']} "
                f"{s['dtype']}, {s['bytes'] / 1e6:,.1f} MB, {s['bytes_per_doc']:,.0f} bytes/doc"
            )
    return 0


# ------------------------------------------------------------------ pools
def cmd_pool_add(args: argparse.Namespace) -> int:
    from data_catalog.ingest import chunking_from_flags, ingest
    from dsdm_engine.jobs import run_job

    chunking = chunking_from_flags(args.chunk_chars, args.chunk_tokens)
    if bool(args.inputs) == bool(args.builtin):
        raise InputError("give input files or --builtin SOURCE... (not both, not neither)")
    if args.limit is not None and not args.builtin:
        raise InputError("--limit applies to --builtin sources only")
    cat = _catalog(args)
    params = {"pool": args.name, "inputs": args.inputs, "builtin": args.builtin}
    if args.builtin:
        from data_catalog.sources.builtin_pool import check_pool_sources, ingest_builtin

        check_pool_sources(args.builtin)

        def stage(progress: Any) -> Any:
            return ingest_builtin(
                cat, args.name, args.builtin, limit=args.limit, append=args.append,
                progress=progress,
            )  # fmt: skip
    else:

        def stage(progress: Any) -> Any:
            return ingest(
                cat, args.name, args.inputs, text_field=args.text_field, fmt=args.format,
                source=args.source, chunking=chunking, skip_bad=args.skip_bad,
                append=args.append, progress=progress,
            )  # fmt: skip

    report = run_job(cat, "ingest", params, stage, echo=not args.quiet)
    print(report.summary())
    for where in report.skipped_where:
        print(f"  skipped: {where}")
    return 0


def cmd_pool_list(args: argparse.Namespace) -> int:
    print_df(_catalog(args).list_pools())
    return 0


def cmd_pool_show(args: argparse.Namespace) -> int:
    cat = _catalog(args)
    pool = cat.get_pool(args.name)
    print(f"pool:         {pool['pool_id']}")
    print(f"documents:    {pool['n_docs']}")
    print(f"words:        {pool['n_words']}  (pre-tokens; tokens: {pool['n_tokens'] or 'n/a'})")
    print(f"duplicates:   {pool['n_duplicates']} dropped, {pool['n_skipped']} bad records skipped")
    print(f"content hash: {pool['content_hash']}")
    print("sources:")
    print_df(pool["sources"])
    if not pool["planted"].empty:
        print("planted (ground-truth bad data):")
        print_df(pool["planted"])
    if args.planted or args.source or args.limit:
        docs = cat.documents(
            args.name, limit=args.limit or 10, source=args.source, planted=args.planted
        )
        docs["text"] = docs["text"].str.slice(0, 80)
        print_df(docs[["doc_id", "source", "n_words", "text"]])
    return 0


# ------------------------------------------------------------------ targets
def cmd_target_add(args: argparse.Namespace) -> int:
    from data_catalog.targets import add_target_task, read_target_file

    if bool(args.file) == bool(args.builtin):
        raise InputError("give either a FILE or --builtin NAME")
    if args.builtin:
        from data_catalog.sources.builtin_targets import builtin_target_examples

        recs = builtin_target_examples(args.builtin, max_examples=args.max_examples, seed=args.seed)
        examples = [(r["prompt"], r["completion"]) for r in recs]
        origin = f"builtin:{args.builtin}"
    else:
        examples = read_target_file(args.file, max_examples=args.max_examples)
        origin = f"file:{args.file}"
    name = args.name or args.builtin
    if not name:
        raise InputError("give a target name with --name")
    task = add_target_task(
        _catalog(args),
        name,
        examples,
        origin=origin,
        seed=args.seed,
        heldout_fraction=args.heldout_fraction,
    )
    state = "added" if task["created"] else "already present (same content), reused"
    print(
        f"target {task['task_id']} {state}: {task['n_examples']} examples "
        f"({task['n_selection']} selection / {task['n_heldout']} held out, "
        f"seed {task['split_seed']})"
    )
    if task.get("n_duplicates"):
        print(f"{task['n_duplicates']} duplicate examples dropped")
    return 0


def cmd_target_list(args: argparse.Namespace) -> int:
    print_df(_catalog(args).list_target_tasks())
    return 0


def cmd_target_show(args: argparse.Namespace) -> int:
    cat = _catalog(args)
    task = cat.get_target_task(args.name)
    for key in ("task_id", "version", "origin", "content_hash", "n_examples"):
        print(f"{key + ':':<14}{task[key]}")
    print(
        f"{'split:':<14}{task['n_selection']} selection / {task['n_heldout']} held out "
        f"(held-out fraction {task['heldout_fraction']}, seed {task['split_seed']})"
    )
    for ex in cat.target_examples(task["task_id"])[: args.examples]:
        prompt = ex.prompt.replace("\n", " ")[-70:]
        print(f"  [{ex.split:<9}] {prompt!r} -> {ex.completion[:40]!r}")
    return 0


# ------------------------------------------------------------------ export, jobs
def cmd_export(args: argparse.Namespace) -> int:
    from data_catalog.export import export_selection

    manifest = export_selection(
        _catalog(args), args.selection, args.format, args.name, overwrite=args.overwrite
    )
    print(f"exported {manifest['row_count']} rows to {manifest['path']}")
    print(f"sha256 {manifest['sha256']}; manifest beside it")
    return 0


def cmd_jobs_list(args: argparse.Namespace) -> int:
    df = _catalog(args).list_jobs(args.limit)
    print_df(df[["job_id", "kind", "status", "done", "total", "rate", "message", "updated_at"]])
    return 0


def cmd_jobs_cancel(args: argparse.Namespace) -> int:
    state = _catalog(args).request_cancel(args.job_id)
    if state in ("queued", "running"):
        print(f"cancel requested for {args.job_id}; it stops at its next progress report")
    else:
        print(f"job {args.job_id} is already {state}; nothing to cancel")
    return 0


# ------------------------------------------------------------------ parser
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="dsdm",
        description="DsDm Studio: model-aware training-data selection with datamodels.",
    )
    p.add_argument(
        "--workspace",
        help="workspace folder (default: $DSDM_WORKSPACE, else ./dsdm_workspace)",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ws = sub.add_parser("workspace", help="workspace information").add_subparsers(
        dest="sub", required=True, metavar="SUB"
    )
    ws.add_parser("info", help="paths, schema version and table counts").set_defaults(
        func=cmd_workspace_info
    )

    pool = sub.add_parser("pool", help="candidate pools: add, list, show").add_subparsers(
        dest="sub", required=True, metavar="SUB"
    )
    a = pool.add_parser(
        "add",
        help="ingest files into a pool (all-or-nothing)",
        description="Ingest JSONL (.gz/.zst), Parquet, CSV, or folders/globs of .txt/.md files.",
    )
    a.add_argument("name", help="pool name")
    a.add_argument("inputs", nargs="*", help="files, folders or glob patterns")
    a.add_argument(
        "--builtin", nargs="+", metavar="SOURCE", help="built-in sources (`dsdm sources list`)"
    )
    a.add_argument("--limit", type=positive_int, help="--builtin: at most N documents in all")
    a.add_argument("--text-field", default="text", help="record field holding the text")
    a.add_argument("--format", choices=["jsonl", "parquet", "csv", "text"], help="force a format")
    a.add_argument("--source", help="source label for every document (default: per record/file)")
    a.add_argument("--chunk-chars", type=int, help="split documents into passages of N chars")
    a.add_argument("--chunk-tokens", type=int, help="split into passages of N pre-tokens")
    a.add_argument("--skip-bad", action="store_true", help="skip bad records and report them")
    a.add_argument("--append", action="store_true", help="add to an existing pool")
    a.add_argument("--quiet", action="store_true", help="no progress bar")
    a.set_defaults(func=cmd_pool_add)
    pool.add_parser("list", help="list pools").set_defaults(func=cmd_pool_list)
    s = pool.add_parser("show", help="counts, sources and planted labels of a pool")
    s.add_argument("name")
    s.add_argument("--planted", help="list documents with this planted label")
    s.add_argument("--source", help="list documents from this source")
    s.add_argument("--limit", type=nonnegative_int, default=0, help="list this many documents")
    s.set_defaults(func=cmd_pool_show)

    tgt = sub.add_parser("target", help="target tasks: add, list, show").add_subparsers(
        dest="sub", required=True, metavar="SUB"
    )
    a = tgt.add_parser(
        "add",
        help="add a target task from a file or a built-in",
        description="JSONL with prompt/completion (or text), or a SQuAD-format .json file.",
    )
    a.add_argument("file", nargs="?", help="JSONL or SQuAD JSON file")
    a.add_argument("--name", help="task name (default: the built-in's name)")
    a.add_argument("--builtin", help="a built-in target (`dsdm sources list --kind target`)")
    a.add_argument("--seed", type=seed_int, default=0, help="split seed (stored)")
    a.add_argument("--heldout-fraction", type=finite_float, default=0.5)
    a.add_argument("--max-examples", type=positive_int, help="keep at most N examples")
    a.set_defaults(func=cmd_target_add)
    tgt.add_parser("list", help="list target tasks").set_defaults(func=cmd_target_list)
    s = tgt.add_parser("show", help="a target task's counts, split and examples")
    s.add_argument("name", help="task id (name@vN) or name (latest version)")
    s.add_argument("--examples", type=nonnegative_int, default=5, help="show this many examples")
    s.set_defaults(func=cmd_target_show)

    e = sub.add_parser("export", help="export a selection with manifest.json")
    e.add_argument("selection", help="selection id or name")
    e.add_argument("--format", choices=["parquet", "jsonl", "ids"], default="parquet")
    e.add_argument("--name", help="export folder name under exports/")
    e.add_argument("--overwrite", action="store_true")
    e.set_defaults(func=cmd_export)

    jobs = sub.add_parser("jobs", help="list or cancel jobs").add_subparsers(
        dest="sub", required=True, metavar="SUB"
    )
    j = jobs.add_parser("list", help="recent jobs with progress")
    j.add_argument("--limit", type=positive_int, default=20)
    j.set_defaults(func=cmd_jobs_list)
    j = jobs.add_parser("cancel", help="ask a running job to stop")
    j.add_argument("job_id")
    j.set_defaults(func=cmd_jobs_cancel)

    for register in _EXTRA_COMMANDS:
        register(sub)
    return p


def _register_extra(sub: Any) -> None:
    from dsdm_engine.cli.engine import register_engine_commands
    from dsdm_engine.cli.evaluate import register_eval_commands
    from dsdm_engine.cli.pool_map import register_map_command
    from dsdm_engine.cli.serve import register_app_command
    from dsdm_engine.cli.sources import register_sources_command

    register_engine_commands(sub)
    register_app_command(sub)
    register_eval_commands(sub)
    register_map_command(sub)
    register_sources_command(sub)


_EXTRA_COMMANDS: list[Callable[[Any], None]] = [_register_extra]


# Commands that may create a workspace; every other one needs an existing catalog, so that a
# mistyped --workspace is an error instead of a new empty workspace.
CREATING = {("pool", "add"), ("target", "add"), ("demo", None), ("app", None), ("sources", "list")}


def check_workspace_exists(args: argparse.Namespace) -> None:
    """A read or engine command on a workspace that does not exist is a user error."""
    if (args.command, getattr(args, "sub", None)) in CREATING:
        return
    root = resolve_workspace_path(args.workspace)
    if not (root / "catalog.duckdb").exists():
        raise InputError(
            f"no workspace at {root} (no catalog.duckdb); check --workspace, or create one with "
            "`dsdm pool add` or `dsdm demo`"
        )


RECORD_ENV = "DSDM_RECORD_COMMANDS"  # the test suite's check that every subcommand was run


def command_path(args: argparse.Namespace) -> str:
    """`pool add`, `score`, ...: the subcommand a parsed command line names."""
    return " ".join(p for p in (args.command, getattr(args, "sub", None)) if p)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    record = os.environ.get(RECORD_ENV)
    if record:
        with open(record, "a", encoding="utf-8") as fh:
            fh.write(command_path(args) + "\n")
    try:
        check_workspace_exists(args)
        return int(args.func(args) or 0)
    except DsdmError as exc:
        end_progress_line()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Terminated as exc:
        print(f"\ncancelled: {exc}", file=sys.stderr)
        return 143
    except (Cancelled, KeyboardInterrupt) as exc:
        print(f"\ncancelled: {exc}" if str(exc) else "\ninterrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug, not a user error: one line, the traceback in a log file
        log = crash_log(getattr(args, "workspace", None), exc)
        head = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
        end_progress_line()
        print(f"error: internal error ({head}); the traceback is in {log}", file=sys.stderr)
        return 1


def crash_log(workspace: str | None, exc: BaseException) -> Path:
    """Write the traceback to the workspace's logs folder (or the temp folder when there is no
    workspace yet) and return the file's path."""
    import tempfile
    import traceback

    root = resolve_workspace_path(workspace)
    folder = root / "artifacts" / "logs"
    if not (root / "catalog.duckdb").exists():
        folder = Path(tempfile.gettempdir()) / "dsdm-logs"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    path.write_text(f"dsdm {' '.join(sys.argv[1:])}\n\n{text}", encoding="utf-8")
    return path


if __name__ == "__main__":
    sys.exit(main())
