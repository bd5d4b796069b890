package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"strings"
	"sync"
	"sync/atomic"
)

// EventStream is the typed event stream of one turn. Read it with
// Next/Current/Err, or range over All. The stream ends when the turn's
// response has arrived and every event before it was delivered; Result
// then holds the turn's [RunResult].
//
// The request is sent when the stream is created; a failure to send or a
// remote error ends the stream, and Err reports it. An EventStream is not
// safe for concurrent use by several goroutines.
type EventStream struct {
	c   *Client
	ctx context.Context
	q   *eventQueue

	// The current event: fast, in the queue's slot itself, for an event
	// the fast path typed (a chunk is recycled only by the Next after the
	// one that took its last slot); else cur, the reader's envelope or
	// own, an envelope Next built.
	fast *fastEvent
	cur  *Envelope
	own  Envelope
	err  error
	done bool

	mu        sync.Mutex
	sessionID string
	result    *RunResult
	resErr    error
	ended     chan struct{}
	closed    atomic.Bool
	onResult  func(*RunResult)
	onEnd     func(*RunResult, error) // StartTurn's done
}

func newEventStream(ctx context.Context, c *Client, sessionID string) *EventStream {
	return &EventStream{
		c:         c,
		ctx:       ctx,
		q:         newEventQueue(c.opts.StreamBuffer, c.opts.Overflow),
		sessionID: sessionID,
		ended:     make(chan struct{}),
	}
}

// failed returns a stream that ends at once with err.
func failedStream(ctx context.Context, c *Client, err error, onEnd func(*RunResult, error)) *EventStream {
	s := newEventStream(ctx, c, "")
	s.onEnd = onEnd
	s.finish(nil, "", err)
	s.q.end(err)
	return s
}

// finish records the turn's outcome; runs once, on the connection's reader.
// text is the turn's long text, if the reader already made it.
func (s *EventStream) finish(raw json.RawMessage, text string, err error) {
	var res *RunResult
	if err == nil {
		res, err = decodeRunResult(raw, text)
	}
	s.mu.Lock()
	s.result, s.resErr = res, err
	if res != nil && s.sessionID == "" {
		s.sessionID = res.SessionID
	}
	hook := s.onResult
	s.mu.Unlock()
	if res != nil && hook != nil {
		hook(res)
	}
	close(s.ended)
	if s.onEnd != nil {
		s.onEnd(res, err)
	}
}

// Next advances to the next event, blocking until one arrives or the stream
// ends. It returns false at the end; Err then says why (nil for a turn
// that completed). From then on the stream takes no more events, as after
// Close: a stream its ctx ended never holds up the connection.
func (s *EventStream) Next() bool {
	if s.done {
		return false
	}
	if s.closed.Load() {
		// Events the consumer had already taken are dropped too.
		s.done, s.err = true, ErrClientClosed
		return false
	}
	it, ok, err := s.q.pop(s.ctx)
	if !ok {
		s.done = true
		s.err = err
		// Nothing reads the stream any more: drop what comes, or a turn
		// still streaming (its ctx ended) would fill the buffer and stall
		// the connection's reader.
		s.Close()
		return false
	}
	var perr error
	s.fast, s.cur = nil, nil
	switch {
	case it.typed && it.env == nil:
		s.fast = &it.fast
	case it.typed:
		s.cur, perr = it.env, it.err
	default:
		s.own, perr = ParseEnvelope(it.frame, EventOptions{Strict: s.c.opts.StrictEvents})
		s.cur = &s.own
	}
	if perr != nil {
		if errors.Is(perr, ErrUnknownEventType) {
			s.done = true
			s.err = perr
			s.Close()
			return false
		}
		// The envelope broke the contract; surface it as an event that
		// carries the error and keep the stream going.
		s.own = invalidEnvelope(it.frame, perr)
		s.cur = &s.own
	}
	return true
}

// Current returns the event Next advanced to.
func (s *EventStream) Current() Event {
	switch {
	case s.fast != nil:
		return s.fast.event
	case s.cur != nil:
		return s.cur.Event
	}
	return nil
}

// Envelope returns the current event with its delivery metadata. For a
// streamed text event it is built on each call (its event id and, in the
// usual form, its payload are made then).
func (s *EventStream) Envelope() Envelope {
	switch {
	case s.fast != nil:
		return s.fast.envelope()
	case s.cur != nil:
		return *s.cur
	}
	return Envelope{}
}

