# mobd — build, run, test and benchmark.
# Only Go is needed: modules download on first use.

GO      ?= go
BIN     := $(CURDIR)/bin
PROMPT  ?= What is the capital of France?
DELAY   ?= 25ms

.PHONY: all build run test vet fmt-check bench bench-rpc clean

all: build

## build: compile every package and the binaries into ./bin
build:
	$(GO) build ./...
	$(GO) build -o $(BIN)/rkat-sim ./cmd/rkat-sim

## run: stream an answer from the simulated runtime (the embedded default)
run: build
	MEERKAT_BIN_PATH=$(BIN)/rkat-sim RKAT_SIM_TOKEN_DELAY=$(DELAY) \
		$(GO) run ./examples/quickstart $(PROMPT)

## test: formatting, vet, and the whole suite with the race detector
test: fmt-check vet
	$(GO) test -race -count=1 -timeout 14m ./...

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## bench: every benchmark, figures for the notes
bench: bench-rpc bench-actors

## bench-rpc: SDK stream throughput against a bare read loop (alone, so its
## RSS figure is its own), turn round trips, per-event parsing costs
bench-rpc:
	$(GO) test -run '^$$' -bench 'StreamThroughput' -benchmem -benchtime 3x -count 1 ./rpc/
	$(GO) test -run '^$$' -bench 'TurnRoundTrip|ConcurrentTurns' -benchmem -benchtime 2s -count 1 ./rpc/
	$(GO) test -run '^$$' -bench 'ParseEnvelope|Pipeline|Unmarshal' -benchmem -count 1 ./rpc/

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
