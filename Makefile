# herald: plain Makefile. `make` builds ./herald; `make test` builds everything with
# ASan+UBSan and runs every test; `make run` starts herald on conf/herald.conf.
# Sources are discovered: add a .cpp under src/ or a tests/test_*.cpp and it is built.

CXX      ?= g++
ifeq ($(origin CXX),default)
  CXX := g++
endif
STD      := -std=c++20
WARN     := -Wall -Wextra -Wpedantic -Wshadow -Werror
DEPFLAGS := -MMD -MP
INCS     := -Iinclude
LDLIBS   := -lcrypto -lpthread

REL_FLAGS  := -O2 -g -DNDEBUG
# The sanitized builds carry line tables only (-g1): enough for every sanitizer report's
# file:line stacks, and a third less compile time than full debug info (-g). Unit-test sources
# (tests/) are compiled without optimisation: they are most of the compile time (Criterion's
# macros, large test files: -O0 compiles them about 2.5x faster) and none of their run time;
# herald's own objects stay at -O1, the same objects the integration suite runs.
SAN_CHECKS := -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
SAN_FLAGS  := -O1 -g1 $(SAN_CHECKS)
SAN_TEST_FLAGS := -O0 -g1 $(SAN_CHECKS)
TSAN_FLAGS := -O1 -g1 -fno-omit-frame-pointer -fsanitize=thread
# The sanitized executables are linked as position-dependent: a PIE unit-test binary spends
# most of each test's start in half a million relative relocations, and Criterion starts a
# process per test (0.27 s -> 0.19 s a test; herald itself is started per integration test).
SAN_LD     := -no-pie

# The Makefile picks the reactor backend and how signals arrive (include/event/
# signal_source.hpp); the code never asks which OS it runs on. The kqueue-emulation build
# takes the self-pipe too, so the receiver BSD and macOS use runs in the tests.
ifeq ($(shell uname -s),Linux)
  POLLER_SRC := src/event/poller_epoll.cpp src/event/signals_signalfd.cpp
else
  POLLER_SRC := src/event/poller_kqueue.cpp src/event/signals_pipe.cpp
endif
KQ_POLLER_SRC := src/event/poller_kqueue.cpp src/event/signals_pipe.cpp

