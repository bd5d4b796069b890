package actors_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/mobd-dev/mobd/actors"
	"github.com/mobd-dev/mobd/rpc"
	"github.com/mobd-dev/mobd/supervision"
	"github.com/mobd-dev/mobd/supervision/supervisiontest"
)

// flakyRuntime writes a runtime wrapper that runs rkat-sim, unless the
// returned flag file exists: then it fails at once, as a runtime with a
// broken installation would. Every start is logged to the returned file.
func flakyRuntime(t *testing.T) (bin, flag, starts string) {
	t.Helper()
	dir := t.TempDir()
	bin, flag, starts = filepath.Join(dir, "rkat-flaky"), filepath.Join(dir, "broken"), filepath.Join(dir, "starts")
	script := fmt.Sprintf("#!/bin/sh\necho start >> %q\nif [ -e %q ]; then echo 'rkat-flaky: broken installation' >&2; exit 1; fi\nexec %q \"$@\"\n", starts, flag, simBin)
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin, flag, starts
}

func lines(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "\n")
}

// A runtime that keeps failing exhausts the pool's restart intensity: the
// supervisor gives up and escalates, after a bounded number of attempts,
// and every turn — running, queued or new — fails with
// ErrRuntimeUnavailable.
func TestCrashLoopEscalates(t *testing.T) {
	t.Parallel()
	bin, flag, starts := flakyRuntime(t)
	rec := supervisiontest.NewRecorder()
	e := startEngine(t, actors.Config{PoolSize: 1, BinaryPath: bin, Supervision: supervision.Spec{
		EventHook: rec.Hook(), Intensity: 3, Period: time.Minute,
	}})
	ctx := testCtx(t)
	s := mustSession(t, ctx, e)
	st := s.Stream(ctx, rpc.Text("count to 500 [[sim:slow 5ms]]"), rpc.TurnOptions{})
	firstDelta(t, st)
	queued := turnAsync(ctx, s, "echo: queued")
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	kill(t, e, "runtime-0")

	esc, err := supervisiontest.Await(ctx, rec, func(supervision.EventEscalated) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	var escErr *supervision.EscalationError
	if !errors.As(esc.Err, &escErr) || escErr.Child != "runtime-0" {
		t.Fatalf("escalation = %v", esc.Err)
	}
	for st.Next() {
	}
	if _, err := st.Result(); !errors.Is(err, actors.ErrRuntimeUnavailable) || !errors.Is(err, actors.ErrTurnOutcomeUnknown) {
		t.Fatalf("running turn = %v, want ErrRuntimeUnavailable and ErrTurnOutcomeUnknown", err)
	}
	if o := <-queued; !errors.Is(o.err, actors.ErrRuntimeUnavailable) || !errors.Is(o.err, supervision.ErrIntensityExceeded) {
		t.Fatalf("queued turn = %v", o.err)
	}
	if _, err := s.Turn(ctx, rpc.Text("echo: later"), rpc.TurnOptions{}); !errors.Is(err, actors.ErrRuntimeUnavailable) {
		t.Fatalf("new turn = %v", err)
	}
	if _, err := e.CreateSession(ctx, rpc.Text("hello"), rpc.SessionOptions{}); !errors.Is(err, actors.ErrRuntimeUnavailable) {
		t.Fatalf("new session = %v", err)
	}
	if err := e.Err(); !errors.Is(err, actors.ErrRuntimeUnavailable) || !errors.Is(err, supervision.ErrIntensityExceeded) {
		t.Fatalf("engine error = %v", err)
	}
	// No busy loop: the first process and exactly Intensity restarts.
	restarts := 0
	for _, ev := range rec.Events() {
		if ev.Type() == supervision.EventTypeRestarted {
			restarts++
		}
	}
	if n := lines(t, starts); restarts != 3 || n != 4 {
		t.Fatalf("%d restarts, %d process starts; want 3 and 4", restarts, n)
	}
}

// A runtime that cannot start at all makes Start fail with a clear error.
func TestStartFailsOnBrokenRuntime(t *testing.T) {
	t.Parallel()
	bin, flag, _ := flakyRuntime(t)
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := actors.Start(testCtx(t), actors.Config{
		PoolSize: 2, BinaryPath: bin, StateRoot: t.TempDir(), Logger: zaptest.NewLogger(t),
		Supervision: supervision.Spec{Intensity: 2, Backoff: supervision.Backoff{Base: time.Millisecond}},
	})
	if !errors.Is(err, actors.ErrRuntimeUnavailable) || !errors.Is(err, supervision.ErrIntensityExceeded) || !errors.Is(err, rpc.ErrConnectionClosed) {
		t.Fatalf("Start = %v, want ErrRuntimeUnavailable wrapping the escalation and the lost runtime", err)
	}
	// When the handshake's read sees the exit (rather than its write), the
	// error carries the runtime's exit status and stderr.
	var exit *rpc.ExitError
	if errors.As(err, &exit) && !strings.Contains(err.Error(), "broken installation") {
		t.Fatalf("Start error does not carry the runtime's stderr: %v", err)
	}
}