// Err returns the error that ended the stream: a remote error of the turn,
// a connection failure, ctx's error, an overflow, or nil.
func (s *EventStream) Err() error {
	if s.err != nil {
		return s.err
	}
	if s.done {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.resErr
	}
	return nil
}

// SessionID returns the session the turn runs in. For a stream that
// creates a session it is known once the response arrived.
func (s *EventStream) SessionID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessionID
}

// Result returns the turn's result once the stream has been consumed to
// its end (Next returned false). Before that it returns
// [ErrStreamNotConsumed]; use Wait to get the result without reading the
// events.
func (s *EventStream) Result() (*RunResult, error) {
	if !s.done {
		return nil, ErrStreamNotConsumed
	}
	select {
	case <-s.ended:
	default:
		// Ended early (overflow, ctx, Close) before the response arrived.
		return nil, s.err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.result, s.resErr
}

// All returns an iterator over the events. Breaking out of the loop closes
// the stream. A terminal error is yielded once, as the last pair.
func (s *EventStream) All() iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		for s.Next() {
			if !yield(s.Current(), nil) {
				s.Close()
				return
			}
		}
		if err := s.Err(); err != nil {
			yield(nil, err)
		}
	}
}

// Collect consumes every event and returns the turn's result.
func (s *EventStream) Collect() (*RunResult, error) {
	for s.Next() {
	}
	if err := s.Err(); err != nil {
		return s.resultOr(err)
	}
	return s.Result()
}

// resultOr returns the turn's result alongside err when the turn itself
// completed (e.g. after an overflow), or just err.
func (s *EventStream) resultOr(err error) (*RunResult, error) {
	select {
	case <-s.ended:
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.result, err
	default:
		return nil, err
	}
}

// CollectText consumes every event, accumulating text deltas, and returns
// the text and the turn's result.
func (s *EventStream) CollectText() (string, *RunResult, error) {
	var b strings.Builder
	for s.Next() {
		if d, ok := s.Current().(*TextDelta); ok {
			b.WriteString(d.Delta)
		}
	}
	if err := s.Err(); err != nil {
		res, err := s.resultOr(err)
		return b.String(), res, err
	}
	res, err := s.Result()
	return b.String(), res, err
}

// Wait discards the remaining events and waits until the turn's response
// has arrived or ctx is done, then returns the result. Unlike Collect it
// also works after Close.
func (s *EventStream) Wait(ctx context.Context) (*RunResult, error) {
	s.Close()
	select {
	case <-s.ended:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.result, s.resErr
}

// Close stops delivery to this stream and drops buffered events. The turn
// keeps running on the runtime (use Session.Interrupt to stop it), and
// Wait still returns its result. Close is idempotent.
func (s *EventStream) Close() error {
	if !s.closed.Swap(true) {
		s.q.detach()
	}
	return nil
}

// Subscription is a standalone event subscription (session/stream_open or
// mob/stream_open). It delivers events until the runtime ends the stream
// or Close succeeds. Like [EventStream] it offers Next/Current/Err and All,
// and like it, it never drops an event it cannot read: a notification that
// breaks the contract is delivered as an event whose Event is an
// [*UnknownEvent] of type [InvalidEnvelopeType] (with Err saying why), and
// only an unknown event type under [Options.StrictEvents] ends it.
type Subscription[T any] struct {
	c           *Client
	ctx         context.Context
	q           *eventQueue
	streamID    string
	closeMethod string
	// parse reads a */stream_event's params. It fails only for an event
	// that must end the stream; anything else it cannot read it returns as
	// an invalid_envelope event.
	parse func(frame []byte) (T, error)

	cur     T
	err     error
	done    bool
	mu      sync.Mutex
	outcome *StreamEnd
	closed  bool
}

// StreamEnd is the terminal notification of a subscription.
type StreamEnd struct {
	StreamID  string          `json:"stream_id"`
	SessionID string          `json:"session_id,omitempty"`
	Ended     bool            `json:"ended"`
	Outcome   string          `json:"outcome"`
	Error     json.RawMessage `json:"error,omitempty"`
}

// StreamID returns the runtime's id for the subscription.
func (s *Subscription[T]) StreamID() string { return s.streamID }

// Next advances to the next event. It returns false when the stream ended;
// Err says why and Outcome holds the runtime's terminal notice. When it
// ended on the subscription's ctx, later events are dropped (they never
// hold up the connection) and the stream stays open on the runtime until
// Close.
func (s *Subscription[T]) Next() bool {
	for !s.done {
		it, ok, err := s.q.pop(s.ctx)
		if !ok {
			s.done = true
			s.err = err
			// Nothing reads it any more: later events are dropped, not
			// left to fill the buffer and stall the connection's reader.
			// The stream stays open on the runtime until Close.
			s.q.detach()
			return false
		}
		frame := it.frame
		var probe struct {
			Event json.RawMessage `json:"event"`
			Ended *bool           `json:"ended"`
		}
		if json.Unmarshal(frame, &probe) == nil && probe.Event == nil && probe.Ended != nil {
			var end StreamEnd
			if err := json.Unmarshal(frame, &end); err == nil {
				s.mu.Lock()
				s.outcome = &end
				s.mu.Unlock()
			}
			continue
		}
		// parse fails only on an unknown event type under strict typing; an
		// event it cannot read it returns as an invalid_envelope event.
		v, err := s.parse(frame)
		if err != nil {
			s.done, s.err = true, err
			s.q.detach()
			return false
		}
		s.cur = v
		return true
	}
	return false
}

// Current returns the event Next advanced to.
func (s *Subscription[T]) Current() T { return s.cur }

// Err returns what ended the subscription, or nil for a normal end.
func (s *Subscription[T]) Err() error { return s.err }

// Outcome returns the runtime's terminal notice once the stream ended, or nil.
func (s *Subscription[T]) Outcome() *StreamEnd {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.outcome
}

// All returns an iterator over the events; breaking out of the loop does
// not close the subscription on the runtime (call Close).
func (s *Subscription[T]) All() iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for s.Next() {
			if !yield(s.Current(), nil) {
				return
			}
		}
		if s.err != nil {
			var zero T
			yield(zero, s.err)
		}
	}
}

