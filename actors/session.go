package actors

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/mobd-dev/mobd/internal/dispatch"
	"github.com/mobd-dev/mobd/rpc"
)

// CreateLabel is the session label CreateSession adds to every session it
// creates, with a fresh random value: if the runtime dies during creation,
// the engine looks the session up by it to learn whether it was created.
const CreateLabel = "mobd_create_id"

// Messages handled by the session actor. They are process-local: some carry
// live rpc values.
type (
	// turnRequest asks for a turn; the sender receives *eventOut (when
	// stream is set) and then one *turnReply.
	turnRequest struct {
		seq    uint64
		prompt rpc.Content
		opts   *rpc.TurnOptions // not nil; shared, never modified
		stream bool
		direct *directAnswer // a member's ask, for the reader to answer
	}
	// releaseSession tells the actor that every hold on it was released.
	releaseSession struct{}
	// createRequest is the session's first turn, which creates it.
	createRequest struct {
		seq    uint64
		prompt rpc.Content
		opts   rpc.SessionOptions
		token  string
	}
	// cancelTurn: the caller of turn seq gave up.
	cancelTurn struct{ seq uint64 }
	// awaitAttached is answered (with *attachReply) once the session has
	// been verified on its runtime, or has failed.
	awaitAttached struct{}
	attachReply   struct{ err error }
	// subscribe registers the sender for every event of the session;
	// unsubscribe ends it.
	subscribe   struct{}
	unsubscribe struct{ pid *actor.PID }
	// infoRequest is answered with a SessionInfo.
	infoRequest struct{}
	// stopWork: the engine is shutting down.
	stopWork struct{}

	// Completions, sent by the goroutines the actor starts.
	attachDone struct {
		gen     uint64
		details *rpc.SessionDetails
		err     error
	}
	turnEvent struct {
		seq     uint64
		attempt int
		env     rpc.Envelope
	}
	turnFinished struct {
		seq     uint64
		attempt int
		res     *rpc.RunResult
		err     error
		notSent bool // the request never reached the runtime
	}
	recoveryDone struct {
		seq     uint64
		attempt int
		gen     uint64 // the incarnation whose history was read
		v       verdict
		err     error
	}
)

// job is a turn the session accepted (or its creation).
type job struct {
	seq    uint64
	reply  *actor.PID
	create bool
	prompt rpc.Content
	opts   *rpc.TurnOptions    // a turn's; shared, never modified
	sopts  *rpc.SessionOptions // a creation's
	token  string
	stream bool
	direct *directAnswer // see turnRequest

	attempt   int         // sends so far, counting the one in flight
	gen       uint64      // runtime incarnation of the current attempt
	client    *rpc.Client // its client
	baseCount uint64      // history length before the turn…
	skip      int         // …minus this many completed turns after it
	cancel    context.CancelFunc
	// gate, for an attempt run in a goroutine of its own: whether it was
	// sent, or withdrawn by cancel before it was (nil otherwise).
	gate *sendGate

	running    bool  // the rpc call is in flight
	recovering bool  // the runtime died under it; waiting to inspect history
	inspecting bool  // the history is being read
	cause      error // what killed the runtime under it
	abandoned  bool  // the caller gave up
	answered   bool  // finish has run

	// replied is set by whoever sends the reply: finish, or the
	// connection's reader for a plain turn that succeeded (launch).
	replied atomic.Bool
	// quiet and quietRes: how the reader hands the actor a plain turn that
	// succeeded (see launch and settle).
	quiet    quietEnd
	quietRes *rpc.RunResult
}

// quietEnd is how the connection's reader hands the end of a turn it
// answered to the actor that owns the turn: it tells the owner only if the
// owner waits for the end; otherwise the owner settles it at its next
// message. That saves a message, and the wake-up of the owner's goroutine,
// on every turn of a caller that runs turns one after the other. The
// session actor uses it for its jobs, a member for its asks (directAnswer).
type quietEnd struct{ state atomic.Int32 }

// The states of a quietEnd.
const (
	quietRunning int32 = iota // the turn runs, or its end comes as a message
	quietDone                 // answered by the reader, not yet settled
	quietWanted               // the owner waits: the reader sends the message
	quietSettled              // settled, or claimed, by the owner
)

// answered is the reader's: it reports false if the owner waits for the
// end, which the reader must then send it as a message.
func (q *quietEnd) answered() bool { return q.state.CompareAndSwap(quietRunning, quietDone) }

// want is the owner's: it asks for the end as a message, and reports
// false if the reader has answered already (settle then).
func (q *quietEnd) want() bool {
	return q.state.CompareAndSwap(quietRunning, quietWanted) || q.state.Load() != quietDone
}

