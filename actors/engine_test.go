package actors_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/mobd-dev/mobd/actors"
	"github.com/mobd-dev/mobd/rpc"
	"github.com/mobd-dev/mobd/supervision"
	"github.com/mobd-dev/mobd/supervision/supervisiontest"
)

// testCtx returns a context that ends with the test (or after 60s).
func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// startEngine starts an engine on rkat-sim with quick restarts and shuts it
// down when the test ends, checking that no message went to a stopped
// actor.
func startEngine(t testing.TB, cfg actors.Config) *actors.Engine {
	t.Helper()
	return startEngineWith(t, cfg, false)
}

// startEngineWith is startEngine; a test that stops actors under their
// users on purpose passes deadLetters to allow messages to stopped actors.
func startEngineWith(t testing.TB, cfg actors.Config, deadLetters bool) *actors.Engine {
	t.Helper()
	if cfg.BinaryPath == "" {
		cfg.BinaryPath = simBin
	}
	if cfg.StateRoot == "" {
		cfg.StateRoot = t.TempDir()
	}
	if cfg.Logger == nil {
		cfg.Logger = zaptest.NewLogger(t, zaptest.Level(zapcore.InfoLevel))
	}
	if cfg.Supervision.Backoff.Base == 0 {
		cfg.Supervision.Backoff.Base = 5 * time.Millisecond
	}
	if cfg.Supervision.Backoff.Jitter == 0 {
		cfg.Supervision.Backoff.Jitter = -1
	}
	if cfg.CloseTimeout == 0 {
		cfg.CloseTimeout = time.Second
	}
	e, err := actors.Start(testCtx(t), cfg)
	if err != nil {
		t.Fatalf("start engine: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := e.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if n := actors.DeadLetters(e); n != 0 && !deadLetters {
			t.Errorf("%d messages went to actors that were gone", n)
		}
	})
	return e
}

