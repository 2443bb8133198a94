# flashfs — top-level build.
#
#   make            build every library, program and test binary into build/
#   make deps       install the Debian packages the build and tests need (apt-get)
#   make check      deps + build + every test (unit, integration with real mounts, sanitizers)
#   make demo       deps + build + mount the bundled demo model under a RAM budget and use it
#   make bench      every benchmark, side by side, writes docs/benchmarks.md (QUICK=1 for a short run)
#   make install    PREFIX=/usr/local (DESTDIR, MOUNT_HELPER_DIR=/sbin supported; see the install rule)
#
# Source layout (see docs/hacking.md):
#   fs/*.c       -> build/libffcore.a    (mount, cache, parsers, layout, packed-file reader)
#   engine/*.c   -> build/libffengine.a  (tokenizer, model, kernels)
#   tools/*.c    -> build/libfftools.a   (writers shared by the tools)
#   A source file that defines `int main(` is a program instead: fs/flashfs.c -> build/flashfs,
#   tools/flashfs_mkmodel.c -> build/flashfs-mkmodel (underscores become dashes).
#   tests/unit/test_*.c  each defines `Suite *NAME_suite(void)`; all are linked into build/tests/unit.
#   tests/it/it_*.c      likewise into build/tests/integration (mounts for real; needs /dev/fuse).
#   tests/helpers/*.c    each is a helper program -> build/tests/NAME.

CC       ?= cc
BUILD    ?= build
OPT      ?= -O2
SAN      ?=
PREFIX   ?= /usr/local
DESTDIR  ?=

PKGS      = fuse3 libcjson libzstd libmicrohttpd
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CHECK_CFLAGS = $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS   = $(shell pkg-config --libs check 2>/dev/null)

ifeq ($(SAN),1)
SANFLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
OPT      = -O1
endif

WARN     = -Wall -Wextra -Werror
CPPFLAGS += -Iinclude -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -DFUSE_USE_VERSION=314
CFLAGS   += -std=c11 $(OPT) -g $(WARN) -pthread $(SANFLAGS) $(EXTRA_CFLAGS)
LDFLAGS  += -pthread $(SANFLAGS)
LDLIBS   += $(PKG_LIBS) -lm

