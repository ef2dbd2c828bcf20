"""The `Catalog` façade: the only code that talks to DuckDB, split by table family.

`CatalogBase` (connection.py) owns connections, transactions and migrations; each table family
(pools, tasks, runs, selections, jobs) is a store class over it, and `Catalog` composes them, so
one object serves every caller while each family's SQL lives in its own module. `queries.py`
(the app's read queries) goes through the same connection provider (`Catalog.connect`).
"""

from __future__ import annotations

from data_catalog.catalog.connection import POOL_ID_CHARS, CatalogBase, validate_pool_id
from data_catalog.catalog.jobs import JobStore
from data_catalog.catalog.pools import PoolStore
from data_catalog.catalog.runs import RunStore
from data_catalog.catalog.selections import SelectionStore
from data_catalog.catalog.tasks import TaskStore


class Catalog(PoolStore, TaskStore, RunStore, SelectionStore, JobStore):
    """Typed access to one workspace's `catalog.duckdb`. Holds no open connection between calls."""


__all__ = ["POOL_ID_CHARS", "Catalog", "CatalogBase", "validate_pool_id"]
