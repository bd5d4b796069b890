package flows_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/mobd-dev/mobd/flows"
)

func TestConditionEval(t *testing.T) {
	t.Parallel()
	sc := scope()
	sc.Params.(map[string]any)["big"] = json.Number("9007199254740993")
	cases := []struct {
		name string
		c    flows.Condition
		want bool
	}{
		{"eq string", flows.Eq("steps.sum.severity", "high"), true},
		{"eq string output", flows.Eq("steps.sum.output.severity", "low"), false},
		{"eq number across forms", flows.Eq("params.n", 3), true},
		{"eq float", flows.Eq("steps.sum.count", 2.0), true},
		{"eq object", flows.Eq("steps.sum.items.0", map[string]any{"id": "x"}), true},
		{"eq array", flows.Eq("params.tags", []string{"a", "b"}), true},
		{"eq null", flows.Eq("steps.sum.none", nil), true},
		{"eq type mismatch", flows.Eq("params.n", "3"), false},
		{"in", flows.In("steps.sum.severity", "medium", "high"), true},
		{"in miss", flows.In("steps.sum.severity", "low"), false},
		{"in empty", flows.In("steps.sum.severity"), false},
		{"gt", flows.Gt("params.n", 2), true},
		{"gt equal", flows.Gt("params.n", 3), false},
		{"gt exact beyond float64", flows.Gt("params.big", json.Number("9007199254740992")), true},
		{"lt float", flows.Lt("steps.number", 8), true},
		{"gt strings", flows.Gt("params.topic", "alpha"), true},
		{"lt mixed types", flows.Lt("params.topic", 5), false},
		{"and", flows.And(flows.Eq("params.topic", "billing"), flows.Gt("params.n", 1)), true},
		{"and short", flows.And(flows.Eq("params.topic", "x"), flows.Gt("params.n", 1)), false},
		{"and empty", flows.And(), true},
		{"or", flows.Or(flows.Eq("params.topic", "x"), flows.Lt("params.n", 5)), true},
		{"or empty", flows.Or(), false},
		{"not", flows.Not(flows.Eq("params.topic", "x")), true},
		{"unproduced step is false", flows.Eq("steps.later.x", 1), false},
		{"not of unproduced is true", flows.Not(flows.Eq("steps.later.x", 1)), true},
		{"missing field is false", flows.Eq("steps.sum.nope", nil), false},
		{"index into scalar is false", flows.Eq("params.topic.x", "b"), false},
		{"loop iteration", flows.Eq("loops.polish.iterations.0.steps.critique.notes", "tighten"), true},
		{"raw message scope", flows.Eq("steps.raw.deep.v.1", 2), true},
	}
	for _, c := range cases {
		got, err := c.c.Eval(sc)
		if err != nil || got != c.want {
			t.Errorf("%s: %v, %v; want %v", c.name, got, err, c.want)
		}
	}
	bad := []flows.Condition{
		flows.Eq("nope.x", 1),
		{Op: "matches"},
		{Op: flows.OpNot},
		flows.And(flows.Eq("steps", 1)),
	}
	for _, c := range bad {
		if _, err := c.Eval(sc); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
	var pe *flows.PathError
	if _, err := flows.Eq("env.x", 1).Eval(sc); !errors.As(err, &pe) || !errors.Is(err, flows.ErrPath) {
		t.Errorf("bad root: %v", err)
	}
	if _, err := flows.Eq("steps.bad.x", 1).Eval(flows.Scope{Steps: map[string]any{"bad": json.RawMessage("{")}}); err == nil {
		t.Error("invalid JSON in the scope: no error")
	}
}

// Conditions encode as Meerkat's tagged JSON and decode back equal.
func TestConditionJSON(t *testing.T) {
	t.Parallel()
	c := flows.And(flows.Eq("params.a", "x"), flows.Or(flows.In("steps.s.k", 1, "two"), flows.Not(flows.Lt("params.n", 3.5))))
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"op":"and","exprs":[{"op":"eq","path":"params.a","value":"x"},{"op":"or","exprs":[{"op":"in","path":"steps.s.k","values":[1,"two"]},{"op":"not","expr":{"op":"lt","path":"params.n","value":3.5}}]}]}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
}

func TestConditionBuilderPanicsOnBadValue(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Error("no panic for a channel value")
		}
	}()
	flows.Eq("params.a", make(chan int))
}
