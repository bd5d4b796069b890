package rpc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// MaxLineSize is the default largest line the SDK accepts from the
// runtime (64 MiB); see [Options.MaxLineSize].
const MaxLineSize = 64 << 20

// maxOrphanFrames bounds the events kept for streams not yet registered.
const maxOrphanFrames = 65536

// conn is one JSON-RPC 2.0 connection over newline-delimited JSON. It owns
// the read loop, which demultiplexes responses, notifications and
// server→client requests; writes are serialised by a mutex.
type conn struct {
	log       *zap.Logger
	w         io.Writer
	wmu       sync.Mutex
	bufSize   int
	maxLine   int
	overflow  OverflowPolicy
	grace     time.Duration
	onRequest func(id json.RawMessage, method string, params json.RawMessage)
	onEOF     func(readErr error) error // builds the fault for an ended read loop

	mu         sync.Mutex
	lastID     int64
	pending    map[int64]*pendingCall
	sessions   map[string]*sessionRoute
	creates    []*pendingCreate // session/create calls awaiting their response
	known      map[string]bool  // sessions this client has seen
	orphans    map[string][][]byte
	dropped    map[string]int // orphan events dropped per unknown session
	orphanN    int
	subs       map[string]*eventQueue
	subOrphans map[string][][]byte
	subEnds    map[string][]byte
	// opens counts the stream opens waiting for their answer: a stream's
	// events that come before its answer are kept only while one is.
	opens     int
	fault     error
	isFaulted atomic.Bool // fault != nil, for the reader to check without the lock

	evOpts EventOptions // how the reader types session events

	// Reader only.
	scanner frameScanner
	arena   arena // stable copies of what the reader hands out
	// The route deliverFast used last. A route leaves sessions only once
	// it has no sinks, and none are added to it after that, so one that
	// has a head is current.
	lastRoute   *sessionRoute
	lastRouteID string
	fastState   fastState     // the fast path's memory
	wakes       []*eventQueue // queues fed since the reader last woke consumers

	done    chan struct{} // closed when the read loop has finished
	faultCh chan struct{} // closed when the connection faults
}

type pendingCall struct {
	method string
	// respond receives the raw result or the error. It runs on the read
	// loop (or on the goroutine that faults the connection) and must not block.
	respond func(result json.RawMessage, err error)
}

// sessionRoute orders the turns of one session: events go to the oldest
// turn that has not ended.
type sessionRoute struct {
	sinks []*turnSink
	// head is sinks[0] for the reader's fast path, which reads it without
	// the lock; nil when there is none or when it is in its grace period,
	// whose late events take the general path (deliverLate).
	head atomic.Pointer[turnSink]
}

// setSinksLocked replaces the route's sinks. Callers hold c.mu.
func (r *sessionRoute) setSinksLocked(sinks []*turnSink) {
	r.sinks = sinks
	if len(sinks) > 0 && !sinks[0].grace {
		r.head.Store(sinks[0])
	} else {
		r.head.Store(nil)
	}
}

// turnSink receives the events of one turn.
type turnSink struct {
	q           *eventQueue // nil for a turn nobody streams
	sawAny      bool
	sawTerminal bool
	responded   bool
	result      json.RawMessage
	err         error
	timer       *time.Timer
	// grace is set when the turn responded before its terminal event:
	// its stream waits up to the grace period for late events, which take
	// the general path (deliverLate). Set under the connection's lock.
	grace bool
	// inflight counts the late events the reader is delivering, and
	// expired notes that the grace period ended meanwhile: the reader
	// then ends the stream after them (under the connection's lock).
	inflight int
	expired  bool
	finished bool
	onEnd    func(result json.RawMessage, text string, err error)
	// text is the long text of the turn's last complete text event, which
	// its result and run_completed event repeat (set on the reader, under
	// the connection's lock).
	text string
}

func newConn(w io.Writer, log *zap.Logger, bufSize int, policy OverflowPolicy, grace time.Duration) *conn {
	c := &conn{
		maxLine:    MaxLineSize,
		log:        log,
		w:          w,
		bufSize:    bufSize,
		overflow:   policy,
		grace:      grace,
		pending:    make(map[int64]*pendingCall),
		sessions:   make(map[string]*sessionRoute),
		orphans:    make(map[string][][]byte),
		known:      make(map[string]bool),
		dropped:    make(map[string]int),
		subs:       make(map[string]*eventQueue),
		subOrphans: make(map[string][][]byte),
		subEnds:    make(map[string][]byte),
		done:       make(chan struct{}),
		faultCh:    make(chan struct{}),
	}
	c.fastState.arena = &c.arena
	return c
}

