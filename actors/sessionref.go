package actors

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/mobd-dev/mobd/rpc"
)

// SessionRef is a handle on a session actor: the one place through which
// the session's turns run. Get one from [Engine.CreateSession] or
// [Engine.Session]. It is safe for concurrent use: concurrent turns queue
// in the session's mailbox and run one at a time, in order of arrival.
type SessionRef struct {
	e       *Engine
	key     uint64
	pid     *actor.PID
	slot    *runtimeSlot
	pending atomic.Int64
	stopped chan struct{}
	// forgotten: forgetSession has run. holds: the holds given out by
	// CreateSession and Session and not yet released. Both are guarded by
	// the engine's mu.
	forgotten bool
	holds     int
	// released: the actor stopped because its holds were released.
	released atomic.Bool

	mu      sync.Mutex
	id      string
	created *TurnResult
	// dropped is why the actor stopped itself (a session the realm does
	// not hold), for requests that reach it after it stopped.
	dropped error
}

// ID returns the session's id ("" only while it is being created).
func (s *SessionRef) ID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.id
}

// Runtime returns the name of the runtime hosting the session, e.g.
// "runtime-1" (see [Engine.Runtimes]).
func (s *SessionRef) Runtime() string { return s.slot.name }

// Stopped returns a channel that is closed once the session actor has
// stopped: after its holds were released, when the engine shut down, or
// when its session turned out not to exist.
func (s *SessionRef) Stopped() <-chan struct{} { return s.stopped }

// PID returns the session actor's protoactor PID.
func (s *SessionRef) PID() *actor.PID { return s.pid }

// Created returns the result of the session's first turn when the session
// was made by CreateSession, else nil.
func (s *SessionRef) Created() *TurnResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.created
}

func (s *SessionRef) setID(id string) {
	s.mu.Lock()
	s.id = id
	s.mu.Unlock()
}

func (s *SessionRef) setCreated(r *TurnResult) {
	s.mu.Lock()
	s.created = r
	s.mu.Unlock()
}

// TurnResult is the outcome of a turn run through a session actor.
type TurnResult struct {
	rpc.RunResult
	// Recovered reports a result rebuilt from the session's history after
	// the runtime died before answering: the turn had completed. Text,
	// Turns and ToolCalls come from the history; Usage is zero and the
	// other fields are empty, as the history does not keep them.
	Recovered bool
	// Attempts is 1, or 2 when the runtime died under the first attempt
	// before the turn committed and it was run again on the restarted
	// runtime.
	Attempts int
	// Runtime is the name of the runtime that ran the turn.
	Runtime string
}

// Release gives back the hold on the session's actor that the
// CreateSession or Session call that returned s gave its caller. Once every
// hold is given back, the actor finishes the turns it has, stops, and the
// engine forgets it; the session stays in the realm, and Engine.Session
// gives a new actor for it. A hold taken by Session before the actor
// stopped keeps it. Turns on s from then on fail with
// [ErrSessionReleased], those already on their way to the stopping actor
// included. Release more often than holds were given is a no-op.
func (s *SessionRef) Release() {
	s.e.mu.Lock()
	if s.holds > 0 {
		s.holds--
	}
	last := s.holds == 0 && !s.forgotten
	s.e.mu.Unlock()
	if last {
		s.send(&releaseSession{})
	}
}

// admit reserves a place in the session's mailbox for one request.
func (s *SessionRef) admit() error {
	s.e.tracker.add()
	if s.e.stopping.Load() {
		s.e.tracker.done()
		return ErrEngineStopped
	}
	if s.released.Load() {
		s.e.tracker.done()
		return s.goneErr()
	}
	if n := s.pending.Add(1); n > int64(s.e.cfg.SessionQueue) {
		s.unadmit()
		return fmt.Errorf("%w: session %s has %d turns pending (Config.SessionQueue)", ErrOverloaded, s.ID(), n-1)
	}
	return nil
}

// send sends a notice that needs no answer to the session actor, unless
// it has stopped.
func (s *SessionRef) send(msg any) {
	select {
	case <-s.stopped:
	default:
		s.e.system.Root.Send(s.pid, msg)
	}
}

