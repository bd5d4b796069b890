package mob

import (
	"context"
	"fmt"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/mobd-dev/mobd/actors"
)

// Host is where a mob's members live. The mob and its runs talk to members
// only through their PIDs, with the serialisable member messages of package
// actors (actors.Ask, actors.WirePeer, actors.GetState, …), so any actor
// that answers them can be a member: EngineHost gives members over real
// runtimes; package flowtest gives scripted ones.
type Host interface {
	// System is the actor system the members live in; the mob's run actors
	// are spawned in it too.
	System() *actor.ActorSystem
	// SpawnMember starts a member; spec.SessionID, when set, re-attaches
	// the member to its existing session.
	SpawnMember(ctx context.Context, spec actors.MemberSpec) (Member, error)
}

// Member is a running member as a Host returns it.
type Member interface {
	// Identity is the member's identity.
	Identity() string
	// PID is the member actor.
	PID() *actor.PID
	// SessionID is the member's session id.
	SessionID() string
	// Retire retires the member once it answered what it accepted.
	Retire(ctx context.Context) error
}

// EngineHost returns the Host of members on e's supervised runtimes.
func EngineHost(e *actors.Engine) Host { return engineHost{e} }

type engineHost struct{ e *actors.Engine }

func (h engineHost) System() *actor.ActorSystem { return h.e.ActorSystem() }

func (h engineHost) SpawnMember(ctx context.Context, spec actors.MemberSpec) (Member, error) {
	ref, err := h.e.SpawnMember(ctx, spec)
	if err != nil {
		return nil, err
	}
	return engineMember{ref}, nil
}

type engineMember struct{ *actors.MemberRef }

func (m engineMember) SessionID() string { return m.Session().ID() }

// request sends msg to pid and waits for the reply until ctx is done. The
// reply goes to a short-lived actor, stopped on return, so nothing waits
// behind an abandoned request. That actor watches pid: a request that
// reaches an actor as it stops is dropped without a reply, and is
// reported as ErrMemberGone once the actor has stopped instead of waiting
// for ctx.
func request(ctx context.Context, sys *actor.ActorSystem, pid *actor.PID, msg any) (any, error) {
	replies := make(chan any, 1)
	deliver := func(m any) {
		select {
		case replies <- m:
		default:
		}
	}
	inbox := sys.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		switch m := c.Message().(type) {
		case *actor.Started:
			c.Watch(pid)
		case *actor.Stopping:
			c.Unwatch(pid)
		case *actor.Terminated:
			if m.Who.Equal(pid) {
				// Behind the reply, if pid sent one before it stopped.
				c.Send(c.Self(), targetStopped{})
			}
		case actor.SystemMessage, actor.AutoReceiveMessage:
		case targetStopped:
			deliver(&actor.DeadLetterResponse{Target: pid})
		default:
			deliver(m)
		}
	}))
	defer sys.Root.Stop(inbox)
	sys.Root.RequestWithCustomSender(pid, msg, inbox)
	select {
	case r := <-replies:
		if dl, ok := r.(*actor.DeadLetterResponse); ok {
			return nil, fmt.Errorf("%w: %v", ErrMemberGone, dl.Target)
		}
		return r, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// targetStopped tells a request's inbox that the actor it waits for has
// stopped.
type targetStopped struct{}
