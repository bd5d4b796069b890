package flows_test

import (
	"errors"
	"fmt"

	"github.com/mobd-dev/mobd/flows"
)

func ExampleLoadTOML() {
	def, err := flows.LoadTOML([]byte(`
[mob]
id = "triage"
orchestrator = "lead"

[profiles.lead]
model = "claude-opus-4-8"

[profiles.analyst]
model = "claude-sonnet-4-6"

[flows.review.steps.scan]
role = "lead"
message = "Pick an issue: {{ params.topic }}"

[flows.review.steps.dig]
role = "analyst"
message = "Investigate {{ steps.scan }}"
depends_on = ["scan"]
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	review, _ := def.Flow("review")
	plan, _ := review.Plan()
	for _, n := range plan.Root.Nodes {
		fmt.Println(n.ID, n.Step.Role, n.Step.Timeout(def.Limits))
	}
	out, _ := def.MeerkatJSON()
	fmt.Println(string(out))
	// Output:
	// scan lead 30s
	// dig analyst 30s
	// {"id":"triage","orchestrator":{"profile":"lead"},"profiles":{"analyst":{"model":"claude-sonnet-4-6"},"lead":{"model":"claude-opus-4-8"}},"flows":{"review":{"steps":{"scan":{"role":"lead","message":"Pick an issue: {{ params.topic }}"},"dig":{"role":"analyst","message":"Investigate {{ steps.scan }}","depends_on":["scan"]}}}}}
}

func ExampleValidationError() {
	_, err := flows.LoadJSON([]byte(`{"id": "m", "profiles": {"lead": {"model": "m", "tools": {"mcp_servers": ["git"]}}},
	  "flows": {"f": {"steps": {"a": {"role": "lead", "message": "{{ steps.b }}", "depends_on": ["b"]},
	                           "b": {"role": "critic", "message": "x", "depends_on": ["a"]}}}}}`))
	var verr *flows.ValidationError
	if errors.As(err, &verr) {
		for _, fe := range verr.Errors {
			fmt.Println(fe)
		}
	}
	fmt.Println(errors.Is(err, flows.ErrUnsupportedField))
	// Output:
	// flows.f.steps.a.depends_on: dependency cycle: a -> b -> a
	// flows.f.steps.b.role: unknown role "critic" (not a profile)
	// profiles.lead.tools.mcp_servers: not supported by mobd (MCP servers)
	// true
}

func ExampleTemplate_Render() {
	t, _ := flows.ParseTemplate("Severity {{ steps.sum.output.severity }}; tags {{ params.tags }}; later {{ steps.later }}")
	s, _ := t.Render(flows.Scope{
		Params: map[string]any{"tags": []any{"db", "auth"}},
		Steps:  map[string]any{"sum": map[string]any{"severity": "high"}},
	})
	fmt.Println(s)
	// Output: Severity high; tags ["db","auth"]; later null
}

func ExampleNewFlow() {
	type params struct {
		Topic string `json:"topic"`
	}
	type plan struct {
		Questions []string `json:"questions"`
	}
	f := flows.NewFlow[params]("research")
	p := flows.Step[plan](f, "plan", "lead", flows.Text("Plan research on "+f.Params().Field("topic")))
	flows.Then[string](f, p, "dig", "analyst", func(in flows.Ref[plan]) flows.Message {
		return flows.Text("Answer " + in.Field("questions", "0"))
	}, flows.Retry(flows.RetryPolicy{Attempts: 3}))

	_, err := f.MeerkatJSON()
	fmt.Println(err)
	spec, _ := f.Spec()
	dig, _ := spec.Step("dig")
	fmt.Println(dig.Message.Text, dig.DependsOn, dig.Mobd.Retry.Attempts)
	// Output:
	// flows: flows.research.steps.dig.mobd.retry: mobd extension "retry" is not expressible in Meerkat's format
	// Answer {{ steps.plan.output.questions.0 }} [plan] 3
}