// unadmit gives back the place admit reserved: once its request is
// answered, or when the actor never took it (the request became a dead
// letter).
func (s *SessionRef) unadmit() {
	s.pending.Add(-1)
	s.e.tracker.done()
}

// Turn runs a turn in the session and waits for its outcome. The turn
// waits in the session's mailbox while earlier turns run, and while the
// session's runtime restarts.
//
// If the runtime dies under the turn, Turn still returns exactly once: with
// the result of a rerun on the restarted runtime (Attempts 2) when the
// history proves the first attempt never committed, with a result rebuilt
// from the history (Recovered) when the turn had completed, and otherwise
// with a [*TurnError] matching [ErrTurnOutcomeUnknown] or [ErrTurnLost].
// A full mailbox fails at once with [ErrOverloaded].
//
// Cancelling ctx makes Turn return ctx.Err(): a queued turn is dropped,
// as is one waiting for a model slot (Config.ModelLimits), which is then
// never sent; a running one is interrupted on the runtime.
func (s *SessionRef) Turn(ctx context.Context, prompt rpc.Content, opts rpc.TurnOptions) (*TurnResult, error) {
	if err := s.admit(); err != nil {
		return nil, err
	}
	seq := s.e.seq.Add(1)
	f := s.e.newFuture()
	s.e.system.Root.RequestWithCustomSender(s.pid, &turnRequest{seq: seq, prompt: prompt, opts: &opts}, f.pid)
	m, err := f.wait(ctx)
	switch {
	case err == errDeadLetter:
		s.unadmit()
		return nil, s.goneErr()
	case err != nil:
		s.send(&cancelTurn{seq: seq})
		return nil, err
	}
	r := m.(*turnReply)
	return r.result, r.err
}

// Stream runs a turn like Turn and yields its events as they arrive,
// through the session actor. The stream ends after the turn's last event;
// Result then returns the outcome. When the turn is rerun after a runtime
// restart, a [*RetryNotice] event separates the attempts: drop the partial
// output seen before it.
//
// ctx bounds the whole stream; cancelling it ends the stream with
// ctx.Err() and interrupts the turn.
func (s *SessionRef) Stream(ctx context.Context, prompt rpc.Content, opts rpc.TurnOptions) *Stream {
	st := &Stream{ctx: ctx, s: s}
	if err := s.admit(); err != nil {
		st.done, st.err, st.final = true, err, &turnReply{err: err}
		return st
	}
	st.seq = s.e.seq.Add(1)
	st.mb = s.e.newMailbox()
	s.e.system.Root.RequestWithCustomSender(s.pid, &turnRequest{seq: st.seq, prompt: prompt, opts: &opts, stream: true}, st.mb.pid)
	return st
}

// Stream is the event stream of one turn; see [SessionRef.Stream]. Read it
// with Next/Current/Err or range over All. It is not safe for concurrent
// use.
type Stream struct {
	ctx   context.Context
	s     *SessionRef
	seq   uint64
	mb    *mailbox
	cur   rpc.Envelope
	done  bool
	err   error
	final *turnReply
}

// Next advances to the next event, blocking until one arrives or the stream
// ends; at the end it returns false and Err says why.
func (st *Stream) Next() bool {
	if st.done {
		return false
	}
	ev, ok, final, overflow, err := st.mb.next(st.ctx)
	if ok {
		st.cur = ev
		return true
	}
	st.done = true
	switch {
	case err != nil:
		st.err = err
		st.s.send(&cancelTurn{seq: st.seq})
	case overflow:
		st.err = ErrStreamOverflow
	}
	if final != nil {
		st.setFinal(final)
	}
	return false
}

func (st *Stream) setFinal(final any) {
	r, ok := final.(*turnReply)
	switch {
	case ok && r.err == errDeadLetter:
		st.s.unadmit()
		st.final = &turnReply{err: st.s.goneErr()}
	case ok:
		st.final = r
	default:
		st.final = &turnReply{err: ErrEngineStopped}
	}
	if st.err == nil {
		st.err = st.final.err
	}
}

