package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mobd-dev/mobd/mob"
)

const e2eDef = `[mob]
id = "demo"
orchestrator = "lead"

[profiles.lead]
model = "sim-model"
peer_description = "plans"

[profiles.analyst]
model = "sim-model"
peer_description = "digs"

[wiring]
auto_wire_orchestrator = true

[flows.brief.steps.plan]
role = "lead"
message = "What is the capital of {{ params.country }}?"

[flows.brief.steps.dig]
role = "analyst"
message = "[[sim:slow 250ms]] count to 8"
depends_on = ["plan"]

[flows.brief.steps.report]
role = "lead"
message = "echo: {{ steps.plan.output }} / {{ steps.dig.output }}"
depends_on = ["dig"]
`

const e2eToken = "e2e-secret-token"

// freePort returns a loopback port nothing listens on.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// cleanEnv is the environment without variables that would choose the
// runtime or the daemon behind the test's back.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "MEERKAT_BIN_PATH=") || strings.HasPrefix(kv, "MOBD_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// daemonProc is a running `mobd serve`.
type daemonProc struct {
	cmd  *exec.Cmd
	logs *bytes.Buffer
	done chan error
}

// startMobd starts the daemon on addr with state and waits until it is
// ready.
func startMobd(t *testing.T, addr, state string, extra ...string) *daemonProc {
	t.Helper()
	return startMobdProbe(t, "http://"+addr, http.DefaultClient, addr, state, extra...)
}

