# qconv developer commands. `make demo` and `make test` work on a fresh machine with
# Python >= 3.10, g++ and make.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
QCONV  := $(VENV)/bin/qconv
DEMO   := build/demo

.PHONY: demo test test-fast venv clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,csim,rtl,dask,data,eval]'
	touch $@

venv: $(VENV)/.installed

demo: $(VENV)/.installed
	$(PY) examples/make_jet_mlp.py $(DEMO)/jet_mlp.onnx
	$(QCONV) inspect $(DEMO)/jet_mlp.onnx
	$(QCONV) build $(DEMO)/jet_mlp.onnx -o $(DEMO)/prj --csim --samples 1000

# Tests run in JOBS processes (pytest-xdist; CI has 2 cores), spread over them as they finish. A
# module-scoped fixture is built in each process that runs its tests (the costliest, the ap_fixed
# header build of tests/test_fixed_vs_ap_fixed.py, takes ~35 s).
JOBS ?= 2
PYTEST := $(PY) -m pytest -q -ra -n $(JOBS)

test: $(VENV)/.installed
	$(PYTEST) --durations=25

test-fast: $(VENV)/.installed
	$(PYTEST) -m 'not slow'

clean:
	rm -rf build $(VENV) .pytest_cache

# Benchmarks against hls4ml (bench/run.py; about 2 minutes on 2 cores, 4.5 with --scaling; bench-quick < 1 min).
# BENCH_ARGS="--scaling --json bench.json" adds the scaling run and writes every figure.
.PHONY: bench bench-quick
BENCH_ARGS ?=
$(VENV)/.bench-installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[bench]'
	touch $@

bench: $(VENV)/.bench-installed
	$(PY) bench/run.py $(BENCH_ARGS)

bench-quick: $(VENV)/.bench-installed
	$(PY) bench/run.py --quick $(BENCH_ARGS)

# The design cost model and folding search (issue 13; no hls4ml run, no synthesis tool, ~15 s):
# published hls4ml numbers side by side, every corpus model on an xcvu13p, the search's time.
.PHONY: bench-design
bench-design: $(VENV)/.installed
	$(PY) bench/hls4ml_compare.py
	$(PY) bench/fit_corpus.py --json build/fit_xcvu13p.json --markdown build/fit_xcvu13p.md
	$(PY) bench/folding.py
	$(PY) bench/da.py
