package supervision

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"sync"
	"time"
)

// This file is the supervisor's actor: one goroutine (the one that called
// Run) owns all the state of a run and reacts to messages: control requests
// from the API, readiness, exits and probe results from the children, and
// the ticks of a single timer armed for the earliest pending deadline.
//
// Each message is handled in three steps: update the state (deadlines are
// computed from the time read when the message was received), re-arm the
// timer, and only then perform the effects other goroutines can observe
// (events, launching or cancelling children and probes, kills, replies),
// which the handlers queue with later. So whoever observes an effect — a
// test advancing a fake clock after an event, say — knows that the timers
// of the state it reflects are armed: a deadline cannot be missed.

// Control messages, sent by the Supervisor's methods.
type (
	ctlMsg interface{ isCtl() }

	addMsg struct {
		entry entry
		reply chan error
	}
	removeMsg struct {
		name  string
		reply chan error // answered once the child has stopped
	}
	restartMsg struct {
		name  string
		reply chan error
	}
	statusMsg struct{ reply chan []ChildStatus }
)

func (addMsg) isCtl()     {}
func (removeMsg) isCtl()  {}
func (restartMsg) isCtl() {}
func (statusMsg) isCtl()  {}

// Messages from the goroutines a run owns. gen identifies the incarnation
// (and seq the probe) so that late messages are recognised as stale.
type (
	readyMsg struct {
		c   *child
		gen int
	}
	exitMsg struct {
		c   *child
		gen int
		err error
	}
	probeMsg struct {
		c   *child
		gen int
		seq int
		err error
	}
)

// afterStop is what to do once a child the supervisor stopped has returned.
type afterStop int

const (
	afterShutdown afterStop = iota // leave it idle: the supervisor is stopping
	afterFailure                   // a failure (start timeout, unhealthy): apply the policy
	afterRestart                   // restart whatever the policy (RestartChild)
	afterRemove                    // forget it (Remove)
)

// child is the loop's record of one child.
type child struct {
	name   string
	child  Child
	raw    ChildSpec // as given to Add
	spec   ChildSpec // resolved
	prober Prober    // nil if probing is off
	killer Killer    // nil if not a Killer

	state   ChildState
	gen     int  // incarnation number
	running bool // an incarnation's goroutine is alive (and not abandoned)
	ctx     context.Context
	cancel  context.CancelCauseFunc

	startedAt, readyAt time.Time
	ranFor             time.Duration // uptime of the last incarnation, set when it ended
	attempt            int           // consecutive failures: the backoff exponent
	restarts           int
	lastErr            error

	startDeadline time.Time
	backoffUntil  time.Time
	stopDeadline  time.Time
	after         afterStop
	failure       error // with afterFailure
	killed        bool
	waiters       []chan error // Remove calls waiting for the stop

	probeAt       time.Time // when the next probe starts
	probeStarted  time.Time // when the probe in flight started
	probeDeadline time.Time
	probeSeq      int
	probeCancel   context.CancelFunc
	probeFails    int
}

// runState is one run of a Supervisor.
type runState struct {
	name   string
	spec   Spec // resolved
	clock  Clock
	base   context.Context // Run's ctx without its cancellation: the children's parent
	finish func(*runState, []entry)

	ctl   chan ctlMsg
	inbox chan any
	done  chan struct{} // closed when the loop has returned

	children map[string]*child
	order    []*child
	restarts []time.Time // restart times within the intensity window

	live       int // incarnation goroutines alive
	probing    int // probe goroutines alive
	stopping   bool
	escalation *EscalationError

	pending map[*child]bool // initial children not yet settled
	ready   func()

	timer   Timer
	timerAt time.Time

	effects []func() // queued by later, run by flush
}

