package rpc

import (
	"context"
	"fmt"
	"sync"
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
// it while reading the line, the envelope (typed is then true).
type queueItem struct {
	frame []byte
	env   Envelope
	err   error // the envelope's parse error, when typed
	typed bool
}

// eventQueue is a bounded single-producer single-consumer queue of events
// with an end marker. The producer is the connection's reader.
//
// Events are stored in chunks that are recycled: a stream allocates its
// chunks while it first fills up and then reuses them, however many events
// it carries, and nothing is copied when the queue grows.
type eventQueue struct {
	mu       sync.Mutex
	head     *itemChunk // queued events, oldest first
	tail     *itemChunk // the chunk the producer appends to; nil: start one
	n        int        // events queued (not yet taken by the consumer)
	free     *itemChunk // consumed chunks, cleared, for the producer to reuse
	chunks   int        // chunks allocated so far
	capacity int
	policy   OverflowPolicy

	ended    bool
	endErr   error
	detached bool
	overflow error
	dropped  int

	// The consumer's share, taken from the queue in one go; only pop
	// touches these.
	cur     *itemChunk // the chunk being read
	curAt   int        // the next item in cur
	drained *itemChunk // chunks read to their end, to hand back

	signal chan struct{} // wakes the consumer
	space  chan struct{} // wakes a producer blocked on a full queue
}

// itemChunk is a run of queued events.
type itemChunk struct {
	items []queueItem // the filled part of a fixed capacity
	next  *itemChunk
}

// Chunk sizes: a stream's first chunk is small, for the many short turns;
// later ones amortise the locking of a long stream.
const (
	firstChunkLen = 16
	chunkLen      = 256
)

func newEventQueue(capacity int, policy OverflowPolicy) *eventQueue {
	return &eventQueue{
		capacity: capacity,
		policy:   policy,
		signal:   make(chan struct{}, 1),
		space:    make(chan struct{}, 1),
	}
}

func (q *eventQueue) len() int { return q.n }

// appendLocked adds an item at the tail. Callers hold q.mu.
func (q *eventQueue) appendLocked(it *queueItem) {
	t := q.tail
	if t == nil || len(t.items) == cap(t.items) {
		t = q.free
		if t != nil {
			q.free = t.next
			t.next = nil
		} else {
			size := chunkLen
			if q.chunks == 0 {
				size = firstChunkLen
			}
			q.chunks++
			t = &itemChunk{items: make([]queueItem, 0, size)}
		}
		if q.tail != nil {
			q.tail.next = t
		} else {
			q.head = t
		}
		q.tail = t
	}
	t.items = append(t.items, *it)
	q.n++
}

func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// push appends a frame and wakes the consumer. Under OverflowBlock it
// waits for room until stop is closed; under OverflowFail a full queue
// records an overflow and drops the frame. Frames pushed after detach or
// end are dropped.
func (q *eventQueue) push(frame []byte, stop <-chan struct{}) {
	if q.pushQuiet(&queueItem{frame: frame}, stop) {
		wake(q.signal)
	}
}

// pushQuiet is push without the final wake-up; it reports whether the
// caller must still wake the consumer. The reader uses it to wake each
// consumer once per burst of frames instead of once per frame.
func (q *eventQueue) pushQuiet(it *queueItem, stop <-chan struct{}) bool {
	for {
		q.mu.Lock()
		if q.detached || q.ended || q.overflow != nil {
			if q.overflow != nil {
				q.dropped++
			}
			q.mu.Unlock()
			return false
		}
		if q.n < q.capacity {
			q.appendLocked(it)
			q.mu.Unlock()
			return true
		}
		if q.policy == OverflowFail {
			q.overflow = fmt.Errorf("%w: consumer fell %d events behind", ErrStreamOverflow, q.capacity)
			q.dropped++
			q.mu.Unlock()
			wake(q.signal)
			return false
		}
		q.mu.Unlock()
		wake(q.signal) // the consumer must run to make room
		select {
		case <-q.space:
		case <-stop:
			return false
		}
	}
}

// end marks the queue finished; err is the stream's terminal error, if any.
// Only the first call counts.
func (q *eventQueue) end(err error) {
	q.mu.Lock()
	if !q.ended {
		q.ended = true
		q.endErr = err
	}
	q.mu.Unlock()
	wake(q.signal)
	wake(q.space)
}

// fail ends the stream with err once the queued frames are consumed, and
// drops later frames.
func (q *eventQueue) fail(err error) {
	q.mu.Lock()
	if q.overflow == nil {
		q.overflow = err
	}
	q.mu.Unlock()
	wake(q.signal)
	wake(q.space)
}

// detach drops everything queued and everything pushed later, and releases
// a producer blocked on a full queue.
func (q *eventQueue) detach() {
	q.mu.Lock()
	q.detached = true
	q.head, q.tail, q.n = nil, nil, 0
	q.mu.Unlock()
	wake(q.space)
	wake(q.signal)
}

// pop returns the next event, blocking until one is queued or the queue
// ends. The item is valid until the next pop. ok is false at the end; err
// is then the terminal error (nil for a clean end), an overflow error, or
// ctx's error. The consumer takes all queued events at once, so it and the
// reader rarely contend for the lock. pop is called by the one consumer
// only.
func (q *eventQueue) pop(ctx context.Context) (it *queueItem, ok bool, err error) {
	for {
		if c := q.cur; c != nil {
			if q.curAt < len(c.items) {
				q.curAt++
				return &c.items[q.curAt-1], true, nil
			}
			q.cur, q.curAt = c.next, 0
			c.next, q.drained = q.drained, c
			continue
		}
		q.mu.Lock()
		q.recycleLocked()
		if q.n > 0 {
			q.cur, q.curAt = q.head, 0
			q.head, q.tail, q.n = nil, nil, 0
			q.mu.Unlock()
			if q.policy == OverflowBlock {
				wake(q.space)
			}
			continue
		}
		switch {
		case q.overflow != nil:
			err = q.overflow
			q.mu.Unlock()
			return nil, false, err
		case q.ended:
			err = q.endErr
			q.mu.Unlock()
			return nil, false, err
		case q.detached:
			q.mu.Unlock()
			return nil, false, ErrClientClosed
		}
		q.mu.Unlock()
		select {
		case <-q.signal:
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
	}
}

// recycleLocked clears the chunks the consumer has read and puts them on
// the free list. Callers hold q.mu and are the consumer.
func (q *eventQueue) recycleLocked() {
	for c := q.drained; c != nil; {
		next := c.next
		clear(c.items)
		c.items, c.next = c.items[:0], q.free
		q.free = c
		c = next
	}
	q.drained = nil
}
