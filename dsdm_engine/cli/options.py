"""CLI options generated from a config dataclass, so every default is written exactly once.

A field's flag is ``--`` plus its name with dashes (or ``metadata["flag"]``), its help text is
``metadata["help"]``; the argparse default is the dataclass default and the parsed value is
handed back to the dataclass, whose ``__post_init__`` validates it and names the flag.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from typing import Any, TypeVar

C = TypeVar("C")


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
            kwargs["type"] = tp
            if "choices" in f.metadata:
                kwargs["choices"] = f.metadata["choices"]
        parser.add_argument(flag_of(f), **kwargs)


def config_from_args(cls: type[C], args: argparse.Namespace, **overrides: Any) -> C:
    """Build `cls` from the parsed options (fields absent from `args` keep their default)."""
    values = {
        f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if hasattr(args, f.name)
    }
    return cls(**{**values, **overrides})