func newRunState(ctx context.Context, name string, spec Spec, entries []entry) *runState {
	r := &runState{
		name:     name,
		spec:     spec,
		clock:    spec.Clock,
		base:     context.WithoutCancel(ctx),
		ctl:      make(chan ctlMsg),
		inbox:    make(chan any, 16),
		done:     make(chan struct{}),
		children: make(map[string]*child, len(entries)),
		pending:  make(map[*child]bool),
	}
	for _, e := range entries {
		c := r.newChild(e)
		r.children[c.name] = c
		r.order = append(r.order, c)
	}
	return r
}

func (r *runState) newChild(e entry) *child {
	_, nested := e.child.(*Supervisor)
	c := &child{name: e.name, child: e.child, raw: e.spec, spec: e.spec.resolve(r.spec, nested)}
	if p, ok := e.child.(Prober); ok && c.spec.Probe.Interval > 0 {
		c.prober = p
	}
	c.killer, _ = e.child.(Killer)
	return c
}

// call delivers a control message, reporting false if the loop has ended.
func (r *runState) call(m ctlMsg) bool {
	select {
	case r.ctl <- m:
		return true
	case <-r.done:
		return false
	}
}

// post delivers a message from an owned goroutine; it is dropped once the
// loop has ended (only abandoned children can still be posting then).
func (r *runState) post(m any) {
	select {
	case r.inbox <- m:
	case <-r.done:
	}
}

// later queues an effect, to be performed after the timer is re-armed.
func (r *runState) later(f func()) { r.effects = append(r.effects, f) }

// flush performs the queued effects, in order.
func (r *runState) flush() {
	for len(r.effects) > 0 {
		fx := r.effects
		r.effects = nil
		for _, f := range fx {
			f()
		}
	}
}

func (r *runState) emit(e Event) {
	if hook := r.spec.EventHook; hook != nil {
		r.later(func() { hook(e) })
	}
}

// reply answers a request once the effects before it are performed.
func reply[T any](r *runState, c chan T, v T) { r.later(func() { c <- v }) }

func (r *runState) info(c *child, now time.Time) EventInfo {
	return EventInfo{Supervisor: r.name, Child: c.name, Time: now}
}

// loop is the body of Supervisor.Run.
func (r *runState) loop(ctx context.Context, ready func()) error {
	defer close(r.done)
	r.ready = ready
	now := r.clock.Now()
	if ctx.Err() != nil {
		r.stopping = true
	} else {
		for _, c := range r.order {
			r.pending[c] = true
		}
		for _, c := range slices.Clone(r.order) {
			r.start(c, now, false)
		}
	}
	r.settle(nil)
	r.rearm()
	r.flush()

	ctxDone := ctx.Done()
	for !r.stopping || r.live > 0 || r.probing > 0 {
		var tick <-chan time.Time
		if r.timer != nil {
			tick = r.timer.C()
		}
		select {
		case <-ctxDone:
			ctxDone = nil
			r.shutdown(r.clock.Now())
		case m := <-r.ctl:
			r.control(m, r.clock.Now())
		case m := <-r.inbox:
			now := r.clock.Now()
			switch m := m.(type) {
			case readyMsg:
				r.onReady(m, now)
			case exitMsg:
				r.onExit(m, now)
			case probeMsg:
				r.onProbe(m, now)
			}
		case <-tick:
			r.timer, r.timerAt = nil, time.Time{}
			r.tick(r.clock.Now())
		}
		r.rearm()
		r.flush()
	}
	if r.timer != nil {
		r.timer.Stop()
	}

	entries := make([]entry, 0, len(r.order))
	for _, c := range r.order {
		entries = append(entries, entry{name: c.name, child: c.child, spec: c.raw})
	}
	r.finish(r, entries)
	if r.escalation != nil {
		r.emit(EventEscalated{
			EventInfo: EventInfo{Supervisor: r.name, Child: r.escalation.Child, Time: r.clock.Now()},
			Err:       r.escalation,
		})
		r.flush()
		return r.escalation
	}
	return nil
}

