package flowtest_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mobd-dev/mobd/flowtest"
	"github.com/mobd-dev/mobd/mob"
)

// loopFlow is a repeat_until loop: draft until its score is over 7, then
// report on the iterations.
func loopFlow(max int) string {
	return fmt.Sprintf(`"flows": {"refine": {
		"steps": {
			"draft": {"role": "w", "message": "draft (first score {{ loops.polish.iterations.0.steps.draft.score }})",
				"expected_schema_ref": "{\"type\": \"object\", \"properties\": {\"score\": {\"type\": \"number\"}}, \"required\": [\"score\"]}"},
			"report": {"role": "lead", "message": "first {{ loops.polish.iterations.0.steps.draft.score }}, second {{ loops.polish.iterations.1.steps.draft.score }}, third {{ loops.polish.iterations.2.steps.draft.score }}"}
		},
		"root": {"nodes": {
			"polish": {"kind": "repeat_until", "loop_id": "polish", "max_iterations": %d,
				"until": {"op": "gt", "path": "steps.draft.output.score", "value": 7},
				"body": {"nodes": {"draft": {"kind": "step", "step_id": "draft"}}}},
			"report": {"kind": "step", "step_id": "report", "depends_on": ["polish"]}
		}}}}`, max)
}

func scores(h *flowtest.Harness, s ...int) {
	var replies []flowtest.Reply
	for _, n := range s {
		replies = append(replies, flowtest.JSON(map[string]int{"score": n}))
	}
	h.Script(flowtest.Match{Step: "draft"}, replies...)
}

// repeat_until runs its body until the condition holds; each iteration's
// outputs are loops.<id>.iterations.<n> (null until produced).
func TestRepeatUntil(t *testing.T) {
	t.Parallel()
	h := flowtest.New(t, define(t, loopFlow(5)), flowtest.Config{Members: members("w", "lead")})
	scores(h, 3, 5, 9, 10)
	run := h.Run("refine", nil)
	snap, err := h.Wait(run)
	if err != nil {
		t.Fatal(err)
	}
	var prompts []string
	for _, c := range h.CallsTo("draft") {
		prompts = append(prompts, fmt.Sprintf("%s#%d: %s", c.Loop, c.Iteration, c.Prompt))
	}
	if want := "[polish#0: draft (first score null) polish#1: draft (first score 3) polish#2: draft (first score 3)]"; fmt.Sprint(prompts) != want {
		t.Errorf("draft prompts %v\nwant %s", prompts, want)
	}
	if got := text(t, run.Output("report")); got != "lead: first 3, second 5, third 9" {
		t.Errorf("report %q", got)
	}
	evs := h.Events(run)
	if n := len(ofType(evs, mob.EventLoopIterationStarted)); n != 3 {
		t.Errorf("%d iterations started", n)
	}
	done := ofType(evs, mob.EventLoopCompleted)
	if len(done) != 1 || done[0].Iteration != 2 || done[0].Class != "" || done[0].Reason != "until condition held" {
		t.Errorf("loop_completed %+v", done)
	}
	var frames []string
	for _, s := range snap.Steps {
		frames = append(frames, s.StepID+"@"+s.Frame)
	}
	if want := "[draft@polish#0 draft@polish#1 draft@polish#2 report@]"; fmt.Sprint(frames) != want {
		t.Errorf("step ledger %v, want %s", frames, want)
	}
}

// A loop whose condition never holds is exhausted after max_iterations:
// the loop fails, and with it the run.
func TestRepeatUntilExhausted(t *testing.T) {
	t.Parallel()
	h := flowtest.New(t, define(t, loopFlow(3)), flowtest.Config{Members: members("w", "lead")})
	scores(h, 1, 2, 3, 9)
	run := h.Run("refine", nil)
	snap, err := h.Wait(run)
	if err == nil || snap.Status != mob.RunFailed {
		t.Fatalf("run %s, %v", snap.Status, err)
	}
	if !strings.Contains(snap.Reason, "polish failed: until condition did not hold after 3 iterations") {
		t.Errorf("reason %q", snap.Reason)
	}
	done := ofType(h.Events(run), mob.EventLoopCompleted)
	if len(done) != 1 || done[0].Class != "exhausted" || done[0].Iteration != 2 {
		t.Errorf("loop_completed %+v", done)
	}
	if len(h.CallsTo("draft")) != 3 || step(t, snap, "report").Status != mob.StepSkipped {
		t.Errorf("%d drafts, report %s", len(h.CallsTo("draft")), step(t, snap, "report").Status)
	}
	if f := snap.Failures; len(f) != 1 || f[0].StepID != "polish" || f[0].Reason != "exhausted" {
		t.Errorf("failure ledger %+v", f)
	}
}

