# The commands a newcomer types. The real build is CMake (CMakePresets.json); this only
# strings the steps together. Every target runs tools/setup first, which installs what is missing.
PRESET    ?= dev
BUILD     := build/$(PRESET)
CMKSIM    := $(BUILD)/tools/cmksim
JOBS      ?= $(shell nproc)
export PATH := $(CURDIR)/.tools/bin:$(PATH)

.PHONY: all setup build test test-asan valgrind demo serve fuzz bench format check-format clean

all: build

setup:
	@tools/setup

build: setup
	@cmake --preset $(PRESET) >/dev/null
	@cmake --build --preset $(PRESET) -j $(JOBS)

# The whole suite (with -Werror), then the whole suite again under ASan+UBSan (-Werror too).
test: setup
	@cmake --preset ci >/dev/null
	@cmake --build --preset ci -j $(JOBS)
	@ctest --preset ci -j $(JOBS) --timeout 600
	@$(MAKE) --no-print-directory test-asan

# The suite under ASan+UBSan (only the unit tests: `make test-asan LABELS="-L unit"`). Every
# process's sanitizer reports are written to build/asan/sanitizer-reports, because a server
# started by a client test has no terminal to print them on; any report fails the run and is
# printed. The valgrind test is not in this build: valgrind cannot run ASan binaries.
LABELS ?=
SANITIZER_REPORTS := $(CURDIR)/build/asan/sanitizer-reports
test-asan: setup
	@cmake --preset asan >/dev/null
	@cmake --build --preset asan -j $(JOBS)
	@rm -rf $(SANITIZER_REPORTS) && mkdir -p $(SANITIZER_REPORTS)
	@status=0; \
	 ASAN_OPTIONS=detect_leaks=1:log_path=$(SANITIZER_REPORTS)/asan \
	 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$(SANITIZER_REPORTS)/ubsan \
	 ctest --preset asan -j $(JOBS) --timeout 900 $(LABELS) || status=$$?; \
	 if ls $(SANITIZER_REPORTS)/* >/dev/null 2>&1; then \
	   cat $(SANITIZER_REPORTS)/*; echo "test-asan: sanitizer reports (above) in $(SANITIZER_REPORTS)"; status=1; \
	 fi; exit $$status

# The whole scenario library under valgrind memcheck: zero errors and zero leaks, suppressions
# only from tools/valgrind.supp (third-party libraries, each justified), in $(JOBS) shards side by
# side. About 27 CPU-minutes (RSA key generation under valgrind), so `make test` runs two
# scenarios of it (ctest label valgrind) and this the whole library.
valgrind: build
	@status=0; pids=; for i in $$(seq 1 $(JOBS)); do \
	   valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect,possible \
	     --suppressions=tools/valgrind.supp $(CMKSIM) run scenarios/cases/ --shard $$i/$(JOBS) --quiet & \
	   pids="$$pids $$!"; \
	 done; for p in $$pids; do wait $$p || status=1; done; exit $$status

demo: build
	@tools/demo $(CMKSIM)

serve: build
	@$(CMKSIM) serve $(ARGS)

fuzz: setup
	@cmake --preset fuzz >/dev/null
	@cmake --build --preset fuzz -j $(JOBS)
	@tools/fuzz/run-all build/fuzz $(or $(SECONDS),60) $(or $(PARALLEL),1)

bench: build
	@for b in bench/*/run; do echo "== $$b"; $$b $(BUILD) || exit 1; done

format:
	@git ls-files '*.c' '*.h' | xargs clang-format -i

check-format:
	@git ls-files '*.c' '*.h' | xargs clang-format --dry-run --Werror

clean:
	@rm -rf build
