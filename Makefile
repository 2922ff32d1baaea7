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

.PHONY: lab test demo data site setup unit notebooks browser bench clean help

help:
	@echo "make lab    - set up .venv and open JupyterLab on $(NOTEBOOK)"
	@echo "make test   - set up .venv and run the whole test suite (unit, notebooks, browser)"
	@echo "make demo   - the headless main job: pretrain, probe, write figures to outputs/demo/"
	@echo "make data   - download Fashion-MNIST into data/fashion-mnist/ (or: apt-get install dataset-fashion-mnist)"
	@echo "make site   - run every lab (smoke mode; SMOKE=0 for full) and write outputs/site/*.html"
	@echo "make bench  - the CPU benchmarks (see benchmarks/README.md)"

setup: $(STAMP)

# Re-install only when the project's requirements change.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade --quiet pip
	$(BIN)/python -m pip install --quiet -e ".[test,hub,plotly]"
	@touch $(STAMP)

# Listens on this machine only (127.0.0.1). JupyterLab prints the address with its token below;
# on a remote machine forward the port first: ssh -L $(PORT):127.0.0.1:$(PORT) <host>.
lab: $(STAMP)
	@echo "JupyterLab starts on 127.0.0.1 (this machine only). If no browser opens, copy the address"
	@echo "http://127.0.0.1:<port>/lab?token=<token> that it prints below into one; Ctrl-C twice stops it."
	$(BIN)/jupyter lab $(NOTEBOOK) --ServerApp.ip=127.0.0.1 --port $(PORT) $(ROOT_FLAG)

demo: $(STAMP)
	$(BIN)/mae-lab demo --out outputs/demo

data: $(STAMP)
	$(BIN)/mae-lab download fashion_mnist --root data

# SMOKE=0 make site runs the labs at full size (minutes to hours on a CPU).
SMOKE ?= 1
site: $(STAMP)
	MAE_LAB_SMOKE=$(SMOKE) TQDM_DISABLE=1 $(BIN)/python scripts/build_site.py --out outputs/site

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
