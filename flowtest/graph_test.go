package flowtest_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mobd-dev/mobd/actors"
	"github.com/mobd-dev/mobd/flowtest"
	"github.com/mobd-dev/mobd/mob"
)

// Dependencies: with depends_on_mode all one failed or skipped dependency
// skips the dependent, and the skip propagates; with any, one completed
// dependency is enough and the dependent is skipped only when none
// completed.
func TestDependencies(t *testing.T) {
	t.Parallel()
	def := define(t, `"flows": {"f": {"steps": {
		"a": {"role": "w", "message": "a"},
		"b": {"role": "w", "message": "b", "failure_policy": "continue"},
		"all": {"role": "w", "message": "all", "depends_on": ["a", "b"]},
		"after_all": {"role": "w", "message": "after all", "depends_on": ["all"]},
		"any": {"role": "w", "message": "any {{ steps.a }}", "depends_on": ["a", "b"], "depends_on_mode": "any"},
		"any_none": {"role": "w", "message": "none", "depends_on": ["b", "all"], "depends_on_mode": "any"}
	}}}`)
	h := flowtest.New(t, def, flowtest.Config{Members: members("w")})
	h.Script(flowtest.Match{Step: "b"}, flowtest.Fail(actors.CodeOther, "b broke"))
	run := h.Run("f", nil)
	snap, err := h.Wait(run)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	want := map[string]mob.StepStatus{
		"a": mob.StepCompleted, "b": mob.StepFailed, "all": mob.StepSkipped, "after_all": mob.StepSkipped,
		"any": mob.StepCompleted, "any_none": mob.StepSkipped,
	}
	if got := statuses(snap); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("statuses %v, want %v", got, want)
	}
	reasons := map[string]string{}
	for _, ev := range ofType(h.Events(run), mob.EventStepSkipped) {
		reasons[ev.Step] = ev.Reason
	}
	for stepID, want := range map[string]string{
		"all": "dependency b failed", "after_all": "dependency all skipped", "any_none": "no dependency completed",
	} {
		if !strings.Contains(reasons[stepID], want) {
			t.Errorf("step_skipped %s reason %q, want it to say %q", stepID, reasons[stepID], want)
		}
	}
	if got := text(t, run.Output("any")); got != "w: any w: a" {
		t.Errorf("any output %q", got)
	}
	for _, c := range h.Calls() {
		if c.Step == "all" || c.Step == "after_all" || c.Step == "any_none" {
			t.Errorf("skipped step %s was dispatched", c.Step)
		}
	}
}

