# Two commands do all the set-up on a fresh machine:
#   make book   build the website, executing every notebook in the `book` profile -> _build/html, and its
#               Chinese edition from the same executed notebooks -> _build/html/zh (tools/i18n.py)
#   make test   unit tests + every notebook executed by nbval in the `smoke` profile
#   make bench  the last book's FD against training seconds, then training throughput vs the DataLoader+ToTensor pipeline
#   make colab-check  every notebook in a Colab-like venv, installed by its own install cell (ci/colab_check.py)
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

.PHONY: book test bench colab-check setup data sysdeps assets lint strip clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check $(TORCH_SPEC)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[book,test]'
	touch $@

# Debian's packages: Fashion-MNIST (works offline), Chromium (browser tests) and a CJK font (the Chinese words in
# the Chinese edition's figures, genviz_utils/editions.py; without one they keep their English words). Installed
# when we are root and they are missing; otherwise say what is missing.
CJK_FONT := /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc
DEBS := $(if $(wildcard /usr/share/datasets/fashion-mnist),,dataset-fashion-mnist) $(if $(wildcard /usr/bin/chromium),,chromium) \
	$(if $(wildcard $(CJK_FONT)),,fonts-noto-cjk)
sysdeps:
	@if [ -n "$(strip $(DEBS))" ]; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    apt-get install -y -qq $(DEBS) >/dev/null 2>&1 || \
	    { apt-get update -qq >/dev/null 2>&1; apt-get install -y -qq $(DEBS) >/dev/null 2>&1; } || \
	    echo "note: could not install $(DEBS)"; \
	  else echo "note: not installed: $(DEBS) (Debian packages; without them torchvision downloads the data, the" \
	    "browser tests need a Chromium, and the Chinese edition's figures keep their English words)"; fi; \
	fi

data: $(STAMP) sysdeps
	$(BIN)/python -m genviz_utils.data fashion-mnist

