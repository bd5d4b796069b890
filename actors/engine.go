package actors

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/mobd-dev/mobd/internal/dispatch"
	"github.com/mobd-dev/mobd/rpc"
	"github.com/mobd-dev/mobd/supervision"
)

// Engine runs a supervised pool of runtime processes and the actors of the
// sessions and members placed on them. Create it with [Start] and stop it
// with [Engine.Shutdown]. All its methods are safe for concurrent use.
type Engine struct {
	cfg     Config
	log     *zap.Logger
	system  *actor.ActorSystem
	sup     *supervision.Supervisor
	slots   []*runtimeSlot
	limiter *limiter
	tracker *tracker
	// dispatch runs the session and member actors' mailboxes: they take a
	// message or two per turn, and a warm goroutine spares each one a
	// fresh goroutine and its stack growth.
	dispatch *dispatch.Warm
	seq      atomic.Uint64
	// duplicates counts replies that arrived after a request's final reply
	// (a bug if ever non-zero; the chaos test checks it).
	duplicates atomic.Int64
	// deadLetters counts messages sent to actors that were gone.
	deadLetters atomic.Int64

	// work is the context of every goroutine the actors start; Shutdown
	// cancels it once the accepted work is done or its ctx expired.
	work       context.Context
	workCancel context.CancelFunc
	wg         sync.WaitGroup
	// sessionActors counts the session actors not yet stopped, those the
	// engine has forgotten (released or dropped, stopping on their own)
	// included: Shutdown stops the runtime actors only after all of them,
	// since a stopping session actor still unhosts itself from its runtime.
	sessionActors sync.WaitGroup
	// memberActors counts the member actors not yet stopped, the retired
	// ones stopping on their own included: Shutdown stops the session
	// actors only after all of them, since a stopping member still
	// releases its session.
	memberActors sync.WaitGroup

	supCancel context.CancelFunc
	supDone   chan struct{} // closed when the supervisor returned

	stopping     atomic.Bool
	shutdownOnce sync.Once
	shutdownDone chan struct{}
	shutdownErr  error

	attachMu sync.Mutex // serialises Session's spawning of actors

	mu       sync.Mutex
	poolErr  error                  // why the pool gave up
	actors   map[uint64]*SessionRef // every session actor
	sessions map[string]*SessionRef // by session id
	members  map[string]*MemberRef  // by identity
	tmpRoot  string
}

// Start starts an engine: the actor system, a supervisor running
// cfg.PoolSize runtime processes on one persistent realm, and one runtime
// actor per process. It returns once every runtime is up. ctx bounds the
// start only: if it ends first, or the supervisor gives up, Start stops
// whatever it started and returns the error.
func Start(ctx context.Context, cfg Config) (*Engine, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	e := &Engine{
		cfg:          cfg,
		log:          cfg.Logger.Named("actors"),
		limiter:      newLimiter(cfg.ModelLimits),
		tracker:      newTracker(),
		dispatch:     dispatch.NewWarm(),
		supDone:      make(chan struct{}),
		shutdownDone: make(chan struct{}),
		actors:       make(map[uint64]*SessionRef),
		sessions:     make(map[string]*SessionRef),
		members:      make(map[string]*MemberRef),
	}
	if e.cfg.StateRoot == "" {
		dir, err := os.MkdirTemp("", "mobd-state-")
		if err != nil {
			return nil, fmt.Errorf("actors: state root: %w", err)
		}
		e.cfg.StateRoot, e.tmpRoot = dir, dir
	}
	e.work, e.workCancel = context.WithCancel(context.Background())
	e.system = actor.NewActorSystem(actor.WithLoggerFactory(slogFactory(cfg.Logger)))
	e.system.EventStream.Subscribe(func(m any) {
		if dl, ok := m.(*actor.DeadLetterEvent); ok {
			e.deadLetters.Add(1)
			e.log.Debug("dead letter", zap.Stringer("pid", dl.PID), zap.String("message", fmt.Sprintf("%T", dl.Message)))
		}
	})

	spec := cfg.Supervision
	spec.EventHook = supervision.MultiHook(supervision.ZapHook(cfg.Logger.Named("supervision")), cfg.Supervision.EventHook)
	e.sup = supervision.New("runtimes", spec)
	for i := range cfg.PoolSize {
		s := &runtimeSlot{e: e, name: fmt.Sprintf("runtime-%d", i), ready: make(chan struct{}), actorStopped: make(chan struct{})}
		s.log = cfg.Logger.With(zap.String("runtime", s.name))
		ra := &runtimeActor{slot: s, hosted: make(map[uint64]*actor.PID)}
		pid, err := e.system.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return ra }), s.name)
		if err != nil {
			e.system.Shutdown()
			e.removeTmp()
			return nil, fmt.Errorf("actors: spawn %s: %w", s.name, err)
		}
		s.pid = pid
		e.slots = append(e.slots, s)
		if err := e.sup.Add(s.name, s, supervision.ChildSpec{}); err != nil {
			e.system.Shutdown()
			e.removeTmp()
			return nil, err
		}
	}
	var supCtx context.Context
	supCtx, e.supCancel = context.WithCancel(context.Background())
	errc := e.sup.ServeBackground(supCtx)
	go e.watchPool(errc)

	for _, s := range e.slots {
		select {
		case <-s.ready:
		case <-e.supDone:
			err := e.Err()
			_ = e.Shutdown(context.Background())
			return nil, fmt.Errorf("actors: start: %w", err)
		case <-ctx.Done():
			_ = e.Shutdown(context.Background())
			return nil, fmt.Errorf("actors: start: %w", ctx.Err())
		}
	}
	e.log.Info("engine started", zap.Int("runtimes", cfg.PoolSize), zap.String("realm", cfg.RealmID), zap.String("state_root", e.cfg.StateRoot))
	return e, nil
}

