package flowtest_test

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mobd-dev/mobd/actors"
	"github.com/mobd-dev/mobd/flows"
	"github.com/mobd-dev/mobd/flowtest"
	"github.com/mobd-dev/mobd/mob"
)

// reviewFlow uses most features at once, for the golden files: a plan with
// a schema, a fan-out with usage and a retried provider failure, an
// advisory step whose output does not match its schema, an approval, a
// loop, and a step that times out once.
const reviewFlow = `"flows": {"review": {
	"steps": {
		"plan": {"role": "lead", "message": "Plan a review of {{ params.repo }}",
			"expected_schema_ref": "{\"type\": \"object\", \"properties\": {\"files\": {\"type\": \"array\", \"items\": {\"type\": \"string\"}}}, \"required\": [\"files\"]}"},
		"dig": {"role": "w", "message": "Review {{ steps.plan.output.files.0 }}",
			"mobd": {"retry": {"attempts": 2, "initial_backoff_ms": 1000}}},
		"lint": {"role": "lead", "message": "Lint it",
			"expected_schema_ref": "{\"type\": \"object\", \"properties\": {\"clean\": {\"type\": \"boolean\"}}, \"required\": [\"clean\"]}"},
		"sign": {"message": "Merge {{ params.repo }}? Findings: {{ steps.dig }}",
			"mobd": {"approval": {"approvers": ["ops"]}}},
		"draft": {"role": "w", "message": "Draft the release note", "dispatch_mode": "fan_in",
			"expected_schema_ref": "{\"type\": \"object\", \"properties\": {\"score\": {\"type\": \"number\"}}, \"required\": [\"score\"]}"},
		"publish": {"role": "lead", "message": "Publish {{ loops.notes.iterations.1.steps.draft }}", "timeout_ms": 5000,
			"mobd": {"retry": {"attempts": 2, "initial_backoff_ms": 100}}}
	},
	"root": {"nodes": {
		"plan": {"kind": "step", "step_id": "plan"},
		"dig": {"kind": "step", "step_id": "dig", "depends_on": ["plan"]},
		"lint": {"kind": "step", "step_id": "lint", "depends_on": ["plan"], "failure_policy": "continue"},
		"sign": {"kind": "step", "step_id": "sign", "depends_on": ["dig"]},
		"notes": {"kind": "repeat_until", "loop_id": "notes", "depends_on": ["sign"], "max_iterations": 3,
			"until": {"op": "gt", "path": "steps.draft.output.score", "value": 7},
			"body": {"nodes": {"draft": {"kind": "step", "step_id": "draft"}}}},
		"publish": {"kind": "step", "step_id": "publish", "depends_on": ["notes"]}
	}}}}`

