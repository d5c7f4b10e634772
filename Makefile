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
SAN_FLAGS  := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
TSAN_FLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=thread

# The Makefile picks the reactor backend; the code never asks which OS it runs on.
ifeq ($(shell uname -s),Linux)
  POLLER_SRC := src/event/poller_epoll.cpp
else
  POLLER_SRC := src/event/poller_kqueue.cpp
endif
KQ_POLLER_SRC := src/event/poller_kqueue.cpp

ALL_SRC    := $(shell find src -name '*.cpp' | sort)
LIB_SRC    := $(filter-out src/main.cpp src/event/poller_%.cpp,$(ALL_SRC))
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
KQ_LIB    := $(call objs,kq,$(LIB_SRC) $(KQ_POLLER_SRC) $(COMPAT_LIB_SRC))
KQ_MAIN   := $(call objs,kq,src/main.cpp)
KQ_UNIT   := $(call objs,kq,$(UNIT_SRC) $(COMPAT_TEST_SRC))
TSAN_OBJ  := $(call objs,tsan,$(LIB_SRC) $(POLLER_SRC) src/main.cpp)

.PHONY: all run test unit integration e2e deps deps-test clean format tsan lint bench fuzz deb
.DEFAULT_GOAL := all

all: deps herald

herald: $(REL_OBJ)
	$(CXX) $(STD) $(REL_FLAGS) -o $@ $^ $(LDLIBS)

build/release/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(STD) $(WARN) $(REL_FLAGS) $(DEPFLAGS) $(INCS) -c $< -o $@

build/asan/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(STD) $(WARN) $(SAN_FLAGS) $(DEPFLAGS) $(INCS) -Itests -c $< -o $@

# The kqueue backend, compiled against the Linux emulation of <sys/event.h> (tests/compat).
build/kq/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(STD) $(WARN) $(SAN_FLAGS) $(DEPFLAGS) $(INCS) -Itests -Itests/compat -c $< -o $@

build/tsan/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(STD) $(WARN) $(TSAN_FLAGS) $(DEPFLAGS) $(INCS) -c $< -o $@

build/asan/herald: $(SAN_LIB) $(SAN_MAIN)
	$(CXX) $(STD) $(SAN_FLAGS) -o $@ $^ $(LDLIBS)

build/asan/unit_tests: $(SAN_LIB) $(SAN_UNIT)
	$(CXX) $(STD) $(SAN_FLAGS) -o $@ $^ $(LDLIBS) -lcriterion

build/kq/herald: $(KQ_LIB) $(KQ_MAIN)
	$(CXX) $(STD) $(SAN_FLAGS) -o $@ $^ $(LDLIBS)

build/kq/unit_tests: $(KQ_LIB) $(KQ_UNIT)
	$(CXX) $(STD) $(SAN_FLAGS) -o $@ $^ $(LDLIBS) -lcriterion

build/tsan/herald: $(TSAN_OBJ)
	$(CXX) $(STD) $(TSAN_FLAGS) -o $@ $^ $(LDLIBS)

deps:
	@tools/deps.sh build

deps-test:
	@tools/deps.sh test

run: all
	./herald -c conf/herald.conf

# Every test: unit (epoll and kqueue-emulation builds), then integration over loopback
# against the sanitized binary on both backends, then the browser end-to-end suite.
test: deps-test build/asan/herald build/asan/unit_tests build/kq/herald build/kq/unit_tests
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 build/asan/unit_tests -j2
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 build/kq/unit_tests -j2
	tools/run-integration.sh build/asan/herald
	HERALD_BACKEND=kqueue tools/run-integration.sh build/kq/herald
	tools/run-e2e.sh build/asan/herald

tsan: deps-test build/tsan/herald
	HERALD_TSAN=1 tools/run-integration.sh build/tsan/herald

clean:
	rm -rf build herald herald_*.deb

format:
	clang-format -i $$(find src include tests tools -name '*.cpp' -o -name '*.hpp')

-include $(shell find build -name '*.d' 2>/dev/null)
