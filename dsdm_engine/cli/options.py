"""CLI options generated from a config dataclass, so every default is written exactly once.

A field's flag is ``--`` plus its name with dashes (or ``metadata["flag"]``), its help text is
``metadata["help"]``; the argparse default is the dataclass default and the parsed value is
handed back to the dataclass, whose ``__post_init__`` validates it and names the flag.
`add_executor_args` adds the shared --executor/--ray-address pair.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import types
import typing
from typing import Any, TypeVar

C = TypeVar("C")
MAX_SEED = 2**32 - 1  # numpy's and torch's seeds both accept this range


def seed_int(text: str) -> int:
    """An argparse type: a seed in 0..2**32-1 (argparse names the flag when it is refused)."""
    value = int(text)
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be in 0..{MAX_SEED}, not {value}")
    return value


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {value}")
    return value


def nonnegative_int(text: str) -> int:
    """An argparse type: an integer >= 0 (0 meaning "none" or "default" where the help says)."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def finite_float(text: str) -> float:
    """An argparse type: a float that is neither NaN nor infinite."""
    value = float(text)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, not {text}")
    return value


def number_or_inf(text: str) -> float:
    """An argparse type: a float, `inf` allowed (a field whose metadata says ``"inf": True``)."""
    value = float(text)
    if math.isnan(value) or value == -math.inf:
        raise argparse.ArgumentTypeError(f"must be a number or inf, not {text}")
    return value


for _fn, _name in (
    (seed_int, "seed"),
    (positive_int, "positive integer"),
    (nonnegative_int, "integer >= 0"),
    (finite_float, "finite number"),
    (number_or_inf, "number or inf"),
):
    _fn.__name__ = _name  # argparse's "invalid <name> value: ..." message


def _base_type(tp: Any) -> Any:
    """int for `int | None`, etc. (the non-None member of an optional type)."""
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        members = [a for a in typing.get_args(tp) if a is not type(None)]
        return members[0] if len(members) == 1 else str
    return tp


def flag_of(field: dataclasses.Field) -> str:
    return field.metadata.get("flag", "--" + field.name.replace("_", "-"))


def add_config_args(parser: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = ()) -> None:
    """One option per field of `cls` (except `skip`), defaulting to the field's default."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        tp = _base_type(hints[f.name])
        kwargs: dict[str, Any] = {
            "dest": f.name,
            "default": f.default,
            "help": f.metadata.get("help"),
        }
        if tp is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["type"] = {float: number_or_inf if f.metadata.get("inf") else finite_float}.get(
                tp, tp
            )
            if f.name == "seed":
                kwargs["type"] = seed_int
            if "choices" in f.metadata:
                kwargs["choices"] = f.metadata["choices"]
        parser.add_argument(flag_of(f), **kwargs)


def config_from_args(cls: type[C], args: argparse.Namespace, **overrides: Any) -> C:
    """Build `cls` from the parsed options (fields absent from `args` keep their default)."""
    values = {
        f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if hasattr(args, f.name)
    }
    return cls(**{**values, **overrides})


def add_executor_args(parser: argparse.ArgumentParser, units: str) -> None:
    """--executor local|ray and --ray-address (see `dsdm_engine/executors.py`)."""
    parser.add_argument(
        "--executor",
        default="local",
        choices=["local", "ray"],
        help=f"run the {units} here or as Ray tasks (same files; either resumes the other)",
    )
    parser.add_argument(
        "--ray-address",
        help="join this Ray cluster (default $DSDM_RAY_ADDRESS, else a local Ray on this "
        "machine's cores)",
    )
