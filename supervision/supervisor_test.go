package supervision_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mobd-dev/mobd/supervision"
)

const ms = time.Millisecond

// A child failing in a loop is restarted after capped exponential delays,
// and not a moment earlier.
func TestBackoffSequence(t *testing.T) {
	t.Parallel()
	h := newHarness(t, supervision.Spec{
		Intensity: -1,
		Backoff:   supervision.Backoff{Base: 100 * ms, Max: time.Second, Multiplier: 2, Jitter: -1},
	})
	var runs int
	var mu sync.Mutex
	h.add("flaky", failing(errBoom, &runs, &mu), supervision.ChildSpec{})
	h.serve()

	want := []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, time.Second, time.Second}
	for i, d := range want {
		crash := waitEvent[supervision.EventCrashed](h, nil)
		if crash.Attempt != i || !errors.Is(crash.Err, errBoom) {
			t.Fatalf("crash %d: attempt %d err %v", i, crash.Attempt, crash.Err)
		}
		b := waitEvent[supervision.EventBackoff](h, nil)
		if b.Delay != d || b.Attempt != i+1 {
			t.Fatalf("backoff %d: delay %v attempt %d, want %v attempt %d", i, b.Delay, b.Attempt, d, i+1)
		}
		// Only the backoff timer is armed; one tick short of it, it holds.
		if err := h.clk.BlockUntilContext(h.ctx, 1); err != nil {
			t.Fatal(err)
		}
		h.clk.Advance(d - time.Nanosecond)
		if n := h.clk.Timers(); n != 1 {
			t.Fatalf("backoff %d: timer fired %v early", i, time.Nanosecond)
		}
		h.clk.Advance(time.Nanosecond)
		r := waitEvent[supervision.EventRestarted](h, nil)
		if r.Attempt != i+1 || r.Restarts != i+1 {
			t.Fatalf("restart %d: %+v", i, r)
		}
	}
	if err := h.shutdown(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if runs < len(want) || runs > len(want)+1 {
		t.Errorf("child ran %d times, want %d or %d", runs, len(want), len(want)+1)
	}
}

// With an injected random source, the supervisor's delays are jittered
// within ±Jitter of the nominal delay and never above Max.
func TestBackoffJitterInSupervisor(t *testing.T) {
	t.Parallel()
	rnd := rand.New(rand.NewPCG(7, 11))
	h := newHarness(t, supervision.Spec{
		Intensity: -1,
		Backoff:   supervision.Backoff{Base: 100 * ms, Max: 5 * time.Second, Multiplier: 2, Jitter: 0.3},
		Rand:      rnd.Float64,
	})
	h.add("flaky", failing(errBoom, nil, nil), supervision.ChildSpec{})
	h.serve()
	nominal := 100 * ms
	var unjittered int
	for i := range 12 {
		b := waitEvent[supervision.EventBackoff](h, nil)
		lo := time.Duration(float64(nominal) * 0.7)
		hi := min(time.Duration(float64(nominal)*1.3), 5*time.Second)
		if b.Delay < lo || b.Delay > hi {
			t.Fatalf("backoff %d: %v outside [%v, %v]", i, b.Delay, lo, hi)
		}
		if b.Delay == nominal && nominal < 5*time.Second { // at the cap, half are clamped
			unjittered++
		}
		nominal = min(2*nominal, 5*time.Second)
		h.clk.Advance(b.Delay)
	}
	if unjittered > 2 {
		t.Errorf("%d of 12 delays not jittered", unjittered)
	}
}

