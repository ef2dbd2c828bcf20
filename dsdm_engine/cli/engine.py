"""Engine subcommands of `dsdm`: proxy train, featurize, score, select.

Each command runs its stage as a job (progress with rate and ETA in the terminal and in the
catalog's `jobs` table, cancellable from the app or `dsdm jobs cancel`), and prints the id of
what it stored so the next stage can name it.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from data_catalog.catalog import Catalog
from data_catalog.errors import InputError
from dsdm_engine.cli.common import (
    add_command,
    given_run,
    latest_run,
    open_catalog,
    run_as_job,
    stage_input,
)
from dsdm_engine.cli.options import (
    add_executor_args,
    finite_float,
    nonnegative_int,
    positive_int,
    seed_int,
)
from dsdm_engine.cli.score import register_score_command


def cmd_proxy_train(args: argparse.Namespace) -> int:
    from dsdm_engine.cli.options import config_from_args
    from dsdm_engine.stages import ProxyConfig, TrainConfig, train_proxies

    cfg = ProxyConfig(args.n_models, config_from_args(TrainConfig, args))
    run_id = run_as_job(
        args,
        "proxy_train",
        lambda cat, p: train_proxies(cat, args.pool, cfg, p, args.executor, args.ray_address),
    )
    print(f"proxies ready: {run_id}")
    return 0


def cmd_proxy_import(args: argparse.Namespace) -> int:
    from dsdm_engine.stages.proxies import import_model

    warmup = None
    if args.warmup_models:
        warmup = {
            "models": args.warmup_models, "tokens": args.warmup_tokens, "lr": args.warmup_lr,
            "layers": args.warmup_layers, "seed": args.seed,
        }  # fmt: skip
    run_id = run_as_job(
        args,
        "proxy_import",
        lambda cat, p: import_model(cat, args.pool, args.path, args.seq_len, p, warmup),
    )
    print(f"imported {args.path} as the proxies of pool {args.pool}: {run_id}")
    return 0


def _estimate(cat: Catalog, args: argparse.Namespace, run: dict[str, Any]) -> dict[str, Any]:
    """The cost estimate of featurising `run`'s pool with these flags."""
    from dsdm_engine.estimate import estimate_featurize

    pool = cat.get_pool(run["pool_id"])
    device = args.device
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    from dsdm_engine.stages.config import n_members

    cfg = run["config"]
    n_params = None
    if "imported" in cfg:
        from dsdm_engine.compute.imported import count_params

        n_params = count_params(cfg["imported"]["path"]) or None
    return estimate_featurize(
        n_docs=int(pool["n_docs"]),
        k=args.proj_dim,
        n_models=n_members(cfg),
        preset=cfg.get("preset", "small"),
        seq_len=int(cfg["seq_len"]),
        device=device,
        store=args.store,
        n_params=n_params,
    )


def _dry_run(cat: Catalog, args: argparse.Namespace) -> int:
    """Storage, memory and time estimates before featurising (proxies need not exist yet)."""
    from dsdm_engine.cli.options import config_from_args
    from dsdm_engine.stages import FeatureConfig

    config_from_args(FeatureConfig, args)  # every flag checked, as a real run would
    runs = cat.list_runs("proxies")
    if args.proxies:
        run = cat.get_run(given_run(cat, args.proxies, "proxies", "--proxies"))
    elif args.pool and not runs[runs["pool_id"] == args.pool].empty:
        run = cat.get_run(latest_run(cat, "proxies", args.pool))
    else:
        if not args.pool:
            raise InputError("give --pool (or --proxies) for the estimate")
        run = {
            "pool_id": args.pool,
            "config": {"n_models": args.models, "preset": args.preset, "seq_len": args.seq_len},
        }
    pool = cat.get_pool(run["pool_id"])
    est = _estimate(cat, args, run)
    device, cfg = est["device"], run["config"]
    print(f"featurisation estimate for pool {pool['pool_id']} ({pool['n_docs']} documents)")
    params = f"{est['n_params']:,} params each"
    shape = cfg.get("preset") or cfg["imported"]["model_type"]  # an imported model: its type
    print(f"  members:        {est['n_models']} x {shape} ({params})")
    print(f"  k:              {est['k']}")
    print(
        f"  feature files:  {est['feature_bytes']:,} bytes on disk "
        f"({est['bytes_per_doc']:,} per document; {est['store']} memmaps)"
    )
    print(f"  peak memory:    {est['peak_ram_bytes'] / 1e9:.2f} GB")
    print(f"  time on {device}:    ~{est['seconds'] / 60:.1f} min (order of magnitude)")
    return 0


