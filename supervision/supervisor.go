package supervision

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Supervisor runs a set of named children, restarts them according to their
// [ChildSpec] and gives up, escalating to its own parent, when they fail
// faster than its restart intensity allows. A Supervisor is itself a
// [Child], so supervisors nest into a tree.
//
// Children may be added and removed before and while the supervisor runs;
// they stay registered across runs (a nested supervisor that its parent
// restarts starts them all again), except Temporary children, which are
// forgotten once they end.
//
// All methods are safe for concurrent use, but must not be called from an
// [EventHook] or a [Killer].Kill (they are called from the supervisor's own
// goroutine).
type Supervisor struct {
	name string

	mu        sync.Mutex
	spec      Spec      // as given to New
	inherited Spec      // hook, clock and rand of the parent, if any
	entries   []entry   // the children, while not running
	run       *runState // non-nil while running; then it owns the children
}

// entry is a registered child as given to Add.
type entry struct {
	name  string
	child Child
	spec  ChildSpec
}

// New returns a supervisor named name, configured by spec (whose zero
// fields take the documented defaults). It starts nothing: call Run, Serve
// or ServeBackground, or add it as a child of another supervisor.
func New(name string, spec Spec) *Supervisor {
	return &Supervisor{name: name, spec: spec}
}

// Name returns the supervisor's name.
func (s *Supervisor) Name() string { return s.name }

// String returns the supervisor's name.
func (s *Supervisor) String() string { return s.name }

// Add registers child under name. If the supervisor is running the child is
// started at once; otherwise it starts with the next run. It returns
// [ErrDuplicateChild] if the name is taken. Add does not wait for the child
// to become ready.
func (s *Supervisor) Add(name string, child Child, opts ChildSpec) error {
	switch {
	case name == "":
		return errors.New("supervision: empty child name")
	case child == nil:
		return errors.New("supervision: nil child")
	case child == Child(s):
		return errors.New("supervision: a supervisor cannot supervise itself")
	}
	e := entry{name: name, child: child, spec: opts}
	for {
		var err error
		r := s.whenIdle(func() {
			for _, x := range s.entries {
				if x.name == name {
					err = fmt.Errorf("%w: %q", ErrDuplicateChild, name)
					return
				}
			}
			s.entries = append(s.entries, e)
		})
		if r == nil {
			return err
		}
		reply := make(chan error, 1)
		if r.call(addMsg{entry: e, reply: reply}) {
			return <-reply
		}
		// That run just ended; retry against the registry.
	}
}

// Remove unregisters the child called name. A running child is stopped
// with its stop ladder first; Remove blocks until it has returned or ctx is
// done (then Remove returns ctx.Err() and the removal completes in the
// background). It returns [ErrUnknownChild] for an unknown name.
func (s *Supervisor) Remove(ctx context.Context, name string) error {
	for {
		err := fmt.Errorf("%w: %q", ErrUnknownChild, name)
		r := s.whenIdle(func() {
			for i, x := range s.entries {
				if x.name == name {
					s.entries = append(s.entries[:i], s.entries[i+1:]...)
					err = nil
					return
				}
			}
		})
		if r == nil {
			return err
		}
		reply := make(chan error, 1)
		if r.call(removeMsg{name: name, reply: reply}) {
			select {
			case err := <-reply:
				return err
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
}

// RestartChild forces a restart of the child called name, for example
// because a problem with it was detected elsewhere. A running child is
// stopped with its stop ladder and then restarted like a crashed child,
// whatever its policy: the restart counts against the intensity and waits
// for its backoff. A child already waiting for its restart is left alone;
// an exited child is restarted. RestartChild does not wait. It returns
// [ErrUnknownChild] for an unknown name and [ErrNotRunning] when the
// supervisor is not running.
func (s *Supervisor) RestartChild(name string) error {
	s.mu.Lock()
	r := s.run
	s.mu.Unlock()
	if r == nil {
		return ErrNotRunning
	}
	reply := make(chan error, 1)
	if !r.call(restartMsg{name: name, reply: reply}) {
		return ErrNotRunning
	}
	return <-reply
}

// Status returns a snapshot of the children in the order they were added.
// While the supervisor is not running they are all [StateIdle].
func (s *Supervisor) Status() []ChildStatus {
	for {
		var out []ChildStatus
		r := s.whenIdle(func() {
			out = make([]ChildStatus, len(s.entries))
			for i, e := range s.entries {
				out[i] = ChildStatus{Name: e.name, State: StateIdle, Policy: e.spec.Restart}
			}
		})
		if r == nil {
			return out
		}
		reply := make(chan []ChildStatus, 1)
		if r.call(statusMsg{reply: reply}) {
			return <-reply
		}
	}
}

// whenIdle calls f with the registry locked and returns nil if the
// supervisor is not running; otherwise it returns the running loop, which
// owns the children.
func (s *Supervisor) whenIdle(f func()) *runState {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.run != nil {
		return s.run
	}
	f()
	return nil
}

// Run implements [Child]: it starts the registered children and supervises
// them until ctx is cancelled or the supervisor gives up. It calls ready (if
// not nil) once every child present at the start is running or has ended
// for good.
//
// On cancellation Run stops all children in parallel, each with its stop
// ladder, and returns nil once they have returned (or been abandoned). When
// a child's failure exceeds the restart intensity, Run stops the other
// children and returns an [*EscalationError]. Run returns
// [ErrAlreadyRunning] if the supervisor is already running. A supervisor
// may be run again after Run returned; each run starts from a fresh
// restart history.
func (s *Supervisor) Run(ctx context.Context, ready func()) error {
	r, err := s.prepare(ctx)
	if err != nil {
		return err
	}
	return r.loop(ctx, ready)
}

// Serve runs the supervisor until ctx is cancelled or it gives up; it is
// Run(ctx, nil), for a root supervisor.
func (s *Supervisor) Serve(ctx context.Context) error { return s.Run(ctx, nil) }

// ServeBackground starts Serve in a new goroutine and returns a channel that
// receives its result. The supervisor is running (its children being
// started) when ServeBackground returns, so that methods called afterwards
// act on the running supervisor.
func (s *Supervisor) ServeBackground(ctx context.Context) <-chan error {
	errc := make(chan error, 1)
	r, err := s.prepare(ctx)
	if err != nil {
		errc <- err
		return errc
	}
	go func() { errc <- r.loop(ctx, nil) }()
	return errc
}

// prepare claims the supervisor for a run and hands the registry to the
// run's loop.
func (s *Supervisor) prepare(ctx context.Context) (*runState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.run != nil {
		return nil, ErrAlreadyRunning
	}
	spec := s.spec
	if spec.EventHook == nil {
		spec.EventHook = s.inherited.EventHook
	}
	if spec.Clock == nil {
		spec.Clock = s.inherited.Clock
	}
	if spec.Rand == nil {
		spec.Rand = s.inherited.Rand
	}
	s.run = newRunState(ctx, s.name, spec.withDefaults(), s.entries)
	s.run.finish = s.finish
	return s.run, nil
}

// finish takes the registry back from a run that ended.
func (s *Supervisor) finish(r *runState, entries []entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.run == r {
		s.entries = entries
		s.run = nil
	}
}

// inherit records the parent's hook, clock and rand, used for the fields of
// s's Spec that are nil.
func (s *Supervisor) inherit(parent Spec) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inherited = Spec{EventHook: parent.EventHook, Clock: parent.Clock, Rand: parent.Rand}
}
