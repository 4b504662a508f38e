# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-all install clean reference reference-v1

# torch first, pinned: this exact spec resolves to the CPU wheel; anything looser may pull a CUDA build.
$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; run 'make PYTHON=python3.x ...'"; exit 2; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The demo study (studies/demo.toml) into results.db, the risk score fitted on its architectures
# (recorded in the store), then the report. Rerunning the audit resumes.
demo: $(STAMP)
	$(BIN)/archrisk audit studies/demo.toml --store results.db --executor process --workers 2
	$(BIN)/archrisk score --refit --store results.db
	$(BIN)/archrisk report --store results.db -o report

# The pre-registered reference study v2 (docs/reference/v2/PLAN.md): both scales into reference.db
# (rerunning resumes; a failed job is retried once), the risk score refitted on it, the report rendered
# into docs/reference/v2/ and the README's findings regenerated from its tables.
reference: $(STAMP)
	$(BIN)/archrisk audit studies/reference_v2.toml --store reference.db --executor process --workers 2
	$(BIN)/archrisk audit studies/reference_v2_mnist5k.toml --store reference.db --executor process --workers 2
	$(BIN)/archrisk audit studies/reference_v2.toml --store reference.db --executor process --workers 2 --retry-failed
	$(BIN)/archrisk audit studies/reference_v2_mnist5k.toml --store reference.db --executor process --workers 2 --retry-failed
	$(BIN)/archrisk score --refit --store reference.db
	$(BIN)/archrisk report --store reference.db -o docs/reference/v2 --plan docs/reference/v2/PLAN.md --readme README.md

# The superseded reference study v1 (docs/reference/v1/PLAN.md), kept reproducible: about 3 hours on 2
# idle cores into reference_v1.db.
reference-v1: $(STAMP)
	$(BIN)/archrisk audit studies/reference.toml --store reference_v1.db --executor process --workers 2
	$(BIN)/archrisk audit studies/reference_digits.toml --store reference_v1.db --executor process --workers 2
	$(BIN)/archrisk audit studies/reference.toml --store reference_v1.db --executor process --workers 2 --retry-failed
	$(BIN)/archrisk audit studies/reference_digits.toml --store reference_v1.db --executor process --workers 2 --retry-failed
	$(BIN)/archrisk report --store reference_v1.db -o docs/reference/v1 --plan docs/reference/v1/PLAN.md

# Two test processes (the machines we target have 2 cores); a file's tests stay in one process, so
# its module fixtures are built once. `pytest -n 0` runs them in one process.
TEST_WORKERS ?= 2

test: $(STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

test-all: $(STAMP)
	$(BIN)/python -m pytest -q -m '' -n $(TEST_WORKERS) --dist loadfile

clean:
	rm -rf $(VENV) report results.db results.db-wal results.db-shm results.score.json
