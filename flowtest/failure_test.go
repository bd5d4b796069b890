package flowtest_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mobd-dev/mobd/actors"
	"github.com/mobd-dev/mobd/flows"
	"github.com/mobd-dev/mobd/flowtest"
	"github.com/mobd-dev/mobd/mob"
	"github.com/mobd-dev/mobd/rpc"
)

// A step's structured output is validated against its expected schema; an
// output that does not match, or that the runtime could not extract, fails
// the target with class output.
func TestExpectedSchema(t *testing.T) {
	t.Parallel()
	def := define(t, `"flows": {"f": {"steps": {"s": {"role": "w", "message": "capital?",
		"expected_schema_ref": "{\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}, \"pop\": {\"type\": \"integer\", \"minimum\": 1}}, \"required\": [\"city\", \"pop\"]}"}}}}`)
	for _, tc := range []struct {
		name  string
		reply *flowtest.Reply
		ok    bool
		err   string
	}{
		{"valid", ptr(flowtest.JSON(map[string]any{"city": "Paris", "pop": 2100000})), true, ""},
		{"default reply", nil, true, ""}, // the smallest instance of the schema
		{"wrong type", ptr(flowtest.JSON(map[string]any{"city": 7, "pop": 1})), false, "does not match the expected schema"},
		{"missing field", ptr(flowtest.JSON(map[string]any{"city": "Paris"})), false, "does not match the expected schema"},
		{"extraction error", &flowtest.Reply{ExtractionError: "model wrote prose"}, false, "structured output: model wrote prose"},
		{"no output", ptr(flowtest.Text("Paris")), false, "no structured output"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := flowtest.New(t, def, flowtest.Config{Members: members("w")})
			if tc.reply != nil {
				h.Script(flowtest.Match{}, *tc.reply)
			}
			run := h.Run("f", nil)
			snap, err := h.Wait(run)
			if c := h.Calls(); len(c) != 1 || !strings.Contains(string(c[0].OutputSchema), `"city"`) {
				t.Fatalf("the ask did not carry the expected schema: %+v", c)
			}
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				if tc.reply == nil {
					jsonEq(t, run.Output("s"), `{"city": "", "pop": 1}`)
				}
				return
			}
			if err == nil || step(t, snap, "s").Status != mob.StepFailed {
				t.Fatalf("run %s, %v; want the step failed", snap.Status, err)
			}
			f := ofType(h.Events(run), mob.EventStepTargetFailed)
			if len(f) != 1 || f[0].Class != string(flows.FailureOutput) || !strings.Contains(f[0].Error, tc.err) {
				t.Fatalf("step_target_failed %+v, want class output with %q", f, tc.err)
			}
			if strings.Contains(tc.err, "does not match") && string(f[0].Output) != string(tc.reply.Output) {
				t.Errorf("step_target_failed output %s, want the output that did not match, %s", f[0].Output, tc.reply.Output)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// A step built in Go with an expected schema and no output format is a
// json step, as the model's default says and as a loaded definition's is:
// the ask carries the schema and prose does not pass as its output.
func TestExpectedSchemaBuiltInGo(t *testing.T) {
	t.Parallel()
	def := &flows.Definition{
		ID:       "m",
		Profiles: map[string]flows.Profile{"w": {Model: "x"}},
		Flows: map[string]flows.FlowSpec{"f": {Steps: []flows.StepSpec{{
			ID: "s", Role: "w", Message: flows.Text("give me a city"),
			ExpectedSchemaRef: `{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`,
		}}}},
	}
	h := flowtest.New(t, def, flowtest.Config{Members: members("w")})
	h.Script(flowtest.Match{Step: "s"}, flowtest.Text("Paris, I think"))
	run := h.Run("f", nil)
	snap, err := h.Wait(run)
	if c := h.CallsTo("s"); len(c) != 1 || !strings.Contains(string(c[0].OutputSchema), `"city"`) {
		t.Errorf("the ask did not carry the expected schema: %+v", c)
	}
	if err == nil || step(t, snap, "s").Status != mob.StepFailed {
		t.Errorf("run %s, %v; want the step failed for want of structured output", snap.Status, err)
	}
}

// failure_policy escalate (the default) fails the run with the step;
// continue makes the step advisory: its failure is recorded, and a join
// with depends_on_mode any goes on from a fallback.
func TestFailurePolicy(t *testing.T) {
	t.Parallel()
	t.Run("escalate", func(t *testing.T) {
		t.Parallel()
		def := define(t, `"flows": {"f": {"steps": {
			"a": {"role": "w", "message": "a"},
			"slow": {"role": "lead", "message": "slow"},
			"b": {"role": "w", "message": "b", "depends_on": ["a"]}}}}`)
		h := flowtest.New(t, def, flowtest.Config{Members: members("w", "lead")})
		h.Script(flowtest.Match{Step: "a"}, flowtest.Fail("remote:PROVIDER_ERROR", "quota"))
		h.Script(flowtest.Match{Step: "slow"}, flowtest.Never())
		run := h.Run("f", nil)
		snap, err := h.Wait(run)
		var re *mob.RunError
		if !errors.As(err, &re) || re.Status != mob.RunFailed || !strings.Contains(re.Reason, "a failed: provider") {
			t.Fatalf("run error %v", err)
		}
		// The failed frame's other nodes are skipped, the running one too.
		if st := statuses(snap); st["a"] != mob.StepFailed || st["b"] != mob.StepSkipped || st["slow"] != mob.StepCanceled {
			t.Errorf("statuses %v", st)
		}
		if r := step(t, snap, "slow").Reason; r != "frame failed" {
			t.Errorf("slow skipped for %q", r)
		}
	})
	t.Run("continue", func(t *testing.T) {
		t.Parallel()
		def := define(t, `"flows": {"f": {"steps": {
			"advisory": {"role": "w", "message": "try", "failure_policy": "continue"},
			"fallback": {"role": "lead", "message": "fallback"},
			"after_advisory": {"role": "w", "message": "x", "depends_on": ["advisory"]},
			"join": {"role": "lead", "message": "join {{ steps.advisory }} / {{ steps.fallback }}",
				"depends_on": ["advisory", "fallback"], "depends_on_mode": "any"}}}}`)
		h := flowtest.New(t, def, flowtest.Config{Members: members("w", "lead")})
		h.Script(flowtest.Match{Step: "advisory"}, flowtest.Fail(actors.CodeTurnOutcomeUnknown, "runtime died"))
		run := h.Run("f", nil)
		snap, err := h.Wait(run)
		if err != nil {
			t.Fatalf("an advisory failure must not fail the run: %v", err)
		}
		if st := statuses(snap); st["advisory"] != mob.StepFailed || st["after_advisory"] != mob.StepSkipped ||
			st["fallback"] != mob.StepCompleted || st["join"] != mob.StepCompleted {
			t.Errorf("statuses %v", st)
		}
		if got := text(t, run.Output("join")); got != "lead: join null / lead: fallback" {
			t.Errorf("join %q", got)
		}
		failed := ofType(h.Events(run), mob.EventStepFailed)
		if len(failed) != 1 || failed[0].Step != "advisory" || failed[0].Class != string(flows.FailureRuntime) {
			t.Errorf("step_failed %+v", failed)
		}
		var ledger []string
		for _, f := range snap.Failures {
			ledger = append(ledger, f.StepID+":"+f.Reason)
		}
		if strings.Join(ledger, " ") != "advisory:runtime advisory:runtime" {
			t.Errorf("failure ledger %v, want the target's and the step's failure", ledger)
		}
	})
}

// Supervisor escalation: once a run has escalation_threshold failures, the
// supervisor member gets an escalation turn, journalled as
// supervisor_escalation (or supervisor_escalation_failed); the run ends as
// it would have without it.
func TestSupervisorEscalation(t *testing.T) {
	t.Parallel()
	def := define(t, `"supervisor": {"role": "boss", "escalation_threshold": 2, "escalation_turn_timeout_ms": 5000},
		"flows": {"f": {"steps": {
			"a": {"role": "w", "message": "a", "failure_policy": "continue"},
			"b": {"role": "w", "message": "b"}}}}`)
	fail := func(h *flowtest.Harness) {
		h.Script(flowtest.Match{Role: "w"}, flowtest.Fail("remote:PROVIDER_ERROR", "model down"))
	}
	const wantReason = "b failed: provider: w: provider: model down"

	t.Run("supervisor answers", func(t *testing.T) {
		t.Parallel()
		h := flowtest.New(t, def, flowtest.Config{Members: members("w", "boss:chief")})
		fail(h)
		h.Script(flowtest.Match{Escalation: true}, flowtest.Text("I will page someone"))
		run := h.Run("f", nil)
		snap, err := h.Wait(run)
		if err == nil || snap.Reason != wantReason {
			t.Fatalf("run %s %q, %v", snap.Status, snap.Reason, err)
		}
		var esc []flowtest.Call
		for _, c := range h.Calls() {
			if c.Escalation {
				esc = append(esc, c)
			}
		}
		if len(esc) != 1 || esc[0].Member != "chief" || !strings.Contains(esc[0].Prompt, "has 2 failures") ||
			!strings.Contains(esc[0].Prompt, "step a (w, attempt 1): provider: model down") {
			t.Fatalf("escalation asks %+v", esc)
		}
		evs := ofType(h.Events(run), mob.EventSupervisorEscalation)
		if len(evs) != 1 || evs[0].Member != "chief" || evs[0].Text != "I will page someone" {
			t.Fatalf("supervisor_escalation %+v", evs)
		}
		if n := len(ofType(h.Events(run), mob.EventSupervisorEscalationFailed)); n != 0 {
			t.Errorf("%d supervisor_escalation_failed events", n)
		}
	})
	t.Run("below the threshold", func(t *testing.T) {
		t.Parallel()
		h := flowtest.New(t, def, flowtest.Config{Members: members("w", "boss:chief")})
		h.Script(flowtest.Match{Step: "b"}, flowtest.Fail("remote:PROVIDER_ERROR", "model down"))
		run := h.Run("f", nil)
		h.Wait(run)
		if n := len(ofType(h.Events(run), mob.EventSupervisorEscalation)) + len(ofType(h.Events(run), mob.EventSupervisorEscalationFailed)); n != 0 {
			t.Errorf("escalated after one failure")
		}
	})
	for _, tc := range []struct {
		name   string
		setup  func(h *flowtest.Harness)
		member string
		err    string
	}{
		{"no supervisor member", func(h *flowtest.Harness) {}, "", `no live member has the supervisor role "boss"`},
		{"supervisor turn fails", func(h *flowtest.Harness) {
			h.Spawn("boss", "chief")
			h.Script(flowtest.Match{Escalation: true}, flowtest.Fail(actors.CodeTurnLost, "runtime died"))
		}, "chief", "runtime died"},
		{"supervisor turn times out", func(h *flowtest.Harness) {
			h.Spawn("boss", "chief")
			h.Script(flowtest.Match{Escalation: true}, flowtest.Never())
		}, "chief", "escalation turn timed out"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := flowtest.New(t, def, flowtest.Config{Members: members("w")})
			tc.setup(h)
			fail(h)
			run := h.Run("f", nil)
			snap, err := h.Finish(run)
			if !errors.Is(err, mob.ErrRunFailed) || snap.Status != mob.RunFailed || snap.Reason != wantReason {
				t.Fatalf("run %s %q, %v: the escalation must not change the run's outcome", snap.Status, snap.Reason, err)
			}
			evs := ofType(h.Events(run), mob.EventSupervisorEscalationFailed)
			if len(evs) != 1 || evs[0].Member != tc.member || !strings.Contains(evs[0].Error, tc.err) {
				t.Fatalf("supervisor_escalation_failed %+v, want member %q and %q", evs, tc.member, tc.err)
			}
			if h.Mob().State() != mob.StateRunning {
				t.Errorf("mob %s", h.Mob().State())
			}
		})
	}
}

// Run.Cancel ends a run canceled; canceling or deciding afterwards is
// ErrRunFinished.
func TestCancel(t *testing.T) {
	t.Parallel()
	def := define(t, `"flows": {"f": {"steps": {
		"a": {"role": "w", "message": "a"},
		"b": {"role": "w", "message": "b", "depends_on": ["a"]}}}}`)
	h := flowtest.New(t, def, flowtest.Config{Members: members("w")})
	h.Script(flowtest.Match{Step: "a"}, flowtest.Text("late").After(time.Minute))
	run := h.Run("f", nil)
	h.Settle()
	if err := run.Cancel(h.Context(), "operator said stop"); err != nil {
		t.Fatal(err)
	}
	snap, err := h.Wait(run)
	var re *mob.RunError
	if !errors.As(err, &re) || re.Status != mob.RunCanceled || snap.Reason != "operator said stop" {
		t.Fatalf("run %s %q, %v", snap.Status, snap.Reason, err)
	}
	if st := statuses(snap); st["a"] != mob.StepCanceled || len(st) != 1 {
		t.Errorf("statuses %v", st)
	}
	evs := h.Events(run)
	if last := evs[len(evs)-1]; last.Type != mob.EventFlowCanceled || last.Reason != "operator said stop" {
		t.Errorf("last event %+v", last)
	}
	if err := run.Cancel(h.Context(), "again"); !errors.Is(err, mob.ErrRunFinished) {
		t.Errorf("second cancel: %v, want ErrRunFinished", err)
	}
	h.Advance(time.Minute) // the late answer changes nothing
	if n := len(h.Events(run)); n != len(evs) {
		t.Errorf("events after the end: %d, had %d", n, len(evs))
	}
}

// Token budgets: a run or step that uses more than its budget is canceled
// with a *mob.BudgetError.
func TestBudgets(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, flow string
		want       mob.BudgetError
	}{
		{"run max_tokens", `"mobd": {"budget": {"max_tokens": 150}}, "steps": {
			"a": {"role": "w", "message": "a"},
			"b": {"role": "w", "message": "b", "depends_on": ["a"]},
			"c": {"role": "w", "message": "c", "depends_on": ["b"]}}`,
			mob.BudgetError{Limit: "max_tokens", Max: 150, Used: 200}},
		{"step max_output_tokens", `"steps": {
			"a": {"role": "w", "message": "a", "mobd": {"budget": {"max_output_tokens": 40}}},
			"b": {"role": "w", "message": "b", "depends_on": ["a"]},
			"c": {"role": "w", "message": "c", "depends_on": ["b"]}}`,
			mob.BudgetError{Step: "a", Limit: "max_output_tokens", Max: 40, Used: 50}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			def := define(t, `"flows": {"f": {`+tc.flow+`}}`)
			h := flowtest.New(t, def, flowtest.Config{Members: members("w")})
			h.Script(flowtest.Match{}, flowtest.Text("ok").WithUsage(50, 50))
			run := h.Run("f", nil)
			snap, err := h.Wait(run)
			var be *mob.BudgetError
			if !errors.As(err, &be) || !errors.Is(err, mob.ErrBudgetExceeded) || !errors.Is(err, mob.ErrRunFailed) {
				t.Fatalf("run error %v, want a *BudgetError", err)
			}
			if *be != tc.want {
				t.Errorf("budget error %+v, want %+v", *be, tc.want)
			}
			if snap.Status != mob.RunCanceled || !strings.HasPrefix(snap.Reason, "budget exceeded") {
				t.Errorf("run %s %q", snap.Status, snap.Reason)
			}
			if evs := ofType(h.Events(run), mob.EventBudgetExceeded); len(evs) != 1 || evs[0].Step != tc.want.Step {
				t.Errorf("budget events %+v", evs)
			}
			if st := statuses(snap); st["c"] != "" {
				t.Errorf("a step ran after the budget was exceeded: %v", st)
			}
		})
	}
}