// rearm points the timer at the earliest pending deadline.
func (r *runState) rearm() {
	var next time.Time
	for _, c := range r.order {
		for _, d := range [...]time.Time{c.startDeadline, c.backoffUntil, c.stopDeadline, c.probeAt, c.probeDeadline} {
			if !d.IsZero() && (next.IsZero() || d.Before(next)) {
				next = d
			}
		}
	}
	if r.timer != nil {
		if next.Equal(r.timerAt) {
			return
		}
		r.timer.Stop()
		r.timer, r.timerAt = nil, time.Time{}
	}
	if !next.IsZero() {
		r.timer = r.clock.NewTimer(next.Sub(r.clock.Now()))
		r.timerAt = next
	}
}

func due(deadline, now time.Time) bool { return !deadline.IsZero() && !now.Before(deadline) }

// tick handles the deadlines that are due.
func (r *runState) tick(now time.Time) {
	for _, c := range slices.Clone(r.order) {
		if r.children[c.name] != c {
			continue // removed meanwhile
		}
		switch c.state {
		case StateBackoff:
			if due(c.backoffUntil, now) {
				r.start(c, now, true)
			}
		case StateStarting:
			if due(c.startDeadline, now) {
				r.stop(c, now, afterFailure, fmt.Errorf("%w: not ready after %s", ErrStartTimeout, c.spec.StartTimeout), false)
			}
		case StateRunning:
			if due(c.probeDeadline, now) {
				c.probeDeadline = time.Time{}
				c.probeCancel()
				r.probeFailed(c, now, ErrProbeTimeout)
			} else if due(c.probeAt, now) {
				r.probe(c, now)
			}
		case StateStopping:
			if due(c.stopDeadline, now) {
				r.stopTimedOut(c, now)
			}
		}
	}
}

// start launches a new incarnation of c.
func (r *runState) start(c *child, now time.Time, restart bool) {
	if sub, ok := c.child.(*Supervisor); ok {
		sub.inherit(r.spec)
	}
	c.gen++
	gen := c.gen
	ctx, cancel := context.WithCancelCause(r.base)
	c.ctx, c.cancel = ctx, cancel
	c.state = StateStarting
	c.running = true
	r.live++
	c.startedAt, c.readyAt = now, time.Time{}
	c.startDeadline, c.backoffUntil, c.stopDeadline = time.Time{}, time.Time{}, time.Time{}
	if c.spec.StartTimeout > 0 {
		c.startDeadline = now.Add(c.spec.StartTimeout)
	}
	c.after, c.failure, c.killed = afterShutdown, nil, false
	c.probeAt, c.probeDeadline, c.probeFails = time.Time{}, time.Time{}, 0
	if restart {
		r.emit(EventRestarted{EventInfo: r.info(c, now), Attempt: c.attempt, Restarts: c.restarts})
	}

	var once sync.Once
	ready := func() { once.Do(func() { r.post(readyMsg{c: c, gen: gen}) }) }
	ch := c.child
	r.later(func() {
		go func() {
			err := runChild(ctx, ch, ready)
			r.post(exitMsg{c: c, gen: gen, err: err})
		}()
	})
}

// runChild calls ch.Run, turning a panic into an error.
func runChild(ctx context.Context, ch Child, ready func()) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("supervision: child panicked: %v\n%s", p, debug.Stack())
		}
	}()
	return ch.Run(ctx, ready)
}

func (r *runState) current(c *child, gen int) bool {
	return r.children[c.name] == c && c.gen == gen && c.running
}

func (r *runState) onReady(m readyMsg, now time.Time) {
	c := m.c
	if !r.current(c, m.gen) || c.state != StateStarting {
		return
	}
	c.state = StateRunning
	c.readyAt = now
	c.startDeadline = time.Time{}
	if c.prober != nil {
		c.probeAt = now.Add(c.spec.Probe.Interval)
	}
	r.emit(EventStarted{EventInfo: r.info(c, now), Attempt: c.attempt, PID: pidOf(c), StartupTime: now.Sub(c.startedAt)})
	r.settle(c)
}

