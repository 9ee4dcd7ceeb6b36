# triscope — build, demo and tests. Everything installs into a local virtual environment;
# nothing is installed by hand. `make PYTHON=python3.12 test` uses another interpreter (found
# on PATH or among pyenv's versions) with its own environment, .venv-3.12.

PYTHON ?= python3
# The first candidate that really runs: a pyenv shim exists for every version but only runs
# the ones pyenv has activated.
PY := $(shell for c in $$(command -v $(PYTHON) 2>/dev/null) $$(ls -d $$HOME/.pyenv/versions/*/bin/$(PYTHON) 2>/dev/null | sort -V -r); do "$$c" -c "" 2>/dev/null && { echo "$$c"; break; }; done)
ifeq ($(PY),)
$(error cannot find the interpreter $(PYTHON))
endif
PYVER := $(shell $(PY) -c 'import sys; print("%d.%d" % sys.version_info[:2])')
ifeq ($(PYTHON),python3)
VENV ?= .venv
else
VENV ?= .venv-$(PYVER)
endif
VPY := $(VENV)/bin/python
BUILD_DIR := build/py$(PYVER)
SOURCES := $(shell find src -type f -not -name '*.pyc') meson.build meson.options pyproject.toml
PYTEST_ARGS ?=

.PHONY: all build demo test ctest pytest browser-deps clean

all: build

build: $(VENV)/.installed

$(VENV)/.deps:
	$(PY) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q 'meson-python>=0.15' 'meson>=1.2' ninja pytest jsonschema numpy
	touch $@

# Rebuilt only when a source changed; the meson build directory is kept, so a rebuild
# compiles only what changed.
$(VENV)/.installed: $(VENV)/.deps $(SOURCES)
	$(VPY) -m pip install -q --no-build-isolation --no-deps -Cbuild-dir=$(BUILD_DIR) .
	touch $@

demo: build
	cd examples && ../$(VENV)/bin/triscope --cli demo.py

ctest: $(VENV)/.deps
	@if [ ! -d build/ctest-$(PYVER) ]; then \
	  PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(VENV)/bin/meson setup build/ctest-$(PYVER) -Dtests=true >/dev/null; fi
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(VENV)/bin/meson test -C build/ctest-$(PYVER) --print-errorlogs

# The HTML viewer's tests drive Debian's chromium through playwright (never a browser
# download). Where either cannot be installed they are skipped, with a loud warning here and
# in pytest's summary.
browser-deps: $(VENV)/.deps
	@$(VPY) -c "import playwright" 2>/dev/null || $(VPY) -m pip install -q playwright || \
	  echo "*** WARNING: cannot install playwright: the browser tests will be SKIPPED ***" >&2
	@command -v chromium >/dev/null || { echo "installing chromium for the browser tests"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  echo "*** WARNING: cannot install chromium: the browser tests will be SKIPPED ***" >&2

pytest: build browser-deps
	$(VPY) -m pytest tests -q -rs $(PYTEST_ARGS)

test: ctest pytest

clean:
	rm -rf build .venv .venv-* profile.json examples/profile.json
