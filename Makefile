# infersim -- build, test, run, bench. See README.md.
#   make            build build/infersim
#   make test       unit tests and scenario regressions (installs deps if missing)
#   make run        run scenarios/default.yaml into results.db
#   make bench      engine and end-to-end benchmarks
#   make sanitize   the tests under ASan and UBSan, with the deep checks on
#                   (INFERSIM_DEEP_CHECKS: the ledger's conservation after
#                   every settlement)
#   make fuzz       libFuzzer targets (clang, ASan, UBSan) in build/fuzz/, one per
#                   untrusted input: scenario, frame, peer, checkpoint, infer_body,
#                   tokenizer
#   make fuzz-run   replay fuzz/corpus/<target>/, then fuzz each target for
#                   FUZZ_SECONDS (default 60, peer six times that; FUZZ_TARGETS
#                   picks some); new inputs and crashes go to a temporary
#                   directory, never into the tree
#   make deps       install the Debian packages (as root)
#   make install    PREFIX=/usr/local DESTDIR=

# make sanitize's flags: ASan and UBSan, and the deep checks (the ledger's
# conservation after every settlement).
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all \
	-DINFERSIM_DEEP_CHECKS=1

PREFIX ?= /usr/local
DESTDIR ?=
CC ?= cc
BUILD ?= build
PKGS := libevent sqlite3 yaml-0.1 libcurl check libsodium

WARN := -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wundef
ifeq ($(CI),true)
WERROR ?= -Werror
endif
OPT ?= -O2
BASE_CFLAGS := -std=c11 -ffp-contract=off $(OPT) -g $(WARN) $(WERROR) \
	-D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -I.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
GIT_REV := $(shell sh tools/git_rev.sh)
ALL_CFLAGS = $(BASE_CFLAGS) $(SAN) $(PKG_CFLAGS) $(CFLAGS) $(OBJ_CFLAGS)
# The VRF's curve arithmetic (selection: vrf) runs a sixth faster at -O3: the
# vectorizer then also takes the constant-time table reads' short loops.
$(BUILD)/obj/util/edwards.o: OBJ_CFLAGS := -O3
# The sanitizer and fuzz builds (OPT=-O1) compile the inference kernels at
# KERNEL_OPT=-O2: under ASan they are most of a test's time, and -O2 runs
# them in about x0.75 of it, still instrumented.
KERNEL_OPT ?=
# The kernels' hot loops are a few dozen bytes each, and their speed moved
# with where the linker happened to place them (the q8 prefill of bench/
# infer's dim1024 shape took 150 or 190 ms as the code before it grew), so
# their loops start on 32-byte boundaries.
KERNEL_ALIGN := -falign-loops=32
$(BUILD)/obj/node/infer_compute.o: OBJ_CFLAGS := $(KERNEL_OPT) $(KERNEL_ALIGN)
$(BUILD)/obj/node/infer_q8.o: OBJ_CFLAGS := $(KERNEL_ALIGN)
ALL_LDFLAGS = $(SAN) $(LDFLAGS)
LIBS = $(PKG_LIBS) -lm -pthread

LIB_SRCS := $(wildcard util/*.c node/*.c consensus/*.c world/*.c sim/*.c scenarios/*.c metrics/*.c testbed/*.c)
TOOL_SRCS := $(wildcard tools/*.c)
TEST_SRCS := $(wildcard tests/*.c)
BENCH_SRCS := $(wildcard bench/*.c)
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
TOOL_OBJS := $(TOOL_SRCS:%.c=$(BUILD)/obj/%.o)
TEST_OBJS := $(TEST_SRCS:%.c=$(BUILD)/obj/%.o)
BENCH_OBJS := $(BENCH_SRCS:%.c=$(BUILD)/obj/%.o)
HEADERS := $(wildcard */*.h)

.PHONY: all test check run bench sanitize deps deps-check install clean lint FORCE
.PHONY: fuzz fuzz-targets fuzz-run deps-fuzz

# The bench is built too, so that CI compiles it with -Werror.
all: $(BUILD)/infersim $(BUILD)/bench

# The commit a run's row names (runs.git_rev, `infersim --version`), marked
# "-dirty" when the checkout differs from it (tools/git_rev.sh): a header
# rewritten only when that text changes, so the tools that read it are
# compiled again then, and only then (a flag on the command line would leave
# them stale).
REV_HEADER := $(BUILD)/gen/git_rev.h
$(REV_HEADER): FORCE
	@mkdir -p $(dir $@)
	@printf '#define INFERSIM_GIT_REV "%s"\n' '$(GIT_REV)' > $@.new
	@if cmp -s $@.new $@; then rm -f $@.new; else mv $@.new $@; fi
FORCE:
$(TOOL_OBJS): $(REV_HEADER)
$(TOOL_OBJS): OBJ_CFLAGS := -include $(REV_HEADER)

$(BUILD)/obj/%.o: %.c $(HEADERS) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/libinfersim.a: $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/infersim: $(TOOL_OBJS) $(BUILD)/libinfersim.a
	$(CC) $(ALL_LDFLAGS) -o $@ $(TOOL_OBJS) $(BUILD)/libinfersim.a $(LIBS)

