package flows_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mobd-dev/mobd/flows"
)

type topic struct {
	Subject string   `json:"subject"`
	Depth   int      `json:"depth,omitempty"`
	Tags    []string `json:"tags"`
}

type plan struct {
	Questions []string `json:"questions" desc:"What to find out"`
	Priority  string   `json:"priority"`
}

type finding struct {
	Answer     string            `json:"answer"`
	Confidence float64           `json:"confidence"`
	Sources    []string          `json:"sources,omitempty"`
	Extra      map[string]string `json:"extra,omitempty"`
	Note       *string           `json:"note"`
}

type verdict struct {
	Approved bool    `json:"approved"`
	Score    float64 `json:"score"`
}

// researchFlow uses only what Meerkat's format can say.
func researchFlow() *flows.Flow[topic] {
	f := flows.NewFlow[topic]("research").Describe("Plan, dig, report")
	p := flows.Step[plan](f, "plan", "lead", flows.Text("Plan research on "+f.Params().Field("subject")))
	dig := flows.Then[finding](f, p, "dig", "analyst", func(in flows.Ref[plan]) flows.Message {
		return flows.Blocks(flows.TextBlock("Investigate "+in.Field("questions", "0")), flows.TextBlock("Priority "+in.Field("priority")))
	}, flows.FanOut(), flows.Quorum(2), flows.Timeout(90*time.Second), flows.AllowTools("search"))
	urgent := flows.Step[string](f, "urgent", "lead", flows.Text("Escalate: "+dig.Field("answer")),
		flows.After(dig), flows.When(flows.Gt(dig.At("confidence"), 0.8)), flows.InBranch("route"))
	normal := flows.Step[string](f, "normal", "analyst", flows.Text("File: "+dig.Field("answer")),
		flows.After(dig), flows.InBranch("route"), flows.ContinueOnFailure())
	flows.Step[json.RawMessage](f, "report", "lead", flows.Text("Report on "+f.Params().Field("tags")),
		flows.After(urgent, normal), flows.DependAnyOf(), flows.FanIn())
	return f
}

// A Go flow converts to Meerkat JSON, which loads back into the same model.
func TestDSLRoundTrip(t *testing.T) {
	t.Parallel()
	f := researchFlow()
	spec, err := f.Spec()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := f.MeerkatJSON()
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "golden/dsl_research.json", indent(t, raw))
	def := []byte(`{"id":"m","profiles":{"lead":{"model":"a"},"analyst":{"model":"b"}},"flows":{"research":` + string(raw) + `}}`)
	d, err := flows.LoadJSON(def)
	if err != nil {
		t.Fatalf("load: %v\n%s", err, raw)
	}
	if got := d.Flows["research"]; !reflect.DeepEqual(got, spec) {
		a, _ := json.Marshal(got)
		b, _ := json.Marshal(spec)
		t.Fatalf("loaded flow differs from the Go spec:\n%s\n%s", a, b)
	}
	dig, _ := spec.Step("dig")
	if dig.OutputFormat != flows.OutputJSON || dig.TimeoutMS == nil || *dig.TimeoutMS != 90000 || !dig.Message.IsBlocks() {
		t.Errorf("dig: %+v", dig)
	}
	if err := dig.ValidateOutput(map[string]any{"answer": "42", "confidence": 0.9, "note": nil}); err != nil {
		t.Errorf("typed output rejected: %v", err)
	}
	if err := dig.ValidateOutput(map[string]any{"answer": 42}); err == nil {
		t.Error("output of the wrong shape accepted")
	}
	urgent, _ := spec.Step("urgent")
	if urgent.OutputFormat != flows.OutputText || urgent.ExpectedSchemaRef != "" {
		t.Errorf("string output: %+v", urgent)
	}
	report, _ := spec.Step("report")
	if report.OutputFormat != flows.OutputJSON || report.ExpectedSchemaRef != "" || report.DependsOnMode != flows.DependAny {
		t.Errorf("raw output: %+v", report)
	}
}

