# The two commands: `make run` and `make test`. Each sets up everything it needs.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install browser migrate demo worker beat lint format clean stop

$(STAMP): pyproject.toml requirements-trl.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (found %s)" % sys.version.split()[0])'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -r requirements-trl.txt
	@touch $(STAMP)

install: $(STAMP)

migrate: install
	$(BIN)/python manage.py migrate --noinput

demo: migrate
	$(BIN)/python manage.py demo --url http://$(HOST):$(PORT)/
	$(BIN)/python manage.py demo_models --url http://$(HOST):$(PORT)/

# Without PLURALIGN_DEMO_MODEL_URL the demo's conversations talk to the stand-in model,
# started here beside the server and stopped with it.
run: demo
	@echo "Serving on http://$(HOST):$(PORT)/ (Ctrl-C stops)"
	@if [ -z "$$PLURALIGN_DEMO_MODEL_URL" ]; then \
		$(BIN)/python manage.py standin_model --api-key sk-demo-standin \
			--port $${PLURALIGN_DEMO_STANDIN_PORT:-8011} --latency-ms 40 & \
		trap "kill $$! 2>/dev/null" EXIT INT TERM; \
	fi; \
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

browser:
	@bash scripts/ensure_browser.sh

test: install browser
	$(BIN)/python -m pytest

worker: install
	$(BIN)/celery -A config worker --loglevel=INFO

beat: install
	$(BIN)/celery -A config beat --loglevel=INFO

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Stops the embedded PostgreSQL (var/pg) however the server before it was stopped.
stop: install
	$(BIN)/python scripts/stop_embedded_db.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .grimp_cache .import_linter_cache test-results
