package actors_test

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mobd-dev/mobd/actors"
	"github.com/mobd-dev/mobd/rpc"
	"github.com/mobd-dev/mobd/supervision"
	"github.com/mobd-dev/mobd/supervision/supervisiontest"
)

// pidOf returns the process id of the named runtime.
func pidOf(t *testing.T, e *actors.Engine, name string) int {
	t.Helper()
	for _, r := range e.Runtimes() {
		if r.Name == name && r.PID != 0 {
			return r.PID
		}
	}
	t.Fatalf("runtime %s is not running: %+v", name, e.Runtimes())
	return 0
}

// kill sends SIGKILL to the named runtime's process.
func kill(t *testing.T, e *actors.Engine, name string) {
	t.Helper()
	if err := syscall.Kill(pidOf(t, e, name), syscall.SIGKILL); err != nil {
		t.Fatalf("kill %s: %v", name, err)
	}
}

// firstDelta reads st until its first text delta.
func firstDelta(t *testing.T, st *actors.Stream) {
	t.Helper()
	for st.Next() {
		if _, ok := st.Current().(*rpc.TextDelta); ok {
			return
		}
	}
	t.Fatalf("stream ended before its first delta: %v", st.Err())
}

// hangRuntime starts a turn in s that hangs its runtime hard, and returns
// its stream once the runtime is hung: rkat-sim arms the hang before it
// writes the turn's turn_started event, and from then on drops every
// request, probes included, until the probes get the runtime killed.
// (Waiting for a failed probe instead is no proof of the hang: a probe in
// flight when a runtime crashes fails too, and the event stays recorded.)
func hangRuntime(t *testing.T, ctx context.Context, s *actors.SessionRef, prompt string) *actors.Stream {
	t.Helper()
	st := s.Stream(ctx, rpc.Text(prompt+" [[sim:hang hard]]"), rpc.TurnOptions{})
	for st.Next() {
		if _, ok := st.Current().(*rpc.TurnStarted); ok {
			return st
		}
	}
	t.Fatalf("the hanging turn ended before it started: %v", st.Err())
	return nil
}

type outcome struct {
	res *actors.TurnResult
	err error
}

func turnAsync(ctx context.Context, s *actors.SessionRef, prompt string) <-chan outcome {
	ch := make(chan outcome, 1)
	go func() {
		res, err := s.Turn(ctx, rpc.Text(prompt), rpc.TurnOptions{})
		ch <- outcome{res, err}
	}()
	return ch
}

