# The two commands of the README:
#   make run   install what is missing, build, start the broker on 127.0.0.1:9092
#   make test  install what is missing, build, run every test (also under ASan+UBSan)
#   make fuzz  long libFuzzer runs in build-fuzz/ (FUZZ_SECONDS per target, default 1800)
BUILD      ?= build
BUILD_SAN  ?= build-san
JOBS       ?= $(shell nproc)
DATA       ?= ./data

.PHONY: all deps build build-san test test-fast test-san run bench fuzz format clean install

all: build

deps:
	@scripts/install-deps.sh all

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

$(BUILD_SAN)/CMakeCache.txt:
	CC=clang cmake -S . -B $(BUILD_SAN) -DCMAKE_BUILD_TYPE=Debug -DND_SANITIZE=ON

build-san: $(BUILD_SAN)/CMakeCache.txt
	cmake --build $(BUILD_SAN) -j $(JOBS)

# The whole suite, then the whole suite again under ASan+UBSan (clang).
test: deps
	$(MAKE) test-fast
	$(MAKE) test-san

test-fast: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 600

test-san: build-san
	cd $(BUILD_SAN) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j $(JOBS) --timeout 900

run: deps build
	$(BUILD)/cli/nodata serve --data $(DATA)

bench: deps build
	$(BUILD)/bench/nodata-bench

fuzz: deps
	FUZZ_SECONDS=$(FUZZ_SECONDS) JOBS=$(JOBS) BUILD_FUZZ=build-fuzz sh fuzz/run.sh

install: build
	cmake --install $(BUILD)

format:
	git ls-files '*.c' '*.h' | xargs clang-format -i

clean:
	rm -rf $(BUILD) $(BUILD_SAN)
