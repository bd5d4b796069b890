// Package supervisiontest provides helpers for testing code built on package
// supervision deterministically: a [FakeClock] that tests advance by hand,
// and a [Recorder] that collects a supervisor's events and lets a test wait
// for them.
//
// The usual shape of a test: give the supervisor the fake clock and the
// recorder's hook, wait for an event, advance the clock by the delay the
// event announced, wait for the next event. The supervisor computes every
// deadline from the time at which it handled the transition that set it, so
// advancing the clock right after the event fires the deadline even if the
// supervisor has not armed its timer yet; no sleeping is needed.
//
//	clk := supervisiontest.NewFakeClock(time.Time{})
//	rec := supervisiontest.NewRecorder()
//	sup := supervision.New("root", supervision.Spec{Clock: clk, EventHook: rec.Hook()})
//	...
//	b, err := supervisiontest.WaitFor[supervision.EventBackoff](ctx, rec, nil)
//	clk.Advance(b.Delay)
package supervisiontest
