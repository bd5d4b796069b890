package actors

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/mobd-dev/mobd/rpc"
	"github.com/mobd-dev/mobd/supervision"
)

// runtimeSlot is one place of the pool: the [supervision.Child] that runs
// successive incarnations of a runtime process through the rpc SDK, and the
// runtime actor that tells the sessions hosted there when it goes down and
// comes back.
//
// Every incarnation has a generation number; sessions compare generations
// to know whether the runtime restarted under a turn.
type runtimeSlot struct {
	e     *Engine
	name  string
	pid   *actor.PID // the runtime actor
	log   *zap.Logger
	ready chan struct{} // closed when the first incarnation is up
	// actorStopped is closed when the runtime actor has stopped.
	actorStopped chan struct{}

	// hosted is the number of sessions placed here; guarded by e.mu.
	hosted int

	mu        sync.Mutex
	client    *rpc.Client // current incarnation; nil while down
	gen       uint64
	startedAt time.Time
	readyOnce sync.Once
}

var (
	_ supervision.Child  = (*runtimeSlot)(nil)
	_ supervision.Prober = (*runtimeSlot)(nil)
	_ supervision.Killer = (*runtimeSlot)(nil)
)

// Run implements [supervision.Child]: it starts a runtime with the pool's
// realm and state root, announces it to the runtime actor, and blocks until
// the runtime dies (an error: the supervisor restarts it) or ctx is
// cancelled (the close ladder stops it: stdin closed, SIGTERM, SIGKILL
// after Config.CloseTimeout).
func (s *runtimeSlot) Run(ctx context.Context, ready func()) error {
	cfg := s.e.cfg
	client, err := rpc.Connect(ctx, rpc.Options{
		BinaryPath:   cfg.BinaryPath,
		RealmID:      cfg.RealmID,
		InstanceID:   s.name,
		RealmBackend: cfg.RealmBackend,
		StateRoot:    cfg.StateRoot,
		Env:          cfg.Env,
		Dir:          cfg.Dir,
		Tools:        cfg.Tools,
		Logger:       s.log,
		CloseTimeout: cfg.CloseTimeout,
	})
	if err != nil {
		return fmt.Errorf("actors: start %s: %w", s.name, err)
	}
	s.mu.Lock()
	s.gen++
	gen := s.gen
	s.client = client
	s.startedAt = time.Now()
	s.mu.Unlock()
	ready()
	s.readyOnce.Do(func() { close(s.ready) })
	s.e.system.Root.Send(s.pid, &runtimeUp{gen: gen, client: client})

	var died error
	select {
	case <-client.Done():
		died = client.Err()
		if died == nil {
			died = rpc.ErrConnectionClosed
		}
	case <-ctx.Done():
		// Stopped by the supervisor: for a failure (a hung runtime's
		// probes), that is why it went down.
		if cause := context.Cause(ctx); !errors.Is(cause, context.Canceled) {
			died = cause
		}
	}
	s.e.system.Root.Send(s.pid, &runtimeDown{gen: gen, err: died})
	_ = client.Close()
	s.mu.Lock()
	s.client = nil
	s.mu.Unlock()
	if died != nil {
		return fmt.Errorf("actors: %s (pid %d) died: %w", s.name, client.PID(), died)
	}
	return nil
}

// Probe implements [supervision.Prober] with a cheap call that needs the
// runtime's request loop: capabilities/get.
func (s *runtimeSlot) Probe(ctx context.Context) error {
	c := s.current()
	if c == nil {
		return nil
	}
	return c.Call(ctx, "capabilities/get", struct{}{}, nil)
}

// Kill implements [supervision.Killer]: SIGKILL for the current process.
func (s *runtimeSlot) Kill() error {
	c := s.current()
	if c == nil {
		return nil
	}
	return c.Kill()
}

// PID reports the current process id for [supervision.ChildStatus].
func (s *runtimeSlot) PID() int {
	if c := s.current(); c != nil {
		return c.PID()
	}
	return 0
}

func (s *runtimeSlot) current() *rpc.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.client
}

func (s *runtimeSlot) isUp() bool {
	c := s.current()
	return c != nil && c.Err() == nil
}

