package actors

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/mobd-dev/mobd/internal/dispatch"
	"github.com/mobd-dev/mobd/rpc"
)

// MemberRef is a handle on a member actor: a mob member with an identity,
// a role and profile, a session and peers. Its methods send the member's
// serialisable messages ([Ask], [PeerMessage], [WirePeer], …) and wait for
// the reply; [MemberRef.PID] lets other actors message it directly. It is
// safe for concurrent use.
type MemberRef struct {
	e        *Engine
	identity string
	pid      *actor.PID
	session  *SessionRef
	stopped  chan struct{}
}

// Identity returns the member's identity.
func (m *MemberRef) Identity() string { return m.identity }

// PID returns the member actor's PID.
func (m *MemberRef) PID() *actor.PID { return m.pid }

// Session returns the member's session.
func (m *MemberRef) Session() *SessionRef { return m.session }

// Ask runs a turn with prompt in the member's session and returns the
// member's answer. A failed turn is an error matching the sentinel of
// [Answer.Error] (see [Failure.Err]); the answer is returned with it.
// Cancelling ctx stops waiting; the turn still runs.
func (m *MemberRef) Ask(ctx context.Context, prompt string) (*Answer, error) {
	return m.answer(ctx, &Ask{Prompt: prompt})
}

// AskWith is Ask with every field of the [Ask] message: multimodal
// content, an idempotency key, an output schema, a tool overlay.
func (m *MemberRef) AskWith(ctx context.Context, ask *Ask) (*Answer, error) {
	return m.answer(ctx, ask)
}

// Send has the member send body to its peer to, which runs it as a turn;
// it returns the peer's answer. It fails with [ErrNotPeer] unless the two
// are wired.
func (m *MemberRef) Send(ctx context.Context, to, body string) (*Answer, error) {
	return m.answer(ctx, &PeerMessage{To: to, Body: body})
}

func (m *MemberRef) answer(ctx context.Context, msg any) (*Answer, error) {
	if err := m.gone(); err != nil {
		return nil, err
	}
	r, err := m.e.request(ctx, m.pid, msg)
	if err != nil {
		return nil, m.goneErr(ctx, err)
	}
	a := r.(*Answer)
	return a, a.Error.Err()
}

// gone returns why the member cannot be asked anything, or nil.
func (m *MemberRef) gone() error {
	select {
	case <-m.stopped:
		if !m.e.stopping.Load() {
			return fmt.Errorf("%w: %q", ErrMemberRetired, m.identity)
		}
		return ErrEngineStopped
	default:
	}
	if m.e.stopping.Load() {
		return ErrEngineStopped
	}
	return nil
}

// goneErr reports a request to a member that already stopped as retired.
// A request that became a dead letter (ErrEngineStopped while the engine
// runs) found the actor gone from protoactor's registry, which it leaves
// just before it closes m.stopped: goneErr waits for that (or ctx).
func (m *MemberRef) goneErr(ctx context.Context, err error) error {
	if errors.Is(err, ErrEngineStopped) && !m.e.stopping.Load() {
		select {
		case <-m.stopped:
		case <-ctx.Done():
		}
	}
	select {
	case <-m.stopped:
		if !m.e.stopping.Load() {
			return fmt.Errorf("%w: %q", ErrMemberRetired, m.identity)
		}
	default:
	}
	return err
}

// Wire wires the member and peer to each other.
func (m *MemberRef) Wire(ctx context.Context, peer string) error {
	other := m.e.Member(peer)
	if other == nil {
		return fmt.Errorf("%w: %q", ErrMemberNotFound, peer)
	}
	if _, err := m.state(ctx, &WirePeer{Peer: peer}); err != nil {
		return err
	}
	_, err := other.state(ctx, &WirePeer{Peer: m.identity})
	return err
}

// Unwire removes the wiring between the member and peer, both ways.
func (m *MemberRef) Unwire(ctx context.Context, peer string) error {
	if _, err := m.state(ctx, &UnwirePeer{Peer: peer}); err != nil {
		return err
	}
	if other := m.e.Member(peer); other != nil {
		_, err := other.state(ctx, &UnwirePeer{Peer: m.identity})
		return err
	}
	return nil
}

