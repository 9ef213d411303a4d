# lockerd — see README.md. Every target works on a fresh machine with Go 1.26.
GO        ?= go
PKGS      := ./...
VERSION   ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X github.com/lockerd/lockerd/firmware.Version=$(VERSION) -X main.version=$(VERSION)
# The commit's time, a floor for a board booted in 1970 (locker/clock.BuildTime, ADR 0058).
BUILD_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
LDFLAGS   += -X github.com/lockerd/lockerd/locker/clock.buildEpoch=$(BUILD_EPOCH)
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
GREMLINS  := github.com/go-gremlins/gremlins/cmd/gremlins@v0.6.0

.PHONY: fleet bench-fleet all build run test test-short race bench lint fmt cross clean fuzz mutate man completion package

all: lint test build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/lockerd ./firmware/cmd/lockerd
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/locker-sim ./sim/cmd/locker-sim
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/lockerctl ./mqtt/fleet/cmd/lockerctl

# The simulator: a virtual station (real lockerd; CU16 boards and a scanner on ptys, GPIO
# doors and a keypad on fake pins) and a
# simulated cloud, playing a deposit and a pickup end to end. It prints the address of
# its page ("sim: http://127.0.0.1:PORT/"); ARGS=-serve keeps it up to play courier and
# recipient in the browser.
# Built, then run (not `go run`, which exits 1 after a Ctrl-C however clean the stop).
run:
	CGO_ENABLED=0 $(GO) build -o bin/locker-sim ./sim/cmd/locker-sim
	bin/locker-sim $(ARGS)

# A fleet of N lockers (default 100) in one process, each a real lockerd on in-memory GPIO
# doors, on the simulator's embedded broker (ARGS=-broker URL ... for your own), playing a
# day of traffic compressed into minutes and checking the fleet side's events (sim/fleetsim).
# Stores on /dev/shm. `make fleet N=1000` needs about 1 GB of RAM.
N ?= 100
fleet:
	CGO_ENABLED=0 $(GO) build -o bin/locker-fleet ./sim/cmd/locker-fleet
	bin/locker-fleet -n $(N) $(ARGS)

# The whole suite, including the real-broker integration tests. CI runs this. The SIGKILL
# crash test (120 kills; LOCKERD_CRASH_KILLS for more) and the power-cut test (105 cuts;
# LOCKERD_POWER_CUTS) run after the rest, verbose, so that their counts are printed even
# when they pass (all of their output when they fail; bin/crash-tests.log either way).
# The 30-day keypad simulation (ADR 0046) asserts figures, not races, and takes four times
# as long under the race detector: it runs once more without it, with its figures printed.
# The fleet's cluster test (100 lockerd stations over three NATS nodes, one killed: docs/fleet.md)
# is a system test of the same kind, also run once without the race detector (the link's races
# are the business of mqtt/natstest's TestClusterFailover, which runs under it).
ENDURANCE = ^(TestCrashSafety|TestPowerCut)$$
SIMULATION = ^TestKeypadSimulation$$
FLEET = ^TestFleetClusterFailover$$
test:
	$(GO) test -race -timeout 20m -skip '$(ENDURANCE)|$(SIMULATION)|$(FLEET)' $(PKGS)
	@mkdir -p bin; $(GO) test -timeout 10m -v -run '$(SIMULATION)' ./locker/ >bin/keypad-simulation.log 2>&1; rc=$$?; \
	  if [ $$rc -eq 0 ]; then grep -E '^(---|ok)|keypad_sim_test' bin/keypad-simulation.log; \
	  else cat bin/keypad-simulation.log; fi; [ $$rc -eq 0 ]
	@mkdir -p bin; $(GO) test -timeout 15m -v -run '$(FLEET)' ./sim/fleetsim/ >bin/fleet-cluster.log 2>&1; rc=$$?; \
	  if [ $$rc -eq 0 ]; then grep -E '^(---|ok)|cluster_test' bin/fleet-cluster.log; \
	  else grep -v '^\s*\[' bin/fleet-cluster.log | tail -200; fi; [ $$rc -eq 0 ]
	@mkdir -p bin; $(GO) test -race -timeout 20m -v -run '$(ENDURANCE)' ./firmware/ >bin/crash-tests.log 2>&1; rc=$$?; \
	  if [ $$rc -eq 0 ]; then grep -E '^(---|ok)|(kills|power cuts) in |operator found' bin/crash-tests.log; \
	  else cat bin/crash-tests.log; fi; exit $$rc

