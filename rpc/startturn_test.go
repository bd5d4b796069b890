package rpc_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mobd-dev/mobd/rpc"
)

// outcome is what StartTurn's done received.
type outcome struct {
	res *rpc.RunResult
	err error
}

// startTurn calls StartTurn and returns a channel that receives done's
// outcome, failing the test if done is called more than once.
func startTurn(t *testing.T, ctx context.Context, s *rpc.Session, prompt string) <-chan outcome {
	t.Helper()
	ch := make(chan outcome, 2)
	s.StartTurn(ctx, rpc.Text(prompt), rpc.TurnOptions{}, func(res *rpc.RunResult, err error) {
		ch <- outcome{res, err}
	})
	return ch
}

func waitOutcome(t *testing.T, ch <-chan outcome) outcome {
	t.Helper()
	select {
	case o := <-ch:
		select {
		case o2 := <-ch:
			t.Fatalf("done called twice: %+v, then %+v", o, o2)
		case <-time.After(50 * time.Millisecond):
		}
		return o
	case <-time.After(20 * time.Second):
		t.Fatal("done was not called")
		return outcome{}
	}
}

func TestStartTurn(t *testing.T) {
	c := startSim(t, rpc.Options{})
	ctx := testCtx(t)
	s := newSession(t, ctx, c)
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	tests := []struct {
		name    string
		session *rpc.Session
		ctx     context.Context
		prompt  string
		check   func(t *testing.T, o outcome)
	}{
		{"result", s, ctx, "echo: hello there", func(t *testing.T, o outcome) {
			if o.err != nil || o.res == nil || o.res.Text != "hello there" {
				t.Fatalf("outcome = %+v, %v", o.res, o.err)
			}
		}},
		{"many events dropped", s, ctx, "[[sim:tokens 20000]]", func(t *testing.T, o outcome) {
			if o.err != nil || o.res == nil || o.res.Usage.OutputTokens == 0 {
				t.Fatalf("outcome = %+v, %v", o.res, o.err)
			}
		}},
		{"remote error", s, ctx, "x [[sim:error -32011 budget gone]]", func(t *testing.T, o outcome) {
			var re *rpc.Error
			if o.res != nil || !errors.As(o.err, &re) {
				t.Fatalf("outcome = %+v, %v; want an *rpc.Error", o.res, o.err)
			}
		}},
		{"invalid arguments", c.Session(""), ctx, "echo: no session", func(t *testing.T, o outcome) {
			if !errors.Is(o.err, rpc.ErrInvalidArgs) {
				t.Fatalf("err = %v, want ErrInvalidArgs", o.err)
			}
		}},
		{"done ctx", s, canceled, "echo: never", func(t *testing.T, o outcome) {
			if !errors.Is(o.err, rpc.ErrNotSent) || !errors.Is(o.err, context.Canceled) {
				t.Fatalf("err = %v, want ErrNotSent and context.Canceled", o.err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, waitOutcome(t, startTurn(t, tt.ctx, tt.session, tt.prompt)))
		})
	}
	// The session records the last result, as after Turn.
	o := waitOutcome(t, startTurn(t, ctx, s, "echo: last"))
	if o.err != nil || s.Text() != "last" {
		t.Fatalf("Text() = %q after %v", s.Text(), o.err)
	}
}

// startSlowTurn connects to rkat-sim, creates a session and starts a turn
// on it that runs for seconds.
func startSlowTurn(t *testing.T) (context.Context, *rpc.Client, *rpc.Session, <-chan outcome) {
	t.Helper()
	c := connectSim(t, rpc.Options{})
	ctx := testCtx(t)
	s := newSession(t, ctx, c)
	return ctx, c, s, startTurn(t, ctx, s, "count to 100000 [[sim:slow 5ms]]")
}

func TestStartTurnRuntimeDies(t *testing.T) {
	ctx, c, s, slow := startSlowTurn(t)
	other := newSession(t, ctx, c)
	crash := startTurn(t, ctx, other, "count to 50 [[sim:crash]]")
	for _, ch := range []<-chan outcome{crash, slow} {
		var exit *rpc.ExitError
		if o := waitOutcome(t, ch); !errors.As(o.err, &exit) || !errors.Is(o.err, rpc.ErrConnectionClosed) {
			t.Fatalf("err = %v, want *ExitError wrapping ErrConnectionClosed", o.err)
		}
	}
	// After the death, the turn fails unsent, before StartTurn returns.
	called := false
	s.StartTurn(ctx, rpc.Text("echo: late"), rpc.TurnOptions{}, func(_ *rpc.RunResult, err error) {
		called = true
		if !errors.Is(err, rpc.ErrConnectionClosed) {
			t.Errorf("err = %v, want ErrConnectionClosed", err)
		}
	})
	if !called {
		t.Fatal("done not called before StartTurn returned")
	}
}

func TestStartTurnClientClosed(t *testing.T) {
	_, c, _, slow := startSlowTurn(t)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if o := waitOutcome(t, slow); !errors.Is(o.err, rpc.ErrClientClosed) {
		t.Fatalf("err = %v, want ErrClientClosed", o.err)
	}
}
