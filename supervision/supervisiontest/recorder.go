package supervisiontest

import (
	"context"
	"sync"

	"github.com/mobd-dev/mobd/supervision"
)

// Recorder collects the events of one or more supervisors, in the order
// they were emitted, and lets a test consume them in order with Next and
// WaitFor. It is safe for concurrent use.
type Recorder struct {
	mu      sync.Mutex
	events  []supervision.Event
	cursor  int           // index of the next event Next returns
	changed chan struct{} // closed and replaced when an event is recorded
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder { return &Recorder{changed: make(chan struct{})} }

// Hook returns the [supervision.EventHook] that records into r.
func (r *Recorder) Hook() supervision.EventHook {
	return func(e supervision.Event) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.events = append(r.events, e)
		close(r.changed)
		r.changed = make(chan struct{})
	}
}

// Events returns a copy of every event recorded so far.
func (r *Recorder) Events() []supervision.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]supervision.Event(nil), r.events...)
}

// Next returns the next event not yet consumed by Next or WaitFor, waiting
// for it until ctx is done.
func (r *Recorder) Next(ctx context.Context) (supervision.Event, error) {
	for {
		r.mu.Lock()
		if r.cursor < len(r.events) {
			e := r.events[r.cursor]
			r.cursor++
			r.mu.Unlock()
			return e, nil
		}
		changed := r.changed
		r.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// WaitFor consumes events until one of type E for which match returns true
// (a nil match accepts any), and returns it. The events skipped on the way
// are consumed too.
func WaitFor[E supervision.Event](ctx context.Context, r *Recorder, match func(E) bool) (E, error) {
	for {
		ev, err := r.Next(ctx)
		if err != nil {
			var zero E
			return zero, err
		}
		if e, ok := ev.(E); ok && (match == nil || match(e)) {
			return e, nil
		}
	}
}

// Await waits until an event of type E for which match returns true (a nil
// match accepts any) has been recorded, consumed by Next or not, and returns
// the first such event. It does not move the cursor of Next and WaitFor.
func Await[E supervision.Event](ctx context.Context, r *Recorder, match func(E) bool) (E, error) {
	for i := 0; ; {
		r.mu.Lock()
		events, changed := r.events[i:], r.changed
		r.mu.Unlock()
		for _, ev := range events {
			if e, ok := ev.(E); ok && (match == nil || match(e)) {
				return e, nil
			}
			i++
		}
		select {
		case <-changed:
		case <-ctx.Done():
			var zero E
			return zero, ctx.Err()
		}
	}
}
