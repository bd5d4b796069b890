package actors_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/mobd-dev/mobd/actors"
	"github.com/mobd-dev/mobd/rpc"
	"github.com/mobd-dev/mobd/supervision"
)

// benchEngine starts an engine with default settings (except the logger
// and any overrides in cfg).
func benchEngine(b *testing.B, cfg actors.Config) *actors.Engine {
	b.Helper()
	cfg.BinaryPath = simBin
	if cfg.StateRoot == "" {
		cfg.StateRoot = b.TempDir()
	}
	cfg.Logger = zap.NewNop()
	e, err := actors.Start(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = e.Shutdown(context.Background()) })
	return e
}

// BenchmarkTurnOverhead compares, in the same run and interleaved, a turn
// through the actor path (SessionRef.Turn: admission, session mailbox,
// goroutine, rpc, completion message, reply process) with the same turn
// through the bare SDK (rpc.Session.Turn) on a runtime of its own on the
// engine's realm: "jsonl" is the engine's persistent default, "memory"
// keeps the runtime's own work minimal so the actor path's cost shows. Both
// sides move to fresh sessions every 50 turns, because the simulated
// runtime rewrites a session's whole file on every turn. ns/op is one turn
// on each side; the metrics give each side and their ratio.
func BenchmarkTurnOverhead(b *testing.B) {
	for _, backend := range []string{"jsonl", "memory"} {
		b.Run(backend, func(b *testing.B) { benchTurnOverhead(b, backend) })
	}
}

func benchTurnOverhead(b *testing.B, backend string) {
	ctx := context.Background()
	e := benchEngine(b, actors.Config{PoolSize: 1, RealmBackend: backend})
	// The bare runtime joins the engine's realm, so its session files go to
	// the same directory: runtimes with state roots of their own differed
	// by up to 20% in turn time for their whole lives.
	cfg := e.Config()
	c, err := rpc.Connect(ctx, rpc.Options{BinaryPath: simBin, RealmID: cfg.RealmID, StateRoot: cfg.StateRoot, RealmBackend: cfg.RealmBackend})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	prompt := rpc.Text("echo: the quick brown fox")
	var ref *actors.SessionRef
	var bare *rpc.Session
	fresh := func() {
		var err error
		if ref, err = e.CreateSession(ctx, rpc.Text("hello"), rpc.SessionOptions{}); err != nil {
			b.Fatal(err)
		}
		if bare, err = c.CreateSession(ctx, rpc.Text("hello"), rpc.SessionOptions{}); err != nil {
			b.Fatal(err)
		}
		// The actor reads its history baseline before its first turn.
		if _, err := ref.Turn(ctx, prompt, rpc.TurnOptions{}); err != nil {
			b.Fatal(err)
		}
		if _, err := bare.Turn(ctx, prompt, rpc.TurnOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	for range 5 {
		fresh()
	}
	var sdk, act time.Duration
	b.ResetTimer()
	for i := range b.N {
		if i%50 == 0 {
			b.StopTimer()
			fresh()
			b.StartTimer()
		}
		// Alternate which side goes first.
		for k := range 2 {
			start := time.Now()
			if (i+k)%2 == 0 {
				if _, err := bare.Turn(ctx, prompt, rpc.TurnOptions{}); err != nil {
					b.Fatal(err)
				}
				sdk += time.Since(start)
			} else {
				if _, err := ref.Turn(ctx, prompt, rpc.TurnOptions{}); err != nil {
					b.Fatal(err)
				}
				act += time.Since(start)
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(sdk.Nanoseconds())/float64(b.N), "sdk-ns/turn")
	b.ReportMetric(float64(act.Nanoseconds())/float64(b.N), "actor-ns/turn")
	b.ReportMetric(float64(act)/float64(sdk), "actor/sdk")
}

// BenchmarkRecovery100 kills (SIGKILL) a runtime hosting 100 sessions and
// measures, for each session, the time from the kill until a turn sent to
// it right after the kill has answered; p50 and p99 are over all sessions
// of all iterations. The supervisor runs with its engine defaults (restart
// backoff 50 ms ±20 %), except that every kill counts as a first failure.
func BenchmarkRecovery100(b *testing.B) {
	const sessions = 100
	ctx := context.Background()
	e := benchEngine(b, actors.Config{PoolSize: 1, Supervision: supervision.Spec{
		Intensity: -1, Backoff: supervision.Backoff{ResetAfter: time.Millisecond},
	}})
	refs := make([]*actors.SessionRef, sessions)
	for i := range refs {
		s, err := e.CreateSession(ctx, rpc.Text("hello"), rpc.SessionOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Turn(ctx, rpc.Text("echo: warm"), rpc.TurnOptions{}); err != nil {
			b.Fatal(err)
		}
		refs[i] = s
	}
	var samples []time.Duration
	b.ResetTimer()
	for range b.N {
		// Every session answered the previous round: the runtime is up.
		pid := e.Runtimes()[0].PID
		if pid == 0 {
			b.Fatalf("runtime not running: %+v", e.Runtimes()[0])
		}
		start := time.Now()
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			b.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		for _, s := range refs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					_, err := s.Turn(ctx, rpc.Text("echo: back"), rpc.TurnOptions{})
					if err == nil {
						break
					}
					// A turn that was in flight when the runtime died may
					// end with a typed error; the session answers the next.
				}
				mu.Lock()
				samples = append(samples, time.Since(start))
				mu.Unlock()
			}()
		}
		wg.Wait()
	}
	b.StopTimer()
	slices.Sort(samples)
	pct := func(p float64) float64 {
		return float64(samples[int(p*float64(len(samples)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(pct(1), "max-ms")
}

// BenchmarkMemory measures the heap held by idle session actors (attached
// to existing sessions with Engine.Session) and by member actors (spawned on
// those sessions), per actor, and how many fit in 1 GiB. It measures once,
// whatever b.N; run it with -benchtime 1x.
func BenchmarkMemory(b *testing.B) {
	const n = 1000
	ctx := context.Background()
	root := b.TempDir()
	ids := make([]string, n)
	func() {
		e := benchEngine(b, actors.Config{PoolSize: 2, StateRoot: root})
		defer e.Shutdown(ctx)
		for i := range ids {
			s, err := e.CreateSession(ctx, rpc.Text("hello"), rpc.SessionOptions{})
			if err != nil {
				b.Fatal(err)
			}
			ids[i] = s.ID()
		}
	}()
	e := benchEngine(b, actors.Config{PoolSize: 2, StateRoot: root})
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	b.ResetTimer()
	before := heap()
	for _, id := range ids {
		if _, err := e.Session(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
	withSessions := heap()
	for i, id := range ids {
		if _, err := e.SpawnMember(ctx, actors.MemberSpec{Identity: fmt.Sprintf("m%d", i), Role: "worker", SessionID: id}); err != nil {
			b.Fatal(err)
		}
	}
	withMembers := heap()
	b.StopTimer()
	perSession := float64(withSessions-before) / n
	perMember := float64(withMembers-withSessions) / n
	b.ReportMetric(perSession, "B/session")
	b.ReportMetric(perMember, "B/member")
	b.ReportMetric(float64(1<<30)/perSession, "sessions/GiB")
	b.ReportMetric(float64(1<<30)/perMember, "members/GiB")
	b.ReportMetric(float64(1<<30)/(perSession+perMember), "members+sessions/GiB")
}