// Close asks the runtime to close the stream. Only a successful answer
// closes the subscription; if the runtime rejects the close, it stays live
// and the error is returned. Close after the stream ended is a no-op.
func (s *Subscription[T]) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	err := s.c.conn.call(ctx, s.closeMethod, map[string]any{"stream_id": s.streamID}, nil)
	if err != nil && s.c.conn.err() == nil {
		return err
	}
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.c.conn.unregisterSub(s.streamID)
	s.q.end(nil)
	return nil
}

// openSubscription opens a stream and routes its frames to a new
// Subscription. ctx bounds the open call and then the subscription's reads.
func openSubscription[T any](ctx context.Context, c *Client, method, closeMethod string, params any, parse func([]byte) (T, error)) (*Subscription[T], error) {
	q := newEventQueue(c.opts.StreamBuffer, c.opts.Overflow)
	type opened struct {
		id  string
		err error
	}
	ch := make(chan opened, 1)
	// Who has the answer: the opener (taken) or, once it gave up
	// (abandoned), the answer's callback, which closes the stream.
	const (
		waiting int32 = iota
		taken
		abandoned
	)
	var state atomic.Int32
	c.conn.beginOpen()
	_, err := c.conn.send(method, params, func(raw json.RawMessage, err error) {
		var res struct {
			StreamID string `json:"stream_id"`
		}
		if err == nil && (json.Unmarshal(raw, &res) != nil || res.StreamID == "") {
			err = fmt.Errorf("%w: %s returned no stream_id", ErrInvalidResponse, method)
		}
		switch {
		case err != nil:
			c.conn.endOpen()
			if state.CompareAndSwap(waiting, taken) {
				ch <- opened{err: err}
			}
		case state.CompareAndSwap(waiting, taken):
			// Registered on the reader, before it reads the next frame.
			c.conn.registerSub(res.StreamID, q)
			ch <- opened{id: res.StreamID}
		default:
			c.conn.abandonStream(res.StreamID, closeMethod, true)
		}
	})
	if err != nil {
		c.conn.endOpen()
		return nil, err
	}
	select {
	case o := <-ch:
		if o.err != nil {
			return nil, o.err
		}
		return &Subscription[T]{c: c, ctx: ctx, q: q, streamID: o.id, closeMethod: closeMethod, parse: parse}, nil
	case <-ctx.Done():
		if !state.CompareAndSwap(waiting, abandoned) {
			// The answer came meanwhile: give its stream up too, or its
			// events would fill a queue nobody reads and stall the reader.
			if o := <-ch; o.err == nil {
				c.conn.abandonStream(o.id, closeMethod, false)
				q.end(nil)
			}
		}
		return nil, fmt.Errorf("rpc: %s: %w", method, ctx.Err())
	}
}
