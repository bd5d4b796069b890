package server

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func errCode(t *testing.T, body string) (string, []FieldError) {
	t.Helper()
	var eb struct {
		Error *APIError `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &eb); err != nil || eb.Error == nil {
		t.Fatalf("not a typed error: %s", body)
	}
	return eb.Error.Code, eb.Error.Fields
}

// refusal is a request the API must refuse: its status and error code
// ("" for any), and for an invalid definition the path its first field
// error starts with.
type refusal struct {
	name, method, path, ctype, body string
	status                          int
	code                            string
	field                           string
}

// refusals makes each request and checks its refusal; none may show the
// journal's internals.
func (f *fixture) refusals(t *testing.T, cases []refusal) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, body := f.do(c.method, c.path, c.ctype, c.body)
			if status != c.status {
				t.Fatalf("status %d, want %d: %s", status, c.status, body)
			}
			code, fields := errCode(t, body)
			if c.code != "" && code != c.code {
				t.Fatalf("code %q, want %q: %s", code, c.code, body)
			}
			if c.field != "" && (len(fields) == 0 || !strings.HasPrefix(fields[0].Path, c.field)) {
				t.Fatalf("fields %+v, want one at %q", fields, c.field)
			}
			if strings.Contains(body, "journal:") {
				t.Fatalf("the message shows the journal's refusal: %s", body)
			}
		})
	}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{maxBody: 8 << 10})
	f.withMob()
	run := f.must(201, "POST", "/v1/mobs/research/flows/brief/runs", "", `{"params":{"country":"France"},"run_id":"r1"}`)
	if !strings.Contains(run, `"run_id":"r1"`) {
		t.Fatalf("run: %s", run)
	}
	big := `{"action":"` + strings.Repeat("x", 9<<10) + `"}`
	badDef := `{"id":"bad","profiles":{"lead":{"model":"m"}},"flows":{"f":{"steps":{"a":{"role":"ghost","message":"hi"}}}}}`
	f.refusals(t, []refusal{
		{"invalid JSON", "POST", "/v1/mobs/research/lifecycle", "", `{"action":`, 400, CodeInvalidJSON, ""},
		{"invalid JSON definition", "POST", "/v1/mobs", "application/json", `{"id":`, 400, CodeInvalidJSON, ""},
		{"trailing data", "POST", "/v1/mobs/research/lifecycle", "", `{"action":"stop"} {}`, 400, CodeInvalidJSON, ""},
		{"unknown field", "POST", "/v1/mobs/research/lifecycle", "", `{"action":"stop","force":true}`, 400, CodeInvalidRequest, ""},
		{"wrong type", "POST", "/v1/mobs/research/members", "", `{"profile":3}`, 400, CodeInvalidRequest, ""},
		{"missing field", "POST", "/v1/mobs/research/members", "", `{}`, 400, CodeInvalidRequest, ""},
		{"bad action", "POST", "/v1/mobs/research/lifecycle", "", `{"action":"explode"}`, 400, CodeInvalidRequest, ""},
		{"decision without approved", "POST", "/v1/mobs/research/runs/r1/steps/plan/decision", "", `{"by":"me"}`, 400, CodeInvalidRequest, ""},
		{"params not an object", "POST", "/v1/mobs/research/flows/brief/runs", "", `{"params":[1]}`, 400, CodeInvalidRequest, ""},
		{"bad cursor", "GET", "/v1/events?after=x", "", "", 400, CodeInvalidRequest, ""},
		{"oversized body", "POST", "/v1/mobs/research/lifecycle", "", big, 413, CodeBodyTooLarge, ""},
		{"oversized definition", "POST", "/v1/mobs", "application/json", `{"id":"` + strings.Repeat("x", 9<<10) + `"}`, 413, CodeBodyTooLarge, ""},
		{"unsupported media", "POST", "/v1/mobs", "text/plain", testDef, 415, CodeUnsupportedMedia, ""},
		{"invalid definition", "POST", "/v1/mobs", "application/json", badDef, 422, CodeInvalidDefinition, "flows.f.steps.a"},
		{"unknown profile", "POST", "/v1/mobs/research/members", "", `{"profile":"ghost"}`, 422, CodeUnknownProfile, ""},
		{"unknown mob", "GET", "/v1/mobs/nope", "", "", 404, CodeMobNotFound, ""},
		{"unknown mob run", "POST", "/v1/mobs/nope/flows/brief/runs", "", `{}`, 404, CodeMobNotFound, ""},
		{"unknown member", "DELETE", "/v1/mobs/research/members/nobody", "", "", 404, CodeMemberNotFound, ""},
		{"unknown wire peer", "POST", "/v1/mobs/research/members/lead/wire", "", `{"peer":"nobody"}`, 404, CodeMemberNotFound, ""},
		{"unknown flow", "POST", "/v1/mobs/research/flows/nope/runs", "", `{}`, 404, CodeFlowNotFound, ""},
		{"unknown run", "GET", "/v1/mobs/research/runs/nope", "", "", 404, CodeRunNotFound, ""},
		{"unknown session", "POST", "/v1/sessions/0190c7a4-0000-7000-8000-000000000000/turns", "", `{"prompt":"hi"}`, 404, CodeSessionNotFound, ""},
		{"unknown route", "GET", "/v1/nothing", "", "", 404, CodeNotFound, ""},
		{"wrong method", "PUT", "/v1/mobs/research", "", "", 405, CodeMethodNotAllowed, ""},
		{"duplicate mob", "POST", "/v1/mobs", "application/json", testDef, 409, CodeMobExists, ""},
		{"duplicate member", "POST", "/v1/mobs/research/members", "", `{"profile":"lead","agent_identity":"lead"}`, 409, CodeDuplicateMember, ""},
		{"approve a plain step", "POST", "/v1/mobs/research/runs/r1/steps/plan/decision", "", `{"approved":true}`, 409, "", ""},
		{"approve a step the flow does not have", "POST", "/v1/mobs/research/runs/r1/steps/nosuch/decision", "", `{"approved":true}`, 404, CodeStepNotFound, ""},
	})
	// Nothing was half-applied: only the one mob, with its two members.
	var mobs []MobSummary
	json.Unmarshal([]byte(f.must(200, "GET", "/v1/mobs", "", "")), &mobs)
	if len(mobs) != 1 || mobs[0].ID != "research" || mobs[0].Members != 2 {
		t.Fatalf("mobs after bad input: %+v", mobs)
	}

	// Wrong state: a stopped mob refuses runs and a second stop.
	f.must(200, "POST", "/v1/mobs/research/lifecycle", "application/json", `{"action":"stop"}`)
	for _, c := range []struct{ path, body string }{
		{"/v1/mobs/research/lifecycle", `{"action":"stop"}`},
		{"/v1/mobs/research/flows/brief/runs", `{}`},
	} {
		status, body := f.do("POST", c.path, "", c.body)
		if code, _ := errCode(t, body); status != 409 || code != CodeWrongState {
			t.Fatalf("POST %s on a stopped mob: %d %s", c.path, status, body)
		}
	}
	f.must(200, "POST", "/v1/mobs/research/lifecycle", "", `{"action":"resume"}`)
	// A finished run cannot be canceled.
	waitRun(t, f, "research", "r1", "completed")
	status, body := f.do("POST", "/v1/mobs/research/runs/r1/cancel", "", `{}`)
	if code, _ := errCode(t, body); status != 409 || code != CodeRunFinished {
		t.Fatalf("cancel a finished run: %d %s", status, body)
	}
}

// TestInvalidIDsAreRefused checks that ids in request bodies the daemon
// cannot take are the client's fault: a 400 invalid_request (a 422
// invalid_definition naming the field, for a definition), with a message
// that says what is wrong without the journal's internals, and no effect.
func TestInvalidIDsAreRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	f.withMob()
	long := strings.Repeat("x", 257)
	f.refusals(t, []refusal{
		{"run_id with NUL", "POST", "/v1/mobs/research/flows/brief/runs", "", `{"run_id":"r\u00001"}`, 400, CodeInvalidRequest, ""},
		{"run_id with a newline", "POST", "/v1/mobs/research/flows/brief/runs", "", `{"run_id":"r\n1"}`, 400, CodeInvalidRequest, ""},
		{"run_id too long", "POST", "/v1/mobs/research/flows/brief/runs", "", `{"run_id":"` + long + `"}`, 400, CodeInvalidRequest, ""},
		{"agent_identity with a space", "POST", "/v1/mobs/research/members", "", `{"profile":"lead","agent_identity":"a b"}`, 400, CodeInvalidRequest, ""},
		{"agent_identity with a slash", "POST", "/v1/mobs/research/members", "", `{"profile":"lead","agent_identity":"a/b"}`, 400, CodeInvalidRequest, ""},
		{"agent_identity with NUL", "POST", "/v1/mobs/research/members", "", `{"profile":"lead","agent_identity":"a\u0000"}`, 400, CodeInvalidRequest, ""},
		{"wire a member to itself", "POST", "/v1/mobs/research/members/lead/wire", "", `{"peer":"lead"}`, 400, CodeInvalidRequest, ""},
		{"definition id with NUL", "POST", "/v1/mobs", "application/json", strings.Replace(testDef, `"research"`, `"re\u0000s"`, 1), 422, CodeInvalidDefinition, "id"},
		{"definition id too long", "POST", "/v1/mobs", "application/json", strings.Replace(testDef, `"research"`, `"`+long+`"`, 1), 422, CodeInvalidDefinition, "id"},
	})
	// Nothing was done: one mob with its two members and no run, the lead
	// wired to the analyst only.
	var mobs []MobSummary
	json.Unmarshal([]byte(f.must(200, "GET", "/v1/mobs", "", "")), &mobs)
	if len(mobs) != 1 || mobs[0].ID != "research" || mobs[0].Members != 2 || mobs[0].Runs != 0 {
		t.Fatalf("mobs after refused requests: %+v", mobs)
	}
	var lead struct {
		Peers []string `json:"peers"`
	}
	json.Unmarshal([]byte(f.must(200, "GET", "/v1/mobs/research/members/lead", "", "")), &lead)
	if len(lead.Peers) != 1 || lead.Peers[0] != "analyst" {
		t.Fatalf("lead's peers after a refused self-wiring: %v", lead.Peers)
	}
}

// TestStartRunIdempotency checks that run_id is an idempotency key: the
// same start again (flow and params, as JSON values) answers 200 with the
// existing run; the id reused for another flow or other params is a 409
// run_id_conflict, and starts nothing.
func TestStartRunIdempotency(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	f.withMob()
	const runs = "/v1/mobs/research/flows/%s/runs"
	start := func(flow, body string) (int, string) {
		return f.do("POST", fmt.Sprintf(runs, flow), "", body)
	}
	if status, body := start("brief", `{"params":{"country":"France","n":1},"run_id":"r1"}`); status != 201 {
		t.Fatalf("first start: %d %s", status, body)
	}
	for _, body := range []string{
		`{"params":{"country":"France","n":1},"run_id":"r1"}`,
		`{"run_id":"r1","params":{ "n" : 1, "country" : "Fr\u0061nce" }}`,
	} {
		status, resp := start("brief", body)
		var snap struct {
			RunID  string `json:"run_id"`
			FlowID string `json:"flow_id"`
		}
		json.Unmarshal([]byte(resp), &snap)
		if status != 200 || snap.RunID != "r1" || snap.FlowID != "brief" {
			t.Fatalf("replay %s: %d %s; want 200 with run r1", body, status, resp)
		}
	}
	for _, c := range []struct{ name, flow, body string }{
		{"another flow", "slow", `{"params":{"country":"France","n":1},"run_id":"r1"}`},
		{"other params", "brief", `{"params":{"country":"Spain","n":1},"run_id":"r1"}`},
		{"no params", "brief", `{"run_id":"r1"}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, body := start(c.flow, c.body)
			if code, _ := errCode(t, body); status != 409 || code != CodeRunIDConflict {
				t.Fatalf("%d %s; want 409 %s", status, body, CodeRunIDConflict)
			}
			if strings.Contains(body, "France") {
				t.Fatalf("the conflict shows the run's params: %s", body)
			}
		})
	}
	// After the run ended, a replay is still the run.
	waitRun(t, f, "research", "r1", "completed")
	if status, body := start("brief", `{"params":{"n":1,"country":"France"},"run_id":"r1"}`); status != 200 {
		t.Fatalf("replay of a finished run: %d %s", status, body)
	}
	var list []RunSummary
	json.Unmarshal([]byte(f.must(200, "GET", "/v1/mobs/research/runs", "", "")), &list)
	if len(list) != 1 || list[0].RunID != "r1" || list[0].FlowID != "brief" {
		t.Fatalf("runs %+v", list)
	}
}

