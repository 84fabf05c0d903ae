# Two commands matter: `make book` (build the site) and `make test` (everything CI checks).
# Both create .venv with Python 3.11 if it is missing and install the pinned working set.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# never export MPLBACKEND here: nbval needs the inline figures
NBVAL  := --nbval-lax --nbval-current-env --nbval-sanitize-with nbval_sanitize.cfg \
          --nbval-cell-timeout=900 --nbval-kernel-startup-timeout=180

.PHONY: book book-run test test-unit test-notebooks test-book test-site bench colab venv clean

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

test: test-unit test-notebooks test-book test-site

test-unit: $(STAMP)
	$(BIN)/python -m pytest tests/ -q

test-notebooks: $(STAMP)
	$(BIN)/python tools/nb.py check
	rm -rf $(CURDIR)/_build/ci-results   # ci-scale sweeps cache here, fresh each run, never in results/
	SKILLKIT_SCALE=ci SKILLKIT_DEVICE=cpu SKILLKIT_RESULTS=$(CURDIR)/_build/ci-results $(BIN)/python -m pytest notebooks $(NBVAL) -q

test-book: $(STAMP)
	$(BIN)/python tools/nb.py runtimes
	rm -rf _build/.doctrees
	$(BIN)/jupyter-book build . -W -n --keep-going

# the browser test of the built site. The browser is $CHROME_BIN/$CHROMEDRIVER when set, else the first
# working chromium, chromium-browser, google-chrome or chrome (and chromedriver) on the PATH; when there
# is none, Debian's chromium is installed (needs root), and the test skips with a clear message where it
# cannot be (fails instead with SKILLKIT_REQUIRE_BROWSER=1, as in CI)
FIND_CHROME := import sys; sys.path.insert(0, "tests"); from test_site import find_chrome; sys.exit(bool(find_chrome()[2]))
test-site: $(STAMP)
	@$(BIN)/python -c '$(FIND_CHROME)' 2>/dev/null || \
	  { (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) >/dev/null 2>&1 \
	    || echo "could not install chromium: the browser checks will be skipped"; }
	SKILLKIT_SITE_DIR=_build/html $(BIN)/python -m pytest tests/test_site.py -m site -q -rs

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

colab: $(STAMP)
	$(BIN)/python tools/nb.py colab

clean:
	rm -rf _build
