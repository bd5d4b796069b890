package rpc

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
)

// OverflowPolicy says what happens when a stream's consumer falls behind by
// more events than the stream buffer holds.
type OverflowPolicy int

const (
	// OverflowBlock (the default) makes the connection's reader wait for a
	// stream's consumer when its buffer is full: backpressure reaches the
	// runtime through the pipe, and no event is lost. While it waits, no
	// other message of the connection is read, so a consumer that calls the
	// same Client from inside its event loop (an Interrupt, another turn)
	// while its buffer is full waits for its own stream: keep draining, or
	// choose OverflowFail.
	OverflowBlock OverflowPolicy = iota
	// OverflowFail ends a lagging stream with an error wrapping
	// [ErrStreamOverflow] once its buffered events are consumed. The
	// connection and every other stream keep going; the turn itself still
	// runs to completion and its result stays available (EventStream.Wait).
	OverflowFail
)

// String names the policy.
func (p OverflowPolicy) String() string {
	switch p {
	case OverflowFail:
		return "fail"
	case OverflowBlock:
		return "block"
	default:
		return fmt.Sprintf("OverflowPolicy(%d)", int(p))
	}
}

// queueItem is one queued event: its raw frame and, when the reader typed
// it while reading the line (typed is then true), the typed event: the
// fast path's kept compact in fast (a chunk stays small to copy into and
// for the GC to scan), any other's envelope in env.
type queueItem struct {
	// What the consumer reads of every event comes first: typed, env and
	// the event itself (fast's first field) share a cache line.
	typed bool
	env   *Envelope // nil for the fast path's event
	fast  fastEvent
	frame []byte
	err   error // the envelope's parse error, when typed
}

// eventQueue is a bounded single-producer single-consumer queue of events
// with an end marker. The producer is the connection's reader; the
// consumer is a stream's Next.
//
// Events go into chunks. The producer publishes what it wrote with an
// atomic count, every publishEvery events and at the end of each burst it
// reads (publish), so neither side takes a lock per event and the two
// cores do not trade the count's cache line at every event. The consumer
// follows the chain of chunks and hands each one back, cleared, once read,
// so a long stream reuses the few chunks it first allocated. Ending,
// failing and detaching the queue take the lock.
//
// The fields are grouped by who writes them, each group on cache lines of
// its own: the producer's and the consumer's counters change at every
// event, and sharing a line with each other, or with the fields both sides
// read at every event, would make the two cores trade it at every event.
type eventQueue struct {
	// Read at every event, written rarely.
	capacity int64
	policy   OverflowPolicy
	first    atomic.Pointer[itemChunk]
	// state is nonzero once the queue ended, failed or was detached; the
	// producer checks it without the lock.
	state   atomic.Int32
	gone    atomic.Bool   // detached
	waiting atomic.Bool   // the producer waits for room
	signal  chan struct{} // wakes the consumer
	space   chan struct{} // wakes the producer waiting for room
	_       cacheLinePad

	// The producer's.
	tail         *itemChunk
	filled       int32 // events written to tail
	pub          int32 // events of tail published (tail.n)
	produced     int64 // events written
	consumedSeen int64 // consumed, as the producer last read it
	chunks       int   // chunks allocated
	_            cacheLinePad

	// The consumer's; the producer reads consumed only when the queue
	// looks full.
	cur      *itemChunk
	curAt    int
	taken    int64
	consumed atomic.Int64 // events the consumer has taken
	_        cacheLinePad

	mu       sync.Mutex
	ended    bool
	endErr   error
	overflow error
	free     *itemChunk // read chunks, cleared, for the producer to reuse
}

// cacheLinePad keeps the fields after it off the cache line of the fields
// before it.
type cacheLinePad [64]byte

// itemChunk is a run of queued events.
type itemChunk struct {
	items []queueItem  // fixed length; the first n are published
	n     atomic.Int32 // published events
	next  atomic.Pointer[itemChunk]
	free  *itemChunk // the free list's link
}

// Chunk sizes: a stream's first chunk is small, for the many short turns;
// later ones amortise a long stream's chunk changes.
const (
	firstChunkLen = 16
	chunkLen      = 256
	publishEvery  = 32
)

func newEventQueue(capacity int, policy OverflowPolicy) *eventQueue {
	return &eventQueue{
		capacity: int64(capacity),
		policy:   policy,
		signal:   make(chan struct{}, 1),
		space:    make(chan struct{}, 1),
	}
}

func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// push appends a frame, publishes it and wakes the consumer. Under
// OverflowBlock it waits for room until stop is closed; under OverflowFail
// a full queue records an overflow and drops the frame. Frames pushed
// after detach or end are dropped.
func (q *eventQueue) push(frame []byte, stop <-chan struct{}) {
	q.pushItem(&queueItem{frame: frame}, stop)
}

// pushItem is push for an item the caller built. Producer only.
func (q *eventQueue) pushItem(it *queueItem, stop <-chan struct{}) {
	if q.pushQuiet(it, stop) {
		q.publish()
		wake(q.signal)
	}
}

// pushQuiet is push without publishing and waking; it reports whether the
// caller must still do both (publish, then wake). The reader uses it to
// publish and wake each consumer once per burst of events instead of once
// per event. Producer only.
func (q *eventQueue) pushQuiet(it *queueItem, stop <-chan struct{}) bool {
	slot := q.reserve(stop)
	if slot == nil {
		return false
	}
	*slot = *it
	q.commit()
	return true
}

