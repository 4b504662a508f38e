# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-all install clean

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

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-all: $(STAMP)
	$(BIN)/python -m pytest -q -m ''

clean:
	rm -rf $(VENV) report results.db results.db-wal results.db-shm results.score.json
