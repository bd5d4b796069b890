package flowtest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/mobd-dev/mobd/actors"
	"github.com/mobd-dev/mobd/mob"
)

// host is the harness's mob.Host: members are scripted actors in the
// harness's actor system.
type host struct{ h *Harness }

func (ho host) System() *actor.ActorSystem { return ho.h.sys }

func (ho host) SpawnMember(_ context.Context, spec actors.MemberSpec) (mob.Member, error) {
	h := ho.h
	id := strings.TrimPrefix(spec.Identity, h.def.ID+"/")
	h.mu.Lock()
	if old := h.members[id]; old != nil && !old.retired {
		h.mu.Unlock()
		return nil, fmt.Errorf("%w: %q", actors.ErrDuplicateMember, spec.Identity)
	}
	h.generations[id]++
	session := spec.SessionID
	if session == "" {
		session = fmt.Sprintf("session-%s-%d", id, h.generations[id])
	}
	m := &scripted{
		h: h, identity: id, qualified: spec.Identity, role: spec.Role, session: session,
		peers: map[string]bool{}, keys: map[string]*keyed{}, stopped: make(chan struct{}),
	}
	for _, p := range spec.Peers {
		m.peers[p] = true
	}
	h.members[id] = m
	h.mu.Unlock()
	m.pid = h.sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return &memberActor{m} }))
	return m, nil
}

// scripted is a scripted member. Its state is guarded by the harness's mu.
type scripted struct {
	h         *Harness
	identity  string // in the mob
	qualified string // engine-wide, as a real member's
	role      string
	session   string
	pid       *actor.PID

	peers   map[string]bool
	turns   int
	retired bool
	keys    map[string]*keyed // idempotency key → its answer
	stopped chan struct{}
}

// keyed is the answer of an idempotency key: pending (delivery set, or
// nil for an ask never answered) or answered.
type keyed struct {
	delivery *delivery
	answer   *actors.Answer
}

// delivery is an answer waiting in the harness's outbox.
type delivery struct {
	m      *scripted
	key    string // idempotency key, "" for none
	order  string // release order among deliveries due at once
	due    time.Time
	never  bool
	answer *actors.Answer
	to     []*actor.PID
	again  bool // re-sends a remembered answer to a duplicate ask
}

// Identity implements mob.Member.
func (m *scripted) Identity() string { return m.qualified }

// PID implements mob.Member.
func (m *scripted) PID() *actor.PID { return m.pid }

// SessionID implements mob.Member.
func (m *scripted) SessionID() string { return m.session }