// reserve waits for room as the policy says and returns the slot of the
// next event, for the producer to fill in and commit; nil when the queue
// ended, failed or was detached, or stop was closed. Producer only.
func (q *eventQueue) reserve(stop <-chan struct{}) *queueItem {
	for q.produced-q.consumedSeen >= q.capacity {
		if q.consumedSeen = q.consumed.Load(); q.produced-q.consumedSeen < q.capacity {
			break
		}
		q.publish() // the consumer can only make room from what it sees
		if q.state.Load() != 0 {
			return nil
		}
		if q.policy == OverflowFail {
			q.fail(fmt.Errorf("%w: consumer fell %d events behind", ErrStreamOverflow, q.capacity))
			return nil
		}
		q.waiting.Store(true)
		if q.consumedSeen = q.consumed.Load(); q.produced-q.consumedSeen < q.capacity {
			q.waiting.Store(false) // the consumer made room meanwhile
			break
		}
		wake(q.signal) // the consumer must run to make room
		select {
		case <-q.space:
		case <-stop:
			q.waiting.Store(false)
			return nil
		}
		q.waiting.Store(false)
	}
	if q.state.Load() != 0 {
		return nil
	}
	t := q.tail
	if t == nil || int(q.filled) == len(t.items) {
		next := q.newChunk()
		if t == nil {
			q.first.Store(next)
		} else {
			t.n.Store(q.filled) // all of it
			t.next.Store(next)
		}
		q.tail, t, q.filled, q.pub = next, next, 0, 0
	}
	return &t.items[q.filled]
}

// commit adds the slot reserve returned to the queue, publishing every
// publishEvery events. Producer only.
func (q *eventQueue) commit() {
	q.filled++
	q.produced++
	if q.filled-q.pub >= publishEvery {
		q.publish()
	}
}

// publish makes every event written visible to the consumer. Producer only.
func (q *eventQueue) publish() {
	if q.pub != q.filled {
		q.tail.n.Store(q.filled)
		q.pub = q.filled
	}
}

// newChunk returns an empty chunk, reused when the consumer handed one back.
func (q *eventQueue) newChunk() *itemChunk {
	q.mu.Lock()
	c := q.free
	if c != nil {
		q.free, c.free = c.free, nil
	}
	q.mu.Unlock()
	if c != nil {
		return c
	}
	size := chunkLen
	if q.chunks == 0 {
		size = firstChunkLen
	}
	q.chunks++
	return &itemChunk{items: make([]queueItem, size)}
}

// end marks the queue finished; err is the stream's terminal error, if any.
// Only the first call counts. The consumer gets the end after the events
// published before it; the producer publishes before it ends the queue
// itself.
func (q *eventQueue) end(err error) {
	q.mu.Lock()
	if !q.ended {
		q.ended = true
		q.endErr = err
	}
	q.state.Store(1)
	q.mu.Unlock()
	wake(q.signal)
	wake(q.space)
}

// fail ends the stream with err once the queued events are consumed, and
// drops later events.
func (q *eventQueue) fail(err error) {
	q.mu.Lock()
	if q.overflow == nil {
		q.overflow = err
	}
	q.state.Store(1)
	q.mu.Unlock()
	wake(q.signal)
	wake(q.space)
}

// detach drops everything queued and everything pushed later, and releases
// a producer waiting for room.
func (q *eventQueue) detach() {
	q.mu.Lock()
	q.gone.Store(true)
	q.state.Store(1)
	q.mu.Unlock()
	wake(q.space)
	wake(q.signal)
}

// pop returns the next event, blocking until one is queued or the queue
// ends. The item is valid until the next pop. ok is false at the end; err
// is then the terminal error (nil for a clean end), an overflow error, or
// ctx's error. pop is called by the one consumer only.
func (q *eventQueue) pop(ctx context.Context) (it *queueItem, ok bool, err error) {
	for {
		if q.gone.Load() {
			return nil, false, ErrClientClosed
		}
		c := q.cur
		if c == nil {
			if c = q.first.Load(); c != nil {
				q.cur, q.curAt = c, 0
			}
		}
		if c != nil {
			if q.curAt < int(c.n.Load()) {
				q.curAt++
				q.taken++
				q.consumed.Store(q.taken)
				if q.waiting.Load() {
					wake(q.space)
				}
				return &c.items[q.curAt-1], true, nil
			}
			if q.curAt == len(c.items) {
				if next := c.next.Load(); next != nil {
					q.cur, q.curAt = next, 0
					q.recycle(c)
					continue
				}
			}
		}
		// Nothing published: the queue may have ended. The terminal state
		// is read before looking for events once more, so that events
		// published before the end are all taken first.
		q.mu.Lock()
		ended, endErr, overflow := q.ended, q.endErr, q.overflow
		q.mu.Unlock()
		if (ended || overflow != nil) && !q.published() {
			if overflow != nil {
				return nil, false, overflow
			}
			return nil, false, endErr
		}
		if ended || overflow != nil {
			continue
		}
		select {
		case <-q.signal:
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
	}
}

// published reports whether an event the consumer has not taken is
// published. Consumer only.
func (q *eventQueue) published() bool {
	c := q.cur
	if c == nil {
		c = q.first.Load()
		return c != nil && c.n.Load() > 0
	}
	if q.curAt < int(c.n.Load()) {
		return true
	}
	next := c.next.Load()
	return q.curAt == len(c.items) && next != nil && next.n.Load() > 0
}

// recycle clears a chunk the consumer has read and hands it back to the
// producer. The producer has moved on to a later chunk, so nothing else
// refers to it.
func (q *eventQueue) recycle(c *itemChunk) {
	clear(c.items)
	c.n.Store(0)
	c.next.Store(nil)
	q.mu.Lock()
	c.free, q.free = q.free, c
	q.mu.Unlock()
}