// A child that stayed up for ResetAfter starts its backoff over.
func TestBackoffResetAfterStableRun(t *testing.T) {
	t.Parallel()
	h := newHarness(t, supervision.Spec{
		Intensity: -1,
		Backoff:   supervision.Backoff{Base: 100 * ms, Multiplier: 2, Jitter: -1, ResetAfter: 10 * time.Second},
	})
	s := newScript()
	h.add("svc", s, supervision.ChildSpec{})
	h.serve()

	// Two quick failures: 100ms, 200ms.
	for _, d := range []time.Duration{100 * ms, 200 * ms} {
		s.next(h).exit <- errBoom
		if b := waitEvent[supervision.EventBackoff](h, nil); b.Delay != d {
			t.Fatalf("delay %v, want %v", b.Delay, d)
		}
		h.clk.Advance(d)
	}
	// A stable run, then a failure: back to Base.
	r := s.next(h)
	r.ready()
	waitEvent[supervision.EventStarted](h, nil)
	h.clk.Advance(10 * time.Second)
	r.exit <- errBoom
	if b := waitEvent[supervision.EventBackoff](h, nil); b.Delay != 100*ms || b.Attempt != 1 {
		t.Fatalf("after a stable run: delay %v attempt %d, want 100ms attempt 1", b.Delay, b.Attempt)
	}
}

// More failures than the intensity allows within the period: the
// supervisor gives up, stops its other children and escalates.
func TestIntensityExceeded(t *testing.T) {
	t.Parallel()
	h := newHarness(t, supervision.Spec{
		Intensity: 3,
		Period:    10 * time.Second,
		Backoff:   supervision.Backoff{Base: time.Second, Multiplier: 1, Jitter: -1},
	})
	h.add("bystander", steady, supervision.ChildSpec{})
	h.add("flaky", failing(errBoom, nil, nil), supervision.ChildSpec{})
	h.serve()

	for range 3 {
		b := waitEvent(h, child[supervision.EventBackoff]("flaky"))
		h.clk.Advance(b.Delay)
	}
	gu := waitEvent[supervision.EventGaveUp](h, nil)
	if gu.Child != "flaky" || gu.Intensity != 3 || gu.Period != 10*time.Second || !errors.Is(gu.Err, errBoom) {
		t.Fatalf("GaveUp = %+v", gu)
	}
	st := waitEvent(h, child[supervision.EventStopped]("bystander"))
	if st.Reason != supervision.StopShutdown {
		t.Errorf("bystander stopped for %v, want shutdown", st.Reason)
	}
	esc := waitEvent[supervision.EventEscalated](h, nil)
	if esc.Supervisor != "root" || esc.Child != "flaky" {
		t.Errorf("Escalated = %+v", esc)
	}

	err := h.result()
	var ee *supervision.EscalationError
	if !errors.As(err, &ee) || !errors.Is(err, supervision.ErrIntensityExceeded) || !errors.Is(err, errBoom) {
		t.Fatalf("Serve = %v, want an EscalationError wrapping ErrIntensityExceeded and the failure", err)
	}
	if ee.Supervisor != "root" || ee.Child != "flaky" || ee.Intensity != 3 {
		t.Errorf("EscalationError = %+v", ee)
	}
	if !errors.Is(esc.Err, supervision.ErrIntensityExceeded) {
		t.Errorf("Escalated.Err = %v", esc.Err)
	}
	// The children stay registered, idle, for a next run.
	for _, st := range h.sup.Status() {
		if st.State != supervision.StateIdle {
			t.Errorf("after Serve: %s is %v", st.Name, st.State)
		}
	}
}