// settle is the owner's: it reports whether the reader answered and the
// owner is the first to settle it.
func (q *quietEnd) settle() bool { return q.state.CompareAndSwap(quietDone, quietSettled) }

// claim is the owner's, to end the turn itself (a failure): it reports
// false if the reader has answered already.
func (q *quietEnd) claim() bool {
	return q.state.CompareAndSwap(quietRunning, quietSettled) || q.state.Load() == quietWanted
}

// load returns the state.
func (q *quietEnd) load() int32 { return q.state.Load() }

// sessionMailbox runs a turn request posted to an idle session actor on
// its poster's goroutine (see dispatch.Mailbox), so that a member's ask
// reaches the runtime's pipe without waking another goroutine. Turn
// requests come from member actors and from SessionRef's callers, never
// from a connection's reader (which must not write to the runtime it
// reads) nor under a lock the session actor takes; starting a turn writes
// one request line to the runtime. A session actor stops itself behind
// the messages already queued (see selfStop), so its mailbox is stopAware.
var sessionMailbox = stopAware(dispatch.Mailbox(func(msg any) bool {
	_, ok := msg.(*turnRequest)
	return ok
}))

// sessionActor serialises the turns of one session and keeps it attached to
// its runtime across restarts. All its fields are owned by Receive.
type sessionActor struct {
	e    *Engine
	ref  *SessionRef
	slot *runtimeSlot
	self *actor.PID

	id            string
	everAttached  bool
	attachOnly    bool // spawned by Engine.Session: stop if the session does not exist
	client        *rpc.Client
	gen           uint64
	up            bool
	attached      bool
	reading       bool
	gone          error // the pool gave up
	lost          error // the session cannot be used any more
	stopping      bool
	provider      string
	model         string
	base          baseline
	queue         []*job
	cur           *job
	subs          map[string]*actor.PID
	attachWaiters []*actor.PID
	releasing     bool // every hold was released: stop once idle
	// closed is why the actor refuses everything: it stops itself behind
	// the messages already in its mailbox (see close).
	closed error
	selfStop
}

// baseline is what the actor knows about the session's history: its length
// at a moment no turn was running, and how many turns completed since.
type baseline struct {
	count uint64
	turns int
	known bool
}

// unhostTimeout bounds the wait for the runtime actor when a session
// actor stops; the runtime actor answers at once unless it is gone, in which
// case the request fails at once too.
const unhostTimeout = 5 * time.Second

// Receive implements actor.Actor.
func (a *sessionActor) Receive(c actor.Context) {
	defer a.recoverPanic(c)
	a.settle(c)
	switch m := c.Message().(type) {
	case *actor.Started:
		a.self = c.Self()
		c.Send(a.slot.pid, &hostSession{key: a.ref.key, pid: a.self})
	case *actor.Stopping:
		err := error(ErrEngineStopped)
		if a.closed != nil {
			err = a.closed
		}
		a.failAll(c, err)
		for _, pid := range a.subs {
			c.Send(pid, &subEnd{err: err})
		}
		a.subs = nil
		// Unhost synchronously: once the runtime actor has answered it will
		// never send here again, and whatever it sent before is still in
		// this mailbox (dropped on stop), so nothing becomes a dead letter.
		_, _ = c.RequestFuture(a.slot.pid, &unhostSession{key: a.ref.key}, unhostTimeout).Result()
		a.e.forgetSession(a.ref)
	case *actor.Stopped:
		close(a.ref.stopped)
		a.e.sessionActors.Done()

	case *turnRequest:
		a.accept(c, &job{seq: m.seq, reply: c.Sender(), prompt: m.prompt, opts: m.opts, stream: m.stream, direct: m.direct})
	case *createRequest:
		a.accept(c, &job{seq: m.seq, reply: c.Sender(), create: true, prompt: m.prompt, sopts: &m.opts, token: m.token})
	case *cancelTurn:
		a.cancel(c, m.seq)
	case *awaitAttached:
		a.awaitAttached(c)
	case *subscribe:
		if a.closed != nil {
			c.Send(c.Sender(), &subEnd{err: a.closed})
			break
		}
		if a.subs == nil {
			a.subs = make(map[string]*actor.PID)
		}
		a.subs[c.Sender().Id] = c.Sender()
		c.Send(c.Sender(), &subAck{})
	case *unsubscribe:
		if _, ok := a.subs[m.pid.Id]; ok {
			delete(a.subs, m.pid.Id)
			c.Send(m.pid, &subEnd{})
		}
	case *infoRequest:
		c.Respond(a.info())
	case *stopWork:
		a.stopping = true
		a.failQueued(c, ErrEngineStopped)
		a.replyWaiters(c, ErrEngineStopped)
		if j := a.cur; j != nil && j.recovering && !j.inspecting {
			a.finish(c, j, nil, a.stoppedError(j))
		}

	case *runtimeUp:
		if a.up && a.gen == m.gen {
			return
		}
		a.up, a.gen, a.client, a.attached = true, m.gen, m.client, false
		a.notify(c, &RuntimeNotice{Runtime: a.slot.name, Up: true, Generation: m.gen})
		// An actor spawned by Engine.Session attaches when first asked:
		// one that found no session and stopped before its caller's
		// request arrived would leave that request a dead letter.
		if a.cur == nil && (a.everAttached || !a.attachOnly || len(a.attachWaiters) > 0 || len(a.queue) > 0) {
			a.attach(c)
		}
		// Otherwise the turn in hand ends on the old incarnation and its
		// recovery reads the history, which verifies the session too.
		a.recover(c)
		a.startNext(c)
	case *runtimeDown:
		if m.gen != a.gen || !a.up {
			return
		}
		a.up, a.attached, a.client = false, false, nil
		n := &RuntimeNotice{Runtime: a.slot.name, Generation: m.gen}
		if m.err != nil {
			n.Err = m.err.Error()
		}
		a.notify(c, n)
	case *runtimeGone:
		a.up, a.attached, a.client = false, false, nil
		a.gone = fmt.Errorf("%w: %w", ErrRuntimeUnavailable, m.err)
		a.failQueued(c, a.gone)
		a.replyWaiters(c, a.gone)
		a.recover(c)

	case *attachDone:
		a.onAttached(c, m)
	case *turnEvent:
		if j := a.cur; j != nil && j.seq == m.seq && j.attempt == m.attempt {
			if j.stream && !j.abandoned {
				c.Send(j.reply, &eventOut{env: m.env})
			}
			for _, pid := range a.subs {
				c.Send(pid, &eventOut{env: m.env})
			}
		}
	case *turnFinished:
		a.finished(c, m)
	case *recoveryDone:
		a.recovered(c, m)
	case *releaseSession:
		a.releasing = true
	}
	a.awaitEnd(c)
	if a.releasing {
		a.releaseIfIdle(c)
	}
}