$(BUILD)/run_tests: $(TEST_OBJS) $(BUILD)/libinfersim.a
	$(CC) $(ALL_LDFLAGS) -o $@ $(TEST_OBJS) $(BUILD)/libinfersim.a $(LIBS)

$(BUILD)/bench: $(BENCH_OBJS) $(BUILD)/libinfersim.a
	$(CC) $(ALL_LDFLAGS) -o $@ $(BENCH_OBJS) $(BUILD)/libinfersim.a $(LIBS)

deps:
	@sh tools/deps.sh install

deps-check:
	@sh tools/deps.sh ensure

# The unit suites and the scenario regressions (which run the real binary)
# share one runner, so the run ends in one Check summary line. TEST_JOBS
# worker processes (default: the cores) take the suites from one queue;
# TEST_JOBS=1 runs them in one Check SRunner.
TEST_JOBS ?= $(shell nproc 2>/dev/null || echo 1)
test: deps-check
	@$(MAKE) --no-print-directory $(BUILD)/infersim $(BUILD)/run_tests
	INFERSIM_TEST_JOBS=$(TEST_JOBS) INFERSIM_BIN=$(BUILD)/infersim $(BUILD)/run_tests

check: test

run: deps-check
	@$(MAKE) --no-print-directory $(BUILD)/infersim
	$(BUILD)/infersim run scenarios/default.yaml --db results.db

bench: deps-check
	@$(MAKE) --no-print-directory $(BUILD)/bench $(BUILD)/infersim
	INFERSIM_BIN=$(BUILD)/infersim $(BUILD)/bench

sanitize: deps-check
	@$(MAKE) --no-print-directory BUILD=build/asan OPT=-O1 KERNEL_OPT=-O2 \
		SAN='$(SAN_FLAGS)' \
		build/asan/infersim build/asan/run_tests
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
		INFERSIM_TEST_JOBS=$(TEST_JOBS) INFERSIM_BIN=build/asan/infersim INFERSIM_SANITIZE=1 \
		build/asan/run_tests

# libFuzzer targets: the library rebuilt with clang into build/fuzz/ (its own
# objects, apart from the gcc build), each fuzz/fuzz_<target>.c linked with
# libFuzzer's main. fuzz/fuzz_seeds writes the seed inputs that need the code
# to make (frames, messages, a checkpoint) into fuzz/corpus/.
FUZZ_CC ?= clang-14
FUZZ_BUILD := build/fuzz
FUZZ_SAN := -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer
FUZZ_ALL := scenario frame peer checkpoint infer_body tokenizer bft vrf
FUZZ_TARGETS ?= $(FUZZ_ALL)
FUZZ_SECONDS ?= 60
FUZZ_SHARED := $(BUILD)/obj/fuzz/fuzz_world.o

deps-fuzz:
	@FUZZ_CC=$(FUZZ_CC) sh tools/deps.sh fuzz

fuzz: deps-fuzz
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=$(FUZZ_CC) OPT=-O1 KERNEL_OPT=-O2 \
		SAN='$(FUZZ_SAN)' fuzz-targets

fuzz-targets: $(FUZZ_ALL:%=$(BUILD)/fuzz_%) $(BUILD)/fuzz_seeds

.SECONDARY: $(FUZZ_ALL:%=$(BUILD)/obj/fuzz/fuzz_%.o)

$(BUILD)/fuzz_%: $(BUILD)/obj/fuzz/fuzz_%.o $(FUZZ_SHARED) $(BUILD)/libinfersim.a
	$(CC) $(ALL_LDFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_SHARED) $(BUILD)/libinfersim.a $(LIBS)

$(BUILD)/fuzz_seeds: $(BUILD)/obj/fuzz/fuzz_seeds.o $(FUZZ_SHARED) $(BUILD)/libinfersim.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

fuzz-run: fuzz
	FUZZ_BIN=$(FUZZ_BUILD) sh tools/fuzz.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# Layering rules: node/ and consensus/ see only util/ and libc; no clock or
# rand() outside testbed/ and tools/.
lint:
	@sh tools/lint.sh

# The binary, the example scenarios, the man page, the documentation and
# the bash completion.
DOCDIR := $(PREFIX)/share/doc/infersim
install: $(BUILD)/infersim
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/infersim/scenarios \
		$(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(DOCDIR)/scenarios \
		$(DESTDIR)$(DOCDIR)/metrics $(DESTDIR)$(DOCDIR)/bench \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions
	install -m 0755 $(BUILD)/infersim $(DESTDIR)$(PREFIX)/bin/infersim
	install -m 0644 scenarios/*.yaml $(DESTDIR)$(PREFIX)/share/infersim/scenarios/
	install -m 0644 man/infersim.1 $(DESTDIR)$(PREFIX)/share/man/man1/infersim.1
	install -m 0644 README.md ARCHITECTURE.md $(DESTDIR)$(DOCDIR)/
	install -m 0644 scenarios/README.md $(DESTDIR)$(DOCDIR)/scenarios/README.md
	install -m 0644 metrics/README.md $(DESTDIR)$(DOCDIR)/metrics/README.md
	install -m 0644 bench/README.md $(DESTDIR)$(DOCDIR)/bench/README.md
	install -m 0644 completion/infersim.bash \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions/infersim

clean:
	rm -rf build
