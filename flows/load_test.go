package flows_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/mobd-dev/mobd/flows"
	"github.com/mobd-dev/mobd/internal/contract"
)

func loadFile(t *testing.T, path string) *flows.Definition {
	t.Helper()
	d, err := flows.LoadFile(path)
	if err != nil {
		t.Fatalf("LoadFile(%s): %v", path, err)
	}
	return d
}

// The realistic example loads from JSON and from TOML into equal models.
func TestTriageJSONAndTOMLAreEqual(t *testing.T) {
	t.Parallel()
	j := loadFile(t, "testdata/good/triage.json")
	tm := loadFile(t, "testdata/good/triage.toml")
	if !reflect.DeepEqual(j, tm) {
		a, _ := json.MarshalIndent(j, "", "  ")
		b, _ := json.MarshalIndent(tm, "", "  ")
		t.Fatalf("JSON and TOML models differ:\n%s\n---\n%s", a, b)
	}
}

func TestTriageModel(t *testing.T) {
	t.Parallel()
	d := loadFile(t, "testdata/good/triage.toml")
	if d.ID != "triage" || d.Orchestrator == nil || d.Orchestrator.Profile != "lead" {
		t.Fatalf("id/orchestrator: %q %+v", d.ID, d.Orchestrator)
	}
	if got := d.Profiles["analyst"].RuntimeMode; got != flows.RuntimeTurnDriven {
		t.Errorf("analyst runtime mode %q", got)
	}
	if got := d.Profiles["lead"].RuntimeMode; got != flows.RuntimeAutonomousHost {
		t.Errorf("lead runtime mode default %q", got)
	}
	review, ok := d.Flow("review")
	if !ok {
		t.Fatal("no review flow")
	}
	var ids []string
	for _, s := range review.Steps {
		ids = append(ids, s.ID)
	}
	if want := []string{"scan", "dig", "sum", "escalate", "file", "close"}; !reflect.DeepEqual(ids, want) {
		t.Errorf("step order %v, want declaration order %v", ids, want)
	}
	dig, _ := review.Step("dig")
	if dig.CollectionPolicy != (flows.CollectionPolicy{Type: flows.CollectQuorum, N: 2}) || dig.DispatchMode != flows.DispatchFanOut {
		t.Errorf("dig: %+v %q", dig.CollectionPolicy, dig.DispatchMode)
	}
	if !dig.Message.IsBlocks() || len(dig.Message.Blocks) != 2 || dig.Message.Blocks[1].Type != "image" {
		t.Errorf("dig message: %+v", dig.Message)
	}
	sum, _ := review.Step("sum")
	if sum.OutputFormat != flows.OutputJSON || !bytes.Contains(sum.ExpectedSchema, []byte(`"severity"`)) {
		t.Errorf("sum: format %q schema %s", sum.OutputFormat, sum.ExpectedSchema)
	}
	scan, _ := review.Step("scan")
	if scan.OutputFormat != flows.OutputText || scan.DependsOnMode != flows.DependAll || scan.FailurePolicy != flows.FailEscalate {
		t.Errorf("scan defaults: %+v", scan)
	}
	if err := sum.ValidateOutput(map[string]any{"summary": "x", "severity": "high"}); err != nil {
		t.Errorf("valid output rejected: %v", err)
	}
	if err := sum.ValidateOutput(json.RawMessage(`{"summary": "x", "severity": "apocalyptic"}`)); err == nil {
		t.Error("invalid output accepted")
	}
	refine, _ := d.Flow("refine")
	if refine.Root == nil || len(refine.Root.Nodes) != 3 || refine.Root.Nodes[1].Kind() != flows.NodeRepeatUntil {
		t.Fatalf("refine root: %+v", refine.Root)
	}
	loop := refine.Root.Nodes[1].RepeatUntil
	if loop.LoopID != "polish" || loop.MaxIterations != 3 || loop.Until.Op != flows.OpOr || len(loop.Body.Nodes) != 2 {
		t.Errorf("loop: %+v", loop)
	}
}

