package mob

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/mobd-dev/mobd/actors"
	"github.com/mobd-dev/mobd/flows"
	"github.com/mobd-dev/mobd/rpc"
)

// The run actor is event-sourced: its state changes only in apply, from
// the events it journals (or replays after a restart); its decisions, in
// advance and the message handlers, only record new events and send
// messages. So a run replayed from the journal is in exactly the state it
// was in when the last event was journalled, and resuming it is advancing
// it: targets dispatched without an answer are re-dispatched with the same
// idempotency key, timers are re-armed.

type (
	// timerFired is a timer of the run that went off.
	timerFired struct {
		kind string // "targets", "retry", "approval", "deadline", "escalation"
		key  string
		gen  uint64
	}
	// cancelRun and decide are control messages of Run; the run actor
	// puts its verdict in reply (buffered) before it handles anything
	// else, so a caller that sees the run end still finds it there.
	cancelRun struct {
		reason string
		reply  chan error
	}
	decide struct {
		step  string
		d     flows.ApprovalDecision
		reply chan error
	}
)

type runActor struct {
	m      *Mob
	run    *Run
	id     string
	spec   flows.FlowSpec
	plan   *flows.Plan
	params json.RawMessage
	asks   []outgoing // to send when the current message is handled
	// unjournaled holds the events recorded (applied) while handling the
	// current message, to journal once its asks are sent (see record).
	unjournaled []*Event
	// journalFailed is set when the journal failed an event: the state
	// has moved past what the journal holds, so the run never publishes
	// it (it resumes from the journal when the mob is opened again).
	journalFailed bool

	// state, changed by apply only
	status    RunStatus
	reason    string
	started   time.Time
	ended     time.Time
	scope     *RunScope
	steps     map[nodeID]*stepState
	stepOrder []*stepState
	loops     map[nodeID]*loopState
	targets   map[string]*targetState
	failures  []FailureRecord
	failCount int
	escalated bool
	usage     rpc.Usage
	members   map[string]rpc.Usage
	sessions  map[string]string
	budgetHit *BudgetError

	// side state, not journalled
	// recorded counts the events recorded by this actor other than a
	// step's dispatch, to see that a pass changed something that may let
	// more nodes start (a dispatch lets nothing start).
	recorded int
	self     *actor.PID
	ctx      actor.Context
	timers   map[string]*runTimer
	gen      uint64
	// targetsAt is when the "targets" timer goes off (zero when it is not
	// armed): the earliest deadline of the targets in flight when it was
	// armed (see armTarget).
	targetsAt time.Time
	stopped   bool
	published bool // publish has run
	wg        sync.WaitGroup
	// escalatingTo is the supervisor member an escalation turn was sent
	// to, "" while none is in flight. A run holds its end until the turn
	// is over (escalated); a run resumed from the journal sends it again,
	// with the same idempotency key.
	escalatingTo string
	// frameWait lists the loops the last pass could not start for want
	// of a frame (limits.max_active_frames).
	frameWait []frameWaiter
}

// frameWaiter is a loop ready to start that waits for a frame.
type frameWaiter struct {
	frame, loop string
	max         uint64
}

type stepState struct {
	frame, id string
	spec      *flows.StepSpec
	status    StepStatus
	targets   []*targetState
	output    json.RawMessage
	reason    string
	usage     rpc.Usage
	at        time.Time
}

type targetState struct {
	step    *stepState
	member  string
	attempt int
	key     string
	status  StepStatus // dispatched (running or waiting for a retry), completed, failed, canceled
	waiting bool       // a retry is scheduled
	delay   time.Duration
	retryAt time.Time // when the scheduled retry is due
	resends int       // asks of this attempt refused by an overloaded member
	output  json.RawMessage
	err     string
	class   string
	usage   rpc.Usage
	// deadline is when the target's attempt times out; zero when it is
	// not waiting for an answer.
	deadline time.Time
}

type loopState struct {
	frame, id string
	status    StepStatus
	iteration int
	reason    string
}

type runTimer struct {
	gen  uint64
	stop chan struct{}            // ends the goroutine waiting on a clock's timer
	tm   interface{ Stop() bool } // or the AfterFunc timer
}

func newRunActor(m *Mob, id string, spec flows.FlowSpec, plan *flows.Plan, params json.RawMessage) *runActor {
	return &runActor{
		m: m, id: id, spec: spec, plan: plan, params: params, status: RunPending,
		scope: NewRunScope(plan, params),
		steps: map[nodeID]*stepState{}, loops: map[nodeID]*loopState{}, targets: map[string]*targetState{},
		members: map[string]rpc.Usage{}, sessions: map[string]string{}, timers: map[string]*runTimer{},
	}
}

func nodeKey(frame, id string) string { return frame + "|" + id }

// nodeID names a step or loop node within a frame (its key in the run's
// maps; nodeKey is its string form, for timer and idempotency keys).
type nodeID struct{ frame, id string }

// --- applying events -------------------------------------------------------

func (ra *runActor) apply(ev *Event) {
	switch ev.Type {
	case EventFlowStarted:
		ra.status, ra.started = RunRunning, ev.At
	case EventStepDispatched:
		st := ra.step(ev.Frame, ev.Step)
		st.status = StepDispatched
		if st.at.IsZero() {
			st.at = ev.At
		}
		t := ra.target(st, ev.Member)
		if t.key != "" && t.key != ev.Key {
			delete(ra.targets, t.key)
		}
		t.attempt, t.key, t.status, t.waiting, t.err, t.class = ev.Attempt, ev.Key, StepDispatched, false, "", ""
		t.deadline, t.resends = time.Time{}, 0 // the attempt's own, armed when it is sent
		ra.targets[ev.Key] = t
		if ev.SessionID != "" {
			ra.sessions[ev.Member] = ev.SessionID
		}
	case EventStepTargetCompleted, EventStepTargetFailed:
		t := ra.targets[ev.Key]
		if t == nil {
			return
		}
		if ev.Usage != nil {
			t.usage = t.usage.Add(*ev.Usage)
			t.step.usage = t.step.usage.Add(*ev.Usage)
			ra.usage = ra.usage.Add(*ev.Usage)
			ra.members[ev.Member] = ra.members[ev.Member].Add(*ev.Usage)
		}
		if ev.Type == EventStepTargetCompleted {
			t.status, t.output = StepCompleted, ev.Output
		} else {
			t.status, t.err, t.class = StepFailed, ev.Error, ev.Class
			ra.failures = append(ra.failures, FailureRecord{StepID: ev.Step, Frame: ev.Frame, Member: ev.Member,
				Attempt: ev.Attempt, Reason: ev.Class, Error: ev.Error, At: ev.At})
		}
	case EventStepRetryScheduled:
		if t := ra.targets[ev.Key]; t != nil {
			t.waiting, t.delay, t.status = true, time.Duration(ev.DelayMS)*time.Millisecond, StepDispatched
			t.retryAt = ev.At.Add(t.delay)
		}
	case EventApprovalRequested:
		st := ra.step(ev.Frame, ev.Step)
		st.status, st.at = StepAwaiting, ev.At
	case EventStepCompleted:
		st := ra.step(ev.Frame, ev.Step)
		st.status, st.output = StepCompleted, ev.Output
		ra.cancelTargets(st)
		ra.scope.Apply(ev)
	case EventStepCanceled:
		st := ra.step(ev.Frame, ev.Step)
		st.status, st.reason = StepCanceled, ev.Reason
		ra.cancelTargets(st)
	case EventStepFailed, EventStepSkipped:
		st := ra.step(ev.Frame, ev.Step)
		if ev.Type == EventStepFailed {
			st.status = StepFailed
			ra.failCount++
			ra.failures = append(ra.failures, FailureRecord{StepID: ev.Step, Frame: ev.Frame, Reason: ev.Class, Error: ev.Error, At: ev.At})
		} else {
			st.status = StepSkipped
		}
		st.reason = ev.Reason
		if st.at.IsZero() {
			st.at = ev.At
		}
		ra.cancelTargets(st)
	case EventLoopIterationStarted:
		l := ra.loop(ev.Frame, ev.Loop)
		l.status, l.iteration = StepDispatched, ev.Iteration
		ra.scope.Apply(ev)
	case EventLoopCompleted:
		l := ra.loop(ev.Frame, ev.Loop)
		l.reason = ev.Reason
		switch ev.Class {
		case "":
			l.status = StepCompleted
		case "skipped":
			l.status = StepSkipped
		case "canceled":
			l.status = StepCanceled
		default:
			l.status = StepFailed
			ra.failCount++
			ra.failures = append(ra.failures, FailureRecord{StepID: ev.Loop, Frame: ev.Frame, Reason: ev.Class, Error: ev.Error, At: ev.At})
		}
	case EventSupervisorEscalation, EventSupervisorEscalationFailed:
		ra.escalated = true
	case EventBudgetExceeded:
		ra.budgetHit = &BudgetError{Step: ev.Step, Limit: ev.Class, Max: uint64(ev.DelayMS), Used: uint64(ev.Attempt)}
	case EventFlowCompleted, EventFlowFailed, EventFlowCanceled:
		switch ev.Type {
		case EventFlowCompleted:
			ra.status = RunCompleted
		case EventFlowFailed:
			ra.status = RunFailed
		default:
			ra.status = RunCanceled
		}
		ra.reason, ra.ended = ev.Reason, ev.At
		for _, st := range ra.stepOrder {
			if !st.status.terminal() {
				st.status = StepCanceled
				ra.cancelTargets(st)
			}
		}
	}
}

