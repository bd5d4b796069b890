package mob_test

import (
	"encoding/json"
	"strings"
	"testing"

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