func pidOf(c *child) int {
	if p, ok := c.child.(interface{ PID() int }); ok {
		return p.PID()
	}
	return 0
}

func (c *child) uptime(now time.Time) time.Duration {
	if c.readyAt.IsZero() {
		return 0
	}
	return now.Sub(c.readyAt)
}

func (r *runState) onExit(m exitMsg, now time.Time) {
	c := m.c
	if !r.current(c, m.gen) {
		return // an abandoned incarnation finally returned
	}
	c.running = false
	r.live--
	c.cancel(nil)
	r.stopProbe(c)
	c.startDeadline = time.Time{}
	c.ranFor = c.uptime(now)

	if c.state == StateStopping {
		r.stopped(c, now, m.err)
		return
	}
	// The child ended on its own.
	uptime := c.ranFor
	switch {
	case errors.Is(m.err, ErrDoNotRestart) || (m.err == nil && c.spec.Restart != Permanent):
		if m.err != nil {
			c.lastErr = m.err
		}
		r.emit(EventStopped{EventInfo: r.info(c, now), Reason: StopExited, Err: m.err, Exit: exitReportOf(m.err), Uptime: uptime})
		r.terminal(c)
	case m.err == nil:
		r.emit(EventStopped{EventInfo: r.info(c, now), Reason: StopExited, Uptime: uptime})
		r.restart(c, now, nil)
	default:
		r.failed(c, now, m.err, uptime)
	}
}

// failed handles an abnormal end of c: report it, then restart c if its
// policy says so.
func (r *runState) failed(c *child, now time.Time, err error, uptime time.Duration) {
	c.lastErr = err
	r.emit(EventCrashed{EventInfo: r.info(c, now), Attempt: c.attempt, Err: err, Exit: exitReportOf(err), Uptime: uptime})
	if c.spec.Restart == Temporary {
		r.terminal(c)
		return
	}
	r.restart(c, now, err)
}

// stopped handles the return of a child the supervisor had stopped (or
// abandoned, with err = ErrStopTimeout).
func (r *runState) stopped(c *child, now time.Time, err error) {
	c.stopDeadline = time.Time{}
	uptime := c.ranFor
	switch c.after {
	case afterFailure:
		failure := c.failure
		if err != nil && !errors.Is(err, context.Canceled) {
			failure = errors.Join(failure, err)
		}
		r.failed(c, now, failure, uptime)
	case afterRestart:
		r.emit(EventStopped{EventInfo: r.info(c, now), Reason: StopRestart, Err: err, Exit: exitReportOf(err), Uptime: uptime})
		r.restart(c, now, nil)
	case afterRemove:
		r.emit(EventStopped{EventInfo: r.info(c, now), Reason: StopRemoved, Err: err, Exit: exitReportOf(err), Uptime: uptime})
		r.remove(c)
	default:
		r.emit(EventStopped{EventInfo: r.info(c, now), Reason: StopShutdown, Err: err, Exit: exitReportOf(err), Uptime: uptime})
		c.state = StateIdle
	}
}

// terminal records that c ended for good in this run.
func (r *runState) terminal(c *child) {
	if c.spec.Restart == Temporary {
		r.remove(c)
		return
	}
	c.state = StateExited
	r.settle(c)
}