func (ra *runActor) cancelTargets(st *stepState) {
	for _, t := range st.targets {
		if t.status == StepDispatched {
			t.status, t.waiting = StepCanceled, false
		}
	}
}

func (ra *runActor) step(frame, id string) *stepState {
	k := nodeID{frame, id}
	st := ra.steps[k]
	if st == nil {
		spec, _ := ra.spec.Step(id)
		st = &stepState{frame: frame, id: id, spec: spec, status: StepPending}
		ra.steps[k] = st
		ra.stepOrder = append(ra.stepOrder, st)
	}
	return st
}

func (ra *runActor) loop(frame, id string) *loopState {
	k := nodeID{frame, id}
	l := ra.loops[k]
	if l == nil {
		l = &loopState{frame: frame, id: id, status: StepPending}
		ra.loops[k] = l
	}
	return l
}

func (ra *runActor) target(st *stepState, member string) *targetState {
	for _, t := range st.targets {
		if t.member == member {
			return t
		}
	}
	t := &targetState{step: st, member: member}
	st.targets = append(st.targets, t)
	return t
}

// --- the actor --------------------------------------------------------------

// Receive implements actor.Actor.
func (ra *runActor) Receive(c actor.Context) {
	ra.ctx = c
	defer func() { ra.ctx = nil }()
	defer ra.journal()
	defer ra.sendAsks()
	switch msg := c.Message().(type) {
	case *actor.Started:
		ra.self = c.Self()
		ra.resume()
	case *actor.Stopping:
		ra.stopped = true
		for k := range ra.timers {
			ra.disarm(k)
		}
	case *actor.Stopped:
		ra.wg.Wait()
		ra.finish()
	case *actors.Answer:
		ra.answered(msg)
	case *timerFired:
		if t := ra.timers[msg.kind+":"+msg.key]; t == nil || t.gen != msg.gen {
			return
		}
		delete(ra.timers, msg.kind+":"+msg.key)
		ra.fired(msg)
	case *cancelRun:
		if ra.status.Terminal() {
			msg.reply <- fmt.Errorf("%w: %s", ErrRunFinished, ra.id)
			return
		}
		reason := msg.reason
		if reason == "" {
			reason = "canceled"
		}
		ra.end(EventFlowCanceled, reason)
		msg.reply <- ra.syncErr()
		return
	case *decide:
		msg.reply <- ra.decide(msg)
	}
	if !ra.stopped {
		ra.advance()
	}
}

// syncErr waits until the journal holds everything recorded so far.
func (ra *runActor) syncErr() error {
	ra.journal()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return ra.m.cfg.Journal.Sync(ctx)
}

// record applies ev and queues it for the journal. The events recorded
// while handling a message are journaled, in order, once the message's
// asks are sent (or when the run syncs), so that a step's ask leaves without
// waiting for the encoding and appending of the events before it. That
// changes nothing a crash could tell: the journal commits appended events
// later still (Options.CommitDelay), and a run resumed from the journal
// re-dispatches a step whose dispatch it lost, with the same key.
func (ra *runActor) record(ev *Event) {
	ev.Run, ev.Flow = ra.id, ra.spec.ID
	ra.m.stamp(ev) // apply reads the time; emit keeps it
	if ev.Type != EventStepDispatched {
		ra.recorded++
	}
	ra.unjournaled = append(ra.unjournaled, ev)
	if ra.run == nil {
		ra.apply(ev)
		return
	}
	// Run.Status reads the state under the run's lock; only apply writes it.
	ra.run.mu.Lock()
	ra.apply(ev)
	ra.run.mu.Unlock()
}

// journal appends the events recorded since the last call to the journal.
// If it fails (the journal is faulted), the run actor stops; the run
// resumes from what the journal holds when the mob is opened again.
func (ra *runActor) journal() {
	for i, ev := range ra.unjournaled {
		ra.unjournaled[i] = nil
		if ra.journalFailed {
			continue
		}
		if err := ra.m.emit(ev); err != nil {
			ra.m.log.Error("journal run event; stopping the run actor", zap.String("run", ra.id), zap.Error(err))
			ra.journalFailed, ra.stopped = true, true
			ra.ctx.Stop(ra.self)
		}
	}
	ra.unjournaled = ra.unjournaled[:0]
}

// resume re-dispatches what was in flight when the run was journalled last
// (nothing for a new run) and re-arms its timers.
func (ra *runActor) resume() {
	if ra.status.Terminal() {
		ra.finishSoon()
		return
	}
	if d, ok := ra.m.def.Limits.FlowDeadline(); ok {
		left := d - ra.m.now().Sub(ra.started)
		ra.arm("deadline", "", left, 0)
	}
	for _, st := range ra.stepOrder {
		switch st.status {
		// A timer started before the run stopped goes on from where it
		// was: the time since its start, in the journal, counts.
		case StepAwaiting:
			ra.arm("approval", nodeKey(st.frame, st.id), ra.approvalTimeout(st), 0)
		case StepDispatched:
			for _, t := range st.targets {
				if t.status != StepDispatched {
					continue
				}
				if t.waiting {
					ra.arm("retry", t.key, t.retryAt.Sub(ra.m.now()), 0)
				} else {
					ra.record(&Event{Type: EventStepRedispatched, Frame: st.frame, Step: st.id, Member: t.member,
						Attempt: t.attempt, Key: t.key, Reason: "run resumed"})
					ra.send(t)
				}
			}
		}
	}
}

func (ra *runActor) finishSoon() {
	ra.stopped = true
	ra.ctx.Stop(ra.self)
}

// finish publishes the final state, unless end did, and releases the Run's
// waiters; it runs when the actor has stopped.
func (ra *runActor) finish() {
	defer ra.m.wg.Done()
	ra.publish()
	if ra.run != nil {
		close(ra.run.stopped)
	}
}