// Dispatch modes: fan_out sends to every member of the role and outputs an
// array in member order, whatever order they answer in; one_to_one pairs
// each member with one output of the step it depends on; fan_in gathers
// the outputs it depends on into one dispatch.
func TestDispatchModes(t *testing.T) {
	t.Parallel()
	def := define(t, `"flows": {
		"out": {"steps": {"s": {"role": "w", "message": "go"}}},
		"pair": {"steps": {
			"draft": {"role": "w", "message": "draft"},
			"review": {"role": "r", "message": "review {{ steps.draft.output }}", "dispatch_mode": "one_to_one", "depends_on": ["draft"]}}},
		"in": {"steps": {
			"draft": {"role": "w", "message": "draft"},
			"merge": {"role": "r", "message": "merge {{ steps.draft.output }}", "dispatch_mode": "fan_in", "depends_on": ["draft"]}}}
	}`)

	t.Run("fan_out", func(t *testing.T) {
		t.Parallel()
		h := flowtest.New(t, def, flowtest.Config{Members: members("w:w1", "w:w2", "w:w3")})
		// The first member answers last.
		h.Script(flowtest.Match{Member: "w1"}, flowtest.Text("one").After(3*time.Second))
		h.Script(flowtest.Match{Member: "w2"}, flowtest.Text("two").After(2*time.Second))
		h.Script(flowtest.Match{Member: "w3"}, flowtest.Text("three").After(time.Second))
		run := h.Run("out", nil)
		if _, err := h.Finish(run); err != nil {
			t.Fatal(err)
		}
		jsonEq(t, run.Output("s"), `["one", "two", "three"]`)
		var order []string
		for _, ev := range ofType(h.Events(run), mob.EventStepTargetCompleted) {
			order = append(order, ev.Member)
		}
		if fmt.Sprint(order) != "[w3 w2 w1]" {
			t.Errorf("answers journalled in order %v, want w3 w2 w1", order)
		}
	})

	t.Run("one_to_one", func(t *testing.T) {
		t.Parallel()
		h := flowtest.New(t, def, flowtest.Config{Members: members("w:w1", "w:w2", "r:r1", "r:r2", "r:r3")})
		run := h.Run("pair", nil)
		if _, err := h.Wait(run); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, c := range h.CallsTo("review") {
			got = append(got, c.Member+": "+c.Prompt)
		}
		slices.Sort(got) // the members get their asks concurrently
		// Two drafts pair with the first two reviewers, in member order.
		if want := "[r1: review w1: draft r2: review w2: draft]"; fmt.Sprint(got) != want {
			t.Fatalf("review calls %v, want %s", got, want)
		}
		jsonEq(t, run.Output("review"), `["r1: review w1: draft", "r2: review w2: draft"]`)

		// More outputs to pair than members: the step fails.
		h2 := flowtest.New(t, def, flowtest.Config{Members: members("w:w1", "w:w2", "r:r1")})
		_, err := h2.Wait(h2.Run("pair", nil))
		if !errors.Is(err, mob.ErrRunFailed) || !strings.Contains(err.Error(), "one_to_one pairs 2 outputs") {
			t.Fatalf("pairing 2 outputs with 1 member: %v", err)
		}
	})

	t.Run("fan_in", func(t *testing.T) {
		t.Parallel()
		h := flowtest.New(t, def, flowtest.Config{Members: members("w:w1", "w:w2", "r:r1", "r:r2")})
		run := h.Run("in", nil)
		if _, err := h.Wait(run); err != nil {
			t.Fatal(err)
		}
		calls := h.CallsTo("merge")
		if len(calls) != 1 || calls[0].Member != "r1" {
			t.Fatalf("merge calls %+v, want one to r1", calls)
		}
		jsonEq(t, run.Output("merge"), `"r1: merge [\"w1: draft\",\"w2: draft\"]"`)
	})
}