// request is an outgoing JSON-RPC request.
type request struct {
	JSONRPC string `json:"jsonrpc"`
	ID      int64  `json:"id"`
	Method  string `json:"method"`
	Params  any    `json:"params"`
}

// send writes a request and registers respond for its response. It
// returns the request id.
func (c *conn) send(method string, params any, respond func(json.RawMessage, error)) (int64, error) {
	if c == nil {
		return 0, notSent{ErrNotConnected}
	}
	if params == nil {
		params = struct{}{}
	}
	c.mu.Lock()
	if c.fault != nil {
		err := c.fault
		c.mu.Unlock()
		return 0, notSent{err}
	}
	c.lastID++
	id := c.lastID
	c.pending[id] = &pendingCall{method: method, respond: respond}
	c.mu.Unlock()

	line, err := json.Marshal(request{JSONRPC: "2.0", ID: id, Method: method, Params: params})
	if err != nil {
		c.forget(id)
		return 0, notSent{fmt.Errorf("%w: %s params: %v", ErrInvalidArgs, method, err)}
	}
	if err := c.writeLine(line); err != nil {
		c.forget(id)
		return 0, err
	}
	return id, nil
}

// forget drops a pending call whose caller gave up; a late response for it
// is discarded.
func (c *conn) forget(id int64) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
}

func (c *conn) writeLine(line []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	line = append(line, '\n')
	if _, err := c.w.Write(line); err != nil {
		// A write fails when the runtime is gone; its output ends at the
		// same moment, so wait briefly for the reader's verdict (for a
		// process: the exit status and last stderr lines).
		select {
		case <-c.faultCh:
		case <-time.After(2 * time.Second):
		}
		if fault := c.err(); fault != nil {
			return fault
		}
		return fmt.Errorf("%w: write to runtime: %v", ErrConnectionClosed, err)
	}
	return nil
}

// call sends a request and waits for its response, decoding the result
// into out when out is non-nil. ctx bounds the wait; a call given up on
// leaves the runtime to finish it, and its late response is dropped.
func (c *conn) call(ctx context.Context, method string, params, out any) error {
	type reply struct {
		raw json.RawMessage
		err error
	}
	ch := make(chan reply, 1)
	id, err := c.send(method, params, func(raw json.RawMessage, err error) { ch <- reply{raw, err} })
	if err != nil {
		return err
	}
	select {
	case r := <-ch:
		if r.err != nil {
			return r.err
		}
		if out == nil {
			return nil
		}
		if err := json.Unmarshal(r.raw, out); err != nil {
			return fmt.Errorf("%w: %s result: %v", ErrInvalidResponse, method, err)
		}
		return nil
	case <-ctx.Done():
		c.forget(id)
		return fmt.Errorf("rpc: %s: %w", method, ctx.Err())
	}
}

// reply answers a server→client request.
func (c *conn) reply(id json.RawMessage, result any, werr *wireError) error {
	msg := struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Result  any             `json:"result,omitempty"`
		Error   *wireError      `json:"error,omitempty"`
	}{JSONRPC: "2.0", ID: id, Result: result, Error: werr}
	line, err := json.Marshal(msg)
	if err != nil {
		return fmt.Errorf("rpc: encode reply: %w", err)
	}
	return c.writeLine(line)
}

// maxKeptLine is the largest buffer the reader keeps, between lines, for
// assembling lines longer than its read buffer.
const maxKeptLine = 8 << 20