// Timeouts default to 30s and are clamped to the flow deadline.
func TestStepTimeout(t *testing.T) {
	t.Parallel()
	d := loadFile(t, "testdata/good/triage.json")
	ms := func(n uint64) *uint64 { return &n }
	cases := []struct {
		name   string
		step   flows.StepSpec
		limits *flows.LimitsSpec
		want   time.Duration
	}{
		{"default", flows.StepSpec{}, nil, 30 * time.Second},
		{"explicit", flows.StepSpec{TimeoutMS: ms(120000)}, d.Limits, 2 * time.Minute},
		{"clamped", flows.StepSpec{TimeoutMS: ms(900000)}, d.Limits, 10 * time.Minute},
		{"default clamped", flows.StepSpec{}, &flows.LimitsSpec{MaxFlowDurationMS: ms(5000)}, 5 * time.Second},
		{"zero deadline is none", flows.StepSpec{TimeoutMS: ms(900000)}, &flows.LimitsSpec{MaxFlowDurationMS: ms(0)}, 15 * time.Minute},
		{"approval waits for the deadline", flows.StepSpec{Mobd: &flows.StepExtensions{Approval: &flows.Approval{}}}, d.Limits, 10 * time.Minute},
		{"approval without deadline", flows.StepSpec{Mobd: &flows.StepExtensions{Approval: &flows.Approval{}}}, nil, 0},
	}
	for _, c := range cases {
		if got := c.step.Timeout(c.limits); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	if got := d.Limits.StepRetries(); got != 1 {
		t.Errorf("StepRetries %d", got)
	}
	var none *flows.LimitsSpec
	if got := none.StepRetries(); got != flows.DefaultMaxStepRetries {
		t.Errorf("default StepRetries %d", got)
	}
}

// MarshalJSON writes what loads back into an equal model; the self-contained
// form (named schemas inlined) loads without a base directory.
func TestMarshalRoundTrip(t *testing.T) {
	t.Parallel()
	for _, file := range []string{"triage.json", "extensions.json", "minimal.toml"} {
		t.Run(file, func(t *testing.T) {
			t.Parallel()
			d := loadFile(t, filepath.Join("testdata/good", file))
			b, err := d.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "golden/"+strings.TrimSuffix(file, filepath.Ext(file))+".json", indent(t, b))
			again, err := flows.Load(b, flows.FormatJSON, flows.LoadOptions{Schemas: os.DirFS("testdata/good")})
			if err != nil {
				t.Fatalf("reload: %v\n%s", err, b)
			}
			if !reflect.DeepEqual(d, again) {
				t.Fatalf("round trip differs:\n%s", b)
			}
			inline, err := d.WithInlineSchemas().MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			self, err := flows.LoadJSON(inline)
			if err != nil {
				t.Fatalf("self-contained reload: %v", err)
			}
			for id, f := range d.Flows {
				for i, s := range f.Steps {
					if got := self.Flows[id].Steps[i].ExpectedSchema; !bytes.Equal(got, s.ExpectedSchema) {
						t.Errorf("%s.%s schema %s, want %s", id, s.ID, got, s.ExpectedSchema)
					}
				}
			}
		})
	}
}

func indent(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		t.Fatal(err)
	}
	out.WriteByte('\n')
	return out.Bytes()
}

// What MeerkatJSON writes is accepted by the contract's mob/create schema.
func TestMeerkatJSONMatchesContract(t *testing.T) {
	t.Parallel()
	dir, err := contract.Dir()
	if err != nil {
		t.Fatal(err)
	}
	c, err := contract.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{"triage.json", "triage.toml", "minimal.toml"} {
		d := loadFile(t, filepath.Join("testdata/good", file))
		b, err := d.MeerkatJSON()
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		params := append(append([]byte(`{"definition":`), b...), '}')
		if err := c.ValidateParams("mob/create", params); err != nil {
			t.Errorf("%s: contract rejects the definition: %v\n%s", file, err, b)
		}
	}
}

