package flows_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/mobd-dev/mobd/flows"
)

func ids(nodes []*flows.PlanNode) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.ID)
	}
	return out
}

func TestPlanFlat(t *testing.T) {
	t.Parallel()
	d := loadFile(t, "testdata/good/triage.json")
	f, _ := d.Flow("review")
	plan, err := f.Plan()
	if err != nil {
		t.Fatal(err)
	}
	if plan.FlowID != "review" || plan.Root.LoopID != "" {
		t.Errorf("plan %q %q", plan.FlowID, plan.Root.LoopID)
	}
	if got, want := ids(plan.Root.Nodes), []string{"scan", "dig", "sum", "escalate", "file", "close"}; !reflect.DeepEqual(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
	if got := ids(plan.Root.Roots()); !reflect.DeepEqual(got, []string{"scan"}) {
		t.Errorf("roots %v", got)
	}
	sum := plan.Root.Node("sum")
	if !reflect.DeepEqual(sum.Dependents, []string{"escalate", "file"}) || sum.Step.ID != "sum" || sum.Kind != flows.NodeStep {
		t.Errorf("sum node %+v", sum)
	}
	cl := plan.Root.Node("close")
	if cl.Mode != flows.DependAny || plan.Root.Node("file").FailurePolicy != flows.FailContinue || plan.Root.Node("file").Branch != "outcome" {
		t.Errorf("close/file %+v %+v", cl, plan.Root.Node("file"))
	}
	if got := plan.Root.Ancestors("close"); !reflect.DeepEqual(got, []string{"scan", "dig", "sum", "escalate", "file"}) {
		t.Errorf("ancestors %v", got)
	}
	if plan.Root.Node("ghost") != nil {
		t.Error("unknown node found")
	}
}

// Declaration order breaks ties; a step declared before its dependency
// still comes after it.
func TestPlanOrder(t *testing.T) {
	t.Parallel()
	f := flows.FlowSpec{ID: "f", Steps: []flows.StepSpec{
		{ID: "late", Role: "w", DependsOn: []string{"b"}},
		{ID: "a", Role: "w"},
		{ID: "b", Role: "w", DependsOn: []string{"a"}},
		{ID: "c", Role: "w"},
	}}
	plan, err := f.Plan()
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(plan.Root.Nodes); !reflect.DeepEqual(got, []string{"a", "b", "late", "c"}) {
		t.Errorf("order %v", got)
	}
}

func TestPlanLoops(t *testing.T) {
	t.Parallel()
	d := loadFile(t, "testdata/good/triage.json")
	f, _ := d.Flow("refine")
	plan, err := f.Plan()
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(plan.Root.Nodes); !reflect.DeepEqual(got, []string{"brief", "polish", "publish"}) {
		t.Errorf("root order %v", got)
	}
	loop := plan.Root.Node("polish")
	if loop.Kind != flows.NodeRepeatUntil || loop.Loop == nil || loop.Loop.MaxIterations != 3 || loop.Loop.Body.LoopID != "polish" {
		t.Fatalf("loop node %+v", loop)
	}
	if got := ids(loop.Loop.Body.Nodes); !reflect.DeepEqual(got, []string{"draft", "critique"}) {
		t.Errorf("body %v", got)
	}
	if loop.Loop.Body.Node("critique").Step.ExpectedSchema == nil {
		t.Error("body step lost its schema")
	}
}

func TestPlanErrors(t *testing.T) {
	t.Parallel()
	f := flows.FlowSpec{ID: "f", Steps: []flows.StepSpec{
		{ID: "a", DependsOn: []string{"b"}},
		{ID: "b", DependsOn: []string{"a"}},
		{ID: "c", DependsOn: []string{"c", "zz"}},
		{ID: "x", DependsOn: []string{"y"}},
		{ID: "y", DependsOn: []string{"x", "a"}},
	}}
	_, err := f.Plan()
	var verr *flows.ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("err = %v", err)
	}
	for _, w := range []struct{ path, msg string }{
		{"flows.f.steps.a.depends_on", "dependency cycle: a -> b -> a"},
		{"flows.f.steps.x.depends_on", "dependency cycle: x -> y -> x"},
		{"flows.f.steps.c.depends_on[0]", "depends on itself"},
		{"flows.f.steps.c.depends_on[1]", `unknown dependency "zz"`},
	} {
		if !verr.Has(w.path, w.msg) {
			t.Errorf("missing %s: %s in\n%v", w.path, w.msg, err)
		}
	}
	if n := strings.Count(err.Error(), "cycle"); n != 2 {
		t.Errorf("%d cycles reported, want 2:\n%v", n, err)
	}
}
