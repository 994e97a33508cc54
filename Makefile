# Every target creates .venv and installs learnsim into it when needed; a second run is fast.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test test-all bench bench-env lint system-deps clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	@$(MAKE) --no-print-directory system-deps
	@touch $(STAMP)

# Off-screen OpenGL for `learnsim render` (pyvista/VTK). Best effort: needs root and apt;
# without it, `learnsim render` says what is missing and everything else still works.
system-deps:
	@if [ -e /usr/lib/x86_64-linux-gnu/libOSMesa.so.8 ] || [ -e /usr/lib/aarch64-linux-gnu/libOSMesa.so.8 ]; then \
		true; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libosmesa6 libegl1 libgl1 >/dev/null) \
		|| echo "note: could not install libosmesa6; 'learnsim render' will explain what is missing"; \
	else \
		echo "note: install libosmesa6 (or libegl1) for off-screen rendering with 'learnsim render'"; \
	fi

demo: $(STAMP)
	$(PY) examples/demo.py --out out/demo

test: $(STAMP)
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m pytest -m "not slow and not gpu" -q

test-all: $(STAMP)
	$(PY) -m pytest -q

# benchmarks/sph.py runs learnsim and jax-sph 0.1.0 in one process, in its own environment:
# jax-sph pins jax[cpu] == jaxlib == 0.4.29 (and Python <= 3.11, which pip reads as excluding
# 3.11.x, hence --ignore-requires-python), learnsim asks for jax >= 0.6. learnsim's SPH engine
# imports no jax, so learnsim goes in with --no-deps next to jax 0.4.29 and the packages its
# engine imports, and jax-sph with --no-deps and the packages its solver imports (matscipy and
# pandas are left out: only its matscipy neighbour backend and its post-processing use them).
# On jax 0.10 (learnsim's) jax-sph runs too, with jax.tree_map aliased, but 15-30 % slower.
BENCH_VENV  := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed-stamp

$(BENCH_STAMP): pyproject.toml
	@test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet "jax[cpu]==0.4.29" "jaxlib==0.4.29" "numpy>=1.26,<2.1" \
		"warp-lang>=1.19,<2" "scipy>=1.12,<2" "pyamg>=5.2,<6" "h5py>=3.10,<4" "pyvista>=0.44,<1" \
		absl-py jraph omegaconf
	$(BENCH_VENV)/bin/pip install --quiet --no-deps --ignore-requires-python jax-sph==0.1.0
	$(BENCH_VENV)/bin/pip install --quiet --no-deps -e .
	@touch $(BENCH_STAMP)

bench-env: $(BENCH_STAMP)

bench: $(STAMP) $(BENCH_STAMP)
	$(PY) benchmarks/fem_static.py
	$(PY) benchmarks/dynamics.py
	$(PY) benchmarks/rollout_memory.py
	$(PY) benchmarks/preconditioners.py
	$(BENCH_VENV)/bin/python benchmarks/sph.py

lint: $(STAMP)
	$(PY) -m ruff check learnsim tests benchmarks examples
	$(PY) -m ruff format --check learnsim tests benchmarks examples

clean:
	rm -rf $(VENV) out .pytest_cache