func TestMeerkatJSONRefusesExtensions(t *testing.T) {
	t.Parallel()
	d := loadFile(t, "testdata/good/extensions.json")
	_, err := d.MeerkatJSON()
	var ne *flows.NotExpressibleError
	if !errors.As(err, &ne) || !errors.Is(err, flows.ErrNotExpressible) {
		t.Fatalf("err = %v, want a NotExpressibleError", err)
	}
	if ne.Path != "flows.ship.mobd.budget" || ne.Feature != "budget" {
		t.Errorf("got %s %s", ne.Path, ne.Feature)
	}
	f, _ := d.Flow("ship")
	if !f.UsesExtensions() {
		t.Error("UsesExtensions false")
	}
	f.Mobd = nil
	_, err = f.MeerkatJSON()
	if !errors.As(err, &ne) || ne.Feature != "retry" || ne.Path != "flows.ship.steps.build.mobd.retry" {
		t.Errorf("without the flow budget: %v", err)
	}
	approve, _ := f.Step("sign_off")
	if !approve.IsApproval() || approve.Mobd.Approval.OnTimeout != flows.ApprovalReject || approve.OutputFormat != flows.OutputJSON {
		t.Errorf("approval step: %+v", approve)
	}
	if err := approve.ValidateOutput(map[string]any{"approved": true, "by": "ops"}); err != nil {
		t.Errorf("approval decision rejected: %v", err)
	}
}

