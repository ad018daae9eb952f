# Two commands: `make run` (dashboard on the default models) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: run test install artifacts lint browser-deps dictionaries bench serve serve-deps

run: install  ## Install, start the dashboard at once and build the default artifacts beside it (skipped when current).
	@# The build's log goes to artifacts/build.log; each page shows its progress and each model once it is ready.
	@# Ctrl-C stops both (finished steps are kept); a failed build leaves the dashboard running (deploy/run.py).
	$(PY) -m deploy.run --port $(PORT)

test: install browser-deps serve-deps  ## Install and run the test suite.
	$(PY) -m pytest

install: $(STAMP) dictionaries

$(STAMP): requirements.txt dashboard/requirements.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

artifacts: install  ## Build (or skip, when current) the default model artifacts and their comparison.
	$(PY) -m precompute build --default

# $(call apt_install,PACKAGES,WHAT IS LOST WITHOUT THEM): Debian's packages, installed when run as root;
# otherwise a line saying what is skipped and the command that would install them.
apt_install = if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -qq $(1) >/dev/null; else echo "not root: $(2) (as root: apt-get install $(1))"; fi

browser-deps:  ## Debian's Chromium and fonts for every script, for the browser test (needs root).
	@{ command -v chromium && dpkg -s fonts-noto-core fonts-noto-cjk; } >/dev/null 2>&1 || \
	  { $(call apt_install,chromium fonts-noto-core fonts-noto-cjk,the browser test will be skipped); }

dictionaries: $(STAMP)  ## Debian's FreeDict English<->X dictionaries, general vocabulary for the meaning statistics (root).
	@missing="$$($(PY) -c 'from precompute.analyses.freedict import missing_packages; print(*missing_packages())')"; \
	if [ -n "$$missing" ]; then $(call apt_install,--no-install-recommends $$missing,concepts from CLDR alone); fi

WORKERS ?= $(shell nproc)
PORT ?= 8501
SERVE_ARGS ?=
serve: install serve-deps  ## WORKERS dashboard processes behind nginx on PORT (make serve WORKERS=4); Ctrl-C stops all.
	@# Artifacts from $$HYPERPOLYGLOT_ARTIFACTS (a root or a bundle URL) or ./artifacts (`make artifacts`);
	@# SERVE_ARGS="--base-url-path hp --address 127.0.0.1" for more (python -m deploy.serve --help).
	$(PY) -m deploy.serve --workers $(WORKERS) --port $(PORT) $(SERVE_ARGS)

serve-deps:  ## Debian's nginx, the balancer of `make serve` and of its test (needs root).
	@command -v nginx >/dev/null 2>&1 || test -x /usr/sbin/nginx || \
	  { $(call apt_install,--no-install-recommends nginx,the balancer test will be skipped); }

lint: install
	$(VENV)/bin/ruff check .

bench: install
	$(PY) benchmarks/knn.py use-multilingual-v3
