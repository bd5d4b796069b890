package flowtest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/mobd-dev/mobd/actors"
	"github.com/mobd-dev/mobd/flows"
	"github.com/mobd-dev/mobd/journal"
	"github.com/mobd-dev/mobd/mob"
	"github.com/mobd-dev/mobd/supervision/supervisiontest"
)

const (
	// requestTimeout bounds the harness's own requests to actors.
	requestTimeout = 10 * time.Second
	// waitTimeout bounds, in real time, how long a harness call waits for
	// the mob to settle: far more than any flow on scripted members needs.
	waitTimeout = 30 * time.Second
	// barrierStep is the step id of the no-op decision the harness sends a
	// run actor to learn that it has handled everything sent before: no
	// step has this id, so the run answers ErrNotAwaitingApproval and
	// changes nothing.
	barrierStep = "\x00flowtest-barrier"
)

// Config configures a [Harness]. The zero Config is a harness without
// members, whose clock starts at 2024-01-01 00:00 UTC.
type Config struct {
	// Members are spawned, in order, once the mob is created.
	Members []mob.SpawnSpec
	// Start is the fake clock's start; zero means 2024-01-01 00:00 UTC.
	Start time.Time
	// Logger receives the mob's logs; nil means none.
	Logger *zap.Logger
}

// Harness runs a mob of a definition on scripted members, a fake clock and
// an in-memory journal, for tests of flows without runtimes. Create one
// with [New]; everything it started is stopped when the test ends.
//
// Scripted members answer every ask through the harness, which releases
// the answers one at a time, in a deterministic order (by due time on the
// fake clock, then by the ask's idempotency key), each once the mob has
// handled everything that came before: so a run's events come in the same
// order on every run of a test, and a golden file of them is stable.
//
// Harness methods report failures with t.Fatal and must be called from the
// test's goroutine, except Calls, Script and Clock, which are safe for
// concurrent use.
type Harness struct {
	t       testing.TB
	def     *flows.Definition
	ctx     context.Context
	sys     *actor.ActorSystem
	journal *journal.Store
	clock   *supervisiontest.FakeClock
	tclock  *trackingClock
	mob     *mob.Mob

	mu          sync.Mutex
	members     map[string]*scripted // identity → its latest member
	generations map[string]int
	scripts     []*script
	calls       []Call
	outbox      []*delivery
	seq         uint64
	runSeq      int
	runs        []string // ids the harness gave to runs
	waiters     []chan struct{}
	stopped     bool

	kick chan struct{}
	stop chan struct{}
	wg   sync.WaitGroup
}

// New returns a harness for def: an actor system, an in-memory journal, a
// fake clock, a Host of scripted members and a mob of def created on them
// (with cfg.Members spawned). Run ids are "run-1", "run-2", … in start
// order. Everything is stopped at the end of the test (t.Cleanup).
func New(t testing.TB, def *flows.Definition, cfg Config) *Harness {
	t.Helper()
	if def == nil {
		t.Fatalf("flowtest: nil definition")
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	j, err := journal.Open(ctx, ":memory:", journal.Options{})
	if err != nil {
		t.Fatalf("flowtest: open journal: %v", err)
	}
	t.Cleanup(func() { j.Close() })
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.DiscardHandler)
	}))
	t.Cleanup(sys.Shutdown)
	// The mob validates its definition, and validation writes to the
	// definition's flows: give it a copy, so that tests may share def.
	def = def.WithInlineSchemas()
	fc := supervisiontest.NewFakeClock(cfg.Start)
	h := &Harness{
		t: t, def: def, ctx: ctx, sys: sys, journal: j, clock: fc, tclock: newTrackingClock(fc),
		members: map[string]*scripted{}, generations: map[string]int{},
		kick: make(chan struct{}, 1), stop: make(chan struct{}),
	}
	m, err := mob.Create(ctx, def, mob.Config{
		Host: host{h}, Journal: j, Clock: h.tclock, Logger: cfg.Logger,
		NewID: func() string {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.runSeq++
			id := fmt.Sprintf("run-%d", h.runSeq)
			h.runs = append(h.runs, id)
			return id
		},
	})
	if err != nil {
		t.Fatalf("flowtest: create mob: %v", err)
	}
	h.mob = m
	h.wg.Add(1)
	go h.scheduler()
	t.Cleanup(func() {
		h.mu.Lock()
		h.stopped = true // no more goroutines (see ask)
		h.mu.Unlock()
		close(h.stop)
		h.wg.Wait()
	})
	t.Cleanup(m.Close) // first: the run actors stop before the scheduler
	for _, s := range cfg.Members {
		h.Spawn(s.Profile, s.Identity)
	}
	return h
}