// Every bad definition in testdata/bad fails with the problems listed here
// (and exactly the text of its golden file).
func TestLoadBad(t *testing.T) {
	t.Parallel()
	type want struct{ path, msg string }
	cases := map[string][]want{
		"cycle.json": {
			{"flows.loop.steps.a.depends_on", "dependency cycle: a -> c -> b -> a"},
			{"flows.loop.steps.e.depends_on[0]", `"e" depends on itself`},
			{"flows.loop.steps.e.depends_on[1]", `unknown dependency "ghost"`},
			{"flows.loop.steps.e.depends_on[3]", `duplicate dependency "a"`},
		},
		"dot_ids.json": {
			{`flows.".."`, `a flow id must not be "..": the API's URLs could not name it`},
			{`flows.f.steps."."`, `a step id must not be ".": the API's URLs could not name it`},
		},
		"unknown_roles.json": {
			{"flows.f.steps.s.role", `unknown role "analyst"`},
			{"orchestrator.profile", `unknown profile "boss"`},
			{"supervisor.role", `unknown profile "sup"`},
			{"wiring.role_wiring[0].b", `unknown profile "ghost"`},
			{"topology.rules[0].to_role", `unknown profile "other"`},
			{"spawn_policy.profile_map.helper", `unknown profile "missing"`},
			{"profiles.w.skills[0]", `unknown skill "nope"`},
		},
		"bad_templates.json": {
			{"flows.f.steps.first.message", `unclosed "{{"`},
			{"flows.f.steps.second.message", `unknown root "env"`},
			{"flows.f.steps.third.message", `{{ steps.first.output }} refers to step "first", which is not an ancestor of step third`},
			{"flows.f.steps.fourth.message", "empty placeholder"},
			{"flows.f.steps.fifth.message[0].text", `unknown loop "none"`},
			{"flows.f.steps.fifth.message[1].text", `iteration "one" is not a non-negative integer`},
			{"flows.f.steps.sixth.message", `"{{" inside a placeholder`},
		},
		"invalid_schemas.json": {
			{"profiles.w.output_schema.schema", "invalid schema"},
			{"flows.f.steps.inline_bad.expected_schema_ref", "invalid schema"},
			{"flows.f.steps.inline_not_json.expected_schema_ref", "not valid JSON"},
			{"flows.f.steps.named_missing.expected_schema_ref", `named schema "schemas/missing.json"`},
			{"flows.f.steps.named_escape.expected_schema_ref", "inside the definition's directory"},
			{"flows.f.steps.named_bad.expected_schema_ref", "minProperties"},
			{"flows.f.steps.remote_ref.expected_schema_ref", "not allowed"},
		},
		"unknown_fields.json": {
			{"members", "unknown field"},
			{"profiles.w.temperature", "unknown field"},
			{"profiles.w.tools.web", "unknown field"},
			{"wiring.auto_wire", "unknown field"},
			{"flows.f.name", "unknown field"},
			{"flows.f.steps.s.retries", "unknown field"},
			{"flows.f.steps.s.message[0].cache", "unknown field"},
			{"flows.f.steps.s.condition.extra", "unknown field"},
			{"flows.f.root.nodes.n.when", "unknown field"},
			{"flows.f.root.frames", "unknown field"},
		},
		"unsupported.json": {
			{"image_generation_provider", "not supported by mobd"},
			{"source_identity", "not supported by mobd"},
			{"backend.default", "not supported by mobd"},
			{"backend.external", "not supported by mobd"},
			{"profiles.lead.external_addressable", "not supported by mobd"},
			{"profiles.lead.backend", "not supported by mobd"},
			{"profiles.lead.tools.mcp", "not supported by mobd"},
			{"profiles.lead.tools.mcp_servers", "not supported by mobd"},
			{"profiles.lead.tools.rust_bundles", "not supported by mobd"},
			{"profiles.lead.tools.image_generation", "not supported by mobd"},
			{"profiles.lead.image_generation_provider", "not supported by mobd"},
			{"profiles.shared.realm_profile", "not supported by mobd"},
		},
		"unsupported.toml": {
			{"mcp", "not supported by mobd"},
			{"profiles.lead.tools.mcp", "not supported by mobd"},
		},
		"conditions.json": {
			{"flows.f.steps.b.condition.op", `unknown operator "matches"`},
			{"flows.f.steps.c.condition.value", "required for op eq"},
			{"flows.f.steps.d.condition.value", "compares numbers or strings"},
			{"flows.f.steps.e.condition.exprs[0].path", `unknown root "bogus"`},
			{"flows.f.steps.e.condition.exprs[1].expr", "required for op not"},
			{"flows.f.steps.f.condition.path", "not an ancestor of step f"},
			{"flows.f.steps.g.condition.op", "required"},
			{"flows.f.steps.h.condition.path", "empty segment"},
			{"flows.f.steps.h.condition.values", "want an array"},
		},
		"branches.json": {
			{"flows.f.steps.no.depends_on", `branch "pick": members must share the same dependencies`},
			{"flows.f.steps.maybe.branch", "more than one member has no condition"},
			{"flows.f.steps.join.depends_on_mode", "want depends_on_mode any"},
		},
		"structure.json": {
			{"id", "required"},
			{"profiles.w.model", "required"},
			{"profiles.w.auto_compact_threshold", "must be positive"},
			{"skills.s1.content", "required"},
			{"skills.s2.content", "not allowed"},
			{"skills.s3.source", `unknown value "url"`},
			{"topology.mode", "required"},
			{"spawn_policy.profile_map", "not allowed with mode none"},
			{"event_router.buffer_size", "must be positive"},
			{"flows.empty.steps", "at least one step"},
			{"flows.f.steps.q0.collection_policy.n", "between 1 and 255"},
			{"flows.f.steps.qn.collection_policy.n", "only allowed with type quorum"},
			{"flows.f.steps.qt.collection_policy.type", `unknown value "majority"`},
			{"flows.f.steps.t0.timeout_ms", "must be positive"},
			{"flows.f.steps.fmt.output_format", "text output cannot be validated"},
			{"flows.f.steps.tools.allowed_tools[1]", `tool "b" is also blocked`},
			{"flows.f.steps.norole.role", "required"},
			{"flows.f.steps.nomsg.message", "required"},
		},
		"frames.json": {
			{"flows.f.steps.a.depends_on", "not allowed when the flow has a root frame"},
			{"flows.f.steps.a.branch", "not allowed when the flow has a root frame"},
			{"flows.f.root.nodes.again.step_id", `step "a" is already placed by flows.f.root.nodes.l1.body.nodes.a`},
			{"flows.f.root.nodes.ghost.step_id", `unknown step "nope"`},
			{"flows.f.steps.orphan", "not placed in the root frame"},
			{"flows.f.root.nodes.l2.loop_id", `duplicate loop id "l1"`},
			{"flows.f.root.nodes.l2.max_iterations", "at least 1"},
			{"flows.f.root.nodes.l2.body.nodes", "at least one node"},
			{"flows.f.root.nodes.l2.until.path", `"steps.c" refers to step "c", which is not an ancestor of loop l1`},
			{"flows.f.steps.b.message", "refers to iteration 5, but loop \"l1\" runs at most 2"},
			{"flows.f.steps.b.message", `refers to step "c", which is not in the body of loop "l1"`},
			{"flows.f.root.nodes.weird.kind", `unknown value "fork"`},
			{"flows.f.root.nodes.l3.until", "required"},
		},
		"extensions.json": {
			{"flows.f.steps.r.mobd.retry.attempts", "at least 1"},
			{"flows.f.steps.r.mobd.retry.max_backoff_ms", "smaller than initial_backoff_ms"},
			{"flows.f.steps.r.mobd.retry.multiplier", "at least 1"},
			{"flows.f.steps.r.mobd.retry.retry_on[1]", "duplicate"},
			{"flows.f.steps.r.mobd.retry.retry_on[2]", `unknown value "weather"`},
			{"flows.f.steps.b.mobd.budget", "set at least one"},
			{"flows.f.steps.b.mobd.flavor", "unknown field"},
			{"flows.f.steps.big.mobd.budget.max_tokens", "exceeds the run budget of 1000"},
			{"flows.f.steps.ok.role", "an approval step has no role"},
			{"flows.f.steps.ok.mobd.approval.on_timeout", `unknown value "escalate"`},
			{"flows.f.steps.ok2.expected_schema_ref", "not allowed on an approval step"},
			{"flows.f.steps.ok2.dispatch_mode", "not allowed on an approval step"},
			{"flows.f.steps.ok2.mobd.retry", "not retried"},
		},
		"types.json": {
			{"id", "want a string, got a number"},
			{"profiles.w.tools.shell", "want a boolean"},
			{"profiles.w.max_inline_peer_notifications", "want an integer, got 1.5"},
			{"profiles.w.auto_compact_threshold", "-1 is out of range"},
			{"profiles.w.provider", `unknown value "azure"`},
			{"profiles.w.runtime_mode", `unknown value "eager"`},
			{"limits.max_step_retries", "out of range for a 32-bit unsigned integer"},
			{"limits.max_flow_duration_ms", "want a number, got a string"},
			{"flows.f.steps.s.message", "want a string or an array of content blocks"},
			{"flows.f.steps.s.collection_policy.n", "out of range for a 8-bit"},
			{"flows.f.steps.s.depends_on", "want an array"},
			{"flows.f.steps.s.dispatch_mode", `unknown value "broadcast"`},
			{"wiring", "want an object, got an array"},
		},
		"toml_layout.toml": {
			{"id", "belongs in the [mob] table"},
			{"orchestrator", "belongs in the [mob] table"},
			{"mob.name", "unknown field of [mob]"},
			{"mob.id", "required"},
		},
		"toml_datetime.toml": {{"", "TOML date and time values have no JSON form"}},
		"duplicate_key.json": {{"", `duplicate key "id"`}},
		"syntax.json":        {{"", "unexpected end of input"}},
	}
	files, _ := filepath.Glob("testdata/bad/*.*[a-z]")
	if len(files) != len(cases) {
		t.Errorf("%d files in testdata/bad, %d cases", len(files), len(cases))
	}
	for _, file := range files {
		name := filepath.Base(file)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			wants, ok := cases[name]
			if !ok {
				t.Fatalf("no case for %s", name)
			}
			d, err := flows.LoadFile(file)
			if d != nil || err == nil {
				t.Fatalf("loaded: %v", err)
			}
			var verr *flows.ValidationError
			if !errors.As(err, &verr) || !errors.Is(err, flows.ErrInvalidDefinition) {
				t.Fatalf("err = %T %v", err, err)
			}
			for _, w := range wants {
				if !verr.Has(w.path, w.msg) {
					t.Errorf("missing problem %s: %s\ngot:\n%v", w.path, w.msg, err)
				}
			}
			unsupported := strings.HasPrefix(name, "unsupported")
			if errors.Is(err, flows.ErrUnsupportedField) != unsupported {
				t.Errorf("errors.Is(err, ErrUnsupportedField) = %v", !unsupported)
			}
			golden(t, "golden/bad/"+name+".err", []byte(err.Error()+"\n"))
		})
	}
}

