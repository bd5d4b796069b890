package flowtest_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/mobd-dev/mobd/flowtest"
	"github.com/mobd-dev/mobd/mob"
)

// limits.max_active_nodes bounds the steps running at once: the others
// wait for a running one to end, in plan order, and all of them run.
func TestMaxActiveNodes(t *testing.T) {
	t.Parallel()
	def := define(t, `"limits": {"max_active_nodes": 2}, "flows": {"f": {"steps": {
		"a": {"role": "w", "message": "a"},
		"b": {"role": "w", "message": "b"},
		"c": {"role": "w", "message": "c"},
		"d": {"role": "w", "message": "d", "depends_on": ["a", "b", "c"]}}}}`)
	h := flowtest.New(t, def, flowtest.Config{Members: members("w")})
	h.Script(flowtest.Match{Step: "a"}, flowtest.Reply{Text: "A", Delay: time.Second})
	h.Script(flowtest.Match{Step: "b"}, flowtest.Reply{Text: "B", Delay: 2 * time.Second})
	h.Script(flowtest.Match{Step: "c"}, flowtest.Reply{Text: "C", Delay: time.Second})
	run := h.Run("f", nil)
	h.Settle()
	if got := dispatched(run); got != "a b" {
		t.Fatalf("steps running %q, want a and b (max_active_nodes 2)", got)
	}
	h.Advance(time.Second)
	if got := dispatched(run); got != "b c" {
		t.Fatalf("steps running %q after a ended, want b and c", got)
	}
	h.Advance(time.Second)
	if snap, err := h.Wait(run); err != nil || snap.Status != mob.RunCompleted {
		t.Fatalf("run %s: %v", snap.Status, err)
	}
	if n := len(h.Calls()); n != 4 {
		t.Errorf("%d asks, want one per step", n)
	}
}

// dispatched lists the steps of run whose targets are running.
func dispatched(run *mob.Run) string {
	var ids []string
	for _, s := range run.Status().Steps {
		if s.Status == mob.StepDispatched {
			ids = append(ids, s.StepID)
		}
	}
	return strings.Join(ids, " ")
}

// limits.max_active_frames bounds the loop bodies open at once: a loop
// beyond it waits for a running loop to end, and fails only when the
// frames are held by the loops around it.
func TestMaxActiveFrames(t *testing.T) {
	t.Parallel()
	t.Run("sibling loops take turns", func(t *testing.T) {
		t.Parallel()
		def := define(t, `"limits": {"max_active_frames": 1}, "flows": {"f": {
			"steps": {"x": {"role": "w", "message": "x"}, "y": {"role": "w", "message": "y"}},
			"root": {"nodes": {
				"l1": {"kind": "repeat_until", "loop_id": "l1", "max_iterations": 1,
					"until": {"op": "eq", "path": "steps.x.output", "value": "x"},
					"body": {"nodes": {"x": {"kind": "step", "step_id": "x"}}}},
				"l2": {"kind": "repeat_until", "loop_id": "l2", "max_iterations": 1,
					"until": {"op": "eq", "path": "steps.y.output", "value": "y"},
					"body": {"nodes": {"y": {"kind": "step", "step_id": "y"}}}}}}}}`)
		h := flowtest.New(t, def, flowtest.Config{Members: members("w")})
		h.Script(flowtest.Match{Step: "x"}, flowtest.Reply{Text: "x", Delay: time.Second})
		h.Script(flowtest.Match{Step: "y"}, flowtest.Text("y"))
		run := h.Run("f", nil)
		h.Settle()
		if n := len(h.CallsTo("y")); n != 0 {
			t.Fatalf("l2's body ran while l1's was open (max_active_frames 1)")
		}
		h.Advance(time.Second)
		snap, err := h.Wait(run)
		if err != nil || snap.Status != mob.RunCompleted || len(h.CallsTo("y")) != 1 {
			t.Fatalf("run %s (%s): %v; %d calls to y", snap.Status, snap.Reason, err, len(h.CallsTo("y")))
		}
	})
	t.Run("nested loop beyond the limit fails", func(t *testing.T) {
		t.Parallel()
		def := define(t, `"limits": {"max_active_frames": 1}, "flows": {"f": {
			"steps": {"x": {"role": "w", "message": "x"}},
			"root": {"nodes": {"outer": {"kind": "repeat_until", "loop_id": "outer", "max_iterations": 1,
				"until": {"op": "eq", "path": "params.done", "value": true},
				"body": {"nodes": {"inner": {"kind": "repeat_until", "loop_id": "inner", "max_iterations": 1,
					"until": {"op": "eq", "path": "steps.x.output", "value": "x"},
					"body": {"nodes": {"x": {"kind": "step", "step_id": "x"}}}}}}}}}}}`)
		h := flowtest.New(t, def, flowtest.Config{Members: members("w")})
		run := h.Run("f", nil)
		snap, _ := h.Wait(run)
		if snap.Status != mob.RunFailed || !strings.Contains(snap.Reason, "limits.max_active_frames (1)") {
			t.Fatalf("run %s (%s), want failed naming max_active_frames", snap.Status, snap.Reason)
		}
		var inner *mob.Event
		for _, ev := range ofType(h.Events(run), mob.EventLoopCompleted) {
			if ev.Loop == "inner" {
				inner = &ev
			}
		}
		if inner == nil || inner.Class != "limit" || len(h.CallsTo("x")) != 0 {
			t.Errorf("inner's loop_completed %+v, %d calls to x; want it failed with class limit before its body ran", inner, len(h.CallsTo("x")))
		}
	})
}