// mustSession creates a session on e, greeted with "hello".
func mustSession(t testing.TB, ctx context.Context, e *actors.Engine) *actors.SessionRef {
	t.Helper()
	s, err := e.CreateSession(ctx, rpc.Text("hello"), rpc.SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTurnAndStreamThroughActors(t *testing.T) {
	t.Parallel()
	e := startEngine(t, actors.Config{PoolSize: 2})
	ctx := testCtx(t)
	s, err := e.CreateSession(ctx, rpc.Text("My name is Ada."), rpc.SessionOptions{Labels: map[string]string{"team": "red"}})
	if err != nil {
		t.Fatal(err)
	}
	if s.ID() == "" || s.Created() == nil || s.Created().SessionID != s.ID() || s.Created().Attempts != 1 {
		t.Fatalf("session %q created %+v", s.ID(), s.Created())
	}
	if got := e.Sessions()[s.ID()]; got != s {
		t.Fatalf("Sessions()[%s] = %v", s.ID(), got)
	}
	res, err := s.Turn(ctx, rpc.Text("What is my name?"), rpc.TurnOptions{})
	if err != nil || !strings.Contains(res.Text, "Ada") || res.Usage.OutputTokens == 0 || res.Runtime != s.Runtime() {
		t.Fatalf("turn = %+v, %v", res, err)
	}

	st := s.Stream(ctx, rpc.Text("count to 5"), rpc.TurnOptions{})
	if _, err := st.Result(); !errors.Is(err, rpc.ErrStreamNotConsumed) {
		t.Fatalf("Result before the end = %v", err)
	}
	var text strings.Builder
	var types []string
	for ev, err := range st.All() {
		if err != nil {
			t.Fatal(err)
		}
		types = append(types, ev.EventType())
		if d, ok := ev.(*rpc.TextDelta); ok {
			text.WriteString(d.Delta)
		}
	}
	res, err = st.Result()
	if err != nil || res.Text != "1 2 3 4 5" || text.String() != res.Text {
		t.Fatalf("stream result = %+v, %v; deltas %q", res, err, text.String())
	}
	if types[0] != "run_started" || types[len(types)-1] != "run_completed" {
		t.Fatalf("event order %v", types)
	}

	_, err = s.Turn(ctx, rpc.Text("boom [[sim:error -32010 provider down]]"), rpc.TurnOptions{})
	if !errors.Is(err, rpc.ErrProviderError) {
		t.Fatalf("failing turn = %v, want the runtime's PROVIDER_ERROR", err)
	}
	if res, err := s.Turn(ctx, rpc.Text("echo: fine"), rpc.TurnOptions{}); err != nil || res.Text != "fine" {
		t.Fatalf("turn after an error = %+v, %v", res, err)
	}
	info, err := s.Info(ctx)
	if err != nil || info.ID != s.ID() || !info.Attached || info.Running || info.Queued != 0 || info.Err != "" {
		t.Fatalf("info = %+v, %v", info, err)
	}
}

// Turns sent concurrently to one session queue in its mailbox instead of
// failing with SESSION_BUSY, and a mailbox that is full rejects at once.
func TestSessionMailbox(t *testing.T) {
	t.Parallel()
	e := startEngine(t, actors.Config{PoolSize: 1, SessionQueue: 3})
	ctx := testCtx(t)
	s := mustSession(t, ctx, e)
	slow := s.Stream(ctx, rpc.Text("count to 20 [[sim:slow 5ms]]"), rpc.TurnOptions{})
	firstDelta(t, slow)
	queued := []*actors.Stream{
		s.Stream(ctx, rpc.Text("echo: one"), rpc.TurnOptions{}),
		s.Stream(ctx, rpc.Text("echo: two"), rpc.TurnOptions{}),
	}
	if _, err := s.Turn(ctx, rpc.Text("echo: three"), rpc.TurnOptions{}); !errors.Is(err, actors.ErrOverloaded) {
		t.Fatalf("turn on a full mailbox = %v, want ErrOverloaded", err)
	}
	for i, st := range append([]*actors.Stream{slow}, queued...) {
		if res, err := st.Wait(ctx); err != nil {
			t.Fatalf("turn %d: %v", i, err)
		} else if i > 0 && res.Text != []string{"one", "two"}[i-1] {
			t.Fatalf("turn %d answered %q", i, res.Text)
		}
	}

	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := s.Turn(ctx, rpc.Text(fmt.Sprintf("echo: c%d", i)), rpc.TurnOptions{})
			if err == nil && res.Text != fmt.Sprintf("c%d", i) {
				err = fmt.Errorf("answered %q", res.Text)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent turn: %v", err)
		}
	}
}

// A plain turn is answered from the connection's reader, before the
// session actor has handled its end: the next turn, sent as soon as the
// answer is in, must still find the mailbox free (SessionQueue 1), and the
// session must look idle to the next request.
func TestBackToBackTurns(t *testing.T) {
	t.Parallel()
	e := startEngine(t, actors.Config{PoolSize: 1, SessionQueue: 1})
	ctx := testCtx(t)
	s := mustSession(t, ctx, e)
	for i := range 100 {
		want := fmt.Sprintf("t%d", i)
		res, err := s.Turn(ctx, rpc.Text("echo: "+want), rpc.TurnOptions{})
		if err != nil || res.Text != want || res.Attempts != 1 || res.Runtime != s.Runtime() {
			t.Fatalf("turn %d = %+v, %v", i, res, err)
		}
		info, err := s.Info(ctx)
		if err != nil || info.Running || info.Queued != 0 {
			t.Fatalf("after turn %d: info = %+v, %v; want idle", i, info, err)
		}
	}
}

// A new session's actor reads the session's history baseline right after
// creating it, before any turn asks for one, so that its first turn does
// not wait for that read.
func TestCreationReadsBaseline(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	e := startEngine(t, actors.Config{PoolSize: 1, Env: []string{"RKAT_SIM_TRANSCRIPT_DIR=" + dir}})
	ctx := testCtx(t)
	s := mustSession(t, ctx, e)
	read := func() bool {
		files, _ := filepath.Glob(filepath.Join(dir, "*.jsonl"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for line := range strings.Lines(string(b)) {
				if strings.Contains(line, `"method":"session/read"`) && strings.Contains(line, s.ID()) {
					return true
				}
			}
		}
		return false
	}
	deadline := time.After(10 * time.Second)
	for !read() {
		select {
		case <-deadline:
			t.Fatal("no session/read of the new session in 10s without a turn")
		case <-time.After(5 * time.Millisecond):
		}
	}
	if res, err := s.Turn(ctx, rpc.Text("echo: first"), rpc.TurnOptions{}); err != nil || res.Text != "first" {
		t.Fatalf("first turn = %+v, %v", res, err)
	}
}

// A session's actor stops once every hold on it is released and its turns
// are done; the session stays in the realm, and Session gives a new actor.
func TestSessionRelease(t *testing.T) {
	t.Parallel()
	e := startEngine(t, actors.Config{PoolSize: 1})
	ctx := testCtx(t)
	s := mustSession(t, ctx, e)
	id := s.ID()
	again, err := e.Session(ctx, id)
	if err != nil || again != s {
		t.Fatalf("Session(%s) = %p, %v; want the running actor %p", id, again, err, s)
	}
	s.Release() // one of two holds
	if _, err := s.Turn(ctx, rpc.Text("echo: still held"), rpc.TurnOptions{}); err != nil {
		t.Fatalf("turn after one of two releases: %v", err)
	}
	// The last release during a turn: the turn finishes, then the actor
	// stops.
	running := s.Stream(ctx, rpc.Text("count to 20 [[sim:slow 2ms]]"), rpc.TurnOptions{})
	again.Release()
	again.Release() // one too many: no-op
	for running.Next() {
	}
	if res, err := running.Result(); err != nil || res.Text == "" {
		t.Fatalf("turn that was running at the release = %+v, %v", res, err)
	}
	select {
	case <-s.Stopped():
	case <-ctx.Done():
		t.Fatal("the released session actor did not stop")
	}
	if _, ok := e.Sessions()[id]; ok {
		t.Fatal("the released session actor is still listed")
	}
	if _, err := s.Turn(ctx, rpc.Text("echo: gone"), rpc.TurnOptions{}); !errors.Is(err, actors.ErrSessionReleased) {
		t.Fatalf("turn on the released actor = %v, want ErrSessionReleased", err)
	}
	if _, err := s.Info(ctx); !errors.Is(err, actors.ErrSessionReleased) {
		t.Fatalf("Info of the released actor = %v, want ErrSessionReleased", err)
	}
	fresh, err := e.Session(ctx, id)
	if err != nil || fresh == s {
		t.Fatalf("Session(%s) after the release = %p, %v; want a new actor", id, fresh, err)
	}
	if res, err := fresh.Turn(ctx, rpc.Text("echo: back"), rpc.TurnOptions{}); err != nil || res.Text != "back" {
		t.Fatalf("turn on the new actor = %+v, %v", res, err)
	}
}

// TestTurnRightAfterReleaseIsAnswered checks that a turn on a SessionRef
// right after its last hold was released runs or fails with
// ErrSessionReleased, and gives its place back: the actor stops behind the
// requests already in its mailbox, refusing them, rather than with
// protoactor's Stop, which drops them without a reply (the caller would
// wait for its ctx, and Shutdown for the turn it had admitted). The race
// with the release is lost most of the time, so it tries a few sessions.
func TestTurnRightAfterReleaseIsAnswered(t *testing.T) {
	t.Parallel()
	e := startEngineWith(t, actors.Config{PoolSize: 1}, true)
	ctx := testCtx(t)
	for i := range 5 {
		s, err := e.CreateSession(ctx, rpc.Text("hello"), rpc.SessionOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// One turn, so that the actor is idle (its baseline read done).
		if _, err := s.Turn(ctx, rpc.Text("echo: warm"), rpc.TurnOptions{}); err != nil {
			t.Fatal(err)
		}
		s.Release()
		tctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err = s.Turn(tctx, rpc.Text("echo: late"), rpc.TurnOptions{})
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer scancel()
			serr := e.Shutdown(sctx)
			t.Fatalf("try %d: Turn right after Release was never answered: %v (Shutdown then: %v)", i, err, serr)
		}
		if err != nil && !errors.Is(err, actors.ErrSessionReleased) {
			t.Fatalf("try %d: Turn right after Release = %v, want ErrSessionReleased", i, err)
		}
		select {
		case <-s.Stopped():
		case <-ctx.Done():
			t.Fatalf("try %d: the released session actor did not stop", i)
		}
	}
	// Every admitted turn was given back: Shutdown has nothing to wait for.
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := e.Shutdown(sctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

// A caller that gives up gets ctx's error; a queued turn is dropped and a
// running one interrupted, and the session goes on.
func TestTurnCancel(t *testing.T) {
	t.Parallel()
	e := startEngine(t, actors.Config{PoolSize: 1})
	ctx := testCtx(t)
	s := mustSession(t, ctx, e)
	runCtx, cancelRun := context.WithCancel(ctx)
	running := s.Stream(runCtx, rpc.Text("count to 1000 [[sim:slow 5ms]]"), rpc.TurnOptions{})
	firstDelta(t, running)
	queuedCtx, cancelQueued := context.WithCancel(ctx)
	queued := turnAsync(queuedCtx, s, "echo: never")
	cancelQueued()
	if o := <-queued; !errors.Is(o.err, context.Canceled) {
		t.Fatalf("cancelled queued turn = %v", o.err)
	}
	cancelRun()
	for running.Next() {
	}
	if !errors.Is(running.Err(), context.Canceled) {
		t.Fatalf("cancelled stream = %v", running.Err())
	}
	// The interrupted turn winds down on the runtime; the next one waits
	// for it and runs.
	if res, err := s.Turn(ctx, rpc.Text("echo: next"), rpc.TurnOptions{}); err != nil || res.Text != "next" {
		t.Fatalf("turn after cancellations = %+v, %v", res, err)
	}
	assertUserMessages(t, e, s.ID(), "echo: never", 0)
}

// TestTurnCancelledAtOnceIsInterrupted checks that a turn whose caller
// gives up right after sending it is interrupted on the runtime, rather
// than left to run to its end while the session's next turns wait for it.
// The runtime handles its requests concurrently: turn/interrupt can
// overtake the turn/start it follows and find no turn to interrupt
// ("staged_noop"), which happens about every other time here.
func TestTurnCancelledAtOnceIsInterrupted(t *testing.T) {
	t.Parallel()
	e := startEngine(t, actors.Config{PoolSize: 1})
	ctx := testCtx(t)
	s := mustSession(t, ctx, e)
	for i := range 10 {
		gone, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := s.Turn(gone, rpc.Text("[[sim:slow 30s]] think long"), rpc.TurnOptions{}); !errors.Is(err, context.Canceled) {
			t.Fatalf("try %d: cancelled turn = %v", i, err)
		}
		// Waits for the cancelled turn: minutes unless it was interrupted.
		if res, err := s.Turn(ctx, rpc.Text("echo: next"), rpc.TurnOptions{}); err != nil || res.Text != "next" {
			t.Fatalf("try %d: the turn after a cancelled one = %+v, %v; the cancelled turn was not interrupted", i, res, err)
		}
	}
}

// Sessions go to the least loaded runtime, up to the cap per runtime.
func TestPlacement(t *testing.T) {
	t.Parallel()
	e := startEngine(t, actors.Config{PoolSize: 3, MaxSessionsPerRuntime: 2})
	ctx := testCtx(t)
	for i := range 6 {
		if _, err := e.CreateSession(ctx, rpc.Text("hello"), rpc.SessionOptions{}); err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
	}
	for _, r := range e.Runtimes() {
		if r.Sessions != 2 || r.PID == 0 || r.State != "running" || r.Generation != 1 || r.Restarts != 0 {
			t.Fatalf("runtime %+v, want 2 sessions each", r)
		}
	}
	if _, err := e.CreateSession(ctx, rpc.Text("hello"), rpc.SessionOptions{}); !errors.Is(err, actors.ErrOverloaded) {
		t.Fatalf("7th session = %v, want ErrOverloaded", err)
	}
}

// With a limit of one turn per model, turns of two sessions on that model
// run one after the other.
func TestModelLimits(t *testing.T) {
	t.Parallel()
	e := startEngine(t, actors.Config{PoolSize: 2, ModelLimits: map[string]int{"claude-sonnet-4-6": 1}})
	ctx := testCtx(t)
	opts := rpc.SessionOptions{Model: "claude-sonnet-4-6"}
	a, err := e.CreateSession(ctx, rpc.Text("hello"), opts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.CreateSession(ctx, rpc.Text("hello"), opts)
	if err != nil {
		t.Fatal(err)
	}
	if a.Runtime() == b.Runtime() {
		t.Fatalf("both sessions on %s", a.Runtime())
	}
	first := a.Stream(ctx, rpc.Text("count to 10 [[sim:slow 10ms]]"), rpc.TurnOptions{})
	firstDelta(t, first)
	second := b.Stream(ctx, rpc.Text("echo: second"), rpc.TurnOptions{})
	var lastOfFirst uint64
	for first.Next() {
		lastOfFirst = first.Envelope().TimestampMS
	}
	if !second.Next() {
		t.Fatalf("second stream: %v", second.Err())
	}
	if start := second.Envelope().TimestampMS; start < lastOfFirst {
		t.Fatalf("second turn started at %d, before the first ended at %d", start, lastOfFirst)
	}
	if _, err := second.Wait(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestTurnCancelledWaitingForModelSlotNeverRuns checks that a turn whose
// caller gives up while it waits for a model slot (Config.ModelLimits) is
// dropped, as the package promises ("cancelling it drops it from the queue
// or interrupts it on the runtime"): it is never sent, so its prompt is not
// committed to the session once the slot frees, nor is the model billed
// for a turn nobody waits for. Interrupting it on the runtime is no help:
// nothing runs there yet.
func TestTurnCancelledWaitingForModelSlotNeverRuns(t *testing.T) {
	t.Parallel()
	e := startEngine(t, actors.Config{PoolSize: 1, ModelLimits: map[string]int{"*": 1}})
	ctx := testCtx(t)
	a := mustSession(t, ctx, e)
	b := mustSession(t, ctx, e)
	if _, err := b.Turn(ctx, rpc.Text("echo: warm"), rpc.TurnOptions{}); err != nil {
		t.Fatal(err)
	}
	// a holds the only slot for a while.
	first := a.Stream(ctx, rpc.Text("count to 30 [[sim:slow 20ms]]"), rpc.TurnOptions{})
	firstDelta(t, first)
	// b's turn waits for the slot; its caller gives up.
	bctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	_, err := b.Turn(bctx, rpc.Text("echo: cancelled"), rpc.TurnOptions{})
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("turn waiting for a slot = %v, want ctx's error", err)
	}
	if _, err := first.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	// The session goes on; then see whether the abandoned turn ran.
	if res, err := b.Turn(ctx, rpc.Text("echo: after"), rpc.TurnOptions{}); err != nil || res.Text != "after" {
		t.Fatalf("turn after the cancelled one = %+v, %v", res, err)
	}
	assertUserMessages(t, e, b.ID(), "echo: cancelled", 0)
}

// A subscriber sees every turn's events, whoever runs them, and the
// runtime going down and coming back.
func TestSubscribe(t *testing.T) {
	t.Parallel()
	rec := supervisiontest.NewRecorder()
	e := startEngine(t, actors.Config{PoolSize: 1, Supervision: supervision.Spec{EventHook: rec.Hook()}})
	ctx := testCtx(t)
	s := mustSession(t, ctx, e)
	sub, err := s.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if _, err := s.Turn(ctx, rpc.Text("echo: seen"), rpc.TurnOptions{}); err != nil {
		t.Fatal(err)
	}
	var text string
	for sub.Next() {
		if c, ok := sub.Current().(*rpc.RunCompleted); ok {
			text = c.Result
			break
		}
	}
	if text != "seen" {
		t.Fatalf("subscriber saw %q (%v)", text, sub.Err())
	}
	kill(t, e, "runtime-0")
	var notices []string
	for len(notices) < 2 && sub.Next() {
		if n, ok := sub.Current().(*actors.RuntimeNotice); ok {
			notices = append(notices, n.EventType())
		}
	}
	if !slices.Equal(notices, []string{"mobd_runtime_down", "mobd_runtime_up"}) {
		t.Fatalf("notices %v (%v)", notices, sub.Err())
	}
	sub.Close()
	if sub.Next() || sub.Err() != nil {
		t.Fatalf("after Close: Err %v", sub.Err())
	}
}

// A session of the realm survives the engine: a new engine on the same
// state root re-attaches to it.
func TestSessionReattachAcrossEngines(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	ctx := testCtx(t)
	first, err := actors.Start(ctx, actors.Config{BinaryPath: simBin, StateRoot: root, PoolSize: 1, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	s, err := first.CreateSession(ctx, rpc.Text("My name is Grace."), rpc.SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	id := s.ID()
	if err := first.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Turn(ctx, rpc.Text("hi"), rpc.TurnOptions{}); !errors.Is(err, actors.ErrEngineStopped) {
		t.Fatalf("turn on a stopped engine = %v", err)
	}

	second := startEngine(t, actors.Config{StateRoot: root, PoolSize: 2})
	again, err := second.Session(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if same, err := second.Session(ctx, id); err != nil || same != again {
		t.Fatalf("second Session(%s) = %p, %v; want the same actor", id, same, err)
	}
	if res, err := again.Turn(ctx, rpc.Text("What is my name?"), rpc.TurnOptions{}); err != nil || !strings.Contains(res.Text, "Grace") {
		t.Fatalf("turn after re-attach = %+v, %v", res, err)
	}
	if _, err := second.Session(ctx, "01a2a2a2-0000-7000-8000-000000000000"); !errors.Is(err, actors.ErrSessionNotFound) {
		t.Fatalf("unknown session = %v, want ErrSessionNotFound", err)
	}
	if n := len(second.Sessions()); n != 1 {
		t.Fatalf("%d session actors, want 1", n)
	}
}

// Session of an id the realm does not have answers ErrSessionNotFound, and
// the actor it spawned stops without leaving its caller's request a dead
// letter, however fast the runtime answers; a Shutdown right after (the
// cleanup's) waits for those actors before it stops the runtimes' actors,
// which they still unhost themselves from.
func TestSessionUnknownNoDeadLetters(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	e := startEngine(t, actors.Config{PoolSize: 1})
	var wg sync.WaitGroup
	for i := range 300 {
		wg.Go(func() {
			id := fmt.Sprintf("01a2a2a2-0000-7000-8000-%012d", i)
			if _, err := e.Session(ctx, id); !errors.Is(err, actors.ErrSessionNotFound) {
				t.Errorf("Session(%s) = %v, want ErrSessionNotFound", id, err)
			}
		})
	}
	wg.Wait()
	if n := len(e.Sessions()); n != 0 {
		t.Errorf("%d session actors left, want 0", n)
	}
}

// Shutdown lets the running turns finish within its ctx, refuses the
// queued ones (never sent) and new work, and cuts short what is left when
// ctx ends.
func TestShutdown(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	t.Run("graceful", func(t *testing.T) {
		t.Parallel()
		e, err := actors.Start(ctx, actors.Config{BinaryPath: simBin, StateRoot: t.TempDir(), PoolSize: 1, Logger: zaptest.NewLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		s, err := e.CreateSession(ctx, rpc.Text("hello"), rpc.SessionOptions{})
		if err != nil {
			t.Fatal(err)
		}
		st := s.Stream(ctx, rpc.Text("count to 10 [[sim:slow 10ms]]"), rpc.TurnOptions{})
		firstDelta(t, st)
		queued := s.Stream(ctx, rpc.Text("echo: queued"), rpc.TurnOptions{})
		if err := e.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown = %v", err)
		}
		if res, err := st.Wait(ctx); err != nil || res.Text != "1 2 3 4 5 6 7 8 9 10" {
			t.Fatalf("running turn = %+v, %v", res, err)
		}
		if res, err := queued.Wait(ctx); !errors.Is(err, actors.ErrEngineStopped) {
			t.Fatalf("queued turn = %+v, %v; want it refused with ErrEngineStopped, not started", res, err)
		}
		if _, err := e.CreateSession(ctx, rpc.Text("hello"), rpc.SessionOptions{}); !errors.Is(err, actors.ErrEngineStopped) {
			t.Fatalf("CreateSession after Shutdown = %v", err)
		}
		if err := e.Shutdown(ctx); err != nil {
			t.Fatalf("second Shutdown = %v", err)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		t.Parallel()
		e, err := actors.Start(ctx, actors.Config{BinaryPath: simBin, StateRoot: t.TempDir(), PoolSize: 1, Logger: zaptest.NewLogger(t), CloseTimeout: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		s, err := e.CreateSession(ctx, rpc.Text("hello"), rpc.SessionOptions{})
		if err != nil {
			t.Fatal(err)
		}
		st := s.Stream(ctx, rpc.Text("count to 100000 [[sim:slow 5ms]]"), rpc.TurnOptions{})
		firstDelta(t, st)
		queued := turnAsync(ctx, s, "echo: queued")
		short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		if err := e.Shutdown(short); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Shutdown = %v, want DeadlineExceeded", err)
		}
		_, err = st.Wait(ctx)
		if !errors.Is(err, actors.ErrEngineStopped) || !errors.Is(err, actors.ErrTurnOutcomeUnknown) {
			t.Fatalf("running turn = %v, want ErrEngineStopped with an unknown outcome", err)
		}
		if o := <-queued; !errors.Is(o.err, actors.ErrEngineStopped) {
			t.Fatalf("queued turn = %v", o.err)
		}
	})
}

// protoactor's own logs go to the engine's zap logger.
func TestProtoactorLogsThroughZap(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zapcore.DebugLevel)
	startEngine(t, actors.Config{PoolSize: 1, Logger: zap.New(core).Named("mobd")})
	entries := logs.FilterLoggerName("mobd.protoactor").FilterMessage("actor system started").All()
	if len(entries) != 1 {
		t.Fatalf("protoactor entries: %v", logs.FilterLoggerName("mobd.protoactor").All())
	}
	if _, ok := entries[0].ContextMap()["actor_system"]; !ok {
		t.Fatalf("entry fields %v", entries[0].ContextMap())
	}
}