// watchPool waits for the supervisor to return. Before Shutdown that means
// it gave up: every session is told the pool is unavailable.
func (e *Engine) watchPool(errc <-chan error) {
	err := <-errc
	if err != nil && !e.stopping.Load() {
		e.log.Error("runtime pool gave up", zap.Error(err))
		e.mu.Lock()
		e.poolErr = err
		e.mu.Unlock()
		for _, s := range e.slots {
			e.system.Root.Send(s.pid, &runtimeGone{err: err})
		}
	} else if err != nil {
		e.log.Warn("runtime supervisor ended with an error during shutdown", zap.Error(err))
	}
	close(e.supDone)
}

// ActorSystem returns the engine's protoactor actor system, for actors of
// other packages that message sessions and members by PID.
func (e *Engine) ActorSystem() *actor.ActorSystem { return e.system }

// Config returns the engine's configuration with its defaults filled in
// (StateRoot is the temporary directory when none was given).
func (e *Engine) Config() Config { return e.cfg }

// Err returns the reason the runtime pool gave up (matching
// [ErrRuntimeUnavailable] and [supervision.ErrIntensityExceeded]), or nil
// while it is running.
func (e *Engine) Err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.poolErr == nil {
		return nil
	}
	return e.unavailable()
}

// unavailable wraps the pool's failure; e.mu must be held.
func (e *Engine) unavailable() error {
	return fmt.Errorf("%w: %w", ErrRuntimeUnavailable, e.poolErr)
}

// enter registers an engine call with the tracker, so that Shutdown waits
// for it, unless the engine is stopping. The caller must call
// e.tracker.done when it returns.
func (e *Engine) enter() error {
	e.tracker.add()
	if e.stopping.Load() {
		e.tracker.done()
		return ErrEngineStopped
	}
	return nil
}

// goWork runs f in a goroutine that Shutdown waits for.
func (e *Engine) goWork(f func()) {
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		f()
	}()
}

// spawnSession starts a session actor on slot, which must have been
// reserved with place.
func (e *Engine) spawnSession(slot *runtimeSlot, id string, attachOnly bool) (*SessionRef, error) {
	ref := &SessionRef{e: e, key: e.seq.Add(1), slot: slot, id: id, stopped: make(chan struct{}), holds: 1}
	a := &sessionActor{e: e, ref: ref, slot: slot, id: id, attachOnly: attachOnly}
	e.sessionActors.Add(1)
	pid, err := e.system.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return a }, actor.WithDispatcher(e.dispatch), actor.WithMailbox(sessionMailbox)), fmt.Sprintf("session-%d", ref.key))
	if err != nil {
		e.sessionActors.Done()
		e.unplace(slot)
		return nil, fmt.Errorf("actors: spawn session actor: %w", err)
	}
	ref.pid = pid
	e.mu.Lock()
	// The actor may already have dropped itself (an attach that found no
	// session can finish before SpawnNamed returns): a forgotten actor is
	// not registered again.
	if !ref.forgotten {
		e.actors[ref.key] = ref
	}
	e.mu.Unlock()
	return ref, nil
}

