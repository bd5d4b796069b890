package rpc_test

import (
	"runtime"
	"testing"

	"github.com/mobd-dev/mobd/rpc"
)

// TestKeptResultsStaySmall checks that a kept turn result costs about its
// own size: the reader copies what it reads into shared blocks, and a
// result that kept a piece of one would keep the whole block alive. It
// keeps one result in every 40 turns (so that each could pin a block of
// its own) and bounds the heap they hold.
func TestKeptResultsStaySmall(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 800 turns")
	}
	c := connectSim(t, rpc.Options{})
	ctx := testCtx(t)
	s := newSession(t, ctx, c)
	const kept, every = 20, 40
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.HeapAlloc
	results := make([]*rpc.RunResult, 0, kept)
	for i := range kept * every {
		res, err := s.Turn(ctx, rpc.Text("echo: the quick brown fox"), rpc.TurnOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if i%every == 0 {
			results = append(results, res)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	grew := int64(ms.HeapAlloc) - int64(before)
	t.Logf("the heap grew by %d bytes for %d kept results", grew, kept)
	if perResult := grew / kept; perResult > 8<<10 {
		t.Errorf("the heap grew by %d KiB for %d kept results: %d bytes each, want under 8 KiB", grew>>10, kept, perResult)
	}
	runtime.KeepAlive(results)
}