test-short:
	$(GO) test -short $(PKGS)

bench:
	$(GO) test -run '^$$' -bench . -timeout 30m $(BENCHFLAGS) ./locker/... ./drivers/... ./mqtt/... ./firmware/... ./sim/...

# Issue 16's fleet benchmark alone (sim/fleetsim BenchmarkFleet; `make bench` runs it too):
# FLEET_LOCKERS lockers on one Mosquitto (1000; 100 is the size for CI), each sub-benchmark once.
FLEET_LOCKERS ?= 1000
bench-fleet:
	LOCKERD_FLEET_BENCH_LOCKERS=$(FLEET_LOCKERS) $(GO) test -run '^$$' -bench '^BenchmarkFleet$$' -benchtime 1x -timeout 30m $(BENCHFLAGS) ./sim/fleetsim/

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet $(PKGS)
	$(GO) run $(STATICCHECK) $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

# The unit tests of the core, the drivers and the protocol on the boards lockerd claims
# (docs/hardware.md): linux/arm64 (Pi 3/4/5, Zero 2 W on a 64-bit OS) and linux/arm
# with GOARM=6 (Pi Zero and Pi 1, every 32-bit Pi OS), under qemu-user (Debian's
# qemu-user-static, which .ci/run installs) through `go test -exec`. No -race: the race
# detector does not exist for arm, and emulation is slow enough already. binfmt_misc is
# not mounted on the CI machines: a test that starts its own binary again goes through
# testenv.SelfCommand, which runs ARM_EMU_* named by LOCKERD_TEST_EMULATOR.
# Left to the host (ARM_SKIP), with the reason:
#   TestKeypadSimulation         30 simulated days: minutes natively, far beyond the CI
#                                budget emulated; it computes figures, nothing that
#                                depends on the word size (make test runs it).
#   TestChatteringSensorIsAFault real-time windows of a few milliseconds (a sensor line
#   TestReaderSlowTypingAndJunk  toggled every 500us; bytes 5ms apart against an 80ms
#                                silence): emulated on a busy CI machine the gaps stretch
#                                past them. The logic they test is the same on every
#                                architecture; make test runs them natively.
# internal/arch holds the tests of what differs on 32 bits (atomics' alignment), with
# TestGrowsPastInitialMapping (bbolt's mapping) and TestIntFieldsBeyond32Bits (int).
ARM_PKGS  ?= ./locker/... ./drivers/... ./mqtt/protocol/... ./mqtt/jws/... ./firmware/config/... ./internal/arch/
ARM_SKIP  := ^(TestKeypadSimulation|TestChatteringSensorIsAFault|TestReaderSlowTypingAndJunk)$$
ARM_EMU_arm64 := /usr/bin/qemu-aarch64-static
ARM_EMU_arm   := /usr/bin/qemu-arm-static
.PHONY: test-arm
test-arm:
	@for arch in arm64 arm; do \
	  emu=$$(if [ $$arch = arm ]; then echo $(ARM_EMU_arm); else echo $(ARM_EMU_arm64); fi); \
	  [ -x $$emu ] || { echo "test-arm: $$emu is missing (apt-get install qemu-user-static)"; exit 1; }; \
	  echo "== linux/$$arch$$( [ $$arch = arm ] && echo ' GOARM=6') under $$emu"; \
	  GOOS=linux GOARCH=$$arch GOARM=6 CGO_ENABLED=0 LOCKERD_TEST_EMULATOR=$$emu \
	    $(GO) test -exec $$emu -timeout 10m -skip '$(ARM_SKIP)' $(ARM_PKGS) || exit 1; \
	done

cross:
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -o /dev/null ./...
	GOOS=linux GOARCH=arm GOARM=6 CGO_ENABLED=0 $(GO) build -o /dev/null ./...
	GOOS=linux GOARCH=arm GOARM=7 CGO_ENABLED=0 $(GO) build -o /dev/null ./...

