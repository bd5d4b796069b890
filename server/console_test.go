package server

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// The console's files are served without a token (the page asks for it),
// the API still needs it, and / leads to the console.
func TestConsoleServed(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{token: "s3cret"})
	client := f.ts.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	get := func(path string, header ...string) *http.Response {
		t.Helper()
		req, _ := http.NewRequestWithContext(testCtx(t), "GET", f.ts.URL+path, nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := get("/"); resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/console/" {
		t.Fatalf("GET /: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	for path, ctype := range map[string]string{
		"/console/":           "text/html",
		"/console/index.html": "text/html",
		"/console/style.css":  "text/css",
		"/console/js/main.js": "text/javascript",
	} {
		resp := get(path)
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), ctype) {
			t.Errorf("GET %s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") || resp.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("GET %s: headers %v", path, resp.Header)
		}
		if etag := resp.Header.Get("ETag"); etag == "" || get(path, "If-None-Match", etag).StatusCode != http.StatusNotModified {
			t.Errorf("GET %s: no revalidation with ETag %q", path, etag)
		}
	}
	if resp := get("/console/missing.js"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("missing asset: %d", resp.StatusCode)
	}
	if resp := get("/console"); resp.StatusCode/100 != 3 || resp.Header.Get("Location") != "/console/" {
		t.Errorf("GET /console: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// Only reading the files is open: the API and other methods need the token.
	for _, c := range []struct{ method, path string }{{"GET", "/v1/mobs"}, {"POST", "/console/"}, {"GET", "/v1/events"}} {
		req, _ := http.NewRequestWithContext(testCtx(t), c.method, f.ts.URL+c.path, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s %s without a token: %d", c.method, c.path, resp.StatusCode)
		}
	}
}

// loopDef has a flow whose root frame holds a repeat_until loop.
const loopDef = `{
  "id": "loops",
  "profiles": {"lead": {"model": "sim-model"}, "w": {"model": "sim-model"}},
  "flows": {"refine": {
    "steps": {
      "draft": {"role": "w", "message": "draft on {{ params.topic }}",
        "expected_schema_ref": "{\"type\": \"object\", \"properties\": {\"score\": {\"type\": \"number\"}}, \"required\": [\"score\"]}"},
      "report": {"role": "lead", "message": "echo: first {{ loops.polish.iterations.0.steps.draft.score }} of {{ params.topic }}"}
    },
    "root": {"nodes": {
      "polish": {"kind": "repeat_until", "loop_id": "polish", "max_iterations": 3,
        "until": {"op": "gt", "path": "steps.draft.output.score", "value": 7},
        "body": {"nodes": {"draft": {"kind": "step", "step_id": "draft"}}}},
      "report": {"kind": "step", "step_id": "report", "depends_on": ["polish"]}
    }}}}
}`

func TestFlowAndRunGraphs(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	f.withMob()
	var flow FlowDetail
	if err := json.Unmarshal([]byte(f.must(200, "GET", "/v1/mobs/research/flows/brief", "", "")), &flow); err != nil {
		t.Fatal(err)
	}
	if flow.ID != "brief" || len(flow.Graph.Nodes) != 2 || !json.Valid(flow.Spec) {
		t.Fatalf("flow: %+v", flow)
	}
	plan, dig := flow.Graph.Nodes[0], flow.Graph.Nodes[1]
	if plan.ID != "plan" || plan.StepID != "plan" || plan.Role != "lead" || len(plan.DependsOn) != 0 ||
		dig.ID != "dig" || dig.Role != "analyst" || strings.Join(dig.DependsOn, ",") != "plan" ||
		dig.Message != "echo: digging {{ steps.plan.output }}" || dig.Kind != "step" {
		t.Fatalf("nodes: %+v", flow.Graph.Nodes)
	}
	status, body := f.do("GET", "/v1/mobs/research/flows/nope", "", "")
	if code, _ := errCode(t, body); status != 404 || code != CodeFlowNotFound {
		t.Fatalf("unknown flow: %d %s", status, body)
	}

	// A run's graph: the messages each step was sent, rendered.
	f.must(201, "POST", "/v1/mobs/research/flows/brief/runs", "", `{"params":{"country":"France"},"run_id":"g1"}`)
	waitRun(t, f, "research", "g1", "completed")
	var rg RunGraph
	json.Unmarshal([]byte(f.must(200, "GET", "/v1/mobs/research/runs/g1/graph", "", "")), &rg)
	if rg.RunID != "g1" || rg.FlowID != "brief" || string(rg.Params) != `{"country":"France"}` || len(rg.Graph.Nodes) != 2 ||
		rg.Inputs["plan"] != "What is the capital of France?" || rg.Inputs["dig"] != "echo: digging The capital of France is Paris." {
		t.Fatalf("run graph: %+v", rg)
	}
	status, body = f.do("GET", "/v1/mobs/research/runs/nope/graph", "", "")
	if code, _ := errCode(t, body); status != 404 || code != CodeRunNotFound {
		t.Fatalf("unknown run: %d %s", status, body)
	}

	// Loops: body nodes are named by their loop and lead from it.
	f.must(201, "POST", "/v1/mobs", "application/json", loopDef)
	json.Unmarshal([]byte(f.must(200, "GET", "/v1/mobs/loops/flows/refine", "", "")), &flow)
	ids := []string{}
	for _, n := range flow.Graph.Nodes {
		ids = append(ids, n.ID+"("+n.Parent+")")
	}
	if got := strings.Join(ids, " "); got != "polish() polish/draft(polish) report()" {
		t.Fatalf("loop graph nodes: %s", got)
	}
	if l := flow.Graph.Nodes[0]; l.Kind != "repeat_until" || l.LoopID != "polish" || l.MaxIterations != 3 || l.Until == nil {
		t.Fatalf("loop node: %+v", l)
	}
}
