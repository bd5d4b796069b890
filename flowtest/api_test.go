package flowtest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mobd-dev/mobd/actors"
	"github.com/mobd-dev/mobd/flows"
	"github.com/mobd-dev/mobd/flowtest"
	"github.com/mobd-dev/mobd/mob"
)

type researchParams struct {
	Topic string `json:"topic"`
}

type researchPlan struct {
	Questions []string `json:"questions"`
	Depth     int      `json:"depth"`
}

// researchFlow is a Go DSL flow: a typed plan, a retried answer per
// question, and a summary only for deep plans.
func researchFlow(t testing.TB) (flows.FlowSpec, flows.Ref[researchPlan], flows.Ref[string]) {
	t.Helper()
	f := flows.NewFlow[researchParams]("research")
	plan := flows.Step[researchPlan](f, "plan", "lead", flows.Text("Plan research on "+f.Params().Field("topic")))
	answer := flows.Then[string](f, plan, "answer", "w", func(in flows.Ref[researchPlan]) flows.Message {
		return flows.Text("Answer " + in.Field("questions", "0"))
	}, flows.Retry(flows.RetryPolicy{Attempts: 2, InitialBackoffMS: 500}))
	flows.Then[string](f, answer, "summary", "lead", func(in flows.Ref[string]) flows.Message {
		return flows.Text("Summarise " + in.String())
	}, flows.When(flows.Gt(plan.At("depth"), 2)))
	spec, err := f.Spec()
	if err != nil {
		t.Fatal(err)
	}
	return spec, plan, answer
}

// A Go DSL flow runs with Mob.RunSpec; mob.Output decodes its steps'
// outputs into their types.
func TestGoDSLFlow(t *testing.T) {
	t.Parallel()
	spec, plan, answer := researchFlow(t)
	h := flowtest.New(t, define(t, `"flows": {}`), flowtest.Config{Members: members("lead", "w")})
	h.Script(flowtest.Match{Step: "plan"}, flowtest.JSON(researchPlan{Questions: []string{"why otters hold hands"}, Depth: 1}))
	h.Script(flowtest.Match{Step: "answer"}, flowtest.Fail("remote:PROVIDER_ERROR"), flowtest.Text("to stay together"))
	run := h.RunSpec(spec, researchParams{Topic: "otters"})
	snap, err := h.Finish(run)
	if err != nil {
		t.Fatal(err)
	}
	p, err := mob.Output(run, plan)
	if err != nil || p.Depth != 1 || p.Questions[0] != "why otters hold hands" {
		t.Fatalf("plan %+v, %v", p, err)
	}
	a, err := mob.Output(run, answer)
	if err != nil || a != "to stay together" {
		t.Fatalf("answer %q, %v", a, err)
	}
	if c := h.CallsTo("plan"); c[0].Prompt != "Plan research on otters" || len(c[0].OutputSchema) == 0 {
		t.Errorf("plan call %+v", c[0])
	}
	if c := h.CallsTo("answer"); len(c) != 2 || c[1].Prompt != "Answer why otters hold hands" || c[1].At.Sub(snap.StartedAt) != 500*time.Millisecond {
		t.Errorf("answer calls %+v", c)
	}
	if st := step(t, snap, "summary"); st.Status != mob.StepSkipped {
		t.Errorf("summary %s, want skipped (depth 1)", st.Status)
	}
	if _, err := mob.Output(run, flows.Ref[string]{}); err == nil {
		t.Errorf("output of no step: no error")
	}
}