// A loop whose dependency fails is skipped, not failed: it adds nothing to
// the failure ledger besides the dependency's own failure.
func TestLoopSkipped(t *testing.T) {
	t.Parallel()
	def := define(t, `"flows": {"f": {
		"steps": {"gate": {"role": "lead", "message": "gate"},
			"draft": {"role": "w", "message": "draft"}},
		"root": {"nodes": {
			"gate": {"kind": "step", "step_id": "gate", "failure_policy": "continue"},
			"l": {"kind": "repeat_until", "loop_id": "l", "depends_on": ["gate"], "max_iterations": 2,
				"until": {"op": "eq", "path": "steps.draft.output", "value": "x"},
				"body": {"nodes": {"draft": {"kind": "step", "step_id": "draft"}}}}}}}}`)
	h := flowtest.New(t, def, flowtest.Config{Members: members("w", "lead")})
	h.Script(flowtest.Match{Step: "gate"}, flowtest.Fail("remote:PROVIDER_ERROR", "down"))
	run := h.Run("f", nil)
	snap, err := h.Wait(run)
	if err != nil || snap.Status != mob.RunCompleted {
		t.Fatalf("run %s: %v", snap.Status, err)
	}
	if len(snap.Failures) != 2 || snap.Failures[0].StepID != "gate" || snap.Failures[1].StepID != "gate" {
		t.Errorf("failure ledger %+v, want the gate's target and step failures only", snap.Failures)
	}
	if len(h.CallsTo("draft")) != 0 {
		t.Error("the skipped loop's body ran")
	}
}

// Each iteration sees its own outputs: a body step the iteration skips
// renders as null and cannot make the until condition hold with the
// output it gave in an earlier iteration.
func TestLoopIterationSeesOwnOutputs(t *testing.T) {
	t.Parallel()
	def := define(t, `"flows": {"f": {
		"steps": {
			"a": {"role": "w", "message": "a"},
			"b": {"role": "w", "message": "b", "condition": {"op": "eq", "path": "steps.a.output", "value": "go"}},
			"c": {"role": "w", "message": "c sees {{ steps.b.output }}"}},
		"root": {"nodes": {
			"l": {"kind": "repeat_until", "loop_id": "l", "max_iterations": 2,
				"until": {"op": "and", "exprs": [
					{"op": "eq", "path": "steps.a.output", "value": "stop"},
					{"op": "eq", "path": "steps.b.output", "value": "done"}]},
				"body": {"nodes": {
					"a": {"kind": "step", "step_id": "a"},
					"b": {"kind": "step", "step_id": "b", "depends_on": ["a"]},
					"c": {"kind": "step", "step_id": "c", "depends_on": ["a", "b"], "depends_on_mode": "any"}}}}}}}}`)
	h := flowtest.New(t, def, flowtest.Config{Members: members("w")})
	h.Script(flowtest.Match{Step: "a"}, flowtest.Text("go"), flowtest.Text("stop"))
	h.Script(flowtest.Match{Step: "b"}, flowtest.Text("done"))
	run := h.Run("f", nil)
	snap, _ := h.Wait(run)
	// Iteration 1: a says stop and b is skipped, so until cannot hold: the
	// loop is exhausted after its 2 iterations.
	if snap.Status != mob.RunFailed || !strings.Contains(snap.Reason, "until condition did not hold after 2 iterations") {
		t.Errorf("run %s (%s), want failed: the loop exhausted", snap.Status, snap.Reason)
	}
	var prompts []string
	for _, c := range h.CallsTo("c") {
		prompts = append(prompts, fmt.Sprintf("#%d %s", c.Iteration, c.Prompt))
	}
	// c starts with b (any of its dependencies will do), so it sees null
	// in iteration 0 too; in iteration 1, b's output of iteration 0 must
	// not show through.
	if want := "[#0 c sees null #1 c sees null]"; fmt.Sprint(prompts) != want {
		t.Errorf("c's prompts %v, want %s", prompts, want)
	}
}

// A nested loop starts afresh in each iteration of the loop around it:
// loops.<inner>.iterations holds the current outer iteration's only.
func TestNestedLoopRestarts(t *testing.T) {
	t.Parallel()
	def := define(t, `"flows": {"f": {
		"steps": {
			"x": {"role": "w", "message": "x"},
			"r": {"role": "w", "message": "r {{ loops.inner.iterations.1.steps.x }}"}},
		"root": {"nodes": {
			"outer": {"kind": "repeat_until", "loop_id": "outer", "max_iterations": 2,
				"until": {"op": "eq", "path": "steps.r.output", "value": "never"},
				"body": {"nodes": {
					"inner": {"kind": "repeat_until", "loop_id": "inner", "max_iterations": 2,
						"until": {"op": "in", "path": "steps.x.output", "values": ["x1", "x2"]},
						"body": {"nodes": {"x": {"kind": "step", "step_id": "x"}}}},
					"r": {"kind": "step", "step_id": "r", "depends_on": ["inner"]}}}}}}}}`)
	h := flowtest.New(t, def, flowtest.Config{Members: members("w")})
	h.Script(flowtest.Match{Step: "x"}, flowtest.Text("x0"), flowtest.Text("x1"), flowtest.Text("x2"))
	run := h.Run("f", nil)
	h.Wait(run)
	var prompts []string
	for _, c := range h.CallsTo("r") {
		prompts = append(prompts, c.Prompt)
	}
	// Outer iteration 0: inner runs x0 and x1. Iteration 1: inner starts
	// again and holds after x2, its only iteration.
	if want := "[r x1 r null]"; fmt.Sprint(prompts) != want {
		t.Errorf("r's prompts %v, want %s", prompts, want)
	}
}
