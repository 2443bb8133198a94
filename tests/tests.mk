# tests.mk — reliability stages, included by the top Makefile (docs/reliability.md).
#
#   make fuzz [FUZZ_SECONDS=60] [FUZZ_JOBS=2]   build every libFuzzer target (clang,
#        -fsanitize=fuzzer,address,undefined, into build-fuzz/) and run each for FUZZ_SECONDS
#   make fuzz-smoke                         the short run of `make check` (FUZZ_SMOKE_SECONDS each)
#   make soak [SOAK_MINUTES=10]             16 mixed readers on a mount under a small budget
#   $(BUILD)/tests/libffs_faults.so         the LD_PRELOAD fault-injection shim (tests/faults/)

# ---- fault-injection shim ---------------------------------------------------------
# Built without sanitizers even in build-asan: it is preloaded into the daemon, and the
# daemon's libasan is found after it (ASAN_OPTIONS=verify_asan_link_order=0).
FAULTSHIM = $(BUILD)/tests/libffs_faults.so
tests: $(FAULTSHIM)
$(FAULTSHIM): tests/faults/faultshim.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O2 -g $(WARN) -D_GNU_SOURCE -fPIC -shared -pthread -o $@ $< -ldl

# ---- fuzzing ------------------------------------------------------------------------
# A target tests/fuzz/fuzz_NAME.c names the sources it needs on a line
# " * fuzz-requires: fs/x.c ..." (globs allowed); it is built only once they all exist, so
# targets can land before their parser.
FUZZ_BUILD         ?= build-fuzz
FUZZ_CC            ?= clang
FUZZ_SECONDS       ?= 60
FUZZ_SMOKE_SECONDS ?= 20
FUZZ_JOBS          ?= 2

fuzz_reqs  = $(shell sed -n 's/^ \* fuzz-requires: //p' $(1))
fuzz_ready = $(if $(strip $(foreach r,$(call fuzz_reqs,$(1)),$(if $(wildcard $(r)),,missing))),,$(1))
FUZZ_SRCS  := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_NAMES := $(basename $(notdir $(foreach f,$(FUZZ_SRCS),$(call fuzz_ready,$(f)))))

.PHONY: fuzz fuzz-build fuzz-bins fuzz-smoke
fuzz: fuzz-build
	sh tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_JOBS) $(FUZZ_NAMES)

fuzz-smoke:
	$(MAKE) fuzz FUZZ_SECONDS=$(FUZZ_SMOKE_SECONDS)

# The libraries are rebuilt with coverage instrumentation (fuzzer-no-link) + ASan + UBSan,
# at -O2 (SAN=1 alone means -O1): 15-25% more executions per second on the tokenizer targets.
fuzz-build:
	$(MAKE) BUILD=$(FUZZ_BUILD) CC=$(FUZZ_CC) SAN=1 OPT=-O2 EXTRA_CFLAGS=-fsanitize=fuzzer-no-link fuzz-bins

fuzz-bins: $(patsubst %,$(BUILD)/fuzz/%,$(FUZZ_NAMES)) $(BUILD)/fuzz/seedgen

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_vfile.h $(LIBS_ALL)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itests/fuzz $(PKG_CFLAGS) $(CFLAGS) -fsanitize=fuzzer -o $@ $< $(LIBS_ALL) $(LDFLAGS) $(LDLIBS)

$(BUILD)/fuzz/seedgen: tests/fuzz/seedgen.c $(LIBS_ALL)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) -o $@ $< $(LIBS_ALL) $(LDFLAGS) $(LDLIBS)

CHECK_EXTRA_TARGETS += fuzz-smoke

# ---- soak ---------------------------------------------------------------------------
# 16 readers (random + cyclic, pread + MAP_SHARED) for SOAK_MINUTES on a mount of
# SOAK_MODEL under SOAK_RAM, bytes verified, memory sampled (tests/helpers/soak.c).
SOAK_MINUTES ?= 10
SOAK_RAM     ?= 8M
SOAK_MODEL   ?= tests/fixtures/demo
.PHONY: soak
soak: all
	$(BUILD)/tests/soak --minutes $(SOAK_MINUTES) --ram $(SOAK_RAM) --model $(SOAK_MODEL) --build $(BUILD)