// Unknown and unsupported keys are reported at every depth, with the same
// paths in JSON and TOML.
func TestUnsupportedInline(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, json, toml, path string
	}{
		{"mcp servers", `{"id":"m","profiles":{"p":{"model":"x","tools":{"mcp_servers":["s"]}}}}`,
			"[mob]\nid=\"m\"\n[profiles.p]\nmodel=\"x\"\n[profiles.p.tools]\nmcp_servers=[\"s\"]\n", "profiles.p.tools.mcp_servers"},
		{"rust bundles", `{"id":"m","profiles":{"p":{"model":"x","tools":{"rust_bundles":["b"]}}}}`,
			"[mob]\nid=\"m\"\n[profiles.p]\nmodel=\"x\"\ntools={rust_bundles=[\"b\"]}\n", "profiles.p.tools.rust_bundles"},
		{"read-only gate", `{"id":"m","profiles":{"p":{"model":"x","tools":{"read_only":true}}}}`,
			"[mob]\nid=\"m\"\n[profiles.p]\nmodel=\"x\"\ntools={read_only=true}\n", "profiles.p.tools.read_only"},
		{"compaction threshold", `{"id":"m","profiles":{"p":{"model":"x","auto_compact_threshold":1000}}}`,
			"[mob]\nid=\"m\"\n[profiles.p]\nmodel=\"x\"\nauto_compact_threshold=1000\n", "profiles.p.auto_compact_threshold"},
		{"realm profile", `{"id":"m","profiles":{"p":{"realm_profile":"r"}}}`,
			"[mob]\nid=\"m\"\n[profiles.p]\nrealm_profile=\"r\"\n", "profiles.p.realm_profile"},
		{"external backend", `{"id":"m","profiles":{"p":{"model":"x"}},"backend":{"external":{"address_base":"a"}}}`,
			"[mob]\nid=\"m\"\n[profiles.p]\nmodel=\"x\"\n[backend.external]\naddress_base=\"a\"\n", "backend.external"},
	}
	for _, c := range cases {
		for format, src := range map[string]string{"json": c.json, "toml": c.toml} {
			var err error
			if format == "json" {
				_, err = flows.LoadJSON([]byte(src))
			} else {
				_, err = flows.LoadTOML([]byte(src))
			}
			var verr *flows.ValidationError
			if !errors.Is(err, flows.ErrUnsupportedField) || !errors.As(err, &verr) || !verr.Has(c.path, "not supported by mobd") {
				t.Errorf("%s (%s): %v", c.name, format, err)
			}
			if verr != nil && len(verr.Errors) != 1 {
				t.Errorf("%s (%s): want one problem, got %v", c.name, format, err)
			}
		}
	}
}

