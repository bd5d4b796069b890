package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestCommandHelp checks that -h on a client command prints its synopsis
// and its flags, and never the token from the environment.
func TestCommandHelp(t *testing.T) {
	t.Setenv("MOBD_TOKEN", "token-from-env")
	for _, c := range []struct {
		args []string
		want []string
		not  []string
	}{
		{[]string{"cancel", "-h"}, []string{"mobd cancel MOB RUN [--reason TEXT]", "-reason string", "-token string"}, []string{"-yes"}},
		{[]string{"destroy", "--help"}, []string{"mobd destroy MOB --yes", "-yes"}, nil},
		{[]string{"run", "-h"}, []string{"mobd run MOB FLOW", "start a flow run; --follow shows", "-follow"}, []string{"mobd runs"}},
		{[]string{"approve", "-h"}, []string{"mobd approve|reject MOB RUN STEP", "-comment string"}, nil},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(c.args, &stdout, &stderr); code != 0 || stderr.Len() > 0 {
			t.Errorf("mobd %s: exit %d, stderr %q", strings.Join(c.args, " "), code, stderr.String())
		}
		out := stdout.String()
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("mobd %s: no %q in\n%s", strings.Join(c.args, " "), w, out)
			}
		}
		for _, w := range append(c.not, "token-from-env") {
			if strings.Contains(out, w) {
				t.Errorf("mobd %s: %q in\n%s", strings.Join(c.args, " "), w, out)
			}
		}
	}
}

// TestRunTellsReplayFromStart checks that mobd run says whether it
// started the run (201) or the daemon answered with the run an earlier
// start with the same --run-id, flow and params started (200), and shows
// the daemon's refusal of a run id reused for another request (409).
func TestRunTellsReplayFromStart(t *testing.T) {
	answers := []struct {
		status int
		body   string
	}{
		{http.StatusCreated, `{"run_id":"r1","flow_id":"brief","status":"running"}`},
		{http.StatusOK, `{"run_id":"r1","flow_id":"brief","status":"completed"}`},
		{http.StatusConflict, `{"error":{"code":"run_id_conflict","message":"mob: run id already used for another run: run \"r1\" of mob \"demo\" has other params"}}`},
	}
	var bodies []string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/mobs/demo/flows/brief/runs" {
			http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusTeapot)
			return
		}
		b, _ := io.ReadAll(r.Body)
		a := answers[len(bodies)]
		bodies = append(bodies, string(b))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		io.WriteString(w, a.body)
	}))
	defer ts.Close()
	t.Setenv("MOBD_ADDR", ts.URL)
	t.Setenv("MOBD_TOKEN", "")
	for i, want := range []struct {
		code   int
		stdout string
		stderr string
	}{
		{0, "run r1 of flow brief started (running)\n", ""},
		{0, "run r1 of flow brief was already started with these params (completed)\n", ""},
		{1, "", "mobd run: run_id_conflict (409): mob: run id already used for another run: run \"r1\" of mob \"demo\" has other params\n"},
	} {
		var stdout, stderr bytes.Buffer
		code := run([]string{"run", "demo", "brief", "--run-id", "r1", "--params", `{"country":"France"}`}, &stdout, &stderr)
		if code != want.code || stdout.String() != want.stdout || stderr.String() != want.stderr {
			t.Errorf("start %d: exit %d, stdout %q, stderr %q; want exit %d, stdout %q, stderr %q",
				i, code, stdout.String(), stderr.String(), want.code, want.stdout, want.stderr)
		}
		if !strings.Contains(bodies[i], `"run_id":"r1"`) {
			t.Errorf("start %d sent %s", i, bodies[i])
		}
	}
}

