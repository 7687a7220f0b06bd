# taxdesk — every command a developer or CI needs. `make run` and `make test` work on a fresh clone.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# pytest-xdist workers. 3 on the 2-core reference machine: the suite waits on subprocesses,
# PostgreSQL and the Bot API server, so a third worker fills the gaps (measured with 1,362
# tests: -n 3 160 s, -n 4 170 s). tests/conftest.py puts the longest tests first and
# `--dist worksteal` lets an idle worker take half of a busy one's queue: 128 s instead of 160 s.
# Override with `make test PYTEST_WORKERS=auto`.
PYTEST_WORKERS ?= 3
# test-fast is CPU-bound (no waits), so one worker per core is best (-n 2 38 s, -n 3 43 s)
FAST_WORKERS ?= 2
# what `make test-fast` leaves out (markers set in tests/conftest.py and on the slow tests)
FAST_MARKERS := not (postgres or redis or model or botapi or browser or slow)

.PHONY: setup run test test-fast pytest lint typecheck train migrate bench services browser screenshots clean

# uv installs the pinned requirements (bytecode compiled in parallel): 24 s instead of pip's
# 60 s on a fresh clone here, which is a third of `make test`.
UV_VERSION ?= 0.13.8

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet uv==$(UV_VERSION)
	$(VENV)/bin/uv pip install --python $(PY) --compile-bytecode --quiet -r requirements-dev.txt
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

## browser: Debian's Chromium for the browser tests (Playwright drives /usr/bin/chromium;
## never `playwright install`, which downloads a browser that cannot be fetched here)
browser:
	@test -x /usr/bin/chromium -a -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-wqy-microhei)

## lint: ruff (style and errors) and the import contracts of docs/architecture.md
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-cache

## typecheck: mypy on the packages
typecheck: setup
	$(VENV)/bin/mypy

## test: everything the tests need, then ruff; then mypy and pytest side by side (mypy is one
## process; running it next to pytest saved ~10 s here).
test: setup services browser lint
	@$(MAKE) --no-print-directory -j2 --output-sync=line typecheck pytest

## pytest: the whole test suite in $(PYTEST_WORKERS) xdist workers (needs `make services browser`)
pytest: setup
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) --dist worksteal

## test-fast: unit tests only: no services, no trained model, no Bot API server, no subprocesses
test-fast: setup
	$(PY) -m pytest -q -n $(FAST_WORKERS) -m "$(FAST_MARKERS)"

## screenshots: docs/screenshots/*.png, each main page of the web chat and the console
screenshots: setup browser
	$(PY) -m testing.screenshots

train: setup
	$(PY) main.py train

migrate: setup
	$(PY) main.py migrate

bench: setup services
	$(PY) bench/nlu.py
	$(PY) bench/desk.py
	$(PY) bench/inbound.py
	$(PY) bench/webchat.py
	$(PY) bench/console.py
	$(PY) bench/studio.py
	$(PY) bench/conversations.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
