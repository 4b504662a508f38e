"""The results store, torch-free: one schema (`schema`), the file (`files`), the writer the runner uses (`write`) and the
read-only loader the report uses (`read`). The runner, the report, the score and the test fixtures
all go through this package, so a store written by any of them opens in the others.

    from archrisk.store import Store, load_store
    with Store("results.db", create=True) as db: ...     # plan, claim, finish (the runner)
    data = load_store("results.db")                      # plain records (the report)
"""
from archrisk.store.read import StoredJob, StoreData, connect_readonly, load_store
from archrisk.store.schema import (APP_ID, JOB_COLUMNS, SCHEMA, SCHEMA_VERSION, SCORE_FIT_KEY, STATUSES, StoreError,
                                   create_schema)
from archrisk.store.files import Owner, connect, pid_alive
from archrisk.store.write import Outcome, Store, open_store

__all__ = ["APP_ID", "JOB_COLUMNS", "SCORE_FIT_KEY", "StoredJob", "Outcome", "Owner", "SCHEMA", "SCHEMA_VERSION", "STATUSES",
           "Store", "StoreData", "StoreError", "connect", "connect_readonly", "create_schema", "load_store",
           "open_store", "pid_alive"]
