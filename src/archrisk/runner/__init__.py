"""Study runner: TOML studies expanded into a resumable grid of jobs, a SQLite results store,
and executors (in-process, a local process pool, Ray).

    from archrisk import audit
    summary = audit("studies/demo.toml", "results.db")   # rerun at any time: it resumes
"""
from archrisk.runner.config import Study, StudyError, load_study, parse_study
from archrisk.runner.executors import EXECUTORS
from archrisk.runner.jobs import record_meanings
from archrisk.runner.plan import Job, plan
from archrisk.runner.scheduler import AuditOptions, AuditSummary, JobFailedError, audit
from archrisk.store import Store, StoreError, open_store

__all__ = ["AuditOptions", "AuditSummary", "EXECUTORS", "Job", "JobFailedError", "Store", "StoreError", "Study",
           "StudyError", "audit", "load_study", "open_store", "parse_study", "plan", "record_meanings"]
