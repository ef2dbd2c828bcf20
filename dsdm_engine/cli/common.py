"""Terminal output shared by the `dsdm` command modules (its own module: no import cycle)."""

from __future__ import annotations

from typing import Any

import pandas as pd


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
