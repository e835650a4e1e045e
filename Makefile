# sedge - top-level build.
#
#   make            build build/sedge, unit tests and tools
#   make run        install deps, build, create ./var defaults, serve on loopback
#   make test       install deps, build, run every suite (unit, fuzz, integration)
#   make asan       the same suites against an ASan+UBSan build
#   make fuzz       longer fuzz runs (FUZZ_SECONDS per target)
#   make bench      benchmarks (not tests)
#   make soak       1 000 allocations of paced media for SOAK_SECONDS (3600)
#                   with churn and policy changes: loss, RSS slope, fds
#   make install    binary, systemd unit, sysusers entry, example config,
#                   docs and extension where a Debian package puts them
#                   (PREFIX=/usr, SYSCONFDIR=/etc, DESTDIR for staging)
#
# Dependency direction (checked by `make check-deps`): relay/ never includes
# SQLite, record/ never includes relay/, api/ reaches policy/auth only
# through their headers.

BUILD    ?= build
CC       ?= cc
FUZZ_CC  ?= clang
PKGS      = libevent libevent_pthreads libevent_openssl openssl libconfig sqlite3 jansson \
            libavformat libavcodec libavutil liburing libbpf nice libsrtp2 gstreamer-sdp-1.0 glib-2.0
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   = $(shell pkg-config --libs $(PKGS))

OPT      ?= -O2
CFLAGS   += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
            -Wformat=2 -Wvla -g $(OPT) -I. -I$(BUILD)/gen $(PKG_CFLAGS) -MMD -MP $(EXTRA_CFLAGS)
LDLIBS   += $(PKG_LIBS) -lpthread -lm
SAN_FLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

