"""The report's view of the results store; the read-only loader lives in `archrisk.store.read` (kept
here so existing imports keep working)."""
from archrisk.store.read import STATUSES, StoredJob, StoreData, connect_readonly, load_store

_connect = connect_readonly  # the name report modules imported before the store package existed

__all__ = ["StoredJob", "STATUSES", "StoreData", "load_store"]
