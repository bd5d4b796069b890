package actors

import (
	"context"
	"sync"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/mobd-dev/mobd/rpc"
)

// This file holds the processes that receive actors' replies on behalf of
// Go callers: a protoactor Process registered under a PID, so replies are
// ordinary sends to a sender PID (which a cluster could route), delivered
// into something a caller can wait on with a context.
//
// A reply process stays registered until its final message arrives, even
// when its caller gave up, so the actor's reply never becomes a dead
// letter. Every request an actor of this package accepts is answered, so
// none stays registered for long.

// future receives exactly one reply.
type future struct {
	e    *Engine
	pid  *actor.PID
	once sync.Once
	ch   chan any
}

func (e *Engine) newFuture() *future {
	f := &future{e: e, ch: make(chan any, 1)}
	f.pid, _ = e.system.ProcessRegistry.Add(f, "reply"+e.system.ProcessRegistry.NextId())
	return f
}

// SendUserMessage implements actor.Process: the first message is the reply.
func (f *future) SendUserMessage(_ *actor.PID, message any) {
	_, msg, _ := actor.UnwrapEnvelope(message)
	if _, ok := msg.(*actor.DeadLetterResponse); ok {
		msg = errDeadLetter
	}
	first := false
	f.once.Do(func() {
		first = true
		f.ch <- msg
		f.e.system.ProcessRegistry.Remove(f.pid)
	})
	if !first {
		f.e.duplicates.Add(1)
	}
}

// SendSystemMessage implements actor.Process; system messages are ignored.
func (f *future) SendSystemMessage(*actor.PID, any) {}

// Stop implements actor.Process.
func (f *future) Stop(pid *actor.PID) { f.e.system.ProcessRegistry.Remove(pid) }

// wait returns the reply, ctx's error, or errDeadLetter when the target
// actor was gone.
func (f *future) wait(ctx context.Context) (any, error) {
	select {
	case m := <-f.ch:
		if m == any(errDeadLetter) {
			return nil, errDeadLetter
		}
		return m, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// errDeadLetter stands for protoactor's DeadLetterResponse: the target
// actor was gone when the request arrived.
var errDeadLetter = &deadLetterError{}

type deadLetterError struct{}

// Error implements error.
func (*deadLetterError) Error() string { return "actors: target actor is gone" }

// request sends msg to pid with a fresh future as sender and waits for the
// reply until ctx is done. A request to an actor that is gone fails with
// ErrEngineStopped.
func (e *Engine) request(ctx context.Context, pid *actor.PID, msg any) (any, error) {
	f := e.newFuture()
	e.system.Root.RequestWithCustomSender(pid, msg, f.pid)
	m, err := f.wait(ctx)
	if err == errDeadLetter {
		return nil, ErrEngineStopped
	}
	return m, err
}

// eventOut carries one event of a turn, or a notice, to a stream or
// subscription.
type eventOut struct {
	env rpc.Envelope
}

// turnReply is the final message of a turn: its result or its error.
type turnReply struct {
	seq    uint64
	result *TurnResult
	err    error
}

// subEnd is the final message of a subscription.
type subEnd struct{ err error }

// subAck acknowledges a subscription; events follow.
type subAck struct{}

// mailbox receives a stream of events followed by one final message
// (*turnReply or *subEnd). It never blocks the sending actor: events past
// the buffer limit are dropped and the overflow is reported to the
// consumer after the events it did get.
type mailbox struct {
	e     *Engine
	pid   *actor.PID
	limit int

	mu       sync.Mutex
	events   []rpc.Envelope
	head     int
	overflow bool
	discard  bool
	acked    bool
	final    any
	signal   chan struct{}
}

func (e *Engine) newMailbox() *mailbox {
	m := &mailbox{e: e, limit: e.cfg.StreamBuffer, signal: make(chan struct{}, 1)}
	m.pid, _ = e.system.ProcessRegistry.Add(m, "stream"+e.system.ProcessRegistry.NextId())
	return m
}

// SendUserMessage implements actor.Process.
func (m *mailbox) SendUserMessage(_ *actor.PID, message any) {
	_, msg, _ := actor.UnwrapEnvelope(message)
	m.mu.Lock()
	if m.final != nil {
		m.mu.Unlock()
		if _, ok := msg.(*eventOut); !ok {
			m.e.duplicates.Add(1)
		}
		return
	}
	switch v := msg.(type) {
	case *eventOut:
		switch {
		case m.discard:
		case len(m.events)-m.head >= m.limit:
			m.overflow = true
		case !m.overflow:
			m.events = append(m.events, v.env)
		}
	case *subAck:
		m.acked = true
	case *actor.DeadLetterResponse:
		m.final = &turnReply{err: errDeadLetter}
	default:
		m.final = v
	}
	final := m.final != nil
	m.mu.Unlock()
	if final {
		m.e.system.ProcessRegistry.Remove(m.pid)
	}
	select {
	case m.signal <- struct{}{}:
	default:
	}
}

// SendSystemMessage implements actor.Process; system messages are ignored.
func (m *mailbox) SendSystemMessage(*actor.PID, any) {}

// Stop implements actor.Process.
func (m *mailbox) Stop(pid *actor.PID) { m.e.system.ProcessRegistry.Remove(pid) }

// next returns the next event; ok is false at the end, with the final
// message (nil if ctx ended the wait first) and the overflow flag.
func (m *mailbox) next(ctx context.Context) (ev rpc.Envelope, ok bool, final any, overflow bool, err error) {
	for {
		m.mu.Lock()
		if m.head < len(m.events) {
			ev = m.events[m.head]
			m.events[m.head] = rpc.Envelope{}
			m.head++
			if m.head == len(m.events) {
				m.events, m.head = m.events[:0], 0
			}
			m.mu.Unlock()
			return ev, true, nil, false, nil
		}
		if m.overflow || m.final != nil {
			final, overflow = m.final, m.overflow
			m.mu.Unlock()
			if final == nil && overflow {
				// The consumer is done; the final reply is still awaited by
				// waitFinal if the caller wants the result.
				return rpc.Envelope{}, false, nil, true, nil
			}
			return rpc.Envelope{}, false, final, overflow, nil
		}
		m.mu.Unlock()
		select {
		case <-m.signal:
		case <-ctx.Done():
			return rpc.Envelope{}, false, nil, false, ctx.Err()
		}
	}
}

// waitFinal drops every event and waits for the final message.
func (m *mailbox) waitFinal(ctx context.Context) (any, error) {
	m.setDiscard()
	for {
		m.mu.Lock()
		final := m.final
		m.mu.Unlock()
		if final != nil {
			return final, nil
		}
		select {
		case <-m.signal:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// waitAck waits for the subscription acknowledgement; it returns
// errDeadLetter if the actor was gone.
func (m *mailbox) waitAck(ctx context.Context) error {
	for {
		m.mu.Lock()
		acked, final := m.acked, m.final
		m.mu.Unlock()
		switch {
		case acked:
			return nil
		case final != nil:
			if e, ok := final.(*subEnd); ok && e.err != nil {
				return e.err
			}
			if r, ok := final.(*turnReply); ok && r.err != nil {
				return r.err // errDeadLetter included
			}
			return ErrEngineStopped
		}
		select {
		case <-m.signal:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// setDiscard drops buffered and future events.
func (m *mailbox) setDiscard() {
	m.mu.Lock()
	m.discard = true
	clear(m.events)
	m.events, m.head = nil, 0
	m.mu.Unlock()
}
