package flowtest_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mobd-dev/mobd/actors"
	"github.com/mobd-dev/mobd/flows"
	"github.com/mobd-dev/mobd/flowtest"
	"github.com/mobd-dev/mobd/mob"
)

// A target that does not answer within the step's timeout fails it with
// class timeout; the step fails, and so does the run.
func TestStepTimeout(t *testing.T) {
	t.Parallel()
	def := define(t, `"flows": {"f": {"steps": {"s": {"role": "w", "message": "go", "timeout_ms": 5000}}}}`)
	h := flowtest.New(t, def, flowtest.Config{Members: members("w")})
	h.Script(flowtest.Match{Step: "s"}, flowtest.Never())
	run := h.Run("f", nil)
	h.Advance(5*time.Second - time.Millisecond)
	if st := run.Status(); st.Status != mob.RunRunning || step(t, st, "s").Status != mob.StepDispatched {
		t.Fatalf("before the timeout: %s, step %s", st.Status, step(t, st, "s").Status)
	}
	h.Advance(time.Millisecond)
	snap, err := h.Wait(run)
	if err == nil || snap.Status != mob.RunFailed {
		t.Fatalf("run %s, %v; want failed", snap.Status, err)
	}
	failed := ofType(h.Events(run), mob.EventStepTargetFailed)
	if len(failed) != 1 || failed[0].Class != string(flows.FailureTimeout) || failed[0].Error != "no answer within 5s" {
		t.Fatalf("step_target_failed %+v", failed)
	}
	if !strings.Contains(snap.Reason, "s failed: timeout") {
		t.Errorf("reason %q", snap.Reason)
	}
	if got := snap.Failures; len(got) != 2 || got[0].Member != "w" || got[0].Reason != "timeout" || got[1].Member != "" {
		t.Errorf("failure ledger %+v", got)
	}
}

// Each target attempt times out at its own dispatch time plus its step's
// timeout, whatever the attempts before it: a later step with a shorter
// timeout, a step dispatched after an earlier deadline, and fan_out
// targets that time out together.
func TestStepTimeoutsEach(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		steps     string
		never     []string // steps that never answer
		failAfter time.Duration
	}{
		{"later step, shorter timeout", `"a": {"role": "w", "message": "a", "timeout_ms": 60000},
			"b": {"role": "w", "message": "b", "timeout_ms": 5000, "depends_on": ["a"]}`, []string{"b"}, 6 * time.Second},
		{"after an earlier deadline", `"a": {"role": "w", "message": "a", "timeout_ms": 5000},
			"b": {"role": "w", "message": "b", "timeout_ms": 5000, "depends_on": ["a"]}`, []string{"b"}, 6 * time.Second},
		{"fan_out together", `"a": {"role": "w", "message": "a"},
			"b": {"role": "w", "message": "b", "timeout_ms": 3000, "dispatch_mode": "fan_out", "depends_on": ["a"]}`, []string{"b"}, 4 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			def := define(t, `"flows": {"f": {"steps": {`+tt.steps+`}}}`)
			h := flowtest.New(t, def, flowtest.Config{Members: members("w:w1", "w:w2")})
			h.Script(flowtest.Match{Step: "a"}, flowtest.Text("done").After(time.Second))
			for _, id := range tt.never {
				h.Script(flowtest.Match{Step: id}, flowtest.Never())
			}
			run := h.Run("f", nil)
			h.Advance(tt.failAfter - time.Millisecond)
			if st := run.Status(); st.Status != mob.RunRunning {
				t.Fatalf("%s before the timeout: run %s", tt.failAfter-time.Millisecond, st.Status)
			}
			h.Advance(time.Millisecond)
			snap, err := h.Wait(run)
			if err == nil || snap.Status != mob.RunFailed {
				t.Fatalf("run %s, %v; want failed", snap.Status, err)
			}
			failed := ofType(h.Events(run), mob.EventStepTargetFailed)
			if len(failed) == 0 || failed[0].Class != string(flows.FailureTimeout) || failed[0].Step != "b" {
				t.Fatalf("step_target_failed %+v", failed)
			}
			if got := failed[0].At.Sub(snap.StartedAt); got != tt.failAfter {
				t.Errorf("timed out after %s, want %s", got, tt.failAfter)
			}
		})
	}
}