// Mob.Events returns the events after a cursor; Mob.Subscribe yields them
// and then live ones, so a subscriber that resumes from its last cursor
// misses nothing and sees nothing twice.
func TestEventsCursor(t *testing.T) {
	t.Parallel()
	def := define(t, `"flows": {"f": {"steps": {"a": {"role": "w", "message": "a"}, "b": {"role": "w", "message": "b", "depends_on": ["a"]}}}}`)
	h := flowtest.New(t, def, flowtest.Config{Members: members("w")})
	m, ctx := h.Mob(), h.Context()
	if _, err := h.Wait(h.Run("f", nil)); err != nil {
		t.Fatal(err)
	}
	all, err := m.Events(ctx, 0, 0)
	if err != nil || all[0].Type != mob.EventMobCreated {
		t.Fatalf("events %v, %v", all, err)
	}
	for i := 1; i < len(all); i++ {
		if all[i].Cursor <= all[i-1].Cursor {
			t.Fatalf("cursors not increasing: %d after %d", all[i].Cursor, all[i-1].Cursor)
		}
	}
	mid := len(all) / 2
	rest, err := m.Events(ctx, all[mid].Cursor, 0)
	if err != nil || len(rest) != len(all)-mid-1 || rest[0].Cursor != all[mid+1].Cursor {
		t.Fatalf("events after %d: %d of them, %v", all[mid].Cursor, len(rest), err)
	}
	if page, _ := m.Events(ctx, all[mid].Cursor, 2); len(page) != 2 || page[1].Cursor != all[mid+2].Cursor {
		t.Fatalf("a page of 2: %+v", page)
	}

	// A live subscriber from the end of the first run sees the second.
	h.Script(flowtest.Match{Step: "b"}, flowtest.Text("b").After(time.Second))
	last := all[len(all)-1].Cursor
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	got := make(chan mob.Event, 100)
	done := make(chan error, 1)
	go func() {
		for ev, err := range m.Subscribe(sctx, last) {
			if err != nil {
				done <- err
				return
			}
			got <- ev
			if ev.Type == mob.EventFlowCompleted {
				done <- nil
				return
			}
		}
	}()
	run := h.Run("f", nil)
	h.Settle()
	h.Advance(time.Second)
	if _, err := h.Wait(run); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the subscriber did not see the run end")
	}
	close(got)
	var seen []mob.Event
	for ev := range got {
		seen = append(seen, ev)
	}
	runEvents := h.Events(run)
	if len(seen) != len(runEvents) || seen[0].Type != mob.EventFlowStarted || seen[0].Cursor <= last {
		t.Fatalf("subscriber saw %d events from %+v; the run has %d", len(seen), seen[0], len(runEvents))
	}

	// Resuming from the middle yields the rest, in order.
	resumeAt := seen[2].Cursor
	var resumed []uint64
	rctx, rcancel := context.WithCancel(ctx)
	for ev, err := range m.Subscribe(rctx, resumeAt) {
		if err != nil {
			break
		}
		resumed = append(resumed, ev.Cursor)
		if ev.Cursor == seen[len(seen)-1].Cursor {
			rcancel()
		}
	}
	rcancel()
	var want []uint64
	for _, ev := range seen[3:] {
		want = append(want, ev.Cursor)
	}
	if fmt.Sprint(resumed) != fmt.Sprint(want) {
		t.Errorf("resumed %v, want %v", resumed, want)
	}
}