// registerSession records the id of a session actor, unless it has already
// been forgotten.
func (e *Engine) registerSession(id string, ref *SessionRef) {
	ref.setID(id)
	e.mu.Lock()
	if _, ok := e.sessions[id]; !ok && !ref.forgotten {
		e.sessions[id] = ref
	}
	e.mu.Unlock()
}

// forgetSession unregisters a session actor that stops and gives back its
// place on its runtime; it is idempotent, and may run before spawnSession
// or registerSession has registered the actor.
func (e *Engine) forgetSession(ref *SessionRef) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.forgetSessionLocked(ref)
}

// forgetSessionLocked is forgetSession with e.mu held.
func (e *Engine) forgetSessionLocked(ref *SessionRef) {
	if ref.forgotten {
		return
	}
	ref.forgotten = true
	if e.actors[ref.key] == ref {
		delete(e.actors, ref.key)
	}
	if id := ref.ID(); id != "" && e.sessions[id] == ref {
		delete(e.sessions, id)
	}
	ref.slot.hosted--
}

// CreateSession places a new session on the least loaded runtime and
// creates it there with its first turn, through its session actor. The
// session gets the label [CreateLabel], which lets the engine find out
// whether it was created if the runtime dies during creation; the first
// turn is then recovered like any other turn (see [SessionRef.Turn]), and
// a failure is a [*TurnError] whose SessionID is set if the session
// exists (use [Engine.Session] to reach it).
//
// The first turn's result is in [SessionRef.Created]. Cancelling ctx
// abandons the creation: a session the runtime still creates stays managed
// by the engine ([Engine.Sessions]). The caller holds the session's actor
// until it calls [SessionRef.Release].
func (e *Engine) CreateSession(ctx context.Context, prompt rpc.Content, opts rpc.SessionOptions) (*SessionRef, error) {
	if err := e.enter(); err != nil {
		return nil, err
	}
	defer e.tracker.done()
	if err := prompt.Validate(); err != nil {
		return nil, err
	}
	slot, err := e.place()
	if err != nil {
		return nil, err
	}
	ref, err := e.spawnSession(slot, "", false)
	if err != nil {
		return nil, err
	}
	if err := ref.admit(); err != nil {
		e.system.Root.Stop(ref.pid)
		return nil, err
	}
	labels := maps.Clone(opts.Labels)
	if labels == nil {
		labels = make(map[string]string, 1)
	}
	labels[CreateLabel] = uuid.NewString()
	opts.Labels = labels
	seq := e.seq.Add(1)
	f := e.newFuture()
	e.system.Root.RequestWithCustomSender(ref.pid, &createRequest{seq: seq, prompt: prompt, opts: opts, token: labels[CreateLabel]}, f.pid)
	m, err := f.wait(ctx)
	switch {
	case err == errDeadLetter:
		ref.unadmit()
		return nil, ErrEngineStopped
	case err != nil:
		ref.send(&cancelTurn{seq: seq})
		return nil, err
	}
	if r := m.(*turnReply); r.err != nil {
		// The caller gets no SessionRef, so it holds nothing: a session the
		// runtime made anyway is reached with Session, and its actor stops
		// once the holds Session gives are released.
		ref.Release()
		return nil, r.err
	}
	return ref, nil
}

// Session returns the actor of an existing session of the realm, e.g. one
// created before the engine restarted, placing it on a runtime and
// verifying it there with a read if it has no actor yet. It fails with an
// error matching [ErrSessionNotFound] if the realm does not hold the
// session. ctx bounds the wait for the verification. Each call that
// returns a SessionRef gives its caller a hold on the actor, to give back
// with [SessionRef.Release].
func (e *Engine) Session(ctx context.Context, id string) (*SessionRef, error) {
	if err := e.enter(); err != nil {
		return nil, err
	}
	defer e.tracker.done()
	if id == "" {
		return nil, fmt.Errorf("%w: empty session id", rpc.ErrInvalidArgs)
	}
	ref, err := e.sessionActor(id)
	if err != nil {
		return nil, err
	}
	m, err := e.request(ctx, ref.pid, &awaitAttached{})
	if err != nil {
		ref.Release()
		// The actor may have found the session missing and stopped before
		// the request reached it.
		ref.mu.Lock()
		dropped := ref.dropped
		ref.mu.Unlock()
		if dropped != nil {
			return nil, dropped
		}
		return nil, err
	}
	if r := m.(*attachReply); r.err != nil {
		ref.Release()
		return nil, r.err
	}
	return ref, nil
}

