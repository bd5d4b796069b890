package dispatch_test

import (
	"sync"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"

	"github.com/mobd-dev/mobd/internal/dispatch"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestWarm(t *testing.T) {
	d := dispatch.NewWarm()
	// Sequential mailboxes reuse the warm goroutine; concurrent ones get
	// goroutines of their own; every function runs once.
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
	d.Close() // idle goroutines exit (goleak checks at the end of the package)
	d.Close() // idempotent
	done := make(chan struct{})
	d.Schedule(func() { ran.Add(1); close(done) }) // after Close: still runs
	<-done
	if got := ran.Load(); got != 71 {
		t.Fatalf("ran %d functions, want 71", got)
	}
	if d.Throughput() != dispatch.Throughput {
		t.Fatalf("Throughput() = %d, want %d", d.Throughput(), dispatch.Throughput)
	}
}

// TestWarmCloseWaitsForBusy checks that Close returns only after a
// mailbox that was running when it was called has finished.
func TestWarmCloseWaitsForBusy(t *testing.T) {
	d := dispatch.NewWarm()
	started, release := make(chan struct{}), make(chan struct{})
	var finished atomic.Bool
	d.Schedule(func() { close(started); <-release; finished.Store(true) })
	<-started
	closed := make(chan struct{})
	go func() { d.Close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("Close returned while a mailbox was running")
	default:
	}
	close(release)
	<-closed
	if !finished.Load() {
		t.Fatal("Close returned before the running mailbox finished")
	}
}
