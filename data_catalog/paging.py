"""Paging helpers of the catalog's read queries: a page of rows with its total, and rows fetched
by ingest position (`row_idx`), so that texts are read for the shown rows only."""

from __future__ import annotations

from typing import Any

import pandas as pd

from data_catalog import sql
from data_catalog.catalog import Catalog

SNIPPET_CHARS = 240
_ROW_LOOKUPS = 100  # rows fetched by single-row lookups; more are fetched by one scan


def rows_by_index(
    con: Any, pool_id: str, rows: list[int], cols: str, col_params: list[Any]
) -> pd.DataFrame:
    """`row_idx` and `cols` of the documents at these ingest positions: one equality lookup per
    row (UNION ALL), which DuckDB answers from the row group holding it (its zone map on
    `row_idx`); a join or an IN list over the pool reads every document's text instead
    (0.36-0.46 s at 1M documents for 10 rows, against 0.06 s)."""
    if not rows:
        return pd.DataFrame({"row_idx": pd.Series([], dtype="int64")})
    if len(rows) > _ROW_LOOKUPS:  # one scan beats hundreds of lookups (k = 1,000: 3.0 s vs 1.3 s)
        return con.execute(
            f"SELECT row_idx, {cols} FROM documents WHERE pool_id = ? "
            "AND list_contains(?, row_idx)",
            [*col_params, pool_id, [int(r) for r in rows]],
        ).df()
    one = f"SELECT row_idx, {cols} FROM documents WHERE pool_id = ? AND row_idx = ?"
    query = " UNION ALL ".join([one] * len(rows))
    return con.execute(query, [x for r in rows for x in (*col_params, pool_id, int(r))]).df()


def page_with_total(
    catalog: Catalog,
    select: str,
    sql_from: str,
    params: list[Any],
    order: str,
    limit: int,
    offset: int,
) -> tuple[pd.DataFrame, int]:
    """One page of `SELECT <select>, snippet <sql_from>` in `order`, and the total row count.
    The page is found without the texts, whose snippets are then fetched for its rows only
    (`_rows_by_index`): at 1M documents a page took 1.06 s, now 0.84 s (most of it is the
    join of scores to documents on string ids, for the count and for the page)."""
    paging, page_params = sql.page(limit, offset)
    with catalog.connect() as con:
        total = con.execute(f"SELECT count(*) {sql_from}", params).fetchone()[0]
        page = con.execute(
            f"SELECT {select}, d.row_idx AS _row, d.pool_id AS _pool {sql_from} "
            f"ORDER BY {order} {paging}",
            [*params, *page_params],
        ).df()
        pool_id = str(page["_pool"].iloc[0]) if len(page) else ""
        text = rows_by_index(
            con, pool_id, page["_row"].tolist(), "left(text, ?) AS snippet", [SNIPPET_CHARS]
        )
    page = page.merge(text.rename(columns={"row_idx": "_row"}), on="_row", how="left")
    return page.drop(columns=["_row", "_pool"]), int(total)
