package mob

import (
	"context"
	"time"

	"github.com/mobd-dev/mobd/actors"
)

// A step target's member turn outlives the target when the target times
// out, when its step is cancelled, and when its run ends with it in
// flight. Such a turn is cancelled (actors.CancelAsk): at once for a
// timeout, unless the mob leaves it running as an orphan
// (limits.max_orphaned_turns), and after limits.cancel_grace_timeout_ms
// otherwise. An orphan is watched (actors.WaitAsk) to give its place back
// when it ends.

// memberTurn names the turn a member runs for a step target's ask.
type memberTurn struct {
	member string // the member's identity in the mob
	key    string // the ask's idempotency key
}

// orphanage counts the orphaned turns of a mob, in all and per run.
type orphanage struct {
	total int
	runs  map[string]int
	turns map[string]string // the orphaned turns' keys → their runs
}

// orphan leaves turn running as an orphan of run, and reports whether the
// mob's budget allowed it: fewer than limits.max_orphaned_turns in the
// mob and fewer than half of it (at least one) in the run. The place is
// given back when the turn ends (orphanEnded: the run's actor hears of it
// first, with the turn's answer; a watch tells the mob when the run is
// over), or when the member is gone.
func (m *Mob) orphan(run string, turn memberTurn) bool {
	limit := int(m.def.Limits.OrphanedTurns())
	perRun := max(limit/2, 1)
	_, h, err := m.handleOf(turn.member)
	if err != nil {
		return true // no member, no turn left to cancel
	}
	m.mu.Lock()
	o := &m.orphans
	if _, ok := o.turns[turn.key]; ok {
		m.mu.Unlock()
		return true // counted already
	}
	if o.total >= limit || o.runs[run] >= perRun {
		m.mu.Unlock()
		return false
	}
	if o.runs == nil {
		o.runs, o.turns = map[string]int{}, map[string]string{}
	}
	o.total++
	o.runs[run]++
	o.turns[turn.key] = run
	m.mu.Unlock()
	pid := h.PID()
	if !m.goUntilClosed(func(ctx context.Context) {
		defer m.orphanEnded(turn.key)
		_, _ = request(ctx, m.cfg.Host.System(), pid, &actors.WaitAsk{Key: turn.key})
	}) {
		m.orphanEnded(turn.key)
	}
	return true
}

// orphanEnded gives back the place of the orphaned turn with key, if it
// still holds one: the turn ended, its member is gone or the mob closed.
func (m *Mob) orphanEnded(key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o := &m.orphans
	run, ok := o.turns[key]
	if !ok {
		return
	}
	delete(o.turns, key)
	o.total--
	if o.runs[run]--; o.runs[run] == 0 {
		delete(o.runs, run)
	}
}

// cancelTurns cancels turns after grace (at once when it is not
// positive), unless the mob is closed first: closing answers what the
// members accepted anyway.
func (m *Mob) cancelTurns(grace time.Duration, turns []memberTurn) {
	if len(turns) == 0 {
		return
	}
	cancel := func() {
		root := m.cfg.Host.System().Root
		for _, t := range turns {
			if _, h, err := m.handleOf(t.member); err == nil {
				root.Send(h.PID(), &actors.CancelAsk{Key: t.key})
			}
		}
	}
	if grace <= 0 {
		cancel()
		return
	}
	// The timer starts here, not on the goroutine: the grace period counts
	// from the event that decided it, and a fake clock sees the timer as
	// soon as that event is handled.
	tm := m.cfg.Clock.NewTimer(grace)
	if !m.goUntilClosed(func(ctx context.Context) {
		defer tm.Stop()
		select {
		case <-tm.C():
			cancel()
		case <-ctx.Done():
		}
	}) {
		tm.Stop()
	}
}

// goUntilClosed runs f on a goroutine of the mob's, with a ctx that ends
// when the mob closes; Close waits for it. It reports false, without
// running f, when the mob is closed already.
func (m *Mob) goUntilClosed(f func(ctx context.Context)) bool {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return false
	}
	m.wg.Add(1)
	m.mu.Unlock()
	go func() {
		defer m.wg.Done()
		f(m.life)
	}()
	return true
}