// The run's snapshot is Meerkat's run record: the step ledger, the failure
// ledger and usage accounting per member.
func TestLedgers(t *testing.T) {
	t.Parallel()
	def := define(t, `"limits": {"max_step_retries": 1}, "flows": {"f": {"steps": {
		"plan": {"role": "lead", "message": "plan"},
		"dig": {"role": "w", "message": "dig", "depends_on": ["plan"]},
		"note": {"role": "w", "message": "note", "depends_on": ["plan"], "failure_policy": "continue", "dispatch_mode": "one_to_one"}}}}`)
	h := flowtest.New(t, def, flowtest.Config{Members: members("lead", "w:w1", "w:w2")})
	h.Script(flowtest.Match{Step: "plan"}, flowtest.Text("p").WithUsage(100, 10))
	h.Script(flowtest.Match{Step: "dig", Member: "w1"}, flowtest.Fail(actors.CodeTurnLost).WithUsage(7, 0), flowtest.Text("d1").WithUsage(20, 5))
	h.Script(flowtest.Match{Step: "dig", Member: "w2"}, flowtest.Text("d2").WithUsage(30, 6))
	h.Script(flowtest.Match{Step: "note"}, flowtest.Fail("remote:TOOL_ERROR", "no such tool").WithUsage(1, 1))
	run := h.Run("f", nil)
	snap, err := h.Wait(run)
	if err != nil {
		t.Fatal(err)
	}
	var ledger []string
	for _, s := range snap.Steps {
		ledger = append(ledger, s.StepID+"="+string(s.Status))
	}
	if strings.Join(ledger, " ") != "plan=completed dig=completed note=failed" {
		t.Errorf("step ledger %v", ledger)
	}
	dig := step(t, snap, "dig")
	if len(dig.Targets) != 2 || dig.Targets[0].AgentIdentity != "w1" || dig.Targets[0].Attempts != 2 || dig.Targets[1].Attempts != 1 {
		t.Errorf("dig targets %+v", dig.Targets)
	}
	var failures []string
	for _, f := range snap.Failures {
		failures = append(failures, f.StepID+"/"+f.Member+"/"+f.Reason)
	}
	if got := strings.Join(failures, " "); got != "dig/w1/runtime note/w1/tool note//tool" {
		t.Errorf("failure ledger %q", got)
	}
	acc := snap.Accounting
	want := map[string]rpc.Usage{
		"lead": {InputTokens: 100, OutputTokens: 10, TotalTokens: 110},
		"w1":   {InputTokens: 28, OutputTokens: 6, TotalTokens: 34},
		"w2":   {InputTokens: 30, OutputTokens: 6, TotalTokens: 36},
	}
	for id, u := range want {
		if got := acc.Members[id]; got.InputTokens != u.InputTokens || got.OutputTokens != u.OutputTokens || got.Total() != u.TotalTokens {
			t.Errorf("usage of %s %+v, want %+v", id, got, u)
		}
	}
	if acc.UsageTotal.InputTokens != 158 || acc.UsageTotal.OutputTokens != 22 || acc.Attribution != "turn_sum" {
		t.Errorf("accounting %+v", acc)
	}
	if acc.MemberSessionIDs["w2"] != "session-w2-1" {
		t.Errorf("sessions %v", acc.MemberSessionIDs)
	}
}