// A SIGKILL in the middle of a streamed turn: its user message is committed
// without a reply, so the caller gets ErrTurnOutcomeUnknown; turns queued
// behind it run on the restarted runtime, and the session keeps working.
func TestKillMidTurnOutcomeUnknown(t *testing.T) {
	t.Parallel()
	rec := supervisiontest.NewRecorder()
	e := startEngine(t, actors.Config{PoolSize: 1, Supervision: supervision.Spec{EventHook: rec.Hook()}})
	ctx := testCtx(t)
	s, err := e.CreateSession(ctx, rpc.Text("My name is Ada."), rpc.SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st := s.Stream(ctx, rpc.Text("count to 200 [[sim:slow 5ms]]"), rpc.TurnOptions{})
	firstDelta(t, st)
	queued := turnAsync(ctx, s, "What is my name?")
	kill(t, e, "runtime-0")
	for st.Next() {
	}
	_, err = st.Result()
	var te *actors.TurnError
	if !errors.Is(err, actors.ErrTurnOutcomeUnknown) || !errors.As(err, &te) || !te.Committed || te.SessionID != s.ID() {
		t.Fatalf("killed turn = %v, want a committed ErrTurnOutcomeUnknown", err)
	}
	var exit *rpc.ExitError
	if !errors.As(err, &exit) || exit.Signal != "killed" {
		t.Fatalf("killed turn's cause = %v, want the runtime's *rpc.ExitError (killed)", err)
	}
	o := <-queued
	if o.err != nil || !strings.Contains(o.res.Text, "Ada") || o.res.Attempts != 1 {
		t.Fatalf("queued turn = %+v, %v", o.res, o.err)
	}
	if _, err := supervisiontest.Await(ctx, rec, func(ev supervision.EventCrashed) bool { return ev.Child == "runtime-0" }); err != nil {
		t.Fatal(err)
	}
	if r := e.Runtimes()[0]; r.Restarts != 1 || r.Generation != 2 || r.Sessions != 1 {
		t.Fatalf("runtime after one crash: %+v", r)
	}
	res, err := s.Turn(ctx, rpc.Text("echo: still here"), rpc.TurnOptions{})
	if err != nil || res.Text != "still here" {
		t.Fatalf("turn after recovery = %+v, %v", res, err)
	}
}

// A hung runtime is found by its health probes, killed and restarted, and
// the three turns it had in hand get the three verdicts: one had completed
// (recovered from the history, not rerun), one had committed its user
// message only (outcome unknown), one never reached the history (rerun
// once, on the new runtime).
func TestHungRuntimeVerdicts(t *testing.T) {
	t.Parallel()
	rec := supervisiontest.NewRecorder()
	e := startEngine(t, actors.Config{PoolSize: 1, Supervision: supervision.Spec{
		EventHook: rec.Hook(),
		Probe:     supervision.ProbeSpec{Interval: 50 * time.Millisecond, Timeout: 300 * time.Millisecond, Failures: 2},
	}})
	ctx := testCtx(t)
	var refs [3]*actors.SessionRef
	for i := range refs {
		s, err := e.CreateSession(ctx, rpc.Text("hello"), rpc.SessionOptions{})
		if err != nil {
			t.Fatal(err)
		}
		refs[i] = s
	}
	completes, stalls, later := refs[0], refs[1], refs[2]
	// A turn makes the session's history baseline known, so its next turn
	// is sent without a read first.
	if _, err := later.Turn(ctx, rpc.Text("echo: warm"), rpc.TurnOptions{}); err != nil {
		t.Fatal(err)
	}
	sub, err := completes.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	// The first turn is running when the runtime hangs; it completes
	// inside the runtime, but its answer is never written.
	st := completes.Stream(ctx, rpc.Text("count to 8 [[sim:slow 10ms]]"), rpc.TurnOptions{})
	firstDelta(t, st)
	stalled := hangRuntime(t, ctx, stalls, "wait for it")
	// The runtime is hung now: this turn is read and dropped.
	rerun := later.Stream(ctx, rpc.Text("echo: third"), rpc.TurnOptions{})

	for st.Next() {
	}
	res, err := st.Result()
	if err != nil || !res.Recovered || res.Text != "1 2 3 4 5 6 7 8" || res.Attempts != 1 {
		t.Fatalf("completed turn = %+v, %v; want it recovered from history", res, err)
	}
	sres, serr := stalled.Wait(ctx)
	var te *actors.TurnError
	if !errors.As(serr, &te) || !errors.Is(serr, actors.ErrTurnOutcomeUnknown) || !te.Committed {
		t.Fatalf("stalled turn = %+v, %v; want committed ErrTurnOutcomeUnknown", sres, serr)
	}
	var notices []*actors.RetryNotice
	for rerun.Next() {
		if n, ok := rerun.Current().(*actors.RetryNotice); ok {
			notices = append(notices, n)
		}
	}
	res, err = rerun.Result()
	if err != nil || res.Text != "third" || res.Attempts != 2 || res.Recovered {
		t.Fatalf("dropped turn = %+v, %v; want it rerun once", res, err)
	}
	if len(notices) != 1 || notices[0].Attempt != 2 || notices[0].Cause == "" {
		t.Fatalf("retry notices %+v, want one for attempt 2", notices)
	}
	crash, err := supervisiontest.Await(ctx, rec, func(supervision.EventCrashed) bool { return true })
	if err != nil || !errors.Is(crash.Err, supervision.ErrUnhealthy) {
		t.Fatalf("crash event = %+v, %v; want ErrUnhealthy", crash, err)
	}
	// The session's subscribers learn why the runtime went down.
	for sub.Next() {
		if n, ok := sub.Current().(*actors.RuntimeNotice); ok && n.EventType() == "mobd_runtime_down" {
			if !strings.Contains(n.Err, "unhealthy") {
				t.Errorf("runtime down notice %+v, want the probes' failure", n)
			}
			break
		}
	}
	// Every session is usable on the new runtime, and the completed turn
	// was not run twice.
	for i, s := range refs {
		if _, err := s.Turn(ctx, rpc.Text("echo: after"), rpc.TurnOptions{}); err != nil {
			t.Fatalf("session %d after recovery: %v", i, err)
		}
	}
	assertUserMessages(t, e, completes.ID(), "count to 8 [[sim:slow 10ms]]", 1)
	assertUserMessages(t, e, later.ID(), "echo: third", 1)
}

// assertUserMessages checks how often prompt was committed as a user
// message of session id, reading the realm with a separate client.
func assertUserMessages(t *testing.T, e *actors.Engine, id, prompt string, want int) {
	t.Helper()
	got := countUserMessages(t, e, id)[prompt]
	if got != want {
		t.Fatalf("session %s holds %d user messages %q, want %d", id, got, prompt, want)
	}
}

// countUserMessages reads session id's history with a client of its own on
// the engine's realm and counts the user messages by text.
func countUserMessages(t *testing.T, e *actors.Engine, id string) map[string]int {
	t.Helper()
	cfg := e.Config()
	c, err := rpc.Connect(testCtx(t), rpc.Options{BinaryPath: simBin, RealmID: cfg.RealmID, StateRoot: cfg.StateRoot, RealmBackend: cfg.RealmBackend})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	out := map[string]int{}
	for off := 0; ; {
		h, err := c.ReadSessionHistory(testCtx(t), id, off, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range h.Messages {
			if m.Role == "user" && m.Content != nil {
				out[m.Content.String()]++
			}
		}
		off += len(h.Messages)
		if !h.HasMore || len(h.Messages) == 0 {
			return out
		}
	}
}

// A runtime that dies during CreateSession: the engine finds out from the
// creation's label whether the session was made and how far its first turn
// got.
func TestCreateSessionRecovery(t *testing.T) {
	t.Parallel()
	e := startEngine(t, actors.Config{PoolSize: 1, Supervision: supervision.Spec{
		Probe: supervision.ProbeSpec{Interval: 50 * time.Millisecond, Timeout: 300 * time.Millisecond, Failures: 2},
	}})
	ctx := testCtx(t)

	// The runtime crashes half-way through the first turn: the session
	// exists, its first message is committed, its outcome unknown.
	_, err := e.CreateSession(ctx, rpc.Text("count to 40 [[sim:crash]]"), rpc.SessionOptions{})
	var te *actors.TurnError
	if !errors.As(err, &te) || !errors.Is(err, actors.ErrTurnOutcomeUnknown) || !te.Committed || te.SessionID == "" {
		t.Fatalf("create through a crash = %v; want a committed ErrTurnOutcomeUnknown naming the session", err)
	}
	s, err := e.Session(ctx, te.SessionID)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := s.Turn(ctx, rpc.Text("echo: usable"), rpc.TurnOptions{}); err != nil || res.Text != "usable" {
		t.Fatalf("turn on the recovered session = %+v, %v", res, err)
	}

	// The runtime hangs before it sees the creation: no session carries
	// its label, so it is made again on the restarted runtime.
	other, err := e.CreateSession(ctx, rpc.Text("hello"), rpc.SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stalled := hangRuntime(t, ctx, other, "wait")
	created, err := e.CreateSession(ctx, rpc.Text("echo: made"), rpc.SessionOptions{Labels: map[string]string{"team": "blue"}})
	if err != nil || created.Created().Attempts != 2 || created.Created().Text != "made" {
		t.Fatalf("create on a hung runtime = %+v, %v; want it made once, on the second attempt", created, err)
	}
	if _, err := stalled.Wait(ctx); !errors.Is(err, actors.ErrTurnOutcomeUnknown) {
		t.Fatalf("stalled turn = %v", err)
	}
	cfg := e.Config()
	c, err := rpc.Connect(ctx, rpc.Options{BinaryPath: simBin, RealmID: cfg.RealmID, StateRoot: cfg.StateRoot, RealmBackend: cfg.RealmBackend})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	list, err := c.ListSessions(ctx, rpc.ListSessionsOptions{Labels: map[string]string{"team": "blue"}})
	if err != nil || len(list) != 1 || list[0].SessionID != created.ID() || list[0].Labels[actors.CreateLabel] == "" {
		t.Fatalf("sessions labelled team=blue: %+v, %v; want exactly the created one", list, err)
	}
}

// TestFailedCreationHoldsNothing checks that a CreateSession that fails
// although the runtime made the session (it died under the first turn)
// leaves no hold on the session's actor: its caller got no SessionRef to
// release. The actor Session then gives stops once that hold is released,
// and its place on the runtime (MaxSessionsPerRuntime) is given back,
// rather than being kept until the engine shuts down.
func TestFailedCreationHoldsNothing(t *testing.T) {
	t.Parallel()
	e := startEngine(t, actors.Config{PoolSize: 1})
	ctx := testCtx(t)
	_, err := e.CreateSession(ctx, rpc.Text("count to 40 [[sim:crash]]"), rpc.SessionOptions{})
	var te *actors.TurnError
	if !errors.As(err, &te) || te.SessionID == "" {
		t.Fatalf("create through a crash = %v; want a *TurnError naming the session", err)
	}
	s, err := e.Session(ctx, te.SessionID)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := s.Turn(ctx, rpc.Text("echo: usable"), rpc.TurnOptions{}); err != nil || res.Text != "usable" {
		t.Fatalf("turn on the session = %+v, %v", res, err)
	}
	s.Release()
	wait, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	select {
	case <-s.Stopped():
	case <-wait.Done():
		t.Fatalf("the session's actor still runs after the only hold given out was released: %+v", e.Runtimes()[0])
	}
	if r := e.Runtimes()[0]; r.Sessions != 0 {
		t.Fatalf("runtime after the release: %+v; want no session placed", r)
	}
}