// startMobdProbe starts the daemon on addr with state and waits until
// client gets 200 from base's /readyz.
func startMobdProbe(t *testing.T, base string, client *http.Client, addr, state string, extra ...string) *daemonProc {
	t.Helper()
	cmd := exec.Command(mobdBin, append([]string{"serve", "--runtime", "sim", "--listen", addr, "--state", state,
		"--pool-size", "1", "--log-level", "info"}, extra...)...)
	cmd.Env = cleanEnv("MOBD_AUTH_TOKEN=" + e2eToken)
	d := &daemonProc{cmd: cmd, logs: &bytes.Buffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = d.logs, d.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-d.done
		}
		if t.Failed() {
			t.Logf("daemon logs:\n%s", d.logs)
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := client.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return d
			}
		}
		select {
		case err := <-d.done:
			t.Fatalf("daemon exited: %v\n%s", err, d.logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon not ready\n%s", d.logs)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// cli runs a client command of the mobd binary against addr.
func cli(t *testing.T, addr string, args ...string) string {
	t.Helper()
	cmd := exec.Command(mobdBin, args...)
	cmd.Env = cleanEnv("MOBD_ADDR="+addr, "MOBD_TOKEN="+e2eToken)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("mobd %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestE2EKillAndResume(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	defFile := filepath.Join(dir, "demo.toml")
	os.WriteFile(defFile, []byte(e2eDef), 0o600)
	addr := freePort(t)
	a := startMobd(t, addr, state)

	// Auth is on: no token, no answer.
	resp, err := http.Get("http://" + addr + "/v1/mobs")
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("without token: %v %v", resp.StatusCode, err)
	}
	resp.Body.Close()

	if out := cli(t, addr, "apply", "-f", defFile); !strings.Contains(out, "mob demo created") {
		t.Fatalf("apply: %s", out)
	}
	cli(t, addr, "spawn", "demo", "lead")
	cli(t, addr, "spawn", "demo", "analyst")
	if out := cli(t, addr, "members", "demo"); !strings.Contains(out, "analyst") || !strings.Contains(out, "lead") {
		t.Fatalf("members: %s", out)
	}
	var started struct {
		RunID string `json:"run_id"`
	}
	if err := json.Unmarshal([]byte(cli(t, addr, "run", "demo", "brief", "--params", `{"country":"France"}`, "-o", "json")), &started); err != nil || started.RunID == "" {
		t.Fatalf("run: %v", err)
	}

	// Follow the mob's events until the slow step is in flight, then kill
	// the daemon with SIGKILL.
	c := newClient(addr, e2eToken)
	q := url.Values{"mob": {"demo"}, "follow": {"true"}}
	var seen []sseEvent
	var cursor uint64
	inFlight := make(chan struct{})
	readErr := make(chan error, 1)
	go func() {
		readErr <- c.readEvents(ctx, q, &cursor, func(ev sseEvent) error {
			seen = append(seen, ev)
			if ev.Name == "step_dispatched" && strings.Contains(string(ev.Data), `"step_id":"dig"`) {
				close(inFlight)
			}
			return nil
		})
	}()
	select {
	case <-inFlight:
	case <-ctx.Done():
		t.Fatal("the slow step was never dispatched")
	}
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-a.done
	if err := <-readErr; err == nil {
		t.Fatal("event stream outlived the daemon")
	}
	firstLen := len(seen)

	// Restart: the run resumes; the reconnecting subscriber (Last-Event-ID
	// = cursor) gets the rest.
	b := startMobd(t, addr, state)
	err = c.readEvents(ctx, q, &cursor, func(ev sseEvent) error {
		seen = append(seen, ev)
		if ev.Name == "flow_completed" && strings.Contains(string(ev.Data), started.RunID) {
			return errStop
		}
		return nil
	})
	if !errors.Is(err, errStop) {
		t.Fatalf("after restart: %v (%d events)", err, len(seen)-firstLen)
	}

	// Every event exactly once: the ids the subscriber saw across the two
	// connections are the journal's, in order, without a gap or a repeat.
	var all []sseEvent
	if err := c.events(ctx, url.Values{"mob": {"demo"}}, 0, false, func(ev sseEvent) error {
		all = append(all, ev)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(all) < len(seen) {
		t.Fatalf("journal has %d events, the subscriber saw %d", len(all), len(seen))
	}
	for i := range seen {
		if seen[i].ID != all[i].ID || seen[i].Name != all[i].Name {
			t.Fatalf("event %d: subscriber %s %s, journal %s %s", i, seen[i].ID, seen[i].Name, all[i].ID, all[i].Name)
		}
	}
	// The kill came while dig was in flight: it completed after the restart.
	for _, ev := range seen[:firstLen] {
		if ev.Name == "step_completed" && strings.Contains(string(ev.Data), `"step_id":"dig"`) {
			t.Fatal("dig completed before the kill: the test did not kill mid-flow")
		}
	}
	if firstLen == len(seen) {
		t.Fatal("no events after the restart")
	}
	names := func(evs []sseEvent) (out []string) {
		for _, ev := range evs {
			out = append(out, ev.ID+":"+ev.Name)
		}
		return out
	}
	t.Logf("before the kill: %v", names(seen[:firstLen]))
	t.Logf("after the restart: %v", names(seen[firstLen:]))
	if seen[firstLen].Name != "mobd_step_redispatched" || !strings.Contains(string(seen[firstLen].Data), `"step_id":"dig"`) {
		t.Fatalf("the restarted daemon did not resume dig first: %s %s", seen[firstLen].Name, seen[firstLen].Data)
	}

	var runs []runSummary
	json.Unmarshal([]byte(cli(t, addr, "runs", "demo", "-o", "json")), &runs)
	if len(runs) != 1 || runs[0].Status != "completed" {
		t.Fatalf("runs after restart: %+v", runs)
	}
	// A second run, followed live by the CLI, shows the steps and outputs.
	out := cli(t, addr, "run", "demo", "brief", "--params", `{"country":"Italy"}`, "--follow")
	for _, want := range []string{"▶ run", "→ dig dispatched to analyst", "✓ report completed", "■ run completed", "report: The capital of Italy is Rome. / 1 2 3 4 5 6 7 8"} {
		if !strings.Contains(out, want) {
			t.Fatalf("run --follow lacks %q:\n%s", want, out)
		}
	}
	if out := cli(t, addr, "events", "--mob", "demo"); strings.Count(out, "flow_completed") != 2 {
		t.Fatalf("events: %s", out)
	}

	// Graceful stop on SIGTERM.
	b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-b.done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, b.logs)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("daemon did not stop on SIGTERM")
	}
	if !strings.Contains(b.logs.String(), "mobd stopped") {
		t.Fatalf("logs:\n%s", b.logs)
	}
	if strings.Contains(a.logs.String()+b.logs.String(), e2eToken) {
		t.Fatal("the token was logged")
	}
}

func TestServeRefuses(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		args []string
		env  []string
		code int
		want string
	}{
		{"non-loopback without token", []string{"--listen", "0.0.0.0:0", "--runtime", "sim"}, nil, 2, "refusing to listen on a non-loopback address"},
		{"no rkat-rpc", []string{"--listen", "127.0.0.1:0", "--runtime-download=false"}, []string{"PATH=" + t.TempDir()}, 1, "--runtime sim"},
		{"bad flag", []string{"--no-such-flag"}, nil, 2, "no-such-flag"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(mobdBin, append([]string{"serve", "--state", t.TempDir()}, c.args...)...)
			cmd.Env = append(cleanEnv(), c.env...)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != c.code || !strings.Contains(string(out), c.want) {
				t.Fatalf("exit %v, want %d with %q:\n%s", err, c.code, c.want, out)
			}
		})
	}
}