// Restarts that fall out of the sliding window do not count.
func TestIntensityWindowSlides(t *testing.T) {
	t.Parallel()
	h := newHarness(t, supervision.Spec{
		Intensity: 2,
		Period:    10 * time.Second,
		Backoff:   supervision.Backoff{Base: time.Second, Multiplier: 1, Jitter: -1, ResetAfter: -1},
	})
	s := newScript()
	h.add("svc", s, supervision.ChildSpec{})
	h.serve()

	// A failure every 6 s: at most 2 restarts in any 10 s window.
	for range 6 {
		r := s.next(h)
		r.ready()
		waitEvent[supervision.EventStarted](h, nil)
		h.clk.Advance(6 * time.Second)
		r.exit <- errBoom
		b := waitEvent[supervision.EventBackoff](h, nil)
		h.clk.Advance(b.Delay)
	}
	s.next(h)
	st, _ := status(h.sup, "svc")
	if st.Restarts != 6 {
		t.Errorf("restarts = %d, want 6", st.Restarts)
	}
	if err := h.shutdown(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	for _, e := range h.rec.Events() {
		if e.Type() == supervision.EventTypeGaveUp {
			t.Fatalf("gave up: %v", e)
		}
	}
}

func TestRestartPolicies(t *testing.T) {
	t.Parallel()
	doNotRestart := fmt.Errorf("configuration is broken: %w", supervision.ErrDoNotRestart)
	tests := []struct {
		policy  supervision.RestartPolicy
		exit    error
		restart bool
		state   supervision.ChildState // when not restarted; StateIdle: removed
	}{
		{supervision.Permanent, nil, true, 0},
		{supervision.Permanent, errBoom, true, 0},
		{supervision.Permanent, doNotRestart, false, supervision.StateExited},
		{supervision.Transient, nil, false, supervision.StateExited},
		{supervision.Transient, errBoom, true, 0},
		{supervision.Transient, doNotRestart, false, supervision.StateExited},
		{supervision.Temporary, nil, false, supervision.StateIdle},
		{supervision.Temporary, errBoom, false, supervision.StateIdle},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v/%v", tt.policy, tt.exit), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, supervision.Spec{})
			s := newScript()
			h.add("c", s, supervision.ChildSpec{Restart: tt.policy})
			h.serve()
			r := s.next(h)
			r.ready()
			waitEvent[supervision.EventStarted](h, nil)
			r.exit <- tt.exit

			switch {
			case tt.exit != nil && !errors.Is(tt.exit, supervision.ErrDoNotRestart):
				if c := waitEvent[supervision.EventCrashed](h, nil); !errors.Is(c.Err, tt.exit) {
					t.Fatalf("Crashed.Err = %v", c.Err)
				}
			default:
				if st := waitEvent[supervision.EventStopped](h, nil); st.Reason != supervision.StopExited || !errors.Is(st.Err, tt.exit) {
					t.Fatalf("Stopped = %+v", st)
				}
			}
			if tt.restart {
				b := waitEvent[supervision.EventBackoff](h, nil)
				h.clk.Advance(b.Delay)
				s.next(h)
				return
			}
			st, ok := status(h.sup, "c")
			switch {
			case tt.state == supervision.StateIdle && ok:
				t.Fatalf("temporary child still registered: %+v", st)
			case tt.state != supervision.StateIdle && st.State != tt.state:
				t.Fatalf("state %v, want %v", st.State, tt.state)
			}
			if err := h.shutdown(); err != nil {
				t.Fatal(err)
			}
			for _, e := range h.rec.Events() {
				if e.Type() == supervision.EventTypeBackoff {
					t.Fatalf("restarted: %v", e)
				}
			}
		})
	}
}

// A child that is not ready within StartTimeout is stopped and handled as
// a crash.
func TestStartTimeout(t *testing.T) {
	t.Parallel()
	h := newHarness(t, supervision.Spec{StartTimeout: 5 * time.Second})
	s := newScript()
	h.add("slow", s, supervision.ChildSpec{Restart: supervision.Transient})
	h.serve()

	r := s.next(h)
	h.clk.Advance(5*time.Second - time.Nanosecond)
	h.clk.Advance(time.Nanosecond)
	select {
	case <-r.ctx.Done():
	case <-h.ctx.Done():
		t.Fatal("child not asked to stop after its start timeout")
	}
	if cause := context.Cause(r.ctx); !errors.Is(cause, supervision.ErrStartTimeout) {
		t.Errorf("the child's ctx ended with cause %v, want ErrStartTimeout", cause)
	}
	c := waitEvent[supervision.EventCrashed](h, nil)
	if !errors.Is(c.Err, supervision.ErrStartTimeout) {
		t.Fatalf("Crashed.Err = %v, want ErrStartTimeout", c.Err)
	}
	b := waitEvent[supervision.EventBackoff](h, nil)
	h.clk.Advance(b.Delay)

	// The next incarnation is ready in time: no crash.
	r = s.next(h)
	h.clk.Advance(4 * time.Second)
	r.ready()
	waitEvent[supervision.EventStarted](h, nil)
	h.clk.Advance(time.Minute)
	if st, _ := status(h.sup, "slow"); st.State != supervision.StateRunning || st.Uptime != time.Minute {
		t.Fatalf("status %+v", st)
	}
	if !errors.Is(st(h).LastError, supervision.ErrStartTimeout) {
		t.Errorf("LastError = %v", st(h).LastError)
	}
}