// State returns the member's state.
func (m *MemberRef) State(ctx context.Context) (*MemberState, error) {
	return m.state(ctx, &GetState{})
}

// Retire retires the member (see [RetireMember]) and returns once it has
// answered the asks it accepted and stopped, or ctx is done. Its identity
// can then be reused.
func (m *MemberRef) Retire(ctx context.Context) error {
	if _, err := m.state(ctx, &RetireMember{}); err != nil {
		return err
	}
	select {
	case <-m.stopped:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (m *MemberRef) state(ctx context.Context, msg any) (*MemberState, error) {
	if err := m.gone(); err != nil {
		return nil, err
	}
	r, err := m.e.request(ctx, m.pid, msg)
	if err != nil {
		return nil, m.goneErr(ctx, err)
	}
	st := r.(*MemberState)
	return st, st.Error.Err()
}

// SpawnMember starts a member actor: it creates the member's session (or
// attaches to spec.SessionID) through a session actor, then wires the
// member to the running members among spec.Peers. ctx bounds the session's
// creation or attachment.
func (e *Engine) SpawnMember(ctx context.Context, spec MemberSpec) (*MemberRef, error) {
	if err := e.enter(); err != nil {
		return nil, err
	}
	defer e.tracker.done()
	if strings.TrimSpace(spec.Identity) == "" {
		return nil, fmt.Errorf("%w: member identity is empty", rpc.ErrInvalidArgs)
	}
	ref := &MemberRef{e: e, identity: spec.Identity, stopped: make(chan struct{})}
	e.mu.Lock()
	if _, ok := e.members[spec.Identity]; ok {
		e.mu.Unlock()
		return nil, fmt.Errorf("%w: %q", ErrDuplicateMember, spec.Identity)
	}
	e.members[spec.Identity] = ref // reserved; pid set below
	e.mu.Unlock()
	release := func() {
		e.mu.Lock()
		if e.members[spec.Identity] == ref {
			delete(e.members, spec.Identity)
		}
		e.mu.Unlock()
	}

	var err error
	if spec.SessionID != "" {
		ref.session, err = e.Session(ctx, spec.SessionID)
	} else {
		prompt := spec.Prompt
		if prompt == "" {
			prompt = fmt.Sprintf("You are %s, a member of a team of agents.", spec.Identity)
			if spec.Role != "" {
				prompt += " Your role: " + spec.Role + "."
			}
			if spec.Profile != "" {
				prompt += " Your profile: " + spec.Profile + "."
			}
		}
		labels := maps.Clone(spec.Session.Labels)
		if labels == nil {
			labels = make(map[string]string, 2+len(spec.Labels))
		}
		maps.Copy(labels, spec.Labels)
		labels["mobd_member"] = spec.Identity
		if spec.Role != "" {
			labels["mobd_role"] = spec.Role
		}
		opts := spec.Session
		opts.Labels = labels
		if spec.SystemPrompt != "" {
			opts.SystemPrompt = spec.SystemPrompt
		}
		if spec.Model != "" {
			opts.Model = spec.Model
		}
		if spec.Provider != "" {
			opts.Provider = spec.Provider
		}
		ref.session, err = e.CreateSession(ctx, rpc.Text(prompt), opts)
	}
	if err != nil {
		release()
		return nil, err
	}

	a := &memberActor{
		e: e, ref: ref, spec: spec, peers: make(map[string]bool), asks: make(map[uint64]*pendingAsk),
		keys: make(map[string]*keyedAsk), turns: spec.Turns,
	}
	for _, p := range spec.Peers {
		if p != spec.Identity {
			a.peers[p] = true
		}
	}
	e.memberActors.Add(1)
	pid, err := e.system.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return a }, actor.WithDispatcher(e.dispatch), actor.WithMailbox(memberMailbox)), "member-"+fmt.Sprint(e.seq.Add(1)))
	if err != nil {
		e.memberActors.Done()
		release()
		ref.session.Release()
		return nil, fmt.Errorf("actors: spawn member actor: %w", err)
	}
	e.mu.Lock()
	ref.pid = pid
	e.mu.Unlock()
	for p := range a.peers {
		if other := e.Member(p); other != nil {
			if _, err := other.state(ctx, &WirePeer{Peer: spec.Identity}); err != nil {
				e.log.Warn("wire peer back", zap.String("member", spec.Identity), zap.String("peer", p), zap.Error(err))
			}
		}
	}
	return ref, nil
}

