# doorface — the two commands a newcomer needs:
#   make run    set up this Debian machine and run the daemon (simulated hardware, ./data database)
#   make test   set up this Debian machine and run every test
# CI runs `MODEL_MIRROR=../shared/models make test` through .ci/run.

SHELL      := /bin/bash
GO         ?= go
BIN        ?= doorface
# Debian's python3, which `make deps` gives the converter's modules (python3-onnx, -flatbuffers, -numpy).
PYTHON     ?= /usr/bin/python3
MODELS_DIR ?= $(CURDIR)/models
DATA_DIR   ?= $(CURDIR)/data
LISTEN     ?= :8080
export MODELS_DIR
export DOORFACE_MODELS := $(MODELS_DIR)

# Packages that must build and test without cgo (no OpenCV, no dlib): tested with -race and cross-compiled.
# web/ is pure Go too; its browser test runs the daemon binary and Chromium (scripts/deps.sh).
PURE_PKGS  := ./clock/... ./machine/... ./hw/... ./store/... ./transport/... ./config/... ./vision/params/... ./mqtt/... ./web/...
# vision/ is the one cgo package; the root package (main), bench/ (make bench), the test kit and the
# real-binary tests (e2e/) link or build it. All are tested with -race too.
CGO_PKGS   := ./vision/... ./bench/... ./internal/... ./e2e/... .

.PHONY: all deps models build run test check-style test-pure test-scripts test-cgo cross bench fuzz soak clean \
  deps-arm64 arm64 amd64 deb test-arm64 test-amd64 test-deb

all: build

deps:
	@bash scripts/deps.sh

models:
	@bash scripts/models.sh

build:
	$(GO) build -buildvcs=auto -o $(BIN) .   # stamps the commit that doorface version reports

run: deps models build
	./$(BIN) serve --listen $(LISTEN) --data $(DATA_DIR) --models $(MODELS_DIR) --hw sim

test: deps models check-style cross test-pure test-scripts test-cgo test-arm64 test-amd64 test-deb
	@echo "make test: all checks passed"

check-style:
	@out=$$(gofmt -l $$(find . -name '*.go' -not -path './.git/*')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PURE_PKGS) $(CGO_PKGS)
	@cp go.mod /tmp/doorface.go.mod.$$$$ && cp go.sum /tmp/doorface.go.sum.$$$$ && \
	  $(GO) mod tidy && \
	  if ! cmp -s go.mod /tmp/doorface.go.mod.$$$$ || ! cmp -s go.sum /tmp/doorface.go.sum.$$$$; then \
	    echo "go mod tidy changes go.mod/go.sum: run it and commit"; \
	    cp /tmp/doorface.go.mod.$$$$ go.mod; cp /tmp/doorface.go.sum.$$$$ go.sum; exit 1; fi; \
	  rm -f /tmp/doorface.go.mod.$$$$ /tmp/doorface.go.sum.$$$$

# The pure packages must not need cgo, and must build for the Pi (arm64).
cross:
	CGO_ENABLED=0 $(GO) build $(PURE_PKGS)
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build $(PURE_PKGS)

# The TFLite -> ONNX converter's own tests: operators, fused activations and refusals that MobileFaceNet
# does not exercise (vision's TestConverterMatchesMirror checks MobileFaceNet itself).
test-scripts:
	$(PYTHON) -B -m unittest discover -s scripts -p '*_test.py'

test-pure:
	$(GO) test -race -count=1 $(PURE_PKGS)

# With -race too (measured on the 2-core box: root 70 s -> 72 s, vision 14 s -> 17 s of test time).
# The real-daemon tests start a binary built without -race: -race covers their client side.
test-cgo:
	$(GO) test -race -count=1 -timeout 30m $(CGO_PKGS)

# One run: the naive go-face baseline and the doorface pipeline on the same frames, the BLAS
# libraries, and the real daemon end to end (bench/main.go). JSON lands in bench/out/ (git-ignored).
bench: deps models build
	@mkdir -p bench/out
	$(GO) build -o bench/out/bench ./bench
	./bench/out/bench -models $(MODELS_DIR) -doorface ./$(BIN)

# Every fuzz target for FUZZTIME each (`go test` alone runs their seed corpora in `make test`).
# A crasher is written to the package's testdata/fuzz/<Target>/ and becomes a regression test: commit it.
FUZZTIME ?= 2m
FUZZ_TARGETS := ./machine:FuzzMachine ./vision:FuzzDecode ./transport:FuzzPinRequest \
  ./transport:FuzzFrameRequest ./transport:FuzzAuditQuery ./transport:FuzzJSONBodies .:FuzzBase64Frame