// A step's timeout is clamped to the flow deadline: a step that may take a
// minute under a ten-second deadline ends the run at ten seconds, for the
// deadline.
func TestStepTimeoutClampedToFlowDeadline(t *testing.T) {
	t.Parallel()
	def := define(t, `"limits": {"max_flow_duration_ms": 10000},
		"flows": {"f": {"steps": {"s": {"role": "w", "message": "go", "timeout_ms": 60000}}}}`)
	f, _ := def.Flow("f")
	if got := f.Steps[0].Timeout(def.Limits); got != 10*time.Second {
		t.Fatalf("effective timeout %s, want 10s", got)
	}
	h := flowtest.New(t, def, flowtest.Config{Members: members("w")})
	h.Script(flowtest.Match{Step: "s"}, flowtest.Never())
	run := h.Run("f", nil)
	h.Advance(10*time.Second - time.Millisecond)
	if st := run.Status().Status; st != mob.RunRunning {
		t.Fatalf("before the deadline: %s", st)
	}
	h.Advance(time.Millisecond)
	snap, err := h.Wait(run)
	if !errors.Is(err, mob.ErrRunFailed) || snap.Reason != "flow deadline exceeded (limits.max_flow_duration_ms)" {
		t.Fatalf("run %s %q, %v; want failed for the deadline", snap.Status, snap.Reason, err)
	}
	if got := h.Clock().Since(snap.StartedAt); got != 10*time.Second {
		t.Errorf("ended after %s", got)
	}
	if evs := ofType(h.Events(run), mob.EventStepTargetFailed); len(evs) != 0 {
		t.Errorf("the deadline should end the run, not the step timeout: %+v", evs)
	}
	if st := step(t, snap, "s"); st.Status != mob.StepCanceled {
		t.Errorf("step %s, want canceled", st.Status)
	}
}

// The flow deadline fails the run even while its step is within its own
// timeout.
func TestFlowDeadlineFailsRun(t *testing.T) {
	t.Parallel()
	def := define(t, `"limits": {"max_flow_duration_ms": 10000}, "flows": {"f": {"steps": {
		"a": {"role": "w", "message": "a"},
		"b": {"role": "w", "message": "b", "depends_on": ["a"]}}}}`)
	h := flowtest.New(t, def, flowtest.Config{Members: members("w")})
	h.Script(flowtest.Match{Step: "a"}, flowtest.Text("done").After(6*time.Second))
	h.Script(flowtest.Match{Step: "b"}, flowtest.Never())
	run := h.Run("f", nil)
	h.Advance(6 * time.Second)
	if st := step(t, run.Status(), "b").Status; st != mob.StepDispatched {
		t.Fatalf("b %s, want dispatched at 6s", st)
	}
	snap, err := h.Finish(run)
	if err == nil || !strings.Contains(snap.Reason, "flow deadline exceeded") {
		t.Fatalf("run %s %q, %v", snap.Status, snap.Reason, err)
	}
	if got := h.Clock().Since(snap.StartedAt); got != 10*time.Second {
		t.Errorf("ended after %s, want 10s", got)
	}
	if st := statuses(snap); st["a"] != mob.StepCompleted || st["b"] != mob.StepCanceled {
		t.Errorf("statuses %v", st)
	}
	if ev := ofType(h.Events(run), mob.EventFlowFailed); len(ev) != 1 {
		t.Errorf("flow_failed events %+v", ev)
	}
}

