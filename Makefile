# mae_lab — the two commands a new user needs are `make lab` and `make test`.
# Both create .venv when it is missing, install mae_lab into it, and are quick the second time.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NOTEBOOK ?= notebooks/00_start_here.ipynb
PORT   ?= 8888
# JupyterLab refuses to run as root (containers, CI boxes) unless told it may.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: lab test demo setup unit notebooks browser bench clean help

help:
	@echo "make lab    - set up .venv and open JupyterLab on $(NOTEBOOK)"
	@echo "make test   - set up .venv and run the whole test suite (unit, notebooks, browser)"
	@echo "make demo   - the headless main job: pretrain, probe, write figures to outputs/demo/"
	@echo "make bench  - the CPU benchmarks (see benchmarks/README.md)"

setup: $(STAMP)

# Re-install only when the project's requirements change.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade --quiet pip
	$(BIN)/python -m pip install --quiet -e ".[test,hub,plotly]"
	@touch $(STAMP)

lab: $(STAMP)
	$(BIN)/jupyter lab $(NOTEBOOK) --port $(PORT) $(ROOT_FLAG)

demo: $(STAMP)
	$(BIN)/mae-lab demo --out outputs/demo

test: $(STAMP)
	TQDM_DISABLE=1 $(BIN)/python -m pytest tests -q
	TQDM_DISABLE=1 MAE_LAB_SMOKE=1 $(BIN)/python -m pytest --nbval-lax --nbval-current-env notebooks -q

unit: $(STAMP)
	TQDM_DISABLE=1 $(BIN)/python -m pytest tests -q -m "not browser"

notebooks: $(STAMP)
	TQDM_DISABLE=1 MAE_LAB_SMOKE=1 $(BIN)/python -m pytest --nbval-lax --nbval-current-env notebooks -q

browser: $(STAMP)
	$(BIN)/python -m pytest tests/test_browser.py -q

bench: $(STAMP)
	$(BIN)/python benchmarks/masking_speed.py
	$(BIN)/python benchmarks/model_speed.py
	$(BIN)/python benchmarks/widget_latency.py

clean:
	rm -rf $(VENV) outputs .pytest_cache .hypothesis test-artifacts