// publish publishes the final state of a run that ended and releases the
// Run's waiters, once.
func (ra *runActor) publish() {
	if ra.run == nil || ra.published || ra.journalFailed {
		return
	}
	if !ra.status.Terminal() {
		return // the mob was closed: the run resumes when it is opened again
	}
	ra.published = true
	r := ra.run
	r.mu.Lock()
	final := ra.snapshot()
	r.final = &final
	r.err = ra.outcome()
	r.mu.Unlock()
	ra.m.retain(r)
	close(r.done)
}

// outcome is the error a finished run reports: nil when it completed.
func (ra *runActor) outcome() error {
	switch ra.status {
	case RunFailed, RunCanceled:
		re := &RunError{Run: ra.id, Status: ra.status, Reason: ra.reason}
		if ra.budgetHit != nil {
			re.Cause = ra.budgetHit
		}
		return re
	}
	return nil
}

// --- timers -----------------------------------------------------------------

func (ra *runActor) arm(kind, key string, d time.Duration, _ uint64) {
	k := kind + ":" + key
	ra.disarm(k)
	ra.gen++
	t := &runTimer{gen: ra.gen}
	ra.timers[k] = t
	sys, self, gen := ra.m.cfg.Host.System(), ra.self, ra.gen
	fire := func() { sys.Root.Send(self, &timerFired{kind: kind, key: key, gen: gen}) }
	if af, ok := ra.m.cfg.Clock.(afterFuncer); ok {
		// No goroutine waits on the timer: a run arms one per step
		// target, and waking a goroutine to stop each would take the
		// scheduler from the turn that goes on.
		t.tm = af.AfterFunc(d, fire)
		return
	}
	t.stop = make(chan struct{})
	tm := ra.m.cfg.Clock.NewTimer(d)
	ra.wg.Add(1)
	go func() {
		defer ra.wg.Done()
		select {
		case <-tm.C():
			fire()
			// Stopping a timer that fired is a no-op; it tells a clock
			// that tracks its timers (package flowtest's) that the tick
			// is in the run's mailbox.
			tm.Stop()
		case <-t.stop:
			tm.Stop()
		}
	}()
}

// armTarget starts the timeout of target t's attempt, d from now. The
// targets in flight share one timer, "targets", armed for the earliest of
// their deadlines: an attempt that begins after the one the timer is armed
// for, and an answer, then cost no timer operation (a timer armed and
// stopped for each step cost about 3.5 µs of the step's handling, in
// place). When the timer goes off, targetsFired times out the attempts
// whose deadline has passed and arms it for the next one.
func (ra *runActor) armTarget(t *targetState, d time.Duration) {
	t.deadline = ra.m.now().Add(d)
	if ra.targetsAt.IsZero() || t.deadline.Before(ra.targetsAt) {
		ra.targetsAt = t.deadline
		ra.arm("targets", "", d, 0)
	}
}

// targetsFired times out the target attempts whose deadline has passed,
// in the run's step order, and arms the "targets" timer for the earliest
// deadline left.
func (ra *runActor) targetsFired() {
	ra.targetsAt = time.Time{}
	now := ra.m.now()
	var expired []*targetState
	for _, st := range ra.stepOrder {
		for _, t := range st.targets {
			if t.timing() && !now.Before(t.deadline) {
				expired = append(expired, t)
			}
		}
	}
	for _, t := range expired {
		// An earlier timeout may have ended the step or the run.
		if t.timing() && !ra.status.Terminal() {
			turn := memberTurn{member: t.member, key: t.key}
			ra.targetFailed(t, string(flows.FailureTimeout), fmt.Sprintf("no answer within %s", t.step.spec.Timeout(ra.m.def.Limits)), nil)
			// The member's turn goes on. A retry would wait behind it in
			// the member's session: cancel it. Otherwise leave it to
			// finish, orphaned, while the mob's budget allows.
			if t.waiting || !ra.m.orphan(ra.id, turn) {
				ra.cancelTurns(0, []memberTurn{turn})
			}
		}
	}
	if ra.status.Terminal() {
		return
	}
	var next time.Time
	for _, st := range ra.stepOrder {
		for _, t := range st.targets {
			if t.timing() && (next.IsZero() || t.deadline.Before(next)) {
				next = t.deadline
			}
		}
	}
	if !next.IsZero() && (ra.targetsAt.IsZero() || next.Before(ra.targetsAt)) {
		ra.targetsAt = next
		ra.arm("targets", "", next.Sub(now), 0)
	}
}

// inFlight returns the member turns the targets of steps run: those
// dispatched and not waiting for a retry.
func (ra *runActor) inFlight(steps ...*stepState) []memberTurn {
	var turns []memberTurn
	for _, st := range steps {
		for _, t := range st.targets {
			if t.status == StepDispatched && !t.waiting && t.key != "" {
				turns = append(turns, memberTurn{member: t.member, key: t.key})
			}
		}
	}
	return turns
}

// timing reports whether target t's attempt waits for its answer under a
// deadline.
func (t *targetState) timing() bool {
	return !t.deadline.IsZero() && t.status == StepDispatched && !t.waiting
}

// How long a target refused by an overloaded member waits before it asks
// again: overloadBackoff, doubling with each refusal up to
// maxOverloadBackoff.
const (
	overloadBackoff    = 50 * time.Millisecond
	maxOverloadBackoff = 2 * time.Second
)

// afterFuncer is a clock that runs a function after a delay without a
// goroutine waiting for it (supervision.RealClock).
type afterFuncer interface {
	AfterFunc(d time.Duration, f func()) interface{ Stop() bool }
}

func (ra *runActor) disarm(k string) {
	if t := ra.timers[k]; t != nil {
		if t.tm != nil {
			t.tm.Stop()
		} else {
			close(t.stop)
		}
		delete(ra.timers, k)
	}
}

func (ra *runActor) fired(msg *timerFired) {
	// Timers clamped to the flow deadline go off with it, in no particular
	// order: once the deadline has passed, it is what ends the run.
	if d, ok := ra.m.def.Limits.FlowDeadline(); ok && msg.kind != "deadline" && ra.m.now().Sub(ra.started) >= d {
		msg.kind = "deadline"
	}
	switch msg.kind {
	case "deadline":
		if !ra.status.Terminal() {
			ra.end(EventFlowFailed, "flow deadline exceeded (limits.max_flow_duration_ms)")
		}
	case "targets":
		ra.targetsFired()
	case "retry":
		if t := ra.targets[msg.key]; t != nil && t.waiting {
			ra.dispatch(t.step, t.member, t.attempt+1)
		}
	case "resend":
		if t := ra.targets[msg.key]; t != nil && t.status == StepDispatched && !t.waiting {
			ra.send(t)
		}
	case "approval":
		var st *stepState
		for _, s := range ra.stepOrder {
			if nodeKey(s.frame, s.id) == msg.key {
				st = s
				break
			}
		}
		if st != nil && st.status == StepAwaiting {
			d := flows.ApprovalDecision{Approved: st.spec.Mobd.Approval.OnTimeout == flows.ApprovalApprove, By: "timeout",
				Comment: "no decision in time"}
			ra.approved(st, d)
		}
	case "escalation":
		if !ra.escalated {
			ra.record(&Event{Type: EventSupervisorEscalationFailed, Member: ra.escalatingTo, Error: "escalation turn timed out"})
		}
	}
}

// --- decisions ----------------------------------------------------------------

