# make setup: .venv, requirements, data, default model (each only when missing). make run / make test build on it.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
export HOST PORT

.PHONY: setup run test test-fast bench docs clean-models

setup: $(VENV)/.installed models/current

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.11 or run make PYTHON=python3"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	touch $@

models/current: | $(VENV)/.installed
	$(PY) -m training fetch-data
	$(PY) -m training -v train

run: setup
	$(VENV)/bin/gunicorn -c service/gunicorn.conf.py 'service:create_app()'

test: setup
	$(PY) -m pytest

test-fast: setup
	$(PY) -m pytest -m "not realdata"

bench: setup
	$(PY) -m bench $(BENCH)

# The docs site (mkdocs.yml, docs/) built into site/, after the API reference is rendered from the OpenAPI document;
# --strict turns every warning (a broken link, a missing page or figure file) into an error.
docs: $(VENV)/.installed
	$(PY) -m service.api_reference
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

clean-models:
	rm -rf models/*/ models/current models/history.jsonl