fuzz: deps models
	@set -e; for t in $(FUZZ_TARGETS); do \
	  pkg=$${t%%:*}; name=$${t##*:}; echo "fuzz $$name in $$pkg for $(FUZZTIME)"; \
	  $(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) $$pkg; \
	done

# The load test of the real daemon (20 tablets) for SOAKTIME instead of the suite's 20 s.
SOAKTIME ?= 10m
soak: deps models
	DOORFACE_LOAD_DURATION=$(SOAKTIME) $(GO) test -count=1 -v -timeout 0 -run '^TestLoadRealDaemon$$' .

# --- Release builds: the Pi (arm64) binary and the Debian packages (README "Install on a Raspberry Pi") ---
# Both binaries are built with cgo through scripts/cc-portable.sh, which drops go-face's and vision's
# -march=native; the target CPU comes from CGO_CFLAGS/CGO_CXXFLAGS instead:
#   arm64: -mcpu=cortex-a72 (Pi 4; also runs on the Pi 5's Cortex-A76), amd64: -march=x86-64-v2.
# -Wno-psabi silences GCC's note that std::pair<double,double> passing changed in GCC 10.1 (dlib's headers,
# hundreds of lines per build): every arm64 object here and bookworm's libdlib are built by GCC 12.
DIST           ?= $(CURDIR)/dist
ARM64_CPUFLAGS ?= -mcpu=cortex-a72
AMD64_CPUFLAGS ?= -march=x86-64-v2
# Debian version: 0.1.0~git<commit date>.<short commit>-1 unless VERSION is given.
VERSION        ?= 0.1.0~git$(shell git log -1 --format=%cd.%h --date=format:%Y%m%d 2>/dev/null || echo 0)-1
# PIE, full RELRO (-z now), stripped; the cgo C/C++ code is built with -D_FORTIFY_SOURCE=2 (HARDEN).
GOFLAGS_REL := -buildvcs=auto -trimpath -buildmode=pie -ldflags="-s -w -extldflags=-Wl,-z,relro,-z,now"
HARDEN         := -D_FORTIFY_SOURCE=2
PORTABLE_CC    := $(CURDIR)/scripts/cc-portable.sh

# The arm64 libraries, cross toolchain, qemu and lintian: never needed by `make run` on a Pi.
deps-arm64:
	@bash scripts/deps-arm64.sh

# The whole daemon for a Raspberry Pi 4/5 (linux/arm64, cgo), cross-built on an amd64 Debian machine
# against the arm64 sysroot of scripts/deps-arm64.sh (Debian's arm64 OpenCV/dlib/BLAS, never installed).
ARM64_SYSROOT ?= /var/cache/doorface/sysroot-arm64
export ARM64_SYSROOT
ARM64_LIBDIRS := $(addprefix $(ARM64_SYSROOT),/usr/lib/aarch64-linux-gnu /lib/aarch64-linux-gnu \
  /usr/lib/aarch64-linux-gnu/openblas-pthread)
arm64: deps-arm64
	@mkdir -p $(DIST)/arm64
	CGO_ENABLED=1 GOOS=linux GOARCH=arm64 \
	  CC="$(PORTABLE_CC) aarch64-linux-gnu-gcc" CXX="$(PORTABLE_CC) aarch64-linux-gnu-g++" \
	  PKG_CONFIG_SYSROOT_DIR=$(ARM64_SYSROOT) \
	  PKG_CONFIG_LIBDIR=$(ARM64_SYSROOT)/usr/lib/aarch64-linux-gnu/pkgconfig:$(ARM64_SYSROOT)/usr/share/pkgconfig \
	  CGO_CFLAGS="--sysroot=$(ARM64_SYSROOT) -O2 -g $(HARDEN) $(ARM64_CPUFLAGS)" \
	  CGO_CXXFLAGS="--sysroot=$(ARM64_SYSROOT) -O2 -g $(HARDEN) $(ARM64_CPUFLAGS) -Wno-psabi" \
	  CGO_LDFLAGS="--sysroot=$(ARM64_SYSROOT) $(foreach d,$(ARM64_LIBDIRS),-Wl,-rpath-link,$(d))" \
	  $(GO) build $(GOFLAGS_REL) -o $(DIST)/arm64/doorface .

# The amd64 release binary: runs on any x86-64-v2 machine, not only on the one that built it.
amd64: deps
	@mkdir -p $(DIST)/amd64
	CGO_ENABLED=1 GOOS=linux GOARCH=amd64 \
	  CC="$(PORTABLE_CC) gcc" CXX="$(PORTABLE_CC) g++" \
	  CGO_CFLAGS="-O2 -g $(HARDEN) $(AMD64_CPUFLAGS)" CGO_CXXFLAGS="-O2 -g $(HARDEN) $(AMD64_CPUFLAGS)" \
	  $(GO) build $(GOFLAGS_REL) -o $(DIST)/amd64/doorface .

# dist/doorface_<version>_{arm64,amd64}.deb (scripts/mkdeb.sh; lintian runs on each).
deb: arm64 amd64
	bash scripts/mkdeb.sh --arch arm64 --binary $(DIST)/arm64/doorface --version '$(VERSION)' --out $(DIST)
	bash scripts/mkdeb.sh --arch amd64 --binary $(DIST)/amd64/doorface --version '$(VERSION)' --out $(DIST)

# The arm64 binary under qemu-aarch64: help/version, models, serve --hw sim, /healthz, enroll + recognize + refuse.
test-arm64: arm64 models
	QEMU_LD_PREFIX=$(ARM64_SYSROOT) bash scripts/test-binary.sh --qemu aarch64 $(DIST)/arm64/doorface

# The amd64 release binary on an emulated CPU without AVX (Nehalem: x86-64-v2): models check and enroll,
# i.e. go-face's and vision's C++ code, must not use newer instructions. The reference BLAS is loaded for
# this run only: Debian's OpenBLAS picks an AVX kernel under qemu's emulated Nehalem (its CPU detection,
# not doorface's code; on real hardware it picks by the real CPU).
test-amd64: amd64 models deps-arm64
	bash scripts/test-binary.sh --qemu x86_64 --qemu-cpu Nehalem --offline-only \
	  --guest-env LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/blas:/usr/lib/x86_64-linux-gnu/lapack $(DIST)/amd64/doorface

# Installs the amd64 package on this machine (root), runs the unit's command as the doorface user with
# the simulated board, checks /healthz and the files, owners and modes; purges it again.
test-deb: deb models
	bash scripts/test-deb.sh $(DIST)/doorface_$(subst :,%3a,$(VERSION))_amd64.deb

clean:
	rm -f $(BIN)
	rm -rf $(DIST)