// Mob returns the harness's mob.
func (h *Harness) Mob() *mob.Mob { return h.mob }

// Clock returns the fake clock the mob and the members run on. Move it
// with [Harness.Advance], which lets the mob settle between timers; timers
// that Clock().Advance fires together go off in no particular order.
func (h *Harness) Clock() *supervisiontest.FakeClock { return h.clock }

// Journal returns the in-memory journal of the mob's events.
func (h *Harness) Journal() *journal.Store { return h.journal }

// Context returns a context that ends with the test.
func (h *Harness) Context() context.Context { return h.ctx }

// Spawn spawns a member of profile; identity "" takes the mob's default
// (the profile's name, then profile-2, …). It returns the identity.
func (h *Harness) Spawn(profile, identity string) string {
	h.t.Helper()
	info, err := h.mob.Spawn(h.ctx, mob.SpawnSpec{Profile: profile, Identity: identity})
	if err != nil {
		h.t.Fatalf("flowtest: spawn %s: %v", profile, err)
	}
	return info.Identity
}

// Script adds a script: the asks m matches get replies in turn, one per
// distinct ask (a duplicate of an idempotency key gets the first ask's
// answer), the last reply repeating. When several scripts match an ask,
// the one added last wins; an ask no script matches gets the default
// reply: the text "<member>: <prompt>", and, when the ask wants
// structured output, the smallest value of its schema's simple forms
// (objects with their required properties, strings, numbers, booleans,
// arrays, enums and consts).
func (h *Harness) Script(m Match, replies ...Reply) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.scripts = append(h.scripts, &script{match: m, replies: replies})
}

// Calls returns every ask the members got, in the order they got them.
func (h *Harness) Calls() []Call {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.calls)
}

// CallsTo returns the asks of one step (all asks for step "").
func (h *Harness) CallsTo(step string) []Call {
	var out []Call
	for _, c := range h.Calls() {
		if step == "" || c.Step == step {
			out = append(out, c)
		}
	}
	return out
}

// Ask sends ask to a member, as a caller outside the mob would, and
// returns the channel its answer comes on. The answer goes out like any
// other (see Harness), so it may need Settle or Advance before it comes.
func (h *Harness) Ask(identity string, ask *actors.Ask) <-chan *actors.Answer {
	h.t.Helper()
	h.mu.Lock()
	m := h.members[identity]
	h.mu.Unlock()
	if m == nil {
		h.t.Fatalf("flowtest: no member %q", identity)
	}
	ch := make(chan *actors.Answer, 1)
	inbox := h.sys.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		if a, ok := c.Message().(*actors.Answer); ok {
			ch <- a
			c.Stop(c.Self())
		}
	}))
	h.sys.Root.RequestWithCustomSender(m.pid, ask, inbox)
	return ch
}

// Run starts a run of one of the definition's flows with params.
func (h *Harness) Run(flowID string, params any) *mob.Run {
	h.t.Helper()
	r, err := h.mob.RunFlow(h.ctx, flowID, params, mob.RunOptions{})
	if err != nil {
		h.t.Fatalf("flowtest: run %s: %v", flowID, err)
	}
	return r
}

// RunSpec starts a run of a flow given as a spec (such as a Go DSL flow's
// Spec) with params.
func (h *Harness) RunSpec(spec flows.FlowSpec, params any) *mob.Run {
	h.t.Helper()
	r, err := h.mob.RunSpec(h.ctx, spec, params, mob.RunOptions{})
	if err != nil {
		h.t.Fatalf("flowtest: run %s: %v", spec.ID, err)
	}
	return r
}