// readLoop reads frames until r ends or the connection faults. It is the
// only goroutine that dispatches inbound frames.
func (c *conn) readLoop(r io.Reader) {
	defer close(c.done)
	br := bufio.NewReaderSize(r, 256<<10)
	var long []byte    // a line longer than the buffer, being assembled
	var longBuf []byte // long's storage, reused by the next long line
	var readErr error
	for {
		chunk, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			if len(long)+len(chunk) > c.maxLine {
				c.readerFault(fmt.Errorf("%w: a line from the runtime exceeds %d bytes", ErrProtocol, c.maxLine))
				_, _ = io.Copy(io.Discard, br)
				break
			}
			if long == nil {
				if longBuf == nil {
					longBuf = make([]byte, 0, 4*len(chunk))
				}
				long = longBuf[:0]
			}
			long = append(long, chunk...)
			continue
		}
		line := chunk
		if long != nil {
			line, long = append(long, chunk...), nil
			// dispatch copies what it keeps of a line, so the storage
			// serves the next long line, unless it is too big to keep.
			if longBuf = line[:0]; cap(longBuf) > maxKeptLine {
				longBuf = nil
			}
		}
		line = trimEOL(line)
		if len(line) > c.maxLine {
			c.readerFault(fmt.Errorf("%w: a line from the runtime exceeds %d bytes", ErrProtocol, c.maxLine))
		}
		if !blank(line) && !c.faulted() {
			if derr := c.dispatch(line); derr != nil {
				c.log.Error("runtime protocol violation; connection faulted", zap.Error(derr))
				c.readerFault(derr)
			}
		}
		// Wake consumers once the burst of frames already read is handled.
		if br.Buffered() == 0 || len(c.wakes) >= 256 {
			c.flushWakes()
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				readErr = err
			}
			break
		}
	}
	c.flushWakes()
	fault := fmt.Errorf("%w: runtime closed its output", ErrConnectionClosed)
	if c.onEOF != nil {
		fault = c.onEOF(readErr)
	}
	c.setFault(fault)
}

// readerFault is setFault from the reader, in the middle of a burst: the
// events it delivered before the fault are published first, so that the
// streams' ends do not overtake them.
func (c *conn) readerFault(err error) {
	c.flushWakes()
	c.setFault(err)
}

// trimEOL strips the line ending ("\n" or "\r\n", or several) off line.
func trimEOL(line []byte) []byte {
	for len(line) > 0 && (line[len(line)-1] == '\n' || line[len(line)-1] == '\r') {
		line = line[:len(line)-1]
	}
	return line
}

// blank reports whether line holds nothing but JSON white space.
func blank(line []byte) bool {
	if len(line) > 0 && line[0] == '{' {
		return false
	}
	return evSkipSpace(line, 0) == len(line)
}

// typed returns the queue item for an event of sink's turn, typed now,
// while its members are at hand, when the reader collected them. Reader
// only.
func (c *conn) typed(ev *sessionEvent, sink *turnSink) queueItem {
	it := queueItem{frame: ev.frame}
	if ev.env != nil {
		env := new(Envelope)
		opts := c.evOpts
		opts.text = sink.text
		it.err = fillFromParts(env, *ev.env, opts)
		it.env, it.typed = env, true
	}
	return it
}

// deliverFast hands the event the fast path typed into f to the turn
// streaming session sid, and reports whether there was one; when there is
// not, the line takes the general path, which knows what to do with events
// of a session nobody streams yet. Reader only.
func (c *conn) deliverFast(sid []byte, f *fastEvent) bool {
	var head *turnSink
	if route := c.lastRoute; route != nil && c.lastRouteID == string(sid) {
		head = route.head.Load()
	}
	if head == nil {
		c.mu.Lock()
		route := c.sessions[string(sid)]
		if route != nil {
			c.lastRoute, c.lastRouteID = route, string(sid)
			head = route.head.Load()
		}
		c.mu.Unlock()
		if head == nil {
			return false
		}
	}
	head.sawAny = true // the reader's alone; the fast path's events are never terminal
	if tc, ok := f.event.(*TextComplete); ok && len(tc.Content) >= longString {
		c.mu.Lock()
		head.text = tc.Content
		c.mu.Unlock()
	}
	if q := head.q; q != nil {
		if slot := q.reserve(c.done); slot != nil {
			slot.typed, slot.fast = true, *f
			q.commit()
			c.wakeLater(q)
		}
	}
	return true
}

// deliver queues an item for a consumer, deferring its wake-up to the end
// of the current read burst. Reader only.
func (c *conn) deliver(q *eventQueue, it *queueItem) {
	if q.pushQuiet(it, c.done) {
		c.wakeLater(q)
	}
}

// wakeLater notes that q's consumer is to be woken at the end of the
// current read burst. Reader only.
func (c *conn) wakeLater(q *eventQueue) {
	if n := len(c.wakes); n == 0 || c.wakes[n-1] != q {
		c.wakes = append(c.wakes, q)
	}
}