# ---- discover sources --------------------------------------------------------
is_prog   = $(shell grep -l '^int main\b' $(1) 2>/dev/null)
FS_ALL    := $(wildcard fs/*.c)
ENG_ALL   := $(wildcard engine/*.c)
TOOL_ALL  := $(wildcard tools/*.c)
PROG_SRCS := $(call is_prog,$(FS_ALL) $(ENG_ALL) $(TOOL_ALL))
FS_LIB_SRCS   := $(filter-out $(PROG_SRCS),$(FS_ALL))
ENG_LIB_SRCS  := $(filter-out $(PROG_SRCS),$(ENG_ALL))
TOOL_LIB_SRCS := $(filter-out $(PROG_SRCS),$(TOOL_ALL))
PROGS     := $(foreach s,$(PROG_SRCS),$(BUILD)/$(subst _,-,$(basename $(notdir $(s)))))

UNIT_SRCS   := $(wildcard tests/unit/test_*.c)
IT_SRCS     := $(wildcard tests/it/it_*.c)
HELPER_SRCS := $(wildcard tests/helpers/*.c)
HELPERS     := $(patsubst tests/helpers/%.c,$(BUILD)/tests/%,$(HELPER_SRCS))

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
LIBCORE   = $(BUILD)/libffcore.a
LIBENGINE = $(BUILD)/libffengine.a
LIBTOOLS  = $(BUILD)/libfftools.a
LIBS_ALL  = $(LIBTOOLS) $(LIBENGINE) $(LIBCORE)

.PHONY: all deps check check-unit check-it check-asan check-extra demo bench install clean tests fuzz soak
all: $(LIBS_ALL) $(PROGS) tests

tests: $(BUILD)/tests/unit $(BUILD)/tests/integration $(HELPERS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CHECK_CFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIBCORE): $(call obj,$(FS_LIB_SRCS))
$(LIBENGINE): $(call obj,$(ENG_LIB_SRCS))
$(LIBTOOLS): $(call obj,$(TOOL_LIB_SRCS))
$(LIBS_ALL):
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^ $(if $^,,$(BUILD)/obj/empty.o)

$(BUILD)/obj/empty.o:
	@mkdir -p $(dir $@)
	echo 'typedef int ff_empty_unit;' | $(CC) -x c -c - -o $@
$(LIBS_ALL): | $(BUILD)/obj/empty.o

define prog_rule
$(BUILD)/$(subst _,-,$(basename $(notdir $(1)))): $(call obj,$(1)) $(LIBS_ALL)
	$$(CC) $$(LDFLAGS) -o $$@ $$< $(LIBS_ALL) $$(LDLIBS)
endef
$(foreach s,$(PROG_SRCS),$(eval $(call prog_rule,$(s))))

$(BUILD)/tests/%: tests/helpers/%.c $(LIBS_ALL)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) -o $@ $< $(LIBS_ALL) $(LDFLAGS) $(LDLIBS)

# Suite registry: every `Suite *NAME_suite(void)` found in the test sources.
$(BUILD)/gen/unit_suites.inc: $(UNIT_SRCS) Makefile
	@mkdir -p $(dir $@)
	sed -n 's/^Suite \*\([a-z0-9_]*_suite\)(void).*/SUITE(\1)/p' $(UNIT_SRCS) /dev/null > $@
$(BUILD)/gen/it_suites.inc: $(IT_SRCS) Makefile
	@mkdir -p $(dir $@)
	sed -n 's/^Suite \*\([a-z0-9_]*_suite\)(void).*/SUITE(\1)/p' $(IT_SRCS) /dev/null > $@

$(BUILD)/obj/tests/unit/main.o: $(BUILD)/gen/unit_suites.inc
$(BUILD)/obj/tests/it/main.o: $(BUILD)/gen/it_suites.inc
$(BUILD)/obj/tests/unit/main.o $(BUILD)/obj/tests/it/main.o: CPPFLAGS += -I$(BUILD)/gen

$(BUILD)/tests/unit: $(call obj,$(wildcard tests/unit/*.c)) $(LIBS_ALL)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(LIBS_ALL) $(CHECK_LIBS) $(LDLIBS)
$(BUILD)/tests/integration: $(call obj,$(wildcard tests/it/*.c)) $(LIBS_ALL)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(LIBS_ALL) $(CHECK_LIBS) $(LDLIBS)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# ---- dependencies ------------------------------------------------------------
DEB_PKGS = libfuse3-dev fuse3 libcjson-dev libzstd-dev libmicrohttpd-dev check pkg-config zstd clang libclang-rt-dev curl
SUDO = $(shell [ "$$(id -u)" = 0 ] || echo sudo)
deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "deps: installing$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	else echo "deps: all present ($(DEB_PKGS))"; fi

# ---- tests -------------------------------------------------------------------
check:
	$(MAKE) deps
	$(MAKE) all
	$(MAKE) check-unit
	$(MAKE) check-it
	$(MAKE) check-extra
	$(MAKE) check-asan

check-unit: tests
	$(BUILD)/tests/unit

check-it: all
	$(BUILD)/tests/integration

# Further test stages (fuzz smoke runs, ...) add themselves to this list from the
# module fragments included at the end; the list is read when the recipe runs.
CHECK_EXTRA_TARGETS ?=
check-extra:
	$(if $(strip $(CHECK_EXTRA_TARGETS)),$(MAKE) $(CHECK_EXTRA_TARGETS),@echo "check-extra: nothing to run")

check-asan:
	$(MAKE) BUILD=build-asan SAN=1 all
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 build-asan/tests/unit
	SAN=1 ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 FLASHFS_BUILD=build-asan build-asan/tests/integration

# ---- user-facing jobs --------------------------------------------------------
# the build's output goes to $(BUILD)/demo-build.log (printed only when the build fails)
demo:
	@$(MAKE) -s deps
	@mkdir -p $(BUILD)
	@echo "building (log: $(BUILD)/demo-build.log)"
	@$(MAKE) all > $(BUILD)/demo-build.log 2>&1 || { cat $(BUILD)/demo-build.log; exit 1; }
	@FLASHFS_BUILD=$(BUILD) sh tools/demo.sh

bench:
	$(MAKE) deps
	$(MAKE) all
	sh tools/bench.sh $(if $(QUICK),--quick,)

# make install [PREFIX=/usr/local] [DESTDIR=] [MOUNT_HELPER_DIR=/sbin]: the programs only (no
# test binaries); the demo tokenizer that flashfs-mkmodel uses by default (found at
# BINDIR/../share/flashfs/demo); man pages pointing at DOCDIR; and the mount(8) helper
# mount.fuse.flashfs in MOUNT_HELPER_DIR (mount(8) looks for helpers in /sbin only), which
# runs mount.fuse3 with BINDIR first in PATH so `mount -t fuse.flashfs` and fstab find flashfs.
BINDIR   ?= $(PREFIX)/bin
DATADIR  ?= $(PREFIX)/share/flashfs
DOCDIR   ?= $(PREFIX)/share/doc/flashfs
MANDIR   ?= $(PREFIX)/share/man/man1
MOUNT_HELPER_DIR ?= /sbin
DEMO_TOKENIZER = tests/fixtures/demo/tokenizer.json tests/fixtures/demo/tokenizer_config.json \
                 tests/fixtures/demo/generation_config.json
install: $(PROGS)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR) $(DESTDIR)$(DATADIR)/demo $(DESTDIR)$(DOCDIR) \
	  $(DESTDIR)$(MOUNT_HELPER_DIR)
	install -m 755 $(PROGS) $(DESTDIR)$(BINDIR)/
	install -m 644 $(DEMO_TOKENIZER) $(DESTDIR)$(DATADIR)/demo/
	install -m 644 README.md docs/*.md $(DESTDIR)$(DOCDIR)/
	for m in docs/*.1; do \
	  sed 's|/usr/local/share/doc/flashfs|$(DOCDIR)|g' $$m > $(DESTDIR)$(MANDIR)/$$(basename $$m) && \
	  chmod 644 $(DESTDIR)$(MANDIR)/$$(basename $$m) || exit 1; \
	done
	sed 's|@BINDIR@|$(BINDIR)|g' tools/mount.fuse.flashfs.in > $(DESTDIR)$(MOUNT_HELPER_DIR)/mount.fuse.flashfs
	chmod 755 $(DESTDIR)$(MOUNT_HELPER_DIR)/mount.fuse.flashfs

clean:
	rm -rf build build-asan build-fuzz

-include fs/fs.mk engine/engine.mk tools/tools.mk tests/tests.mk
