# Switchyard. `make run` and `make test` are the two commands a newcomer needs.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
CONFIG ?= host/config/default.yaml
TOOLS := $(CURDIR)/bin/tools

# Rules are found by their sources: a Go rule is a folder of rules-wasm with a main package,
# a WAT, C, Rust or AssemblyScript rule a folder <name> holding <name>.wat, .c, .rs or .ts.
rules_with = $(sort $(foreach f,$(wildcard rules-wasm/*/*.$(1)),$(if $(filter $(notdir $(f)),$(lastword $(subst /, ,$(dir $(f)))).$(1)),$(lastword $(subst /, ,$(dir $(f)))))))
GO_RULES  := $(sort $(patsubst rules-wasm/%/,%,$(dir $(shell grep -l '^package main' rules-wasm/*/*.go 2>/dev/null))))
WAT_RULES := $(call rules_with,wat)
C_RULES   := $(call rules_with,c)
RS_RULES  := $(call rules_with,rs)
AS_RULES  := $(call rules_with,ts)
# Debian's rustc: the rustup rustc that may come first on PATH has no Wasm target.
RUSTC ?= /usr/bin/rustc
RUSTFLAGS_WASM := --target wasm32-unknown-unknown --crate-type cdylib --edition 2021 -C opt-level=3 -C lto \
  -C panic=abort -C strip=symbols -C link-arg=-zstack-size=65536
# The asc pinned in sdk/rule/assemblyscript/package-lock.json (npm ci installs it). The stub
# runtime's start code is exported as _initialize (the router calls it): a Wasm start function
# would keep the router from compiling its cheap deadline check into the module.
ASC := sdk/rule/assemblyscript/node_modules/.bin/asc
ASCFLAGS := -O3 --runtime stub --use abort= --exportStart _initialize

# Pinned code generators (from the Go module proxy), so generated code is byte-identical.
BUF_VERSION := v1.75.0
PROTOC_GEN_GO_VERSION := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.0

.PHONY: all build host plugins go-rules rules toolchains e2e-node run test bench loadtest fuzz soak gen check vet clean

all: build

## build: the router, the provider plugins and the Go rules (needs nothing but Go)
build: host plugins go-rules

host:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/switchyard ./host/cmd/switchyard

