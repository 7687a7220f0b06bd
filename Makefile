# taxdesk — every command a developer or CI needs. `make run` and `make test` work on a fresh clone.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# pytest-xdist workers; 2 on the 2-core reference machine (`make test PYTEST_WORKERS=auto`)
PYTEST_WORKERS ?= 2
# what `make test-fast` leaves out (markers set in tests/conftest.py and on the slow tests)
FAST_MARKERS := not (postgres or redis or model or botapi or slow)

.PHONY: setup run test test-fast lint typecheck train migrate bench services clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

## setup: create .venv and install the pinned dependencies
setup: $(STAMP)

## run: set up, migrate, train the NLU model if data changed, start the service (SQLite, no token needed)
run: setup
	$(PY) main.py migrate
	$(PY) main.py train
	$(PY) main.py run

## services: start PostgreSQL and Redis if they are down (the tests use them for real)
services:
	@pg_isready -h 127.0.0.1 -p 5432 -q || pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start
	@redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
	@for i in $$(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
	@for i in $$(seq 1 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 1; done

## lint: ruff (style and errors)
lint: setup
	$(VENV)/bin/ruff check .

## typecheck: mypy on the packages
typecheck: setup
	$(VENV)/bin/mypy

## test: everything the tests need, then ruff, mypy and pytest (in $(PYTEST_WORKERS) workers)
test: setup services lint typecheck
	$(PY) -m pytest -q -n $(PYTEST_WORKERS)

## test-fast: unit tests only: no services, no trained model, no Bot API server, no subprocesses
test-fast: setup
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) -m "$(FAST_MARKERS)"

train: setup
	$(PY) main.py train

migrate: setup
	$(PY) main.py migrate

bench: setup services
	$(PY) bench/nlu.py
	$(PY) bench/desk.py
	$(PY) bench/inbound.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
