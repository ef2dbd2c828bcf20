"""JSON text from users, parsed with every failure as one message a location can be put in front of.

`json.loads` alone lets three things through as tracebacks or as text the rest of the system
cannot store: malformed JSON (reported with its column), nesting deep enough to exhaust the
recursion limit, and lone UTF-16 surrogates (``"\\ud800"``), which are valid JSON escapes but
not Unicode text, so they cannot be written as UTF-8 anywhere later.
"""

from __future__ import annotations

import json
import re
from typing import Any

_SURROGATE = re.compile(r"[\ud800-\udfff]")


class JsonProblem(ValueError):
    """Why a JSON text cannot be used; the caller prefixes the file and line."""


def _first_surrogate(obj: Any) -> str | None:
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found = _SURROGATE.search(item)
            if found:
                return f"\\u{ord(found.group()):04x}"
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def parse_json(text: str) -> Any:
    """The parsed value, or `JsonProblem` saying what is wrong (column, depth or surrogate)."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise JsonProblem(
            f"malformed JSON ({exc.msg}, line {exc.lineno} column {exc.colno})"
        ) from None
    except RecursionError:
        raise JsonProblem("JSON nested too deeply (hundreds of levels); flatten it") from None
    if "\\u" in text or _SURROGATE.search(text):
        bad = _first_surrogate(obj)
        if bad:
            raise JsonProblem(f"a lone surrogate {bad} in a string (not valid Unicode text)")
    return obj
