# Two commands matter: `make book` (build the site) and `make test` (everything CI checks).
# Both create .venv with Python 3.11 if it is missing and install the pinned working set.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# never export MPLBACKEND here: nbval needs the inline figures
NBVAL  := --nbval-lax --nbval-current-env --nbval-sanitize-with nbval_sanitize.cfg \
          --nbval-cell-timeout=900 --nbval-kernel-startup-timeout=180

.PHONY: book book-run test test-unit test-notebooks test-book bench colab venv clean

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0      # first and pinned: no CUDA build pulled in
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $(STAMP)

book: $(STAMP)
	$(BIN)/python tools/nb.py runtimes
	$(BIN)/jupyter-book build . --keep-going
	@echo "The book is built: open _build/html/index.html"

book-run: $(STAMP)   ## re-execute every chapter at $$SKILLKIT_SCALE (default), then build
	$(BIN)/python tools/nb.py run notebooks/*.ipynb
	$(MAKE) book

test: test-unit test-notebooks test-book

test-unit: $(STAMP)
	$(BIN)/python -m pytest tests/ -q

test-notebooks: $(STAMP)
	$(BIN)/python tools/nb.py check
	SKILLKIT_SCALE=ci SKILLKIT_DEVICE=cpu $(BIN)/python -m pytest notebooks $(NBVAL) -q

test-book: $(STAMP)
	$(BIN)/python tools/nb.py runtimes
	rm -rf _build/.doctrees
	$(BIN)/jupyter-book build . -W -n --keep-going

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

colab: $(STAMP)
	$(BIN)/python tools/nb.py colab

clean:
	rm -rf _build