// settle completes the current turn if the reader answered it without
// telling the actor (see the quiet states).
func (a *sessionActor) settle(c actor.Context) {
	if j := a.cur; j != nil && j.quiet.settle() {
		a.finished(c, &turnFinished{seq: j.seq, attempt: j.attempt, res: j.quietRes})
	}
}

// awaitEnd makes sure the actor hears of the current turn's end when
// something waits for it: a queued turn, a release, a stop, an attachment
// waiter. The reader then sends turnFinished; if it has already answered,
// the turn is settled now.
func (a *sessionActor) awaitEnd(c actor.Context) {
	for {
		j := a.cur
		if j == nil || (len(a.queue) == 0 && !a.releasing && !a.stopping && len(a.attachWaiters) == 0) {
			return
		}
		if j.quiet.want() {
			return
		}
		a.settle(c) // may start the next turn: check again
	}
}

// releaseIfIdle stops the actor of a released session once it has no
// turn, subscriber or waiter left, unless the session was held again.
// Requests already on their way fail with ErrSessionReleased (see close).
func (a *sessionActor) releaseIfIdle(c actor.Context) {
	if a.closed != nil || a.stopping || a.cur != nil || len(a.queue) > 0 || len(a.subs) > 0 || len(a.attachWaiters) > 0 || a.reading {
		return
	}
	e := a.e
	e.mu.Lock()
	if a.ref.holds > 0 {
		e.mu.Unlock()
		a.releasing = false
		return
	}
	// Under e.mu, so Engine.Session either held it before this or finds it
	// gone and starts a new actor.
	a.ref.released.Store(true)
	e.forgetSessionLocked(a.ref)
	e.mu.Unlock()
	a.close(c, a.ref.goneErr())
}

// close makes the actor refuse every request with err from now on, and
// stops it behind the messages already in its mailbox: a turn, a
// subscription or a wait for the attachment that is on its way is
// answered with err and gives back its place, never dropped (see
// selfStop). The actor must already be forgotten by the engine.
func (a *sessionActor) close(c actor.Context, err error) {
	if a.closed == nil {
		a.closed = err
	}
	a.releasing = false
	a.failQueued(c, a.closed)
	a.replyWaiters(c, a.closed)
	a.stop(c)
}

// recoverPanic turns a panic in Receive (a bug) into ErrInternal for every
// pending turn, so no caller is left waiting.
func (a *sessionActor) recoverPanic(c actor.Context) {
	r := recover()
	if r == nil {
		return
	}
	a.logger().Error("session actor panicked", zap.Any("panic", r), zap.Stack("stack"))
	a.lost = fmt.Errorf("%w: session actor panicked: %v", ErrInternal, r)
	a.failAll(c, a.lost)
}

