"""Selection recipes: one JSON file that says everything a selection is made of.

A recipe is what the Select page builds and downloads, what `dsdm select --recipe FILE` runs and
what an export manifest records (``recipe``), so a selection made in the browser is
reproducible from the command line::

    {"recipe_version": 1, "pool": "demo", "name": "qa-mix", "method": "dsdm",
     "target": null, "mix": {"squad@v1": 2, "jeopardy@v1": 1},
     "rule": {"token_budget": 500000, "source_max_fraction": {"wiki": 0.3},
              "exclude": ["doc-17"], ...},
     "seed": 0, "options": {}}

``rule`` holds `SelectionRule`'s fields (k, token_budget, mode, temperature, threshold,
source_max_count, source_max_fraction, include, exclude); the pool's exclusion list applies on
top, as for every selection. Errors name the file and the field.
"""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any

from data_catalog.catalog import Catalog
from data_catalog.errors import InputError

RECIPE_VERSION = 1
_TOP = {"recipe_version", "pool", "name", "method", "target", "mix", "rule", "seed", "options"}


def make_recipe(
    pool: str,
    method: str,
    rule: dict[str, Any],
    *,
    target: str | None = None,
    mix: dict[str, float] | None = None,
    seed: int = 0,
    options: dict[str, Any] | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """A recipe dict (the JSON form), from its parts."""
    return {
        "recipe_version": RECIPE_VERSION, "pool": pool, "name": name, "method": method,
        "target": target, "mix": dict(mix or {}), "rule": dict(rule), "seed": int(seed),
        "options": dict(options or {}),
    }  # fmt: skip


def parse_recipe(data: Any, where: str = "recipe") -> tuple[dict[str, Any], Any]:
    """Validate a recipe; returns it and its `SelectionRule`. Errors name `where` and the field."""
    from dsdm_engine.selectors import SelectionRule

    if not isinstance(data, dict):
        raise InputError(f"{where}: a recipe is a JSON object, not {type(data).__name__}")
    unknown = sorted(set(data) - _TOP)
    if unknown:
        raise InputError(f"{where}: unknown field(s) {unknown}; known: {sorted(_TOP)}")
    if data.get("recipe_version", RECIPE_VERSION) != RECIPE_VERSION:
        raise InputError(f"{where}: recipe_version {data['recipe_version']!r} is not supported")
    for key in ("pool", "method"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise InputError(f"{where}: field {key!r} must be a non-empty string")
    for key, kind in (("target", str), ("name", str)):
        if data.get(key) is not None and not isinstance(data[key], kind):
            raise InputError(f"{where}: field {key!r} must be a string or null")
    for key in ("mix", "rule", "options"):
        if not isinstance(data.get(key, {}), dict):
            raise InputError(f"{where}: field {key!r} must be a JSON object")
    mix = data.get("mix") or {}
    for task, w in mix.items():
        if isinstance(w, bool) or not isinstance(w, int | float) or w != w or w == 0:
            raise InputError(f"{where}: mix[{task!r}] must be a non-zero number, not {w!r}")
    seed = data.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InputError(f"{where}: field 'seed' must be an integer >= 0, not {seed!r}")
    rule_in = dict(data.get("rule") or {})
    known = {f.name for f in fields(SelectionRule)}
    bad = sorted(set(rule_in) - known)
    if bad:
        raise InputError(f"{where}: unknown rule field(s) {bad}; known: {sorted(known)}")
    for key in ("include", "exclude"):
        if key in rule_in:
            if not isinstance(rule_in[key], list):
                raise InputError(f"{where}: rule.{key} must be a list of document ids")
            rule_in[key] = tuple(rule_in[key])
    try:
        rule = SelectionRule(**rule_in)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{where}: rule: {exc}") from exc
    recipe = make_recipe(
        data["pool"], data["method"], rule_in, target=data.get("target"), mix=mix, seed=seed,
        options=data.get("options"), name=data.get("name"),
    )  # fmt: skip
    return recipe, rule


def load_recipe(path: str | Path) -> tuple[dict[str, Any], Any]:
    """Read and validate a recipe file; errors name the file (and line for bad JSON)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read recipe {path}: {exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: line {exc.lineno}: not valid JSON ({exc.msg})") from exc
    return parse_recipe(data, str(path))


def run_recipe(catalog: Catalog, recipe: dict[str, Any], rule: Any) -> str:
    """Make (or reuse, same name and settings) the selection a parsed recipe describes."""
    from dsdm_engine.stages.selection import run_selection

    return run_selection(
        catalog,
        recipe["method"],
        recipe["pool"],
        task_ref=recipe["target"],
        rule=rule,
        seed=recipe["seed"],
        options=recipe["options"],
        mix=recipe["mix"] or None,
        name=recipe["name"],
    )


def preview_recipe(catalog: Catalog, recipe: dict[str, Any], rule: Any, view: Any = None) -> Any:
    """The `Selection` a recipe would make, computed and not stored (the Select page's live
    preview). Score-based methods skip loading the pool's texts and read the pool once (or use
    `view`, the caller's `pool_view(texts=False)`)."""
    from dsdm_engine.stages.selection import (
        check_selection,
        compute_selection,
        pool_view,
        selection_request,
        selector_class,
    )

    mix = recipe["mix"] or None
    method, pool, target = recipe["method"], recipe["pool"], recipe["target"]
    fast = not selector_class(method).needs_texts
    if fast and view is None:
        view = pool_view(catalog, pool, texts=False)
    rule = check_selection(catalog, method, pool, target, rule, mix, recipe["options"], view=view)
    request = selection_request(
        catalog, method, target, rule, recipe["seed"], recipe["options"], mix
    )
    return compute_selection(catalog, pool, request, rule, texts=not fast,
                             view=view if fast else None)  # fmt: skip


__all__ = ["RECIPE_VERSION", "load_recipe", "make_recipe", "parse_recipe", "preview_recipe",
           "run_recipe"]  # fmt: skip