// Settle returns once the mob has handled everything that can happen
// without the clock moving or someone deciding: every answer due has been
// delivered and handled.
func (h *Harness) Settle() {
	h.t.Helper()
	ch := make(chan struct{})
	h.mu.Lock()
	h.waiters = append(h.waiters, ch)
	h.mu.Unlock()
	h.kickNow()
	select {
	case <-ch:
	case <-time.After(waitTimeout):
		h.t.Fatalf("flowtest: the mob did not settle within %s", waitTimeout)
	}
}

// Wait settles the mob and returns the run's outcome, as [mob.Run.Wait]:
// its final snapshot, and a *mob.RunError unless it completed. It fails
// the test when the run has not ended by then: it waits for the clock
// (see [Harness.Advance] and [Harness.Finish]) or for a decision.
func (h *Harness) Wait(run *mob.Run) (mob.Snapshot, error) {
	h.t.Helper()
	h.Settle()
	if !run.Status().Status.Terminal() {
		h.t.Fatalf("flowtest: run %s is idle and has not ended: %s", run.ID(), h.blocked(run))
	}
	return h.waitDone(run)
}

// Finish is Wait for runs that wait for the clock: whenever the mob is
// idle and the run has not ended, it moves the fake clock to the next
// timer (a step timeout, a retry backoff, a delayed answer, …), until the
// run ends. It fails the test when the run waits for nothing the clock
// can bring (a decision, an answer that never comes without a timeout).
func (h *Harness) Finish(run *mob.Run) (mob.Snapshot, error) {
	h.t.Helper()
	for range 100000 {
		h.Settle()
		if run.Status().Status.Terminal() {
			return h.waitDone(run)
		}
		at, ok := h.tclock.next()
		if !ok {
			h.t.Fatalf("flowtest: run %s is idle, has not ended and no timer is armed: %s", run.ID(), h.blocked(run))
		}
		h.clock.Advance(at.Sub(h.clock.Now()))
	}
	h.t.Fatalf("flowtest: run %s did not end after 100000 timers", run.ID())
	return mob.Snapshot{}, nil
}

// Advance moves the fake clock forward by d, from timer to timer: at each
// timer's moment the mob settles before time moves on, so a retry whose
// backoff and next timeout both fall within d happen in order.
func (h *Harness) Advance(d time.Duration) {
	h.t.Helper()
	end := h.clock.Now().Add(d)
	for {
		h.Settle()
		at, ok := h.tclock.next()
		if !ok || at.After(end) {
			break
		}
		h.clock.Advance(at.Sub(h.clock.Now()))
	}
	if left := end.Sub(h.clock.Now()); left > 0 {
		h.clock.Advance(left)
	}
	h.Settle()
}

// WaitEvent settles the mob and returns the first event of the run that
// match accepts; it fails the test if there is none.
func (h *Harness) WaitEvent(run *mob.Run, match func(mob.Event) bool) mob.Event {
	h.t.Helper()
	h.Settle()
	for _, ev := range h.Events(run) {
		if match(ev) {
			return ev
		}
	}
	h.t.Fatalf("flowtest: run %s has no such event: %s", run.ID(), h.blocked(run))
	return mob.Event{}
}

// Events returns the run's events so far.
func (h *Harness) Events(run *mob.Run) []mob.Event {
	h.t.Helper()
	evs, err := h.mob.RunEvents(h.ctx, run.ID(), 0)
	if err != nil {
		h.t.Fatalf("flowtest: events of %s: %v", run.ID(), err)
	}
	return evs
}

func (h *Harness) waitDone(run *mob.Run) (mob.Snapshot, error) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(h.ctx, waitTimeout)
	defer cancel()
	snap, err := run.Wait(ctx)
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
		h.t.Fatalf("flowtest: run %s ended but was not released within %s", run.ID(), waitTimeout)
	}
	return snap, err
}

// blocked describes what an idle run waits for.
func (h *Harness) blocked(run *mob.Run) string {
	snap := run.Status()
	var parts []string
	for _, st := range snap.Steps {
		switch st.Status {
		case mob.StepDispatched:
			var who []string
			for _, t := range st.Targets {
				if t.Status == mob.StepDispatched {
					who = append(who, t.AgentIdentity)
				}
			}
			parts = append(parts, fmt.Sprintf("step %s waits for %s", st.StepID, strings.Join(who, ", ")))
		case mob.StepAwaiting:
			parts = append(parts, fmt.Sprintf("step %s awaits a decision", st.StepID))
		}
	}
	if at, ok := h.tclock.next(); ok {
		parts = append(parts, fmt.Sprintf("next timer in %s", at.Sub(h.clock.Now())))
	} else {
		parts = append(parts, "no timer armed")
	}
	return fmt.Sprintf("status %s; %s", snap.Status, strings.Join(parts, "; "))
}