func TestLoadOptionsAndFiles(t *testing.T) {
	t.Parallel()
	def := []byte(`{"id":"s","profiles":{"w":{"model":"m"}},"flows":{"f":{"steps":{"a":{"role":"w","message":"x","expected_schema_ref":"s/out.json"}}}}}`)
	if _, err := flows.LoadJSON(def); err == nil || !strings.Contains(err.Error(), "no base directory") {
		t.Errorf("LoadJSON with a named ref: %v", err)
	}
	fsys := fstest.MapFS{"s/out.json": {Data: []byte(`{"type":"object","required":["x"]}`)}}
	d, err := flows.Load(def, flows.FormatJSON, flows.LoadOptions{Schemas: fsys})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := d.Flows["f"].Step("a")
	if string(a.ExpectedSchema) != `{"required":["x"],"type":"object"}` || a.OutputFormat != flows.OutputJSON {
		t.Errorf("resolved %s %q", a.ExpectedSchema, a.OutputFormat)
	}
	if err := d.Validate(); err != nil {
		t.Errorf("re-validating a loaded definition: %v", err)
	}
	if _, err := flows.LoadFile("testdata/good/triage.yaml"); err == nil || !strings.Contains(err.Error(), "unknown definition format") {
		t.Errorf("yaml: %v", err)
	}
	if _, err := flows.LoadFile("testdata/good/missing.json"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := flows.LoadJSON([]byte(`[1,2]`)); err == nil || !strings.Contains(err.Error(), "want an object") {
		t.Errorf("array document: %v", err)
	}
	if _, err := flows.LoadJSON([]byte(`{"id":"x","profiles":{"a":{"model":"m"}}} {}`)); err == nil {
		t.Error("trailing data accepted")
	}
}

// The TOML orchestrator may be a bare name or a table.
func TestTOMLOrchestratorForms(t *testing.T) {
	t.Parallel()
	for _, src := range []string{
		"[mob]\nid = \"x\"\norchestrator = \"lead\"\n[profiles.lead]\nmodel = \"m\"\n",
		"[mob]\nid = \"x\"\norchestrator = { profile = \"lead\" }\n[profiles.lead]\nmodel = \"m\"\n",
		"[mob]\nid = \"x\"\n[mob.orchestrator]\nprofile = \"lead\"\n[profiles.lead]\nmodel = \"m\"\n",
	} {
		d, err := flows.LoadTOML([]byte(src))
		if err != nil || d.Orchestrator == nil || d.Orchestrator.Profile != "lead" {
			t.Errorf("%q: %v %+v", src, err, d)
		}
	}
	// In JSON the orchestrator is an object only.
	_, err := flows.LoadJSON([]byte(`{"id":"x","orchestrator":"lead","profiles":{"lead":{"model":"m"}}}`))
	var verr *flows.ValidationError
	if !errors.As(err, &verr) || !verr.Has("orchestrator", "want an object, got a string") {
		t.Errorf("bare orchestrator in JSON: %v", err)
	}
}

// Empty lists and maps load as absent, except where empty means "none"
// (a tool overlay, an auto spawn policy's map), and all of it round-trips.
func TestEmptyValuesRoundTrip(t *testing.T) {
	t.Parallel()
	src := `{"id":"x","profiles":{"a":{"model":"m","skills":[],"resume_overrides":[]}},"models":{},"skills":{},
	  "spawn_policy":{"mode":"auto","profile_map":{}},
	  "flows":{"f":{"steps":{"s":{"role":"a","message":[],"allowed_tools":[],"depends_on":[]}}}}}`
	d, err := flows.LoadJSON([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := d.Flows["f"].Step("s")
	if s.AllowedTools == nil || s.BlockedTools != nil || s.DependsOn != nil || !s.Message.IsBlocks() {
		t.Errorf("step %+v", s)
	}
	if d.Profiles["a"].Skills != nil || d.Models != nil || d.SpawnPolicy.ProfileMap == nil {
		t.Errorf("profile %+v models %v spawn %+v", d.Profiles["a"], d.Models, d.SpawnPolicy)
	}
	b, err := d.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	again, err := flows.LoadJSON(b)
	if err != nil || !reflect.DeepEqual(d, again) {
		t.Fatalf("round trip: %v\n%s", err, b)
	}
}
