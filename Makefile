# lockerd — see README.md. Every target works on a fresh machine with Go 1.26.
GO        ?= go
PKGS      := ./...
VERSION   ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X github.com/lockerd/lockerd/firmware.Version=$(VERSION)
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: all build run test test-short race bench lint fmt cross clean fuzz

all: lint test build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/lockerd ./firmware/cmd/lockerd
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/locker-sim ./sim/cmd/locker-sim
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/lockerctl ./mqtt/cmd/lockerctl

# The simulator: a virtual station (real lockerd; CU16 boards and a scanner on ptys, GPIO
# doors and a keypad on fake pins) and a
# simulated cloud, playing a deposit and a pickup end to end.
# Built, then run (not `go run`, which exits 1 after a Ctrl-C however clean the stop).
run:
	CGO_ENABLED=0 $(GO) build -o bin/locker-sim ./sim/cmd/locker-sim
	bin/locker-sim $(ARGS)

# The whole suite, including the SIGKILL crash test (200+ kills) and the real-broker
# integration tests. CI runs this.
test:
	$(GO) test -race -timeout 20m $(PKGS)

test-short:
	$(GO) test -short $(PKGS)

bench:
	$(GO) test -run '^$$' -bench . -timeout 30m $(BENCHFLAGS) ./locker/... ./drivers/... ./mqtt/... ./firmware/...

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet $(PKGS)
	$(GO) run $(STATICCHECK) $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

cross:
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -o /dev/null ./...
	GOOS=linux GOARCH=arm GOARM=6 CGO_ENABLED=0 $(GO) build -o /dev/null ./...
	GOOS=linux GOARCH=arm GOARM=7 CGO_ENABLED=0 $(GO) build -o /dev/null ./...

# A short pass over every fuzz target (FUZZTIME each).
FUZZTIME ?= 10s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

clean:
	rm -rf bin
