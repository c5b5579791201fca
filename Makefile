# The commands a newcomer types. The real build is CMake (CMakePresets.json); this only
# strings the steps together. Every target runs tools/setup first, which installs what is missing.
PRESET    ?= dev
BUILD     := build/$(PRESET)
CMKSIM    := $(BUILD)/tools/cmksim
JOBS      ?= $(shell nproc)
export PATH := $(CURDIR)/.tools/bin:$(PATH)

.PHONY: all setup build test test-asan demo serve fuzz bench format check-format clean

all: build

setup:
	@tools/setup

build: setup
	@cmake --preset $(PRESET) >/dev/null
	@cmake --build --preset $(PRESET) -j $(JOBS)

# The whole suite (with -Werror), then the suite again under ASan+UBSan.
test: setup
	@cmake --preset ci >/dev/null
	@cmake --build --preset ci -j $(JOBS)
	@ctest --preset ci -j $(JOBS) --timeout 600
	@$(MAKE) --no-print-directory test-asan

test-asan:
	@cmake --preset asan >/dev/null
	@cmake --build --preset asan -j $(JOBS)
	@ctest --preset asan -j $(JOBS) --timeout 900 -L unit

demo: build
	@tools/demo $(CMKSIM)

serve: build
	@$(CMKSIM) serve $(ARGS)

fuzz: setup
	@cmake --preset fuzz >/dev/null
	@cmake --build --preset fuzz -j $(JOBS)
	@tools/fuzz/run-all build/fuzz $(or $(SECONDS),60)

bench: build
	@for b in bench/*/run; do echo "== $$b"; $$b $(BUILD) || exit 1; done

format:
	@git ls-files '*.c' '*.h' | xargs clang-format -i

check-format:
	@git ls-files '*.c' '*.h' | xargs clang-format --dry-run --Werror

clean:
	@rm -rf build