// logger returns the engine's logger with the session's fields; it is
// built on demand so that idle actors do not hold one.
func (a *sessionActor) logger() *zap.Logger {
	return a.e.log.With(zap.String("runtime", a.slot.name), zap.String("session_id", a.id))
}

// refusal returns why the session cannot take a turn now, or nil.
func (a *sessionActor) refusal() error {
	switch {
	case a.closed != nil:
		return a.closed
	case a.stopping:
		return ErrEngineStopped
	case a.lost != nil:
		return a.lost
	case a.gone != nil:
		return a.gone
	}
	return nil
}

func (a *sessionActor) accept(c actor.Context, j *job) {
	if err := a.refusal(); err != nil {
		a.finish(c, j, nil, err)
		return
	}
	a.queue = append(a.queue, j)
	a.startNext(c)
}

// startNext launches the first queued turn once the session is idle,
// attached, and its history baseline is known.
func (a *sessionActor) startNext(c actor.Context) {
	if a.cur != nil || len(a.queue) == 0 {
		return
	}
	if err := a.refusal(); err != nil {
		a.failQueued(c, err)
		return
	}
	if !a.up || a.client.Err() != nil {
		return // a dead incarnation: its runtimeDown is on the way
	}
	if a.id != "" && (!a.attached || !a.base.known) {
		a.attach(c)
		return
	}
	j := a.queue[0]
	a.queue = a.queue[1:]
	if j.attempt == 0 {
		j.attempt = 1
	}
	j.baseCount, j.skip = a.base.count, a.base.turns
	a.cur = j
	a.launch(c, j)
}

// launch runs the current attempt of j on the current runtime; its end
// comes back as turnFinished (and its events as turnEvent). A plain turn
// whose model slots are free is started at once, and when it succeeds its
// caller is answered straight from the connection's reader; a creation, a
// streamed turn or one that waits for a slot runs in a goroutine of its
// own.
func (a *sessionActor) launch(c actor.Context, j *job) {
	j.gen, j.client, j.running = a.gen, a.client, true
	if j.cancel != nil {
		j.cancel() // the attempt before, which ended: its context goes
	}
	ctx, cancel := context.WithCancel(a.e.work)
	j.cancel, j.gate = cancel, nil
	self, client, id, seq, attempt := a.self, a.client, a.id, j.seq, j.attempt
	streaming := j.stream || len(a.subs) > 0
	provider, model := a.provider, a.model
	if j.create {
		provider, model = j.sopts.Provider, j.sopts.Model
	} else {
		if j.opts.Provider != "" {
			provider = j.opts.Provider
		}
		if j.opts.Model != "" {
			model = j.opts.Model
		}
	}
	keys := a.e.limiter.keys(provider, model)
	send := func(m any) { a.e.system.Root.Send(self, m) }
	if !j.create && !streaming && client.Err() == nil {
		// A plain turn whose slots are free needs no goroutine: the
		// runtime's answer comes back on the connection's reader.
		if release, ok := a.e.limiter.tryAcquire(keys); ok {
			ref, runtime := a.ref, a.slot.name
			client.Session(id).StartTurn(ctx, j.prompt, *j.opts, func(res *rpc.RunResult, err error) {
				release()
				if err != nil || !j.replied.CompareAndSwap(false, true) {
					send(turnOutcome(seq, attempt, res, err, false))
					return
				}
				// Answer from here, saving the caller the hop through this
				// actor's mailbox (finish then only releases the job).
				// Unless the actor waits for the turn's end, it learns of
				// it at its next message (settle); else turnFinished goes
				// first, so that it is ahead of any turn the caller sends
				// once it has the answer.
				ref.unadmit()
				j.quietRes = res
				if !j.quiet.answered() {
					send(&turnFinished{seq: seq, attempt: attempt, res: res})
				}
				tr := &TurnResult{RunResult: *res, Attempts: attempt, Runtime: runtime}
				if d := j.direct; d != nil && d.deliver(tr) {
					return // the asker has its answer; the member settles it
				}
				a.e.system.Root.Send(j.reply, &turnReply{seq: seq, result: tr})
			})
			return
		}
	}
	// The goroutine gets copies: the job is this actor's. It waits for
	// the model slots with a context of its own, which cancel ends (see
	// sendGate); the request, once sent, runs with ctx.
	prompt, opts, sopts, create := j.prompt, j.opts, j.sopts, j.create
	waitCtx, stopWaiting := context.WithCancel(ctx)
	gate := &sendGate{stopWaiting: stopWaiting}
	j.gate = gate
	a.e.goWork(func() {
		defer cancel()
		fin := &turnFinished{seq: seq, attempt: attempt}
		release, err := a.e.limiter.acquire(waitCtx, keys)
		if err == nil && !gate.send() {
			release() // withdrawn by the caller as the slot came free
			err = context.Canceled
		}
		stopWaiting()
		if err != nil {
			fin.err, fin.notSent = err, true
			send(fin)
			return
		}
		switch {
		case client.Err() != nil:
			// Died while the turn waited for its slot: nothing was sent.
			fin.err, fin.notSent = client.Err(), true
		case create:
			var s *rpc.Session
			if s, err = client.CreateSession(ctx, prompt, *sopts); err == nil {
				fin.res = s.LastResult()
			}
			fin.err = err
		case streaming:
			st := client.Session(id).Stream(ctx, prompt, *opts)
			for st.Next() {
				send(&turnEvent{seq: seq, attempt: attempt, env: st.Envelope()})
			}
			if err := st.Err(); err != nil {
				fin.err = err
			} else {
				fin.res, fin.err = st.Result()
			}
		default:
			fin.res, fin.err = client.Session(id).Turn(ctx, prompt, *opts)
		}
		release()
		send(turnOutcome(seq, attempt, fin.res, fin.err, fin.notSent))
	})
}

