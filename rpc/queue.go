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

// eventQueue is a bounded single-producer single-consumer queue of raw
// frames with an end marker. The producer is the connection's reader.
type eventQueue struct {
	mu       sync.Mutex
	items    [][]byte
	head     int
	capacity int
	policy   OverflowPolicy

	ended    bool
	endErr   error
	detached bool
	overflow error
	dropped  int

	// batch is the consumer's share, taken from items in one go; only pop
	// touches it.
	batch     [][]byte
	batchHead int

	signal chan struct{} // wakes the consumer
	space  chan struct{} // wakes a producer blocked on a full queue
}

func newEventQueue(capacity int, policy OverflowPolicy) *eventQueue {
	return &eventQueue{
		capacity: capacity,
		policy:   policy,
		signal:   make(chan struct{}, 1),
		space:    make(chan struct{}, 1),
	}
}

func (q *eventQueue) len() int { return len(q.items) - q.head }

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
	if q.pushQuiet(frame, stop) {
		wake(q.signal)
	}
}

// pushQuiet is push without the final wake-up; it reports whether the
// caller must still wake the consumer. The reader uses it to wake each
// consumer once per burst of frames instead of once per frame.
func (q *eventQueue) pushQuiet(frame []byte, stop <-chan struct{}) bool {
	for {
		q.mu.Lock()
		if q.detached || q.ended || q.overflow != nil {
			if q.overflow != nil {
				q.dropped++
			}
			q.mu.Unlock()
			return false
		}
		if q.len() < q.capacity {
			switch {
			case q.head > 0 && q.head == len(q.items):
				// All consumed (pop nils what it takes): start over.
				q.items, q.head = q.items[:0], 0
			case q.head >= q.capacity:
				// Reuse the backing array: move the live tail to the front
				// and drop the references left behind it.
				n := copy(q.items, q.items[q.head:])
				clear(q.items[n:])
				q.items, q.head = q.items[:n], 0
			}
			q.items = append(q.items, frame)
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
	q.items = nil
	q.head = 0
	q.mu.Unlock()
	wake(q.space)
	wake(q.signal)
}

// pop returns the next frame, blocking until one is queued or the queue
// ends. ok is false at the end; err is then the terminal error (nil for a
// clean end), an overflow error, or ctx's error. The consumer takes all
// queued frames at once into a batch of its own, so it and the reader
// rarely contend for the lock. pop is called by the one consumer only.
func (q *eventQueue) pop(ctx context.Context) (frame []byte, ok bool, err error) {
	if q.batchHead < len(q.batch) {
		frame = q.batch[q.batchHead]
		q.batch[q.batchHead] = nil
		q.batchHead++
		return frame, true, nil
	}
	for {
		q.mu.Lock()
		if q.len() > 0 {
			// Swap: the queued frames become the batch, and the drained
			// batch's array becomes the queue's.
			spare := q.batch[:0]
			q.batch, q.batchHead = q.items[q.head:], 1
			q.items, q.head = spare, 0
			q.mu.Unlock()
			if q.policy == OverflowBlock {
				wake(q.space)
			}
			frame = q.batch[0]
			q.batch[0] = nil
			return frame, true, nil
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