// advance starts whatever can start and ends the run when its root frame
// is done.
func (ra *runActor) advance() {
	for !ra.status.Terminal() && !ra.stopped {
		ra.escalate()
		before := ra.recorded
		ra.frameWait = ra.frameWait[:0]
		state, reason := ra.progress("", ra.plan.Root)
		if state == StepDispatched && ra.recorded != before {
			// What this pass recorded (a loop's iteration started, a step
			// skipped, …) may let more start: pass again until quiet.
			continue
		}
		if state == StepDispatched && len(ra.frameWait) > 0 && !ra.working() {
			// Loops wait for frames that only their own ancestors hold:
			// nothing running can free one.
			w := ra.frameWait[0]
			msg := fmt.Sprintf("limits.max_active_frames (%d) reached: the frames open are held by the loops around this one, which wait for it", w.max)
			ra.record(&Event{Type: EventLoopCompleted, Frame: w.frame, Loop: w.loop, Class: "limit", Reason: msg, Error: msg})
			continue
		}
		ra.escalate() // for failures progress just recorded
		if ra.escalatingTo != "" && !ra.escalated && !ra.status.Terminal() {
			// The supervisor's escalation turn is part of the run: its
			// outcome is journalled before the run ends.
			return
		}
		switch state {
		case StepCompleted:
			ra.end(EventFlowCompleted, "")
		case StepFailed:
			ra.end(EventFlowFailed, reason)
		}
		return
	}
}

// progress starts the ready nodes of a frame and reports the frame's state:
// StepDispatched while it runs, StepCompleted or StepFailed (with the
// reason) once every node is final.
func (ra *runActor) progress(frame string, fp *flows.FramePlan) (StepStatus, string) {
	failed := ""
	for _, n := range fp.Nodes {
		if st := ra.nodeStatus(frame, n); st == StepFailed && n.FailurePolicy != flows.FailContinue && failed == "" {
			failed = fmt.Sprintf("%s failed: %s", n.Name(), ra.nodeReason(frame, n))
		}
	}
	if failed != "" {
		ra.cancelFrame(frame, fp, "frame failed")
		return StepFailed, failed
	}
	running := false
	for _, n := range fp.Nodes {
		if ra.status.Terminal() || ra.stopped {
			return StepDispatched, ""
		}
		// Only starting a node or progressing a loop changes a node's
		// status here.
		st := ra.nodeStatus(frame, n)
		switch st {
		case StepPending:
			ra.maybeStart(frame, fp, n)
			if st = ra.nodeStatus(frame, n); !st.terminal() {
				running = true
			}
		case StepDispatched:
			if n.Kind == flows.NodeRepeatUntil {
				ra.progressLoop(frame, n)
				st = ra.nodeStatus(frame, n)
			}
			if !st.terminal() {
				running = true
			}
		case StepAwaiting:
			running = true
		}
		if st == StepFailed && n.FailurePolicy != flows.FailContinue {
			ra.cancelFrame(frame, fp, "frame failed")
			return StepFailed, fmt.Sprintf("%s failed: %s", n.Name(), ra.nodeReason(frame, n))
		}
	}
	if running {
		return StepDispatched, ""
	}
	return StepCompleted, ""
}

func (ra *runActor) nodeStatus(frame string, n *flows.PlanNode) StepStatus {
	if n.Kind == flows.NodeRepeatUntil {
		if l := ra.loops[nodeID{frame, n.Name()}]; l != nil {
			return l.status
		}
		return StepPending
	}
	if st := ra.steps[nodeID{frame, n.Name()}]; st != nil {
		return st.status
	}
	return StepPending
}

func (ra *runActor) nodeReason(frame string, n *flows.PlanNode) string {
	if n.Kind == flows.NodeRepeatUntil {
		if l := ra.loops[nodeID{frame, n.Name()}]; l != nil {
			return l.reason
		}
		return ""
	}
	if st := ra.steps[nodeID{frame, n.Name()}]; st != nil {
		if st.reason != "" {
			return st.reason
		}
	}
	for i := len(ra.failures) - 1; i >= 0; i-- {
		if f := ra.failures[i]; f.StepID == n.Name() && f.Frame == frame {
			return f.Reason + ": " + f.Error
		}
	}
	return ""
}

// cancelFrame skips the pending nodes of a failed frame and cancels its
// running steps: their late answers are ignored, and their member turns
// are cancelled after the grace period (see cancelTurns).
func (ra *runActor) cancelFrame(frame string, fp *flows.FramePlan, reason string) {
	for _, n := range fp.Nodes {
		if ra.status.Terminal() {
			return
		}
		switch st := ra.nodeStatus(frame, n); {
		case st == StepPending:
			ra.skip(frame, n, reason)
		case n.Kind == flows.NodeRepeatUntil && st == StepDispatched:
			l := ra.loops[nodeID{frame, n.Name()}]
			ra.cancelFrame(bodyFrame(frame, n.Name(), l.iteration), n.Loop.Body, reason)
			ra.record(&Event{Type: EventLoopCompleted, Frame: frame, Loop: n.Name(), Iteration: l.iteration, Class: "canceled", Reason: reason, Error: reason})
		case st == StepDispatched || st == StepAwaiting:
			if s := ra.steps[nodeID{frame, n.Name()}]; s != nil {
				ra.cancelTurns(ra.m.def.Limits.CancelGrace(), ra.inFlight(s))
			}
			ra.record(&Event{Type: EventStepCanceled, Frame: frame, Step: n.Name(), Reason: reason})
		}
	}
}

// pairs returns, for a one_to_one step, the step it pairs with (its first
// dependency) and that step's completed target outputs in member order;
// nothing when the step depends on no step (it then goes to every member
// of its role).
func (ra *runActor) pairs(frame string, n *flows.PlanNode) (string, []json.RawMessage) {
	if n == nil || len(n.DependsOn) == 0 {
		return "", nil
	}
	fp := framePlan(ra.plan, frame)
	if fp == nil {
		return "", nil
	}
	first := fp.Node(n.DependsOn[0])
	if first == nil || first.Step == nil {
		return "", nil
	}
	dep := ra.steps[nodeID{frame, first.Name()}]
	if dep == nil {
		return "", nil
	}
	done := make([]*targetState, 0, len(dep.targets))
	for _, t := range dep.targets {
		if t.status == StepCompleted {
			done = append(done, t)
		}
	}
	slices.SortFunc(done, func(a, b *targetState) int { return strings.Compare(a.member, b.member) })
	outs := make([]json.RawMessage, len(done))
	for i, t := range done {
		outs[i] = t.output
	}
	return dep.id, outs
}

// scopeFor returns the scope target t's message renders in: the run's,
// except that a one_to_one target sees its paired output as the output of
// the step it pairs with.
func (ra *runActor) scopeFor(t *targetState) flows.Scope {
	st, sc := t.step, ra.scope.Scope()
	if st.spec.DispatchMode != flows.DispatchOneToOne {
		return sc
	}
	fp := framePlan(ra.plan, st.frame)
	if fp == nil {
		return sc
	}
	dep, outs := ra.pairs(st.frame, fp.StepNode(st.id))
	i := slices.Index(st.targets, t)
	if dep == "" || i < 0 || i >= len(outs) {
		return sc
	}
	sc.Steps = maps.Clone(sc.Steps)
	sc.Steps[dep] = outs[i]
	return sc
}

