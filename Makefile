# Fresh-machine entry points. CPU torch is pinned first so nothing pulls the CUDA build.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= all

.PHONY: venv demo test report lint bench clean

$(BIN)/qbnn:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[test,workflow,bench,cluster]"

venv: $(BIN)/qbnn

demo: venv
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/snakemake --cores $(CORES)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/snakemake --report reports/report.html

test: venv
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m pytest -q -n 2 tests

lint: venv
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/snakemake --lint
	@if [ -x $(BIN)/snakefmt ]; then $(BIN)/snakefmt --check Snakefile workflow/rules; \
	else echo "snakefmt not installed (pip install -e '.[lint]'): rule formatting not checked"; fi

clean:
	rm -rf results logs reports/report.html .snakemake
