package mob_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mobd-dev/mobd/mob"
)

const researchDef = `{
  "id": "research",
  "orchestrator": {"profile": "lead"},
  "profiles": {
    "lead": {"model": "sim-model", "peer_description": "plans"},
    "analyst": {"model": "sim-model", "peer_description": "digs"}
  },
  "wiring": {"auto_wire_orchestrator": true},
  "flows": {
    "brief": {
      "steps": {
        "plan": {"role": "lead", "message": "What is the capital of {{ params.country }}?"},
        "dig": {"role": "analyst", "message": "echo: digging {{ steps.plan.output }}", "depends_on": ["plan"]},
        "facts": {"role": "analyst", "message": "Capital of Italy?", "depends_on": ["plan"], "dispatch_mode": "one_to_one",
                  "expected_schema_ref": "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"]}"},
        "report": {"role": "lead", "message": "echo: {{ steps.dig.output }} / {{ steps.facts.output.city }}", "depends_on": ["dig", "facts"]}
      }
    }
  }
}`

func TestFlowRunsOnMembers(t *testing.T) {
	t.Parallel()
	f := newFixture(t, researchDef)
	ctx := testCtx(t)
	for _, s := range []mob.SpawnSpec{{Profile: "lead"}, {Profile: "analyst"}, {Profile: "analyst"}} {
		if _, err := f.mob.Spawn(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	run, err := f.mob.RunFlow(ctx, "brief", map[string]string{"country": "France"}, mob.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := run.Wait(ctx)
	if err != nil {
		t.Fatalf("run: %v\n%+v", err, snap)
	}
	if snap.Status != mob.RunCompleted || len(snap.Steps) != 4 {
		t.Fatalf("snapshot %+v", snap)
	}
	var report string
	json.Unmarshal(run.Output("report"), &report)
	if !strings.Contains(report, "digging") || !strings.Contains(report, " / sim city") {
		t.Fatalf("report = %q", report)
	}
	var dig []string
	if err := json.Unmarshal(run.Output("dig"), &dig); err != nil || len(dig) != 2 {
		t.Fatalf("dig (fan-out to two analysts) = %s, %v", run.Output("dig"), err)
	}
	if snap.Accounting.UsageTotal.OutputTokens == 0 || len(snap.Accounting.Members) != 3 {
		t.Fatalf("accounting %+v", snap.Accounting)
	}
	evs, err := f.mob.RunEvents(ctx, run.ID(), 0)
	if err != nil || evs[0].Type != mob.EventFlowStarted || evs[len(evs)-1].Type != mob.EventFlowCompleted {
		t.Fatalf("events %v %v", evs, err)
	}
}

// A mob keeps only Config.RetainRuns finished runs in memory; older ones
// are read back from the journal by id, and starting a run again with the
// id of one of them returns it instead of running it twice.
func TestFinishedRunsLeaveMemory(t *testing.T) {
	t.Parallel()
	f := newFixture(t, researchDef)
	ctx := testCtx(t)
	def := *f.mob.Definition()
	def.ID = "retained"
	cfg := f.cfg
	cfg.RetainRuns = 1
	m, err := mob.Create(ctx, &def, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.SpawnMany(ctx, []mob.SpawnSpec{{Profile: "lead"}, {Profile: "analyst"}}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 3 {
		run, err := m.RunFlow(ctx, "brief", map[string]string{"country": "France"}, mob.RunOptions{RunID: fmt.Sprintf("r%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := run.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, run.ID())
	}
	if runs := m.Runs(); len(runs) != 1 || runs[0].ID() != "r2" {
		t.Fatalf("runs in memory: %d", len(runs))
	}
	old, err := m.Run(ctx, "r0")
	if err != nil {
		t.Fatal(err)
	}
	snap, err := old.Wait(ctx)
	if err != nil || snap.Status != mob.RunCompleted || len(snap.Steps) != 4 || old.Output("report") == nil {
		t.Fatalf("r0 from the journal: %+v, %v", snap, err)
	}
	if err := old.Cancel(ctx, "late"); !errors.Is(err, mob.ErrRunFinished) {
		t.Fatalf("cancel a finished run: %v", err)
	}
	again, err := m.RunFlow(ctx, "brief", map[string]string{"country": "France"}, mob.RunOptions{RunID: "r0"})
	if err != nil || again.Status().Status != mob.RunCompleted {
		t.Fatalf("run r0 again: %v", err)
	}
	if evs, _ := m.RunEvents(ctx, "r0", 0); evs[len(evs)-1].Type != mob.EventFlowCompleted || countType(evs, mob.EventFlowStarted) != 1 {
		t.Fatalf("r0 ran twice: %d events", len(evs))
	}
	if _, err := m.Run(ctx, "nope"); !errors.Is(err, mob.ErrRunNotFound) {
		t.Fatalf("unknown run: %v", err)
	}
}

func countType(evs []mob.Event, typ string) int {
	n := 0
	for _, ev := range evs {
		if ev.Type == typ {
			n++
		}
	}
	return n
}

// A repeat_until loop runs on real members: its body runs each iteration,
// the run goes on when the condition holds, and fails once max_iterations
// pass without it.
func TestRepeatUntilOnMembers(t *testing.T) {
	t.Parallel()
	f := newFixture(t, `{"id": "loops", "profiles": {"w": {"model": "sim-model"}},
	  "flows": {
	    "until": {"steps": {
	        "draft": {"role": "w", "message": "echo: done"},
	        "ship": {"role": "w", "message": "echo: shipped {{ loops.l.iterations.0.steps.draft }}"}},
	      "root": {"nodes": {
	        "l": {"kind": "repeat_until", "loop_id": "l", "max_iterations": 3,
	              "until": {"op": "eq", "path": "steps.draft.output", "value": "done"},
	              "body": {"nodes": {"draft": {"kind": "step", "step_id": "draft"}}}},
	        "ship": {"kind": "step", "step_id": "ship", "depends_on": ["l"]}}}},
	    "never": {"steps": {"try": {"role": "w", "message": "echo: again"}},
	      "root": {"nodes": {
	        "l": {"kind": "repeat_until", "loop_id": "l", "max_iterations": 3,
	              "until": {"op": "eq", "path": "steps.try.output", "value": "done"},
	              "body": {"nodes": {"try": {"kind": "step", "step_id": "try"}}}}}}}}}`)
	ctx := testCtx(t)
	if _, err := f.mob.Spawn(ctx, mob.SpawnSpec{Profile: "w"}); err != nil {
		t.Fatal(err)
	}
	run, err := f.mob.RunFlow(ctx, "until", nil, mob.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := run.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if got := string(run.Output("ship")); got != `"shipped done"` {
		t.Fatalf("ship = %s", got)
	}
	run, err = f.mob.RunFlow(ctx, "never", nil, mob.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := run.Wait(ctx)
	if !errors.Is(err, mob.ErrRunFailed) || !strings.Contains(snap.Reason, "did not hold after 3 iterations") {
		t.Fatalf("never: %v (%s)", err, snap.Reason)
	}
	evs, _ := f.mob.RunEvents(ctx, run.ID(), 0)
	if n := countType(evs, mob.EventStepCompleted); n != 3 {
		t.Fatalf("%d iterations completed, want 3", n)
	}
}

// TestRunStopsWhenJournalFails closes the journal while a run's only step
// is on its member: the run actor cannot journal the step's and the run's
// end, so it stops, and the run never reports an outcome the journal does
// not hold.
func TestRunStopsWhenJournalFails(t *testing.T) {
	t.Parallel()
	f := newFixture(t, `{"id": "jfail", "profiles": {"w": {"model": "sim-model"}},
	  "flows": {"one": {"steps": {"a": {"role": "w", "message": "[[sim:slow 300ms]] echo: a"}}}}}`)
	ctx := testCtx(t)
	if _, err := f.mob.Spawn(ctx, mob.SpawnSpec{Profile: "w"}); err != nil {
		t.Fatal(err)
	}
	run, err := f.mob.RunFlow(ctx, "one", nil, mob.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitFirstDispatched(t, run)
	if err := f.journal.Close(); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer cancel()
	if snap, err := run.Wait(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait after the journal failed: status %s, err %v; want no outcome (deadline exceeded)", snap.Status, err)
	}
}

// A cancelled run's member turn is cancelled on the runtime once the
// grace period is over, which frees the member for what comes next.
func TestCancelledRunFreesItsMember(t *testing.T) {
	t.Parallel()
	f := newFixture(t, `{"id": "m", "profiles": {"w": {"model": "sim-model"}},
		"limits": {"cancel_grace_timeout_ms": 100},
		"flows": {"f": {"steps": {"s": {"role": "w", "message": "[[sim:slow 60s]] think long"}}}}}`)
	ctx := testCtx(t)
	if _, err := f.mob.Spawn(ctx, mob.SpawnSpec{Profile: "w"}); err != nil {
		t.Fatal(err)
	}
	run, err := f.mob.RunFlow(ctx, "f", nil, mob.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitFirstDispatched(t, run)
	waitTurnRunning(t, ctx, f.engine, "m/w") // the turn reaches the runtime
	if err := run.Cancel(ctx, "enough"); err != nil {
		t.Fatal(err)
	}
	// Behind the slow turn in the member's session: answered only once
	// the slow turn is cancelled.
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if _, err := f.mob.Send(sctx, "", "w", "echo: free again"); err != nil {
		t.Fatalf("a message after the cancelled run: %v (the run's turn still holds the member)", err)
	}
}