# A short pass over every fuzz target (FUZZTIME each; FUZZFLAGS=-parallel=1 on a busy
# machine). Go 1.26's fuzz coordinator can fail a run at the FUZZTIME boundary with a
# bare "context deadline exceeded" when its workers are starved of CPU
# (go.dev/issue/75804, fixed in Go 1.27): with no failing input written and no seed
# failing, that is reported and the pass goes on; anything else stops it.
FUZZTIME ?= 10s
FUZZFLAGS ?=
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; \
	    out=$$($(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $(FUZZFLAGS) $$pkg 2>&1); rc=$$?; \
	    if [ $$rc -eq 0 ]; then echo "$$out" | grep -v '^fuzz: elapsed' ; \
	    elif echo "$$out" | grep -q 'context deadline exceeded' && \
	         ! echo "$$out" | grep -q -e 'Failing input written' -e 'failure while testing seed corpus'; then \
	      echo "   no failing input: the coordinator's deadline race (go.dev/issue/75804), not a finding"; \
	    else echo "$$out"; exit 1; fi; \
	  done; \
	done

# Mutation testing (docs/testing.md): gremlins mutates each package of MUTATE_PKGS in a
# copy of the tree and runs that package's tests against every mutant its tests cover;
# a mutant that survives is a change the tests cannot see. Slow (about 20 minutes for
# the default packages on two busy cores), so not part of `make test`. One package at a
# time with MUTATE_WORKERS workers; MUTATE_FLAGS adds gremlins flags (-E to leave files
# out); the JSON results go to bin/mutate/.
MUTATE_PKGS    ?= ./locker/waybill ./locker/privacy ./locker/audit ./mqtt/jws
MUTATE_WORKERS ?= 1
MUTATE_FLAGS   ?=
mutate:
	@mkdir -p bin/mutate
	@for p in $(MUTATE_PKGS); do \
	  echo "== $$p"; \
	  GOFLAGS="$$($(GO) env GOFLAGS) -count=1" $(GO) run $(GREMLINS) unleash --workers $(MUTATE_WORKERS) \
	    --timeout-coefficient 60 --output-statuses lt $(MUTATE_FLAGS) \
	    -o bin/mutate/$$(echo $$p | sed 's|^\./||; s|/|_|g').json $$p || exit 1; \
	done

# Man pages and bash/zsh/fish completion for lockerd and lockerctl, generated from the
# commands' definitions (internal/cli, cobra) by the binaries built for this machine:
# build outputs in bin/man and bin/completion, never edited by hand.
bin/host/lockerd bin/host/lockerctl: FORCE
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $@ ./$(if $(filter %lockerd,$@),firmware/cmd/lockerd,mqtt/fleet/cmd/lockerctl)
FORCE:

man: bin/host/lockerd bin/host/lockerctl
	@rm -rf bin/man; mkdir -p bin/man
	bin/host/lockerd man bin/man
	bin/host/lockerctl man bin/man
	gzip -9n bin/man/*.1

completion: bin/host/lockerd bin/host/lockerctl
	@rm -rf bin/completion; mkdir -p bin/completion
	for p in lockerd lockerctl; do \
	  bin/host/$$p completion bash >bin/completion/$$p.bash && \
	  bin/host/$$p completion zsh >bin/completion/_$$p && \
	  bin/host/$$p completion fish >bin/completion/$$p.fish || exit 1; \
	done

# Debian packages (firmware/packaging; nfpm v2.48.0, run by build-deb): lockerd and
# lockerctl for each of PACKAGE_ARCHES (armhf is GOARM=6: every 32-bit Raspberry Pi OS
# board), into bin/packages, then lintian (no errors; overrides carry their reasons).
PACKAGE_ARCHES ?= arm64 armhf amd64
package: man completion
	@rm -rf bin/packages; mkdir -p bin/packages
	@for a in $(PACKAGE_ARCHES); do for p in lockerd lockerctl; do \
	  GEN=bin VERSION=$(VERSION) GO=$(GO) firmware/packaging/build-deb $$p $$a bin/packages || exit 1; \
	done; done
	GEN=bin VERSION=$(VERSION) GO=$(GO) firmware/packaging/build-deb lockerd-kiosk all bin/packages
	lintian --fail-on error bin/packages/*.deb

clean:
	rm -rf bin
