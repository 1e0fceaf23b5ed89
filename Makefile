# Sluice: the two commands a newcomer needs are `make demo` and `make test`.
# Both install missing Debian packages first (idempotent), then build with CMake and Ninja.

JOBS ?= $(shell nproc)
BUILD := build
ASAN_BUILD := build-asan
FUZZ_BUILD := build-fuzz
FUZZ_SECONDS ?= 15

.PHONY: all deps build build-asan build-fuzz test unit fuzz integration demo bench clean format

all: build

deps:
	@scripts/install-deps.sh

# Release build: build/sluice (the documented contract).
build: deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release -DSLUICE_TESTS=ON >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# Test build: AddressSanitizer + UndefinedBehaviorSanitizer; unit and integration tests run it.
build-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSLUICE_SANITIZE=ON \
	  -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g" >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)

build-fuzz: deps
	@cmake -S . -B $(FUZZ_BUILD) -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
	  -DSLUICE_FUZZ_ONLY=ON >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS)

unit: build-asan
	@echo "== unit tests (ASan+UBSan)"
	@ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 $(ASAN_BUILD)/sluice_unit_tests --gtest_brief=1

fuzz: build-fuzz
	@echo "== fuzz smoke ($(FUZZ_SECONDS)s per target)"
	@for t in frontend_decoder_fuzz backend_relay_fuzz literal_shape_fuzz; do \
	  mkdir -p $(FUZZ_BUILD)/corpus-$$t; \
	  if ! $(FUZZ_BUILD)/$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=0 \
	      -artifact_prefix=$(FUZZ_BUILD)/ $(FUZZ_BUILD)/corpus-$$t tests/fuzz/seeds \
	      > $(FUZZ_BUILD)/$$t.log 2>&1; then \
	    tail -40 $(FUZZ_BUILD)/$$t.log; \
	    echo "fuzz target $$t failed: its log and the input are in $(FUZZ_BUILD)/"; exit 1; \
	  fi; \
	  echo "$$t: $$(tail -1 $(FUZZ_BUILD)/$$t.log)"; \
	done

integration: build-asan
	@echo "== integration tests (real PostgreSQL 15, psql, libpq, psycopg, JDBC, node-postgres, pgbench)"
	@SLUICE_BUILD=$(ASAN_BUILD) /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration

test: unit fuzz integration
	@echo "== all tests passed"

demo: build
	@scripts/demo.sh $(BUILD)/sluice

# Benchmarks (not tests): the analyzer's and identity's Google Benchmarks, then pgbench through
# the proxies.
bench: deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release -DSLUICE_TESTS=ON -DSLUICE_BENCH=ON >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)
	@$(BUILD)/analyzer_bench --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
	@$(BUILD)/identity_bench --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
	@$(BUILD)/audit_bench
	@AUDIT="off batch fsync" bench/pgbench.sh $(BUILD)/sluice

format:
	@clang-format -i $$(git ls-files '*.cc' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
