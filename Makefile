# Convenience front end; the build itself is CMake.
#   make run    install deps, build, start the demo origin and ringcache
#   make test   install deps, build, run every test
#   make fuzz   build the libFuzzer harnesses with clang, run each FUZZ_SECONDS
#   make deb    build the Debian package, $(BUILD)-deb/ringcache_<version>_<arch>.deb
BUILD ?= build
TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)

.PHONY: all deps build test test-sanitize fuzz deb run clean format

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

# libFuzzer harnesses (tests/fuzz/README.md): clang, ASan+UBSan, each run
# for FUZZ_SECONDS on a scratch copy of its corpus; fails on any crash,
# leak, timeout or out-of-memory.
FUZZ_SECONDS ?= 60
fuzz: deps
	CC=clang cmake -S . -B $(BUILD)-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRINGCACHE_FUZZ=ON \
		-DRINGCACHE_TESTS=OFF >/dev/null
	cmake --build $(BUILD)-fuzz -j $(JOBS) --target fuzzers
	tests/fuzz/run.sh $(BUILD)-fuzz $(FUZZ_SECONDS)

# The Debian package (debian/; README, Operation). dpkg-buildpackage runs
# on a copy of the working tree (tracked and new files, not ignored ones),
# since it writes into debian/ and puts its results in the parent directory.
DEB_DIR ?= $(BUILD)-deb
deb:
	./scripts/deps.sh deb
	rm -rf $(DEB_DIR)
	mkdir -p $(DEB_DIR)/src
	git ls-files -z --cached --others --exclude-standard | \
		tar --null -T - -cf - | tar -xf - -C $(DEB_DIR)/src
	cd $(DEB_DIR)/src && dpkg-buildpackage -b --no-sign -j$(JOBS) >../build.log 2>&1 || \
		{ tail -40 ../build.log >&2; exit 1; }
	rm -rf $(DEB_DIR)/src
	@ls $(DEB_DIR)/*.deb

run: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(TYPE) >/dev/null
	cmake --build $(BUILD) -j $(JOBS) --target ringcache ringcache-origin
	./scripts/run-demo.sh $(BUILD)

clean:
	rm -rf $(BUILD)

format:
	clang-format -i $$(git ls-files 'src/*.c' 'src/*.h' 'tests/*.c' 'tests/*.h' 'bench/*.c')
