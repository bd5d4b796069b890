package flowtest_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/mobd-dev/mobd/flowtest"
	"github.com/mobd-dev/mobd/mob"
)

// canceled lists whether each call to the steps (but duplicates) was
// cancelled by the mob, as step#attempt@member:cancelled, sorted.
func canceled(h *flowtest.Harness, steps ...string) string {
	var out []string
	for _, s := range steps {
		for _, c := range h.CallsTo(s) {
			if !c.Duplicate {
				out = append(out, fmt.Sprintf("%s#%d@%s:%v", s, c.Attempt, c.Member, c.Canceled))
			}
		}
	}
	slices.Sort(out)
	return fmt.Sprint(out)
}

// A timed-out target's turn is left to finish, orphaned, while the mob's
// budget allows (limits.max_orphaned_turns, half of it per run), and is
// cancelled otherwise; a turn that is to be retried is always cancelled.
func TestTimedOutTurns(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, limits string
		want         string
	}{
		{"default budget", ``, "[a#1@w:false b#1@w:false c#1@w:false]"},
		{"no orphans", `"limits": {"max_orphaned_turns": 0}, `, "[a#1@w:true b#1@w:true c#1@w:true]"},
		{"one per run", `"limits": {"max_orphaned_turns": 2}, `, "[a#1@w:false b#1@w:true c#1@w:true]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			def := define(t, tc.limits+`"flows": {"f": {"steps": {
				"a": {"role": "w", "message": "a", "timeout_ms": 1000, "failure_policy": "continue"},
				"b": {"role": "w", "message": "b", "timeout_ms": 2000, "failure_policy": "continue"},
				"c": {"role": "w", "message": "c", "timeout_ms": 3000, "failure_policy": "continue"}}}}`)
			h := flowtest.New(t, def, flowtest.Config{Members: members("w")})
			h.Script(flowtest.Match{}, flowtest.Never())
			run := h.Run("f", nil)
			h.Settle()
			h.Advance(3 * time.Second)
			if _, err := h.Wait(run); err != nil {
				t.Fatal(err)
			}
			if got := canceled(h, "a", "b", "c"); got != tc.want {
				t.Errorf("cancelled turns %s, want %s", got, tc.want)
			}
		})
	}
	t.Run("retried", func(t *testing.T) {
		t.Parallel()
		def := define(t, `"limits": {"max_step_retries": 1}, "flows": {"f": {"steps": {
			"a": {"role": "w", "message": "a", "timeout_ms": 1000}}}}`)
		h := flowtest.New(t, def, flowtest.Config{Members: members("w")})
		h.Script(flowtest.Match{Step: "a"}, flowtest.Never(), flowtest.Text("A"))
		run := h.Run("f", nil)
		h.Settle()
		h.Advance(time.Second)
		snap, err := h.Wait(run)
		if err != nil || snap.Status != mob.RunCompleted {
			t.Fatalf("run %s: %v", snap.Status, err)
		}
		if got := canceled(h, "a"); got != "[a#1@w:true a#2@w:false]" {
			t.Errorf("cancelled turns %s, want the timed-out attempt's", got)
		}
	})
}

// An orphan gives its place in the budget back when its turn ends.
func TestOrphanPlaceGivenBack(t *testing.T) {
	t.Parallel()
	def := define(t, `"limits": {"max_orphaned_turns": 2}, "flows": {"f": {"steps": {
		"a": {"role": "w", "message": "a", "timeout_ms": 1000, "failure_policy": "continue"},
		"g": {"role": "w", "message": "g"},
		"b": {"role": "w", "message": "b", "timeout_ms": 1000, "depends_on": ["g"], "failure_policy": "continue"}}}}`)
	h := flowtest.New(t, def, flowtest.Config{Members: members("w")})
	// a times out at 1s and its turn ends at 2s, when g's answer lets b
	// start; b times out at 3s, and may be orphaned in a's place (one
	// orphan per run with a budget of 2).
	h.Script(flowtest.Match{Step: "a"}, flowtest.Reply{Text: "A", Delay: 2 * time.Second})
	h.Script(flowtest.Match{Step: "g"}, flowtest.Reply{Text: "G", Delay: 2 * time.Second})
	h.Script(flowtest.Match{Step: "b"}, flowtest.Never())
	run := h.Run("f", nil)
	h.Settle()
	h.Advance(time.Second)
	h.Advance(time.Second)
	h.Advance(time.Second)
	if _, err := h.Wait(run); err != nil {
		t.Fatal(err)
	}
	if got := canceled(h, "a", "b"); got != "[a#1@w:false b#1@w:false]" {
		t.Errorf("cancelled turns %s, want none: a's place was free again for b", got)
	}
}

// When a run ends with targets in flight, their turns get
// limits.cancel_grace_timeout_ms to finish, then they are cancelled.
func TestCancelGrace(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		limits string
		grace  time.Duration
	}{{``, 5 * time.Second}, {`"limits": {"cancel_grace_timeout_ms": 200}, `, 200 * time.Millisecond}, {`"limits": {"cancel_grace_timeout_ms": 0}, `, 0}} {
		t.Run(tc.grace.String(), func(t *testing.T) {
			t.Parallel()
			def := define(t, tc.limits+`"flows": {"f": {"steps": {"a": {"role": "w", "message": "a"}}}}`)
			h := flowtest.New(t, def, flowtest.Config{Members: members("w", "w:w-2")})
			h.Script(flowtest.Match{}, flowtest.Never())
			run := h.Run("f", nil)
			h.Settle()
			if err := run.Cancel(h.Context(), "stop"); err != nil {
				t.Fatal(err)
			}
			if _, err := h.Wait(run); err == nil {
				t.Fatal("the cancelled run did not fail")
			}
			if tc.grace > 0 {
				h.Advance(tc.grace - time.Millisecond)
				if got := canceled(h, "a"); got != "[a#1@w-2:false a#1@w:false]" {
					t.Fatalf("turns cancelled before the grace period ended: %s", got)
				}
				h.Advance(time.Millisecond)
			} else {
				h.Settle()
			}
			if got := canceled(h, "a"); got != "[a#1@w-2:true a#1@w:true]" {
				t.Errorf("cancelled turns %s, want both targets' after the grace period", got)
			}
		})
	}
}

// A step that completes with targets still running (collection any)
// cancels their turns once the grace period is over.
func TestAbandonedTargetsCancelled(t *testing.T) {
	t.Parallel()
	def := define(t, `"limits": {"cancel_grace_timeout_ms": 1000}, "flows": {"f": {"steps": {
		"a": {"role": "w", "message": "a", "collection_policy": {"type": "any"}}}}}`)
	h := flowtest.New(t, def, flowtest.Config{Members: members("w", "w:w-2")})
	h.Script(flowtest.Match{Member: "w"}, flowtest.Text("first"))
	h.Script(flowtest.Match{Member: "w-2"}, flowtest.Never())
	run := h.Run("f", nil)
	if snap, err := h.Wait(run); err != nil || snap.Status != mob.RunCompleted {
		t.Fatalf("run %s: %v", snap.Status, err)
	}
	if got := canceled(h, "a"); got != "[a#1@w-2:false a#1@w:false]" {
		t.Fatalf("cancelled before the grace period: %s", got)
	}
	h.Advance(time.Second)
	if got := canceled(h, "a"); got != "[a#1@w-2:true a#1@w:false]" {
		t.Errorf("cancelled turns %s, want w-2's after the grace period", got)
	}
}

// A run that ends in the pass that dispatched a step cancels that step's
// turn after its ask: a cancel that overtook the ask would reach the
// member first, for a key it does not know, and leave the turn running.
func TestCancelFollowsAskOfSamePass(t *testing.T) {
	t.Parallel()
	def := define(t, `"limits": {"cancel_grace_timeout_ms": 0}, "flows": {"f": {"steps": {
		"a": {"role": "w", "message": "a"},
		"b": {"role": "w", "message": "{{ params.missing }}"}}}}`)
	h := flowtest.New(t, def, flowtest.Config{Members: members("w")})
	h.Script(flowtest.Match{}, flowtest.Never())
	run := h.Run("f", map[string]any{})
	snap, err := h.Wait(run)
	if err == nil || step(t, snap, "b").Status != mob.StepFailed || step(t, snap, "a").Status != mob.StepCanceled {
		t.Fatalf("run %s (%v): steps %v; want b failed and a cancelled", snap.Status, err, statuses(snap))
	}
	if got := canceled(h, "a"); got != "[a#1@w:true]" {
		t.Errorf("cancelled turns %s, want a's: its cancel reached the member before its ask", got)
	}
}
