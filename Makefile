# Switchyard. `make test` is what CI runs (.ci/run); it installs the services
# the tests start (Redis, VersityGW, Jaeger) when missing.
GO      ?= go
PKGS    ?= ./...
export PATH := $(CURDIR)/.tools/bin:$(PATH)

.PHONY: all build test vet fmt-check services demo serve bench clean

all: build

build:
	$(GO) build -o bin/switchyard ./cmd/switchyard

services:
	./scripts/services.sh

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# Every test, with the race detector, against real services.
test: services fmt-check vet
	SWITCHYARD_REQUIRE_SERVICES=1 $(GO) test -race -count=1 -timeout 45m $(PKGS)

# The whole loop on embedded defaults: traffic, traces, training, hot reload, rollback.
demo:
	$(GO) run ./cmd/switchyard demo

serve:
	$(GO) run ./cmd/switchyard serve --config examples/quickstart.yaml

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

clean:
	rm -rf bin .switchyard