// sendGate settles the race between the goroutine of an attempt, which
// waits for the model slots (Config.ModelLimits) and then sends the
// request, and cancel, which withdraws the attempt when its caller gives
// up: exactly one of them wins. A withdrawn attempt is never sent, so it
// is neither committed to the session nor billed; one that was sent is
// interrupted on the runtime instead, and its own context is left alone.
type sendGate struct {
	state       atomic.Int32
	stopWaiting context.CancelFunc // ends the wait for the slots
}

// The states of a sendGate.
const (
	gateWaiting int32 = iota
	gateSent
	gateWithdrawn
)

// send is the goroutine's, once it has the slots: it reports false if the
// attempt was withdrawn, in which case it must not be sent.
func (g *sendGate) send() bool { return g.state.CompareAndSwap(gateWaiting, gateSent) }

// withdraw is cancel's: it reports whether the attempt was withdrawn
// before it was sent (and ends its wait for the slots). A nil gate (an
// attempt sent by the actor itself) was sent.
func (g *sendGate) withdraw() bool {
	if g == nil || !g.state.CompareAndSwap(gateWaiting, gateWithdrawn) {
		return false
	}
	g.stopWaiting()
	return true
}

// turnOutcome is the turnFinished of an attempt that ended with res, err;
// notSent says it is known not to have reached the runtime.
func turnOutcome(seq uint64, attempt int, res *rpc.RunResult, err error, notSent bool) *turnFinished {
	// A turn that never reached the runtime left no history to inspect.
	notSent = notSent || (err != nil && (errors.Is(err, rpc.ErrInvalidArgs) || errors.Is(err, rpc.ErrNotSent)))
	return &turnFinished{seq: seq, attempt: attempt, res: res, err: err, notSent: notSent}
}

// finished handles the end of an attempt.
func (a *sessionActor) finished(c actor.Context, m *turnFinished) {
	j := a.cur
	if j == nil || j.seq != m.seq || j.attempt != m.attempt || !j.running {
		return
	}
	j.running = false
	switch {
	case m.err == nil:
		if j.create {
			a.created(c, j, m.res)
			break
		}
		if a.base.known {
			a.base.turns++
		}
		var res *TurnResult
		if !j.replied.Load() { // else answered from the connection's reader
			res = &TurnResult{RunResult: *m.res, Attempts: j.attempt, Runtime: a.slot.name}
		}
		a.finish(c, j, res, nil)
	case m.notSent && errors.Is(m.err, rpc.ErrInvalidArgs):
		a.finish(c, j, nil, m.err)
	case m.notSent && !a.stopping && !j.abandoned:
		// The runtime died before the request left: run it when it is back.
		a.cur = nil
		a.queue = slices.Insert(a.queue, 0, j)
	case m.notSent:
		a.finish(c, j, nil, a.refusalOr(context.Canceled))
	case answered(m.err):
		a.base.known = false
		a.finish(c, j, nil, m.err)
	case a.stopping:
		j.cause = m.err
		a.finish(c, j, nil, a.stoppedError(j))
	case j.client.Err() == nil && !isConnectionLoss(m.err):
		// Not an answer and not a dead runtime (should not happen).
		a.base.known = false
		a.finish(c, j, nil, &TurnError{SessionID: a.id, Kind: ErrTurnOutcomeUnknown, Attempts: j.attempt, Cause: m.err})
	default:
		// The runtime went away under the turn.
		j.recovering, j.cause = true, m.err
		a.logger().Info("runtime lost under a turn; recovering", zap.Uint64("turn", j.seq), zap.Int("attempt", j.attempt), zap.Error(m.err))
		a.recover(c)
	}
	a.startNext(c)
}

