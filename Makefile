# Suvar: `make run` serves the demo country on http://127.0.0.1:8000; `make test` runs the whole suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3.13 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
SUVAR_DB ?= var/suvar.duckdb
export SUVAR_DB

.PHONY: run test lint bench load demo clean

$(BIN)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("Suvar needs Python >= 3.11, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

run: $(BIN)/.installed
	$(BIN)/suvar demo build --if-absent
	$(BIN)/suvar serve

test: $(BIN)/.installed
	@# The MQTT tests want a real broker: localhost:1883, else mosquitto (installed here when we may), else amqtt.
	@command -v mosquitto >/dev/null || test -x /usr/sbin/mosquitto || ! command -v apt-get >/dev/null \
		|| [ "$$(id -u)" != 0 ] || (apt-get install -y -qq mosquitto >/dev/null 2>&1 \
		|| (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq mosquitto >/dev/null 2>&1)) || true
	@# The store tests also run on PostgreSQL: localhost:5432, else a private initdb/pg_ctl server (Debian's postgresql).
	@$(BIN)/python -c "import socket; socket.create_connection(('127.0.0.1', 5432), 1)" 2>/dev/null \
		|| ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || ! command -v apt-get >/dev/null || [ "$$(id -u)" != 0 ] \
		|| (apt-get install -y -qq postgresql >/dev/null 2>&1 \
		|| (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq postgresql >/dev/null 2>&1)) || true
	@# The panel's browser tests drive Debian's chromium (they fail without it); installed here when we may.
	@test -x /usr/bin/chromium || ! command -v apt-get >/dev/null || [ "$$(id -u)" != 0 ] \
		|| (apt-get install -y -qq chromium >/dev/null 2>&1 \
		|| (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1)) || true
	$(BIN)/ruff check src tests bench
	$(BIN)/python -m pytest

bench: $(BIN)/.installed
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/balance.py

load: $(BIN)/.installed
	$(BIN)/python bench/load.py

demo: $(BIN)/.installed
	$(BIN)/suvar demo build

clean:
	rm -rf $(VENV) var
