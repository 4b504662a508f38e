"""The report: a self-contained HTML audit of a results store.

`write_report(store_path, out_dir)` reads the store (read-only, sqlite3 only: this package never imports
torch) and writes `index.html` with inline figures, each figure as PNG under `figures/` and each
table as CSV under `tables/`. What each result means (its risk direction, whether it is an
attack's headline, the claims it bears on) is read from the store, where the runner recorded the
producers' declarations (`archrisk.meaning`); a new attack therefore appears here with no edit.
"""
from archrisk.report.build import write_report
from archrisk.store import StoreData, load_store

__all__ = ["write_report", "load_store", "StoreData"]