// answered reports whether err is the runtime's answer to the request (or
// the SDK's rejection of it), as opposed to losing the runtime.
func answered(err error) bool {
	var re *rpc.Error
	return errors.As(err, &re) || errors.Is(err, rpc.ErrInvalidResponse) ||
		errors.Is(err, rpc.ErrCapabilityUnavailable) || errors.Is(err, rpc.ErrUnknownEventType) ||
		errors.Is(err, rpc.ErrStreamOverflow)
}

// created completes the creation job: the session now has an id. The
// history baseline a turn needs (see startNext) is read at once, in the
// background, so that the session's first turn, usually asked for soon
// after, does not wait for that read.
func (a *sessionActor) created(c actor.Context, j *job, res *rpc.RunResult) {
	a.adopt(res.SessionID)
	a.attached = true
	a.provider, a.model = j.sopts.Provider, j.sopts.Model
	tr := &TurnResult{RunResult: *res, Attempts: j.attempt, Runtime: a.slot.name}
	a.ref.setCreated(tr)
	if !a.base.known {
		a.attach(c)
	}
	a.finish(c, j, tr, nil)
}

// adopt gives the actor its session id and registers it with the engine.
func (a *sessionActor) adopt(id string) {
	if a.id != "" {
		return
	}
	a.id = id
	a.everAttached = true
	a.e.registerSession(id, a.ref)
}

// recover inspects the history of the turn the runtime died under, once a
// newer incarnation of the runtime is up.
func (a *sessionActor) recover(c actor.Context) {
	j := a.cur
	if j == nil || !j.recovering || j.inspecting {
		return
	}
	if a.gone != nil {
		a.finish(c, j, nil, &TurnError{
			SessionID: a.id, Kind: ErrRuntimeUnavailable, Attempts: j.attempt,
			Detail: "the runtime died while the turn was in flight and the pool gave up before its history could be read",
			Cause:  outcomeUnknown(a.gone),
		})
		return
	}
	if a.stopping {
		a.finish(c, j, nil, a.stoppedError(j))
		return
	}
	if !a.up || a.gen <= j.gen || a.client.Err() != nil {
		return // wait for a newer, live incarnation
	}
	j.inspecting = true
	self, client, id, seq, attempt, gen := a.self, a.client, a.id, j.seq, j.attempt, a.gen
	base, skip, prompt, create, token := j.baseCount, j.skip, j.prompt, j.create, j.token
	a.e.goWork(func() {
		var v verdict
		var err error
		if create {
			v, err = inspectCreate(a.e.work, client, token, prompt)
		} else {
			v, err = inspectTurn(a.e.work, client, id, base, skip, prompt)
		}
		a.e.system.Root.Send(self, &recoveryDone{seq: seq, attempt: attempt, gen: gen, v: v, err: err})
	})
}

// recovered applies the verdict on a turn the runtime died under.
func (a *sessionActor) recovered(c actor.Context, m *recoveryDone) {
	j := a.cur
	if j == nil || j.seq != m.seq || j.attempt != m.attempt || !j.inspecting {
		return
	}
	j.inspecting = false
	if m.err != nil {
		if isConnectionLoss(m.err) && !a.stopping {
			// Died again while we read: try with the next incarnation.
			a.recover(c)
			return
		}
		a.base.known = false
		if errors.Is(m.err, rpc.ErrSessionNotFound) && a.id != "" {
			a.lost = fmt.Errorf("actors: session %s: %w", a.id, m.err)
		}
		a.finish(c, j, nil, &TurnError{
			SessionID: a.id, Kind: ErrTurnOutcomeUnknown, Attempts: j.attempt,
			Detail: "the runtime died under the turn and its history could not be read", Cause: errors.Join(j.cause, m.err),
		})
		a.startNext(c)
		return
	}
	v := m.v
	if v.sessionID != "" {
		a.adopt(v.sessionID)
	}
	if a.id != "" {
		a.base = baseline{count: v.count, known: true}
		if a.up && a.gen == m.gen {
			// The history read verified the session on this incarnation.
			a.attached, a.everAttached = true, true
		}
	}
	a.logger().Info("recovered turn", zap.Uint64("turn", j.seq), zap.Int("attempt", j.attempt), zap.Stringer("verdict", v.kind), zap.String("detail", v.detail))
	switch v.kind {
	case verdictNotCommitted:
		// A creation that made its session is not repeated: that would
		// make a second session.
		if j.attempt < 2 && !j.abandoned && !a.stopping && !(j.create && v.sessionID != "") {
			j.attempt++
			j.recovering = false
			if j.stream {
				c.Send(j.reply, &eventOut{env: notice(a.slot.name, &RetryNotice{Attempt: j.attempt, Cause: j.cause.Error()})})
			}
			a.notify(c, &RetryNotice{Attempt: j.attempt, Cause: j.cause.Error()})
			a.cur = nil
			a.queue = slices.Insert(a.queue, 0, j)
			break
		}
		kind := ErrTurnLost
		if a.stopping {
			kind = ErrEngineStopped
		}
		a.finish(c, j, nil, &TurnError{SessionID: a.id, Kind: kind, Attempts: j.attempt, Detail: v.detail, Cause: j.cause})
	case verdictCompleted:
		v.result.SessionID = a.id
		tr := &TurnResult{RunResult: *v.result, Recovered: true, Attempts: j.attempt, Runtime: a.slot.name}
		if j.create {
			a.attached = true
			a.provider, a.model = j.sopts.Provider, j.sopts.Model
			a.ref.setCreated(tr)
		}
		a.finish(c, j, tr, nil)
	default:
		a.finish(c, j, nil, &TurnError{
			SessionID: a.id, Kind: ErrTurnOutcomeUnknown, Attempts: j.attempt,
			Committed: v.committed, Detail: v.detail, Cause: j.cause,
		})
	}
	a.startNext(c)
}

