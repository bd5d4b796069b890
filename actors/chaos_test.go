package actors_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/mobd-dev/mobd/actors"
	"github.com/mobd-dev/mobd/rpc"
	"github.com/mobd-dev/mobd/supervision"
)

// The chaos test: 50 sessions run 1,000 turns in total on a pool of 4
// rkat-sim processes while random processes are killed with SIGKILL. Every
// accepted turn must end completed (possibly rerun or recovered) or with a
// typed error, exactly once; the runtimes' histories must hold every
// completed turn exactly once and no turn twice; every session must be
// usable afterwards; and no goroutine may leak (TestMain).
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos test skipped in -short mode")
	}
	const (
		sessions        = 50
		turnsPerSession = 20
		killEvery       = 60 * time.Millisecond
	)
	e := startEngine(t, actors.Config{
		PoolSize: 4,
		Logger:   zap.NewNop(), // thousands of lines otherwise
		Supervision: supervision.Spec{
			Intensity: 10000, Period: time.Minute,
			// A runtime is killed long before it has been up for
			// Backoff.ResetAfter, so its backoff would keep doubling up to
			// the engine's 5 s cap: the runtimes would spend most of the
			// test waiting to restart (about 95% of it) and the test would
			// take most of testCtx's minute on a loaded machine. The chaos
			// is in the kills, not in the waits.
			Backoff: supervision.Backoff{Max: 20 * time.Millisecond},
			Probe:   supervision.ProbeSpec{Interval: -1},
		},
	})
	ctx := testCtx(t)
	refs := make([]*actors.SessionRef, sessions)
	for i := range refs {
		s, err := e.CreateSession(ctx, rpc.Text(fmt.Sprintf("session %d", i)), rpc.SessionOptions{})
		if err != nil {
			t.Fatal(err)
		}
		refs[i] = s
	}

	// The killer runs until every turn has ended.
	stop := make(chan struct{})
	killerDone := make(chan struct{})
	var kills atomic.Int64
	go func() {
		defer close(killerDone)
		rnd := rand.New(rand.NewPCG(1, 2))
		tick := time.NewTicker(killEvery)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			rts := e.Runtimes()
			r := rts[rnd.IntN(len(rts))]
			if r.PID != 0 && syscall.Kill(r.PID, syscall.SIGKILL) == nil {
				kills.Add(1)
			}
		}
	}()

	type record struct {
		session int
		prompt  string
		want    string
		res     *actors.TurnResult
		err     error
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		records []record
	)
	start := time.Now()
	for i, s := range refs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range turnsPerSession {
				want := fmt.Sprintf("s%d t%d alpha beta gamma", i, j)
				prompt := "echo: " + want + " [[sim:slow 2ms]]"
				var res *actors.TurnResult
				var err error
				if j%5 == 4 {
					st := s.Stream(ctx, rpc.Text(prompt), rpc.TurnOptions{})
					for st.Next() {
					}
					res, err = st.Result()
				} else {
					res, err = s.Turn(ctx, rpc.Text(prompt), rpc.TurnOptions{})
				}
				mu.Lock()
				records = append(records, record{session: i, prompt: prompt, want: want, res: res, err: err})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(stop)
	<-killerDone

	var completed, rerun, recovered, unknown, lost int
	for _, r := range records {
		var te *actors.TurnError
		switch {
		case r.err == nil:
			completed++
			if r.res.Text != r.want {
				t.Errorf("session %d: %q answered %q", r.session, r.prompt, r.res.Text)
			}
			if r.res.Attempts == 2 {
				rerun++
			}
			if r.res.Recovered {
				recovered++
			}
		case errors.Is(r.err, actors.ErrTurnOutcomeUnknown) && errors.As(r.err, &te):
			unknown++
		case errors.Is(r.err, actors.ErrTurnLost) && errors.As(r.err, &te):
			lost++
		default:
			t.Errorf("session %d: %q ended with an untyped error: %v", r.session, r.prompt, r.err)
		}
	}
	if len(records) != sessions*turnsPerSession {
		t.Fatalf("%d turns ended, want %d", len(records), sessions*turnsPerSession)
	}
	if d := actors.Duplicates(e); d != 0 {
		t.Fatalf("%d replies were delivered twice", d)
	}
	if d := actors.DeadLetters(e); d != 0 {
		t.Fatalf("%d messages went to actors that were gone", d)
	}
	t.Logf("%d turns in %v with %d SIGKILLs: %d completed (%d rerun, %d recovered from history), %d outcome unknown, %d lost",
		len(records), elapsed.Round(time.Millisecond), kills.Load(), completed, rerun, recovered, unknown, lost)
	if kills.Load() == 0 {
		t.Fatal("no runtime was killed")
	}

	// Every session is usable afterwards.
	for i, s := range refs {
		if res, err := s.Turn(ctx, rpc.Text("echo: done"), rpc.TurnOptions{}); err != nil || res.Text != "done" {
			t.Fatalf("session %d after the chaos: %+v, %v", i, res, err)
		}
	}

	// The histories agree: a completed turn is committed exactly once, a
	// lost one never, none twice.
	for i, s := range refs {
		counts := countUserMessages(t, e, s.ID())
		for _, r := range records {
			if r.session != i {
				continue
			}
			n := counts[r.prompt]
			var te *actors.TurnError
			switch {
			case r.err == nil && n != 1:
				t.Errorf("session %d: completed turn %q committed %d times", i, r.prompt, n)
			case errors.Is(r.err, actors.ErrTurnLost) && n != 0:
				t.Errorf("session %d: lost turn %q committed %d times", i, r.prompt, n)
			case errors.As(r.err, &te) && te.Committed && n != 1:
				t.Errorf("session %d: unknown turn %q committed %d times", i, r.prompt, n)
			case n > 1:
				t.Errorf("session %d: turn %q committed %d times", i, r.prompt, n)
			}
		}
	}
	_ = context.Background
}
