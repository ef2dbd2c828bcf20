"""Pure builders for the dynamic SQL of the read queries: document filters, order, paging.

Each function returns `(sql, params)` (or plain SQL when there is nothing to bind) and touches
no database, so the generated text can be tested as strings. `queries.search_documents` and
`snippets.matching_ids` share `document_filter`, so the Inspect search and "act on all N
matches" can never disagree about what matches. User text only ever becomes a bound parameter
(an escaped `ILIKE` pattern); identifiers come from fixed tables here, never from input.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from data_catalog.errors import InputError

MAX_PAGE = 1000
ORDERS = {
    "pool": "d.row_idx",
    "score_desc": "s.score DESC, d.row_idx",
    "score_asc": "s.score ASC, d.row_idx",
}
REGION_TABLE = "region_ids"  # a registered frame of doc_ids restricting the match (map region)


def clamp_limit(limit: int) -> int:
    """A page size between 1 and MAX_PAGE."""
    return max(1, min(int(limit), MAX_PAGE))


def like_term(term: str) -> str:
    """`%term%` with LIKE wildcards in the user's term escaped (ESCAPE '\\')."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@dataclass(frozen=True)
class DocFilter:
    """What the document search matches: every given condition must hold.

    `query`: whitespace-separated terms, each must occur (case-insensitive). Score bounds need
    `run_id` and `task_id`; `within` joins the `region_ids` frame the caller registers.
    """

    pool_id: str
    query: str = ""
    sources: Sequence[str] = ()
    min_words: int | None = None
    max_words: int | None = None
    run_id: str | None = None
    task_id: str | None = None
    min_score: float | None = None
    max_score: float | None = None
    within: bool = False

    @property
    def scored(self) -> bool:
        return bool(self.run_id and self.task_id)


def order_by(order: str, scored: bool) -> str:
    """The ORDER BY expression for a document order name; InputError for an unknown one."""
    if order not in ORDERS:
        raise InputError(f"order must be one of {', '.join(ORDERS)}, not {order!r}")
    if order != "pool" and not scored:
        raise InputError("score filters and score order need a target with stored scores")
    return ORDERS[order]


def document_filter(f: DocFilter) -> tuple[str, list[Any]]:
    """`FROM documents d [JOIN scores s] [JOIN region_ids r] WHERE ...` and its parameters.

    With scores, `s.score` and `s.percentile` are available to the SELECT and ORDER BY.
    """
    if not f.scored and (f.min_score is not None or f.max_score is not None):
        raise InputError("score filters and score order need a target with stored scores")
    joins: list[str] = []
    params: list[Any] = []
    if f.scored:
        joins.append(
            "JOIN scores s ON s.pool_id = d.pool_id AND s.doc_id = d.doc_id "
            "AND s.run_id = ? AND s.task_id = ?"
        )
        params += [f.run_id, f.task_id]
    if f.within:
        joins.append(f"JOIN {REGION_TABLE} r ON r.doc_id = d.doc_id")
    conds = ["d.pool_id = ?"]
    params.append(f.pool_id)
    for term in f.query.split():
        conds.append("d.text ILIKE ? ESCAPE '\\'")
        params.append(like_term(term))
    optional: list[tuple[Any, str]] = [
        (list(f.sources) if f.sources else None, "list_contains(?, d.source)"),
        (None if f.min_words is None else int(f.min_words), "d.n_words >= ?"),
        (None if f.max_words is None else int(f.max_words), "d.n_words <= ?"),
        (None if f.min_score is None else float(f.min_score), "s.score >= ?"),
        (None if f.max_score is None else float(f.max_score), "s.score <= ?"),
    ]
    for value, cond in optional:
        if value is not None:
            conds.append(cond)
            params.append(value)
    sql = " ".join(["FROM documents d", *joins, "WHERE", " AND ".join(conds)])
    return sql, params


def page(limit: int, offset: int) -> tuple[str, list[Any]]:
    """`LIMIT ? OFFSET ?` with the limit clamped to a page and a non-negative offset."""
    return "LIMIT ? OFFSET ?", [clamp_limit(limit), max(0, int(offset))]


def where(conds: Sequence[tuple[str, Any]]) -> tuple[str, list[Any]]:
    """`WHERE a = ? AND ...` over the (condition, value) pairs whose value is not None."""
    kept = [(c, v) for c, v in conds if v is not None]
    if not kept:
        return "", []
    return "WHERE " + " AND ".join(c for c, _ in kept), [v for _, v in kept]
