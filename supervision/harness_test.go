package supervision_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/mobd-dev/mobd/supervision"
	"github.com/mobd-dev/mobd/supervision/supervisiontest"
)

// waitTimeout bounds every wait of a test; nothing should come close.
const waitTimeout = 5 * time.Second

var errBoom = errors.New("boom")

// harness runs a supervisor on a fake clock and records its events.
type harness struct {
	t   *testing.T
	clk *supervisiontest.FakeClock
	rec *supervisiontest.Recorder
	sup *supervision.Supervisor
	ctx context.Context // bounds the test's waits
	cur *serving        // the latest serve
}

// serving is one ServeBackground of the harness's supervisor.
type serving struct {
	stop context.CancelFunc
	errc <-chan error
	done bool
	err  error
}

// wait waits up to d for Serve to return and reports whether it did.
func (s *serving) wait(d time.Duration) (error, bool) {
	if !s.done {
		select {
		case s.err = <-s.errc:
			s.done = true
		case <-time.After(d):
		}
	}
	return s.err, s.done
}

// newHarness returns a harness whose supervisor uses spec with a fake clock,
// a recorder, no jitter (Rand = 0.5) and no start deadline, unless spec says
// otherwise.
func newHarness(t *testing.T, spec supervision.Spec) *harness {
	t.Helper()
	h := &harness{t: t, clk: supervisiontest.NewFakeClock(time.Time{}), rec: supervisiontest.NewRecorder()}
	if spec.Clock == nil {
		spec.Clock = h.clk
	}
	spec.EventHook = supervision.MultiHook(h.rec.Hook(), spec.EventHook)
	if spec.Rand == nil {
		spec.Rand = func() float64 { return 0.5 }
	}
	if spec.StartTimeout == 0 {
		spec.StartTimeout = -1
	}
	h.sup = supervision.New("root", spec)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	h.ctx = ctx
	return h
}

func (h *harness) add(name string, c supervision.Child, cs supervision.ChildSpec) {
	h.t.Helper()
	if err := h.sup.Add(name, c, cs); err != nil {
		h.t.Fatalf("Add(%q): %v", name, err)
	}
}

// serve starts the supervisor; it is stopped at the end of the test.
func (h *harness) serve() {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	sv := &serving{stop: cancel, errc: h.sup.ServeBackground(ctx)}
	h.cur = sv
	h.t.Cleanup(func() {
		cancel()
		if _, ok := sv.wait(waitTimeout); !ok {
			h.t.Error("supervisor did not stop")
		}
	})
}

// stop cancels the supervisor's context.
func (h *harness) stop() { h.cur.stop() }

// result waits for Serve to return.
func (h *harness) result() error {
	h.t.Helper()
	err, ok := h.cur.wait(waitTimeout)
	if !ok {
		h.t.Fatalf("supervisor did not return; events:\n%s", eventList(h.rec.Events()))
	}
	return err
}

// shutdown cancels the supervisor and returns Serve's result.
func (h *harness) shutdown() error {
	h.t.Helper()
	h.stop()
	return h.result()
}

// waitEvent waits for the next event of type E matching match (nil: any),
// consuming the events before it.
func waitEvent[E supervision.Event](h *harness, match func(E) bool) E {
	h.t.Helper()
	e, err := supervisiontest.WaitFor(h.ctx, h.rec, match)
	if err != nil {
		var zero E
		h.t.Fatalf("waiting for %T: %v; events so far:\n%s", zero, err, eventList(h.rec.Events()))
	}
	return e
}

// awaitEvent waits until an event of type E matching match has been
// recorded, consumed or not.
func awaitEvent[E supervision.Event](h *harness, match func(E) bool) E {
	h.t.Helper()
	e, err := supervisiontest.Await(h.ctx, h.rec, match)
	if err != nil {
		var zero E
		h.t.Fatalf("awaiting %T: %v; events so far:\n%s", zero, err, eventList(h.rec.Events()))
	}
	return e
}

// child matches events of the named child.
func child[E supervision.Event](name string) func(E) bool {
	return func(e E) bool { return e.Info().Child == name }
}

func eventList(evs []supervision.Event) string {
	var s string
	for _, e := range evs {
		s += "\t" + e.String() + "\n"
	}
	return s
}

// status returns the status of the named child, or false.
func status(sup *supervision.Supervisor, name string) (supervision.ChildStatus, bool) {
	for _, st := range sup.Status() {
		if st.Name == name {
			return st, true
		}
	}
	return supervision.ChildStatus{}, false
}

// script is a controllable child: each Run announces itself on runs and
// then does what the test tells it through the announced run.
type script struct {
	runs   chan *run
	killed chan struct{} // closed by Kill, if used as a Killer
	once   sync.Once
}

type run struct {
	ctx   context.Context
	ready func()
	exit  chan error // the Run returns what is sent here
}

func newScript() *script {
	return &script{runs: make(chan *run, 100), killed: make(chan struct{})}
}

// Run announces the run and returns what the test sends on exit, or nil
// once ctx is cancelled.
func (s *script) Run(ctx context.Context, ready func()) error {
	r := &run{ctx: ctx, ready: ready, exit: make(chan error, 1)}
	s.runs <- r
	select {
	case err := <-r.exit:
		return err
	case <-ctx.Done():
		return nil
	}
}

// next waits for the next run.
func (s *script) next(h *harness) *run {
	h.t.Helper()
	select {
	case r := <-s.runs:
		return r
	case <-h.ctx.Done():
		h.t.Fatal("child was not run")
		return nil
	}
}

// failing returns a child that fails at once with err, without ever being
// ready, and counts its runs.
func failing(err error, runs *int, mu *sync.Mutex) supervision.ChildFunc {
	return func(context.Context, func()) error {
		if runs != nil {
			mu.Lock()
			*runs++
			mu.Unlock()
		}
		return err
	}
}

// steady is a child that is ready at once and runs until stopped.
var steady = supervision.ChildFunc(func(ctx context.Context, ready func()) error {
	ready()
	<-ctx.Done()
	return nil
})
