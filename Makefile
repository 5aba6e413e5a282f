# The two commands of the README: `make demo` (the embedded default, offline, CPU) and
# `make test`. Both create .venv from requirements.lock on first use.
VENV ?= .venv
PY := $(CURDIR)/$(VENV)/bin/python
CORES ?= 2
CONFIG ?= config/demo.yaml
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export HF_HUB_OFFLINE ?= 1

.PHONY: venv demo test lint docs dvc-yaml record pull clean-demo

$(VENV)/.installed: requirements.lock pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.lock
	$(PY) -m pip install -q --no-deps -e .
	touch $@

venv: $(VENV)/.installed

demo: venv
	snakemake --cores $(CORES) --configfile config/demo.yaml

test: venv
	$(PY) -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder

lint: venv
	ruff check .
	ruff format --check src scripts tests benchmarks
	snakefmt --check Snakefile rules
	snakemake --lint --configfile config/demo.yaml

# docs/configuration.md from the schema (a test fails when it is stale)
docs: venv
	$(PY) scripts/config_reference.py

dvc-yaml: venv
	$(PY) scripts/export_dvc.py --configfile $(CONFIG)

# The team story (README, "Embed once, share everywhere"). After a run of CONFIG:
# `make record` writes dvc.yaml for CONFIG and stores every output in dvc.lock and the
# DVC cache without rerunning anything; then commit dvc.yaml + dvc.lock and `dvc push`.
record:
	$(PY) scripts/export_dvc.py --configfile $(CONFIG)
	dvc commit --force --quiet
	dvc status

# `make pull` on a clone: fetch every recorded output, check that they match dvc.yaml and
# dvc.lock, then mark them up to date for Snakemake in DAG order (DVC does not keep
# mtimes). A failed or partial pull, or an older dvc.lock, stops before the marking, so
# nothing half-pulled is taken as up to date.
pull:
	$(PY) scripts/pull.py --configfile $(CONFIG)
	dvc status

clean-demo:
	rm -rf data/raw/synthetic data/frames/synthetic results/* logs .snakemake
	touch results/.gitkeep
