package mob_test

import (
	"context"
	"os"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"

	"github.com/mobd-dev/mobd/actors"
	"github.com/mobd-dev/mobd/flows"
	"github.com/mobd-dev/mobd/journal"
	"github.com/mobd-dev/mobd/mob"
	"github.com/mobd-dev/mobd/rpc/rpctest"
)

// simBin is the rkat-sim executable built for this test binary.
var simBin string

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		os.Exit(crashChild())
	}
	os.Exit(rpctest.MainWithSim(m, &simBin, rpctest.IgnoreDeadLetterThrottle))
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// fixture is an engine on rkat-sim, a journal and a mob of a definition.
type fixture struct {
	engine  *actors.Engine
	journal *journal.Store
	mob     *mob.Mob
	cfg     mob.Config
}

func newFixture(t testing.TB, def string) *fixture {
	t.Helper()
	d, err := flows.LoadJSON([]byte(def))
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	e, err := actors.Start(ctx, actors.Config{
		PoolSize: 1, BinaryPath: simBin, StateRoot: t.TempDir(),
		Logger: zaptest.NewLogger(t, zaptest.Level(zapcore.WarnLevel)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Shutdown(context.Background()) })
	j, err := journal.Open(ctx, ":memory:", journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	cfg := mob.Config{Host: mob.EngineHost(e), Journal: j, Logger: zaptest.NewLogger(t, zaptest.Level(zapcore.WarnLevel))}
	m, err := mob.Create(ctx, d, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return &fixture{engine: e, journal: j, mob: m, cfg: cfg}
}

// waitFirstDispatched waits until the first step of run is dispatched.
func waitFirstDispatched(t testing.TB, run *mob.Run) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(2 * time.Millisecond) {
		snap := run.Status()
		if len(snap.Steps) > 0 && snap.Steps[0].Status == mob.StepDispatched {
			return
		}
		if time.Now().After(deadline) || snap.Status.Terminal() {
			t.Fatalf("the run's first step was not dispatched: %+v", snap)
		}
	}
}

// waitTurnRunning waits until the session of member identity (engine-wide,
// "<mob>/<member>") runs a turn on its runtime: a turn that an engine's
// shutdown lets finish and that CancelAsk interrupts there, rather than
// one still queued in the member or its session.
func waitTurnRunning(t testing.TB, ctx context.Context, e *actors.Engine, identity string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(2 * time.Millisecond) {
		if m := e.Member(identity); m != nil {
			if info, err := m.Session().Info(ctx); err == nil && info.Running {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no turn of %s runs on its runtime", identity)
		}
	}
}