// Collection policies: all needs every target, any the first one, quorum
// n of them; a quorum larger than the role fails the step.
func TestCollectionPolicies(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, policy string
		script       func(h *flowtest.Harness)
		status       mob.StepStatus
		output       string // JSON, for completed steps
		err          string // in the step's failure, for failed ones
		targets      string // the targets' statuses, in member order
	}{
		{name: "all", policy: `{"type": "all"}`, status: mob.StepCompleted,
			output: `["w1: go", "w2: go", "w3: go"]`, targets: "[completed completed completed]"},
		{name: "all/one fails", policy: `{"type": "all"}`, status: mob.StepFailed,
			script: func(h *flowtest.Harness) {
				h.Script(flowtest.Match{Member: "w2"}, flowtest.Fail("remote:PROVIDER_ERROR", "overloaded model"))
			},
			err: "w2: provider: overloaded model", targets: "[completed failed canceled]"},
		{name: "any", policy: `{"type": "any"}`, status: mob.StepCompleted, output: `"w2: go"`,
			script: func(h *flowtest.Harness) {
				h.Script(flowtest.Match{Member: "w1"}, flowtest.Never())
				h.Script(flowtest.Match{Member: "w3"}, flowtest.Text("late").After(time.Second))
			},
			targets: "[canceled completed canceled]"},
		{name: "quorum", policy: `{"type": "quorum", "n": 2}`, status: mob.StepCompleted, output: `["w1: go", "w3: go"]`,
			script: func(h *flowtest.Harness) {
				h.Script(flowtest.Match{Member: "w2"}, flowtest.Never())
			},
			targets: "[completed canceled completed]"},
		{name: "quorum/too many failures", policy: `{"type": "quorum", "n": 2}`, status: mob.StepFailed,
			script: func(h *flowtest.Harness) {
				h.Script(flowtest.Match{Member: "w1"}, flowtest.Fail(actors.CodeTurnLost))
				h.Script(flowtest.Match{Member: "w3"}, flowtest.Fail(actors.CodeTurnLost))
			},
			err: "w1: runtime", targets: "[failed completed failed]"},
		{name: "quorum/impossible", policy: `{"type": "quorum", "n": 4}`, status: mob.StepFailed,
			err: `quorum of 4 needs more than the 3 members of role "w"`, targets: "[]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			def := define(t, `"flows": {"f": {"steps": {"s": {"role": "w", "message": "go", "collection_policy": `+tc.policy+`}}}}`)
			h := flowtest.New(t, def, flowtest.Config{Members: members("w:w1", "w:w2", "w:w3")})
			if tc.script != nil {
				tc.script(h)
			}
			run := h.Run("f", nil)
			snap, err := h.Wait(run)
			st := step(t, snap, "s")
			if st.Status != tc.status {
				t.Fatalf("step %s, want %s (run: %v)", st.Status, tc.status, err)
			}
			var targets []string
			for _, tr := range st.Targets {
				targets = append(targets, string(tr.Status))
			}
			if fmt.Sprint(targets) != tc.targets {
				t.Errorf("targets %v, want %s", targets, tc.targets)
			}
			if tc.status == mob.StepCompleted {
				if err != nil {
					t.Fatalf("run: %v", err)
				}
				jsonEq(t, run.Output("s"), tc.output)
				return
			}
			if err == nil || snap.Status != mob.RunFailed {
				t.Fatalf("run %s, %v; want failed", snap.Status, err)
			}
			failed := ofType(h.Events(run), mob.EventStepFailed)
			if len(failed) != 1 || !strings.Contains(failed[0].Error, tc.err) || failed[0].Class == "" {
				t.Fatalf("step_failed %+v, want an error with %q", failed, tc.err)
			}
			if tc.name == "quorum/impossible" && len(h.Calls()) != 0 {
				t.Errorf("an impossible quorum dispatched %d asks", len(h.Calls()))
			}
		})
	}
}

// Conditions: a step whose condition does not hold is skipped.
func TestConditions(t *testing.T) {
	t.Parallel()
	params := map[string]any{"n": 5, "s": "go", "tags": []string{"a", "b"}, "obj": map[string]any{"ok": true}}
	for _, tc := range []struct {
		cond string
		runs bool
	}{
		{`{"op": "eq", "path": "params.s", "value": "go"}`, true},
		{`{"op": "eq", "path": "params.s", "value": "stop"}`, false},
		{`{"op": "eq", "path": "params.obj.ok", "value": true}`, true},
		{`{"op": "eq", "path": "params.tags.1", "value": "b"}`, true},
		{`{"op": "eq", "path": "params.missing", "value": "x"}`, false},
		{`{"op": "in", "path": "params.s", "values": ["stop", "go"]}`, true},
		{`{"op": "in", "path": "params.n", "values": [1, 2]}`, false},
		{`{"op": "gt", "path": "params.n", "value": 4}`, true},
		{`{"op": "gt", "path": "params.n", "value": 5}`, false},
		{`{"op": "lt", "path": "params.n", "value": 5.5}`, true},
		{`{"op": "lt", "path": "params.s", "value": "a"}`, false},
		{`{"op": "and", "exprs": [{"op": "gt", "path": "params.n", "value": 1}, {"op": "eq", "path": "params.s", "value": "go"}]}`, true},
		{`{"op": "and", "exprs": [{"op": "gt", "path": "params.n", "value": 1}, {"op": "eq", "path": "params.s", "value": "no"}]}`, false},
		{`{"op": "or", "exprs": [{"op": "gt", "path": "params.n", "value": 9}, {"op": "eq", "path": "params.s", "value": "go"}]}`, true},
		{`{"op": "or", "exprs": [{"op": "gt", "path": "params.n", "value": 9}, {"op": "eq", "path": "params.s", "value": "no"}]}`, false},
		{`{"op": "not", "expr": {"op": "eq", "path": "params.s", "value": "go"}}`, false},
		{`{"op": "not", "expr": {"op": "eq", "path": "params.missing", "value": "go"}}`, true},
		{`{"op": "eq", "path": "steps.first.output.level", "value": "high"}`, true},
	} {
		t.Run(tc.cond, func(t *testing.T) {
			t.Parallel()
			def := define(t, `"flows": {"f": {"steps": {
				"first": {"role": "w", "message": "x", "output_format": "json"},
				"s": {"role": "w", "message": "go", "depends_on": ["first"], "condition": `+tc.cond+`}}}}`)
			h := flowtest.New(t, def, flowtest.Config{Members: members("w")})
			h.Script(flowtest.Match{Step: "first"}, flowtest.JSON(map[string]string{"level": "high"}))
			run := h.Run("f", params)
			snap, err := h.Wait(run)
			if err != nil {
				t.Fatal(err)
			}
			want := mob.StepSkipped
			if tc.runs {
				want = mob.StepCompleted
			}
			st := step(t, snap, "s")
			if st.Status != want {
				t.Fatalf("step %s, want %s", st.Status, want)
			}
			if !tc.runs {
				if st.Reason != "condition is false" || len(h.CallsTo("s")) != 0 {
					t.Fatalf("skipped step: reason %q, %d calls", st.Reason, len(h.CallsTo("s")))
				}
			}
		})
	}
}