// Current returns the event Next advanced to: a typed rpc event, or a
// notice of this package ([*RetryNotice]).
func (st *Stream) Current() rpc.Event { return st.cur.Event }

// Envelope returns the current event with its delivery metadata.
func (st *Stream) Envelope() rpc.Envelope { return st.cur }

// Err returns what ended the stream: the turn's error, ctx's error,
// [ErrStreamOverflow], or nil for a completed turn.
func (st *Stream) Err() error { return st.err }

// Result returns the turn's outcome once the stream has ended (after an
// overflow it waits for the turn). Before the end it returns
// [rpc.ErrStreamNotConsumed].
func (st *Stream) Result() (*TurnResult, error) {
	if !st.done {
		return nil, rpc.ErrStreamNotConsumed
	}
	if st.final == nil && errors.Is(st.err, ErrStreamOverflow) {
		if _, err := st.Wait(st.ctx); err != nil && st.final == nil {
			return nil, err
		}
	}
	if st.final == nil {
		return nil, st.err
	}
	return st.final.result, st.final.err
}

// Wait drops the remaining events and waits for the turn's outcome until
// ctx is done.
func (st *Stream) Wait(ctx context.Context) (*TurnResult, error) {
	if st.final == nil && st.mb != nil {
		final, err := st.mb.waitFinal(ctx)
		if err != nil {
			return nil, err
		}
		st.done = true
		st.setFinal(final)
	}
	return st.final.result, st.final.err
}

// All returns an iterator over the events. A terminal error is yielded
// once, as the last pair. Breaking out of the loop stops delivery; the turn
// runs on.
func (st *Stream) All() iter.Seq2[rpc.Event, error] {
	return func(yield func(rpc.Event, error) bool) {
		for st.Next() {
			if !yield(st.Current(), nil) {
				st.Close()
				return
			}
		}
		if err := st.Err(); err != nil {
			yield(nil, err)
		}
	}
}

// Close stops delivery of events; the turn runs on and Wait still returns
// its outcome. Close is idempotent.
func (st *Stream) Close() {
	if st.mb != nil {
		st.mb.setDiscard()
	}
}

// Subscribe opens a subscription to every event of the session's turns,
// whoever runs them, plus [*RuntimeNotice] events when the session's
// runtime goes down and comes back and [*RetryNotice] events when a turn
// is rerun. It returns once the subscription is registered: every turn
// started afterwards is seen. ctx bounds the subscription's reads.
//
// Subscribed sessions run their turns as streams, which costs a little.
// A subscriber more than Config.StreamBuffer events behind is dropped with
// [ErrStreamOverflow].
func (s *SessionRef) Subscribe(ctx context.Context) (*Subscription, error) {
	if s.e.stopping.Load() {
		return nil, ErrEngineStopped
	}
	mb := s.e.newMailbox()
	s.e.system.Root.RequestWithCustomSender(s.pid, &subscribe{}, mb.pid)
	if err := mb.waitAck(ctx); err != nil {
		if err == errDeadLetter {
			return nil, s.goneErr()
		}
		s.send(&unsubscribe{pid: mb.pid})
		return nil, err
	}
	return &Subscription{ctx: ctx, s: s, mb: mb}, nil
}

// Subscription is a session-wide event subscription; see
// [SessionRef.Subscribe]. It is not safe for concurrent use.
type Subscription struct {
	ctx  context.Context
	s    *SessionRef
	mb   *mailbox
	cur  rpc.Envelope
	done bool
	err  error
	once sync.Once
}

// Next advances to the next event; it returns false once the subscription
// ended (Close, ctx, overflow, engine shutdown), and Err says why.
func (sub *Subscription) Next() bool {
	if sub.done {
		return false
	}
	ev, ok, final, overflow, err := sub.mb.next(sub.ctx)
	if ok {
		sub.cur = ev
		return true
	}
	sub.done = true
	switch {
	case err != nil:
		sub.err = err
	case overflow:
		sub.err = ErrStreamOverflow
	default:
		// The session ended the subscription; there is nothing to close.
		if e, ok := final.(*subEnd); ok {
			sub.err = e.err
		}
		sub.once.Do(func() {})
		return false
	}
	sub.Close()
	return false
}

