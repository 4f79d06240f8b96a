# The two commands of the README:
#   make run   install what is missing, build, start the broker on 127.0.0.1:9092
#   make test  install what is missing, build, run every test (also under ASan+UBSan,
#              and the library's concurrency tests under ThreadSanitizer)
#   make fuzz  long libFuzzer runs in build-fuzz/ (FUZZ_SECONDS per target, default 1800)
BUILD      ?= build
BUILD_SAN  ?= build-san
BUILD_TSAN ?= build-tsan
# The library tests that race threads against each other.
TSAN_TESTS  = test_threads test_limits test_offsets test_producer test_store test_waitset test_reader test_worker test_cleaner test_txn_log test_txn_coord test_stats
JOBS       ?= $(shell nproc)
DATA       ?= ./data

.PHONY: all deps build build-san test test-fast test-san test-tsan run bench bench-kafka bench-compaction bench-txn bench-metrics bench-tls bench-rebalance bench-console fuzz format clean install

all: build

deps:
	@scripts/install-deps.sh all

# The console's pages: rebuilds console/dist from console/ with the locked
# npm packages (needs node and npm). dist is committed, so building nodata
# needs neither; commit dist with the sources that made it
# (tests/compat/test_console_assets.py checks they match).
.PHONY: console
console:
	cd console && npm ci --no-audit --no-fund && npm run build

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

$(BUILD_SAN)/CMakeCache.txt:
	CC=clang cmake -S . -B $(BUILD_SAN) -DCMAKE_BUILD_TYPE=Debug -DND_SANITIZE=ON

build-san: $(BUILD_SAN)/CMakeCache.txt
	cmake --build $(BUILD_SAN) -j $(JOBS)

# The whole suite, then the whole suite again under ASan+UBSan (clang).
# The second pass compares nodata with Kafka's answers kept by the first
# (tests/compat/differential.py, ND_ORACLE_CACHE) instead of starting
# Kafka again for each scenario.
ORACLE_CACHE = $(CURDIR)/$(BUILD)/oracle-cache
test: deps
	rm -rf $(ORACLE_CACHE)
	ND_ORACLE_CACHE=$(ORACLE_CACHE) $(MAKE) test-fast
	ND_ORACLE_CACHE=$(ORACLE_CACHE) $(MAKE) test-san
	$(MAKE) test-tsan

test-fast: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 600

test-san: build-san
	cd $(BUILD_SAN) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j $(JOBS) --timeout 900

$(BUILD_TSAN)/CMakeCache.txt:
	CC=clang cmake -S . -B $(BUILD_TSAN) -DCMAKE_BUILD_TYPE=Debug -DND_TSAN=ON

test-tsan: $(BUILD_TSAN)/CMakeCache.txt
	cmake --build $(BUILD_TSAN) -j $(JOBS) --target $(TSAN_TESTS)
	cd $(BUILD_TSAN) && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	  ctest --output-on-failure -j $(JOBS) --timeout 600 \
	  -R '^($(subst $() ,|,$(TSAN_TESTS)))$$'

# Kafka's shipped server.properties sets group.initial.rebalance.delay.ms=0
# "for a better out-of-the-box experience for development and testing"; the
# broker's own default stays Kafka's code default, 3000 ms. The web console
# (docs/console.md) on 127.0.0.1:9644, beside /metrics.
RUN_ARGS   ?= --group-initial-delay-ms 0 --http 127.0.0.1:9644

run: deps build
	$(BUILD)/cli/nodata serve --data $(DATA) $(RUN_ARGS)

bench: deps build
	$(BUILD)/bench/nodata-bench

# nodata serve against Apache Kafka 4.4 on this machine, same clients, one
# run (bench/broker/README.md). Debian's python3: it has confluent_kafka.
bench-kafka: deps build
	NODATA_BUILD=$(BUILD) /usr/bin/python3 bench/broker/vs-kafka.py $(BENCH_ARGS)

# The log cleaner against Kafka's (bench/broker/README.md); BENCH_ARGS=--gb
# for the 1 GB partition.
bench-compaction: deps build
	NODATA_BUILD=$(BUILD) /usr/bin/python3 bench/broker/compaction-vs-kafka.py $(BENCH_ARGS)

# Transactions against Kafka's (bench/broker/README.md): produce with 1, 10,
# 100 batches a transaction and read_committed consume, both durabilities.
bench-txn: deps build
	NODATA_BUILD=$(BUILD) /usr/bin/python3 bench/broker/txn-vs-kafka.py $(BENCH_ARGS)

# What scraping /metrics every second costs produce (bench/broker/README.md).
bench-metrics: deps build
	NODATA_BUILD=$(BUILD) /usr/bin/python3 bench/broker/metrics-cost.py $(BENCH_ARGS)

# What TLS costs nodata against what it costs Kafka (bench/broker/README.md).
bench-tls: deps build
	NODATA_BUILD=$(BUILD) /usr/bin/python3 bench/broker/tls-cost.py $(BENCH_ARGS)

# Consumer-group rebalances, classic against KIP-848, nodata against Kafka
# (bench/broker/README.md); BENCH_ARGS=--churn for the churn scenario.
# It runs in the PyPI venv of tests/compat/pyvenv.py (confluent-kafka 2.16).
bench-rebalance: deps build
	NODATA_BUILD=$(BUILD) python3 bench/broker/rebalance.py $(BENCH_ARGS)

# What the web console costs produce with four browser tabs open, and the
# topic list's load time with 1,000 topics (bench/broker/README.md).
bench-console: deps build
	NODATA_BUILD=$(BUILD) /usr/bin/python3 bench/broker/console.py $(BENCH_ARGS)

fuzz: deps
	FUZZ_SECONDS=$(FUZZ_SECONDS) JOBS=$(JOBS) BUILD_FUZZ=build-fuzz sh fuzz/run.sh

# `make install` puts the program in PREFIX/bin, the libraries, headers,
# pkg-config files and the systemd unit (dist/) under PREFIX (default
# /usr/local, or the prefix the build was configured with), staged under
# DESTDIR when set (packaging: the unit still names PREFIX/bin/nodata).
PREFIX     ?=
install: build
	DESTDIR='$(DESTDIR)' cmake --install $(BUILD) $(if $(PREFIX),--prefix '$(PREFIX)')

format:
	git ls-files '*.c' '*.h' | xargs clang-format -i

clean:
	rm -rf $(BUILD) $(BUILD_SAN) $(BUILD_TSAN)