// Scripted members honour idempotency keys as real ones do: a key already
// answered gets the same answer again, counted once; a failed key runs
// again; a duplicate that comes while the first waits gets its answer.
func TestScriptedMemberKeys(t *testing.T) {
	t.Parallel()
	h := flowtest.New(t, define(t, `"flows": {}`), flowtest.Config{Members: members("w")})
	h.Script(flowtest.Match{Prompt: "seq"}, flowtest.Text("first"), flowtest.Text("second"))
	h.Script(flowtest.Match{Prompt: "flaky"}, flowtest.Fail(actors.CodeTurnLost), flowtest.Text("recovered"))
	h.Script(flowtest.Match{Prompt: "slow"}, flowtest.Text("slowly").After(time.Second))

	ask := func(prompt, key string) *actors.Answer {
		t.Helper()
		a := <-h.Ask("w", &actors.Ask{Prompt: prompt, Key: key})
		if a.Key != key {
			t.Fatalf("answer key %q, want %q", a.Key, key)
		}
		return a
	}
	if a := ask("seq", "k1"); a.Text != "first" {
		t.Fatalf("k1: %+v", a)
	}
	if a := ask("seq", "k1"); a.Text != "first" {
		t.Fatalf("k1 again: %+v", a)
	}
	if a := ask("seq", "k2"); a.Text != "second" {
		t.Fatalf("k2: %+v (a duplicate must not consume a reply)", a)
	}
	if a := ask("flaky", "f"); a.Error == nil || a.Error.Code != actors.CodeTurnLost {
		t.Fatalf("f: %+v", a)
	}
	if a := ask("flaky", "f"); a.Error != nil || a.Text != "recovered" {
		t.Fatalf("f again: %+v (a failed key runs again)", a)
	}
	first, second := h.Ask("w", &actors.Ask{Prompt: "slow", Key: "s"}), h.Ask("w", &actors.Ask{Prompt: "slow", Key: "s"})
	h.Advance(time.Second - time.Millisecond)
	select {
	case a := <-first:
		t.Fatalf("answered early: %+v", a)
	default:
	}
	h.Advance(time.Millisecond)
	if a, b := <-first, <-second; a.Text != "slowly" || b.Text != "slowly" {
		t.Fatalf("slow answers %+v %+v", a, b)
	}
	var dups []bool
	for _, c := range h.Calls() {
		dups = append(dups, c.Duplicate)
	}
	if fmt.Sprint(dups) != "[false true false false false false true]" {
		t.Errorf("duplicates %v", dups)
	}
	info, err := h.Mob().MemberStatus(h.Context(), "w")
	if err != nil || info.Turns != 4 || info.Status != "active" {
		t.Errorf("member status %+v, %v: want 4 turns (k1, k2, f, s)", info, err)
	}

	// Retiring a member answers what it holds with member_retired.
	h.Script(flowtest.Match{Prompt: "hang"}, flowtest.Never())
	hung := h.Ask("w", &actors.Ask{Prompt: "hang", Key: "h"})
	h.Settle()
	if err := h.Mob().Retire(h.Context(), "w"); err != nil {
		t.Fatal(err)
	}
	if a := <-hung; a.Error == nil || a.Error.Code != actors.CodeMemberRetired {
		t.Fatalf("hung ask after retirement: %+v", a)
	}
}

// The default reply to an ask for structured output is the smallest value
// of its schema's simple forms.
func TestDefaultReply(t *testing.T) {
	t.Parallel()
	h := flowtest.New(t, define(t, `"flows": {}`), flowtest.Config{Members: members("w")})
	for _, tc := range []struct{ schema, want string }{
		{``, ``},
		{`{"type": "object"}`, `{}`},
		{`{"type": "object", "required": ["a", "b", "c", "d", "e", "f", "g"], "properties": {
			"a": {"type": "string", "minLength": 2}, "b": {"type": "integer", "minimum": 3},
			"c": {"type": "array", "minItems": 1, "items": {"enum": ["x", "y"]}}, "d": {"type": "boolean"},
			"e": {"type": ["null", "number"]}, "f": {"const": "fixed"},
			"g": {"properties": {"h": {"type": "number", "exclusiveMinimum": 1}}, "required": ["h"]}}}`,
			`{"a": "xx", "b": 3, "c": ["x"], "d": false, "e": 0, "f": "fixed", "g": {"h": 2}}`},
		{`{"type": "array", "items": {"type": "string"}}`, `[]`},
	} {
		a := <-h.Ask("w", &actors.Ask{Prompt: "hi", OutputSchema: []byte(tc.schema)})
		if a.Text == "" {
			t.Fatalf("no text: %+v", a)
		}
		if tc.want == "" {
			if a.Text != "w: hi" || a.Output != nil {
				t.Errorf("text answer %+v", a)
			}
			continue
		}
		jsonEq(t, a.Output, tc.want)
	}
}