// TestMethodNotAllowed checks that a known path asked with another method
// answers 405 with the methods it takes, and an unknown path 404.
func TestMethodNotAllowed(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	for _, c := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{"PUT", "/v1/mobs/research", 405, "GET, HEAD, DELETE"},
		{"DELETE", "/v1/runtimes", 405, "GET, HEAD"},
		{"GET", "/v1/mobs/research/members/lead/send", 405, "POST"},
		{"PATCH", "/v1/mobs", 405, "GET, HEAD, POST"},
		{"PUT", "/v1/nothing", 404, ""},
	} {
		req, err := http.NewRequestWithContext(testCtx(t), c.method, f.ts.URL+c.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if f.token != "" {
			req.Header.Set("Authorization", "Bearer "+f.token)
		}
		resp, err := f.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status || resp.Header.Get("Allow") != c.allow {
			t.Errorf("%s %s: %d, Allow %q; want %d, Allow %q (%s)", c.method, c.path, resp.StatusCode, resp.Header.Get("Allow"), c.status, c.allow, body)
		}
		if code, _ := errCode(t, string(body)); c.status == 405 && code != CodeMethodNotAllowed {
			t.Errorf("%s %s: code %q", c.method, c.path, code)
		}
	}
}

// waitRun polls a run until it has status want.
func waitRun(t *testing.T, f *fixture, mobID, run, want string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var snap map[string]any
		json.Unmarshal([]byte(f.must(200, "GET", "/v1/mobs/"+mobID+"/runs/"+run, "", "")), &snap)
		if snap["status"] == want {
			return snap
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s: %v, want %s", run, snap["status"], want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestMobLifecycleAndMembers(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	toml := "[mob]\nid = \"tomlmob\"\norchestrator = \"lead\"\n\n[profiles.lead]\nmodel = \"sim-model\"\n"
	f.must(201, "POST", "/v1/mobs", "application/toml", toml)
	f.withMob()
	f.must(201, "POST", "/v1/mobs/research/members", "", `{"profile":"analyst","agent_identity":"a2"}`)
	f.must(200, "POST", "/v1/mobs/research/members/analyst/wire", "", `{"peer":"a2"}`)
	var m map[string]any
	json.Unmarshal([]byte(f.must(200, "GET", "/v1/mobs/research/members/analyst", "", "")), &m)
	if peers, _ := m["peers"].([]any); len(peers) != 2 {
		t.Fatalf("analyst after wire: %v", m)
	}
	f.must(200, "POST", "/v1/mobs/research/members/analyst/unwire", "", `{"peer":"a2"}`)
	ans := f.must(200, "POST", "/v1/mobs/research/members/lead/send", "", `{"text":"What is the capital of France?"}`)
	if !strings.Contains(ans, "Paris") {
		t.Fatalf("send: %s", ans)
	}
	f.must(200, "POST", "/v1/mobs/research/members/a2/respawn", "", "")
	f.must(204, "DELETE", "/v1/mobs/research/members/a2", "", "")
	var flows []FlowInfo
	json.Unmarshal([]byte(f.must(200, "GET", "/v1/mobs/research/flows", "", "")), &flows)
	if len(flows) != 2 || flows[0].ID != "brief" || len(flows[0].Steps) != 2 {
		t.Fatalf("flows %+v", flows)
	}
	f.must(201, "POST", "/v1/mobs/research/flows/brief/runs", "", `{"params":{"country":"France"},"run_id":"r1"}`)
	snap := waitRun(t, f, "research", "r1", "completed")
	if outs, _ := snap["outputs"].(map[string]any); !strings.Contains(outs["plan"].(string), "Paris") {
		t.Fatalf("snapshot %v", snap)
	}
	// Same run id and request: the same run, not another.
	f.must(200, "POST", "/v1/mobs/research/flows/brief/runs", "", `{"params":{"country":"France"},"run_id":"r1"}`)
	var runs []RunSummary
	json.Unmarshal([]byte(f.must(200, "GET", "/v1/mobs/research/runs", "", "")), &runs)
	if len(runs) != 1 {
		t.Fatalf("runs %+v", runs)
	}
	// A slow run is canceled.
	f.must(201, "POST", "/v1/mobs/research/flows/slow/runs", "", `{"run_id":"r2"}`)
	f.must(200, "POST", "/v1/mobs/research/runs/r2/cancel", "", `{"reason":"test"}`)
	waitRun(t, f, "research", "r2", "canceled")
	f.must(200, "POST", "/v1/mobs/research/lifecycle", "", `{"action":"complete"}`)
	f.must(204, "DELETE", "/v1/mobs/research", "", "")
	f.must(404, "GET", "/v1/mobs/research", "", "")
	// The metrics saw the flow's turns and steps.
	metrics := f.must(200, "GET", "/metrics", "", "")
	for _, want := range []string{`mobd_turns_total{source="flow"}`, `mobd_step_duration_seconds_count{flow="brief",outcome="completed"} 2`,
		`mobd_http_requests_total{route="POST /v1/mobs",status="201"} 2`, "mobd_active_runs 0"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestAuth(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{token: "s3cret-token"})
	f.token = ""
	for _, h := range [][]string{
		nil,
		{"Authorization", "Bearer wrong"},
		{"Authorization", "s3cret-token"},
		{"Authorization", "Bearer"},
		{"Authorization", "Bearer "},
		{"Authorization", "Bearers3cret-token"},
		{"Authorization", "Basic s3cret-token"},
		{"Authorization", "Bearer s3cret-token2"},
		{"Authorization", "Bearer s3cret"},
	} {
		status, body := f.do("GET", "/v1/mobs", "", "", h...)
		if code, _ := errCode(t, body); status != 401 || code != CodeUnauthorized {
			t.Fatalf("%v: %d %s", h, status, body)
		}
	}
	// The scheme is case-insensitive (RFC 9110 §11.1); spaces around the
	// token do not count.
	for _, h := range []string{"Bearer s3cret-token", "bearer s3cret-token", "BEARER s3cret-token", "bEaReR   s3cret-token  "} {
		if status, body := f.do("GET", "/v1/mobs", "", "", "Authorization", h); status != 200 {
			t.Errorf("Authorization: %q: %d %s", h, status, body)
		}
	}
	if status, _ := f.do("GET", "/metrics", "", ""); status != 401 {
		t.Fatalf("metrics without token: %d", status)
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if status, body := f.do("GET", p, "", ""); status != 200 {
			t.Fatalf("%s without token: %d %s", p, status, body)
		}
	}

	g := newFixture(t, fixtureOpts{})
	g.must(200, "GET", "/v1/mobs", "", "")
}

func TestRuntimesAndHealth(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	var rts []RuntimeInfo
	json.Unmarshal([]byte(f.must(200, "GET", "/v1/runtimes", "", "")), &rts)
	if len(rts) != 1 || rts[0].PID == 0 || rts[0].State != "running" {
		t.Fatalf("runtimes %+v", rts)
	}
	if body := f.must(200, "GET", "/readyz", "", ""); !strings.Contains(body, `"ready":true`) {
		t.Fatalf("readyz %s", body)
	}
	f.must(200, "GET", "/healthz", "", "")
	var doc map[string]any
	if err := json.Unmarshal([]byte(f.must(200, "GET", "/v1/openapi.json", "", "")), &doc); err != nil || doc["openapi"] != "3.0.3" {
		t.Fatalf("openapi: %v", err)
	}
}
