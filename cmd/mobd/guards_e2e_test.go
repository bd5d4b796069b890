package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mobd-dev/mobd/mob"
)

// gateDef is a mob whose flow waits for an approval by "ops".
const gateDef = `{
  "id": "gate",
  "profiles": {"lead": {"model": "sim-model"}},
  "flows": {
    "ship": {
      "steps": {
        "sign_off": {"message": "Ship it?", "mobd": {"approval": {"approvers": ["ops"]}}},
        "done": {"role": "lead", "message": "echo: shipped", "depends_on": ["sign_off"]}
      }
    }
  }
}`

// mobdCmd runs the mobd binary against addr and returns its exit code and
// combined output.
func mobdCmd(t *testing.T, addr string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(mobdBin, args...)
	cmd.Env = cleanEnv("MOBD_ADDR="+addr, "MOBD_TOKEN="+e2eToken)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &ee):
		return ee.ExitCode(), string(out)
	}
	t.Fatalf("mobd %q: %v", args, err)
	return 0, ""
}

// TestE2EDotDotDoesNotDestroyTheMob checks, against a real daemon, that
// `mobd retire MOB ..` is refused and leaves the mob alone (a redirect of
// DELETE …/members/.. to the cleaned path, followed with DELETE, would
// destroy the mob), and that even a client that sends such a path and
// follows redirects gets a 400.
func TestE2EDotDotDoesNotDestroyTheMob(t *testing.T) {
	t.Parallel()
	addr := freePort(t)
	defs := t.TempDir()
	os.WriteFile(filepath.Join(defs, "demo.toml"), []byte(e2eDef), 0o600)
	startMobd(t, addr, filepath.Join(t.TempDir(), "state"), "--definitions", defs)
	cli(t, addr, "spawn", "demo", "lead")
	for _, member := range []string{"..", "."} {
		if code, out := mobdCmd(t, addr, "retire", "demo", member); code != 2 || !strings.Contains(out, "cannot be an id") {
			t.Fatalf("retire demo %s: exit %d: %s", member, code, out)
		}
	}
	for _, p := range []string{"/v1/mobs/demo/members/..", "/v1/mobs/demo/members/%2E%2E", "/v1/mobs//demo"} {
		req, _ := http.NewRequest(http.MethodDelete, "http://"+addr+p, nil)
		req.Header.Set("Authorization", "Bearer "+e2eToken)
		resp, err := http.DefaultClient.Do(req) // follows redirects
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "invalid_request") {
			t.Fatalf("DELETE %s: %d %s, want 400 invalid_request", p, resp.StatusCode, body)
		}
	}
	if out := cli(t, addr, "mob", "demo"); !strings.Contains(out, "mob demo: running, 1 members") {
		t.Fatalf("the mob after the refused retires: %s", out)
	}
	if out := cli(t, addr, "retire", "demo", "lead"); out != "member lead of mob demo retired\n" {
		t.Fatalf("retire lead: %q", out)
	}
}

// TestE2EMemberSessionAndApprovalHint checks, against a real daemon,
// that the sessions commands refuse a live member's session with the
// daemon's member_session error, and that the approval hint of `mobd run
// --follow` is a command that works as printed.
func TestE2EMemberSessionAndApprovalHint(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	addr := freePort(t)
	dir := t.TempDir()
	startMobd(t, addr, filepath.Join(dir, "state"))
	def := filepath.Join(dir, "gate.json")
	os.WriteFile(def, []byte(gateDef), 0o600)
	cli(t, addr, "apply", "-f", def)
	cli(t, addr, "spawn", "gate", "lead")

	var members []mob.MemberInfo
	if err := json.Unmarshal([]byte(cli(t, addr, "members", "gate", "-o", "json")), &members); err != nil || len(members) != 1 || members[0].SessionID == "" {
		t.Fatalf("members: %v %+v", err, members)
	}
	info := members[0]
	// The archive of a member's session goes through the mob, and so does
	// a turn once the mob is stopped.
	if code, out := mobdCmd(t, addr, "archive", info.SessionID); code != 1 || !strings.Contains(out, "member_session (409)") || !strings.Contains(out, `member "lead" of mob "gate"`) {
		t.Errorf("mobd archive: exit %d: %s", code, out)
	}
	cli(t, addr, "stop", "gate")
	for _, args := range [][]string{{"turn", info.SessionID, "echo: around the mob"}, {"turn", info.SessionID, "hi", "-o", "json"}} {
		if code, out := mobdCmd(t, addr, args...); code != 1 || !strings.Contains(out, "member_session (409)") || !strings.Contains(out, `member "lead" of mob "gate"`) {
			t.Errorf("mobd %q: exit %d: %s", args, code, out)
		}
	}
	cli(t, addr, "resume", "gate")
	if code, out := mobdCmd(t, addr, "session", info.SessionID); code != 0 {
		t.Errorf("session: exit %d: %s", code, out)
	}

	follow := exec.CommandContext(ctx, mobdBin, "run", "gate", "ship", "--follow")
	follow.Env = cleanEnv("MOBD_ADDR="+addr, "MOBD_TOKEN="+e2eToken, "USER=someone")
	stdout, err := follow.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	follow.Stderr = &stderr
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	hint := make(chan string, 1)
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			out.WriteString(line + "\n")
			if i := strings.LastIndex(line, "(mobd approve "); i >= 0 && strings.Contains(line, "awaits approval") {
				hint <- strings.TrimSuffix(line[i+1:], ")")
			}
		}
	}()
	var cmdline string
	select {
	case cmdline = <-hint:
	case <-ctx.Done():
		t.Fatal("run --follow showed no approval hint")
	}
	args := strings.Fields(cmdline)
	if !strings.Contains(cmdline, "--by ops") {
		t.Errorf("the hint %q does not name the approver", cmdline)
	}
	if code, res := mobdCmd(t, addr, args[1:]...); code != 0 || !strings.Contains(res, "step sign_off of run ") || !strings.Contains(res, " approved; run is ") {
		t.Fatalf("%s: exit %d: %s", cmdline, code, res)
	}
	<-read
	if err := follow.Wait(); err != nil || !strings.Contains(out.String(), "■ run completed") {
		t.Fatalf("run --follow: %v\n%s\n%s", err, out.String(), stderr.String())
	}
}
