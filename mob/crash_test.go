package mob_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"

	"github.com/mobd-dev/mobd/actors"
	"github.com/mobd-dev/mobd/flows"
	"github.com/mobd-dev/mobd/journal"
	"github.com/mobd-dev/mobd/mob"
)

// crashChildEnv makes the test binary the child of TestKillResume: it
// starts a run and is killed by the parent in the middle of it.
const crashChildEnv = "MOBD_MOB_CRASH_CHILD"

const crashDef = `{
  "id": "crashy",
  "profiles": {"worker": {"model": "sim-model"}},
  "flows": {
    "pipeline": {
      "steps": {
        "a": {"role": "worker", "message": "echo: first"},
        "b": {"role": "worker", "message": "[[sim:slow 1500ms]] echo: second after {{ steps.a.output }}", "depends_on": ["a"]},
        "c": {"role": "worker", "message": "echo: third after {{ steps.b.output }}", "depends_on": ["b"]}
      }
    }
  }
}`

// openDurable starts an engine and opens the journal of a state directory.
func openDurable(ctx context.Context, t testing.TB, dir, sim string) (*actors.Engine, *journal.Store, mob.Config, error) {
	var cfg mob.Config
	ecfg := actors.Config{PoolSize: 1, BinaryPath: sim, StateRoot: filepath.Join(dir, "runtimes")}
	if t != nil {
		ecfg.Logger = zaptest.NewLogger(t, zaptest.Level(zapcore.WarnLevel))
	}
	e, err := actors.Start(ctx, ecfg)
	if err != nil {
		return nil, nil, cfg, err
	}
	j, err := journal.Open(ctx, filepath.Join(dir, "journal.db"), journal.Options{})
	if err != nil {
		e.Shutdown(context.Background())
		return nil, nil, cfg, err
	}
	return e, j, mob.Config{Host: mob.EngineHost(e), Journal: j}, nil
}

// crashChild creates the mob, starts the run and reports when step b is in
// flight; then it waits to be killed.
func crashChild() int {
	dir, sim := os.Getenv(crashChildEnv), os.Getenv("MOBD_MOB_CRASH_SIM")
	ctx := context.Background()
	_, _, cfg, err := openDurable(ctx, nil, dir, sim)
	if err != nil {
		fmt.Println("ERROR", err)
		return 1
	}
	def, err := flows.LoadJSON([]byte(crashDef))
	if err != nil {
		fmt.Println("ERROR", err)
		return 1
	}
	m, err := mob.Create(ctx, def, cfg)
	if err == nil {
		_, err = m.Spawn(ctx, mob.SpawnSpec{Profile: "worker"})
	}
	if err != nil {
		fmt.Println("ERROR", err)
		return 1
	}
	if _, err := m.RunFlow(ctx, "pipeline", nil, mob.RunOptions{RunID: "run-1"}); err != nil {
		fmt.Println("ERROR", err)
		return 1
	}
	for ev, err := range m.Subscribe(ctx, 0) {
		if err != nil {
			fmt.Println("ERROR", err)
			return 1
		}
		if ev.Type == mob.EventStepDispatched && ev.Step == "b" {
			if err := cfg.Journal.Sync(ctx); err != nil {
				fmt.Println("ERROR", err)
				return 1
			}
			fmt.Println("IN FLIGHT", ev.Key)
			break
		}
	}
	select {} // killed here
}

