"""The PostgreSQL store (asyncpg): one database for a province's instances.  See
:mod:`hotline.store.postgres.core`."""

from hotline.store.postgres.core import check_url, redact
from hotline.store.postgres.schema import SCHEMA_VERSION
from hotline.store.postgres.store import PgStore

__all__ = ["SCHEMA_VERSION", "PgStore", "check_url", "redact"]