def cmd_featurize(args: argparse.Namespace) -> int:
    from dsdm_engine.cli.options import config_from_args
    from dsdm_engine.stages import FeatureConfig, featurize

    if args.k_deprecated is not None:
        print("note: --k is deprecated here; use --proj-dim (in `select`, --k counts documents)",
              file=sys.stderr)  # fmt: skip
        args.proj_dim = args.k_deprecated
    cat = open_catalog(args)
    if args.dry_run:
        return _dry_run(cat, args)
    cfg = config_from_args(FeatureConfig, args)
    proxies = stage_input(cat, args, "proxies", "--proxies")
    from dsdm_engine.estimate import check_fits

    check_fits(_estimate(cat, args, cat.get_run(proxies)), str(cat.workspace.root))
    from dsdm_engine.executors import check_executor

    executor = check_executor(args.executor)
    run_id = run_as_job(
        args,
        "featurize",
        lambda cat, p: featurize(cat, proxies, cfg, p, executor, args.ray_address),
    )
    print(f"features ready: {run_id}")
    return 0


def _parse_mix(
    items: list[str] | None, flag: str = "--mix", what: str = "TASK=WEIGHT"
) -> dict[str, float] | None:
    """`NAME=NUMBER ...` pairs; each number finite (and, for --mix, non-zero)."""
    if not items:
        return None
    out = {}
    for item in items:
        name, _, value = item.partition("=")
        try:
            number = float(value or 1.0)
        except ValueError as exc:
            raise InputError(f"{flag} {item!r}: not a number after '=' ({what})") from exc
        if not name or not math.isfinite(number) or (flag == "--mix" and number == 0):
            finite = "a finite non-zero" if flag == "--mix" else "a finite"
            raise InputError(f"{flag} {item!r}: needs a name and {finite} number ({what})")
        if name in out:
            raise InputError(f"{flag} names {name!r} twice")
        out[name] = number
    return out


def _flag_words(message: str) -> str:
    """A `SelectionRule` message in the CLI's words (`source_max_fraction[...]` → the flag)."""
    words = {
        "source_max_fraction": "--source-max-fraction",
        "token_budget": "--token-budget",
        "temperature": "--temperature",
    }
    for field, flag in words.items():
        message = message.replace(field, flag)
    return message