// Retire implements mob.Member: the member answers what it still holds
// with a member_retired failure, refuses new asks and stops.
func (m *scripted) Retire(ctx context.Context) error {
	f := m.h.sys.Root.RequestFuture(m.pid, &actors.RetireMember{}, requestTimeout)
	if _, err := f.Result(); err != nil {
		select {
		case <-m.stopped:
			return nil
		default:
		}
		return fmt.Errorf("flowtest: retire %s: %w", m.identity, err)
	}
	select {
	case <-m.stopped:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// state returns the member's state; h.mu held.
func (m *scripted) stateLocked() *actors.MemberState {
	pending := 0
	for _, k := range m.keys {
		if k.answer == nil {
			pending++
		}
	}
	return &actors.MemberState{
		Identity: m.qualified, Role: m.role, SessionID: m.session, Runtime: "flowtest",
		Peers: slices.Sorted(maps.Keys(m.peers)), Turns: m.turns, Pending: pending, Retired: m.retired,
	}
}

func (m *scripted) failure(code, msg string) *actors.Answer {
	return &actors.Answer{Identity: m.qualified, SessionID: m.session, Error: &actors.Failure{Code: code, Message: msg, SessionID: m.session}}
}

// memberActor is a scripted member's actor.
type memberActor struct{ m *scripted }

// Receive implements actor.Actor.
func (a *memberActor) Receive(c actor.Context) {
	m, h := a.m, a.m.h
	switch msg := c.Message().(type) {
	case *actor.Stopped:
		close(m.stopped)
	case *actors.Ask:
		h.ask(m, c.Sender(), msg)
	case *actors.WirePeer:
		h.mu.Lock()
		if msg.Peer != "" && msg.Peer != m.qualified {
			m.peers[msg.Peer] = true
		}
		st := m.stateLocked()
		h.mu.Unlock()
		c.Respond(st)
	case *actors.UnwirePeer:
		h.mu.Lock()
		delete(m.peers, msg.Peer)
		st := m.stateLocked()
		h.mu.Unlock()
		c.Respond(st)
	case *actors.GetState:
		h.mu.Lock()
		st := m.stateLocked()
		h.mu.Unlock()
		c.Respond(st)
	case *actors.CancelAsk:
		h.cancelAsk(m, msg.Key)
	case *actors.WaitAsk:
		h.mu.Lock()
		k := m.keys[msg.Key]
		switch {
		case msg.Key == "" || k == nil:
			a := m.failure(actors.CodeUnknownAsk, fmt.Sprintf("flowtest: member %q runs no turn for key %q", m.identity, msg.Key))
			a.Key = msg.Key
			c.Respond(a)
		case k.answer != nil:
			c.Respond(k.answer)
		case k.delivery != nil:
			k.delivery.to = append(k.delivery.to, c.Sender())
		}
		h.mu.Unlock()
	case *actors.RetireMember:
		h.mu.Lock()
		m.retired = true
		for key, k := range m.keys {
			if k.answer != nil || k.delivery == nil {
				continue
			}
			d := k.delivery
			d.never, d.due = false, h.clock.Now()
			d.answer = m.failure(actors.CodeMemberRetired, fmt.Sprintf("flowtest: member %q retired", m.identity))
			d.answer.Key = key
		}
		st := m.stateLocked()
		h.mu.Unlock()
		c.Respond(st)
		h.kickNow()
		c.Stop(c.Self())
	}
}

// cancelAsk cancels the turn of the ask with key, as a real member does:
// its answer, if it is still to come, is a canceled failure, due now, and
// its call is marked Canceled.
func (h *Harness) cancelAsk(m *scripted, key string) {
	h.mu.Lock()
	defer h.kickNow()
	defer h.mu.Unlock()
	k := m.keys[key]
	if key == "" || k == nil || k.answer != nil || k.delivery == nil {
		return
	}
	d := k.delivery
	d.never, d.due = false, h.clock.Now()
	d.answer = m.failure(actors.CodeCanceled, fmt.Sprintf("flowtest: member %q: turn cancelled", m.identity))
	d.answer.Key = key
	if !slices.Contains(h.outbox, d) {
		h.outbox = append(h.outbox, d)
	}
	for i := range h.calls {
		if c := &h.calls[i]; c.Member == m.identity && c.Key == key && !c.Duplicate {
			c.Canceled = true
		}
	}
}

// ask handles an ask to a scripted member: it records the call, picks the
// reply and puts the answer in the outbox.
func (h *Harness) ask(m *scripted, sender *actor.PID, ask *actors.Ask) {
	prompt := ask.Prompt
	if ask.Content != nil {
		prompt = ask.Content.String()
	}
	h.mu.Lock()
	defer h.kickNow()
	defer h.mu.Unlock()
	now := h.clock.Now()
	c := Call{
		Member: m.identity, Role: m.role, Prompt: prompt, Key: ask.Key, OutputSchema: ask.OutputSchema,
		ToolOverlay: ask.ToolOverlay, From: strings.TrimPrefix(ask.From, h.def.ID+"/"), At: now,
	}
	parseKey(&c, ask.Key, h.runIDsLocked())
	h.seq++
	// Deliveries due at once go out in key order, with "/" sorting first so
	// that member "a" comes before "a-2", as the executor orders members.
	order := strings.ReplaceAll(ask.Key, "/", "\x01") + fmt.Sprintf("\x00%020d", h.seq)
	d := &delivery{m: m, key: ask.Key, order: order, due: now, to: []*actor.PID{sender}}
	if ask.Key == "" {
		d.order = fmt.Sprintf("\xff%020d", h.seq)
	}
	if m.retired {
		h.calls = append(h.calls, c)
		d.answer = m.failure(actors.CodeMemberRetired, fmt.Sprintf("flowtest: member %q retired", m.identity))
		d.answer.Key = ask.Key
		h.outbox = append(h.outbox, d)
		return
	}
	if k := m.keys[ask.Key]; ask.Key != "" && k != nil {
		c.Duplicate = true
		h.calls = append(h.calls, c)
		switch {
		case k.answer != nil:
			d.answer, d.again = k.answer, true
			h.outbox = append(h.outbox, d)
		case k.delivery != nil:
			k.delivery.to = append(k.delivery.to, sender)
		}
		return
	}
	h.calls = append(h.calls, c)
	r := Reply{}
	matched := false
	for i := len(h.scripts) - 1; i >= 0; i-- {
		if s := h.scripts[i]; s.match.matches(c) {
			r, matched = s.next(), true
			break
		}
	}
	if !matched {
		r = defaultReply(c)
	}
	for r.fn != nil {
		r = r.fn(c)
	}
	a := &actors.Answer{Identity: m.qualified, SessionID: m.session, Key: ask.Key, Usage: r.Usage}
	if r.Error != nil {
		f := *r.Error
		if f.SessionID == "" {
			f.SessionID = m.session
		}
		a.Error = &f
	} else {
		a.Text, a.Output, a.ExtractionError = r.Text, r.Output, r.ExtractionError
	}
	d.answer, d.never, d.due = a, r.NoAnswer, now.Add(r.Delay)
	if ask.Key != "" {
		m.keys[ask.Key] = &keyed{delivery: d}
	}
	if r.NoAnswer {
		if ask.Key == "" {
			// Nothing to remember it by: it just never comes.
			return
		}
	}
	h.outbox = append(h.outbox, d)
	if r.Delay > 0 && !r.NoAnswer && !h.stopped {
		// A timer on the clock, so that Advance stops at the answer's
		// moment and the answer goes out however the clock is moved.
		tm := h.tclock.NewTimer(r.Delay)
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			select {
			case <-tm.C():
				h.kickNow()
				tm.Stop() // handled: see trackingClock
			case <-h.stop:
				tm.Stop()
			}
		}()
	}
}

// deliverLocked sends a due answer to whoever waits for it; h.mu held.
func (h *Harness) deliverLocked(d *delivery) {
	h.outbox = slices.DeleteFunc(h.outbox, func(x *delivery) bool { return x == d })
	m := d.m
	if !d.again {
		if d.answer.Error == nil {
			m.turns++
		}
		if k := m.keys[d.key]; d.key != "" && k != nil && k.delivery == d {
			k.delivery = nil
			if d.answer.Error == nil {
				k.answer = d.answer
			} else {
				delete(m.keys, d.key) // a failed turn runs again, as a real member's
			}
		}
	}
	for _, pid := range d.to {
		if pid != nil {
			h.sys.Root.Send(pid, d.answer)
		}
	}
}