func (c *conn) flushWakes() {
	for i, q := range c.wakes {
		q.publish()
		wake(q.signal)
		c.wakes[i] = nil
	}
	c.wakes = c.wakes[:0]
}

func (c *conn) faulted() bool { return c.isFaulted.Load() }

// err returns the connection's fault, or nil while it is healthy.
func (c *conn) err() error {
	if c == nil {
		return ErrNotConnected
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fault
}

// setFault faults the connection for good: every pending call and every
// open stream fails with err. Only the first fault counts.
func (c *conn) setFault(err error) {
	c.mu.Lock()
	if c.fault != nil {
		c.mu.Unlock()
		return
	}
	c.fault = err
	c.isFaulted.Store(true)
	close(c.faultCh)
	pending := c.pending
	c.pending = make(map[int64]*pendingCall)
	var sinks []*turnSink
	for _, r := range c.sessions {
		sinks = append(sinks, r.sinks...)
		r.head.Store(nil)
	}
	c.sessions = make(map[string]*sessionRoute)
	subs := c.subs
	c.subs = make(map[string]*eventQueue)
	c.orphans, c.subOrphans, c.orphanN = map[string][][]byte{}, map[string][][]byte{}, 0
	creates := c.creates
	c.creates = nil
	for _, pc := range creates {
		if pc.claimed == "" {
			sinks = append(sinks, pc.sink)
		}
	}
	for _, s := range sinks {
		if s.timer != nil {
			s.timer.Stop()
		}
	}
	c.mu.Unlock()

	for _, p := range pending {
		p.respond(nil, err)
	}
	for _, s := range sinks {
		c.finishSink(s, nil, err)
	}
	for _, q := range subs {
		q.end(err)
	}
}

// dispatch routes one inbound frame. line is the reader's buffer, valid
// only until dispatch returns. A streamed text event for a streaming turn
// is typed by the fast path; any other line is copied and validated in one
// pass that also picks out the routing fields of a notification's params
// and the members of a session event's envelope.
func (c *conn) dispatch(line []byte) error {
	// fe is on the stack: typing an event into it takes no GC write
	// barriers; the queue gets one copy.
	var fe fastEvent
	if sid, ok := fastSessionEvent(line, &fe, &c.fastState); ok && c.deliverFast(sid, &fe) {
		return nil
	}
	// What this line does may end a stream (its terminal event, its
	// response): every event delivered before it must be visible first.
	for _, q := range c.wakes {
		q.publish()
	}
	line = c.arena.bytes(line)
	f, err := c.scanner.scan(line)
	if err != nil {
		return fmt.Errorf("%w: malformed JSON frame: %v", ErrProtocol, err)
	}
	switch {
	case f.id != nil && f.method != nil:
		name, ok := rawString(f.method)
		if !ok {
			return fmt.Errorf("%w: frame has a non-string method", ErrProtocol)
		}
		if c.onRequest == nil {
			return c.reply(f.id, nil, &wireError{Code: -32601, Message: "Method not supported: " + name})
		}
		c.onRequest(f.id, name, f.params)
		return nil
	case f.id != nil:
		return c.onResponse(f.id, f.result, f.errv)
	case f.method != nil:
		name, ok := notificationName(f.method)
		if !ok {
			return fmt.Errorf("%w: frame has a non-string method", ErrProtocol)
		}
		c.onNotification(name, f)
		return nil
	default:
		return fmt.Errorf("%w: frame has neither id nor method", ErrProtocol)
	}
}

// notificationName decodes a raw method name; the names the SDK routes
// are recognised without allocating.
func notificationName(raw []byte) (string, bool) {
	switch string(raw) {
	case `"session/event"`:
		return "session/event", true
	case `"session/stream_event"`:
		return "session/stream_event", true
	case `"mob/stream_event"`:
		return "mob/stream_event", true
	}
	return rawString(raw)
}

func (c *conn) onResponse(rawID, result, errv []byte) error {
	var werr *wireError
	if errv != nil && string(errv) != "null" {
		werr = new(wireError)
		if err := json.Unmarshal(errv, werr); err != nil {
			return fmt.Errorf("%w: malformed error object: %v", ErrProtocol, err)
		}
	}
	id, err := strconv.ParseInt(string(rawID), 10, 64)
	if err != nil {
		if werr != nil {
			return fmt.Errorf("%w: runtime reported an error for an unidentifiable request: %d %s",
				ErrProtocol, werr.Code, werr.Message)
		}
		return fmt.Errorf("%w: response id %s is not one this client issued", ErrProtocol, rawID)
	}
	c.mu.Lock()
	p, ok := c.pending[id]
	delete(c.pending, id)
	last := c.lastID
	c.mu.Unlock()
	if !ok {
		if id > 0 && id <= last {
			// A call its caller gave up on, or a duplicate.
			c.log.Debug("dropping response for an abandoned request", zap.Int64("id", id))
			return nil
		}
		return fmt.Errorf("%w: response for unknown request id %d", ErrProtocol, id)
	}
	if werr != nil {
		p.respond(nil, remoteError(p.method, werr))
		return nil
	}
	if result == nil {
		p.respond(nil, fmt.Errorf("%w: %s response has neither result nor error", ErrInvalidResponse, p.method))
		return nil
	}
	p.respond(result, nil)
	return nil
}

// onNotification routes a notification whose scanned frame is f.
func (c *conn) onNotification(method string, f *inFrame) {
	switch method {
	case "session/event":
		sid := rawKey(f.session)
		if len(sid) == 0 || f.event == nil {
			c.log.Warn("dropping session/event without session_id or event")
			return
		}
		ev := sessionEvent{frame: f.event}
		if f.hasEnv {
			ev.env = &f.env
		}
		c.onSessionEvent(sid, ev)
	case "session/stream_event", "mob/stream_event", "session/stream_end", "mob/stream_end":
		sid, _ := rawString(f.stream)
		if sid == "" {
			c.log.Warn("dropping stream notification without stream_id", zap.String("method", method))
			return
		}
		if method == "session/stream_end" || method == "mob/stream_end" {
			c.onStreamEnd(sid, f.params)
		} else {
			c.onStreamEvent(sid, f.params)
		}
	default:
		c.log.Debug("ignoring notification", zap.String("method", method))
	}
}

// isTerminalEvent reports whether a raw envelope carries run_completed or
// run_failed. A cheap byte search filters almost every event out before a
// precise look.
func isTerminalEvent(env []byte) bool {
	if !bytes.Contains(env, []byte(`run_completed"`)) && !bytes.Contains(env, []byte(`run_failed"`)) {
		return false
	}
	terminal := false
	_ = scanLine(env, func(k, v []byte) {
		switch {
		case keyIs(k, "payload"):
			terminal = isTerminalPayload(v)
		case keyIs(k, "event"): // scoped wrapper: an envelope, or a bare event
			terminal = isTerminalEvent(v) || isTerminalPayload(v)
		}
	})
	return terminal
}

// isTerminalPayload reports whether a bare event payload (the event of a
// scoped wrapper, as the contract's ScopedAgentEvent has it) is
// run_completed or run_failed.
func isTerminalPayload(p []byte) bool {
	var t string
	_ = scanLine(p, func(k, v []byte) {
		if keyIs(k, "type") {
			t, _ = rawString(v)
		}
	})
	return t == "run_completed" || t == "run_failed"
}

// sessionEvent is a session/event notification's event as the reader has
// it: the raw envelope and, when the reader collected them, its members.
type sessionEvent struct {
	frame []byte
	env   *envelopeParts
}

// terminal reports whether the event is run_completed or run_failed.
func (e *sessionEvent) terminal() bool {
	if e.env != nil {
		return e.env.isTerminal(e.frame)
	}
	return isTerminalEvent(e.frame)
}

// onSessionEvent routes an event of session sidKey (the id's bytes; the
// common path looks it up without making a string of it).
func (c *conn) onSessionEvent(sidKey []byte, ev sessionEvent) {
	event, terminal := ev.frame, ev.terminal()
	c.mu.Lock()
	route := c.sessions[string(sidKey)]
	if route != nil && len(route.sinks) > 0 {
		head := route.sinks[0]
		head.sawAny = true
		if !terminal {
			if head.grace {
				head.inflight++
				c.mu.Unlock()
				c.deliverLate(string(sidKey), head, &ev)
				return
			}
			c.mu.Unlock()
			if head.q != nil {
				it := c.typed(&ev, head)
				c.deliver(head.q, &it)
			}
			return
		}
	}
	sid := string(sidKey)
	if (route == nil || len(route.sinks) == 0) && !c.known[sid] {
		if pc := c.soleUnclaimedLocked(); pc != nil {
			// Exactly one create is waiting for a session id we have never
			// seen: these events can only be its own. Bind now, so its
			// stream gets them directly (with backpressure) rather than
			// through an unbounded buffer.
			early := c.takeOrphans(c.orphans, sid)
			c.claimLocked(pc, sid)
			route = c.sessions[sid]
			if len(early) > 0 {
				pc.sink.sawAny = true
				c.mu.Unlock()
				if pc.sink.q != nil {
					for _, ev := range early {
						pc.sink.q.push(ev, c.done)
					}
				}
				c.mu.Lock()
			}
		}
	}
	if route == nil || len(route.sinks) == 0 {
		if len(c.creates) > 0 && !c.known[sid] {
			if !c.keepOrphan(c.orphans, sid, event) {
				c.dropped[sid]++
			}
		} else {
			c.log.Debug("dropping event for a session nobody is streaming", zap.String("session_id", sid))
		}
		c.mu.Unlock()
		return
	}
	head := route.sinks[0]
	head.sawAny = true
	var finished bool
	if terminal {
		head.sawTerminal = true
		if head.responded {
			finished = c.removeSinkLocked(sid, head)
		}
	}
	c.mu.Unlock()
	if head.q != nil {
		it := c.typed(&ev, head)
		if finished {
			// The end must not overtake the event: publish it now, not at
			// the end of the burst, which may be far off (the reader may
			// wait on another stream's full buffer first).
			head.q.pushItem(&it, c.done)
		} else {
			c.deliver(head.q, &it)
		}
	}
	if finished {
		c.finishSink(head, head.result, head.err)
	}
}

// deliverLate delivers a non-terminal event that came after its turn's
// response, in the grace period, and publishes it at once: the grace timer
// may end the stream meanwhile, and the end must not overtake the event.
// If it did end, deliverLate ends the stream, after the event. The caller
// counted the event in s.inflight. Reader only.
func (c *conn) deliverLate(sid string, s *turnSink, ev *sessionEvent) {
	if s.q != nil {
		it := c.typed(ev, s)
		s.q.pushItem(&it, c.done)
	}
	c.mu.Lock()
	s.inflight--
	finish := s.expired && s.inflight == 0 && c.removeSinkLocked(sid, s)
	c.mu.Unlock()
	if finish {
		c.finishSink(s, s.result, s.err)
	}
}

// pendingCreate is a session/create call whose session id is not known yet.
type pendingCreate struct {
	sink    *turnSink
	claimed string // the session id its events were bound to early, if any
}

// soleUnclaimedLocked returns the only pending create that has no session
// yet, or nil if there are none or several. Callers hold c.mu.
func (c *conn) soleUnclaimedLocked() *pendingCreate {
	var found *pendingCreate
	for _, pc := range c.creates {
		if pc.claimed == "" {
			if found != nil {
				return nil
			}
			found = pc
		}
	}
	return found
}

// claimLocked binds a pending create to session sid. Callers hold c.mu.
func (c *conn) claimLocked(pc *pendingCreate, sid string) {
	pc.claimed = sid
	c.known[sid] = true
	route := c.sessions[sid]
	if route == nil {
		route = &sessionRoute{}
		c.sessions[sid] = route
	}
	route.setSinksLocked(append([]*turnSink{pc.sink}, route.sinks...))
}

// beginCreate registers a session/create call before it is sent.
func (c *conn) beginCreate(s *turnSink) *pendingCreate {
	pc := &pendingCreate{sink: s}
	c.mu.Lock()
	c.creates = append(c.creates, pc)
	c.mu.Unlock()
	return pc
}

// endCreateLocked forgets a pending create. Callers hold c.mu.
func (c *conn) endCreateLocked(pc *pendingCreate) {
	for i, x := range c.creates {
		if x == pc {
			c.creates = append(c.creates[:i], c.creates[i+1:]...)
			break
		}
	}
	if len(c.creates) == 0 {
		for _, frames := range c.orphans {
			c.orphanN -= len(frames)
		}
		c.orphans = make(map[string][][]byte)
		clear(c.dropped)
	}
}

// createFailed ends a create whose request failed.
func (c *conn) createFailed(pc *pendingCreate, err error) {
	c.mu.Lock()
	if pc.claimed != "" {
		c.removeSinkLocked(pc.claimed, pc.sink)
	}
	c.endCreateLocked(pc)
	c.mu.Unlock()
	c.finishSink(pc.sink, nil, err)
}

// bindCreate attaches a create's sink to the session its response names,
// replays the events that arrived before, and records the response.
func (c *conn) bindCreate(pc *pendingCreate, sid string, result json.RawMessage) {
	s := pc.sink
	c.mu.Lock()
	var early [][]byte
	var lost int
	if pc.claimed != sid {
		if pc.claimed != "" {
			// Events of another session were bound to this create; that
			// cannot happen with a conforming runtime. Re-home the sink.
			c.log.Error("session/create events were attributed to another session",
				zap.String("claimed", pc.claimed), zap.String("session_id", sid))
			c.removeSinkLocked(pc.claimed, s)
		}
		early = c.takeOrphans(c.orphans, sid)
		lost = c.dropped[sid]
		delete(c.dropped, sid)
		c.claimLocked(pc, sid)
		for _, ev := range early {
			s.sawAny = true
			if isTerminalEvent(ev) {
				s.sawTerminal = true
			}
		}
	}
	c.endCreateLocked(pc)
	c.mu.Unlock()
	if s.q != nil {
		for _, ev := range early {
			s.q.push(ev, c.done)
		}
		if lost > 0 {
			s.q.fail(fmt.Errorf("%w: %d events of the new session arrived before its id and did not fit the %d-event holding buffer",
				ErrStreamOverflow, lost, maxOrphanFrames))
		}
	}
	c.turnResponded(sid, s, result, nil)
}

// rawKey returns the bytes of a raw JSON string value without its quotes,
// decoding escapes only when there are any; nil when val is not a string.
func rawKey(val []byte) []byte {
	if len(val) < 2 || val[0] != '"' || val[len(val)-1] != '"' {
		return nil
	}
	inner := val[1 : len(val)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return inner
	}
	s, ok := rawString(val)
	if !ok {
		return nil
	}
	return []byte(s)
}

// keepOrphan buffers a frame for a stream that is not registered yet.
// Callers hold c.mu.
func (c *conn) keepOrphan(m map[string][][]byte, key string, frame []byte) bool {
	if c.orphanN >= maxOrphanFrames {
		c.log.Warn("orphan event buffer full; dropping event", zap.String("stream", key))
		return false
	}
	m[key] = append(m[key], frame)
	c.orphanN++
	return true
}

func (c *conn) takeOrphans(m map[string][][]byte, key string) [][]byte {
	frames := m[key]
	delete(m, key)
	c.orphanN -= len(frames)
	return frames
}

// removeSinkLocked detaches s from its session route. Callers hold c.mu.
// It reports whether s was still attached (and so must be finished).
func (c *conn) removeSinkLocked(sid string, s *turnSink) bool {
	route := c.sessions[sid]
	if route == nil {
		return false
	}
	for i, x := range route.sinks {
		if x == s {
			route.setSinksLocked(append(route.sinks[:i], route.sinks[i+1:]...))
			if len(route.sinks) == 0 {
				delete(c.sessions, sid)
			}
			if s.timer != nil {
				s.timer.Stop()
			}
			return true
		}
	}
	return false
}

// finishSink ends a turn's event stream once. Events already queued stay
// readable before the end.
func (c *conn) finishSink(s *turnSink, result json.RawMessage, err error) {
	c.mu.Lock()
	if s.finished {
		c.mu.Unlock()
		return
	}
	s.finished = true
	text := s.text
	c.mu.Unlock()
	if s.onEnd != nil {
		s.onEnd(result, text, err)
	}
	if s.q != nil {
		s.q.end(err)
	}
}

// addSink registers a turn sink for a known session.
func (c *conn) addSink(sid string, s *turnSink) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.known[sid] = true
	route := c.sessions[sid]
	if route == nil {
		route = &sessionRoute{}
		c.sessions[sid] = route
	}
	route.setSinksLocked(append(route.sinks, s))
	c.mu.Unlock()
}