LIB_SRC  := $(filter-out %.bpf.c,$(wildcard core/*.c auth/*.c policy/*.c relay/*.c relay/offload/*.c relay/anchor/*.c record/*.c api/*.c))
CLI_SRC  := $(wildcard cli/*.c)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
TOOL_SRC := $(wildcard tests/tools/*.c bench/*.c)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TOOL_BIN := $(foreach t,$(TOOL_SRC),$(BUILD)/tools/$(basename $(notdir $(t))))
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)

.PHONY: all deps deps-runtime run test test-run asan fuzz fuzz-build bench soak clean check-deps format \
        install uninstall check-runtime

all: $(BUILD)/sedge $(UNIT_BIN) $(TOOL_BIN)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# The kernel fast path (relay/offload/): the BPF program is compiled with
# clang for the BPF target and embedded through a bpftool skeleton, so the
# binary carries it (build deps: clang, bpftool, libbpf-dev; run: libbpf1).
BPF_CLANG ?= clang
BPFTOOL   ?= $(shell command -v bpftool 2>/dev/null || echo /usr/sbin/bpftool)
BPF_ARCH_INC := /usr/include/$(shell $(CC) -dumpmachine 2>/dev/null)
BPF_SKEL  := $(BUILD)/gen/sedge_offload.skel.h
$(BUILD)/gen/sedge_offload.bpf.o: relay/offload/sedge_offload.bpf.c relay/offload/shared.h
	@mkdir -p $(dir $@)
	$(BPF_CLANG) -target bpf -O2 -g -Wall -Werror -I. -I$(BPF_ARCH_INC) -c -o $@ $<
$(BPF_SKEL): $(BUILD)/gen/sedge_offload.bpf.o
	$(BPFTOOL) gen skeleton $< name sedge_offload >$@.tmp && mv $@.tmp $@
$(BUILD)/obj/relay/offload/offload.o $(BUILD)/fuzzobj/relay/offload/offload.o: $(BPF_SKEL)

$(BUILD)/libsedge.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/sedge: $(CLI_OBJ) $(BUILD)/libsedge.a
	$(CC) $(CFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libsedge.a $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libsedge.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libsedge.a $(LDLIBS)

$(BUILD)/tools/%: tests/tools/%.c $(BUILD)/libsedge.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libsedge.a $(LDLIBS)

$(BUILD)/tools/%: bench/%.c $(BUILD)/libsedge.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libsedge.a $(LDLIBS)

# Fuzz targets: the library rebuilt with clang + libFuzzer + ASan/UBSan.
# -MMD: the instrumented objects follow header changes too (a stale object
# with an old struct layout links and then overflows at run time).
FUZZ_CFLAGS = -std=c11 -D_GNU_SOURCE -g -O1 -I. -I$(BUILD)/gen $(PKG_CFLAGS) \
              -fsanitize=fuzzer-no-link,address,undefined -MMD -MP
$(BUILD)/fuzzobj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/fuzzobj/%.o)
$(BUILD)/fuzz/%: tests/fuzz/%.c $(FUZZ_LIB_OBJ)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer,address,undefined -o $@ $< $(FUZZ_LIB_OBJ) $(LDLIBS)
fuzz-build: $(FUZZ_BIN)
# Keep the instrumented objects: they are intermediates of a pattern rule,
# and make would otherwise delete and rebuild all of them every time.
.SECONDARY: $(FUZZ_LIB_OBJ)

# The runtime set builds and serves; `make test` adds the test tools.
deps-runtime:
	scripts/deps.sh runtime

deps:
	scripts/deps.sh test

run: deps-runtime
	$(MAKE) all
	scripts/run-default.sh

test: deps
	$(MAKE) all fuzz-build
	scripts/check-deps.sh
	tests/run.sh

# Internal: run the suites without the dependency step.
test-run: all fuzz-build
	tests/run.sh

asan: deps
	$(MAKE) BUILD=build/asan EXTRA_CFLAGS="$(SAN_FLAGS)" OPT=-O1 all
	$(MAKE) fuzz-build
	SEDGE_BUILD=build/asan ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 tests/run.sh

fuzz: deps
	$(MAKE) fuzz-build
	FUZZ_SECONDS=$${FUZZ_SECONDS:-300} tests/run.sh --only fuzz

bench:
	scripts/deps.sh bench
	$(MAKE) all
	bench/run.sh

# The soak (bench/soak.sh; not a test, not in CI): 1 000 allocations of
# paced media for SOAK_SECONDS (default 3600) with churn and policy
# changes; fails on loss, fd growth or RSS growth. SOAK_* settings are
# taken from the command line or the environment.
soak: deps
	$(MAKE) all
	bench/soak.sh

check-deps:
	scripts/check-deps.sh

# `make run` on a fresh Debian 12 root holding only the runtime set
# (debootstrap; downloads packages; not part of `make test`).
check-runtime:
	scripts/check-runtime.sh

# Debian layout: daemons in /usr/sbin, units in /lib/systemd/system (the
# merged-/usr path Debian 12 still uses for packages), sysusers.d and
# docs under /usr. An existing /etc/sedge/sedge.conf is never replaced.
PREFIX     ?= /usr
SYSCONFDIR ?= /etc
UNITDIR    ?= /lib/systemd/system
DESTDIR    ?=
install:
	@[ -x $(BUILD)/sedge ] || { echo "make install: build $(BUILD)/sedge first (make)"; exit 1; }
	install -D -m 0755 $(BUILD)/sedge $(DESTDIR)$(PREFIX)/sbin/sedge
	install -D -m 0644 deploy/systemd/sedge.service $(DESTDIR)$(UNITDIR)/sedge.service
	install -D -m 0644 deploy/systemd/sedge.sysusers $(DESTDIR)$(PREFIX)/lib/sysusers.d/sedge.conf
	install -d -m 0750 $(DESTDIR)$(SYSCONFDIR)/sedge
	[ -e $(DESTDIR)$(SYSCONFDIR)/sedge/sedge.conf ] || \
	  install -m 0640 deploy/sedge.conf $(DESTDIR)$(SYSCONFDIR)/sedge/sedge.conf
	install -D -m 0644 deploy/nftables/sedge.nft $(DESTDIR)$(PREFIX)/share/doc/sedge/examples/sedge.nft
	install -D -m 0644 deploy/container/Containerfile $(DESTDIR)$(PREFIX)/share/doc/sedge/examples/Containerfile
	install -D -m 0644 deploy/kubernetes/sedge.yaml $(DESTDIR)$(PREFIX)/share/doc/sedge/examples/kubernetes.yaml
	install -D -m 0644 deploy/logrotate/sedge $(DESTDIR)$(PREFIX)/share/doc/sedge/examples/logrotate
	for f in docs/*.md docs/openapi.yaml; do install -D -m 0644 $$f $(DESTDIR)$(PREFIX)/share/doc/sedge/$$(basename $$f); done
	for f in $$(find extension -type f); do install -D -m 0644 $$f $(DESTDIR)$(PREFIX)/share/sedge/$$f; done
	@echo "installed; next: systemd-sysusers && systemctl daemon-reload, edit $(SYSCONFDIR)/sedge/sedge.conf,"
	@echo "then: sudo -u sedge sedge init --config $(SYSCONFDIR)/sedge/sedge.conf && systemctl enable --now sedge"

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/sbin/sedge $(DESTDIR)$(UNITDIR)/sedge.service \
	      $(DESTDIR)$(PREFIX)/lib/sysusers.d/sedge.conf
	rm -rf $(DESTDIR)$(PREFIX)/share/doc/sedge $(DESTDIR)$(PREFIX)/share/sedge

format:
	clang-format -i $(LIB_SRC) $(CLI_SRC) $(UNIT_SRC) $(FUZZ_SRC) $(wildcard */*.h relay/anchor/*.h)

clean:
	rm -rf build

# The console's static files are assembled into console.o (.incbin).
CONSOLE_FILES := $(wildcard api/console/*)
$(BUILD)/obj/api/console.o $(BUILD)/fuzzobj/api/console.o: $(CONSOLE_FILES)

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(FUZZ_LIB_OBJ:.o=.d) $(wildcard $(BUILD)/fuzz/*.d)