// The live view of a run has a line for every event that changes what the
// run does: re-sent and canceled steps, decisions with who made them,
// escalations, budgets and loops' ends too.
func TestProgressLines(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		ev   event
		want string
	}{
		{event{Type: "mobd_step_redispatched", Step: "dig", Member: "w1", Reason: "run resumed"}, "↺ dig sent again to w1: run resumed"},
		{event{Type: "mobd_step_canceled", Step: "dig", Reason: "frame failed"}, "⊘ dig canceled: frame failed"},
		{event{Type: "mobd_approval_decided", Step: "sign", Decision: &decision{true, "ops", "ship it"}}, "⏵ sign approved by ops: ship it"},
		{event{Type: "mobd_approval_decided", Step: "sign", Decision: &decision{false, "timeout", ""}}, "⏵ sign rejected by timeout"},
		{event{Type: "supervisor_escalation", Member: "boss", Text: "retry with care"}, "⚑ escalated to boss: retry with care"},
		{event{Type: "supervisor_escalation_failed", Error: "no live member"}, "⚑ escalation failed: no live member"},
		{event{Type: "mobd_budget_exceeded", Error: "max_tokens 100 used 120"}, "⊘ budget exceeded: max_tokens 100 used 120"},
		{event{Type: "mobd_loop_completed", Loop: "polish", Class: "exhausted", Reason: "until did not hold"}, "⟳ loop polish exhausted: until did not hold"},
		{event{Type: "mobd_loop_completed", Loop: "polish", Reason: "until condition held"}, "⟳ loop polish ended: until condition held"},
	} {
		tc.ev.At = at
		var b strings.Builder
		var started time.Time
		progressLine(&b, tc.ev, map[string]time.Time{}, &started, nil)
		if got := strings.TrimSpace(strings.TrimPrefix(b.String(), at.Local().Format("15:04:05"))); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.ev.Type, got, tc.want)
		}
	}
}

// An invalid definition's error lists its fields as path: message, and a
// problem of the whole document (a syntax error) without an empty path.
func TestAPIErrorFields(t *testing.T) {
	t.Parallel()
	var e apiError
	if err := json.Unmarshal([]byte(`{"code":"invalid_definition","message":"invalid","fields":[
		{"path":"","message":"invalid TOML: line 2"},{"path":"flows.f.steps.a.role","message":"unknown profile"}]}`), &e); err != nil {
		t.Fatal(err)
	}
	e.Status = 422
	want := "invalid_definition (422): invalid\n  invalid TOML: line 2\n  flows.f.steps.a.role: unknown profile"
	if got := e.Error(); got != want {
		t.Errorf("%q, want %q", got, want)
	}
}

// TestEmptyListsRead checks that an empty list of flows or peers reads as
// "none" (or "-" in a table), not as a value left out.
func TestEmptyListsRead(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.Method + " " + r.URL.Path {
		case "GET /v1/mobs":
			io.WriteString(w, `[{"id":"demo","state":"running","members":1,"runs":0,"active_runs":0,"flows":[]}]`)
		case "GET /v1/mobs/demo":
			io.WriteString(w, `{"id":"demo","state":"running","members":1,"runs":0,"active_runs":0,"member_list":[{"agent_identity":"lead","profile":"lead","status":"active"}]}`)
		case "POST /v1/mobs/demo/members":
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, `{"agent_identity":"scout","profile":"analyst","status":"active","peers":[]}`)
		default:
			http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusTeapot)
		}
	}))
	defer ts.Close()
	t.Setenv("MOBD_ADDR", ts.URL)
	t.Setenv("MOBD_TOKEN", "")
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"mobs"}, []string{"demo  running  1        0            0     -\n"}},
		{[]string{"mob", "demo"}, []string{"flows: none\n", "lead    lead     active  0      0        -\n"}},
		{[]string{"spawn", "demo", "analyst", "--id", "scout"}, []string{"member scout (analyst) spawned; peers: none\n"}},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(c.args, &stdout, &stderr); code != 0 {
			t.Fatalf("mobd %s: exit %d, stderr %q", strings.Join(c.args, " "), code, stderr.String())
		}
		for _, w := range c.want {
			if !strings.Contains(stdout.String(), w) {
				t.Errorf("mobd %s: no %q in\n%s", strings.Join(c.args, " "), w, stdout.String())
			}
		}
	}
}