ALL_SRC    := $(shell find src -name '*.cpp' | sort)
LIB_SRC    := $(filter-out src/main.cpp src/event/poller_%.cpp src/event/signals_%.cpp,$(ALL_SRC))
UNIT_SRC   := $(sort $(wildcard tests/test_*.cpp) $(wildcard tests/support/*.cpp))
COMPAT_SRC := $(sort $(wildcard tests/compat/*.cpp))
COMPAT_TEST_SRC := $(sort $(wildcard tests/compat/test_*.cpp))
COMPAT_LIB_SRC  := $(filter-out $(COMPAT_TEST_SRC),$(COMPAT_SRC))

# build/<variant>/<path>.o
objs = $(patsubst %.cpp,build/$(1)/%.o,$(2))

REL_OBJ   := $(call objs,release,$(LIB_SRC) $(POLLER_SRC) src/main.cpp)
SAN_LIB   := $(call objs,asan,$(LIB_SRC) $(POLLER_SRC))
SAN_MAIN  := $(call objs,asan,src/main.cpp)
SAN_UNIT  := $(call objs,asan,$(UNIT_SRC))
# Only the kqueue poller, the self-pipe and the emulation are compiled for it; every other
# object is the ASan build's own, so the second backend costs a few compiles, not a rebuild.
KQ_LIB    := $(call objs,asan,$(LIB_SRC)) $(call objs,kq,$(KQ_POLLER_SRC) $(COMPAT_LIB_SRC))
KQ_MAIN   := $(call objs,asan,src/main.cpp)
# Over kqueue: the reactor suites, the suites that drive a Connection over a socketpair
# (tests/support/connection_rig.hpp) and the emulation's own tests (the pure parsers do not
# touch the backend; the integration suite runs over both backends as a whole).
KQ_UNIT_SRC := tests/test_event_loop.cpp tests/test_poller.cpp tests/test_timer_queue.cpp \
               tests/test_net_connection.cpp tests/test_ws_session.cpp tests/test_http_session.cpp
KQ_UNIT   := $(call objs,asan,$(KQ_UNIT_SRC)) $(call objs,kq,$(COMPAT_TEST_SRC))
TSAN_OBJ  := $(call objs,tsan,$(LIB_SRC) $(POLLER_SRC) src/main.cpp)

.PHONY: all run test test-fast unit integration e2e deps deps-test deps-fuzz deps-lint clean format tsan lint \
        lint-cppcheck lint-layers bench fuzz deb
.DEFAULT_GOAL := all

# The top-level targets build their parts in parallel themselves, so the README's plain
# `make run` / `make test` use every core.
NPROC := $(shell nproc 2>/dev/null || echo 2)

all: deps
	@$(MAKE) --no-print-directory -j$(NPROC) herald

herald: $(REL_OBJ)
	$(CXX) $(STD) $(REL_FLAGS) -o $@ $^ $(LDLIBS)

build/release/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(STD) $(WARN) $(REL_FLAGS) $(DEPFLAGS) $(INCS) -c $< -o $@

build/asan/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(STD) $(WARN) $(SAN_FLAGS) $(DEPFLAGS) $(INCS) -Itests -c $< -o $@

build/asan/tests/%.o: tests/%.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(STD) $(WARN) $(SAN_TEST_FLAGS) $(DEPFLAGS) $(INCS) -Itests -c $< -o $@

# The kqueue backend, compiled against the Linux emulation of <sys/event.h> (tests/compat).
build/kq/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(STD) $(WARN) $(SAN_FLAGS) $(DEPFLAGS) $(INCS) -Itests -Itests/compat -c $< -o $@

build/tsan/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(STD) $(WARN) $(TSAN_FLAGS) $(DEPFLAGS) $(INCS) -c $< -o $@

build/asan/herald: $(SAN_LIB) $(SAN_MAIN)
	$(CXX) $(STD) $(SAN_FLAGS) $(SAN_LD) -o $@ $^ $(LDLIBS)

build/asan/unit_tests: $(SAN_LIB) $(SAN_UNIT)
	$(CXX) $(STD) $(SAN_FLAGS) $(SAN_LD) -o $@ $^ $(LDLIBS) -lcriterion

build/kq/herald: $(KQ_LIB) $(KQ_MAIN)
	$(CXX) $(STD) $(SAN_FLAGS) $(SAN_LD) -o $@ $^ $(LDLIBS)

build/kq/unit_tests: $(KQ_LIB) $(KQ_UNIT)
	$(CXX) $(STD) $(SAN_FLAGS) $(SAN_LD) -o $@ $^ $(LDLIBS) -lcriterion

build/tsan/herald: $(TSAN_OBJ)
	$(CXX) $(STD) $(TSAN_FLAGS) -o $@ $^ $(LDLIBS)

# herald's request parsing alone, for the differential check against llhttp (tests/diff/,
# tests/integration/test_differential.py). Release objects, shared with ./herald.
PARSE_DUMP_SRC := tools/parse_dump.cpp src/http/request.cpp src/http/request_parser.cpp \
                  src/http/chunked.cpp src/http/target.cpp src/core/ascii.cpp
build/tools/parse_dump: $(call objs,release,$(PARSE_DUMP_SRC))
	@mkdir -p $(dir $@)
	$(CXX) $(STD) $(REL_FLAGS) -o $@ $^

# herald's DEFLATE module on stdin/stdout (sanitized), for the round trips against Python's
# zlib (tests/integration/test_deflate.py).
DEFLATE_TOOL_SRC := tools/deflate_tool.cpp src/deflate/inflater.cpp src/deflate/deflater.cpp
build/tools/deflate_tool: $(call objs,asan,$(DEFLATE_TOOL_SRC))
	@mkdir -p $(dir $@)
	$(CXX) $(STD) $(SAN_FLAGS) -o $@ $^

# Debian package: `make deb` -> herald_VERSION_ARCH.deb (pkg/build-deb.sh). The
# binary is built in its own dir with Debian's hardening flags and the packaged default config
# path. VERSION is read by pkg/build-deb.sh from include/app/version.hpp. -Werror is left to
# the other builds: a fortify-only warning should not stop a package build.
DEB_HARDEN   := DEB_BUILD_MAINT_OPTIONS=hardening=+all
DEB_CPPFLAGS  = $(shell $(DEB_HARDEN) dpkg-buildflags --get CPPFLAGS 2>/dev/null)
DEB_CXXFLAGS  = $(shell $(DEB_HARDEN) dpkg-buildflags --get CXXFLAGS 2>/dev/null)
DEB_LDFLAGS   = $(shell $(DEB_HARDEN) dpkg-buildflags --get LDFLAGS 2>/dev/null)
DEB_OBJ      := $(call objs,deb,$(LIB_SRC) $(POLLER_SRC) src/main.cpp)

build/deb/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(STD) $(filter-out -Werror,$(WARN)) -O2 -DNDEBUG $(DEB_CPPFLAGS) $(DEB_CXXFLAGS) \
	  -DHERALD_DEFAULT_CONF='"/etc/herald/herald.conf"' $(DEPFLAGS) $(INCS) -c $< -o $@

build/deb/herald: $(DEB_OBJ)
	$(CXX) $(STD) $(DEB_CXXFLAGS) $(DEB_LDFLAGS) -o $@.tmp $^ $(LDLIBS) && mv $@.tmp $@

deb:
	@tools/deps.sh deb
	@$(MAKE) --no-print-directory build/deb/herald
	@pkg/build-deb.sh build/deb/herald

deps:
	@tools/deps.sh build

deps-test:
	@tools/deps.sh test

run: all
	./herald -c conf/herald.conf

# `make test` is everything CI runs (.ci/run calls it; tools/run-tests.sh arranges it): what
# `make test-fast` runs, then the integration suite under ThreadSanitizer with 4 event loops
# (`make tsan`), every fuzz target for TEST_FUZZ_SECONDS (10; a standalone `make fuzz` runs 60 s
# each) and the static analysis (`make lint`). The TSan build, the fuzz builds and lint run at
# nice 19 in the background while the integration and browser suites (which wait on sockets
# about half the time) run in the foreground: the whole must stay inside CI's 30 minutes.
# `make test-fast`: unit (epoll and kqueue-emulation builds), then integration over loopback
# against the sanitized binary on both backends, then the browser end-to-end suite. The
# kqueue-emulation pass runs every herald on the Redis broker (HERALD_BROKER=redis: one
# redis-server per pytest worker, tests/integration/conftest.py), so the suite runs once over
# each broker at no added cost; the epoll and TSan passes use the memory broker.
# As root the package is built first (the package test installs it; CI runs as root), and
# its optimised binary is the one the fd-exhaustion test runs (UBSan cannot run out of fds);
# otherwise ./herald is built for that.
TEST_FUZZ_SECONDS ?= 10
IS_ROOT  := $(filter 0,$(shell id -u))
TEST_DEB := $(if $(IS_ROOT),deb,herald)
export HERALD_RELEASE_BIN := $(abspath $(if $(IS_ROOT),build/deb/herald,herald))
test: deps-test
	@MAKE="$(MAKE)" NPROC=$(NPROC) TEST_FUZZ_SECONDS=$(TEST_FUZZ_SECONDS) tools/run-tests.sh

# The unit runners use one job each: with -j2, Criterion's runner process itself
# intermittently leaks 48 bytes (a calloc inside libcriterion), which LeakSanitizer reports as
# a failure; a suppression matching libcriterion would also hide real leaks in tests, whose
# stacks pass through the runner's frames. Instead `make unit` runs three one-job runners side
# by side (the epoll build's suites split by name, and the kqueue-emulation build), each
# one's output kept together (-Otarget).
UNIT_ENV := ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1
unit:
	@$(MAKE) --no-print-directory -j$(NPROC) build/asan/unit_tests build/kq/unit_tests
	@$(MAKE) --no-print-directory -j$(NPROC) -Otarget unit-asan-a-h unit-asan-i-z unit-kq
unit-asan-a-h:
	$(UNIT_ENV) build/asan/unit_tests -j1 --filter '[a-h]*/*'
unit-asan-i-z:
	$(UNIT_ENV) build/asan/unit_tests -j1 --filter '[!a-h]*/*'
unit-kq:
	$(UNIT_ENV) build/kq/unit_tests -j1
.PHONY: unit-asan-a-h unit-asan-i-z unit-kq

test-fast: deps-test
	@$(MAKE) --no-print-directory test-builds
	@$(MAKE) --no-print-directory test-run
test-builds:
	@$(MAKE) --no-print-directory -j$(NPROC) $(TEST_DEB) build/asan/herald build/asan/unit_tests \
	  build/kq/herald build/kq/unit_tests
test-run:
	@$(MAKE) --no-print-directory unit
	tools/run-integration.sh build/asan/herald
	HERALD_BACKEND=kqueue HERALD_BROKER=redis tools/run-integration.sh build/kq/herald
	tools/run-e2e.sh build/asan/herald
.PHONY: test-builds test-run tsan-run fuzz-builds

# The integration suite against the ThreadSanitizer build. HERALD_TSAN=1 makes the harness run
# every server with `worker_threads 4;` (unless the test sets a count); a "WARNING:
# ThreadSanitizer" in a server's output fails its test (as does TSan's exit code 66).
tsan: deps-test
	@$(MAKE) --no-print-directory -j$(NPROC) build/tsan/herald
	@$(MAKE) --no-print-directory tsan-run
tsan-run:
	HERALD_TSAN=1 TSAN_OPTIONS="second_deadlock_stack=1 $(TSAN_OPTIONS)" \
	    tools/run-integration.sh build/tsan/herald

# ---- fuzzing -----------------------------------------------------------------------------
# libFuzzer + ASan + UBSan with Debian clang. `make fuzz FUZZ_SECONDS=N` builds every target
# and runs each for N seconds (tests/fuzz/run.sh: scratch corpus under build/fuzz/corpus/,
# dictionary, findings in build/fuzz/artifacts/). With -j2 two targets run at a time.
# `make fuzz FUZZ_TARGETS=http` runs a subset. Each target links only the sources it tests.
FUZZ_CXX       := clang++
FUZZ_SECONDS   ?= 60
FUZZ_TARGETS   ?= http ws config encoders path resp jwt proxy inflate deflate httpc cursor ws_command \
                  handover
FUZZ_FLAGS     := -O1 -g1 -fno-omit-frame-pointer -fsanitize=address,undefined \
                  -fno-sanitize-recover=undefined
FUZZ_SRC_http     := src/http/request_parser.cpp src/http/chunked.cpp src/http/request.cpp \
                     src/http/target.cpp src/core/ascii.cpp
FUZZ_SRC_ws       := src/ws/frame.cpp src/ws/protocol.cpp src/ws/deflate_stats.cpp src/ws/utf8.cpp src/ws/close.cpp \
                     src/deflate/inflater.cpp
FUZZ_SRC_config   := $(sort $(wildcard src/config/*.cpp)) src/core/unique_fd.cpp src/core/ascii.cpp
FUZZ_SRC_encoders := src/push/encode.cpp src/push/message.cpp src/push/resume.cpp src/ws/frame.cpp \
                     src/ws/deflate_frame.cpp \
                     src/ws/close.cpp src/ws/utf8.cpp src/http/chunked.cpp src/deflate/deflater.cpp \
                     src/core/clock.cpp src/core/ascii.cpp src/core/base64url.cpp
FUZZ_SRC_path     := src/http/target.cpp src/http/request.cpp src/core/ascii.cpp
FUZZ_SRC_resp     := src/redis/resp.cpp src/redis/cluster.cpp src/core/buffer.cpp src/core/ascii.cpp
FUZZ_SRC_jwt      := src/auth/jwt.cpp src/auth/json_reader.cpp src/core/base64url.cpp \
                     src/core/hmac.cpp src/core/sha256.cpp
FUZZ_SRC_proxy    := src/net/proxy_protocol.cpp src/net/socket.cpp src/core/unique_fd.cpp
FUZZ_SRC_inflate  := src/deflate/inflater.cpp
FUZZ_SRC_deflate  := src/deflate/deflater.cpp src/deflate/inflater.cpp
FUZZ_SRC_httpc    := src/httpc/response_parser.cpp src/http/chunked.cpp src/core/ascii.cpp
FUZZ_SRC_cursor   := src/push/cursor.cpp src/push/resume.cpp src/core/ascii.cpp
FUZZ_SRC_handover := src/app/handover.cpp
FUZZ_SRC_ws_command := src/push/ws_command.cpp src/auth/json_reader.cpp src/config/values.cpp \
                     $(FUZZ_SRC_encoders)

build/fuzz/obj/%.o: %.cpp | deps-fuzz
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(STD) -Wall -Wextra $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link $(DEPFLAGS) \
	    $(INCS) -Itests -c $< -o $@

define fuzz_target
build/fuzz/fuzz_$(1): build/fuzz/obj/tests/fuzz/fuzz_$(1).o \
                      $(patsubst %.cpp,build/fuzz/obj/%.o,$(FUZZ_SRC_$(1)))
	$(FUZZ_CXX) $(STD) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $$@ $$^
fuzz-$(1): build/fuzz/fuzz_$(1)
	tests/fuzz/run.sh $(1) $(FUZZ_SECONDS)
.PHONY: fuzz-$(1)
endef
$(foreach t,$(FUZZ_TARGETS),$(eval $(call fuzz_target,$(t))))

fuzz: $(FUZZ_TARGETS:%=fuzz-%)
fuzz-builds: $(FUZZ_TARGETS:%=build/fuzz/fuzz_%)

deps-fuzz:
	@tools/deps.sh fuzz

# ---- static analysis --------------------------------------------------------------------
# `make lint` (use -j2): the layer check (tools/check-layers.py: no #include points up the
# module graph, README "Architecture"), cppcheck over src/ and include/, then clang-tidy (checks
# and their reasons in .clang-tidy) on every source file with the headers it includes; all three
# must be silent. clang-tidy results are stamped per file under build/lint/, redone when the
# file, a header or .clang-tidy changes. cppcheck suppressions, each with its reason:
#   useStlAlgorithm: a plain loop is as clear as std::find_if/any_of; STYLE asks for neither.
#   constParameterCallback: config directive handlers share one signature (directive table).
#   missingIncludeSystem: cppcheck needs no system headers to analyse the code.
#   unmatchedSuppression: an inline suppression may not fire in every #ifdef configuration.
LINT_HDR       := $(shell find include -name '*.hpp')
CPPCHECK_FLAGS := --std=c++20 --language=c++ $(INCS) --enable=warning,performance,portability,style \
                  --inline-suppr --error-exitcode=1 --quiet -j2 \
                  --cppcheck-build-dir=build/lint/cppcheck \
                  --template='{file}:{line}: {severity} ({id}): {message}' \
                  --suppress=useStlAlgorithm --suppress=constParameterCallback \
                  --suppress=missingIncludeSystem --suppress=unmatchedSuppression
TIDY_STAMPS    := $(patsubst %.cpp,build/lint/%.tidy,$(ALL_SRC))

lint: lint-layers lint-cppcheck $(TIDY_STAMPS)

lint-layers:
	@tools/check-layers.py

lint-cppcheck: | deps-lint
	@mkdir -p build/lint/cppcheck
	cppcheck $(CPPCHECK_FLAGS) src include

# The kqueue backend compiles against the Linux emulation of <sys/event.h>.
build/lint/%.tidy: %.cpp .clang-tidy $(LINT_HDR) | deps-lint
	@mkdir -p $(dir $@)
	@echo "clang-tidy $<"
	@if clang-tidy --quiet $< -- $(STD) $(INCS) $(if $(findstring kqueue,$<),-Itests/compat) \
	    >$@.out 2>&1; then touch $@; else grep -v ' generated\.$$' $@.out; exit 1; fi

deps-lint:
	@tools/deps.sh lint

clean:
	rm -rf build herald herald_*.deb

format:
	clang-format -i $$(find src include tests tools -name '*.cpp' -o -name '*.hpp')

-include $(shell find build -name '*.d' -type f 2>/dev/null)