func st(h *harness) supervision.ChildStatus {
	s, _ := status(h.sup, "slow")
	return s
}

// prober is a child with scripted health probes; Kill makes its Run return.
type prober struct {
	script
	probes  chan chan error // each probe announces itself and returns what is sent
	kills   int
	killsMu sync.Mutex
}

func (p *prober) Probe(ctx context.Context) error {
	res := make(chan error, 1)
	p.probes <- res
	select {
	case err := <-res:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *prober) Kill() error {
	p.killsMu.Lock()
	p.kills++
	p.killsMu.Unlock()
	p.once.Do(func() { close(p.killed) })
	return nil
}

func (p *prober) Run(ctx context.Context, ready func()) error {
	ready()
	select {
	case <-ctx.Done():
		return nil
	case <-p.killed:
		return errors.New("killed")
	}
}

func (p *prober) nextProbe(h *harness) chan error {
	h.t.Helper()
	select {
	case r := <-p.probes:
		return r
	case <-h.ctx.Done():
		h.t.Fatal("no probe")
		return nil
	}
}

// Consecutive probe failures get a hung child killed and restarted; a
// successful probe resets the count.
func TestProbeFailuresRestart(t *testing.T) {
	t.Parallel()
	h := newHarness(t, supervision.Spec{})
	p := &prober{script: *newScript(), probes: make(chan chan error)}
	h.add("hung", p, supervision.ChildSpec{Probe: supervision.ProbeSpec{Interval: time.Second, Timeout: time.Minute, Failures: 3}})
	h.serve()
	waitEvent[supervision.EventStarted](h, nil)

	hang := errors.New("no answer")
	for i, res := range []error{hang, nil, hang, hang, hang} {
		h.clk.Advance(time.Second)
		p.nextProbe(h) <- res
		if res == nil {
			continue
		}
		pf := waitEvent[supervision.EventProbeFailed](h, nil)
		want := map[int]int{0: 1, 2: 1, 3: 2, 4: 3}[i]
		if pf.Consecutive != want || pf.Threshold != 3 || !errors.Is(pf.Err, hang) {
			t.Fatalf("probe %d: %+v, want consecutive %d", i, pf, want)
		}
	}
	c := waitEvent[supervision.EventCrashed](h, nil)
	if !errors.Is(c.Err, supervision.ErrUnhealthy) || !errors.Is(c.Err, hang) {
		t.Fatalf("Crashed.Err = %v, want ErrUnhealthy wrapping the probe error", c.Err)
	}
	p.killsMu.Lock()
	kills := p.kills
	p.killsMu.Unlock()
	if kills != 1 {
		t.Errorf("Kill called %d times, want 1", kills)
	}
	waitEvent[supervision.EventBackoff](h, nil)
}

// A probe that does not answer within its timeout counts as failed.
func TestProbeTimeout(t *testing.T) {
	t.Parallel()
	h := newHarness(t, supervision.Spec{Probe: supervision.ProbeSpec{Interval: time.Second, Timeout: 500 * ms, Failures: 2}})
	p := &prober{script: *newScript(), probes: make(chan chan error)}
	h.add("hung", p, supervision.ChildSpec{})
	h.serve()
	waitEvent[supervision.EventStarted](h, nil)

	for i := 1; i <= 2; i++ {
		h.clk.Advance(500 * ms)
		if i == 1 {
			h.clk.Advance(500 * ms) // the first probe starts 1 s after ready
		}
		p.nextProbe(h) // never answered
		h.clk.Advance(500 * ms)
		pf := waitEvent[supervision.EventProbeFailed](h, nil)
		if pf.Consecutive != i || !errors.Is(pf.Err, supervision.ErrProbeTimeout) {
			t.Fatalf("probe %d: %+v", i, pf)
		}
	}
	if c := waitEvent[supervision.EventCrashed](h, nil); !errors.Is(c.Err, supervision.ErrUnhealthy) {
		t.Fatalf("Crashed.Err = %v", c.Err)
	}
}

// A nested supervisor that gives up is a failing child of its parent,
// which restarts it until its own budget is exhausted.
func TestNestedEscalation(t *testing.T) {
	t.Parallel()
	h := newHarness(t, supervision.Spec{
		Intensity: 1,
		Backoff:   supervision.Backoff{Base: time.Second, Multiplier: 1, Jitter: -1},
	})
	mid := supervision.New("mid", supervision.Spec{
		Intensity: 2,
		Backoff:   supervision.Backoff{Base: 100 * ms, Multiplier: 1},
	})
	var runs int
	var mu sync.Mutex
	if err := mid.Add("leaf", failing(errBoom, &runs, &mu), supervision.ChildSpec{}); err != nil {
		t.Fatal(err)
	}
	h.add("mid", mid, supervision.ChildSpec{})
	h.serve()

	// Drive time: every backoff, of either supervisor, elapses.
	var escalations []supervision.EventEscalated
	for len(escalations) < 3 {
		ev, err := h.rec.Next(h.ctx)
		if err != nil {
			t.Fatalf("%v; events:\n%s", err, eventList(h.rec.Events()))
		}
		switch e := ev.(type) {
		case supervision.EventBackoff:
			h.clk.Advance(e.Delay)
		case supervision.EventEscalated:
			escalations = append(escalations, e)
		}
	}
	// mid escalated twice (restarted once by root), then root gave up.
	if escalations[0].Supervisor != "mid" || escalations[1].Supervisor != "mid" || escalations[2].Supervisor != "root" {
		t.Fatalf("escalations: %v", escalations)
	}
	err := h.result()
	var outer *supervision.EscalationError
	if !errors.As(err, &outer) || outer.Supervisor != "root" || outer.Child != "mid" {
		t.Fatalf("Serve = %v", err)
	}
	var inner *supervision.EscalationError
	if !errors.As(outer.Err, &inner) || inner.Supervisor != "mid" || inner.Child != "leaf" || !errors.Is(err, errBoom) {
		t.Fatalf("root's escalation does not wrap mid's: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if runs != 6 { // 2 runs of mid × (1 start + 2 restarts)
		t.Errorf("leaf ran %d times, want 6", runs)
	}
	// The nested supervisor inherited the clock and the hook: its backoff
	// (100 ms, jittered by the root's Rand = 0.5) was driven by the fake clock.
	var sawMid bool
	for _, e := range h.rec.Events() {
		if b, ok := e.(supervision.EventBackoff); ok && b.Supervisor == "mid" {
			sawMid = true
			if b.Delay != 100*ms {
				t.Errorf("mid backoff %v", b.Delay)
			}
		}
	}
	if !sawMid {
		t.Error("no events from the nested supervisor")
	}
}

// A nested supervisor is ready once its children are.
func TestNestedReady(t *testing.T) {
	t.Parallel()
	h := newHarness(t, supervision.Spec{})
	mid := supervision.New("mid", supervision.Spec{})
	s := newScript()
	if err := mid.Add("leaf", s, supervision.ChildSpec{}); err != nil {
		t.Fatal(err)
	}
	h.add("mid", mid, supervision.ChildSpec{})
	h.serve()
	r := s.next(h)
	if st, _ := status(h.sup, "mid"); st.State != supervision.StateStarting {
		t.Fatalf("mid is %v before its child is ready", st.State)
	}
	r.ready()
	waitEvent(h, child[supervision.EventStarted]("leaf"))
	waitEvent(h, child[supervision.EventStarted]("mid"))
	if err := h.shutdown(); err != nil {
		t.Fatal(err)
	}
	// Shutdown stopped leaf before mid returned.
	var order []string
	for _, e := range h.rec.Events() {
		if e.Type() == supervision.EventTypeStopped {
			order = append(order, e.Info().Child)
		}
	}
	if strings.Join(order, ",") != "leaf,mid" {
		t.Errorf("stop order %v", order)
	}
}

func TestRemove(t *testing.T) {
	t.Parallel()
	h := newHarness(t, supervision.Spec{})
	h.add("a", steady, supervision.ChildSpec{})
	h.add("b", steady, supervision.ChildSpec{})
	h.add("c", steady, supervision.ChildSpec{})
	if err := h.sup.Remove(h.ctx, "c"); err != nil { // before Run
		t.Fatal(err)
	}
	h.serve()
	waitEvent(h, child[supervision.EventStarted]("b"))

	if err := h.sup.Remove(h.ctx, "b"); err != nil {
		t.Fatal(err)
	}
	// Remove returned: the child has stopped.
	st := waitEvent(h, child[supervision.EventStopped]("b"))
	if st.Reason != supervision.StopRemoved {
		t.Errorf("reason %v", st.Reason)
	}
	if got := h.sup.Status(); len(got) != 1 || got[0].Name != "a" {
		t.Errorf("Status after Remove: %+v", got)
	}
	if err := h.sup.Remove(h.ctx, "b"); !errors.Is(err, supervision.ErrUnknownChild) {
		t.Errorf("second Remove = %v, want ErrUnknownChild", err)
	}
	// A child waiting for its restart is removed at once.
	h.add("flaky", failing(errBoom, nil, nil), supervision.ChildSpec{})
	waitEvent(h, child[supervision.EventBackoff]("flaky"))
	if err := h.sup.Remove(h.ctx, "flaky"); err != nil {
		t.Fatal(err)
	}
	if _, ok := status(h.sup, "flaky"); ok {
		t.Error("flaky still registered")
	}
	if err := h.shutdown(); err != nil {
		t.Fatal(err)
	}
	if got := h.sup.Status(); len(got) != 1 || got[0].Name != "a" || got[0].State != supervision.StateIdle {
		t.Errorf("Status after Serve: %+v", got)
	}
}

// pidChild reports a pid, like a Process.
type pidChild struct{ supervision.ChildFunc }

func (pidChild) PID() int { return 4242 }

func TestStatus(t *testing.T) {
	t.Parallel()
	h := newHarness(t, supervision.Spec{Backoff: supervision.Backoff{Base: time.Minute, Max: time.Hour, Jitter: -1}})
	h.add("running", pidChild{steady}, supervision.ChildSpec{})
	h.add("backoff", failing(errBoom, nil, nil), supervision.ChildSpec{})
	h.add("exited", supervision.ChildFunc(func(context.Context, func()) error { return nil }), supervision.ChildSpec{Restart: supervision.Transient})

	idle := h.sup.Status()
	if len(idle) != 3 || idle[2].Name != "exited" || idle[2].State != supervision.StateIdle || idle[2].Policy != supervision.Transient {
		t.Fatalf("idle Status: %+v", idle)
	}
	h.serve()
	awaitEvent(h, child[supervision.EventStarted]("running"))
	awaitEvent(h, child[supervision.EventBackoff]("backoff"))
	awaitEvent(h, child[supervision.EventStopped]("exited"))
	h.clk.Advance(30 * time.Second)

	got := h.sup.Status()
	want := []supervision.ChildStatus{
		{Name: "running", State: supervision.StateRunning, PID: 4242, Uptime: 30 * time.Second},
		{Name: "backoff", State: supervision.StateBackoff, Restarts: 1, Attempt: 1, LastError: errBoom},
		{Name: "exited", State: supervision.StateExited, Policy: supervision.Transient},
	}
	if len(got) != len(want) {
		t.Fatalf("Status: %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Status[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestRestartChild(t *testing.T) {
	t.Parallel()
	h := newHarness(t, supervision.Spec{})
	if err := h.sup.RestartChild("svc"); !errors.Is(err, supervision.ErrNotRunning) {
		t.Errorf("RestartChild before Run = %v", err)
	}
	s := newScript()
	h.add("svc", s, supervision.ChildSpec{Restart: supervision.Temporary})
	h.serve()
	r := s.next(h)
	r.ready()
	waitEvent[supervision.EventStarted](h, nil)

	if err := h.sup.RestartChild("svc"); err != nil {
		t.Fatal(err)
	}
	<-r.ctx.Done() // asked to stop
	st := waitEvent[supervision.EventStopped](h, nil)
	if st.Reason != supervision.StopRestart {
		t.Errorf("reason %v", st.Reason)
	}
	b := waitEvent[supervision.EventBackoff](h, nil) // even a temporary child
	h.clk.Advance(b.Delay)
	waitEvent[supervision.EventRestarted](h, nil)
	s.next(h).ready()
	if e := waitEvent[supervision.EventStarted](h, nil); e.Attempt != 1 {
		t.Errorf("attempt %d", e.Attempt)
	}
	if err := h.sup.RestartChild("nope"); !errors.Is(err, supervision.ErrUnknownChild) {
		t.Errorf("RestartChild(unknown) = %v", err)
	}
}

func TestAddWhileRunning(t *testing.T) {
	t.Parallel()
	h := newHarness(t, supervision.Spec{})
	h.serve()
	h.add("late", steady, supervision.ChildSpec{})
	waitEvent(h, child[supervision.EventStarted]("late"))
	if err := h.sup.Add("late", steady, supervision.ChildSpec{}); !errors.Is(err, supervision.ErrDuplicateChild) {
		t.Errorf("duplicate Add = %v", err)
	}
	if err := h.sup.Serve(context.Background()); !errors.Is(err, supervision.ErrAlreadyRunning) {
		t.Errorf("second Serve = %v", err)
	}
	if err := h.shutdown(); err != nil {
		t.Fatal(err)
	}
	if err := h.sup.Add("late", steady, supervision.ChildSpec{}); !errors.Is(err, supervision.ErrDuplicateChild) {
		t.Errorf("duplicate Add after Serve = %v", err)
	}
	if err := h.sup.Add("self", h.sup, supervision.ChildSpec{}); err == nil {
		t.Error("a supervisor supervising itself was accepted")
	}
}

// A supervisor can be run again; it starts its registered children anew.
func TestServeAgain(t *testing.T) {
	t.Parallel()
	h := newHarness(t, supervision.Spec{})
	h.add("svc", steady, supervision.ChildSpec{})
	for range 2 {
		h.serve()
		waitEvent[supervision.EventStarted](h, nil)
		if err := h.shutdown(); err != nil {
			t.Fatal(err)
		}
	}
}

// The stop ladder of a child that ignores its context: kill it if it is a
// Killer, otherwise abandon it after StopTimeout.
func TestStopLadder(t *testing.T) {
	t.Parallel()
	t.Run("killer", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, supervision.Spec{StopTimeout: time.Second})
		p := &prober{script: *newScript()}
		stopAsked := make(chan struct{})
		h.add("stubborn", stubborn{p, stopAsked}, supervision.ChildSpec{})
		h.serve()
		waitEvent[supervision.EventStarted](h, nil)
		h.stop()
		<-stopAsked
		h.clk.Advance(time.Second)
		st := waitEvent[supervision.EventStopped](h, nil)
		if st.Err == nil || st.Err.Error() != "killed" {
			t.Errorf("Stopped.Err = %v, want the error of the killed child", st.Err)
		}
		if err := h.result(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("abandon", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, supervision.Spec{StopTimeout: time.Second})
		release, stopAsked := make(chan struct{}), make(chan struct{})
		returned := make(chan struct{})
		h.add("stubborn", supervision.ChildFunc(func(ctx context.Context, ready func()) error {
			defer close(returned)
			ready()
			<-ctx.Done()
			close(stopAsked)
			<-release
			return nil
		}), supervision.ChildSpec{})
		h.serve()
		waitEvent[supervision.EventStarted](h, nil)
		h.stop()
		<-stopAsked
		h.clk.Advance(time.Second)
		st := waitEvent[supervision.EventStopped](h, nil)
		if !errors.Is(st.Err, supervision.ErrStopTimeout) {
			t.Errorf("Stopped.Err = %v, want ErrStopTimeout", st.Err)
		}
		if err := h.result(); err != nil {
			t.Fatal(err)
		}
		close(release) // let the abandoned goroutine go, for goleak
		<-returned
	})
}

// stubborn ignores the stop request; only Kill ends it.
type stubborn struct {
	*prober
	stopAsked chan struct{}
}

func (s stubborn) Run(ctx context.Context, ready func()) error {
	ready()
	<-ctx.Done()
	close(s.stopAsked)
	<-s.killed
	return errors.New("killed")
}

func TestPanicIsACrash(t *testing.T) {
	t.Parallel()
	h := newHarness(t, supervision.Spec{})
	h.add("panicky", supervision.ChildFunc(func(context.Context, func()) error { panic("oops") }), supervision.ChildSpec{Restart: supervision.Temporary})
	h.serve()
	c := waitEvent[supervision.EventCrashed](h, nil)
	if !strings.Contains(c.Err.Error(), "panicked: oops") {
		t.Errorf("Crashed.Err = %v", c.Err)
	}
}

// Serve with a cancelled context starts nothing.
func TestServeCancelled(t *testing.T) {
	t.Parallel()
	sup := supervision.New("root", supervision.Spec{})
	ran := false
	_ = sup.Add("c", supervision.ChildFunc(func(context.Context, func()) error { ran = true; return nil }), supervision.ChildSpec{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := sup.Serve(ctx); err != nil || ran {
		t.Fatalf("Serve = %v, child ran: %v", err, ran)
	}
}

// Shutdown while one child waits for its restart and another is being
// stopped for a restart: neither is started again.
func TestShutdownDuringBackoffAndRestart(t *testing.T) {
	t.Parallel()
	h := newHarness(t, supervision.Spec{})
	h.add("flaky", failing(errBoom, nil, nil), supervision.ChildSpec{})
	stopAsked, release := make(chan struct{}), make(chan struct{})
	h.add("svc", supervision.ChildFunc(func(ctx context.Context, ready func()) error {
		ready()
		<-ctx.Done()
		close(stopAsked)
		<-release // lingers after the stop request
		return nil
	}), supervision.ChildSpec{})
	h.serve()
	awaitEvent(h, child[supervision.EventBackoff]("flaky"))
	awaitEvent(h, child[supervision.EventStarted]("svc"))

	if err := h.sup.RestartChild("svc"); err != nil {
		t.Fatal(err)
	}
	<-stopAsked
	if st, _ := status(h.sup, "svc"); st.State != supervision.StateStopping {
		t.Fatalf("svc is %v", st.State)
	}
	if st, _ := status(h.sup, "flaky"); st.State != supervision.StateBackoff {
		t.Fatalf("flaky is %v", st.State)
	}
	h.stop()
	// The shutdown is handled once flaky's pending restart is dropped; each
	// Status is a round trip through the supervisor's loop.
	for st, _ := status(h.sup, "flaky"); st.State != supervision.StateIdle; st, _ = status(h.sup, "flaky") {
		if h.ctx.Err() != nil {
			t.Fatalf("flaky is %v after shutdown", st.State)
		}
	}
	close(release)
	if err := h.result(); err != nil {
		t.Fatal(err)
	}
	st := awaitEvent(h, child[supervision.EventStopped]("svc"))
	if st.Reason != supervision.StopShutdown {
		t.Errorf("svc stopped for %v, want shutdown", st.Reason)
	}
	for _, e := range h.rec.Events() {
		if e.Type() == supervision.EventTypeRestarted {
			t.Errorf("restarted during shutdown: %v", e)
		}
	}
	if err := h.sup.RestartChild("svc"); !errors.Is(err, supervision.ErrNotRunning) {
		t.Errorf("RestartChild after Serve = %v", err)
	}
}
