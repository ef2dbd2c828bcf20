"""Pools and their documents: staged all-or-nothing commits, pool stats, document pages."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Sequence
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from data_catalog.catalog.connection import CatalogBase, arrow_table, now, to_json
from data_catalog.errors import InputError, NotFoundError
from data_catalog.records import Pool

POOL_ID_CHARS = "letters, digits, '.', '_' and '-' (at most 64, starting with a letter or digit)"
_POOL_COLS = (
    "pool_id, created_at, n_docs, n_chars, n_words, n_duplicates, n_skipped, content_hash, params"
)


def validate_pool_id(pool_id: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", pool_id or ""):
        raise InputError(f"pool name {pool_id!r} is not valid: use {POOL_ID_CHARS}")
    return pool_id


def _pool(row: dict[str, Any]) -> Pool:
    return Pool(**{**row, "params": json.loads(row["params"])})


class PoolsMixin(CatalogBase):
    """Pools, documents and per-document token counts."""

    def pool_exists(self, pool_id: str) -> bool:
        return self.query_one("SELECT 1 FROM pools WHERE pool_id = ?", [pool_id]) is not None

    def commit_staged_pool(
        self, pool_id: str, staged_parquet_glob: str, params: dict[str, Any], append: bool
    ) -> dict[str, int]:
        """Move staged documents into the catalog in one transaction: all of them or none.

        Rows whose normalised-content id already exists in the pool (or earlier in the staging
        files) are dropped and counted as duplicates.
        """
        validate_pool_id(pool_id)
        with self.transaction() as con:
            exists = con.execute("SELECT 1 FROM pools WHERE pool_id = ?", [pool_id]).fetchone()
            if exists and not append:
                raise InputError(
                    f"pool {pool_id!r} already exists; pass --append to add documents to it"
                )
            if not exists and append:
                raise NotFoundError(f"pool {pool_id!r} does not exist; cannot append to it")
            base = con.execute(
                "SELECT coalesce(max(row_idx) + 1, 0) FROM documents WHERE pool_id = ?", [pool_id]
            ).fetchone()[0]
            staged = con.execute(
                "SELECT count(*) FROM read_parquet(?)", [staged_parquet_glob]
            ).fetchone()[0]
            # Which staged rows to keep (the first of each new id) and their row numbers, from
            # the ids alone: the text never enters a sort or a window, so a million documents
            # commit within the connection's memory limit (it streams through one hash join).
            con.execute(
                """
                CREATE TEMP TABLE keep AS
                WITH firsts AS (
                    SELECT doc_id, min(row_idx) AS first_row
                    FROM (SELECT doc_id, row_idx FROM read_parquet(?))
                    GROUP BY doc_id
                ), fresh AS (
                    SELECT first_row FROM firsts
                    WHERE doc_id NOT IN (SELECT doc_id FROM documents WHERE pool_id = ?)
                )
                SELECT first_row, ? + row_number() OVER (ORDER BY first_row) - 1 AS new_idx
                FROM fresh
                """,
                [staged_parquet_glob, pool_id, base],
            )
            con.execute(
                """
                INSERT INTO documents
                    (pool_id, doc_id, row_idx, text, source, n_chars, n_words, metadata)
                SELECT ?, s.doc_id, k.new_idx, s.text, s.source, s.n_chars, s.n_words, s.metadata
                FROM read_parquet(?) AS s JOIN keep AS k ON s.row_idx = k.first_row
                """,
                [pool_id, staged_parquet_glob],
            )
            con.execute("DROP TABLE keep")
            inserted = con.execute(
                "SELECT count(*) FROM documents WHERE pool_id = ? AND row_idx >= ?",
                [pool_id, base],
            ).fetchone()[0]
            dups = staged - inserted
            skipped = int(params.get("n_skipped", 0))
            if exists:
                old = con.execute(
                    "SELECT params FROM pools WHERE pool_id = ?", [pool_id]
                ).fetchone()[0]
                history = json.loads(old).get("ingests", [])
                con.execute(
                    "UPDATE pools SET n_duplicates = n_duplicates + ?, "
                    "n_skipped = n_skipped + ?, params = ? WHERE pool_id = ?",
                    [dups, skipped, to_json({"ingests": history + [params]}), pool_id],
                )
            else:
                con.execute(
                    "INSERT INTO pools VALUES (?, ?, 0, 0, 0, ?, ?, '', ?)",
                    [pool_id, now(), dups, skipped, to_json({"ingests": [params]})],
                )
            self._refresh_pool_stats(con, pool_id)
        return {"n_staged": int(staged), "n_inserted": int(inserted), "n_duplicates": int(dups)}

    @staticmethod
    def _refresh_pool_stats(con: duckdb.DuckDBPyConnection, pool_id: str) -> None:
        """Recount a pool and recompute its content hash.

        The content hash is a fingerprint of the *set* of document ids, computed in one
        streaming pass (count, sums and xors of two 60-bit slices of each id) rather than over
        a sorted concatenation, which needed memory proportional to the pool.
        """
        n, c, w, s1, s2, x1, x2 = con.execute(
            """
            SELECT count(*), coalesce(sum(n_chars), 0)::BIGINT,
                   coalesce(sum(n_words), 0)::BIGINT,
                   coalesce(sum(('0x' || substr(doc_id, 1, 15))::UBIGINT), 0)::VARCHAR,
                   coalesce(sum(('0x' || substr(doc_id, 16, 15))::UBIGINT), 0)::VARCHAR,
                   coalesce(bit_xor(('0x' || substr(doc_id, 1, 15))::UBIGINT), 0)::VARCHAR,
                   coalesce(bit_xor(('0x' || substr(doc_id, 16, 15))::UBIGINT), 0)::VARCHAR
            FROM documents WHERE pool_id = ?
            """,
            [pool_id],
        ).fetchone()
        digest = hashlib.sha256(f"dsdm-pool-v1:{n}:{s1}:{s2}:{x1}:{x2}".encode()).hexdigest()
        con.execute(
            "UPDATE pools SET n_docs = ?, n_chars = ?, n_words = ?, content_hash = ? "
            "WHERE pool_id = ?",
            [n, c, w, digest, pool_id],
        )

    def list_pools(self) -> pd.DataFrame:
        return self.query_df(
            "SELECT pool_id, n_docs, n_words, n_chars, n_duplicates, n_skipped, "
            "content_hash, created_at FROM pools ORDER BY created_at"
        )

    def pool(self, pool_id: str) -> Pool:
        """The pool's row as a typed record; NotFoundError naming the known pools."""
        rows = self.query_dicts(f"SELECT {_POOL_COLS} FROM pools WHERE pool_id = ?", [pool_id])
        if not rows:
            known = ", ".join(self.list_pools()["pool_id"]) or "none yet"
            raise NotFoundError(f"pool {pool_id!r} not found (known pools: {known})")
        return _pool(rows[0])

    def pools(self) -> list[Pool]:
        """Every pool, oldest first."""
        return [_pool(r) for r in self.query_dicts(f"SELECT {_POOL_COLS} FROM pools ORDER BY 2")]

    def get_pool(self, pool_id: str) -> dict[str, Any]:
        """One pool (the `pool` record as a dict) with its sources, token totals and
        planted-label counts."""
        pool = self.pool(pool_id).as_dict()
        pool["sources"] = self.query_df(
            "SELECT source, count(*) AS n_docs, sum(n_words)::BIGINT AS n_words, "
            "sum(n_tokens)::BIGINT AS n_tokens FROM documents "
            "WHERE pool_id = ? GROUP BY source ORDER BY n_docs DESC",
            [pool_id],
        )
        pool["planted"] = self.query_df(
            "SELECT metadata->>'planted' AS planted, count(*) AS n_docs FROM documents "
            "WHERE pool_id = ? AND metadata->>'planted' IS NOT NULL "
            "GROUP BY 1 ORDER BY 2 DESC",
            [pool_id],
        )
        tok = self.query_one(
            "SELECT sum(n_tokens), count(n_tokens) FROM documents WHERE pool_id = ?", [pool_id]
        )
        pool["n_tokens"] = int(tok[0]) if tok[1] == pool["n_docs"] and tok[1] else None
        return pool

    def documents(
        self,
        pool_id: str,
        *,
        limit: int = 100,
        offset: int = 0,
        source: str | None = None,
        planted: str | None = None,
        ids: Sequence[str] | None = None,
        with_text: bool = True,
    ) -> pd.DataFrame:
        """A page of documents (at most 1,000 rows) in ingest order, optionally filtered."""
        limit = max(0, min(int(limit), 1000))
        cols = "doc_id, row_idx, source, n_chars, n_words, n_tokens, metadata"
        if with_text:
            cols += ", text"
        where, params = ["pool_id = ?"], [pool_id]
        if source is not None:
            where.append("source = ?")
            params.append(source)
        if planted is not None:
            where.append("metadata->>'planted' = ?")
            params.append(planted)
        if ids is not None:
            where.append("list_contains(?, doc_id)")
            params.append(list(ids))
        sql = (
            f"SELECT {cols} FROM documents WHERE {' AND '.join(where)} "
            "ORDER BY row_idx LIMIT ? OFFSET ?"
        )
        return self.query_df(sql, [*params, limit, int(offset)])

    def iter_documents(
        self, pool_id: str, batch_size: int = 10_000, columns: str = "doc_id, text"
    ) -> Iterator[pd.DataFrame]:
        """All documents of a pool in ingest order, in bounded batches (for the engine).

        Each batch opens its own short connection (keyset paging on row_idx), so a long
        consumer never holds the catalog lock between batches.
        """
        allowed = {"doc_id", "text", "source", "n_chars", "n_words", "n_tokens", "metadata"}
        wanted = [c.strip() for c in columns.split(",")]
        if not set(wanted) <= allowed:
            raise ValueError(f"unknown document columns {set(wanted) - allowed}")
        cols = ", ".join(["row_idx", *wanted])
        last = -1
        while True:
            df = self.query_df(
                f"SELECT {cols} FROM documents WHERE pool_id = ? AND row_idx > ? "
                "ORDER BY row_idx LIMIT ?",
                [pool_id, last, batch_size],
            )
            if df.empty:
                return
            last = int(df["row_idx"].iloc[-1])
            yield df.drop(columns="row_idx")

    def planted_labels(self, pool_id: str) -> dict[str, str]:
        """doc_id → planted label for the pool's documents that carry ground-truth labels."""
        with self.connect() as con:
            rows = con.execute(
                "SELECT doc_id, metadata->>'planted' FROM documents "
                "WHERE pool_id = ? AND metadata->>'planted' IS NOT NULL",
                [pool_id],
            ).fetchall()
        return dict(rows)

    def set_token_counts(self, pool_id: str, doc_ids: Sequence[str], n_tokens: Sequence[int]):
        """Record exact token counts once a tokenizer exists."""
        frame = pd.DataFrame({"doc_id": list(doc_ids), "n_tokens": np.asarray(n_tokens, "int64")})
        with self.transaction() as con:
            con.register("tok_frame", frame)
            con.execute(
                "UPDATE documents SET n_tokens = t.n_tokens FROM tok_frame AS t "
                "WHERE documents.pool_id = ? AND documents.doc_id = t.doc_id",
                [pool_id],
            )

    def pool_columns(self, pool_id: str) -> dict[str, Any]:
        """Every document's doc_id and source (lists) and token count (int64 array; words
        where the pool is not tokenised), in ingest order, from one query without texts:
        batched reads (`iter_documents`) cost a connection and a sort per batch, which made
        reading a 1M-document pool take 18 s."""
        with self.connect() as con:
            table = arrow_table(
                con,
                "SELECT doc_id, source, coalesce(n_tokens, n_words)::BIGINT AS n FROM documents "
                "WHERE pool_id = ? ORDER BY row_idx",
                [pool_id],
            )
        return {
            "doc_id": table.column("doc_id").to_pylist(),
            "source": table.column("source").to_pylist(),
            "n_tokens": table.column("n").to_numpy(),
        }

    def doc_ids(self, pool_id: str) -> list[str]:
        with self.connect() as con:
            table = arrow_table(
                con, "SELECT doc_id FROM documents WHERE pool_id = ? ORDER BY row_idx", [pool_id]
            )
        return table.column("doc_id").to_pylist()  # (rows as tuples: 3x slower at 1M)