// mobd.retry retries the classes it names with capped exponential backoff
// on the clock; limits.max_step_retries retries at once.
func TestRetryPolicy(t *testing.T) {
	t.Parallel()
	t.Run("backoff", func(t *testing.T) {
		t.Parallel()
		def := define(t, `"flows": {"f": {"steps": {"s": {"role": "w", "message": "go",
			"mobd": {"retry": {"attempts": 4, "initial_backoff_ms": 1000, "max_backoff_ms": 1500, "multiplier": 2}}}}}}`)
		h := flowtest.New(t, def, flowtest.Config{Members: members("w")})
		h.Script(flowtest.Match{Step: "s"},
			flowtest.Fail("remote:PROVIDER_ERROR"), flowtest.Fail(actors.CodeTurnLost),
			flowtest.Fail("remote:PROVIDER_ERROR"), flowtest.Text("finally"))
		run := h.Run("f", nil)
		h.Advance(999 * time.Millisecond)
		if n := len(h.Calls()); n != 1 {
			t.Fatalf("%d calls before the first backoff ran out", n)
		}
		h.Advance(time.Millisecond)
		if n := len(h.Calls()); n != 2 {
			t.Fatalf("%d calls after the first backoff", n)
		}
		snap, err := h.Finish(run)
		if err != nil {
			t.Fatal(err)
		}
		var delays []int64
		for _, ev := range ofType(h.Events(run), mob.EventStepRetryScheduled) {
			delays = append(delays, ev.DelayMS)
		}
		if fmt.Sprint(delays) != "[1000 1500 1500]" {
			t.Errorf("backoffs %v, want [1000 1500 1500]", delays)
		}
		var at []string
		for _, c := range h.Calls() {
			at = append(at, fmt.Sprintf("%d@%s", c.Attempt, c.At.Sub(snap.StartedAt)))
		}
		if fmt.Sprint(at) != "[1@0s 2@1s 3@2.5s 4@4s]" {
			t.Errorf("attempts %v", at)
		}
		if got := text(t, run.Output("s")); got != "finally" {
			t.Errorf("output %q", got)
		}
		if tr := step(t, snap, "s").Targets; len(tr) != 1 || tr[0].Attempts != 4 {
			t.Errorf("targets %+v", tr)
		}
		if len(snap.Failures) != 3 {
			t.Errorf("failure ledger %+v, want the 3 failed attempts", snap.Failures)
		}
	})
	t.Run("class not retried", func(t *testing.T) {
		t.Parallel()
		def := define(t, `"flows": {"f": {"steps": {"s": {"role": "w", "message": "go",
			"mobd": {"retry": {"attempts": 3, "retry_on": ["timeout", "output"]}}}}}}`)
		h := flowtest.New(t, def, flowtest.Config{Members: members("w")})
		h.Script(flowtest.Match{Step: "s"}, flowtest.Fail("remote:TOOL_ERROR", "tool exploded"), flowtest.Text("never asked"))
		run := h.Run("f", nil)
		snap, err := h.Wait(run)
		if err == nil || len(h.Calls()) != 1 || len(ofType(h.Events(run), mob.EventStepRetryScheduled)) != 0 {
			t.Fatalf("run %s, %v, %d calls: a tool failure must not be retried", snap.Status, err, len(h.Calls()))
		}
		if f := ofType(h.Events(run), mob.EventStepTargetFailed); f[0].Class != string(flows.FailureTool) {
			t.Errorf("class %q", f[0].Class)
		}
	})
	t.Run("class retried", func(t *testing.T) {
		t.Parallel()
		def := define(t, `"flows": {"f": {"steps": {"s": {"role": "w", "message": "go",
			"expected_schema_ref": "{\"type\": \"object\", \"required\": [\"ok\"]}",
			"mobd": {"retry": {"attempts": 3, "initial_backoff_ms": 10, "retry_on": ["output"]}}}}}}`)
		h := flowtest.New(t, def, flowtest.Config{Members: members("w")})
		h.Script(flowtest.Match{Step: "s"}, flowtest.JSON(map[string]int{"nope": 1}), flowtest.JSON(map[string]bool{"ok": true}))
		run := h.Run("f", nil)
		if _, err := h.Finish(run); err != nil {
			t.Fatal(err)
		}
		jsonEq(t, run.Output("s"), `{"ok": true}`)
	})
	t.Run("max_step_retries", func(t *testing.T) {
		t.Parallel()
		def := define(t, `"limits": {"max_step_retries": 2}, "flows": {"f": {"steps": {"s": {"role": "w", "message": "go"}}}}`)
		for _, tc := range []struct {
			replies []flowtest.Reply
			ok      bool
		}{
			{[]flowtest.Reply{flowtest.Fail(actors.CodeTurnLost), flowtest.Fail(actors.CodeTurnLost), flowtest.Text("third time")}, true},
			{[]flowtest.Reply{flowtest.Fail(actors.CodeTurnLost)}, false},
		} {
			h := flowtest.New(t, def, flowtest.Config{Members: members("w")})
			h.Script(flowtest.Match{Step: "s"}, tc.replies...)
			run := h.Run("f", nil)
			_, err := h.Wait(run) // immediate retries: no clock needed
			if (err == nil) != tc.ok || len(h.Calls()) != 3 {
				t.Fatalf("run: %v after %d calls, want ok=%v after 3", err, len(h.Calls()), tc.ok)
			}
			for _, ev := range ofType(h.Events(run), mob.EventStepRetryScheduled) {
				if ev.DelayMS != 0 {
					t.Errorf("max_step_retries waited %dms", ev.DelayMS)
				}
			}
		}
	})
}

