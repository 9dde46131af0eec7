# idg: two commands for a newcomer.
#   make smoke   set up (first time: a venv in $(VENV), ~5 min) and run the smoke study
#   make test    set up and run the test suite (what CI runs)
# Other targets: make setup, make run ARGS="dataset=safari sampler=grid", make bench

VENV ?= $(HOME)/.cache/idg/venv
PY := $(VENV)/bin/python
# torch/torchvision pins: the CUDA 13 build this project is tested with (pip takes it from a local mirror
# here). On another machine pick the build for your hardware, e.g. make setup TORCH="torch torchvision".
TORCH ?= torch==2.14.1 torchvision==0.29.1
DEPS_HASH := $(shell cat pyproject.toml | sha256sum | cut -c1-12)
STAMP := $(VENV)/.idg-deps-$(DEPS_HASH)

.PHONY: setup smoke run test bench

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e ".[test]"
	rm -f $(VENV)/.idg-deps-*
	touch $@

# The venv may be shared by several checkouts: point its editable install at this one every time (~2 s).
setup: $(STAMP)
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .

smoke: setup
	$(PY) -m idg.run experiment=smoke

run: setup
	$(PY) -m idg.run $(ARGS)

# pytest exits 5 when it collects no test; that is not a failure of the suite.
test: setup
	$(PY) -m pytest -q; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 0; fi; exit $$rc

bench: setup
	$(PY) benchmarks/generation.py
