# LEAP toolkit. `make demo` runs the pipeline on bundled real data; `make test` runs the tests.
# Both set up .venv on first use. Reproduction targets for the full EPIC-100 run are below.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# torch is installed in the same pip command as sentence-transformers, pinned, so pip never
# resolves an unpinned torch to a multi-GB CUDA wheel on a CPU machine. On a machine whose
# index has no CPU build of this version, point PIP_TORCH_ARGS at one (e.g. --extra-index-url ...).
TORCH          ?= torch==2.13.0
PIP_TORCH_ARGS ?=
# onnxruntime or onnxruntime-gpu: never both (they overwrite each other's files).
ORT_EXTRA ?= $(shell command -v nvidia-smi >/dev/null 2>&1 && echo gpu || echo cpu)

.PHONY: install test demo man clean
.DEFAULT_GOAL := help

help:
	@echo "make demo    run the whole pipeline on bundled real EPIC data (sets itself up)"
	@echo "make test    run the test suite (sets itself up)"
	@echo "make install create $(VENV) with the project and its $(ORT_EXTRA),train,dev extras"
	@echo "make man     regenerate man/ from the tools' --help"
	@echo "make clean   remove build outputs (keeps $(VENV))"

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(PIP_TORCH_ARGS) "$(TORCH)" -e ".[$(ORT_EXTRA),train,dev,plot]"
	touch $@

test: install
	$(BIN)/python -m pytest -q

man: install
	rm -f man/leap-*.1
	$(BIN)/python -m leap_cli.manpages man

clean:
	rm -rf build .pytest_cache .hypothesis