// limits.max_frame_depth fails a loop whose body would nest deeper (the
// root frame is at depth 0), when it is to start.
func TestMaxFrameDepth(t *testing.T) {
	t.Parallel()
	nested := `"flows": {"f": {"steps": {"x": {"role": "w", "message": "x"}},
		"root": {"nodes": {"outer": {"kind": "repeat_until", "loop_id": "outer", "max_iterations": 1,
			"until": {"op": "eq", "path": "params.done", "value": true},
			"body": {"nodes": {"inner": {"kind": "repeat_until", "loop_id": "inner", "max_iterations": 1,
				"until": {"op": "eq", "path": "steps.x.output", "value": "x"},
				"body": {"nodes": {"x": {"kind": "step", "step_id": "x"}}}}}}}}}}}`
	for _, tc := range []struct {
		limit string
		fail  string // the limit failure of a loop, "" for none
	}{
		{"", ""},
		{`"limits": {"max_frame_depth": 0}, `, ""},
		{`"limits": {"max_frame_depth": 2}, `, ""},
		{`"limits": {"max_frame_depth": 1}, `, `loop "inner" would exceed max_frame_depth=1 (current depth=1)`},
	} {
		h := flowtest.New(t, define(t, tc.limit+nested), flowtest.Config{Members: members("w")})
		h.Script(flowtest.Match{Step: "x"}, flowtest.Text("x"))
		run := h.Run("f", json.RawMessage(`{"done": true}`))
		snap, _ := h.Wait(run)
		var limited []string
		for _, ev := range ofType(h.Events(run), mob.EventLoopCompleted) {
			if ev.Class == "limit" {
				limited = append(limited, ev.Error)
			}
		}
		switch {
		case tc.fail == "" && (len(limited) > 0 || snap.Status != mob.RunCompleted):
			t.Errorf("%q: run %s (%s), limit failures %q", tc.limit, snap.Status, snap.Reason, limited)
		case tc.fail != "" && (len(limited) != 1 || limited[0] != tc.fail || len(h.CallsTo("x")) != 0):
			t.Errorf("%q: limit failures %q, %d calls to x; want %q before x ran", tc.limit, limited, len(h.CallsTo("x")), tc.fail)
		}
	}
}

// A run's params keep their numbers exact, as step outputs do: a large
// integer renders with its own digits and compares equal to itself.
func TestParamsKeepDigits(t *testing.T) {
	t.Parallel()
	def := define(t, `"flows": {"f": {"steps": {
		"s": {"role": "w", "message": "order {{ params.id }}",
			"condition": {"op": "eq", "path": "params.id", "value": 9007199254740993}}}}}`)
	h := flowtest.New(t, def, flowtest.Config{Members: members("w")})
	run := h.Run("f", json.RawMessage(`{"id": 9007199254740993}`))
	snap, err := h.Wait(run)
	if err != nil || step(t, snap, "s").Status != mob.StepCompleted {
		t.Fatalf("run %s: %v; step s %+v", snap.Status, err, step(t, snap, "s"))
	}
	if c := h.CallsTo("s"); len(c) != 1 || c[0].Prompt != "order 9007199254740993" {
		t.Errorf("calls %+v, want the prompt with the param's digits", c)
	}
}

// A frame node's id need not be its step's or loop's id: the run's events
// and ledger, and templates, name steps by step id and loops by loop id.
func TestNodeIDsDifferFromStepIDs(t *testing.T) {
	t.Parallel()
	def := define(t, `"flows": {"f": {
		"steps": {
			"a": {"role": "w", "message": "hello"},
			"b": {"role": "w", "message": "a said {{ steps.a.output }}, the loop {{ loops.polish.iterations.0.steps.c }}"},
			"c": {"role": "w", "message": "c"}},
		"root": {"nodes": {
			"first": {"kind": "step", "step_id": "a"},
			"loop": {"kind": "repeat_until", "loop_id": "polish", "depends_on": ["first"], "max_iterations": 1,
				"until": {"op": "eq", "path": "steps.c.output", "value": "C"},
				"body": {"nodes": {"inside": {"kind": "step", "step_id": "c"}}}},
			"second": {"kind": "step", "step_id": "b", "depends_on": ["loop"]}}}}}`)
	h := flowtest.New(t, def, flowtest.Config{Members: members("w")})
	h.Script(flowtest.Match{Step: "a"}, flowtest.Text("A"))
	h.Script(flowtest.Match{Step: "c"}, flowtest.Text("C"))
	run := h.Run("f", nil)
	snap, err := h.Wait(run)
	if err != nil || snap.Status != mob.RunCompleted {
		t.Fatalf("run %s (%s): %v", snap.Status, snap.Reason, err)
	}
	if c := h.CallsTo("b"); len(c) != 1 || c[0].Prompt != "a said A, the loop C" {
		t.Errorf("b's calls %+v", c)
	}
	for _, ev := range ofType(h.Events(run), mob.EventLoopIterationStarted) {
		if ev.Loop != "polish" {
			t.Errorf("loop_iteration_started names loop %q, want its loop id polish", ev.Loop)
		}
	}
	if got := statuses(snap); got["a"] != mob.StepCompleted || got["b"] != mob.StepCompleted || got["c"] != mob.StepCompleted {
		t.Errorf("ledger %v", got)
	}
}
