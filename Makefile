# Two commands do all the set-up on a fresh machine:
#   make book   build the website, executing every notebook in the `book` profile -> _build/html
#   make test   unit tests + every notebook executed by nbval in the `smoke` profile
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# This machine's pip serves torch 2.14.1 / torchvision 0.29.1 from local disk (the CPU 2.13 wheel breaks
# torchvision). Elsewhere override: `make book TORCH_SPEC=` lets pip choose.
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1

export GENVIZ_DATA ?= $(CURDIR)/.data
export PATH := $(CURDIR)/$(BIN):$(PATH)
export PYTHONUNBUFFERED := 1

.PHONY: book test setup data sysdeps assets lint strip clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check $(TORCH_SPEC)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[book,test]'
	touch $@

# Debian's copy of Fashion-MNIST works offline; installed when we are root and it is missing.
sysdeps:
	@if [ ! -d /usr/share/datasets/fashion-mnist ] && command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 || \
	  { apt-get update -qq >/dev/null 2>&1; apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1; } || \
	  echo "note: could not install dataset-fashion-mnist; torchvision will try to download the data"; fi

data: $(STAMP) sysdeps
	$(BIN)/python -m genviz_utils.data fashion-mnist

# The widget manager and RequireJS, from npm, so that no page loads them from a CDN. They are served from an
# extra path (html_extra_path), not _static/, which would load them on every page and draw each widget twice.
WIDGETS := _build/assets/widgets
assets: $(WIDGETS)/embed-amd.js
$(WIDGETS)/embed-amd.js:
	@command -v npm >/dev/null || { echo "npm is needed to bundle the widget JavaScript (apt-get install npm)"; exit 1; }
	mkdir -p .cache/npm $(WIDGETS)
	cd .cache/npm && npm install --silent --no-audit --no-fund --no-package-lock \
	  @jupyter-widgets/html-manager@1.0.15 requirejs@2.3.8
	cp -r .cache/npm/node_modules/@jupyter-widgets/html-manager/dist/. $(WIDGETS)/
	cp .cache/npm/node_modules/requirejs/require.js $(WIDGETS)/require.js
	rm -f $(WIDGETS)/*.map $(WIDGETS)/embed.js   # source maps and the non-AMD bundle are not used
	@# its fallback module source is a CDN; point it at this site (standard controls are bundled anyway)
	sed -i 's#https://cdn.jsdelivr.net/npm/#./#g' $(WIDGETS)/*.js

# Results of the notebooks (for the status page and _build/metrics.json) are written here.
book: export GENVIZ_PROFILE ?= book
book: export GENVIZ_RESULTS := $(CURDIR)/_build/results
book: data assets
	@mkdir -p _build
	@# the execution cache does not know the profile: start afresh when it changes
	@if [ "$$(cat _build/.profile 2>/dev/null)" != "$(GENVIZ_PROFILE)" ]; then rm -rf _build/.jupyter_cache _build/jupyter_execute _build/html; fi
	@echo "$(GENVIZ_PROFILE)" > _build/.profile
	@# pass 1 executes the notebooks (they write _build/results); pass 2 re-renders the status page from them
	$(BIN)/python -m genviz_utils.report --results _build/results --json _build/metrics.json --markdown book/_generated/metrics.md
	$(BIN)/jupyter-book build . -W -n --keep-going
	$(BIN)/python -m genviz_utils.report --results _build/results --json _build/metrics.json --markdown book/_generated/metrics.md
	$(BIN)/jupyter-book build . -W -n --keep-going
	@echo "Website: $(CURDIR)/_build/html/index.html"

# Checkpoints and results of the test run go to a fresh folder, so every notebook really trains.
test: export GENVIZ_PROFILE := smoke
test: data
	$(BIN)/ruff check genviz_utils tests
	rm -rf .cache/test && mkdir -p .cache/test
	GENVIZ_CACHE=$(CURDIR)/.cache/test $(BIN)/python -m pytest tests notebooks --nbval-lax --nbval-current-env \
	  --durations=12 -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check genviz_utils tests

# Remove outputs from every notebook before committing.
strip: $(STAMP)
	$(BIN)/jupyter nbconvert --clear-output --inplace notebooks/*.ipynb

clean:
	rm -rf _build .cache
