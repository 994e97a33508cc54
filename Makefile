# Every target creates .venv and installs learnsim into it when needed; a second run is fast.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test test-all bench lint system-deps clean

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
	$(PY) -m pytest -m "not slow and not gpu" -q

test-all: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) benchmarks/fem_static.py
	$(PY) benchmarks/dynamics.py
	$(PY) benchmarks/rollout_memory.py

lint: $(STAMP)
	$(PY) -m ruff check learnsim tests benchmarks examples
	$(PY) -m ruff format --check learnsim tests benchmarks examples

clean:
	rm -rf $(VENV) out .pytest_cache
