package actors

import (
	"errors"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/mobd-dev/mobd/internal/dispatch"
)

// Messages of the test actor of the stopAware and selfStop tests.
type (
	blockMsg struct {
		started chan struct{}
		release chan struct{}
	}
	stopNowMsg    struct{} // stops the actor with protoactor's c.Stop
	stopInOrder   struct{} // stops the actor with selfStop
	noteMsg       struct{} // a notification: no sender, no reply
	questionMsg   struct{}
	answerMsg     struct{ refused bool }
	selfStopActor struct {
		selfStop
		closing bool
	}
)

// Receive implements actor.Actor.
func (a *selfStopActor) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *blockMsg:
		close(m.started)
		<-m.release
	case *stopNowMsg:
		c.Stop(c.Self())
	case *stopInOrder:
		a.closing = true
		a.stop(c)
	case *questionMsg:
		c.Respond(&answerMsg{refused: a.closing})
	}
}

// spawnSelfStopActor starts a selfStopActor on the mailbox the session and
// member actors use, in an actor system that collects its dead letters.
func spawnSelfStopActor(t *testing.T) (*actor.ActorSystem, *actor.PID, <-chan any) {
	t.Helper()
	sys := actor.NewActorSystem(actor.WithLoggerFactory(slogFactory(zap.NewNop())))
	t.Cleanup(sys.Shutdown)
	dead := make(chan any, 16)
	sys.EventStream.Subscribe(func(m any) {
		if dl, ok := m.(*actor.DeadLetterEvent); ok {
			dead <- dl.Message
		}
	})
	mb := stopAware(dispatch.Mailbox(func(any) bool { return false }))
	pid := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return &selfStopActor{} }, actor.WithMailbox(mb)))
	return sys, pid, dead
}

// busy has the actor block on a message until the returned function is
// called, so that the messages sent meanwhile queue in its mailbox.
func busy(sys *actor.ActorSystem, pid *actor.PID) (release func()) {
	b := &blockMsg{started: make(chan struct{}), release: make(chan struct{})}
	sys.Root.Send(pid, b)
	<-b.started
	return func() { close(b.release) }
}

// TestStopAwareMailboxDeadLettersRequests checks that a request still in
// the mailbox of an actor that stopped, which protoactor drops without a
// reply, becomes a dead letter, so that its sender learns at once that the
// actor is gone; a notification (no sender) is dropped as before.
func TestStopAwareMailboxDeadLettersRequests(t *testing.T) {
	t.Parallel()
	sys, pid, dead := spawnSelfStopActor(t)
	release := busy(sys, pid)
	sys.Root.Send(pid, &stopNowMsg{})
	sys.Root.Send(pid, &noteMsg{})
	f := sys.Root.RequestFuture(pid, &questionMsg{}, 5*time.Second)
	release()
	if r, err := f.Result(); !errors.Is(err, actor.ErrDeadLetter) {
		t.Fatalf("request queued behind a stop = %#v, %v; want a dead letter", r, err)
	}
	// The dead letters come in mailbox order: the note would be first.
	select {
	case m := <-dead:
		if _, ok := m.(*questionMsg); !ok {
			t.Fatalf("dead letter %#v, want only the request", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no dead letter")
	}
}

// TestSelfStopAnswersQueuedRequests checks that an actor stopped with
// selfStop handles the requests queued before it stopped (and refuses
// them) instead of dropping them, and that it does stop.
func TestSelfStopAnswersQueuedRequests(t *testing.T) {
	t.Parallel()
	sys, pid, _ := spawnSelfStopActor(t)
	release := busy(sys, pid)
	sys.Root.Send(pid, &stopInOrder{})
	sys.Root.Send(pid, &stopInOrder{}) // once only
	f := sys.Root.RequestFuture(pid, &questionMsg{}, 5*time.Second)
	release()
	r, err := f.Result()
	if a, ok := r.(*answerMsg); err != nil || !ok || !a.refused {
		t.Fatalf("request queued behind a selfStop = %#v, %v; want it refused", r, err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		if _, alive := sys.ProcessRegistry.Get(pid); !alive {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the actor did not stop")
		}
	}
}
