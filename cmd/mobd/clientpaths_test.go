package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mobd-dev/mobd/flows"
	"github.com/mobd-dev/mobd/server"
)

// stub is a stand-in daemon: it records the requests it gets (method and
// escaped path) and answers them with handle.
type stub struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []string
}

func newStub(t *testing.T, handle func(w http.ResponseWriter, r *http.Request)) *stub {
	t.Helper()
	s := &stub{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.reqs = append(s.reqs, r.Method+" "+r.URL.EscapedPath())
		s.mu.Unlock()
		handle(w, r)
	}))
	t.Cleanup(s.Close)
	t.Setenv("MOBD_ADDR", s.URL)
	t.Setenv("MOBD_TOKEN", "")
	return s
}

func (s *stub) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.reqs...)
}

// mobdRun runs the CLI in-process and returns its exit code and output.
func mobdRun(args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// TestCLIPathIDs checks that the client percent-encodes every id it puts
// in a path, and refuses an empty, "." or ".." one without a request:
// `mobd retire victim ..` sent DELETE /v1/mobs/victim/members/.., which a
// redirect to the cleaned path turned into the destruction of the mob.
func TestCLIPathIDs(t *testing.T) {
	s := newStub(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodDelete:
			w.WriteHeader(http.StatusNoContent)
		default:
			writeJSON(w, 200, `{}`)
		}
	})
	for _, args := range [][]string{
		{"retire", "victim", ".."},
		{"retire", "victim", "."},
		{"retire", "..", "lead"},
		{"retire", "victim", ""},
		{"destroy", "..", "--yes"},
		{"respawn", "victim", ".."},
		{"wire", "victim", "..", "lead"},
		{"cancel", "victim", ".."},
		{"approve", "victim", "r1", ".."},
		{"reject", "victim", "..", "s"},
		{"send", "victim", "..", "hi"},
		{"mob", ".."},
		{"members", "."},
		{"runs", ".."},
		{"spawn", "..", "lead"},
		{"run", "victim", ".."},
		{"session", ".."},
		{"turn", "..", "hi"},
		{"archive", "."},
	} {
		code, _, stderr := mobdRun(args...)
		if code != 2 || !strings.Contains(stderr, "cannot be an id") {
			t.Errorf("mobd %q: exit %d, stderr %q; want 2 and a refusal of the id", args, code, stderr)
		}
	}
	if got := s.requests(); len(got) != 0 {
		t.Fatalf("the refused commands sent %q", got)
	}
	// Other ids are percent-encoded into one segment each.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"retire", "a b", "x/y?z#..%"}, "DELETE /v1/mobs/a%20b/members/x%2Fy%3Fz%23..%25"},
		{[]string{"approve", "m", "run 1/é", "...", "--by", "ops"}, "POST /v1/mobs/m/runs/run%201%2F%C3%A9/steps/.../decision"},
		{[]string{"archive", "s/.."}, "POST /v1/sessions/s%2F../archive"},
	} {
		before := len(s.requests())
		if code, _, stderr := mobdRun(c.args...); code != 0 {
			t.Errorf("mobd %q: exit %d: %s", c.args, code, stderr)
			continue
		}
		if got := s.requests()[before:]; len(got) != 1 || got[0] != c.want {
			t.Errorf("mobd %q sent %q, want %q", c.args, got, c.want)
		}
	}
}

// TestCLIRefusesRedirectedChanges checks that the client follows the
// redirects of reads only: a change answered with a redirect is an error,
// and the target is never sent the change.
func TestCLIRefusesRedirectedChanges(t *testing.T) {
	s := newStub(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.Method + " " + r.URL.Path {
		case "DELETE /v1/mobs/victim/members/lead", "POST /v1/mobs/victim/members/lead/respawn", "GET /v1/mobs":
			http.Redirect(w, r, "/v1/mobs/victim/moved", http.StatusTemporaryRedirect)
		case "POST /v1/mobs/victim/lifecycle":
			http.Redirect(w, r, "/v1/mobs/victim/moved", http.StatusPermanentRedirect)
		case "DELETE /v1/mobs/victim/moved", "POST /v1/mobs/victim/moved":
			w.WriteHeader(http.StatusNoContent)
		case "GET /v1/mobs/victim/moved":
			writeJSON(w, 200, `[{"id":"victim","state":"running"}]`)
		default:
			http.Error(w, "unexpected", http.StatusTeapot)
		}
	})
	for _, args := range [][]string{{"retire", "victim", "lead"}, {"respawn", "victim", "lead"}, {"stop", "victim"}} {
		code, stdout, stderr := mobdRun(args...)
		if code != 1 || stdout != "" || !strings.Contains(stderr, "redirect") || strings.Contains(stderr, "is the daemon running") {
			t.Errorf("mobd %q: exit %d, stdout %q, stderr %q; want 1 and the redirect refused", args, code, stdout, stderr)
		}
	}
	for _, r := range s.requests() {
		if strings.Contains(r, "/moved") {
			t.Fatalf("a redirected change was followed: %q", s.requests())
		}
	}
	// A read follows its redirect.
	if code, stdout, stderr := mobdRun("mobs"); code != 0 || !strings.Contains(stdout, "victim") {
		t.Fatalf("mobs through a redirect: exit %d, %q %q", code, stdout, stderr)
	}
}