// turnResponded records a turn's response. The sink ends at once if its
// terminal event was seen (or it failed before any event); otherwise it
// waits up to the grace period for late events.
func (c *conn) turnResponded(sid string, s *turnSink, result json.RawMessage, err error) {
	c.mu.Lock()
	s.responded = true
	s.result, s.err = result, err
	if c.fault != nil {
		c.mu.Unlock()
		c.finishSink(s, result, err)
		return
	}
	if s.sawTerminal || (err != nil && !s.sawAny) || c.grace <= 0 {
		c.removeSinkLocked(sid, s)
		c.mu.Unlock()
		c.finishSink(s, result, err)
		return
	}
	s.grace = true
	if route := c.sessions[sid]; route != nil {
		route.setSinksLocked(route.sinks) // the fast path leaves s's late events alone
	}
	s.timer = time.AfterFunc(c.grace, func() {
		c.mu.Lock()
		if s.inflight > 0 {
			// The reader is delivering a late event; it ends the stream
			// after it (deliverLate).
			s.expired = true
			c.mu.Unlock()
			return
		}
		attached := c.removeSinkLocked(sid, s)
		c.mu.Unlock()
		if attached {
			c.finishSink(s, s.result, s.err)
		}
	})
	c.mu.Unlock()
}

func (c *conn) onStreamEvent(streamID string, params []byte) {
	c.mu.Lock()
	q := c.subs[streamID]
	if q == nil {
		if c.opens > 0 {
			_ = c.keepOrphan(c.subOrphans, streamID, params) // it logs a drop
		} else {
			c.log.Debug("dropping an event of a stream nobody opens", zap.String("stream", streamID))
		}
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	c.deliver(q, &queueItem{frame: params})
}

func (c *conn) onStreamEnd(streamID string, params []byte) {
	c.mu.Lock()
	q := c.subs[streamID]
	if q == nil {
		if c.opens > 0 {
			c.subEnds[streamID] = params
		}
		c.mu.Unlock()
		return
	}
	delete(c.subs, streamID)
	c.mu.Unlock()
	q.push(params, c.done)
	q.end(nil)
}

// registerSub attaches a subscription queue to a stream id and replays
// frames that arrived before it. Runs on the read loop (in the open call's
// response handler), so no frame can slip between the two.
func (c *conn) registerSub(streamID string, q *eventQueue) {
	c.mu.Lock()
	early := c.takeOrphans(c.subOrphans, streamID)
	end, ended := c.subEnds[streamID]
	delete(c.subEnds, streamID)
	if !ended {
		c.subs[streamID] = q
	}
	c.endOpenLocked()
	c.mu.Unlock()
	for _, f := range early {
		q.push(f, c.done)
	}
	if ended {
		q.push(end, c.done)
		q.end(nil)
	}
}

// beginOpen counts a stream open until its answer (registerSub, endOpen
// or abandonStream).
func (c *conn) beginOpen() {
	c.mu.Lock()
	c.opens++
	c.mu.Unlock()
}

// endOpen uncounts a stream open that failed.
func (c *conn) endOpen() {
	c.mu.Lock()
	c.endOpenLocked()
	c.mu.Unlock()
}

// endOpenLocked uncounts an answered stream open. With none left, the
// events still kept belong to streams nobody will open: they go. Callers
// hold c.mu.
func (c *conn) endOpenLocked() {
	if c.opens > 0 {
		c.opens--
	}
	if c.opens == 0 {
		for _, frames := range c.subOrphans {
			c.orphanN -= len(frames)
		}
		clear(c.subOrphans)
		clear(c.subEnds)
	}
}

// abandonStream gives up a stream whose opener went away: it stops routing
// it, drops what was kept of it, uncounts its open when it was still
// counted, and asks the runtime to close it. The close is sent from a
// goroutine of its own: the reader, which may call this, never writes to
// the runtime it reads.
func (c *conn) abandonStream(streamID, closeMethod string, counted bool) {
	c.mu.Lock()
	delete(c.subs, streamID)
	_ = c.takeOrphans(c.subOrphans, streamID)
	delete(c.subEnds, streamID)
	if counted {
		c.endOpenLocked()
	}
	c.mu.Unlock()
	go func() {
		// A failure to send has nothing left to close: the connection is
		// down, and the stream with it.
		_, _ = c.send(closeMethod, map[string]any{"stream_id": streamID}, func(json.RawMessage, error) {})
	}()
}

// unregisterSub stops routing a stream id.
func (c *conn) unregisterSub(streamID string) {
	c.mu.Lock()
	delete(c.subs, streamID)
	c.mu.Unlock()
}
