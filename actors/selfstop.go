package actors

import (
	"github.com/asynkron/protoactor-go/actor"
)

// Stopping an actor from inside its Receive.
//
// protoactor's Context.Stop stops an actor at once: the Stop system message
// overtakes the user messages in the mailbox, and once the actor has
// stopped it drops whatever is left there without a word (those messages
// do not become dead letters, so their senders get no DeadLetterResponse).
// An Ask queued behind a member's RetireMember, or a turn queued behind a
// session's last release, would never be answered, and the engine's
// tracker would wait for it until Shutdown's ctx ends.
//
// So the session and member actors never call c.Stop on themselves.
// An actor that decides to stop first makes itself refuse every request
// with its documented error ([ErrMemberRetired], [ErrSessionReleased], …),
// then calls selfStop.stop, which posts it a poison pill: the pill goes
// through the mailbox behind every message already queued, each of which
// is refused and answered (its places given back) before the actor stops.
// A request posted after the pill, by a sender that found the actor in
// protoactor's registry a moment before it stopped, reaches a stopped
// actor: the actors' mailboxes (stopAware) turn it into a dead letter, so
// that its sender gets a DeadLetterResponse, as it would have had it been
// sent a moment later. Every caller of this package handles that response
// as the actor being gone.

// selfStop stops the actor that embeds it behind the messages already in
// its mailbox (see above). It is owned by the actor's Receive.
type selfStop struct {
	requested bool
}

// stop posts the actor a poison pill, once. The actor must refuse every
// request from now on: those queued before the pill are answered by its
// Receive, and the pill stops it.
func (s *selfStop) stop(c actor.Context) {
	if s.requested {
		return
	}
	s.requested = true
	c.Poison(c.Self())
}

// stopAware wraps a mailbox producer so that a request (a user message
// with a sender) that reaches the actor after it stopped goes to the dead
// letters, whose DeadLetterResponse tells the sender the actor is gone,
// instead of being dropped without a reply. Notifications (no sender)
// are dropped as before: nobody waits for them.
func stopAware(inner actor.MailboxProducer) actor.MailboxProducer {
	return func() actor.Mailbox { return &stopAwareMailbox{Mailbox: inner()} }
}

// stopAwareMailbox is a mailbox of stopAware.
type stopAwareMailbox struct {
	actor.Mailbox
}

// RegisterHandlers implements actor.Mailbox: it hands the mailbox an
// invoker that knows when the actor has stopped.
func (m *stopAwareMailbox) RegisterHandlers(invoker actor.MessageInvoker, dispatcher actor.Dispatcher) {
	inv := &stopAwareInvoker{MessageInvoker: invoker}
	if self, ok := invoker.(actorInfo); ok {
		inv.self, inv.system = self.Self(), self.ActorSystem()
	}
	m.Mailbox.RegisterHandlers(inv, dispatcher)
}

// actorInfo is the part of protoactor's actor context (the invoker a
// mailbox is given) that stopAwareInvoker needs.
type actorInfo interface {
	Self() *actor.PID
	ActorSystem() *actor.ActorSystem
}

// stopAwareInvoker passes messages on to the actor until it has stopped,
// then sends the requests that still reach it to the dead letters. The
// mailbox calls it from one goroutine at a time.
type stopAwareInvoker struct {
	actor.MessageInvoker
	self    *actor.PID
	system  *actor.ActorSystem
	stopped bool
}

// InvokeSystemMessage implements actor.MessageInvoker. A Stop ends with
// the actor removed from the registry (protoactor's finalizeStop), unless
// it waits for children, which these actors do not have.
func (i *stopAwareInvoker) InvokeSystemMessage(msg any) {
	i.MessageInvoker.InvokeSystemMessage(msg)
	if i.stopped || i.system == nil {
		return
	}
	switch msg.(type) {
	case *actor.Stop, *actor.Terminated:
		_, alive := i.system.ProcessRegistry.Get(i.self)
		i.stopped = !alive
	}
}

// InvokeUserMessage implements actor.MessageInvoker.
func (i *stopAwareInvoker) InvokeUserMessage(msg any) {
	if !i.stopped {
		i.MessageInvoker.InvokeUserMessage(msg)
		return
	}
	if _, _, sender := actor.UnwrapEnvelope(msg); sender != nil {
		i.system.DeadLetter.SendUserMessage(i.self, msg)
	}
}