// maybeStart starts node n if its dependencies allow it, or skips it.
func (ra *runActor) maybeStart(frame string, fp *flows.FramePlan, n *flows.PlanNode) {
	ready, skip := true, ""
	if len(n.DependsOn) > 0 {
		done, ok := 0, 0
		var bad []string
		for _, d := range n.DependsOn {
			dn := fp.Node(d)
			st := ra.nodeStatus(frame, dn)
			if st.terminal() {
				done++
				if st == StepCompleted {
					ok++
				} else {
					bad = append(bad, dn.Name()+" "+string(st))
				}
			}
		}
		if n.Mode == flows.DependAny {
			switch {
			case ok > 0:
			case done == len(n.DependsOn):
				ready, skip = false, "no dependency completed: "+strings.Join(bad, ", ")
			default:
				ready = false
			}
		} else {
			switch {
			case len(bad) > 0:
				ready, skip = false, "dependency "+strings.Join(bad, ", ")
			case done < len(n.DependsOn):
				ready = false
			}
		}
	}
	if skip != "" {
		ra.skip(frame, n, skip)
		return
	}
	if !ready {
		return
	}
	if n.Kind == flows.NodeStep && ra.atNodeLimit() {
		return // it starts when a running step ends (limits.max_active_nodes)
	}
	if n.Branch != "" {
		ra.chooseBranch(frame, fp, n)
		return
	}
	if n.Kind == flows.NodeStep && n.Step.Condition != nil {
		ok, err := n.Step.Condition.Eval(ra.scope.Scope())
		if err != nil {
			ra.record(&Event{Type: EventStepFailed, Frame: frame, Step: n.Name(), Class: "template", Error: "condition: " + err.Error()})
			return
		}
		if !ok {
			ra.skip(frame, n, "condition is false")
			return
		}
	}
	ra.start(frame, n)
}

// atNodeLimit reports whether as many step nodes run as
// limits.max_active_nodes allows.
func (ra *runActor) atNodeLimit() bool {
	max, ok := ra.m.def.Limits.ActiveNodes()
	if !ok {
		return false
	}
	var running uint64
	for _, st := range ra.stepOrder {
		if st.status == StepDispatched {
			running++
		}
	}
	return running >= max
}

// working reports whether anything of the run is under way: a step's
// targets running or waiting for a retry, an approval waiting for its
// decision, or an escalation turn.
func (ra *runActor) working() bool {
	for _, st := range ra.stepOrder {
		if st.status == StepDispatched || st.status == StepAwaiting {
			return true
		}
	}
	return ra.escalatingTo != "" && !ra.escalated
}

// openFrames counts the run's open loop bodies: one per running loop.
func (ra *runActor) openFrames() uint64 {
	var open uint64
	for _, l := range ra.loops {
		if l.status == StepDispatched {
			open++
		}
	}
	return open
}

func (ra *runActor) skip(frame string, n *flows.PlanNode, reason string) {
	if n.Kind == flows.NodeRepeatUntil {
		ra.record(&Event{Type: EventLoopCompleted, Frame: frame, Loop: n.Name(), Class: "skipped", Reason: reason, Error: reason})
		return
	}
	ra.record(&Event{Type: EventStepSkipped, Frame: frame, Step: n.Name(), Reason: reason})
}

// chooseBranch runs the first alternative of n's branch whose condition
// holds (in plan order), else the one without a condition, and skips the
// others.
func (ra *runActor) chooseBranch(frame string, fp *flows.FramePlan, n *flows.PlanNode) {
	var group []*flows.PlanNode
	for _, o := range fp.Nodes {
		if o.Branch == n.Branch && ra.nodeStatus(frame, o) == StepPending {
			group = append(group, o)
		}
	}
	var chosen, fallback *flows.PlanNode
	for _, o := range group {
		var cond *flows.Condition
		if o.Kind == flows.NodeStep {
			cond = o.Step.Condition
		}
		if cond == nil {
			if fallback == nil {
				fallback = o
			}
			continue
		}
		ok, err := cond.Eval(ra.scope.Scope())
		if err != nil {
			ra.record(&Event{Type: EventStepFailed, Frame: frame, Step: o.Name(), Class: "template", Error: "condition: " + err.Error()})
			continue
		}
		if ok && chosen == nil {
			chosen = o
		}
	}
	if chosen == nil {
		chosen = fallback
	}
	for _, o := range group {
		if o != chosen && ra.nodeStatus(frame, o) == StepPending {
			why := "branch " + n.Branch + ": no alternative's condition held"
			if chosen != nil {
				why = "branch " + n.Branch + " took " + chosen.Name()
			}
			ra.skip(frame, o, why)
		}
	}
	if chosen != nil {
		ra.start(frame, chosen)
	}
}

func (ra *runActor) start(frame string, n *flows.PlanNode) {
	if n.Kind == flows.NodeRepeatUntil {
		if max, ok := ra.m.def.Limits.FrameDepth(); ok {
			if depth := uint64(strings.Count(frame, "#")); depth+1 > max {
				msg := fmt.Sprintf("loop %q would exceed max_frame_depth=%d (current depth=%d)", n.Name(), max, depth)
				ra.record(&Event{Type: EventLoopCompleted, Frame: frame, Loop: n.Name(), Class: "limit", Reason: msg, Error: msg})
				return
			}
		}
		if max, ok := ra.m.def.Limits.ActiveFrames(); ok && ra.openFrames() >= max {
			// It starts when a running loop ends (see advance).
			ra.frameWait = append(ra.frameWait, frameWaiter{frame, n.Name(), max})
			return
		}
		ra.record(&Event{Type: EventLoopIterationStarted, Frame: frame, Loop: n.Name(), Iteration: 0})
		return
	}
	// The step's state is created by the first event recorded for it
	// (apply is the only writer of the state Run.Status reads); st only
	// names the step until then.
	spec, _ := ra.spec.Step(n.Name())
	st := &stepState{frame: frame, id: n.Name(), spec: spec}
	if spec.IsApproval() {
		msg, err := spec.Message.Render(ra.scope.Scope())
		if err != nil {
			ra.record(&Event{Type: EventStepFailed, Frame: frame, Step: n.Name(), Class: "template", Error: err.Error()})
			return
		}
		ra.record(&Event{Type: EventApprovalRequested, Frame: frame, Step: n.Name(), Text: messageText(msg)})
		ra.arm("approval", nodeKey(frame, n.Name()), ra.approvalTimeout(ra.step(frame, n.Name())), 0)
		return
	}
	if _, err := spec.Message.Render(ra.scope.Scope()); err != nil {
		ra.record(&Event{Type: EventStepFailed, Frame: frame, Step: n.Name(), Class: "template", Error: err.Error()})
		return
	}
	var members []string
	if spec.DispatchMode == flows.DispatchFanIn {
		var one [1]string
		if id, ok := ra.m.nextOf(spec.Role); ok {
			one[0] = id
			members = one[:]
		}
	} else {
		members = ra.m.membersOf(spec.Role)
	}
	if len(members) == 0 {
		if ra.m.respawningIn(spec.Role) {
			return // it starts when the respawn is over (Mob.nudgeRuns)
		}
		ra.record(&Event{Type: EventStepFailed, Frame: frame, Step: n.Name(), Class: "no_targets",
			Error: fmt.Sprintf("no live member has role %q", spec.Role)})
		return
	}
	if spec.DispatchMode == flows.DispatchOneToOne {
		if dep, outs := ra.pairs(frame, n); len(outs) > 0 {
			if len(outs) > len(members) {
				ra.record(&Event{Type: EventStepFailed, Frame: frame, Step: n.Name(), Class: "dispatch",
					Error: fmt.Sprintf("one_to_one pairs %d outputs of %s with members of role %q, which has %d", len(outs), dep, spec.Role, len(members))})
				return
			}
			members = members[:len(outs)]
		}
	}
	if p := spec.CollectionPolicy; p.Type == flows.CollectQuorum && int(p.N) > len(members) {
		// Fail before dispatching: no answer could meet the quorum.
		ra.record(&Event{Type: EventStepFailed, Frame: frame, Step: n.Name(), Class: "collection",
			Error: fmt.Sprintf("quorum of %d needs more than the %d members of role %q", p.N, len(members), spec.Role)})
		return
	}
	for _, id := range members {
		ra.dispatch(st, id, 1)
	}
}

