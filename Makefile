# secondlook: every day-to-day command is a target here. See README.md.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

PROTO_SRC := $(wildcard protos/secondlook/v1/*.proto)
GEN_DIR   := secondlook/v1

.PHONY: help install protos protos-check lint run test test-unit test-integration test-e2e bench bench-intake bench-matching bench-store token clean

help:
	@echo "make run          bring the platform up on the embedded broker and store, with sample cases"
	@echo "make test         install everything and run the whole test suite"
	@echo "make bench        pipeline benchmark on the embedded stack"
	@echo "make bench-intake SubmitCase throughput and latency next to the store's ceiling"
	@echo "make bench-matching matching over 100,000 synthetic specialists, index against a naive scan"
	@echo "make bench-store  the embedded store's CPU per insert, its threads on one CPU or spread over all"
	@echo "make protos       regenerate Python code from protos/"
	@echo "make protos-check fail if the generated code drifted from protos/"
	@echo "make lint         ruff: unused names, import order, likely bugs"
	@echo "make token ARGS=  mint a development JWT (see 'secondlook token --help')"

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; set PYTHON=/path/to/python3.11+"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

# Generated code lives in secondlook/v1 (package secondlook.v1) and is committed;
# protos-check regenerates into a scratch folder and compares.
protos: $(STAMP)
	@$(PY) -m secondlook.protogen $(GEN_DIR)

protos-check: $(STAMP)
	@$(PY) -m secondlook.protogen --check $(GEN_DIR)

lint: $(STAMP)
	@$(VENV)/bin/ruff check .

run: $(STAMP)
	$(PY) -m devstack run $(ARGS)

test: $(STAMP) protos-check lint
	$(PY) -m pytest -q $(ARGS)

test-unit: $(STAMP)
	$(PY) -m pytest -q tests/unit $(ARGS)

test-integration: $(STAMP)
	$(PY) -m pytest -q tests/integration $(ARGS)

test-e2e: $(STAMP)
	$(PY) -m pytest -q tests/e2e $(ARGS)

bench: $(STAMP)
	$(PY) -m benchmarks.pipeline $(ARGS)

bench-intake: $(STAMP)
	$(PY) -m benchmarks.intake $(ARGS)

bench-matching: $(STAMP)
	$(PY) -m benchmarks.matching $(ARGS)

bench-store: $(STAMP)
	$(PY) -m benchmarks.storecpu $(ARGS)

token: $(STAMP)
	$(PY) -m secondlook.cli token $(ARGS)

clean:
	rm -rf .secondlook .secondlook.lock .pytest_cache