// TestDefinitionsAndCLIErrors starts the daemon with a definitions
// directory and checks that API errors reach the CLI user clearly.
func TestDefinitionsAndCLIErrors(t *testing.T) {
	t.Parallel()
	addr := freePort(t)
	defs := t.TempDir()
	os.WriteFile(filepath.Join(defs, "demo.toml"), []byte(e2eDef), 0o600)
	os.WriteFile(filepath.Join(defs, "README.md"), []byte("not a definition"), 0o600)
	startMobd(t, addr, filepath.Join(t.TempDir(), "state"), "--definitions", defs)
	if out := cli(t, addr, "mobs"); !strings.Contains(out, "demo") || !strings.Contains(out, "brief") {
		t.Fatalf("mobs: %s", out)
	}
	cmd := exec.Command(mobdBin, "mob", "ghost")
	cmd.Env = cleanEnv("MOBD_ADDR="+addr, "MOBD_TOKEN="+e2eToken)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "mob_not_found (404)") {
		t.Fatalf("mob ghost: %v %s", err, out)
	}
	cmd = exec.Command(mobdBin, "mobs", "-o", "json")
	cmd.Env = cleanEnv("MOBD_ADDR="+addr, "MOBD_TOKEN=wrong")
	out, err = cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "unauthorized (401)") {
		t.Fatalf("wrong token: %v %s", err, out)
	}
}

