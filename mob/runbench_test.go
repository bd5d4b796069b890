package mob_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/mobd-dev/mobd/actors"
	"github.com/mobd-dev/mobd/journal"
	"github.com/mobd-dev/mobd/mob"
	"github.com/mobd-dev/mobd/rpc"
)

// echoHost is a Host whose members answer every Ask at once, so that a
// run's cost is the mob's alone: no runtime, no session actor.
type echoHost struct{ sys *actor.ActorSystem }

func (h echoHost) System() *actor.ActorSystem { return h.sys }

func (h echoHost) SpawnMember(ctx context.Context, spec actors.MemberSpec) (mob.Member, error) {
	id := spec.Identity
	pid := h.sys.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		switch a := c.Message().(type) {
		case *actors.Ask:
			c.Respond(&actors.Answer{Identity: id, SessionID: "s-" + id, Text: "You said: the quick brown fox", Key: a.Key, Usage: rpc.Usage{InputTokens: 10, OutputTokens: 10}})
		case *actors.GetState, *actors.WirePeer, *actors.UnwirePeer, *actors.RetireMember:
			c.Respond(&actors.MemberState{Identity: id, SessionID: "s-" + id})
		}
	}))
	return echoMember{id, pid, h.sys}, nil
}

type echoMember struct {
	id  string
	pid *actor.PID
	sys *actor.ActorSystem
}

func (m echoMember) Identity() string  { return m.id }
func (m echoMember) PID() *actor.PID   { return m.pid }
func (m echoMember) SessionID() string { return "s-" + m.id }
func (m echoMember) Retire(ctx context.Context) error {
	return m.sys.Root.StopFuture(m.pid).Wait()
}

// BenchmarkRunActor runs the 10-step chain of BenchmarkFlowOverhead on
// members that answer at once (journal on disk): µs/run is what the run
// actor, its journal and one hop each way cost per run, without turns.
func BenchmarkRunActor(b *testing.B) {
	ctx := context.Background()
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }))
	defer sys.Shutdown()
	j, err := journal.Open(ctx, filepath.Join(b.TempDir(), "journal.db"), journal.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	m, err := mob.Create(ctx, chainDef(b, 10), mob.Config{Host: echoHost{sys}, Journal: j})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	if _, err := m.Spawn(ctx, mob.SpawnSpec{Profile: "worker"}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	t0 := time.Now()
	for range b.N {
		r, err := m.RunFlow(ctx, "chain", nil, mob.RunOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := r.Wait(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(time.Since(t0).Microseconds())/float64(b.N), "µs/run")
}