// restart schedules a restart of c after its backoff, unless that exceeds
// the intensity, in which case the supervisor gives up.
func (r *runState) restart(c *child, now time.Time, cause error) {
	if r.stopping {
		c.state = StateIdle
		return
	}
	if c.spec.Backoff.ResetAfter > 0 && c.ranFor >= c.spec.Backoff.ResetAfter {
		c.attempt = 0
	}
	if r.spec.Intensity >= 0 {
		horizon := now.Add(-r.spec.Period)
		r.restarts = slices.DeleteFunc(r.restarts, func(t time.Time) bool { return !t.After(horizon) })
		if len(r.restarts) >= r.spec.Intensity {
			c.state = StateExited
			r.emit(EventGaveUp{EventInfo: r.info(c, now), Intensity: r.spec.Intensity, Period: r.spec.Period, Err: cause})
			r.escalation = &EscalationError{
				Supervisor: r.name, Child: c.name,
				Intensity: r.spec.Intensity, Period: r.spec.Period, Err: cause,
			}
			r.shutdown(now)
			return
		}
		r.restarts = append(r.restarts, now)
	}
	c.restarts++
	c.attempt++
	d := c.spec.Backoff.Delay(c.attempt, r.spec.Rand())
	c.state = StateBackoff
	c.backoffUntil = now.Add(d)
	r.emit(EventBackoff{EventInfo: r.info(c, now), Attempt: c.attempt, Delay: d, Err: cause})
}

// stop asks c to stop (cancelling its context, and killing it at once if
// hard) and arms the stop ladder; what happens once it returned is after.
func (r *runState) stop(c *child, now time.Time, after afterStop, failure error, hard bool) {
	c.state = StateStopping
	c.after, c.failure = after, failure
	c.startDeadline = time.Time{}
	r.stopProbe(c)
	// The child's ctx ends with the failure that stops it as its cause
	// (context.Cause), so that the child can tell why.
	r.later(func() { c.cancel(failure) })
	if hard && c.killer != nil {
		c.killed = true
		r.later(func() { _ = c.killer.Kill() })
	}
	c.stopDeadline = time.Time{}
	if c.spec.StopTimeout > 0 {
		c.stopDeadline = now.Add(c.spec.StopTimeout)
	}
}

// stopTimedOut is the next rung of the ladder: kill, then abandon.
func (r *runState) stopTimedOut(c *child, now time.Time) {
	if c.killer != nil && !c.killed {
		c.killed = true
		r.later(func() { _ = c.killer.Kill() })
		c.stopDeadline = now.Add(c.spec.StopTimeout)
		return
	}
	c.running = false // abandon the goroutine; its exit will be stale
	r.live--
	c.ranFor = c.uptime(now)
	r.stopped(c, now, fmt.Errorf("%w: child %q ignored the stop request", ErrStopTimeout, c.name))
}

// shutdown stops every child; the loop ends once they have all returned.
func (r *runState) shutdown(now time.Time) {
	if r.stopping {
		return
	}
	r.stopping = true
	for _, c := range slices.Backward(slices.Clone(r.order)) {
		switch c.state {
		case StateStarting, StateRunning:
			r.stop(c, now, afterShutdown, nil, false)
		case StateStopping:
			if c.after != afterRemove {
				c.after, c.failure = afterShutdown, nil
			}
		case StateBackoff:
			c.state = StateIdle
			c.backoffUntil = time.Time{}
		}
	}
}

// remove forgets c and answers the Remove calls waiting for it.
func (r *runState) remove(c *child) {
	delete(r.children, c.name)
	r.order = slices.DeleteFunc(r.order, func(x *child) bool { return x == c })
	for _, w := range c.waiters {
		reply(r, w, nil)
	}
	c.waiters = nil
	r.settle(c)
}

// settle notes that an initial child is running or gone, and calls the
// supervisor's ready once none is pending.
func (r *runState) settle(c *child) {
	delete(r.pending, c)
	if len(r.pending) == 0 && r.ready != nil && !r.stopping {
		r.later(r.ready)
		r.ready = nil
	}
}

// probe launches a health probe of c.
func (r *runState) probe(c *child, now time.Time) {
	c.probeSeq++
	gen, seq := c.gen, c.probeSeq
	ctx, cancel := context.WithCancel(c.ctx)
	c.probeCancel = cancel
	c.probeAt = time.Time{}
	c.probeStarted = now
	c.probeDeadline = now.Add(c.spec.Probe.Timeout)
	r.probing++
	p := c.prober
	r.later(func() {
		go func() {
			err := runProbe(ctx, p)
			cancel()
			r.post(probeMsg{c: c, gen: gen, seq: seq, err: err})
		}()
	})
}

