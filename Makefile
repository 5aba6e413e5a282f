# The two commands of the README: `make demo` (the embedded default, offline, CPU) and
# `make test`. Both create .venv from requirements.lock on first use.
VENV ?= .venv
PY := $(CURDIR)/$(VENV)/bin/python
CORES ?= 2
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export HF_HUB_OFFLINE ?= 1

.PHONY: venv demo test lint dvc-yaml clean-demo

$(VENV)/.installed: requirements.lock pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.lock
	$(PY) -m pip install -q --no-deps -e .
	touch $@

venv: $(VENV)/.installed

demo: venv
	snakemake --cores $(CORES) --configfile config/demo.yaml

test: venv
	$(PY) -m pytest -q

lint: venv
	ruff check .
	ruff format --check src scripts tests benchmarks
	snakefmt --check Snakefile rules
	snakemake --lint --configfile config/demo.yaml

dvc-yaml: venv
	$(PY) scripts/export_dvc.py --configfile config/demo.yaml

clean-demo:
	rm -rf data/raw/synthetic data/frames/synthetic results/* logs .snakemake
	touch results/.gitkeep