// Current returns the event Next advanced to.
func (sub *Subscription) Current() rpc.Event { return sub.cur.Event }

// Envelope returns the current event with its delivery metadata.
func (sub *Subscription) Envelope() rpc.Envelope { return sub.cur }

// Err returns what ended the subscription; nil after Close.
func (sub *Subscription) Err() error { return sub.err }

// All returns an iterator over the events; breaking out of the loop closes
// the subscription.
func (sub *Subscription) All() iter.Seq2[rpc.Event, error] {
	return func(yield func(rpc.Event, error) bool) {
		for sub.Next() {
			if !yield(sub.Current(), nil) {
				sub.Close()
				return
			}
		}
		if sub.err != nil {
			yield(nil, sub.err)
		}
	}
}

// Close ends the subscription. It is idempotent and does not block.
func (sub *Subscription) Close() {
	sub.once.Do(func() {
		sub.mb.setDiscard()
		sub.s.send(&unsubscribe{pid: sub.mb.pid})
	})
}

// SessionInfo is a snapshot of a session actor.
type SessionInfo struct {
	// ID is the session id.
	ID string
	// Runtime names the runtime hosting the session.
	Runtime string
	// Generation is the runtime incarnation the actor last saw.
	Generation uint64
	// Attached reports the session verified on the current incarnation.
	Attached bool
	// Queued counts the turns waiting.
	Queued int
	// Running reports a turn in flight (or being recovered).
	Running bool
	// Err is why the session refuses turns, empty if it does not.
	Err string
}

// Info asks the session actor for a snapshot. It fails with
// [ErrSessionReleased] once the actor stopped after its release, like a
// turn would.
func (s *SessionRef) Info(ctx context.Context) (*SessionInfo, error) {
	if s.released.Load() {
		return nil, s.goneErr()
	}
	m, err := s.e.request(ctx, s.pid, &infoRequest{})
	if errors.Is(err, ErrEngineStopped) {
		// The actor was gone: released or dropped meanwhile, or stopped
		// by Shutdown.
		return nil, s.goneErr()
	}
	if err != nil {
		return nil, err
	}
	return m.(*SessionInfo), nil
}

// RuntimeNotice is an event of this package delivered to subscribers: the
// session's runtime went down (Up false, Err saying why, empty when it was
// stopped) or an incarnation came up.
type RuntimeNotice struct {
	// Runtime names the runtime.
	Runtime string `json:"runtime"`
	// Up is true when an incarnation came up, false when one went down.
	Up bool `json:"up"`
	// Generation numbers the incarnation.
	Generation uint64 `json:"generation"`
	// Err says why the incarnation went down; empty when it was stopped.
	Err string `json:"error,omitempty"`
}

// EventType returns "mobd_runtime_up" or "mobd_runtime_down".
func (n *RuntimeNotice) EventType() string {
	if n.Up {
		return "mobd_runtime_up"
	}
	return "mobd_runtime_down"
}

// RetryNotice is an event of this package: the runtime died under the
// turn before it committed, and the turn is being run again (Attempt 2).
// Output seen before it belongs to the lost attempt.
type RetryNotice struct {
	// Attempt is the attempt that starts (2).
	Attempt int `json:"attempt"`
	// Cause is the failure of the runtime under the previous attempt.
	Cause string `json:"cause"`
}

// EventType returns "mobd_turn_retry".
func (*RetryNotice) EventType() string { return "mobd_turn_retry" }

// notice wraps an event of this package in an envelope from the runtime.
func notice(runtime string, ev rpc.Event) rpc.Envelope {
	return rpc.Envelope{Source: rpc.Source{Type: "runtime", RuntimeID: runtime}, Event: ev}
}

// goneErr is the error of a request that found the actor stopped: it was
// released, it dropped itself (its session does not exist), or the engine
// stopped it.
func (s *SessionRef) goneErr() error {
	if s.released.Load() {
		return fmt.Errorf("%w: session %s", ErrSessionReleased, s.ID())
	}
	s.mu.Lock()
	dropped := s.dropped
	s.mu.Unlock()
	if dropped != nil {
		return dropped
	}
	return ErrEngineStopped
}