// Messages of the runtime actor. They carry live clients and never leave
// the process.
type (
	// runtimeUp: incarnation gen is ready; sent by Run, forwarded to the
	// hosted sessions.
	runtimeUp struct {
		gen    uint64
		client *rpc.Client
	}
	// runtimeDown: incarnation gen ended; err is why (nil when stopped).
	runtimeDown struct {
		gen uint64
		err error
	}
	// runtimeGone: the pool gave up; no incarnation will follow.
	runtimeGone struct{ err error }
	// hostSession registers a session actor with its runtime, which answers
	// with the runtime's current state.
	hostSession struct {
		key uint64
		pid *actor.PID
	}
	// unhostSession unregisters a session actor.
	unhostSession struct{ key uint64 }
	// flush is answered once every earlier message has been handled (and
	// its notices sent).
	flush struct{}
)

// runtimeActor is the mailbox of a runtime slot: it keeps the runtime's
// state as the sessions should see it and tells every hosted session about
// each change, in order.
type runtimeActor struct {
	slot   *runtimeSlot
	hosted map[uint64]*actor.PID
	up     *runtimeUp
	gone   *runtimeGone
}

// Receive implements actor.Actor.
func (r *runtimeActor) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *hostSession:
		r.hosted[m.key] = m.pid
		switch {
		case r.gone != nil:
			c.Send(m.pid, r.gone)
		case r.up != nil:
			c.Send(m.pid, r.up)
		}
	case *unhostSession:
		delete(r.hosted, m.key)
		if c.Sender() != nil {
			c.Respond(m)
		}
	case *runtimeUp:
		r.up = m
		r.broadcast(c, m)
	case *runtimeDown:
		if r.up != nil && r.up.gen == m.gen {
			r.up = nil
		}
		r.broadcast(c, m)
	case *runtimeGone:
		r.up, r.gone = nil, m
		r.broadcast(c, m)
	case *flush:
		c.Respond(m)
	case *actor.Stopped:
		close(r.slot.actorStopped)
	}
}

func (r *runtimeActor) broadcast(c actor.Context, msg any) {
	for _, pid := range r.hosted {
		c.Send(pid, msg)
	}
}

// RuntimeStatus is a snapshot of one runtime of the pool.
type RuntimeStatus struct {
	// Name is the runtime's name, "runtime-0", "runtime-1", …; it is also
	// its --instance id in the realm.
	Name string
	// State is the supervisor's view: "starting", "running", "backoff",
	// "stopping", "exited" or "idle".
	State string
	// PID is the process id while running, else 0.
	PID int
	// Uptime is how long the current process has been running.
	Uptime time.Duration
	// Restarts counts the restarts of this runtime since the engine started.
	Restarts int
	// Generation numbers the incarnations: 1 for the first process.
	Generation uint64
	// Sessions is the number of sessions placed on this runtime.
	Sessions int
	// LastError is the runtime's most recent failure, nil if none.
	LastError error
}

// Runtimes returns a snapshot of the pool's runtimes, in order. It is safe
// for concurrent use.
func (e *Engine) Runtimes() []RuntimeStatus {
	byName := make(map[string]supervision.ChildStatus)
	for _, cs := range e.sup.Status() {
		byName[cs.Name] = cs
	}
	out := make([]RuntimeStatus, len(e.slots))
	for i, s := range e.slots {
		cs := byName[s.name]
		s.mu.Lock()
		gen := s.gen
		s.mu.Unlock()
		e.mu.Lock()
		hosted := s.hosted
		e.mu.Unlock()
		out[i] = RuntimeStatus{
			Name: s.name, State: cs.State.String(), PID: cs.PID, Uptime: cs.Uptime,
			Restarts: cs.Restarts, Generation: gen, Sessions: hosted, LastError: cs.LastError,
		}
	}
	return out
}

// isConnectionLoss reports whether err means the runtime went away (as
// opposed to an answer from it).
func isConnectionLoss(err error) bool {
	return errors.Is(err, rpc.ErrConnectionClosed) || errors.Is(err, rpc.ErrClientClosed) ||
		errors.Is(err, rpc.ErrProtocol) || errors.Is(err, rpc.ErrNotConnected)
}