// stoppedError is the error of a turn cut short by Shutdown.
func (a *sessionActor) stoppedError(j *job) error {
	return &TurnError{
		SessionID: a.id, Kind: ErrEngineStopped, Attempts: j.attempt,
		Detail: "the runtime was stopped while the turn was in flight", Cause: outcomeUnknown(j.cause),
	}
}

// attach verifies the session on the current runtime with a read, which
// also gives the history baseline.
func (a *sessionActor) attach(c actor.Context) {
	if a.reading || a.closed != nil || !a.up || a.id == "" || a.client.Err() != nil {
		return
	}
	a.reading = true
	self, client, id, gen := a.self, a.client, a.id, a.gen
	a.e.goWork(func() {
		d, err := client.ReadSession(a.e.work, id)
		a.e.system.Root.Send(self, &attachDone{gen: gen, details: d, err: err})
	})
}

func (a *sessionActor) onAttached(c actor.Context, m *attachDone) {
	a.reading = false
	if !a.up || m.gen != a.gen {
		a.attach(c) // a newer incarnation is up (or none): read again there
		return
	}
	if m.err != nil {
		switch {
		case a.stopping:
		case isConnectionLoss(m.err):
			return // the next incarnation triggers a new attach
		case errors.Is(m.err, rpc.ErrSessionNotFound):
			a.lost = fmt.Errorf("actors: session %s: %w", a.id, m.err)
			if a.attachOnly && !a.everAttached {
				a.ref.mu.Lock()
				a.ref.dropped = a.lost
				a.ref.mu.Unlock()
				a.drop(c, a.lost)
			}
			a.failQueued(c, a.lost)
			a.replyWaiters(c, a.lost)
			return
		}
		err := fmt.Errorf("actors: attach session %s: %w", a.id, m.err)
		a.failQueued(c, err)
		a.replyWaiters(c, err)
		return
	}
	a.attached, a.everAttached = true, true
	if a.cur == nil {
		a.base = baseline{count: m.details.MessageCount, known: true}
	}
	if m.details.Provider != "" {
		a.provider = m.details.Provider
	}
	if m.details.Model != "" {
		a.model = m.details.Model
	}
	a.replyWaiters(c, nil)
	a.startNext(c)
}

func (a *sessionActor) awaitAttached(c actor.Context) {
	switch err := a.refusal(); {
	case err != nil:
		c.Respond(&attachReply{err: err})
	case a.attached:
		c.Respond(&attachReply{})
	default:
		a.attachWaiters = append(a.attachWaiters, c.Sender())
		a.attach(c)
	}
}

func (a *sessionActor) replyWaiters(c actor.Context, err error) {
	for _, pid := range a.attachWaiters {
		c.Send(pid, &attachReply{err: err})
	}
	a.attachWaiters = nil
}

// cancel handles a caller giving up on turn seq: a queued turn is dropped,
// as is one that waits for a model slot (it is never sent: see sendGate),
// and a running one is interrupted (its session stays serialised until the
// runtime answers).
func (a *sessionActor) cancel(c actor.Context, seq uint64) {
	for i, j := range a.queue {
		if j.seq == seq {
			a.queue = slices.Delete(a.queue, i, i+1)
			j.abandoned = true
			a.finish(c, j, nil, context.Canceled)
			return
		}
	}
	j := a.cur
	if j == nil || j.seq != seq || j.abandoned {
		return
	}
	j.abandoned = true
	if j.running && j.gate.withdraw() {
		// Its goroutine reports it not sent, and finished answers it with
		// context.Canceled.
		return
	}
	if j.running && !j.create && j.client != nil {
		client, id := j.client, a.id
		a.e.goWork(func() { a.interrupt(client, id, j) })
	}
}