// Approval steps wait for a decision by an approver, or decide on_timeout.
func TestApprovals(t *testing.T) {
	t.Parallel()
	flow := func(onTimeout string) string {
		return `"flows": {"f": {"steps": {
			"sign": {"message": "Ship {{ params.v }}?", "timeout_ms": 60000,
				"mobd": {"approval": {"approvers": ["alice", "carol"]` + onTimeout + `}}},
			"ship": {"role": "w", "message": "ship {{ params.v }}", "depends_on": ["sign"],
				"condition": {"op": "eq", "path": "steps.sign.output.approved", "value": true}}}}}`
	}
	def := define(t, flow(""))
	start := func(t *testing.T, def *flows.Definition) (*flowtest.Harness, *mob.Run) {
		h := flowtest.New(t, def, flowtest.Config{Members: members("w")})
		run := h.Run("f", map[string]string{"v": "1.2"})
		ev := h.WaitEvent(run, func(e mob.Event) bool { return e.Type == mob.EventApprovalRequested })
		if ev.Step != "sign" || ev.Text != "Ship 1.2?" {
			t.Fatalf("approval_requested %+v", ev)
		}
		if st := step(t, run.Status(), "sign").Status; st != mob.StepAwaiting {
			t.Fatalf("sign %s", st)
		}
		return h, run
	}

	t.Run("approve", func(t *testing.T) {
		t.Parallel()
		h, run := start(t, def)
		if err := run.Decide(h.Context(), "sign", flows.ApprovalDecision{Approved: true, By: "alice", Comment: "lgtm"}); err != nil {
			t.Fatal(err)
		}
		snap, err := h.Wait(run)
		if err != nil {
			t.Fatal(err)
		}
		jsonEq(t, run.Output("sign"), `{"approved": true, "by": "alice", "comment": "lgtm"}`)
		if step(t, snap, "ship").Status != mob.StepCompleted {
			t.Errorf("ship %s", step(t, snap, "ship").Status)
		}
		d := ofType(h.Events(run), mob.EventApprovalDecided)
		if len(d) != 1 || d[0].Decision == nil || d[0].Decision.By != "alice" {
			t.Errorf("approval_decided %+v", d)
		}
	})
	t.Run("reject", func(t *testing.T) {
		t.Parallel()
		h, run := start(t, def)
		if err := run.Decide(h.Context(), "sign", flows.ApprovalDecision{By: "carol", Comment: "not on a Friday"}); err != nil {
			t.Fatal(err)
		}
		snap, err := h.Wait(run)
		if err != nil {
			t.Fatalf("a rejection completes the step, the run goes on: %v", err)
		}
		jsonEq(t, run.Output("sign"), `{"approved": false, "by": "carol", "comment": "not on a Friday"}`)
		if st := step(t, snap, "ship"); st.Status != mob.StepSkipped {
			t.Errorf("ship %s", st.Status)
		}
	})
	t.Run("errors", func(t *testing.T) {
		t.Parallel()
		h, run := start(t, def)
		ctx := h.Context()
		h.Script(flowtest.Match{Step: "ship"}, flowtest.Text("shipped").After(time.Second)) // the run waits after the decision
		if err := run.Decide(ctx, "sign", flows.ApprovalDecision{Approved: true, By: "bob"}); !errors.Is(err, mob.ErrNotApprover) {
			t.Errorf("decision by bob: %v, want ErrNotApprover", err)
		}
		if err := run.Decide(ctx, "ship", flows.ApprovalDecision{Approved: true, By: "alice"}); !errors.Is(err, mob.ErrNotAwaitingApproval) {
			t.Errorf("decision on ship: %v, want ErrNotAwaitingApproval", err)
		}
		if err := run.Decide(ctx, "nosuch", flows.ApprovalDecision{Approved: true, By: "alice"}); !errors.Is(err, mob.ErrStepNotFound) {
			t.Errorf("decision on a step the flow does not have: %v, want ErrStepNotFound", err)
		}
		if st := step(t, run.Status(), "sign").Status; st != mob.StepAwaiting {
			t.Fatalf("refused decisions changed sign to %s", st)
		}
		if err := run.Decide(ctx, "sign", flows.ApprovalDecision{Approved: true, By: "alice"}); err != nil {
			t.Fatal(err)
		}
		if err := run.Decide(ctx, "sign", flows.ApprovalDecision{Approved: true, By: "alice"}); !errors.Is(err, mob.ErrNotAwaitingApproval) {
			t.Errorf("second decision: %v, want ErrNotAwaitingApproval", err)
		}
		if _, err := h.Finish(run); err != nil {
			t.Fatal(err)
		}
		if err := run.Decide(ctx, "sign", flows.ApprovalDecision{Approved: true, By: "alice"}); !errors.Is(err, mob.ErrRunFinished) {
			t.Errorf("decision after the end: %v, want ErrRunFinished", err)
		}
	})
	for _, tc := range []struct {
		name, onTimeout string
		approved        bool
	}{
		{"timeout rejects", "", false},
		{"timeout approves", `, "on_timeout": "approve"`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, run := start(t, define(t, flow(tc.onTimeout)))
			h.Advance(time.Minute - time.Millisecond)
			if st := step(t, run.Status(), "sign").Status; st != mob.StepAwaiting {
				t.Fatalf("sign %s before the timeout", st)
			}
			h.Advance(time.Millisecond)
			snap, err := h.Wait(run)
			if err != nil {
				t.Fatal(err)
			}
			jsonEq(t, run.Output("sign"), fmt.Sprintf(`{"approved": %v, "by": "timeout", "comment": "no decision in time"}`, tc.approved))
			want := mob.StepSkipped
			if tc.approved {
				want = mob.StepCompleted
			}
			if st := step(t, snap, "ship").Status; st != want {
				t.Errorf("ship %s, want %s", st, want)
			}
		})
	}
}