// A Go flow with loops becomes a root frame tree.
func TestDSLLoops(t *testing.T) {
	t.Parallel()
	f := flows.NewFlow[topic]("refine")
	brief := flows.Step[string](f, "brief", "lead", flows.Text("Brief on "+f.Params().Field("subject")))
	loop := flows.RepeatUntil(f, "polish", 3, flows.After(brief))
	draft := flows.Step[string](loop, "draft", "writer", flows.Text("Draft from "+brief.String()))
	crit := flows.Then[verdict](loop, draft, "critique", "critic", func(d flows.Ref[string]) flows.Message {
		return flows.Text("Critique " + d.String())
	})
	loop.Until(flows.Or(flows.Eq(crit.At("approved"), true), flows.Gt(crit.At("score"), 8)))
	flows.Step[string](f, "publish", "lead", flows.Text("Publish "+draft.InIteration(2).String()), flows.After(loop))

	spec, err := f.Spec()
	if err != nil {
		t.Fatal(err)
	}
	if spec.Root == nil || len(spec.Root.Nodes) != 3 || spec.Root.Nodes[1].RepeatUntil == nil {
		t.Fatalf("root %+v", spec.Root)
	}
	raw, err := spec.MeerkatJSON()
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "golden/dsl_refine.json", indent(t, raw))
	def := []byte(`{"id":"m","profiles":{"lead":{"model":"a"},"writer":{"model":"b"},"critic":{"model":"c"}},"flows":{"refine":` + string(raw) + `}}`)
	d, err := flows.LoadJSON(def)
	if err != nil {
		t.Fatalf("load: %v\n%s", err, raw)
	}
	if got := d.Flows["refine"]; !reflect.DeepEqual(got, spec) {
		t.Fatal("loaded loop flow differs from the Go spec")
	}
}

// Extensions build, round-trip through mobd's JSON, and refuse Meerkat's.
func TestDSLExtensions(t *testing.T) {
	t.Parallel()
	f := flows.NewFlow[topic]("ship").Budget(flows.Budget{MaxTokens: 100000})
	build := flows.Step[string](f, "build", "builder", flows.Text("Build"),
		flows.Retry(flows.RetryPolicy{Attempts: 3, InitialBackoffMS: 100, RetryOn: []flows.FailureClass{flows.FailureTimeout}}),
		flows.StepBudget(flows.Budget{MaxTokens: 5000}))
	ok := flows.Approve(f, "sign_off", flows.Text("Ship "+build.String()+"?"), flows.After(build), flows.Approvers("ops"), flows.ApproveOnTimeout())
	flows.Step[string](f, "publish", "builder", flows.Text("Publish"), flows.After(ok), flows.When(flows.Eq(ok.At("approved"), true)))
	spec, err := f.Spec()
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.MeerkatJSON()
	var ne *flows.NotExpressibleError
	if !errors.As(err, &ne) || ne.Feature != "budget" {
		t.Fatalf("MeerkatJSON: %v", err)
	}
	raw, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "golden/dsl_ship.json", indent(t, raw))
	d, err := flows.LoadJSON([]byte(`{"id":"m","profiles":{"builder":{"model":"a"}},"flows":{"ship":` + string(raw) + `}}`))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(d.Flows["ship"], spec) {
		t.Error("mobd JSON round trip differs")
	}
	// The same JSON loaded as a flow of an existing definition, as a
	// journalled run is: the same flow, checked against d's roles.
	if again, err := d.LoadFlowJSON("ship", raw); err != nil || !reflect.DeepEqual(again, spec) {
		t.Errorf("LoadFlowJSON = %v, same flow %v", err, reflect.DeepEqual(again, spec))
	}
	if _, err := d.LoadFlowJSON("ship", json.RawMessage(strings.ReplaceAll(string(raw), `"builder"`, `"nobody"`))); err == nil {
		t.Error("LoadFlowJSON accepted a flow of an unknown role")
	}
	if !reflect.DeepEqual(d.Flows["ship"], spec) {
		t.Error("LoadFlowJSON modified the definition")
	}
	so, _ := spec.Step("sign_off")
	if !so.IsApproval() || so.Mobd.Approval.OnTimeout != flows.ApprovalApprove || so.Mobd.Approval.Approvers[0] != "ops" {
		t.Errorf("approval %+v", so.Mobd.Approval)
	}
	dec, err := ok.Decode(json.RawMessage(`{"approved":true,"by":"ops"}`))
	if err != nil || !dec.Approved || dec.By != "ops" {
		t.Errorf("Decode: %+v %v", dec, err)
	}
}

