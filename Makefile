# optout-proxy: `make install`, `make run`, `make test`, `make bench`.
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint bench clean

install: $(STAMP)

# constraints.txt pins every dependency (see its header), as CI and the Dockerfile do.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $$(scripts/find-python) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/optout demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/hadolint Dockerfile

# promtool: Debian's `prometheus` package (.ci/run installs it).
test: lint
	cd deploy/prometheus && promtool check rules alerts.yml && promtool test rules alerts_test.yml
	$(BIN)/python -m pytest -q --cov --cov-report=term-missing:skip-covered

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) state build *.egg-info
