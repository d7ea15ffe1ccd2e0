# The README's two commands: `make study` (main job) and `make test` (tests, lint, types).
# Both create their own virtual environment in .venv with Python 3.11.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: study test lint venv clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[all,dev]'
	touch $(STAMP)

venv: $(STAMP)

study: $(STAMP)
	$(BIN)/localnorm convert --from caffe local_size=5 alpha=1e-4 beta=0.75 k=2
	$(BIN)/localnorm convert --from tensorflow depth_radius=2 alpha=2e-5 beta=0.75 bias=2 --to torch

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache
