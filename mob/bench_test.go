package mob_test

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/mobd-dev/mobd/actors"
	"github.com/mobd-dev/mobd/flows"
	"github.com/mobd-dev/mobd/journal"
	"github.com/mobd-dev/mobd/mob"
	"github.com/mobd-dev/mobd/rpc"
)

// chainDef is a mob whose flow "chain" has n steps, each depending on the
// previous one, each sent to one member of role worker (fan_in: the
// members take turns).
func chainDef(b *testing.B, n int) *flows.Definition {
	var steps []string
	for i := range n {
		dep := ""
		if i > 0 {
			dep = fmt.Sprintf(`, "depends_on": ["s%d"]`, i-1)
		}
		steps = append(steps, fmt.Sprintf(`"s%d": {"role": "worker", "dispatch_mode": "fan_in", "message": "echo: the quick brown fox"%s}`, i, dep))
	}
	def, err := flows.LoadJSON([]byte(`{"id": "bench", "profiles": {"worker": {"model": "sim-model"}},
		"flows": {"chain": {"steps": {` + strings.Join(steps, ",") + `}}}}`))
	if err != nil {
		b.Fatal(err)
	}
	return def
}

// refreshEvery5 calls fresh, off the clock, before every fifth iteration:
// the simulated runtime rewrites a session's file on every turn, so the
// benchmarks move to fresh sessions before the files grow.
func refreshEvery5(b *testing.B, i int, fresh func()) {
	if i%5 == 0 {
		b.StopTimer()
		fresh()
		b.StartTimer()
	}
}

func benchMob(b *testing.B, pool, workers, steps int, backend string) (*mob.Mob, *journal.Store) {
	b.Helper()
	m, j, _ := benchMobEngine(b, pool, workers, steps, backend)
	return m, j
}

// benchMobEngine is benchMob that also returns the engine the mob runs on.
func benchMobEngine(b *testing.B, pool, workers, steps int, backend string) (*mob.Mob, *journal.Store, *actors.Engine) {
	b.Helper()
	ctx := context.Background()
	e, err := actors.Start(ctx, actors.Config{PoolSize: pool, BinaryPath: simBin, StateRoot: b.TempDir(), Logger: zap.NewNop(),
		MemberQueue: 4096, SessionQueue: 4096, RealmBackend: backend})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Shutdown(context.Background()) })
	j, err := journal.Open(ctx, filepath.Join(b.TempDir(), "journal.db"), journal.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { j.Close() })
	m, err := mob.Create(ctx, chainDef(b, steps), mob.Config{Host: mob.EngineHost(e), Journal: j})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(m.Close)
	for range workers {
		if _, err := m.Spawn(ctx, mob.SpawnSpec{Profile: "worker"}); err != nil {
			b.Fatal(err)
		}
	}
	return m, j, e
}

// bareClient starts a runtime of its own, outside e, for the direct SDK
// side of a comparison, on e's realm: same realm id, state root and backend,
// so its session files go to the same directory as the engine's. Runtimes
// with state roots of their own differed by up to 20% in turn time for
// their whole lives (the one in the first directory made was the fastest
// in 6 runs of 6), which swamped the overhead measured; on one realm,
// three runtimes agree within 2%.
func bareClient(b *testing.B, e *actors.Engine) *rpc.Client {
	b.Helper()
	cfg := e.Config()
	c, err := rpc.Connect(context.Background(), rpc.Options{BinaryPath: simBin, RealmID: cfg.RealmID, StateRoot: cfg.StateRoot, RealmBackend: cfg.RealmBackend})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

// memberLike returns what the member session member was created with: its
// first prompt, model and labels (but the engine's creation key), read
// through c. The simulated runtime's turn costs more the larger a
// session's history is (it rewrites the session's file), so the direct
// sides of a comparison create their sessions with these and run the
// member's conversation, not a shorter one of their own.
func memberLike(b *testing.B, c *rpc.Client, member string) (rpc.Content, rpc.SessionOptions) {
	b.Helper()
	ctx := context.Background()
	d, err := c.ReadSession(ctx, member)
	if err != nil {
		b.Fatal(err)
	}
	h, err := c.ReadSessionHistory(ctx, member, 0, 0)
	if err != nil {
		b.Fatal(err)
	}
	i := slices.IndexFunc(h.Messages, func(m rpc.HistoryMessage) bool { return m.Role == "user" && m.Content != nil })
	if i < 0 {
		b.Fatalf("member session %s has no first prompt: %+v", member, h.Messages)
	}
	labels := maps.Clone(d.Labels)
	delete(labels, actors.CreateLabel) // the engine finds its creations by it
	return *h.Messages[i].Content, rpc.SessionOptions{Model: d.Model, Labels: labels}
}

// BenchmarkFlowOverhead compares, interleaved in one run, a 10-step flow
// (each step one turn of the same member, journalled in SQLite on disk)
// with the same 10 turns called directly through the SDK on a runtime of
// its own that joins the engine's realm (bareClient), in a session made
// like the member's (memberLike), both on rkat-sim with no model latency.
// Both sides move to fresh sessions every 5 runs, because the simulated
// runtime rewrites a session's file on every turn. ns/op is one run plus
// its 10 direct turns; the metrics give each side, their ratio and the
// journal's writes per step.
func BenchmarkFlowOverhead(b *testing.B) {
	ctx := context.Background()
	m, j, e := benchMobEngine(b, 1, 1, 10, "jsonl")
	c := bareClient(b, e)
	prompt := rpc.Text("echo: the quick brown fox")
	var bare *rpc.Session
	fresh := func() {
		info, err := m.Respawn(ctx, "worker")
		if err != nil {
			b.Fatal(err)
		}
		first, opts := memberLike(b, c, info.SessionID)
		if bare, err = c.CreateSession(ctx, first, opts); err != nil {
			b.Fatal(err)
		}
	}
	fresh()
	for range 3 { // warm both paths
		r, _ := m.RunFlow(ctx, "chain", nil, mob.RunOptions{})
		if _, err := r.Wait(ctx); err != nil {
			b.Fatal(err)
		}
		for range 10 {
			bare.Turn(ctx, prompt, rpc.TurnOptions{})
		}
	}
	st0 := j.Stats()
	var flowT, directT, flowCPU, directCPU time.Duration
	b.ResetTimer()
	for i := range b.N {
		refreshEvery5(b, i, fresh)
		t0, c0 := time.Now(), processCPU()
		r, err := m.RunFlow(ctx, "chain", nil, mob.RunOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := r.Wait(ctx); err != nil {
			b.Fatal(err)
		}
		t1, c1 := time.Now(), processCPU()
		for range 10 {
			if _, err := bare.Turn(ctx, prompt, rpc.TurnOptions{}); err != nil {
				b.Fatal(err)
			}
		}
		flowT += t1.Sub(t0)
		directT += time.Since(t1)
		flowCPU += c1 - c0
		directCPU += processCPU() - c1
	}
	b.StopTimer()
	st := j.Stats()
	steps := float64(10 * b.N)
	b.ReportMetric(float64(flowT.Microseconds())/float64(b.N), "flow-µs/run")
	b.ReportMetric(float64(directT.Microseconds())/float64(b.N), "sdk-µs/10turns")
	b.ReportMetric(float64(flowCPU.Microseconds())/float64(b.N), "flow-cpu-µs/run")
	b.ReportMetric(float64(directCPU.Microseconds())/float64(b.N), "sdk-cpu-µs/10turns")
	b.ReportMetric(float64(flowT)/float64(directT), "flow/sdk")
	b.ReportMetric(float64(st.Committed-st0.Committed)/steps, "records/step")
	b.ReportMetric(float64(st.Transactions-st0.Transactions)/steps, "txns/step")
}

// processCPU returns the CPU time (user and system) this process has used:
// the CPU metrics of BenchmarkFlowOverhead are what mobd's side costs the
// machine, which the runtimes share with it.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkLayerOverhead splits BenchmarkFlowOverhead's ratio by layer: in
// one run it interleaves the same 10 turns through the SDK, through an
// engine session actor (actors.SessionRef.Turn), through a member and its
// session actor (actors.MemberRef.AskWith), and as the 10 steps of a flow,
// all on rkat-sim with no model latency, and reports each against the SDK.
// Every side's session is made like the flow's member (memberLike).
func BenchmarkLayerOverhead(b *testing.B) {
	ctx := context.Background()
	m, _, e := benchMobEngine(b, 1, 1, 10, "jsonl")
	c := bareClient(b, e)
	prompt := rpc.Text("echo: the quick brown fox")
	var (
		bare    *rpc.Session
		session *actors.SessionRef
		member  *actors.MemberRef
		members int
	)
	fresh := func() {
		info, err := m.Respawn(ctx, "worker")
		if err != nil {
			b.Fatal(err)
		}
		first, opts := memberLike(b, c, info.SessionID)
		if bare, err = c.CreateSession(ctx, first, opts); err != nil {
			b.Fatal(err)
		}
		if session, err = e.CreateSession(ctx, first, opts); err != nil {
			b.Fatal(err)
		}
		if member != nil {
			if err := member.Retire(ctx); err != nil {
				b.Fatal(err)
			}
		}
		members++
		spec := actors.MemberSpec{Identity: fmt.Sprintf("layer-%d", members), Prompt: first.String(), Model: opts.Model, Labels: opts.Labels}
		if member, err = e.SpawnMember(ctx, spec); err != nil {
			b.Fatal(err)
		}
	}
	var sdk, sessions, asks, flow time.Duration
	timed := func(d *time.Duration, f func() error) {
		t0 := time.Now()
		if err := f(); err != nil {
			b.Fatal(err)
		}
		*d += time.Since(t0)
	}
	tenTimes := func(turn func() error) func() error {
		return func() error {
			for range 10 {
				if err := turn(); err != nil {
					return err
				}
			}
			return nil
		}
	}
	b.ResetTimer()
	for i := range b.N {
		refreshEvery5(b, i, fresh)
		timed(&flow, func() error {
			r, err := m.RunFlow(ctx, "chain", nil, mob.RunOptions{})
			if err == nil {
				_, err = r.Wait(ctx)
			}
			return err
		})
		timed(&sdk, tenTimes(func() error { _, err := bare.Turn(ctx, prompt, rpc.TurnOptions{}); return err }))
		timed(&sessions, tenTimes(func() error { _, err := session.Turn(ctx, prompt, rpc.TurnOptions{}); return err }))
		timed(&asks, tenTimes(func() error { _, err := member.AskWith(ctx, &actors.Ask{Content: &prompt}); return err }))
	}
	b.StopTimer()
	b.ReportMetric(float64(sdk.Microseconds())/float64(10*b.N), "sdk-µs/turn")
	b.ReportMetric(float64(sessions)/float64(sdk), "session/sdk")
	b.ReportMetric(float64(asks)/float64(sdk), "member/sdk")
	b.ReportMetric(float64(flow)/float64(sdk), "flow/sdk")
}

// BenchmarkConcurrentRuns starts 1,000 runs of a 5-step flow at once on 32
// workers over 2 runtimes and waits for all of them: runs/s and the heap
// they hold while in flight. The runtimes keep sessions in memory, so that
// the simulated runtime's rewriting of session files (which grows with
// every turn of a session) does not hide mobd's own cost.
func BenchmarkConcurrentRuns(b *testing.B) {
	runs := benchRuns
	ctx := context.Background()
	m, j := benchMob(b, 2, 32, 5, "memory")
	var ms runtime.MemStats
	var heapPeak uint64
	var total time.Duration
	for range b.N {
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&ms)
		base := ms.HeapInuse
		b.StartTimer()
		t0 := time.Now()
		all := make([]*mob.Run, runs)
		for i := range all {
			r, err := m.RunFlow(ctx, "chain", nil, mob.RunOptions{})
			if err != nil {
				b.Fatal(err)
			}
			all[i] = r
		}
		runtime.ReadMemStats(&ms)
		heapPeak = max(heapPeak, ms.HeapInuse-min(base, ms.HeapInuse))
		var wg sync.WaitGroup
		var failed sync.Map
		for _, r := range all {
			wg.Go(func() {
				if _, err := r.Wait(ctx); err != nil {
					failed.Store(r.ID(), err)
				}
			})
		}
		wg.Wait()
		total += time.Since(t0)
		failed.Range(func(k, v any) bool { b.Fatalf("run %v: %v", k, v); return false })
	}
	b.ReportMetric(float64(runs*b.N)/total.Seconds(), "runs/s")
	b.ReportMetric(float64(heapPeak)/float64(runs), "heap-B/run")
	st := j.Stats()
	b.ReportMetric(float64(st.Committed)/float64(st.Transactions), "records/txn")
}

var benchRuns = 1000
