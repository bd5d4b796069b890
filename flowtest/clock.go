package flowtest

import (
	"slices"
	"sync"
	"time"

	"github.com/mobd-dev/mobd/supervision"
	"github.com/mobd-dev/mobd/supervision/supervisiontest"
)

// trackingClock is the clock the mob and the scripted members get: the
// harness's FakeClock, plus a record of every timer made through it, so the
// harness knows when the next one is due (Advance steps from timer to
// timer, Finish jumps to the next one) and whether a timer that fired has
// been handled: whoever waits on a timer stops it once it has handled the
// tick (the mob's run actors do, after putting the tick in their mailbox),
// and settle waits for that before it calls the mob quiet.
type trackingClock struct {
	fc *supervisiontest.FakeClock

	mu     sync.Mutex
	timers []*trackedTimer
}

type trackedTimer struct {
	c     *trackingClock
	inner supervision.Timer
	at    time.Time
	// stopped is set by Stop; guarded by c.mu.
	stopped bool
}

func newTrackingClock(fc *supervisiontest.FakeClock) *trackingClock {
	return &trackingClock{fc: fc}
}

// Now implements supervision.Clock.
func (c *trackingClock) Now() time.Time { return c.fc.Now() }

// NewTimer implements supervision.Clock.
func (c *trackingClock) NewTimer(d time.Duration) supervision.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &trackedTimer{c: c, at: c.fc.Now().Add(d)}
	t.inner = c.fc.NewTimer(d)
	c.timers = append(c.timers, t)
	return t
}

func (t *trackedTimer) C() <-chan time.Time { return t.inner.C() }

func (t *trackedTimer) Stop() bool {
	t.c.mu.Lock()
	t.stopped = true
	t.c.mu.Unlock()
	return t.inner.Stop()
}

// pruneLocked forgets the stopped timers; c.mu held.
func (c *trackingClock) pruneLocked() {
	c.timers = slices.DeleteFunc(c.timers, func(t *trackedTimer) bool { return t.stopped })
}

// unhandled reports whether a timer fired and its tick has not been
// handled yet.
func (c *trackingClock) unhandled() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pruneLocked()
	now := c.fc.Now()
	for _, t := range c.timers {
		if !t.at.After(now) {
			return true
		}
	}
	return false
}

// next returns when the earliest armed timer is due.
func (c *trackingClock) next() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pruneLocked()
	now := c.fc.Now()
	var at time.Time
	found := false
	for _, t := range c.timers {
		if t.at.After(now) && (!found || t.at.Before(at)) {
			at, found = t.at, true
		}
	}
	return at, found
}