// sessionActor returns the actor of session id, spawning one if needed.
func (e *Engine) sessionActor(id string) (*SessionRef, error) {
	e.attachMu.Lock()
	defer e.attachMu.Unlock()
	e.mu.Lock()
	ref := e.sessions[id]
	if ref != nil {
		ref.holds++ // a releasing actor decides under e.mu, so it sees this
	}
	e.mu.Unlock()
	if ref != nil {
		return ref, nil
	}
	slot, err := e.place()
	if err != nil {
		return nil, err
	}
	if ref, err = e.spawnSession(slot, id, true); err != nil {
		return nil, err
	}
	e.registerSession(id, ref)
	return ref, nil
}

// Sessions returns the session actors the engine runs, by session id.
func (e *Engine) Sessions() map[string]*SessionRef {
	e.mu.Lock()
	defer e.mu.Unlock()
	return maps.Clone(e.sessions)
}

// stopWork tells every member and session actor that the engine stops.
func (e *Engine) stopWork() {
	e.mu.Lock()
	sessions := slices.Collect(maps.Values(e.actors))
	members := slices.Collect(maps.Values(e.members))
	e.mu.Unlock()
	for _, m := range members {
		if m.pid != nil {
			e.system.Root.Send(m.pid, &stopWork{})
		}
	}
	for _, s := range sessions {
		e.system.Root.Send(s.pid, &stopWork{})
	}
}

// Shutdown stops the engine gracefully: it stops accepting work, fails
// the turns still queued (never sent) with [ErrEngineStopped], lets the
// turns running finish until ctx is done, then fails those still running
// with errors matching [ErrEngineStopped], stops the
// runtimes with their close ladder (stdin closed, SIGTERM, SIGKILL after
// Config.CloseTimeout), stops every actor and the actor system, and waits
// for all of it. It returns ctx's error if accepted work had to be cut
// short, else nil.
//
// Shutdown is idempotent; concurrent and later calls wait for the first one
// (or their own ctx) and return its result.
func (e *Engine) Shutdown(ctx context.Context) error {
	e.shutdownOnce.Do(func() {
		e.shutdownErr = e.shutdown(ctx)
		close(e.shutdownDone)
	})
	select {
	case <-e.shutdownDone:
		return e.shutdownErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (e *Engine) shutdown(ctx context.Context) error {
	e.stopping.Store(true)
	// Nothing starts any more: the turns still queued are refused with
	// ErrEngineStopped (they never ran; their callers may submit them
	// again), and only the turns running are waited for.
	e.stopWork()
	var result error
	if err := e.tracker.wait(ctx); err != nil {
		result = fmt.Errorf("actors: shutdown: accepted turns cut short: %w", err)
	}
	e.stopWork() // the actors started meanwhile
	e.workCancel()
	e.supCancel()
	<-e.supDone
	e.wg.Wait()
	// Every accepted request is now answered or about to be: the actors
	// fail what is left as they process their mailboxes.
	drain, cancel := context.WithTimeout(context.Background(), e.cfg.CloseTimeout+5*time.Second)
	if err := e.tracker.wait(drain); err != nil {
		e.log.Error("shutdown: requests still unanswered", zap.Error(err))
	}
	cancel()

	// The runtime actors may still be telling sessions about the runtimes'
	// ends: let them finish before the sessions stop.
	for _, s := range e.slots {
		if _, err := e.request(context.Background(), s.pid, &flush{}); err != nil {
			e.log.Warn("shutdown: flush runtime actor", zap.String("runtime", s.name), zap.Error(err))
		}
	}
	e.mu.Lock()
	sessions := slices.Collect(maps.Values(e.actors))
	members := slices.Collect(maps.Values(e.members))
	e.mu.Unlock()
	members = slices.DeleteFunc(members, func(m *MemberRef) bool { return m.pid == nil })
	for _, m := range members {
		e.system.Root.Poison(m.pid)
	}
	for _, m := range members {
		<-m.stopped
	}
	e.memberActors.Wait()
	for _, s := range sessions {
		e.system.Root.Poison(s.pid)
	}
	for _, s := range sessions {
		<-s.stopped
	}
	e.sessionActors.Wait()
	for _, s := range e.slots {
		e.system.Root.Poison(s.pid)
	}
	for _, s := range e.slots {
		<-s.actorStopped
	}
	e.dispatch.Close()
	e.system.Shutdown()
	e.removeTmp()
	e.log.Info("engine stopped")
	return result
}

func (e *Engine) removeTmp() {
	if e.tmpRoot != "" {
		if err := os.RemoveAll(e.tmpRoot); err != nil {
			e.log.Warn("remove temporary state root", zap.Error(err))
		}
	}
}