// A process killed with SIGKILL in the middle of a run leaves a journal
// from which the next process resumes the run: the completed step is not
// run again, the step in flight is re-dispatched with the same idempotency
// key, and the run completes.
func TestKillResume(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := testCtx(t)

	child := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), crashChildEnv+"="+dir, "MOBD_MOB_CRASH_SIM="+simBin)
	child.Stderr = os.Stderr
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "IN FLIGHT ") {
		child.Process.Kill()
		child.Wait()
		t.Fatalf("child: %q, %v", line, err)
	}
	key := strings.TrimSpace(strings.TrimPrefix(line, "IN FLIGHT "))
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	child.Wait()

	e, j, cfg, err := openDurable(ctx, t, dir, simBin)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Shutdown(context.Background())
	defer j.Close()
	m, err := mob.Open(ctx, "crashy", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	run, err := m.Run(ctx, "run-1")
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	snap, err := run.Wait(wctx)
	if err != nil || snap.Status != mob.RunCompleted {
		t.Fatalf("resumed run: %v, %+v", err, snap)
	}
	if got := string(run.Output("c")); !strings.Contains(got, "third after second after first") {
		t.Fatalf("c = %s", got)
	}
	evs, err := m.RunEvents(ctx, "run-1", 0)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	var redispatched []string
	for _, ev := range evs {
		count[ev.Type+" "+ev.Step]++
		if ev.Type == mob.EventStepRedispatched {
			redispatched = append(redispatched, ev.Step+" "+ev.Key)
		}
	}
	if count["step_dispatched a"] != 1 || count["step_completed a"] != 1 {
		t.Errorf("step a ran again after the restart: %v", count)
	}
	if count["step_dispatched b"] != 1 || len(redispatched) != 1 || redispatched[0] != "b "+key {
		t.Errorf("step b: dispatched %d, redispatched %v, want once with key %s", count["step_dispatched b"], redispatched, key)
	}
	if count["step_completed b"] != 1 || count["step_completed c"] != 1 || count["flow_completed "] != 1 {
		t.Errorf("events %v", count)
	}
}

// A graceful stop (engine shut down, then the mob closed) journals the
// turn the engine lets finish, and refuses the next step's without running
// it: opened again, the run does not run the finished step again, sends
// the refused one, and completes.
func TestGracefulStopJournalsFinishedTurns(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := testCtx(t)
	e, j, cfg, err := openDurable(ctx, t, dir, simBin)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	def, err := flows.LoadJSON([]byte(`{"id": "graceful", "profiles": {"w": {"model": "sim-model"}},
		"flows": {"f": {"steps": {
			"a": {"role": "w", "message": "count to 8 [[sim:slow 40ms]]"},
			"b": {"role": "w", "message": "echo: after {{ steps.a.output }}", "depends_on": ["a"]}}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	m, err := mob.Create(ctx, def, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Spawn(ctx, mob.SpawnSpec{Profile: "w"}); err != nil {
		t.Fatal(err)
	}
	run, err := m.RunFlow(ctx, "f", nil, mob.RunOptions{RunID: "r"})
	if err != nil {
		t.Fatal(err)
	}
	waitFirstDispatched(t, run)
	waitTurnRunning(t, ctx, e, "graceful/w") // a's turn runs: the shutdown lets it finish
	if err := e.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	m.Close()

	e2, _, cfg2, err := openDurableEngine(ctx, t, dir, j)
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Shutdown(context.Background())
	m2, err := mob.Open(ctx, "graceful", cfg2)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	r2, err := m2.Run(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	if snap, err := r2.Wait(ctx); err != nil || snap.Status != mob.RunCompleted {
		t.Fatalf("resumed run %+v: %v", snap, err)
	}
	evs, err := m2.RunEvents(ctx, "r", 0)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, ev := range evs {
		count[ev.Type+" "+ev.Step]++
	}
	if count["step_completed a"] != 1 || count["mobd_step_redispatched a"] != 0 || count["step_target_failed b"] != 0 {
		t.Errorf("events %v: want a completed before the stop, not sent again, and b not failed", count)
	}
}

// openDurableEngine starts a new engine on dir's runtimes for journal j.
func openDurableEngine(ctx context.Context, t testing.TB, dir string, j *journal.Store) (*actors.Engine, *journal.Store, mob.Config, error) {
	e, err := actors.Start(ctx, actors.Config{PoolSize: 1, BinaryPath: simBin, StateRoot: filepath.Join(dir, "runtimes"),
		Logger: zaptest.NewLogger(t, zaptest.Level(zapcore.WarnLevel))})
	if err != nil {
		return nil, nil, mob.Config{}, err
	}
	return e, j, mob.Config{Host: mob.EngineHost(e), Journal: j}, nil
}