// Member returns the running member with identity, or nil.
func (e *Engine) Member(identity string) *MemberRef {
	e.mu.Lock()
	defer e.mu.Unlock()
	m := e.members[identity]
	if m == nil || m.pid == nil {
		return nil
	}
	return m
}

// Members returns the identities of the running members, sorted.
func (e *Engine) Members() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for id, m := range e.members {
		if m.pid != nil {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// memberMailbox runs an Ask posted to an idle member on its poster's
// goroutine (see dispatch.Mailbox): a flow run's actor, a user's request,
// a member passing on a peer message. The member's handling of an ask only
// posts on (to its session actor), and no Ask is posted by a connection's
// reader or under a lock the member takes.
// A member stops itself behind the messages already queued (see
// selfStop), so its mailbox is stopAware.
var memberMailbox = stopAware(dispatch.Mailbox(func(msg any) bool {
	_, ok := msg.(*Ask)
	return ok
}))

// memberActor is a mob member: it owns its identity, role, profile and
// peers, and runs its turns through its session actor, answering each ask
// to its sender.
type memberActor struct {
	e    *Engine
	ref  *MemberRef
	spec MemberSpec

	peers    map[string]bool
	asks     map[uint64]*pendingAsk // session turn seq → who asked
	keys     map[string]*keyedAsk   // idempotency key → its turn
	keyOrder []string               // answered keys, oldest first
	turns    int
	retired  bool
	stopping bool
	selfStop // a retired member stops once it answered every ask
	// answeredDirect lists the asks the connection's reader answered
	// itself (see directAnswer), for the actor to settle.
	answeredDirect atomic.Pointer[directAnswer]
}

// directAnswer lets the connection's reader answer an ask whose turn
// succeeded straight to the asker, saving the answer a hop through the
// member's mailbox, unless the member waits for the turn's end (a
// duplicate of its key waits, or the member retires or stops): the reader
// then sends the member the turn's reply as usual. The member settles a
// direct answer (its bookkeeping) at its next message (see quietEnd).
type directAnswer struct {
	member *memberActor
	to     *actor.PID
	seq    uint64
	key    string
	end    quietEnd
	ans    *Answer       // set by the reader before it answers
	next   *directAnswer // answeredDirect's link
}

// deliver answers the ask from the connection's reader with the result of
// its turn, unless the member waits for it; it reports whether it did.
func (d *directAnswer) deliver(r *TurnResult) bool {
	m := d.member
	d.ans = answerOf(m.spec.Identity, r)
	d.ans.Key = d.key
	// Listed before it can be seen done, so that a member that finds it
	// done finds it listed; settleDirect drops it if it ends otherwise.
	m.listDirect(d)
	if !d.end.answered() {
		return false
	}
	idle := m.e.tracker.done()
	m.e.system.Root.Send(d.to, d.ans)
	if idle {
		// No other turn or operation of the engine is in flight, so
		// nothing waits for this reader: it lets the asker it just woke
		// have its thread, and the asker starts at once rather than when a
		// sleeping thread wakes up (about 45 us per flow run of 10 steps).
		// Under load it does not: there the hand-off costs throughput.
		runtime.Gosched()
	}
	return true
}

// settleDirect completes the bookkeeping of the asks the reader answered.
func (a *memberActor) settleDirect(c actor.Context) {
	d := a.answeredDirect.Swap(nil)
	if d == nil {
		return
	}
	for d != nil {
		next := d.next
		switch d.end.load() {
		case quietRunning:
			// Listed by a reader that has not answered yet: keep it.
			a.listDirect(d)
		case quietDone:
			if a.asks[d.seq] != nil {
				delete(a.asks, d.seq)
				a.turns++
				a.remember(d.key, d.ans)
			}
		}
		d = next
	}
	a.stopIfIdle(c)
}

// listDirect adds d to answeredDirect.
func (a *memberActor) listDirect(d *directAnswer) {
	for {
		head := a.answeredDirect.Load()
		d.next = head
		if a.answeredDirect.CompareAndSwap(head, d) {
			return
		}
	}
}

// failPending fails every ask still pending with err, except those the
// reader has answered (settled first). notSent says the asks never reached
// the session actor, whose places they give back.
func (a *memberActor) failPending(c actor.Context, err error, notSent bool) {
	a.settleDirect(c)
	for seq, p := range a.asks {
		delete(a.asks, seq)
		if !p.direct.end.claim() {
			continue // answered by the reader, so it was sent
		}
		if notSent {
			a.ref.session.unadmit()
		}
		a.reply(c, p, a.failed(err))
		a.e.tracker.done()
	}
}

// Receive implements actor.Actor.
func (a *memberActor) Receive(c actor.Context) {
	defer func() {
		if r := recover(); r != nil {
			a.e.log.Error("member actor panicked", zap.String("member", a.spec.Identity), zap.Any("panic", r), zap.Stack("stack"))
			a.stopping = true
			a.failPending(c, fmt.Errorf("%w: member actor panicked: %v", ErrInternal, r), false)
		}
	}()
	a.settleDirect(c)
	switch m := c.Message().(type) {
	case *actor.Stopping:
		a.failPending(c, ErrEngineStopped, false)
		a.e.mu.Lock()
		if a.e.members[a.spec.Identity] == a.ref {
			delete(a.e.members, a.spec.Identity)
		}
		a.e.mu.Unlock()
	case *actor.Stopped:
		a.ref.session.Release() // the member's hold; the session stays in the realm
		close(a.ref.stopped)
		a.e.memberActors.Done()
	case *Ask:
		a.ask(c, m)
	case *PeerMessage:
		a.send(c, m)
	case *turnReply:
		a.answered(c, m)
	case *actor.DeadLetterResponse:
		a.sessionGone(c, m.Target)
	case *WirePeer:
		if m.Peer != "" && m.Peer != a.spec.Identity {
			a.peers[m.Peer] = true
		}
		c.Respond(a.state(nil))
	case *UnwirePeer:
		delete(a.peers, m.Peer)
		c.Respond(a.state(nil))
	case *GetState:
		c.Respond(a.state(nil))
	case *CancelAsk:
		a.cancelAsk(m.Key)
	case *WaitAsk:
		a.waitAsk(c, m.Key)
	case *RetireMember:
		if !a.retired {
			a.retired = true
			// Hear of every pending turn's end, to stop after the last.
			for _, p := range a.asks {
				if !p.direct.end.want() {
					a.settleDirect(c)
				}
			}
			a.e.mu.Lock()
			if a.e.members[a.spec.Identity] == a.ref {
				delete(a.e.members, a.spec.Identity)
			}
			a.e.mu.Unlock()
		}
		c.Respond(a.state(nil))
		a.stopIfIdle(c)
	case *stopWork:
		a.stopping = true
	}
}

// refusal returns why the member takes no new asks, or nil.
func (a *memberActor) refusal() error {
	switch {
	case a.stopping:
		return ErrEngineStopped
	case a.retired:
		return fmt.Errorf("%w: %q", ErrMemberRetired, a.spec.Identity)
	case len(a.asks) >= a.e.cfg.MemberQueue:
		return fmt.Errorf("%w: member %q has %d asks pending (Config.MemberQueue)", ErrOverloaded, a.spec.Identity, len(a.asks))
	}
	return nil
}

func (a *memberActor) ask(c actor.Context, m *Ask) {
	if err := a.refusal(); err != nil {
		c.Respond(a.failedKey(err, m.Key))
		return
	}
	if m.From != "" && !a.peers[m.From] {
		c.Respond(a.failedKey(fmt.Errorf("%w: %q is not wired to %q", ErrNotPeer, m.From, a.spec.Identity), m.Key))
		return
	}
	if m.Key != "" && a.keys[m.Key] != nil {
		a.waitAsk(c, m.Key) // a duplicate waits for the key's turn
		return
	}
	s := a.ref.session
	if err := s.admit(); err != nil {
		c.Respond(a.failedKey(err, m.Key))
		return
	}
	prompt := rpc.Text(m.Prompt)
	if m.Content != nil {
		prompt = *m.Content
	}
	seq := a.e.seq.Add(1)
	a.e.tracker.add()
	d := &directAnswer{member: a, to: c.Sender(), seq: seq, key: m.Key}
	p := &pendingAsk{to: c.Sender(), key: m.Key, direct: d}
	a.asks[seq] = p
	if m.Key != "" {
		a.keys[m.Key] = &keyedAsk{direct: d}
	}
	opts := &a.spec.TurnDefaults // the spec is never modified
	if m.OutputSchema != nil || m.ToolOverlay != nil {
		o := a.spec.TurnDefaults
		if m.OutputSchema != nil {
			o.OutputSchema = m.OutputSchema
		}
		if m.ToolOverlay != nil {
			o.TurnToolOverlay = m.ToolOverlay
		}
		opts = &o
	}
	c.RequestWithCustomSender(s.pid, &turnRequest{seq: seq, prompt: prompt, opts: opts, direct: d}, c.Self())
}

// cancelAsk cancels the turn of the ask with key, if one runs or waits.
func (a *memberActor) cancelAsk(key string) {
	if k := a.keys[key]; key != "" && k != nil && k.answer == nil && k.direct != nil {
		a.ref.session.send(&cancelTurn{seq: k.direct.seq})
	}
}

// waitAsk answers the sender once the turn of the ask with key is over:
// as a duplicate of the ask would be answered, without running a turn.
func (a *memberActor) waitAsk(c actor.Context, key string) {
	k := a.keys[key]
	if key == "" || k == nil {
		c.Respond(a.failedKey(fmt.Errorf("%w: member %q, key %q", ErrUnknownAsk, a.spec.Identity, key), key))
		return
	}
	if k.answer == nil && !k.direct.end.want() {
		a.settleDirect(c) // answered meanwhile: k.answer is set now
	}
	if k.answer != nil {
		c.Respond(k.answer)
		return
	}
	k.waiting = append(k.waiting, c.Sender())
}

// pendingAsk is an ask whose turn runs.
type pendingAsk struct {
	to     *actor.PID
	key    string
	direct *directAnswer // not nil
}

// keyedAsk is the turn of an idempotency key: running (answer nil, with
// the duplicates waiting for it) or answered.
type keyedAsk struct {
	waiting []*actor.PID
	answer  *Answer
	direct  *directAnswer // the running turn's (nil once answered)
}

// reply answers p's asker and every duplicate of its key. A failed turn
// forgets the key, so that a later ask with it runs again; a completed one
// is remembered (up to MemberKeyMemory keys).
func (a *memberActor) reply(c actor.Context, p *pendingAsk, ans *Answer) {
	ans.Key = p.key
	c.Send(p.to, ans)
	if p.key == "" {
		return
	}
	k := a.keys[p.key]
	if k == nil {
		return
	}
	for _, pid := range k.waiting {
		c.Send(pid, ans)
	}
	k.waiting = nil
	if ans.Error != nil {
		delete(a.keys, p.key)
		return
	}
	a.remember(p.key, ans)
}

// remember keeps the answer of key's turn for later duplicates (up to
// MemberKeyMemory keys).
func (a *memberActor) remember(key string, ans *Answer) {
	k := a.keys[key]
	if key == "" || k == nil {
		return
	}
	k.answer, k.direct = ans, nil
	a.keyOrder = append(a.keyOrder, key)
	if len(a.keyOrder) > MemberKeyMemory {
		delete(a.keys, a.keyOrder[0])
		a.keyOrder = a.keyOrder[1:]
	}
}

func (a *memberActor) send(c actor.Context, m *PeerMessage) {
	if err := a.refusal(); err != nil {
		c.Respond(a.failed(err))
		return
	}
	if !a.peers[m.To] {
		c.Respond(a.failed(fmt.Errorf("%w: %q is not wired to %q", ErrNotPeer, m.To, a.spec.Identity)))
		return
	}
	peer := a.e.Member(m.To)
	if peer == nil {
		c.Respond(a.failed(fmt.Errorf("%w: %q", ErrMemberNotFound, m.To)))
		return
	}
	from := a.spec.Identity
	if a.spec.Role != "" {
		from += " (" + a.spec.Role + ")"
	}
	c.RequestWithCustomSender(peer.pid, &Ask{Prompt: fmt.Sprintf("Message from %s: %s", from, m.Body), From: a.spec.Identity}, c.Sender())
}

func (a *memberActor) answered(c actor.Context, m *turnReply) {
	p, ok := a.asks[m.seq]
	if !ok {
		return
	}
	delete(a.asks, m.seq)
	defer a.e.tracker.done()
	if m.err != nil {
		a.reply(c, p, a.failed(m.err))
	} else {
		a.turns++
		a.reply(c, p, answerOf(a.spec.Identity, m.result))
	}
	a.stopIfIdle(c)
}

// answerOf is the answer of member identity for a completed turn.
func answerOf(identity string, r *TurnResult) *Answer {
	ans := &Answer{
		Identity: identity, SessionID: r.SessionID, Text: r.Text,
		Usage: r.Usage, Recovered: r.Recovered, Attempts: r.Attempts,
		Output: r.StructuredOutput,
	}
	if r.ExtractionError != nil {
		ans.ExtractionError = r.ExtractionError.Reason
	}
	return ans
}

// sessionGone fails the pending asks once protoactor reports that a turn
// request went to a stopped actor. The member sends requests of its own
// (with itself as the sender) only to its session actor, so that actor
// has stopped: whatever it had accepted it answered while stopping, so
// the asks still pending never reached it, never ran, and would never be
// answered. (protoactor does not always name the target.)
func (a *memberActor) sessionGone(c actor.Context, target *actor.PID) {
	s := a.ref.session
	if target != nil && !target.Equal(s.pid) {
		return
	}
	err := ErrEngineStopped
	if !a.e.stopping.Load() {
		s.mu.Lock()
		dropped := s.dropped
		s.mu.Unlock()
		if dropped == nil {
			dropped = ErrSessionNotFound
		}
		err = fmt.Errorf("member %s: its session actor has stopped: %w", a.spec.Identity, dropped)
	}
	a.failPending(c, err, true)
	a.stopIfIdle(c)
}

// stopIfIdle stops a retired member once it answered every ask: behind
// the messages already in its mailbox, which it refuses with
// ErrMemberRetired (see selfStop), never dropping them.
func (a *memberActor) stopIfIdle(c actor.Context) {
	if a.retired && len(a.asks) == 0 {
		a.stop(c)
	}
}

// failedKey is failed for a refused ask, answering its key.
func (a *memberActor) failedKey(err error, key string) *Answer {
	ans := a.failed(err)
	ans.Key = key
	return ans
}

func (a *memberActor) failed(err error) *Answer {
	return &Answer{Identity: a.spec.Identity, SessionID: a.ref.session.ID(), Error: failureOf(err)}
}

func (a *memberActor) state(err error) *MemberState {
	peers := slices.Sorted(maps.Keys(a.peers))
	return &MemberState{
		Identity: a.spec.Identity, Role: a.spec.Role, Profile: a.spec.Profile,
		SessionID: a.ref.session.ID(), Runtime: a.ref.session.Runtime(), Peers: peers,
		Turns: a.turns, Pending: len(a.asks), Retired: a.retired, Error: failureOf(err),
	}
}