// sseStub answers GET /v1/events with frames, and the other requests of
// `mobd run --follow` from the run's graph and snapshot.
func sseStub(t *testing.T, frames string, graph server.RunGraph) *stub {
	t.Helper()
	return newStub(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == "GET" && r.URL.Path == "/v1/events":
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, frames)
		case r.Method == "POST" && r.URL.Path == "/v1/mobs/demo/flows/ship/runs":
			writeJSON(w, 201, `{"run_id":"r1","flow_id":"ship","status":"running"}`)
		case r.Method == "GET" && r.URL.Path == "/v1/mobs/demo/runs/r1/graph":
			b, _ := json.Marshal(graph)
			writeJSON(w, 200, string(b))
		case r.Method == "GET" && r.URL.Path == "/v1/mobs/demo/runs/r1":
			writeJSON(w, 200, `{"run_id":"r1","flow_id":"ship","status":"completed"}`)
		default:
			http.Error(w, "unexpected", http.StatusTeapot)
		}
	})
}

// TestCLIStreamErrorEvent checks that `mobd events` and `mobd run
// --follow` show the error of an "error" event that ends the stream and
// exit non-zero, rather than print it as an event they cannot read.
func TestCLIStreamErrorEvent(t *testing.T) {
	frames := "id: 1\nevent: flow_started\ndata: {\"cursor\":1,\"mob_id\":\"demo\",\"type\":\"flow_started\",\"run_id\":\"r1\",\"flow_id\":\"ship\"}\n\n" +
		"event: error\ndata: {\"error\":{\"code\":\"internal\",\"message\":\"journal: disk I/O error\"}}\n\n"
	s := sseStub(t, frames, server.RunGraph{})
	for _, args := range [][]string{{"events"}, {"events", "--follow"}, {"events", "-o", "json"}, {"run", "demo", "ship", "--follow"}} {
		before := len(s.requests())
		type result struct {
			code           int
			stdout, stderr string
		}
		done := make(chan result, 1)
		go func() {
			code, stdout, stderr := mobdRun(args...)
			done <- result{code, stdout, stderr}
		}()
		var res result
		select {
		case res = <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("mobd %q did not end with the stream's error", args)
		}
		code, stdout, stderr := res.code, res.stdout, res.stderr
		if code != 1 || !strings.Contains(stderr, "internal: journal: disk I/O error") || strings.Contains(stdout, "cannot read") {
			t.Errorf("mobd %q: exit %d, stdout %q, stderr %q; want 1 with the stream's error", args, code, stdout, stderr)
		}
		if n := strings.Count(strings.Join(s.requests()[before:], "\n"), "/v1/events"); n != 1 {
			t.Errorf("mobd %q read the events %d times, want once", args, n)
		}
	}
}