func runProbe(ctx context.Context, p Prober) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("supervision: probe panicked: %v", v)
		}
	}()
	return p.Probe(ctx)
}

func (r *runState) onProbe(m probeMsg, now time.Time) {
	r.probing--
	c := m.c
	if !r.current(c, m.gen) || c.state != StateRunning || m.seq != c.probeSeq || c.probeDeadline.IsZero() {
		return // late: timed out, or the child was stopped meanwhile
	}
	c.probeDeadline = time.Time{}
	if m.err == nil {
		c.probeFails = 0
		c.probeAt = c.probeStarted.Add(c.spec.Probe.Interval)
		return
	}
	r.probeFailed(c, now, m.err)
}

// probeFailed counts a failed probe and kills c when it is one too many.
func (r *runState) probeFailed(c *child, now time.Time, err error) {
	c.probeFails++
	r.emit(EventProbeFailed{EventInfo: r.info(c, now), Consecutive: c.probeFails, Threshold: c.spec.Probe.Failures, Err: err})
	if c.probeFails >= c.spec.Probe.Failures {
		r.stop(c, now, afterFailure, fmt.Errorf("%w: %d consecutive probes failed: %w", ErrUnhealthy, c.probeFails, err), true)
		return
	}
	// The cadence is measured from probe start to probe start, so it does
	// not depend on when the result was handled; a probe that took longer
	// than Interval is followed at once by the next.
	c.probeAt = c.probeStarted.Add(c.spec.Probe.Interval)
}

// stopProbe cancels c's probe schedule and any probe in flight.
func (r *runState) stopProbe(c *child) {
	c.probeAt, c.probeDeadline = time.Time{}, time.Time{}
	if c.probeCancel != nil {
		c.probeCancel()
		c.probeCancel = nil
	}
}

// control handles the Supervisor's requests.
func (r *runState) control(m ctlMsg, now time.Time) {
	switch m := m.(type) {
	case addMsg:
		if _, dup := r.children[m.entry.name]; dup {
			reply(r, m.reply, error(fmt.Errorf("%w: %q", ErrDuplicateChild, m.entry.name)))
			return
		}
		c := r.newChild(m.entry)
		r.children[c.name] = c
		r.order = append(r.order, c)
		if !r.stopping {
			r.start(c, now, false)
		}
		reply(r, m.reply, error(nil))

	case removeMsg:
		c, ok := r.children[m.name]
		if !ok {
			reply(r, m.reply, error(fmt.Errorf("%w: %q", ErrUnknownChild, m.name)))
			return
		}
		c.waiters = append(c.waiters, m.reply)
		switch c.state {
		case StateStarting, StateRunning:
			r.stop(c, now, afterRemove, nil, false)
		case StateStopping:
			c.after, c.failure = afterRemove, nil
		default:
			r.remove(c)
		}

	case restartMsg:
		c, ok := r.children[m.name]
		switch {
		case !ok:
			reply(r, m.reply, error(fmt.Errorf("%w: %q", ErrUnknownChild, m.name)))
			return
		case r.stopping:
			reply(r, m.reply, ErrNotRunning)
			return
		}
		switch c.state {
		case StateStarting, StateRunning:
			r.stop(c, now, afterRestart, nil, false)
		case StateExited, StateIdle:
			r.restart(c, now, nil)
		}
		reply(r, m.reply, error(nil))

	case statusMsg:
		out := make([]ChildStatus, len(r.order))
		for i, c := range r.order {
			st := ChildStatus{
				Name: c.name, State: c.state, Policy: c.spec.Restart,
				Restarts: c.restarts, Attempt: c.attempt, LastError: c.lastErr,
			}
			if c.running {
				st.PID = pidOf(c)
			}
			if c.state == StateRunning {
				st.Uptime = c.uptime(now)
			}
			out[i] = st
		}
		reply(r, m.reply, out)
	}
}
