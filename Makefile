# doorface — the two commands a newcomer needs:
#   make run    set up this Debian machine and run the daemon (simulated hardware, ./data database)
#   make test   set up this Debian machine and run every test
# CI runs `MODEL_MIRROR=../shared/models make test` through .ci/run.

SHELL      := /bin/bash
GO         ?= go
BIN        ?= doorface
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

.PHONY: all deps models build run test check-style test-pure test-cgo cross bench fuzz soak clean

all: build

deps:
	@bash scripts/deps.sh

models:
	@bash scripts/models.sh

build:
	$(GO) build -o $(BIN) .

run: deps models build
	./$(BIN) serve --listen $(LISTEN) --data $(DATA_DIR) --models $(MODELS_DIR) --hw sim

test: deps models check-style cross test-pure test-cgo
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

clean:
	rm -f $(BIN)