// Branches: of the steps of a branch group, the first whose condition
// holds runs (in plan order), else the one without a condition; the others
// are skipped.
func TestBranches(t *testing.T) {
	t.Parallel()
	def := define(t, `"flows": {"f": {"steps": {
		"route": {"role": "lead", "message": "route {{ params.kind }}", "output_format": "json"},
		"fix": {"role": "w", "message": "fix", "depends_on": ["route"], "branch": "handle",
			"condition": {"op": "in", "path": "steps.route.output.kind", "values": ["bug", "regression"]}},
		"regress": {"role": "w", "message": "bisect", "depends_on": ["route"], "branch": "handle",
			"condition": {"op": "eq", "path": "steps.route.output.kind", "value": "regression"}},
		"docs": {"role": "w", "message": "docs", "depends_on": ["route"], "branch": "handle",
			"condition": {"op": "eq", "path": "steps.route.output.kind", "value": "docs"}},
		"triage": {"role": "w", "message": "triage", "depends_on": ["route"], "branch": "handle"},
		"close": {"role": "lead", "message": "close", "depends_on": ["fix", "regress", "docs", "triage"], "depends_on_mode": "any"}
	}}}`)
	for _, tc := range []struct{ kind, taken string }{
		{"bug", "fix"},
		{"regression", "fix"}, // fix comes first in the plan and its condition holds too
		{"docs", "docs"},
		{"question", "triage"}, // no condition holds: the alternative without one
	} {
		t.Run(tc.kind, func(t *testing.T) {
			t.Parallel()
			h := flowtest.New(t, def, flowtest.Config{Members: members("lead", "w")})
			h.Script(flowtest.Match{Step: "route"}, flowtest.Func(func(c flowtest.Call) flowtest.Reply {
				return flowtest.JSON(map[string]string{"kind": strings.TrimPrefix(c.Prompt, "route ")})
			}))
			run := h.Run("f", map[string]string{"kind": tc.kind})
			snap, err := h.Wait(run)
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range []string{"fix", "regress", "docs", "triage"} {
				st := step(t, snap, id)
				if id == tc.taken {
					if st.Status != mob.StepCompleted {
						t.Errorf("%s %s, want completed", id, st.Status)
					}
					continue
				}
				if st.Status != mob.StepSkipped || st.Reason != "branch handle took "+tc.taken {
					t.Errorf("%s %s (%q), want skipped because the branch took %s", id, st.Status, st.Reason, tc.taken)
				}
			}
			if step(t, snap, "close").Status != mob.StepCompleted {
				t.Errorf("the join did not run")
			}
		})
	}
}