// TestCLIApprovalHint checks the command `mobd run --follow` shows for a
// step that awaits approval: with --by one of the step's approvers when
// it names some (the daemon refuses a decision by anyone else).
func TestCLIApprovalHint(t *testing.T) {
	t.Setenv("USER", "nobody")
	ev := func(cursor int, typ, step, text string) string {
		b, _ := json.Marshal(map[string]any{"cursor": cursor, "mob_id": "demo", "type": typ, "run_id": "r1", "flow_id": "ship",
			"step_id": step, "text": text})
		return fmt.Sprintf("id: %d\nevent: %s\ndata: %s\n\n", cursor, typ, b)
	}
	frames := ev(1, "flow_started", "", "") + ev(2, "mobd_approval_requested", "sign_off", "Ship it?") +
		ev(3, "mobd_approval_requested", "anyone", "Anyone?") + ev(4, "mobd_approval_requested", "solo", "Solo?") +
		ev(5, "flow_completed", "", "")
	graph := server.RunGraph{RunID: "r1", FlowID: "ship", Graph: server.FlowGraph{Nodes: []server.GraphNode{
		{ID: "sign_off", Kind: "step", StepID: "sign_off", Approval: &flows.Approval{Approvers: []string{"ops", "release manager"}}},
		{ID: "anyone", Kind: "step", StepID: "anyone", Approval: &flows.Approval{}},
		{ID: "solo", Kind: "step", StepID: "solo", Approval: &flows.Approval{Approvers: []string{"ops"}}},
	}}}
	s := sseStub(t, frames, graph)
	code, stdout, stderr := mobdRun("run", "demo", "ship", "--follow")
	if code != 0 {
		t.Fatalf("run --follow: exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"sign_off awaits approval: Ship it? (mobd approve demo r1 sign_off --by ops; approvers: ops, 'release manager')",
		"anyone awaits approval: Anyone? (mobd approve demo r1 anyone)\n",
		"solo awaits approval: Solo? (mobd approve demo r1 solo --by ops)\n",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("no %q in\n%s", want, stdout)
		}
	}
	if n := strings.Count(strings.Join(s.requests(), "\n"), "/graph"); n != 1 {
		t.Errorf("the graph was read %d times, want once: %q", n, s.requests())
	}
	// The user running the command, when an approver, is the one named.
	t.Setenv("USER", "release manager")
	if _, stdout, _ := mobdRun("run", "demo", "ship", "--follow"); !strings.Contains(stdout, "sign_off --by 'release manager'; approvers:") {
		t.Errorf("the hint does not name the user, an approver:\n%s", stdout)
	}
}

// TestCLIDecisionPastTense checks what approve and reject say they did.
func TestCLIDecisionPastTense(t *testing.T) {
	newStub(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, `{"run_id":"r1","status":"running"}`)
	})
	for cmd, want := range map[string]string{
		"approve": "step s of run r1 approved; run is running\n",
		"reject":  "step s of run r1 rejected; run is running\n",
	} {
		if code, stdout, stderr := mobdRun(cmd, "m", "r1", "s", "--by", "ops"); code != 0 || stdout != want {
			t.Errorf("mobd %s: exit %d, stdout %q (stderr %q), want %q", cmd, code, stdout, stderr, want)
		}
	}
}

// TestCLIFlagsBeforeCommand checks that the client flags may come before
// the command, that another flag there is refused saying where it goes,
// and that a usage error prints the command's synopsis, not the whole
// help.
func TestCLIFlagsBeforeCommand(t *testing.T) {
	s := newStub(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, `[{"id":"demo","state":"running","flows":["ship"]}]`)
	})
	t.Setenv("MOBD_ADDR", "127.0.0.1:1") // nothing there: only --addr reaches the stub
	for _, args := range [][]string{
		{"--addr", s.URL, "mobs"},
		{"--addr=" + s.URL, "mobs"},
		{"-o", "json", "--addr", s.URL, "mobs"},
		{"--token", "x", "--addr", s.URL, "mobs", "-o", "text"},
	} {
		code, stdout, stderr := mobdRun(args...)
		if code != 0 || !strings.Contains(stdout, "demo") {
			t.Errorf("mobd %q: exit %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
	}
	if _, stdout, _ := mobdRun("-o", "json", "--addr", s.URL, "mobs"); !strings.HasPrefix(stdout, "[") {
		t.Errorf("-o json before the command was not applied: %q", stdout)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--follow", "events"}, "only the client flags --addr, --token, --cacert and -o may come before it"},
		{[]string{"--addr"}, "needs a value"},
		{[]string{"--addr", s.URL}, "no command"},
		{[]string{"--addr", s.URL, "serve"}, "serve's flags go after it"},
	} {
		code, stdout, stderr := mobdRun(c.args...)
		if code != 2 || stdout != "" || !strings.Contains(stderr, c.want) || strings.Contains(stderr, "mobd apply -f FILE") {
			t.Errorf("mobd %q: exit %d, stdout %q, stderr %q; want 2 and %q", c.args, code, stdout, stderr, c.want)
		}
	}
	// A usage error: the command's synopsis, not the 30 lines of help.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"retire", "demo"}, "mobd retire|respawn MOB MEMBER"},
		{[]string{"run", "demo"}, "mobd run MOB FLOW [--params JSON]"},
		{[]string{"mobs", "--nope"}, "mobd mobs "},
		{[]string{"nosuchcommand"}, "mobd help lists the commands"},
		{[]string{"--addr", s.URL, "events", "--run", "r1"}, "--run needs --mob"},
	} {
		code, _, stderr := mobdRun(c.args...)
		if code != 2 || !strings.Contains(stderr, c.want) || strings.Contains(stderr, "mobd apply -f FILE") || strings.Count(stderr, "\n") > 6 {
			t.Errorf("mobd %q: exit %d, stderr %q; want 2 and a short synopsis with %q", c.args, code, stderr, c.want)
		}
	}
}
