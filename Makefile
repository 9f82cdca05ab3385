# Remote Sensing AI Toolbox: `make demo` and `make test` do all set-up themselves.
SHELL := /bin/bash
PY := .venv/bin/python
export QT_QPA_PLATFORM ?= offscreen

.PHONY: setup setup-demo demo test test-unit bench clean deps package

setup:  ## QGIS from the distribution when missing, then .venv with everything the tests need
	bash scripts/setup_env.sh test

setup-demo:  ## QGIS when missing, then .venv with the small set only (requirements/demo.txt: no PyTorch)
	bash scripts/setup_env.sh demo

demo: setup-demo  ## run the tools headless on generated sample inputs (no PyTorch needed)
	bash scripts/demo.sh

test: setup  ## every test: core units, algorithms inside QGIS, qgis_process end to end
	$(PY) -m pytest -q tests

test-unit: setup
	$(PY) -m pytest -q tests/unit

bench: setup  ## speed and memory, printed as ratios (see bench/README.md)
	$(PY) bench/bench_engine.py

clean:
	rm -rf build .pytest_cache

deps:  ## the plugin's runtime packages into its folder in the QGIS profile (python3 scripts/deps.py --help)
	/usr/bin/python3 scripts/deps.py $(DEPS_ARGS)

package:  ## dist/rsai_toolbox-<version>.zip for plugins.qgis.org (then: bandit -r -ll on it)
	python3 scripts/package.py