// interruptRetry is how long interrupt waits before it asks the runtime
// again to interrupt a turn it did not find running, and interruptTries
// how many times it asks: the overtaking it makes up for lasts
// milliseconds, and a runtime that still finds nothing to interrupt after
// that is not asked every 10 ms for as long as the turn runs.
const (
	interruptRetry = 10 * time.Millisecond
	interruptTries = 50
)

// interrupt interrupts j, an abandoned turn, on the runtime; it runs in a
// goroutine of its own. The runtime handles requests concurrently, so
// turn/interrupt can overtake the turn/start it follows and find the
// session idle ("staged_noop"): it is sent again until the runtime
// interrupts the turn, the turn ended (replied: by the reader or by
// finish), its runtime went away, or it has asked interruptTries times.
func (a *sessionActor) interrupt(client *rpc.Client, id string, j *job) {
	for try := 1; ; try++ {
		r, err := client.Session(id).Interrupt(a.e.work)
		switch {
		case err != nil:
			a.logger().Debug("interrupt abandoned turn", zap.Error(err))
			return
		case r.Interrupted || j.replied.Load():
			return
		case try == interruptTries:
			a.logger().Debug("interrupt abandoned turn: the runtime found nothing to interrupt", zap.Int("tries", try))
			return
		}
		t := time.NewTimer(interruptRetry)
		select {
		case <-t.C:
		case <-a.e.work.Done():
			t.Stop()
			return
		}
		if j.replied.Load() {
			return
		}
	}
}

// finish answers j and releases its place in the session's queue.
func (a *sessionActor) finish(c actor.Context, j *job, res *TurnResult, err error) {
	if j.create && err != nil && a.id == "" && !j.answered {
		// The creation made no session: this actor has nothing to serve.
		a.drop(c, err)
	}
	if j.cancel != nil {
		j.cancel()
		j.cancel = nil
	}
	if j.answered {
		return
	}
	j.answered = true
	if a.cur == j {
		a.cur = nil
	}
	if !j.replied.CompareAndSwap(false, true) {
		return // answered from the connection's reader (launch)
	}
	// Release the place first: a caller that sends its next turn as soon
	// as it has the reply must find it free.
	a.ref.unadmit()
	c.Send(j.reply, &turnReply{seq: j.seq, result: res, err: err})
}

func (a *sessionActor) failQueued(c actor.Context, err error) {
	q := a.queue
	a.queue = nil
	for _, j := range q {
		a.finish(c, j, nil, err)
	}
}

// failAll answers every pending turn, the current one included, with err.
func (a *sessionActor) failAll(c actor.Context, err error) {
	a.failQueued(c, err)
	if j := a.cur; j != nil {
		if j.running || j.recovering {
			err = &TurnError{SessionID: a.id, Kind: ErrTurnOutcomeUnknown, Attempts: j.attempt, Cause: err}
		}
		a.finish(c, j, nil, err)
	}
	a.replyWaiters(c, err)
}

func (a *sessionActor) refusalOr(err error) error {
	if r := a.refusal(); r != nil {
		return r
	}
	return err
}

// notify sends a notice to the subscribers.
func (a *sessionActor) notify(c actor.Context, ev rpc.Event) {
	if len(a.subs) == 0 {
		return
	}
	env := notice(a.slot.name, ev)
	for _, pid := range a.subs {
		c.Send(pid, &eventOut{env: env})
	}
}

func (a *sessionActor) info() *SessionInfo {
	in := &SessionInfo{
		ID: a.id, Runtime: a.slot.name, Generation: a.gen, Attached: a.attached,
		Queued: len(a.queue), Running: a.cur != nil,
	}
	if err := a.refusal(); err != nil {
		in.Err = err.Error()
	}
	return in
}

// drop unregisters the actor from the engine, so that it is no longer
// found or counted, and stops it, refusing whatever reaches it with err
// (see close).
func (a *sessionActor) drop(c actor.Context, err error) {
	a.e.forgetSession(a.ref)
	a.close(c, err)
}

// outcomeUnknown wraps cause (which may be nil) with ErrTurnOutcomeUnknown.
func outcomeUnknown(cause error) error {
	if cause == nil {
		return ErrTurnOutcomeUnknown
	}
	return fmt.Errorf("%w: %w", ErrTurnOutcomeUnknown, cause)
}
