# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test check bench install db-upgrade clean schema

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

db-upgrade: install
	$(BIN)/order-service db upgrade

run: db-upgrade
	$(BIN)/order-service serve --host $(HOST) --port $(PORT)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

check: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The project's own benchmarks, short settings; each prints its ratios (to raw sqlite3 or to
# the FastAPI + python-socketio ceiling). BENCH_EVENTS sizes the replay bench's store.
BENCH_EVENTS ?= 20000
bench: install
	$(BIN)/python bench/store_bench.py --seconds 2
	$(BIN)/python bench/fanout_bench.py --duration 5 --warmup 1
	$(BIN)/python bench/replay_bench.py --events $(BENCH_EVENTS)

schema: install
	$(BIN)/order-service schema export

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
