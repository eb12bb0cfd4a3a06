# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip

.PHONY: lint check unit demo test bench install install-test clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PIP) install --quiet -e '.[embedded]'
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(PY)
	$(PIP) install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

demo: install
	$(VENV)/bin/storewatch demo

# tests/test_prometheus.py runs a real Prometheus and tests/test_secrets.py a Redis built with
# TLS (/usr/bin/redis-server): Debian's packages, installed here when possible (as root with
# apt); without them those tests skip and say why.
test: install-test
	@missing=""; command -v prometheus >/dev/null || missing="prometheus"; \
	test -x /usr/bin/redis-server || missing="$$missing redis-server"; \
	[ -z "$$missing" ] || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null) || echo "$$missing could not be installed: tests/test_prometheus.py or the TLS test of tests/test_secrets.py will skip"
	$(PY) -m pytest

# Every test that needs no server (no redis-server, broker, Prometheus or storewatch child
# process): the tier to run after each change. tests/helpers/tiers.py keeps it honest.
unit: install-test
	$(PY) -m pytest -q -m "not integration"

# Lint and format (ruff is pinned, so its verdict does not drift).
lint: install-test
	$(PY) -m ruff check stream tests
	$(PY) -m ruff format --check stream tests

# Lint, format and strict typing of the whole tree (pyproject.toml); .ci/run runs it first.
check: lint
	$(PY) -m mypy

bench: install-test
	$(VENV)/bin/storewatch bench --out bench.json

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
