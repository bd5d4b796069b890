# mobd — build, run, test and benchmark.
# Only Go is needed: modules download on first use.

GO      ?= go
BIN     := $(CURDIR)/bin
PROMPT  ?= What is the capital of France?
DELAY   ?= 25ms
# make run: the runtime (sim or rkat-rpc), the daemon's address, the state
# directory (one per runtime) and the demo flow's param.
RUNTIME ?= sim
ADDR    ?= 127.0.0.1:7878
STATE_DIR ?= .mobd/$(RUNTIME)
COUNTRY ?= France
# make load: how long the load runs (a Go duration) and extra flags of
# mobd-load (mobd-load -h lists them).
DURATION  ?= 60s
LOADFLAGS ?=

.PHONY: all build run quickstart load test vet fmt-check bench bench-rpc clean

all: build

## build: compile every package and the binaries into ./bin
build:
	$(GO) build ./...
	$(GO) build -o $(BIN)/rkat-sim ./cmd/rkat-sim
	$(GO) build -o $(BIN)/mobd ./cmd/mobd
	$(GO) build -o $(BIN)/mobd-load ./cmd/mobd-load

## run: start the daemon on rkat-sim runtimes, apply the demo mob
## (demo/briefing.toml), spawn its members, run its flow with live progress,
## then leave the daemon up (Ctrl-C stops it); see demo/run.sh
run: build
	@BIN=bin RUNTIME=$(RUNTIME) ADDR=$(ADDR) STATE=$(STATE_DIR) COUNTRY="$(COUNTRY)" DELAY=$(DELAY) \
		bash demo/run.sh

## quickstart: stream an answer from the simulated runtime through the SDK
quickstart: build
	MEERKAT_BIN_PATH=$(BIN)/rkat-sim RKAT_SIM_TOKEN_DELAY=$(DELAY) \
		$(GO) run ./examples/quickstart $(PROMPT)

## load: 100 concurrent flow runs and 200 SSE subscribers for $(DURATION)
## against a real `mobd serve --runtime sim` on loopback: API latency,
## events delivered against events journaled, daemon RSS
load: build
	$(BIN)/mobd-load -mobd $(BIN)/mobd -duration $(DURATION) $(LOADFLAGS)

## test: formatting, vet, and the whole suite with the race detector
test: browser fmt-check vet
	$(GO) test -race -count=1 -timeout 14m ./...

## browser: Debian's Chromium for the console's browser tests (console/),
## installed once by scripts/install-chromium.sh
.PHONY: browser
browser:
	@sh scripts/install-chromium.sh

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## bench: every benchmark, figures for the notes
bench: bench-rpc bench-actors bench-flows

## bench-rpc: SDK stream throughput against a bare read loop (alone, so its
## RSS figure is its own), turn round trips, per-event parsing costs
bench-rpc:
	$(GO) test -run '^$$' -bench 'StreamThroughput' -benchmem -benchtime 10x -count 3 ./rpc/
	$(GO) test -run '^$$' -bench 'TurnRoundTrip|ConcurrentTurns' -benchmem -benchtime 2s -count 1 ./rpc/
	$(GO) test -run '^$$' -bench 'ParseEnvelope|FastSessionEvent|Pipeline|Unmarshal' -benchmem -count 1 ./rpc/

clean:
	rm -rf $(BIN)

## bench-actors: a turn through the actor path against the bare SDK (same
## run), time from SIGKILL of a runtime hosting 100 sessions until all 100
## answer again (p50/p99), heap per idle session actor and per member actor
.PHONY: bench-actors
bench-actors:
	$(GO) test -run '^$$' -bench 'TurnOverhead' -benchtime 2000x -count 1 ./actors/
	$(GO) test -run '^$$' -bench 'Recovery100' -benchtime 20x -count 1 ./actors/
	$(GO) test -run '^$$' -bench 'Memory' -benchtime 1x -count 1 ./actors/

## bench-flows: a 10-step flow (journal on disk) against the same 10 turns
## through the SDK (same run, ratio), that ratio split by layer (session
## actor, member, flow), 1,000 concurrent 5-step runs
## (runs/s, heap per run), journal writes per step and per transaction
.PHONY: bench-flows
bench-flows:
	$(GO) test -run '^$$' -bench 'FlowOverhead' -benchtime 300x -count 3 ./mob/
	$(GO) test -run '^$$' -bench 'LayerOverhead' -benchtime 200x -count 1 ./mob/
	$(GO) test -run '^$$' -bench 'RunActor' -benchtime 300x -count 3 ./mob/
	$(GO) test -run '^$$' -bench 'ConcurrentRuns' -benchtime 2x -count 1 ./mob/
	$(GO) test -run '^$$' -bench 'Append' -benchtime 2000x -count 1 ./journal/
