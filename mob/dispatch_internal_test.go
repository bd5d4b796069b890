package mob

import (
	"sync"
	"sync/atomic"
	"testing"
)

func TestDispatcher(t *testing.T) {
	d := newDispatcher()
	// Sequential mailboxes reuse the warm worker; concurrent ones get
	// workers of their own; every function runs once.
	var ran atomic.Int64
	for range 50 {
		done := make(chan struct{})
		d.Schedule(func() { ran.Add(1); close(done) })
		<-done
	}
	var wg sync.WaitGroup
	release := make(chan struct{})
	for range 20 {
		wg.Add(1)
		d.Schedule(func() { defer wg.Done(); <-release; ran.Add(1) }) // all blocked at once
	}
	close(release)
	wg.Wait()
	d.close() // idle workers exit (goleak checks at the end of the package)
	done := make(chan struct{})
	d.Schedule(func() { ran.Add(1); close(done) }) // after close: still runs
	<-done
	if got := ran.Load(); got != 71 {
		t.Fatalf("ran %d functions, want 71", got)
	}
	if d.Throughput() != dispatchThroughput {
		t.Fatalf("Throughput() = %d", d.Throughput())
	}
}
