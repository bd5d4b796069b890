package supervision

import "time"

// Clock is the source of time of a [Supervisor]: restart intensity windows,
// backoff delays, start and stop deadlines and probe schedules all read it.
// The default is the wall clock ([RealClock]); tests inject a fake
// (supervisiontest.FakeClock) to drive time by hand, without sleeping.
//
// Implementations must be safe for concurrent use.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// NewTimer returns a timer that sends the time on its channel once d has
	// elapsed. A timer with d <= 0 fires at once.
	NewTimer(d time.Duration) Timer
}

// Timer is the part of [time.Timer] a [Clock] must provide.
type Timer interface {
	// C returns the channel on which the timer delivers its single tick.
	C() <-chan time.Time
	// Stop prevents the timer from firing. It reports whether it stopped an
	// armed timer (false if it had already fired or been stopped).
	Stop() bool
}

// RealClock returns the [Clock] backed by package time.
func RealClock() Clock { return realClock{} }

type realClock struct{}

func (realClock) Now() time.Time                 { return time.Now() }
func (realClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

// AfterFunc calls f in its own goroutine once d has elapsed (time.AfterFunc),
// for users that can do without a goroutine waiting on a channel.
func (realClock) AfterFunc(d time.Duration, f func()) interface{ Stop() bool } {
	return time.AfterFunc(d, f)
}

type realTimer struct{ t *time.Timer }

func (t realTimer) C() <-chan time.Time { return t.t.C }
func (t realTimer) Stop() bool          { return t.t.Stop() }
