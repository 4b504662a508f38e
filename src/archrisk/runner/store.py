"""The runner's view of the results store; the store itself lives in `archrisk.store` (kept here so
existing imports keep working)."""
from archrisk.store.schema import APP_ID, JOB_COLUMNS, SCHEMA, SCHEMA_VERSION, STATUSES, StoreError
from archrisk.store.write import Outcome, Owner, Store, connect, open_store, pid_alive

__all__ = ["APP_ID", "JOB_COLUMNS", "Outcome", "Owner", "SCHEMA", "SCHEMA_VERSION", "STATUSES", "Store",
           "StoreError", "connect", "open_store", "pid_alive"]