// TestCLIChanges drives a mob through the client's change commands: wire
// and unwire, respawn, retire, cancel, the lifecycle and destroy.
func TestCLIChanges(t *testing.T) {
	t.Parallel()
	addr := freePort(t)
	defs := t.TempDir()
	os.WriteFile(filepath.Join(defs, "demo.toml"), []byte(e2eDef), 0o600)
	startMobd(t, addr, filepath.Join(t.TempDir(), "state"), "--definitions", defs)
	for _, p := range []string{"lead", "analyst", "analyst"} {
		cli(t, addr, "spawn", "demo", p)
	}
	member := func(id string) mob.MemberInfo {
		t.Helper()
		var m mob.MemberInfo
		var ms []mob.MemberInfo
		raw := cli(t, addr, "members", "demo", "-o", "json")
		if err := json.Unmarshal([]byte(raw), &ms); err != nil {
			t.Fatalf("members: %v: %s", err, raw)
		}
		for _, x := range ms {
			if x.Identity == id {
				m = x
			}
		}
		return m
	}

	if out := cli(t, addr, "wire", "demo", "analyst", "analyst-2"); out != "analyst and analyst-2 of mob demo wired\n" {
		t.Fatalf("wire: %q", out)
	}
	if got := member("analyst").Peers; !slices.Equal(got, []string{"analyst-2", "lead"}) {
		t.Fatalf("analyst's peers after wire: %v", got)
	}
	cli(t, addr, "unwire", "demo", "analyst", "analyst-2")
	if got := member("analyst").Peers; !slices.Equal(got, []string{"lead"}) {
		t.Fatalf("analyst's peers after unwire: %v", got)
	}
	was := member("analyst").SessionID
	if out := cli(t, addr, "respawn", "demo", "analyst"); !strings.Contains(out, "respawned on session ") || strings.Contains(out, was) {
		t.Fatalf("respawn: %q (session was %s)", out, was)
	}
	if now := member("analyst").SessionID; now == was || now == "" {
		t.Fatalf("analyst's session after respawn: %q (was %s)", now, was)
	}
	cli(t, addr, "retire", "demo", "analyst-2")
	if m := member("analyst-2"); m.Identity != "" {
		t.Fatalf("analyst-2 after retire: %+v", m)
	}

	var started struct {
		RunID string `json:"run_id"`
	}
	if err := json.Unmarshal([]byte(cli(t, addr, "run", "demo", "brief", "--params", `{"country":"Peru"}`, "-o", "json")), &started); err != nil {
		t.Fatal(err)
	}
	if out := cli(t, addr, "cancel", "demo", started.RunID, "--reason", "changed my mind"); !strings.Contains(out, "canceled; run is canceled") {
		t.Fatalf("cancel: %q", out)
	}
	if out := cli(t, addr, "events", "--mob", "demo", "--run", started.RunID); !strings.Contains(out, "changed my mind") {
		t.Fatalf("the run's events do not give the reason:\n%s", out)
	}

	if out := cli(t, addr, "stop", "demo"); out != "mob demo stopped\n" {
		t.Fatalf("stop: %q", out)
	}
	if out := cli(t, addr, "mob", "demo"); !strings.Contains(out, "stopped") {
		t.Fatalf("mob after stop: %s", out)
	}
	cli(t, addr, "resume", "demo")
	cli(t, addr, "complete", "demo")
	if out := cli(t, addr, "mob", "demo"); !strings.Contains(out, "completed") {
		t.Fatalf("mob after complete: %s", out)
	}

	cmd := exec.Command(mobdBin, "destroy", "demo")
	cmd.Env = cleanEnv("MOBD_ADDR="+addr, "MOBD_TOKEN="+e2eToken)
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "add --yes") {
		t.Fatalf("destroy without --yes: %v %s", err, out)
	}
	if out := cli(t, addr, "mobs"); !strings.Contains(out, "demo") {
		t.Fatalf("mobs after a refused destroy: %s", out)
	}
	if out := cli(t, addr, "destroy", "demo", "--yes"); out != "mob demo destroyed\n" {
		t.Fatalf("destroy: %q", out)
	}
	if out := cli(t, addr, "mobs", "-o", "json"); strings.Contains(out, `"demo"`) {
		t.Fatalf("mobs after destroy: %s", out)
	}
}

// TestCLISessions drives a session outside any mob through the client:
// ask, a streamed turn, a failed turn, the listing, the status with the
// last messages, and archive.
func TestCLISessions(t *testing.T) {
	t.Parallel()
	addr := freePort(t)
	startMobd(t, addr, filepath.Join(t.TempDir(), "state"))
	out := cli(t, addr, "ask", "What is the capital of France?")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || lines[0] != "The capital of France is Paris." || !strings.HasPrefix(lines[1], "[session ") {
		t.Fatalf("ask: %q", out)
	}
	id, _, _ := strings.Cut(strings.TrimPrefix(lines[1], "[session "), " ")
	if out := cli(t, addr, "turn", id, "count to 5"); !strings.HasPrefix(out, "1 2 3 4 5\n[session "+id+" · ") {
		t.Fatalf("turn: %q", out)
	}
	cmd := exec.Command(mobdBin, "turn", id, "[[sim:error -32010]] hi")
	cmd.Env = cleanEnv("MOBD_ADDR="+addr, "MOBD_TOKEN="+e2eToken)
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "turn_failed: ") {
		t.Fatalf("a failed turn: %v %s", err, out)
	}
	if out := cli(t, addr, "sessions"); !strings.Contains(out, id) || !strings.Contains(out, "stored") {
		t.Fatalf("sessions: %s", out)
	}
	out = cli(t, addr, "session", id, "--messages", "2")
	want := []string{"session " + id + " on runtime-", "  user: count to 5", "  assistant: 1 2 3 4 5"}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Fatalf("session: no %q in\n%s", w, out)
		}
	}
	if out := cli(t, addr, "archive", id); out != "session "+id+" archived\n" {
		t.Fatalf("archive: %q", out)
	}
}