def cmd_select(args: argparse.Namespace) -> int:
    from dsdm_engine.selectors import SelectionRule
    from dsdm_engine.stages import run_selection

    if args.recipe:
        return _select_recipe(args)
    if not args.method or not args.pool:
        raise InputError("give --method and --pool (or --recipe FILE)")
    try:
        rule = SelectionRule(
            k=args.k,
            token_budget=args.token_budget,
            mode=args.mode,
            temperature=args.temperature,
            threshold=args.threshold,
            include=tuple(args.include or ()),
            exclude=tuple(args.exclude or ()),
            source_max_fraction=dict(
                _parse_mix(args.source_max_fraction, "--source-max-fraction", "SOURCE=FRACTION")
                or {}
            ),
        )
    except ValueError as exc:
        raise InputError(_flag_words(str(exc))) from exc
    try:
        options = json.loads(args.options) if args.options else {}
    except json.JSONDecodeError as exc:
        raise InputError(f"--options is not valid JSON ({exc.msg}): {args.options!r}") from exc
    if not isinstance(options, dict):
        raise InputError('--options must be a JSON object, e.g. \'{"variant": "knn"}\'')
    sid = run_as_job(
        args,
        "select",
        lambda cat, p: run_selection(
            cat,
            args.method,
            args.pool,
            task_ref=args.target,
            rule=rule,
            seed=args.seed,
            options=options,
            mix=_parse_mix(args.mix),
            name=args.name,
        ),
    )
    sel = open_catalog(args).get_selection(sid)
    print(f"selection {sid} ({sel['name']}): {sel['n_members']} documents, seed {sel['seed']}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Build the demo; unless --no-app, the app is served as soon as the pool and targets exist
    and fills in while the later stages run as jobs (Jobs page), then keeps serving."""
    import subprocess
    from pathlib import Path

    from dsdm_engine.jobs import sigterm_as_interrupt
    from dsdm_engine.stages.demo import build_demo, print_summary

    cat = open_catalog(args)
    fixtures = Path(args.fixtures) if args.fixtures else None
    common = {"size": args.size, "seed": args.seed, "fixtures_dir": fixtures}
    server = None
    if not args.no_app:
        from dsdm_engine.cli.serve import prepare_app

        build_demo(cat, engine=False, device=args.device, **common)  # pool + targets: seconds
        ns = argparse.Namespace(
            workspace=args.workspace, host=args.host, port=args.port, token=None, data_root=None
        )
        cmd, env = prepare_app(ns)
        server = subprocess.Popen(cmd, env=env)
        print("the app is up; it fills in as the remaining stages finish (Jobs page)", flush=True)
    try:
        with sigterm_as_interrupt():  # SIGTERM mid-build: the server goes too (below)
            summary = build_demo(cat, engine=not args.no_engine, device=args.device, **common)
            print_summary(cat, summary)
    except BaseException:
        if server is not None:
            server.terminate()
            server.wait()
        raise
    if server is None:
        return 0
    from dsdm_engine.cli.serve import wait_server

    return wait_server(server)


def _select_recipe(args: argparse.Namespace) -> int:
    """`dsdm select --recipe FILE`: the selection a recipe (Select page, export manifest) says."""
    from dsdm_engine.stages.recipe import load_recipe, run_recipe

    given = [f for f in ("method", "pool", "target", "mix", "k", "token_budget", "name")
             if getattr(args, f) is not None]  # fmt: skip
    if given:
        flags = ", ".join("--" + f.replace("_", "-") for f in given)
        raise InputError(f"--recipe says everything; drop {flags} (or edit the recipe)")
    recipe, rule = load_recipe(args.recipe)
    sid = run_as_job(args, "select", lambda cat, p: run_recipe(cat, recipe, rule))
    sel = open_catalog(args).get_selection(sid)
    print(f"selection {sid} ({sel['name']}): {sel['n_members']} documents, seed {sel['seed']}")
    return 0


def register_engine_commands(sub: Any) -> None:
    from dsdm_engine.cli.options import add_config_args
    from dsdm_engine.compute.configs import FeatureConfig, TrainConfig
    from dsdm_engine.stages.config import ProxyConfig

    d = add_command(
        sub,
        "demo",
        cmd_demo,
        "build the demo workspace end to end, then serve the app",
        "Pool from real public text (+ planted bad data), the four target tasks, proxies, "
        "features, DsDm scores, every selector and a quick validation. Idempotent.",
    )
    d.add_argument("--size", default="small", choices=["tiny", "small", "full"])
    d.add_argument("--seed", type=seed_int, default=0)
    d.add_argument("--fixtures", help="build from committed fixtures only (offline)")
    d.add_argument("--no-engine", action="store_true", help="only the pool and targets")
    d.add_argument("--no-app", action="store_true", help="do not start the app afterwards")
    d.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    d.add_argument("--host", default="127.0.0.1", help="app address (see `dsdm app`)")
    d.add_argument("--port", type=nonnegative_int, default=0, help="app port")

    p = sub.add_parser("proxy", help="proxy language models").add_subparsers(
        dest="sub", required=True, metavar="SUB"
    )
    t = p.add_parser("train", help="train M proxies on seeded α-subsets of a pool")
    t.add_argument("--pool", required=True)
    add_config_args(t, ProxyConfig, skip=("train",))
    add_config_args(t, TrainConfig)
    add_executor_args(t, "proxies")
    t.set_defaults(func=cmd_proxy_train)
    i = p.add_parser(
        "import",
        help="use your own pretrained model (a local Hugging Face folder) as the pool's proxy",
        description="Records a local Hugging Face causal-LM folder (config.json, weights, "
        "tokenizer.json) as the pool's current proxies, never copied and never downloaded, and "
        "tokenises the pool with its tokenizer; `dsdm featurize --pool P` then uses it.",
    )
    i.add_argument("path", help="local model folder (save_pretrained output)")
    i.add_argument("--pool", required=True)
    i.add_argument(
        "--seq-len", type=positive_int, help="tokens per featurised row (default: 128, or the "
        "model's context if shorter)",
    )  # fmt: skip
    i.add_argument(
        "--warmup-models", type=positive_int, metavar="M",
        help="fine-tune M copies, each on its own seeded α-subset, and use them as the ensemble "
        "(LESS's warm-up); default: the model itself, one member",
    )  # fmt: skip
    i.add_argument("--warmup-tokens", type=positive_int, default=65_536, help="tokens per copy")
    i.add_argument("--warmup-lr", type=finite_float, default=1e-4, help="warm-up peak LR")
    i.add_argument(
        "--warmup-layers", default="all", help="parameters warmed up: all | last:N (last N blocks)"
    )
    i.add_argument("--seed", type=seed_int, default=0, help="warm-up subsets and order")
    i.set_defaults(func=cmd_proxy_import)

    f = sub.add_parser("featurize", help="projected-gradient features of every pool document")
    f.add_argument("--pool", help="pool (uses its latest proxies)")
    f.add_argument("--proxies", help="proxies run id (default: the pool's latest)")
    add_config_args(f, FeatureConfig)
    f.add_argument("--k", type=int, dest="k_deprecated", help=argparse.SUPPRESS)
    add_executor_args(f, "(member, shard) units")
    f.add_argument("--dry-run", action="store_true", help="print storage/memory/time estimates")
    f.add_argument("--models", type=positive_int, default=4, help="dry run without proxies: M")
    f.add_argument("--preset", default="small", help="dry run without proxies: preset")
    f.add_argument(
        "--seq-len", type=positive_int, default=128, help="dry run without proxies: length"
    )
    f.set_defaults(func=cmd_featurize)

    register_score_command(sub)

    s = sub.add_parser("select", help="select a subset with a method and rules")
    s.add_argument("--recipe", help="a recipe JSON (Select page, export manifest) instead of flags")
    s.add_argument("--method", help="dsdm | random | dsir | classifier | ...")
    s.add_argument("--pool")
    s.add_argument("--target", help="target task (needed by all but random/semdedup)")
    s.add_argument("--mix", nargs="+", help="dsdm multi-target mix: TASK=WEIGHT ...")
    s.add_argument("--k", type=positive_int, help="number of documents")
    s.add_argument("--token-budget", type=positive_int, help="select up to this many tokens")
    s.add_argument("--mode", choices=["top_k", "gumbel"], help="ranking rule")
    s.add_argument("--temperature", type=finite_float, default=1.0, help="Gumbel temperature")
    s.add_argument("--threshold", type=finite_float, help="only documents scoring at least this")
    s.add_argument("--source-max-fraction", nargs="+", help="per-source quota SOURCE=FRACTION")
    s.add_argument("--include", nargs="+", help="document ids always selected")
    s.add_argument("--exclude", nargs="+", help="document ids never selected")
    s.add_argument("--seed", type=seed_int, default=0)
    s.add_argument("--options", help='method options as JSON, e.g. \'{"variant": "knn"}\'')
    s.add_argument("--name", help="selection name")
    s.set_defaults(func=cmd_select)