func messageText(m flows.Message) string {
	if !m.IsBlocks() {
		raw, _ := json.Marshal(m)
		var s string
		_ = json.Unmarshal(raw, &s)
		return s
	}
	var parts []string
	for _, b := range m.Blocks {
		if b.Type == "text" {
			parts = append(parts, b.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// approvalTimeout returns how long from now approval step st, requested
// at st.at, waits for its decision: its timeout from the request, or what
// is left of the flow's deadline.
func (ra *runActor) approvalTimeout(st *stepState) time.Duration {
	if st.spec.TimeoutMS != nil {
		return st.spec.Timeout(ra.m.def.Limits) - ra.m.now().Sub(st.at)
	}
	if d, ok := ra.m.def.Limits.FlowDeadline(); ok {
		return d - ra.m.now().Sub(ra.started)
	}
	return 100 * 365 * 24 * time.Hour
}

// dispatch sends attempt n of a step to a member.
func (ra *runActor) dispatch(st *stepState, member string, attempt int) {
	key := ra.id + "/" + nodeKey(st.frame, st.id) + "/" + member + "/" + strconv.Itoa(attempt)
	session, h, err := ra.m.handleOf(member)
	ra.record(&Event{Type: EventStepDispatched, Frame: st.frame, Step: st.id, Member: member, Attempt: attempt, Key: key, SessionID: session})
	if t := ra.targets[key]; t != nil {
		ra.sendTo(t, h, err)
	}
}

// send delivers a dispatched target's ask to its member and arms its
// timeout.
func (ra *runActor) send(t *targetState) {
	_, h, err := ra.m.handleOf(t.member)
	ra.sendTo(t, h, err)
}

// sendTo is send to the member's actor handle h, or the failure err to
// look it up.
func (ra *runActor) sendTo(t *targetState, h Member, err error) {
	if err != nil {
		ra.targetFailed(t, string(flows.FailureRuntime), err.Error(), nil)
		return
	}
	msg, err := t.step.spec.Message.Render(ra.scopeFor(t))
	if err != nil {
		ra.targetFailed(t, "template", err.Error(), nil)
		return
	}
	content, err := toContent(msg)
	if err != nil {
		ra.targetFailed(t, "template", err.Error(), nil)
		return
	}
	ask := &actors.Ask{Content: &content, Key: t.key}
	spec := t.step.spec
	if spec.Format() == flows.OutputJSON {
		ask.OutputSchema = spec.ExpectedSchema
		if ask.OutputSchema == nil {
			ask.OutputSchema = json.RawMessage(`{"type":"object"}`)
		}
	}
	if spec.AllowedTools != nil || spec.BlockedTools != nil {
		overlay := map[string][]string{}
		if spec.AllowedTools != nil {
			overlay["allowed_tools"] = spec.AllowedTools
		}
		if spec.BlockedTools != nil {
			overlay["blocked_tools"] = spec.BlockedTools
		}
		ask.ToolOverlay, _ = json.Marshal(overlay)
	}
	if t.deadline.IsZero() { // else a resend, under the attempt's deadline
		ra.armTarget(t, spec.Timeout(ra.m.def.Limits))
	}
	ra.ask(h.PID(), ask)
}

// cancelTurns cancels turns of the run's targets after grace (see
// Mob.cancelTurns). The asks queued while handling the current message go
// out first: a turn may be cancelled in the pass that dispatched it (the
// step's frame failed, the run ended), and a cancel that overtook its ask
// would reach the member for a key it does not know yet, leaving the turn
// to run.
func (ra *runActor) cancelTurns(grace time.Duration, turns []memberTurn) {
	if len(turns) == 0 {
		return
	}
	ra.sendAsks()
	ra.m.cancelTurns(grace, turns)
}

// outgoing is an ask the run actor sends when it has handled the current
// message (see ask).
type outgoing struct {
	to  *actor.PID
	ask *actors.Ask
}

// ask sends a to the member at to once the current message is handled, as
// the actor's last act: the member then runs on this thread as soon as
// the run actor is done with it, rather than on another thread woken for
// it while this one goes on.
func (ra *runActor) ask(to *actor.PID, a *actors.Ask) {
	ra.asks = append(ra.asks, outgoing{to, a})
}

// sendAsks sends the asks queued by ask.
func (ra *runActor) sendAsks() {
	for i, o := range ra.asks {
		ra.ctx.Request(o.to, o.ask)
		ra.asks[i] = outgoing{}
	}
	ra.asks = ra.asks[:0]
}

func toContent(m flows.Message) (rpc.Content, error) {
	if !m.IsBlocks() {
		return rpc.Text(m.Text), nil
	}
	var c rpc.Content
	raw, err := json.Marshal(m)
	if err != nil {
		return c, err
	}
	err = json.Unmarshal(raw, &c)
	return c, err
}

// answered handles a member's answer to a step target.
func (ra *runActor) answered(a *actors.Answer) {
	if a.Key == "" {
		return
	}
	// If this is an orphaned turn's answer, the turn is over: its place in
	// the mob's budget is free for the next timeout of this run's, which
	// this actor handles after this answer (the mob's watch of the turn
	// may hear of it later). Its target timed out: the answer is stale
	// below.
	ra.m.orphanEnded(a.Key)
	if ra.status.Terminal() {
		return
	}
	if strings.HasPrefix(a.Key, ra.id+"/escalation/") {
		if ra.escalated {
			return
		}
		ra.disarm("escalation:" + a.Key)
		// a.Identity is the engine-wide identity; events name mob members.
		who := strings.TrimPrefix(a.Identity, ra.m.id+"/")
		if a.Error != nil {
			ra.record(&Event{Type: EventSupervisorEscalationFailed, Member: who, Error: a.Error.Err().Error()})
		} else {
			ra.record(&Event{Type: EventSupervisorEscalation, Member: who, Text: a.Text})
		}
		return
	}
	t := ra.targets[a.Key]
	if t == nil || t.status != StepDispatched || t.waiting {
		return // stale: a timed-out attempt, a canceled step, a duplicate
	}
	if a.Error != nil {
		switch a.Error.Code {
		case actors.CodeEngineStopped:
			// Refused or cut short by the engine's shutdown: not the
			// member's failure. The target stays dispatched; the run
			// sends it again when the mob is opened again.
			return
		case actors.CodeOverloaded:
			// The member has as many asks pending as it takes: the same
			// attempt asks again shortly, under its deadline.
			t.resends++
			ra.arm("resend", t.key, min(overloadBackoff<<min(t.resends-1, 6), maxOverloadBackoff), 0)
			return
		}
	}
	t.deadline = time.Time{}
	usage := a.Usage
	if a.Error != nil {
		ra.targetFailed(t, classify(a.Error), a.Error.Err().Error(), &usage)
		return
	}
	spec := t.step.spec
	var out json.RawMessage
	if spec.Format() == flows.OutputJSON {
		switch {
		case a.ExtractionError != "":
			ra.targetFailed(t, string(flows.FailureOutput), "structured output: "+a.ExtractionError, &usage)
			return
		case len(a.Output) == 0:
			ra.targetFailed(t, string(flows.FailureOutput), "no structured output", &usage)
			return
		}
		if spec.ExpectedSchema != nil {
			var v any
			if err := json.Unmarshal(a.Output, &v); err != nil {
				ra.targetFailed(t, string(flows.FailureOutput), "structured output: "+err.Error(), &usage)
				return
			}
			if err := spec.ValidateOutput(v); err != nil {
				// The event keeps the output that did not match, to show
				// what the member said (and to replay it).
				ra.targetFailedWith(t, string(flows.FailureOutput), "structured output does not match the expected schema: "+err.Error(), &usage, a.Output)
				return
			}
		}
		out = a.Output
	} else {
		out = jsonString(a.Text)
	}
	ra.record(&Event{Type: EventStepTargetCompleted, Frame: t.step.frame, Step: t.step.id, Member: t.member,
		Attempt: t.attempt, Key: t.key, Output: out, Usage: &usage, SessionID: a.SessionID})
	if ra.checkBudget(t.step) {
		return
	}
	ra.collect(t.step)
}

// classify maps a member failure to a failure class.
func classify(f *actors.Failure) string {
	code := f.Code
	switch {
	case code == actors.CodeTurnLost, code == actors.CodeTurnOutcomeUnknown, code == actors.CodeRuntimeUnavailable,
		code == actors.CodeEngineStopped, code == actors.CodeOverloaded, code == actors.CodeSessionNotFound,
		code == actors.CodeMemberRetired, code == actors.CodeInternal:
		return string(flows.FailureRuntime)
	case strings.HasPrefix(code, "remote:"):
		c := strings.TrimPrefix(code, "remote:")
		switch {
		case strings.Contains(c, "TOOL"):
			return string(flows.FailureTool)
		case strings.Contains(c, "PROVIDER"), strings.Contains(c, "RATE"), strings.Contains(c, "MODEL"), strings.Contains(c, "AUTH"):
			return string(flows.FailureProvider)
		case strings.Contains(c, "OUTPUT"), strings.Contains(c, "SCHEMA"), strings.Contains(c, "EXTRACTION"):
			return string(flows.FailureOutput)
		}
		return string(flows.FailureRuntime)
	case code == actors.CodeCanceled:
		return "canceled"
	}
	return "other"
}

// targetFailed records a failed attempt and retries it when the step's
// policy says so.
func (ra *runActor) targetFailed(t *targetState, class, msg string, usage *rpc.Usage) {
	ra.targetFailedWith(t, class, msg, usage, nil)
}

// targetFailedWith is targetFailed for an answer whose output is the
// failure (it goes in the event).
func (ra *runActor) targetFailedWith(t *targetState, class, msg string, usage *rpc.Usage, output json.RawMessage) {
	t.deadline = time.Time{}
	ra.record(&Event{Type: EventStepTargetFailed, Frame: t.step.frame, Step: t.step.id, Member: t.member,
		Attempt: t.attempt, Key: t.key, Class: class, Error: msg, Usage: usage, Output: output})
	if usage != nil && ra.checkBudget(t.step) {
		return
	}
	if policy, ok := ra.retryPolicy(t.step.spec); ok && t.attempt < int(policy.Attempts) && policy.Retries(flows.FailureClass(class)) {
		delay := policy.Backoff(t.attempt)
		if t.step.spec.Mobd == nil || t.step.spec.Mobd.Retry == nil {
			delay = 0 // limits.max_step_retries retries at once
		}
		ra.record(&Event{Type: EventStepRetryScheduled, Frame: t.step.frame, Step: t.step.id, Member: t.member,
			Attempt: t.attempt, Key: t.key, DelayMS: delay.Milliseconds()})
		ra.arm("retry", t.key, delay, 0)
		return
	}
	ra.collect(t.step)
}

func (ra *runActor) retryPolicy(s *flows.StepSpec) (flows.RetryPolicy, bool) {
	if s.Mobd != nil && s.Mobd.Retry != nil {
		return *s.Mobd.Retry, true
	}
	if n := ra.m.def.Limits.StepRetries(); n > 0 {
		return flows.RetryPolicy{Attempts: n + 1}, true
	}
	return flows.RetryPolicy{}, false
}

// collect ends a step once its collection policy is met or can no longer
// be.
func (ra *runActor) collect(st *stepState) {
	if st.status.terminal() {
		return
	}
	total := len(st.targets)
	need := total
	switch st.spec.CollectionPolicy.Type {
	case flows.CollectAny:
		need = 1
	case flows.CollectQuorum:
		need = int(st.spec.CollectionPolicy.N)
	}
	done, failed := 0, 0
	var errs []string
	for _, t := range st.targets {
		switch t.status {
		case StepCompleted:
			done++
		case StepFailed:
			failed++
			errs = append(errs, fmt.Sprintf("%s: %s: %s", t.member, t.class, t.err))
		}
	}
	settled := done >= need && need > 0 || total-failed < need || need > total
	if settled {
		// Targets still running are the step's no more (see cancelTurns).
		ra.cancelTurns(ra.m.def.Limits.CancelGrace(), ra.inFlight(st))
	}
	switch {
	case done >= need && need > 0:
		ra.record(&Event{Type: EventStepCompleted, Frame: st.frame, Step: st.id, Output: ra.stepOutput(st)})
	case total-failed < need || need > total:
		why := strings.Join(errs, "; ")
		if need > total {
			why = fmt.Sprintf("quorum of %d needs more than the %d members of role %q", need, total, st.spec.Role)
		}
		class := "collection"
		if len(st.targets) == 1 && failed == 1 {
			class = st.targets[0].class
		}
		ra.record(&Event{Type: EventStepFailed, Frame: st.frame, Step: st.id, Class: class, Error: why})
	}
}

// stepOutput composes a step's output from its completed targets: the
// output itself for one target (fan_in's, and collection "any"), an
// array in member order otherwise.
func (ra *runActor) stepOutput(st *stepState) json.RawMessage {
	var done []*targetState
	for _, t := range st.targets {
		if t.status == StepCompleted {
			done = append(done, t)
		}
	}
	slices.SortFunc(done, func(a, b *targetState) int { return strings.Compare(a.member, b.member) })
	if len(st.targets) == 1 || st.spec.CollectionPolicy.Type == flows.CollectAny {
		return done[0].output
	}
	arr := make([]json.RawMessage, len(done))
	for i, t := range done {
		arr[i] = t.output
	}
	raw, _ := json.Marshal(arr)
	return raw
}

// checkBudget cancels the run when a budget is exceeded; it reports
// whether it did.
func (ra *runActor) checkBudget(st *stepState) bool {
	check := func(b *flows.Budget, step string, u rpc.Usage) *BudgetError {
		if b == nil {
			return nil
		}
		switch {
		case b.MaxTokens > 0 && u.InputTokens+u.OutputTokens > b.MaxTokens:
			return &BudgetError{Step: step, Limit: "max_tokens", Max: b.MaxTokens, Used: u.InputTokens + u.OutputTokens}
		case b.MaxInputTokens > 0 && u.InputTokens > b.MaxInputTokens:
			return &BudgetError{Step: step, Limit: "max_input_tokens", Max: b.MaxInputTokens, Used: u.InputTokens}
		case b.MaxOutputTokens > 0 && u.OutputTokens > b.MaxOutputTokens:
			return &BudgetError{Step: step, Limit: "max_output_tokens", Max: b.MaxOutputTokens, Used: u.OutputTokens}
		}
		return nil
	}
	var be *BudgetError
	if st.spec.Mobd != nil {
		be = check(st.spec.Mobd.Budget, st.id, st.usage)
	}
	if be == nil && ra.spec.Mobd != nil {
		be = check(ra.spec.Mobd.Budget, "", ra.usage)
	}
	if be == nil {
		return false
	}
	ra.record(&Event{Type: EventBudgetExceeded, Frame: st.frame, Step: be.Step, Class: be.Limit,
		DelayMS: int64(be.Max), Attempt: int(be.Used), Error: be.Error()})
	ra.end(EventFlowCanceled, "budget exceeded: "+be.Error())
	return true
}

// escalate gives the supervisor an escalation turn when the run's failures
// (failed steps and loops, whatever failed them) reach the threshold; advance
// calls it after every change.
func (ra *runActor) escalate() {
	sup := ra.m.def.Supervisor
	if sup == nil || sup.EscalationThreshold == 0 || ra.escalated || ra.escalatingTo != "" || ra.status.Terminal() || ra.stopped ||
		ra.failCount < int(sup.EscalationThreshold) {
		return
	}
	var h Member
	members := ra.m.membersOf(sup.Role)
	if len(members) > 0 {
		_, h, _ = ra.m.handleOf(members[0])
	}
	if h == nil {
		ra.record(&Event{Type: EventSupervisorEscalationFailed, Role: sup.Role, Error: fmt.Sprintf("no live member has the supervisor role %q", sup.Role)})
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Escalation: flow %s (run %s) has %d failures.", ra.spec.ID, ra.id, ra.failCount)
	for _, f := range ra.failures {
		fmt.Fprintf(&b, "\n- step %s", f.StepID)
		if f.Member != "" {
			fmt.Fprintf(&b, " (%s, attempt %d)", f.Member, f.Attempt)
		}
		fmt.Fprintf(&b, ": %s: %s", f.Reason, f.Error)
	}
	key := fmt.Sprintf("%s/escalation/%d", ra.id, ra.failCount)
	ra.ask(h.PID(), &actors.Ask{Prompt: b.String(), Key: key})
	ra.escalatingTo = members[0]
	d := 30 * time.Second
	if sup.EscalationTurnTimeoutMS != nil {
		d = time.Duration(*sup.EscalationTurnTimeoutMS) * time.Millisecond
	}
	ra.arm("escalation", key, d, 0)
}

// progressLoop moves a running loop on when its current iteration's body
// is done.
func (ra *runActor) progressLoop(frame string, n *flows.PlanNode) {
	l := ra.loops[nodeID{frame, n.Name()}]
	body := bodyFrame(frame, n.Name(), l.iteration)
	state, reason := ra.progress(body, n.Loop.Body)
	switch state {
	case StepFailed:
		ra.record(&Event{Type: EventLoopCompleted, Frame: frame, Loop: n.Name(), Iteration: l.iteration, Class: "failed",
			Reason: "iteration failed: " + reason, Error: reason})
	case StepCompleted:
		ok, err := n.Loop.Until.Eval(ra.scope.Scope())
		switch {
		case err != nil:
			ra.record(&Event{Type: EventLoopCompleted, Frame: frame, Loop: n.Name(), Iteration: l.iteration, Class: "template", Error: "until: " + err.Error()})
		case ok:
			ra.record(&Event{Type: EventLoopCompleted, Frame: frame, Loop: n.Name(), Iteration: l.iteration, Reason: "until condition held"})
		case l.iteration+1 >= int(n.Loop.MaxIterations):
			msg := fmt.Sprintf("until condition did not hold after %d iterations", n.Loop.MaxIterations)
			ra.record(&Event{Type: EventLoopCompleted, Frame: frame, Loop: n.Name(), Iteration: l.iteration, Class: "exhausted", Reason: msg, Error: msg})
		default:
			ra.record(&Event{Type: EventLoopIterationStarted, Frame: frame, Loop: n.Name(), Iteration: l.iteration + 1})
			ra.progressLoop(frame, n)
		}
	}
}

// decide applies a human decision to an approval step.
func (ra *runActor) decide(msg *decide) error {
	if ra.status.Terminal() {
		return fmt.Errorf("%w: %s", ErrRunFinished, ra.id)
	}
	var st *stepState
	for _, s := range ra.stepOrder {
		if s.id == msg.step && s.status == StepAwaiting {
			st = s
		}
	}
	if st == nil {
		if _, ok := ra.spec.Step(msg.step); !ok {
			return fmt.Errorf("%w: run %s of flow %s has no step %q", ErrStepNotFound, ra.id, ra.spec.ID, msg.step)
		}
		return fmt.Errorf("%w: %q in run %s", ErrNotAwaitingApproval, msg.step, ra.id)
	}
	if ap := st.spec.Mobd.Approval; len(ap.Approvers) > 0 && !slices.Contains(ap.Approvers, msg.d.By) {
		return fmt.Errorf("%w: %q may not decide %q", ErrNotApprover, msg.d.By, msg.step)
	}
	ra.approved(st, msg.d)
	return ra.syncErr()
}

func (ra *runActor) approved(st *stepState, d flows.ApprovalDecision) {
	ra.disarm("approval:" + nodeKey(st.frame, st.id))
	ra.record(&Event{Type: EventApprovalDecided, Frame: st.frame, Step: st.id, Decision: &d})
	out, _ := json.Marshal(d)
	ra.record(&Event{Type: EventStepCompleted, Frame: st.frame, Step: st.id, Output: out})
}

// end ends the run and makes sure the journal holds it before anyone
// hears of it.
func (ra *runActor) end(evType, reason string) {
	for k := range ra.timers {
		ra.disarm(k)
	}
	// The turns of the targets in flight are the run's no more: they get
	// the grace period to finish, then they are cancelled.
	ra.cancelTurns(ra.m.def.Limits.CancelGrace(), ra.inFlight(ra.stepOrder...))
	ra.record(&Event{Type: evType, Reason: reason})
	if err := ra.syncErr(); err != nil {
		ra.m.log.Error("sync journal at the end of a run", zap.String("run", ra.id), zap.Error(err))
	}
	// The outcome is durable and final: the waiters need not wait for the
	// actor to stop.
	ra.publish()
	ra.stopped = true
	ra.ctx.Stop(ra.self)
}

// output returns a step's latest output; r.mu held.
func (ra *runActor) output(step string) json.RawMessage {
	for i := len(ra.stepOrder) - 1; i >= 0; i-- {
		if st := ra.stepOrder[i]; st.id == step && st.status == StepCompleted {
			return st.output
		}
	}
	return nil
}

// snapshot builds the run's Snapshot from its state.
func (ra *runActor) snapshot() Snapshot {
	s := Snapshot{
		RunID: ra.id, FlowID: ra.spec.ID, Status: ra.status, Reason: ra.reason, StartedAt: ra.started, EndedAt: ra.ended,
		Failures: slices.Clone(ra.failures), Outputs: map[string]json.RawMessage{},
		Accounting: Accounting{Attribution: "turn_sum", Members: map[string]rpc.Usage{}, UsageTotal: ra.usage,
			MemberSessionIDs: map[string]string{}},
	}
	if s.Failures == nil {
		s.Failures = []FailureRecord{}
	}
	for k, v := range ra.members {
		s.Accounting.Members[k] = v
	}
	for k, v := range ra.sessions {
		s.Accounting.MemberSessionIDs[k] = v
	}
	s.Steps = make([]StepRecord, 0, len(ra.stepOrder))
	for _, st := range ra.stepOrder {
		rec := StepRecord{StepID: st.id, Frame: st.frame, Status: st.status, Output: st.output, Reason: st.reason, Timestamp: st.at}
		for _, t := range st.targets {
			rec.Targets = append(rec.Targets, TargetRecord{AgentIdentity: t.member, Status: t.status, Attempts: t.attempt, Output: t.output, Error: t.err})
		}
		s.Steps = append(s.Steps, rec)
		if st.status == StepCompleted {
			s.Outputs[st.id] = st.output
		}
	}
	return s
}

func jsonString(s string) json.RawMessage {
	raw, _ := json.Marshal(s)
	return raw
}
