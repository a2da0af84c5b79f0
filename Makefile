# Convenience front end; the build itself is CMake.
#   make run    install deps, build, start the demo origin and ringcache
#   make test   install deps, build, run every test
BUILD ?= build
TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)

.PHONY: all deps build test test-sanitize run clean format

all: build

deps:
	./scripts/deps.sh all

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(TYPE) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure --timeout 600

# The same suites built with AddressSanitizer + UndefinedBehaviorSanitizer;
# the scenario tests fail when the daemon reports an error or a leak.
test-sanitize: deps
	cmake -S . -B $(BUILD)-asan -DCMAKE_BUILD_TYPE=Debug -DRINGCACHE_SANITIZE=ON >/dev/null
	cmake --build $(BUILD)-asan -j $(JOBS)
	# A small quarantine: freed memory is held back for use-after-free
	# detection, and the default 256 MiB would defeat the RSS checks.
	cd $(BUILD)-asan && ASAN_OPTIONS=quarantine_size_mb=8:detect_leaks=1 \
		UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure --timeout 600

run: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(TYPE) >/dev/null
	cmake --build $(BUILD) -j $(JOBS) --target ringcache ringcache-origin
	./scripts/run-demo.sh $(BUILD)

clean:
	rm -rf $(BUILD)

format:
	clang-format -i $$(git ls-files 'src/*.c' 'src/*.h' 'tests/*.c' 'tests/*.h' 'bench/*.c')