# The widget manager and RequireJS, from npm, so that no page loads them from a CDN. They are served from an
# extra path (html_extra_path), not _static/, which would load them on every page and draw each widget twice.
WIDGETS := _build/assets/widgets
assets: $(WIDGETS)/embed-amd.js
$(WIDGETS)/embed-amd.js: Makefile book/_widgets/require-config.js
	@command -v npm >/dev/null || { echo "npm is needed to bundle the widget JavaScript (apt-get install npm)"; exit 1; }
	mkdir -p .cache/npm $(WIDGETS)/@jupyter-widgets/html-manager/dist
	cd .cache/npm && npm install --silent --no-audit --no-fund --no-package-lock \
	  @jupyter-widgets/html-manager@1.0.15 requirejs@2.3.8
	cp -r .cache/npm/node_modules/@jupyter-widgets/html-manager/dist/. $(WIDGETS)/@jupyter-widgets/html-manager/dist/
	rm -f $(WIDGETS)/@jupyter-widgets/html-manager/dist/*.js $(WIDGETS)/@jupyter-widgets/html-manager/dist/*.map
	cp .cache/npm/node_modules/@jupyter-widgets/html-manager/dist/embed-amd.js $(WIDGETS)/embed-amd.js
	cp .cache/npm/node_modules/requirejs/require.js $(WIDGETS)/require.js
	cp book/_widgets/require-config.js $(WIDGETS)/require-config.js
	@# its fallback module source is a CDN; point it at this site (standard controls are bundled anyway)
	sed -i 's#https://cdn.jsdelivr.net/npm/#./#g' $(WIDGETS)/embed-amd.js
	@# its controls typeset labels with MathJax 2's MathJax.Hub.Queue, which throws under this site's MathJax 3
	@# whenever MathJax has loaded first: use MathJax 3's typesetPromise (and nothing while MathJax starts up)
	sed -i 's|void 0!==window.MathJax&&MathJax.Hub.Queue(\["Typeset",MathJax.Hub,e\])|void 0!==window.MathJax\&\&(MathJax.typesetPromise?MathJax.typesetPromise([e]):MathJax.Hub\&\&MathJax.Hub.Queue(["Typeset",MathJax.Hub,e]))|g' $(WIDGETS)/embed-amd.js
	@! grep -q '&&MathJax.Hub.Queue(\["Typeset",MathJax.Hub,e\])}' $(WIDGETS)/embed-amd.js || { echo "could not patch embed-amd.js"; exit 1; }

REPORT_BENCH := --bench _build/bench/bench.json --live _build/bench/live.json

# The Chinese edition of the site built into $(1) (its _build/html and the execution cache it left), built in $(2)
# from that cache (no notebook runs again) and copied to $(1)/_build/html/zh; $(3): the English build's other
# variables. Its config is tools/i18n.py's. It starts afresh (about half a minute), so that every figure's words
# are checked against the table as it is now.
define chinese_edition
rm -rf $(2) && $(BIN)/python tools/i18n.py config zh_CN $(2)/_config.yml --cache $(1)/_build/.jupyter_cache && \
	$(3) GENVIZ_FOR_WEBSITE=1 $(BIN)/jupyter-book build . --config $(2)/_config.yml --path-output $(2) -W -n --keep-going && \
	rm -rf $(1)/_build/html/zh && cp -r $(2)/_build/html $(1)/_build/html/zh
endef

# Results of the notebooks (for the status page and _build/metrics.json) are written here.
book: export GENVIZ_PROFILE ?= book
book: export GENVIZ_RESULTS := $(CURDIR)/_build/results
# executed for the website: the explorers leave out their ipywidgets sliders (no kernel answers them there); the
# live twins (genviz_utils.live), which compute in the reader's browser, take their place
book: export GENVIZ_FOR_WEBSITE := 1
book: data assets
	@mkdir -p _build
	@# the execution cache does not know the profile: start afresh when it changes
	@if [ "$$(cat _build/.profile 2>/dev/null)" != "$(GENVIZ_PROFILE)" ]; then rm -rf _build/.jupyter_cache _build/jupyter_execute _build/html; fi
	@echo "$(GENVIZ_PROFILE)" > _build/.profile
	@# pass 1 executes the notebooks (they write _build/results); pass 2 re-renders the status page from them
	$(BIN)/python -m genviz_utils.report --results _build/results --json _build/metrics.json --markdown book/_generated/metrics.md $(REPORT_BENCH)
	$(BIN)/jupyter-book build . -W -n --keep-going
	$(BIN)/python -m genviz_utils.report --results _build/results --json _build/metrics.json --markdown book/_generated/metrics.md $(REPORT_BENCH)
	$(BIN)/jupyter-book build . -W -n --keep-going
	@# the Chinese edition (locale/zh_CN), from the notebooks just executed (their cache): into _build/html/zh
	$(call chinese_edition,.,_build/zh)
	@echo "Website: $(CURDIR)/_build/html/index.html (中文版: $(CURDIR)/_build/html/zh/index.html)"

# Checkpoints and results of the test run go to a fresh folder, so every notebook really trains. A small
# website is built from the smoke-profile notebooks for the browser tests (tests/test_site.py).
test: export GENVIZ_PROFILE := smoke
test: export GENVIZ_CACHE := $(CURDIR)/.cache/test
test: export GENVIZ_RESULTS := $(CURDIR)/.cache/test/results
test: data assets
	$(BIN)/ruff check genviz_utils tests book/_ext ci tools notebooks
	rm -rf .cache/test _build/smoke _build/smoke-zh && mkdir -p .cache/test
	$(BIN)/python -m genviz_utils.report --results $$GENVIZ_RESULTS --json .cache/test/metrics.json --markdown book/_generated/metrics.md
	GENVIZ_CACHE=$(CURDIR)/.cache/test/site GENVIZ_FOR_WEBSITE=1 $(BIN)/jupyter-book build . -W -n --keep-going --path-output _build/smoke
	$(call chinese_edition,_build/smoke,_build/smoke-zh,GENVIZ_CACHE=$(CURDIR)/.cache/test/site)
	GENVIZ_CACHE=$(CURDIR)/.cache/test/nbval GENVIZ_SITE=$(CURDIR)/_build/smoke/_build/html \
	  $(BIN)/python -m pytest tests notebooks \
	  --nbval-lax --nbval-current-env --durations=15 -p no:cacheprovider

# The FD against training seconds of the last `make book` (from _build/metrics.json, printed), then the training
# throughput of the ae, vae, vqvae and gan models (about 1.5 min here); the status page shows it at the next
# `make book`. Then the live explorers of the built site, if there is one (tools/live_bench.py).
bench: data
	$(BIN)/python -m genviz_utils.bench --out _build/bench/bench.json
	@# the live explorers of a built site: payload per page, time to the first image, time per redraw
	@if [ -f _build/html/index.html ]; then $(BIN)/python tools/live_bench.py --site _build/html --out _build/bench/live.json; \
	  else echo "no built site (make book): the live explorers' bench is skipped"; fi

# Every notebook run top to bottom (smoke profile, nbclient) in a separate venv with Colab's Python and preinstalled
# packages (ci/colab-constraints.txt, e.g. ipywidgets 7.7.1; made once in .cache/venv-colab), the course installed only
# by each notebook's own install cell from a wheel of the checkout (GENVIZ_INSTALL_SPEC). Fails when the install cell
# changes a preinstalled package or a widget cell shows no widget. About 6 min on a fresh machine (CI runs it after
# `make test`). COLAB_PYTHON=/path/to/python3.12 picks the interpreter (default: pyenv's 3.12.1, python3.12).
COLAB_PYTHON ?=
colab-check: data
	$(BIN)/python ci/colab_check.py $(if $(COLAB_PYTHON),--python $(COLAB_PYTHON))

lint: $(STAMP)
	$(BIN)/ruff check genviz_utils tests book/_ext ci tools notebooks

# Remove outputs from every notebook before committing.
strip: $(STAMP)
	$(BIN)/jupyter nbconvert --clear-output --inplace notebooks/*.ipynb

clean:
	rm -rf _build .cache