// Mistakes in a Go flow are reported by Spec, all at once.
func TestDSLErrors(t *testing.T) {
	t.Parallel()
	f := flows.NewFlow[topic]("bad")
	p := flows.Step[plan](f, "plan", "lead", flows.Text("Plan "+f.Params().Field("subjekt")))
	flows.Step[string](f, "use", "lead", flows.Text(p.Field("questions", "first")+p.Field("priority", "x")), flows.After(p))
	flows.Step[string](f, "orphan", "lead", flows.Text(p.Field("priority")))
	flows.Step[chan int](f, "weird", "lead", flows.Text("x"))
	flows.Step[string](f, "plan", "lead", flows.Text("dup"), flows.Approvers("x"))
	flows.Step[string](f, "solo", "lead", flows.Text("x")).InIteration(0)
	l := flows.RepeatUntil(f, "l", 2, flows.Quorum(2))
	flows.Step[string](l, "body", "lead", flows.Text("x"))
	_, err := f.Spec()
	var verr *flows.ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("err = %v", err)
	}
	for _, w := range []struct{ path, msg string }{
		{"flows.bad", `reference params.subjekt: subjekt: flows_test.topic has no JSON field "subjekt"`},
		{"flows.bad", `questions.first: "first" is not an index`},
		{"flows.bad", "priority.x: cannot index into string"},
		{"flows.bad", `loop "l" has no exit condition`},
		{"flows.bad", `InIteration: step "solo" is not in a loop body`},
		{"flows.bad", `loop "l": only After, DependAnyOf and ContinueOnFailure apply to a loop`},
		{"flows.bad.steps.orphan.message", "not an ancestor"},
		{"flows.bad.steps.weird", "output type"},
		{"flows.bad.steps.plan", "duplicate step id"},
		{"flows.bad.steps.plan", "apply to approval steps only"},
	} {
		if !verr.Has(w.path, w.msg) {
			t.Errorf("missing %s: %s in\n%v", w.path, w.msg, err)
		}
	}
	if _, err := f.MeerkatJSON(); err == nil {
		t.Error("MeerkatJSON of a broken flow")
	}
}

func TestSchemaFor(t *testing.T) {
	t.Parallel()
	got, err := flows.SchemaFor[finding]()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"additionalProperties":false,"properties":{"answer":{"type":"string"},"confidence":{"type":"number"},"extra":{"additionalProperties":{"type":"string"},"type":"object"},"note":{"type":["string","null"]},"sources":{"items":{"type":"string"},"type":"array"}},"required":["answer","confidence"],"type":"object"}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	type inner struct {
		When time.Time `json:"when"`
	}
	type outer struct {
		inner
		N    uint8           `json:"n"`
		Blob []byte          `json:"blob"`
		Any  any             `json:"any"`
		Raw  json.RawMessage `json:"raw"`
		Skip string          `json:"-"`
		Desc string          `json:"desc" desc:"described"`
		hid  int
	}
	got, err = flows.SchemaFor[outer]()
	if err != nil {
		t.Fatal(err)
	}
	for _, frag := range []string{`"when":{"format":"date-time","type":"string"}`, `"n":{"minimum":0,"type":"integer"}`, `"blob":{"contentEncoding":"base64","type":"string"}`, `"any":{}`, `"desc":{"description":"described","type":"string"}`} {
		if !strings.Contains(string(got), frag) {
			t.Errorf("missing %s in %s", frag, got)
		}
	}
	if strings.Contains(string(got), "Skip") || strings.Contains(string(got), "hid") {
		t.Errorf("hidden fields in %s", got)
	}
	type rec struct {
		Next *rec `json:"next"`
	}
	if _, err := flows.SchemaFor[rec](); err == nil {
		t.Error("recursive type accepted")
	}
	if _, err := flows.SchemaFor[map[int]string](); err == nil {
		t.Error("int-keyed map accepted")
	}
	if _, err := flows.CompileSchema([]byte(`[1]`)); err == nil {
		t.Error("array schema compiled")
	}
}

func TestRetryPolicy(t *testing.T) {
	t.Parallel()
	r := flows.RetryPolicy{Attempts: 5, InitialBackoffMS: 100, MaxBackoffMS: 1000, Multiplier: 3}
	for n, want := range map[int]time.Duration{0: 0, 1: 100 * time.Millisecond, 2: 300 * time.Millisecond, 3: 900 * time.Millisecond, 4: time.Second, 60: time.Second} {
		if got := r.Backoff(n); got != want {
			t.Errorf("Backoff(%d) = %v, want %v", n, got, want)
		}
	}
	var zero flows.RetryPolicy
	if zero.Backoff(1) != flows.DefaultInitialBackoff || zero.Backoff(2) != 2*flows.DefaultInitialBackoff || zero.Backoff(100) != flows.DefaultMaxBackoff {
		t.Errorf("defaults: %v %v %v", zero.Backoff(1), zero.Backoff(2), zero.Backoff(100))
	}
	if !zero.Retries(flows.FailureTimeout) || zero.Retries(flows.FailureOutput) {
		t.Error("default retry classes")
	}
	r.RetryOn = []flows.FailureClass{flows.FailureOutput}
	if !r.Retries(flows.FailureOutput) || r.Retries(flows.FailureTimeout) {
		t.Error("explicit retry classes")
	}
}