// A member that refuses an ask because it has as many pending as it takes
// (overloaded) is asked again, the same attempt, after a short backoff:
// no failure. A refusal by the engine's shutdown fails nothing either:
// the target waits to be sent again when the mob is opened again.
func TestRefusalsThatAreNotFailures(t *testing.T) {
	t.Parallel()
	def := define(t, `"flows": {"f": {"steps": {"a": {"role": "w", "message": "a"}}}}`)
	t.Run("overloaded", func(t *testing.T) {
		t.Parallel()
		h := flowtest.New(t, def, flowtest.Config{Members: members("w")})
		h.Script(flowtest.Match{Step: "a"}, flowtest.Fail(actors.CodeOverloaded, "64 asks pending"), flowtest.Fail(actors.CodeOverloaded, "64 asks pending"), flowtest.Text("A"))
		run := h.Run("f", nil)
		h.Settle()
		h.Advance(50 * time.Millisecond)  // the first resend
		h.Advance(100 * time.Millisecond) // the second, after twice as long
		snap, err := h.Wait(run)
		if err != nil || snap.Status != mob.RunCompleted || len(snap.Failures) != 0 {
			t.Fatalf("run %s, failures %+v: %v", snap.Status, snap.Failures, err)
		}
		calls := h.CallsTo("a")
		if len(calls) != 3 || calls[0].Attempt != 1 || calls[2].Attempt != 1 {
			t.Errorf("calls %+v, want the same attempt asked three times", calls)
		}
	})
	t.Run("engine stopped", func(t *testing.T) {
		t.Parallel()
		h := flowtest.New(t, def, flowtest.Config{Members: members("w")})
		h.Script(flowtest.Match{Step: "a"}, flowtest.Fail(actors.CodeEngineStopped, "engine stopped"))
		run := h.Run("f", nil)
		h.Settle()
		snap := run.Status()
		if snap.Status != mob.RunRunning || step(t, snap, "a").Status != mob.StepDispatched || len(snap.Failures) != 0 {
			t.Fatalf("run %s, a %s, failures %+v; want a still dispatched", snap.Status, step(t, snap, "a").Status, snap.Failures)
		}
	})
}