// --- the scheduler ------------------------------------------------------------

func (h *Harness) kickNow() {
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

// scheduler releases answers, one at a time, each once the mob has
// settled, and tells Settle callers when nothing is left to release.
func (h *Harness) scheduler() {
	defer h.wg.Done()
	for {
		select {
		case <-h.kick:
		case <-h.stop:
			return
		}
		h.mu.Lock()
		waiters := h.waiters
		h.waiters = nil
		h.mu.Unlock()
		for {
			if !h.settle() {
				return
			}
			h.mu.Lock()
			d := h.nextDueLocked()
			if d != nil {
				h.deliverLocked(d)
			}
			h.mu.Unlock()
			if d == nil {
				break
			}
		}
		for _, w := range waiters {
			close(w)
		}
	}
}

// nextDueLocked returns the delivery to release next: the earliest due,
// then the first by order; h.mu held.
func (h *Harness) nextDueLocked() *delivery {
	now := h.clock.Now()
	var best *delivery
	for _, d := range h.outbox {
		if d.never || d.due.After(now) {
			continue
		}
		if best == nil || d.due.Before(best.due) || (d.due.Equal(best.due) && d.order < best.order) {
			best = d
		}
	}
	return best
}

// settle waits until the mob is quiet: every timer that fired has been
// handled, every member has handled its mailbox, every active run actor
// has handled its own, and two such rounds in a row changed nothing (no
// event journalled, no ask received). It returns false when the harness
// stops.
func (h *Harness) settle() bool {
	stable := 0
	for stable < 2 {
		for h.tclock.unhandled() {
			select {
			case <-h.stop:
				return false
			case <-time.After(50 * time.Microsecond):
			}
		}
		before := h.fingerprint()
		h.mu.Lock()
		var live []*scripted
		for _, m := range h.members {
			if !m.retired {
				live = append(live, m)
			}
		}
		h.mu.Unlock()
		for _, m := range live {
			if !h.barrier(m) {
				return false
			}
		}
		if h.mob != nil {
			for _, r := range h.mob.Runs() {
				select {
				case <-r.Done():
					continue
				case <-h.stop:
					return false
				default:
				}
				// A decision on a live run goes through its actor's
				// mailbox, even for a step the flow does not have: its
				// answer means the actor handled what came before.
				ctx, cancel := context.WithTimeout(h.ctx, requestTimeout)
				_ = r.Decide(ctx, barrierStep, flows.ApprovalDecision{By: "flowtest"})
				cancel()
			}
		}
		select {
		case <-h.stop:
			return false
		default:
		}
		if h.fingerprint() == before {
			stable++
		} else {
			stable = 0
		}
	}
	return true
}

// barrier returns once member m has handled what its mailbox held, or
// has stopped; false when the harness stops.
func (h *Harness) barrier(m *scripted) bool {
	got := make(chan struct{}, 1)
	inbox := h.sys.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		if _, ok := c.Message().(*actors.MemberState); ok {
			got <- struct{}{}
		}
	}))
	defer h.sys.Root.Stop(inbox)
	h.sys.Root.RequestWithCustomSender(m.pid, &actors.GetState{}, inbox)
	select {
	case <-got:
	case <-m.stopped: // a stopping actor drops its mail
	case <-h.stop:
		return false
	}
	return true
}

type fingerprint struct {
	seq            uint64
	calls, pending int
}

func (h *Harness) fingerprint() fingerprint {
	h.mu.Lock()
	defer h.mu.Unlock()
	return fingerprint{seq: h.journal.LastSeq(), calls: len(h.calls), pending: len(h.outbox)}
}

// runIDsLocked returns the ids of the runs started through the harness
// or with an id the harness gave; h.mu held. (Asking the mob would take
// its lock from a member's actor.)
func (h *Harness) runIDsLocked() []string { return h.runs }
