package server

import (
	"encoding/json"
	"sync"
	"testing"

	"github.com/mobd-dev/mobd/journal"
	"github.com/mobd-dev/mobd/mob"
)

func record(t *testing.T, seq uint64, ev mob.Event) journal.Record {
	t.Helper()
	data, err := json.Marshal(&ev)
	if err != nil {
		t.Fatal(err)
	}
	return journal.Record{Seq: seq, Mob: ev.Mob, Run: ev.Run, Kind: ev.Type, Data: data}
}

// TestEventCache checks that concurrent streams share one encoding of a
// record, that it is the record with its cursor, that a stream far behind
// does not evict newer records, and that non-event records are flagged.
func TestEventCache(t *testing.T) {
	var c eventCache
	rec := record(t, 7, mob.Event{Mob: "m", Type: mob.EventStepDispatched, Run: "r", Step: "s", Member: "a", Peer: "b", SessionID: "sid"})

	const streams = 32
	got := make([]*encodedEvent, streams)
	var wg sync.WaitGroup
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i] = c.encode(rec)
		}()
	}
	wg.Wait()
	for _, ev := range got {
		if ev != got[0] {
			t.Fatal("concurrent streams encoded the same record separately")
		}
	}
	ev := got[0]
	var back mob.Event
	if err := json.Unmarshal(ev.data, &back); err != nil {
		t.Fatal(err)
	}
	if !ev.ok || back.Cursor != 7 || back.Type != mob.EventStepDispatched || ev.name != back.Type ||
		ev.member != "a" || ev.peer != "b" || ev.session != "sid" {
		t.Fatalf("encoded %+v: %s", ev, ev.data)
	}

	// A newer record in the same slot replaces it; the older one is then
	// encoded on the side, without evicting the newer.
	newer := record(t, 7+eventCacheSize, mob.Event{Mob: "m", Type: mob.EventFlowCompleted, Run: "r"})
	n := c.encode(newer)
	if old := c.encode(rec); old == ev || old == n || string(old.data) != string(ev.data) {
		t.Fatalf("an old record: %+v", old)
	}
	if c.encode(newer) != n {
		t.Fatal("an old record evicted a newer one")
	}

	if bad := c.encode(journal.Record{Seq: 9, Mob: "m", Kind: "x", Data: json.RawMessage(`[1]`)}); bad.ok {
		t.Fatal("a record that is not a mob event was flagged ok")
	}
}