// recordReview runs the review flow on scripted members and returns the
// harness and the ended run.
func recordReview(t *testing.T) (*flowtest.Harness, *mob.Run) {
	h := flowtest.New(t, define(t, reviewFlow), flowtest.Config{Members: members("lead", "w:w1", "w:w2")})
	h.Script(flowtest.Match{Step: "plan"}, flowtest.JSON(map[string]any{"files": []string{"main.go"}}).WithUsage(120, 30))
	h.Script(flowtest.Match{Step: "dig", Member: "w1"}, flowtest.Text("LGTM").WithUsage(200, 20))
	h.Script(flowtest.Match{Step: "dig", Member: "w2"},
		flowtest.Fail("remote:PROVIDER_ERROR", "rate limited").WithUsage(5, 0), flowtest.Text("one nit").WithUsage(210, 25))
	h.Script(flowtest.Match{Step: "lint"}, flowtest.JSON(map[string]string{"clean": "mostly"}))
	h.Script(flowtest.Match{Step: "draft"}, flowtest.JSON(map[string]int{"score": 5}), flowtest.JSON(map[string]int{"score": 8}))
	h.Script(flowtest.Match{Step: "publish"}, flowtest.Never(), flowtest.Text("published").After(time.Second))
	run := h.Run("review", map[string]string{"repo": "mobd"})
	h.Advance(time.Second) // dig's retry
	h.WaitEvent(run, func(e mob.Event) bool { return e.Type == mob.EventApprovalRequested })
	if err := run.Decide(h.Context(), "sign", flows.ApprovalDecision{Approved: true, By: "ops", Comment: "ship it"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Finish(run); err != nil {
		t.Fatal(err)
	}
	return h, run
}

// A run recorded as a golden file replays without the members that made
// it: the replay journals the same events.
func TestGoldenRecordReplay(t *testing.T) {
	const path = "testdata/review.golden"
	h, run := recordReview(t)
	snap := run.Status()
	if snap.Status != mob.RunCompleted || text(t, run.Output("publish")) != "published" {
		t.Fatalf("recorded run %s: %+v", snap.Status, snap.Steps)
	}
	h.Golden(run, path)

	golden, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"run_id":"run-1"`, `"session_id":"session-1"`, `"class":"output","error":"structured output does not match`,
		`"type":"mobd_step_retry_scheduled"`, `"class":"timeout"`, `"decision":{"approved":true,"by":"ops","comment":"ship it"}`} {
		if !strings.Contains(string(golden), want) {
			t.Errorf("golden file lacks %s", want)
		}
	}
	for _, unwanted := range []string{`"at":`, `"cursor":`, `"mob_id":`} {
		if strings.Contains(string(golden), unwanted) {
			t.Errorf("golden file holds %s", unwanted)
		}
	}

	replayed := flowtest.Replay(t, define(t, reviewFlow), path, nil)
	rs := replayed.Status()
	if rs.Status != mob.RunCompleted || string(replayed.Output("publish")) != string(run.Output("publish")) {
		t.Fatalf("replayed run %s, publish %s", rs.Status, replayed.Output("publish"))
	}
	if rs.Accounting.UsageTotal != snap.Accounting.UsageTotal {
		t.Errorf("replayed usage %+v, recorded %+v", rs.Accounting.UsageTotal, snap.Accounting.UsageTotal)
	}
}

// errorsTB records the test errors of a replay expected to fail.
type errorsTB struct {
	testing.TB
	mu     sync.Mutex
	errors []string
}

func (e *errorsTB) Helper() {}

func (e *errorsTB) Errorf(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.errors = append(e.errors, fmt.Sprintf(format, args...))
}

// A replay against a flow that changed since the recording reports the
// difference.
func TestReplayDetectsChange(t *testing.T) {
	changed := strings.Replace(reviewFlow, `"Lint it"`, `"Lint it twice"`, 1)
	changed = strings.Replace(changed, `"initial_backoff_ms": 1000}`, `"initial_backoff_ms": 2000}`, 1)
	tb := &errorsTB{TB: t}
	flowtest.Replay(tb, define(t, changed), "testdata/review.golden", nil)
	all := strings.Join(tb.errors, "\n")
	if strings.Contains(all, `"by":"timeout"`) {
		t.Errorf("the recorded decision was not made:\n%s", all)
	}
	if !strings.Contains(all, "replay of testdata/review.golden differs") ||
		!strings.Contains(all, `+ {"type":"mobd_step_retry_scheduled"`) || !strings.Contains(all, `"delay_ms":2000`) {
		t.Fatalf("replay of a changed flow reported:\n%s", all)
	}
}

// A Go DSL flow replays from the spec its recording holds.
func TestGoldenGoDSL(t *testing.T) {
	const path = "testdata/research.golden"
	spec, _, _ := researchFlow(t)
	def := define(t, `"flows": {}`)
	h := flowtest.New(t, def, flowtest.Config{Members: members("lead", "w")})
	h.Script(flowtest.Match{Step: "plan"}, flowtest.JSON(researchPlan{Questions: []string{"why"}, Depth: 3}))
	h.Script(flowtest.Match{Step: "answer"}, flowtest.Fail(actors.CodeTurnLost, "runtime died"), flowtest.Text("because"))
	run := h.RunSpec(spec, researchParams{Topic: "otters"})
	if _, err := h.Finish(run); err != nil {
		t.Fatal(err)
	}
	h.Golden(run, path)
	replayed := flowtest.Replay(t, def, path, nil)
	if got := text(t, replayed.Output("summary")); got != "lead: Summarise because" {
		t.Errorf("replayed summary %q", got)
	}
}

// A recorded supervisor escalation and cancellation replay too.
func TestGoldenEscalationAndCancel(t *testing.T) {
	const path = "testdata/escalation.golden"
	def := define(t, `"supervisor": {"role": "boss", "escalation_threshold": 1},
		"flows": {"f": {"steps": {
			"a": {"role": "w", "message": "a", "failure_policy": "continue"},
			"b": {"role": "w", "message": "b"}}}}`)
	h := flowtest.New(t, def, flowtest.Config{Members: members("w", "boss:chief")})
	h.Script(flowtest.Match{Step: "a"}, flowtest.Fail(actors.CodeTurnOutcomeUnknown, "runtime died mid-turn"))
	h.Script(flowtest.Match{Step: "b"}, flowtest.Text("b").After(time.Minute))
	h.Script(flowtest.Match{Escalation: true}, flowtest.Text("noted; stop the run"))
	run := h.Run("f", nil)
	h.WaitEvent(run, func(e mob.Event) bool { return e.Type == mob.EventSupervisorEscalation })
	if err := run.Cancel(h.Context(), "the supervisor said stop"); err != nil {
		t.Fatal(err)
	}
	if snap, _ := h.Wait(run); snap.Status != mob.RunCanceled {
		t.Fatalf("run %s", snap.Status)
	}
	h.Golden(run, path)

	replayed := flowtest.Replay(t, def, path, nil)
	if st := replayed.Status(); st.Status != mob.RunCanceled || st.Reason != "the supervisor said stop" {
		t.Fatalf("replayed run %s %q", st.Status, st.Reason)
	}
}
