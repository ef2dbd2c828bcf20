"""The `Catalog` façade: the only code that talks to DuckDB.

`Catalog` composes one mixin per table family over the shared connection provider
(`connection.CatalogBase`: short-lived connections with lock retry, transactions, query helpers,
once-per-process migrations). Every SQL value is a bound parameter; bulk rows go in from
DataFrames or staged Parquet, never row by row.

    connection  connect / transaction / query_* / migrations / info
    pools       pools and documents          tasks       target tasks and examples
    runs        runs (begin_run) and evaluations
    scores      scores per (run, task)       selections  selections and members
    jobs        job progress and cancel      exports     exports and exclusions
"""

from __future__ import annotations

from data_catalog.catalog.connection import CatalogBase, config_hash
from data_catalog.catalog.exports import ExportsMixin
from data_catalog.catalog.jobs import JobsMixin
from data_catalog.catalog.pools import POOL_ID_CHARS, PoolsMixin, validate_pool_id
from data_catalog.catalog.runs import RunsMixin
from data_catalog.catalog.scores import ScoresMixin
from data_catalog.catalog.selections import SelectionsMixin
from data_catalog.catalog.tasks import TasksMixin

__all__ = ["POOL_ID_CHARS", "Catalog", "CatalogBase", "config_hash", "validate_pool_id"]


class Catalog(
    PoolsMixin,
    TasksMixin,
    RunsMixin,
    ScoresMixin,
    SelectionsMixin,
    JobsMixin,
    ExportsMixin,
    CatalogBase,
):
    """Typed access to one workspace's `catalog.duckdb`. Holds no open connection between calls."""