plugins:
	@mkdir -p bin/plugins
	@for d in plugins/*/cmd/switchyard-provider-*; do \
	  echo "$(GO) build -o bin/plugins/$$(basename $$d) ./$$d"; \
	  $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/plugins/$$(basename $$d) ./$$d || exit 1; \
	done

go-rules:
	@mkdir -p bin/rules
	@for r in $(GO_RULES); do \
	  echo "GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -o bin/rules/$$r.wasm ./rules-wasm/$$r"; \
	  GOOS=wasip1 GOARCH=wasm $(GO) build -trimpath -buildmode=c-shared -o bin/rules/$$r.wasm ./rules-wasm/$$r || exit 1; \
	done

## toolchains: install what the rules in other languages need (wabt, clang, rustc, asc), when missing
toolchains:
	@bash rules-wasm/toolchains.sh

## rules: every shipped rule, in every language, into bin/rules/
rules: go-rules toolchains
	@for r in $(WAT_RULES); do \
	  echo "wat2wasm rules-wasm/$$r/$$r.wat -o bin/rules/$$r.wasm"; \
	  wat2wasm rules-wasm/$$r/$$r.wat -o bin/rules/$$r.wasm || exit 1; \
	done
	@for r in $(C_RULES); do \
	  echo "clang --target=wasm32 ... -o bin/rules/$$r.wasm rules-wasm/$$r/$$r.c"; \
	  clang --target=wasm32 -O2 -nostdlib -Isdk/rule/c -Wl,--no-entry -Wl,--allow-undefined \
	    -o bin/rules/$$r.wasm rules-wasm/$$r/$$r.c || exit 1; \
	done
	@for r in $(RS_RULES); do \
	  echo "$(RUSTC) --target wasm32-unknown-unknown ... -o bin/rules/$$r.wasm rules-wasm/$$r/$$r.rs"; \
	  $(RUSTC) $(RUSTFLAGS_WASM) -o bin/rules/$$r.wasm rules-wasm/$$r/$$r.rs || exit 1; \
	done
	@for r in $(AS_RULES); do \
	  echo "$(ASC) rules-wasm/$$r/$$r.ts -o bin/rules/$$r.wasm $(ASCFLAGS)"; \
	  $(ASC) rules-wasm/$$r/$$r.ts -o bin/rules/$$r.wasm $(ASCFLAGS) || exit 1; \
	done

## run: build and start the router on 127.0.0.1:8080 with the default config (no API keys needed)
run: build
	bin/switchyard --config $(CONFIG)

# The packages with goroutines of their own, run under the race detector by `make test`
# (instead of a plain run: each test runs once).
RACE_PKGS := ./host/pipeline ./host/circuit ./host/admission ./host/providers ./host/rules ./host/server ./host/ledger

# The npm packages host/e2e drives (the openai client), at the versions package-lock.json
# pins; node and npm come with the rule toolchains.
E2E_NODE := host/e2e/node
e2e-node: toolchains
	@if [[ ! -d $(E2E_NODE)/node_modules/openai || $(E2E_NODE)/package-lock.json -nt $(E2E_NODE)/node_modules/.package-lock.json ]]; then \
	  echo "(cd $(E2E_NODE) && npm ci)"; (cd $(E2E_NODE) && npm ci --no-audit --no-fund --loglevel=error) || exit 1; \
	fi

## test: build everything and run every test (a missing toolchain fails, never skips)
test: build rules e2e-node
	$(GO) vet ./...
	GOOS=wasip1 GOARCH=wasm $(GO) vet ./sdk/rule/... ./rules-wasm/...
	@all=$$($(GO) list ./...) && race=$$($(GO) list $(RACE_PKGS)) && \
	  plain=$$(grep -vxF -f <(echo "$$race") <<<"$$all") || exit 1; \
	  rc=0; \
	  echo "$(GO) test -count=1 -timeout 15m <every package but RACE_PKGS>"; \
	  $(GO) test -count=1 -timeout 15m $$plain || rc=1; \
	  echo "$(GO) test -count=1 -race -timeout 20m $(RACE_PKGS)"; \
	  $(GO) test -count=1 -race -timeout 20m $$race || rc=1; \
	  exit $$rc

## bench: rule evaluation, the plugin round trip, a whole request through the router, the ledger's
## SQLite writes and the limits' state (local and a private Redis); then the medians against the targets
bench: build rules
	set -o pipefail; $(GO) test -run '^$$' -bench . -benchmem -count 5 ./host/rules/ ./host/server/ ./host/ledger/ ./host/state/ ./host/e2e/ | tee bin/bench.txt
	awk -f host/loadtest/bench-targets.awk bin/bench.txt

## soak: mixed traffic with injected faults for SOAK_DURATION (default 3m); not part of make test
SOAK_DURATION ?= 3m
soak: build
	SOAK_DURATION=$(SOAK_DURATION) $(GO) test -tags soak -count=1 -run '^TestSoak$$' -timeout 30m -v ./host/e2e/

## loadtest: direct, a bare proxy and Switchyard side by side on 127.0.0.1, then ledger, keys and Redis limits
## paired with their baselines (~7 min; LOADTEST_FLAGS=--quick ~2 min)
LOADTEST_FLAGS ?=
loadtest: build rules
	$(GO) run ./host/cmd/loadtest $(LOADTEST_FLAGS)

## fuzz: run each fuzz target for a short while
FUZZTIME ?= 20s
fuzz:
	@set -e; for spec in $$(grep -rl --include='*_test.go' '^func Fuzz' host sdk plugins rules-wasm | xargs -n1 dirname | sort -u); do \
	  for f in $$(grep -h '^func Fuzz' $$spec/*_test.go | sed 's/func \(Fuzz[A-Za-z0-9_]*\).*/\1/'); do \
	    echo "== $$spec $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) ./$$spec; \
	  done; \
	done

$(TOOLS)/buf $(TOOLS)/protoc-gen-go $(TOOLS)/protoc-gen-go-grpc:
	@mkdir -p $(TOOLS)
	GOBIN=$(TOOLS) $(GO) install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
	GOBIN=$(TOOLS) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	GOBIN=$(TOOLS) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)

## gen: regenerate the protobuf code with the pinned tools
gen: $(TOOLS)/buf $(TOOLS)/protoc-gen-go $(TOOLS)/protoc-gen-go-grpc
	cd api && PATH=$(TOOLS):$$PATH buf generate --template provider/v1/buf.gen.yaml provider/v1/provider.proto

## check: fail when the generated code, go.mod/go.sum or the formatting is stale
# The protobuf code is generated into a temporary folder and compared with the tree's, so a
# check changes no file.
check: $(TOOLS)/buf $(TOOLS)/protoc-gen-go $(TOOLS)/protoc-gen-go-grpc
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	  (cd api && PATH=$(TOOLS):$$PATH buf generate --template provider/v1/buf.gen.yaml -o "$$tmp" provider/v1/provider.proto) && \
	  stale=$$( (cd "$$tmp" && find . -name '*.pb.go') | while read -r f; do \
	      cmp -s "$$tmp/$$f" "api/$$f" || echo "  api/$${f#./}"; done; \
	    (cd api && find . -name '*.pb.go') | while read -r f; do \
	      test -e "$$tmp/$$f" || echo "  api/$${f#./} (no longer generated)"; done ) && \
	  if [ -n "$$stale" ]; then echo "generated code is stale: run make gen and commit"; echo "$$stale"; exit 1; fi
	@$(GO) mod tidy -diff >/dev/null || { $(GO) mod tidy -diff; echo "go.mod/go.sum are not tidy: run go mod tidy and commit"; exit 1; }
	@files=$$(git ls-files --cached --others --exclude-standard '*.go' | while read -r f; do [ ! -e "$$f" ] || echo "$$f"; done) && \
	  bad=$$(gofmt -l $$files) && \
	  if [ -n "$$bad" ]; then echo "$$bad"; echo "not gofmt-ed"; exit 1; fi

vet:
	$(GO) vet ./...

clean:
	rm -rf bin
