# Entry points: make build | make test | make demo. Each installs what is missing first.
.PHONY: deps configure build test demo clean

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

test: build
	ctest --preset release -j $(JOBS)

demo: build
	bash scripts/demo.sh

clean:
	rm -rf build build-debug build-asan

# libFuzzer targets (clang, ASan+UBSan, no LibTorch): FUZZ_SECONDS per target, default 60.
.PHONY: fuzz
fuzz:
	bash scripts/fuzz.sh
