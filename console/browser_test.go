package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath is where Debian's chromium package puts the browser
// (scripts/install-chromium.sh installs it); MOBD_CHROMIUM overrides it.
const chromiumPath = "/usr/bin/chromium"

const testToken = "console-test-token"

// testDef is the mob the browser tests drive: a lead and analysts, a flow
// with a parallel part and a step with structured output, and a flow with
// an approval step.
const testDef = `{
  "id": "console",
  "orchestrator": {"profile": "lead"},
  "profiles": {
    "lead": {"model": "sim-model", "peer_description": "plans and reports"},
    "analyst": {"model": "sim-model", "peer_description": "digs"}
  },
  "wiring": {"auto_wire_orchestrator": true},
  "flows": {
    "brief": {
      "description": "the capital, then facts and a slow dig side by side, then a report",
      "steps": {
        "plan": {"role": "lead", "message": "What is the capital of {{ params.country }}?"},
        "facts": {"role": "lead", "message": "Facts about {{ params.country }}", "depends_on": ["plan"],
          "expected_schema_ref": "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"},\"population\":{\"type\":\"integer\"},\"sights\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}}},\"required\":[\"city\",\"population\",\"sights\"]}"},
        "dig": {"role": "analyst", "message": "[[sim:slow 150ms]] count to 8", "depends_on": ["plan"]},
        "report": {"role": "lead", "message": "echo: {{ steps.plan.output }} / {{ steps.dig.output }}", "depends_on": ["facts", "dig"]}
      }
    },
    "review": {
      "description": "a draft, a person's approval, then publish",
      "steps": {
        "draft": {"role": "lead", "message": "What is the capital of {{ params.country }}?"},
        "approve": {"message": "Publish this draft? {{ steps.draft.output }}", "depends_on": ["draft"],
          "mobd": {"approval": {}}},
        "publish": {"role": "lead", "message": "echo: published {{ steps.draft.output }}", "depends_on": ["approve"],
          "condition": {"op": "eq", "path": "steps.approve.output.approved", "value": true}}
      }
    }
  }
}`

// TestConsole starts the real mobd on rkat-sim runtimes with auth on and
// drives the console in headless Chromium through every view, saving a
// screenshot of each.
func TestConsole(t *testing.T) {
	chrome := os.Getenv("MOBD_CHROMIUM")
	if chrome == "" {
		chrome = chromiumPath
	}
	if _, err := os.Stat(chrome); err != nil {
		t.Fatalf("Chromium is not installed at %s (%v): the console's browser tests need it. "+
			"Run scripts/install-chromium.sh (make test does), or set MOBD_CHROMIUM to a Chromium binary.", chrome, err)
	}
	start := time.Now()
	arts := artifactsDir(t)
	d := startDaemon(t)
	d.api(t, "POST", "/v1/mobs/console/members", `{"profile":"lead"}`)
	d.api(t, "POST", "/v1/mobs/console/members", `{"profile":"analyst"}`)
	d.api(t, "POST", "/v1/mobs/console/members", `{"profile":"analyst"}`)

	b := newBrowser(t, chrome, arts)

	step(t, "overview", func(t *testing.T) {
		b.do(t, chromedp.Navigate(d.base+"/"))
		// Auth is on: the page asks for the token once.
		b.wait(t, `document.querySelector('#token-dialog').open`)
		b.do(t, chromedp.SendKeys(chromedp.CSS("#token-input"), testToken), chromedp.Click(chromedp.CSS("#token-form button")))
		b.wait(t, `!document.querySelector('#token-dialog').open && !!document.querySelector('tr[data-mob="console"]')`)
		b.wait(t, `document.querySelectorAll('#runtimes tr[data-runtime]').length === 2`)
		b.wait(t, `document.querySelector('tr[data-mob="console"] td:nth-child(3)').textContent === '3'`)
		// The token is kept for the tab: a reload does not ask again.
		b.do(t, chromedp.Reload())
		b.wait(t, `!!document.querySelector('tr[data-mob="console"]')`)
		if open := b.eval(t, `document.querySelector('#token-dialog').open`); open != "false" {
			t.Fatal("the token dialog opened again after a reload")
		}
		b.shot(t, "01-overview")
	})

	step(t, "mob", func(t *testing.T) {
		b.do(t, chromedp.Click(chromedp.CSS(`tr[data-mob="console"] a`)))
		b.wait(t, `document.querySelectorAll('#members tr[data-member]').length === 3`)
		// The wiring: the orchestrator is wired to both analysts.
		b.wait(t, `document.querySelectorAll('#wiring svg line.edge').length === 2`)
		// A message being typed survives the forms' rebuild when the
		// member set changes (the spawn below).
		b.do(t, chromedp.SendKeys(chromedp.CSS(`#send-form textarea`), "half a thought"))
		// Spawn from the console, then wire the new member to an analyst.
		b.do(t, chromedp.SetValue(chromedp.CSS(`#spawn-form select[name=profile]`), "analyst"),
			chromedp.SendKeys(chromedp.CSS(`#spawn-form input[name=agent_identity]`), "scout"),
			chromedp.Click(chromedp.CSS(`#spawn-form button`)))
		b.wait(t, `!!document.querySelector('#members tr[data-member="scout"]')`)
		b.wait(t, `!!document.querySelector('#wire-form option[value="scout"]')`)
		if got := b.evalString(t, `document.querySelector('#send-form textarea').value`); got != "half a thought" {
			t.Errorf("the message being typed after the forms' rebuild: %q", got)
		}
		b.eval(t, `(document.querySelector('#send-form textarea').value = '', true)`)
		b.do(t, chromedp.SetValue(chromedp.CSS(`#wire-form select[name=a]`), "scout"),
			chromedp.SetValue(chromedp.CSS(`#wire-form select[name=b]`), "analyst"),
			chromedp.Click(chromedp.CSS(`#wire-form button[value=wire]`)))
		b.wait(t, `!!document.querySelector('#wiring line.edge[data-a="scout"][data-b="analyst"], #wiring line.edge[data-a="analyst"][data-b="scout"]')`)
		b.do(t, chromedp.Click(chromedp.CSS(`#members tr[data-member="scout"] td:first-child button`)))
		b.wait(t, `!!document.querySelector('#wiring g.member.selected[data-member="scout"]')`)
		// Send a message: the member's answer shows.
		b.eval(t, `(window.rowOf = (m) => document.querySelector('#members tr[data-member="' + m + '"]'), window.kept = {lead: rowOf('lead'), scout: rowOf('scout')}, true)`)
		b.do(t, chromedp.SetValue(chromedp.CSS(`#send-form select[name=member]`), "lead"),
			chromedp.SendKeys(chromedp.CSS(`#send-form textarea`), "What is the capital of Spain?"),
			chromedp.Click(chromedp.CSS(`#send-form button`)))
		b.wait(t, `document.querySelector('#send-answer').textContent.includes('The capital of Spain is Madrid.')`)
		// The refresh that shows lead's turn redraws lead's row only: the
		// other rows, and the buttons in them, stay under the pointer.
		b.wait(t, `!kept.lead.isConnected && rowOf('lead').querySelector('td:nth-child(5)').textContent !== '0'`)
		if got := b.eval(t, `kept.scout.isConnected`); got != "true" {
			t.Errorf("scout's row was redrawn by a refresh that did not change it")
		}
		b.wait(t, `document.querySelectorAll('#flows .preview svg g.node').length === 7`) // the flows' graphs
		b.shot(t, "02-mob")
		// Unwire, respawn (a fresh session), and retire (after a confirmation).
		b.do(t, chromedp.SetValue(chromedp.CSS(`#wire-form select[name=a]`), "scout"),
			chromedp.SetValue(chromedp.CSS(`#wire-form select[name=b]`), "analyst"),
			chromedp.Click(chromedp.CSS(`#wire-form button[value=unwire]`)))
		b.wait(t, `document.querySelectorAll('#wiring line.edge').length === 3`)
		session := b.evalString(t, `document.querySelector('#members tr[data-member="scout"] td:nth-child(4) a').title`)
		b.do(t, chromedp.Click(chromedp.CSS(`#members tr[data-member="scout"] td:last-child button:first-child`)))
		b.wait(t, fmt.Sprintf(`document.querySelector('#members tr[data-member="scout"] td:nth-child(4) a')?.title !== %q`, session))
		b.eval(t, `(window.confirm = () => true, true)`)
		b.do(t, chromedp.Click(chromedp.CSS(`#members tr[data-member="scout"] button.danger`)))
		b.wait(t, `!document.querySelector('#members tr[data-member="scout"]')`)
	})

	step(t, "run", func(t *testing.T) {
		b.do(t, chromedp.SetValue(chromedp.CSS(`form[data-flow="brief"] textarea`), `{"country":"France"}`),
			chromedp.Click(chromedp.CSS(`form[data-flow="brief"] button`)))
		b.wait(t, `document.querySelectorAll('#dag g.node').length === 4`)
		// Live: the slow step is seen dispatched before everything completes.
		b.wait(t, `!!document.querySelector('#dag g.node[data-step="dig"][data-state="dispatched"]')`)
		b.wait(t, `document.querySelectorAll('#dag g.node[data-state="completed"]').length === 4`)
		b.wait(t, `document.querySelector('#run-status').dataset.status === 'completed'`)
		// A step's input message, rendered, and its target's tokens.
		b.do(t, chromedp.Click(chromedp.CSS(`#dag g.node[data-step="report"]`)))
		b.wait(t, `document.querySelector('#step-detail pre.input').textContent.startsWith('echo: The capital of France is Paris. / ')`)
		b.wait(t, `document.querySelector('#step-detail .targets td.num:nth-child(4)').textContent !== ''`)
		// The structured output of facts, rendered as a table.
		b.do(t, chromedp.Click(chromedp.CSS(`#dag g.node[data-step="facts"]`)))
		b.wait(t, `!!document.querySelector('#step-detail .output table.j-obj') && document.querySelector('#step-detail pre.input').textContent === 'Facts about France'`)
		b.shot(t, "03-run")
	})

	step(t, "cancel", func(t *testing.T) {
		run := d.startRun(t, "brief", `{"country":"Peru"}`)
		b.hash(t, "#/mobs/console/runs/"+run)
		b.wait(t, `!!document.querySelector('#dag g.node[data-step="dig"][data-state="dispatched"]')`)
		b.eval(t, `(window.confirm = () => true, true)`)
		b.do(t, chromedp.Click(chromedp.CSS("#cancel-run")))
		b.wait(t, `document.querySelector('#run-status').dataset.status === 'canceled' &&
			!!document.querySelector('#dag g.node[data-step="dig"][data-state="canceled"]') &&
			!!document.querySelector('#dag g.node[data-step="report"][data-state="pending"]')`)
		b.shot(t, "04-run-canceled")
	})

	var reviewRun string
	step(t, "approval", func(t *testing.T) {
		reviewRun = d.startRun(t, "review", `{"country":"Japan"}`)
		b.hash(t, "#/mobs/console/runs/"+reviewRun)
		b.wait(t, `!!document.querySelector('#dag g.node[data-step="approve"][data-state="awaiting_approval"]')`)
		// The waiting step is selected by itself, with the decision form.
		b.wait(t, `!!document.querySelector('#approval-form')`)
		b.do(t, chromedp.SendKeys(chromedp.CSS("#approval-comment"), "Looks right, ship it"),
			chromedp.SendKeys(chromedp.CSS(`#approval-form input[name=by]`), "tester"))
		// Looking at another step and back redraws the panel: what was
		// typed stays.
		b.do(t, chromedp.Click(chromedp.CSS(`#dag g.node[data-step="draft"]`)))
		b.wait(t, `!document.querySelector('#approval-form')`)
		b.do(t, chromedp.Click(chromedp.CSS(`#dag g.node[data-step="approve"]`)))
		b.wait(t, `document.querySelector('#approval-comment')?.value === 'Looks right, ship it' &&
			document.querySelector('#approval-form input[name=by]').value === 'tester'`)
		b.shot(t, "05-approval-waiting")
		b.do(t, chromedp.Click(chromedp.CSS("#approve")))
		b.wait(t, `document.querySelectorAll('#dag g.node[data-state="completed"]').length === 3`)
		b.wait(t, `document.querySelector('#run-status').dataset.status === 'completed'`)
		b.wait(t, `document.querySelector('#step-detail').textContent.includes('Looks right, ship it')`)
		b.shot(t, "06-approval-done")
		var snap struct {
			Outputs map[string]json.RawMessage `json:"outputs"`
		}
		json.Unmarshal(d.api(t, "GET", "/v1/mobs/console/runs/"+reviewRun, ""), &snap)
		if got := string(snap.Outputs["approve"]); !strings.Contains(got, `"approved":true`) || !strings.Contains(got, "ship it") || !strings.Contains(got, `"by":"tester"`) {
			t.Fatalf("the decision the daemon recorded: %s", got)
		}
	})

	step(t, "session", func(t *testing.T) {
		b.hash(t, "#/mobs/console")
		b.wait(t, `!!document.querySelector('#members tr[data-member="lead"] td:nth-child(4) a')`)
		// Runs made within a minute share their ids' first characters (a
		// UUIDv7's timestamp): the table tells them apart by the rest.
		b.wait(t, `document.querySelectorAll('#runs tr[data-run] a').length === 3`)
		if got := b.eval(t, `(() => { const ls = [...document.querySelectorAll('#runs tr[data-run] a')];
			return new Set(ls.map((a) => a.textContent)).size === ls.length && ls.every((a) => a.textContent === '…' + a.title.slice(-8)); })()`); got != "true" {
			t.Errorf("the runs' short ids: %s", b.eval(t, `[...document.querySelectorAll('#runs tr[data-run] a')].map((a) => a.textContent + ' ' + a.title)`))
		}
		b.do(t, chromedp.Click(chromedp.CSS(`#members tr[data-member="lead"] td:nth-child(4) a`)))
		b.wait(t, `document.querySelectorAll('#transcript li.msg').length >= 4`)
		prompt := `[[sim:tool mob_send_message {"mob":"console","from":"lead","to":"analyst","message":"hello"}]] [[sim:slow 60ms]] count to 30`
		b.do(t, chromedp.SendKeys(chromedp.CSS("#turn-prompt"), prompt), chromedp.Click(chromedp.CSS("#turn-form button")))
		// The text streams in: caught part-way, after the tool call's result.
		b.wait(t, `(() => { const t = document.querySelector('#live-turn .msg.assistant')?.textContent || '';
			return t.includes('delivered to analyst') && t.includes('1 2 3') && !t.includes('done:'); })()`)
		b.shot(t, "07-session-streaming")
		b.wait(t, `document.querySelector('#live-turn').dataset.done === 'true'`)
		b.wait(t, `[...document.querySelectorAll('#transcript .tool.call')].some((e) => e.dataset.tool === 'mob_send_message') &&
			document.querySelector('#transcript').textContent.includes('tool result: mob_send_message') &&
			document.querySelector('#transcript').textContent.includes('28 29 30') && document.querySelector('#live-turn').hidden`)
		b.shot(t, "08-session")
	})

	step(t, "events", func(t *testing.T) {
		b.hash(t, "#/events?mob=console")
		b.wait(t, `document.querySelector('#feed-status').dataset.state === 'live' && !!document.querySelector('#event-rows tr[data-type="flow_completed"]')`)
		// The message the mob view sent is in the log, with its direction.
		b.wait(t, `[...document.querySelectorAll('#event-rows tr[data-type="mobd_member_message"]')].some((r) =>
			r.cells[6].textContent === 'outside → lead' && r.cells[7].textContent === 'What is the capital of Spain?')`)
		b.do(t, chromedp.SendKeys(chromedp.CSS(`#event-filters input[name=type]`), "step_"))
		b.wait(t, `[...document.querySelectorAll('#event-rows tr')].filter((r) => !r.hidden).every((r) => r.dataset.type.includes('step_'))`)
		b.shot(t, "09-events")
		// A filter the daemon refuses says so, and is not retried.
		b.hash(t, "#/events?run=nope")
		b.wait(t, `document.querySelector('#feed-status').dataset.state === 'refused' &&
			document.querySelector('#feed-status').textContent.includes('needs "mob"')`)
	})

	step(t, "runtime restart", func(t *testing.T) {
		b.hash(t, "#/")
		b.wait(t, `document.querySelectorAll('#runtimes tr[data-runtime]').length === 2`)
		var rts []struct {
			Name     string `json:"name"`
			PID      int    `json:"pid"`
			Restarts int    `json:"restarts"`
		}
		json.Unmarshal(d.api(t, "GET", "/v1/runtimes", ""), &rts)
		if len(rts) == 0 || rts[0].PID <= 0 {
			t.Fatalf("runtimes: %+v", rts)
		}
		rt := rts[0]
		if err := syscall.Kill(rt.PID, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		t.Logf("killed %s (pid %d, %d restarts)", rt.Name, rt.PID, rt.Restarts)
		b.wait(t, fmt.Sprintf(`(() => { const r = document.querySelector('#runtimes tr[data-runtime=%q]');
			return r && Number(r.dataset.restarts) > %d && r.dataset.pid !== '%d' && r.dataset.pid !== '0'; })()`, rt.Name, rt.Restarts, rt.PID))
		b.wait(t, `document.querySelector('#pool-summary').textContent.includes('1 restart in all')`)
		b.shot(t, "10-runtime-restart")
	})

	step(t, "unreachable and resume", func(t *testing.T) {
		b.hash(t, "#/events?mob=console")
		b.wait(t, `document.querySelector('#feed-status').dataset.state === 'live' && !!document.querySelector('#event-rows tr[data-type="flow_completed"]')`)
		d.kill(t)
		b.wait(t, `!document.querySelector('#banner').hidden && document.querySelector('#feed-status').dataset.state === 'reconnecting'`)
		b.shot(t, "11-unreachable")
		d.restart(t)
		run := d.startRun(t, "brief", `{"country":"Italy"}`)
		b.wait(t, fmt.Sprintf(`document.querySelector('#banner').hidden && !!document.querySelector('#event-rows tr[data-type="flow_completed"] a[title=%q]')`, run))
		// The log resumed where it stopped: the journal's events, each once.
		shown := strings.Fields(b.evalString(t, `[...document.querySelectorAll('#event-rows tr')].map((r) => r.dataset.id).reverse().join(' ')`))
		var journal []string
		for _, line := range strings.Split(string(d.api(t, "GET", "/v1/events?mob=console&follow=false", "")), "\n") {
			if id, ok := strings.CutPrefix(line, "id: "); ok {
				journal = append(journal, id)
			}
		}
		if strings.Join(shown, " ") != strings.Join(journal, " ") {
			t.Fatalf("the log after a reconnect is not the journal:\nshown   %v\njournal %v", shown, journal)
		}
		b.wait(t, `Number(document.querySelector('#feed-status').textContent.match(/(\d+) reconnects/)?.[1]) >= 1`)
		b.shot(t, "12-events-resumed")
	})

	step(t, "phone", func(t *testing.T) {
		b.do(t, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
		defer b.do(t, chromedp.EmulateReset())
		for _, v := range []struct{ name, hash, ready string }{
			{"13-phone-overview", "#/", `!!document.querySelector('tr[data-mob="console"]')`},
			{"14-phone-run", "#/mobs/console/runs/" + reviewRun, `document.querySelectorAll('#dag g.node[data-state="completed"]').length === 3`},
		} {
			b.hash(t, v.hash)
			b.wait(t, v.ready)
			// Nothing is wider than the screen but what scrolls in its own box.
			if w := b.eval(t, `document.documentElement.scrollWidth <= innerWidth`); w != "true" {
				t.Errorf("%s: the page is wider than the phone's screen", v.name)
			}
			b.shot(t, v.name)
		}
	})

	if errs := b.errors(); len(errs) > 0 {
		t.Errorf("the page logged errors:\n%s", strings.Join(errs, "\n"))
	}
	if strings.Contains(d.logs(), testToken) {
		t.Error("the daemon logged the token")
	}
	t.Logf("browser tests took %s; screenshots in %s", time.Since(start).Round(time.Millisecond), arts)
}

// step runs a subtest and stops the test when it fails: each step builds
// on the ones before.
func step(t *testing.T, name string, fn func(t *testing.T)) {
	t.Helper()
	if !t.Run(name, fn) {
		t.FailNow()
	}
}

// artifactsDir is where screenshots go: $MOBD_ARTIFACTS, else artifacts/
// at the repository's root (git-ignored), in a console/ folder.
func artifactsDir(t *testing.T) string {
	dir := os.Getenv("MOBD_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", "artifacts")
	}
	dir, err := filepath.Abs(filepath.Join(dir, "console"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// daemon is a `mobd serve --runtime sim` with a token, its state and its
// logs; restart starts it again on the same address and state.
type daemon struct {
	addr, base, state, defs string
	client                  *http.Client

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan error
	log  bytes.Buffer
}

func startDaemon(t *testing.T) *daemon {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	d := &daemon{addr: addr, base: "http://" + addr, state: filepath.Join(dir, "state"), defs: filepath.Join(dir, "defs"),
		client: &http.Client{Timeout: 30 * time.Second}}
	if err := os.MkdirAll(d.defs, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d.defs, "console.json"), []byte(testDef), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.stop()
		if t.Failed() {
			t.Logf("daemon logs:\n%s", d.logs())
		}
	})
	d.restart(t)
	return d
}

// restart starts the daemon and waits until it is ready.
func (d *daemon) restart(t *testing.T) {
	t.Helper()
	cmd := exec.Command(mobdBin, "serve", "--runtime", "sim", "--listen", d.addr, "--state", d.state,
		"--pool-size", "2", "--definitions", d.defs, "--log-level", "info")
	env := []string{"MOBD_AUTH_TOKEN=" + testToken}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MEERKAT_BIN_PATH=") && !strings.HasPrefix(kv, "MOBD_") {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	d.mu.Lock()
	cmd.Stdout, cmd.Stderr = &lockedWriter{d}, &lockedWriter{d}
	d.mu.Unlock()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	d.mu.Lock()
	d.cmd, d.done = cmd, done
	d.mu.Unlock()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := d.client.Get(d.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-done:
			t.Fatalf("mobd exited: %v\n%s", err, d.logs())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("mobd not ready\n%s", d.logs())
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// kill stops the daemon with SIGKILL.
func (d *daemon) kill(t *testing.T) {
	t.Helper()
	d.mu.Lock()
	cmd, done := d.cmd, d.done
	d.mu.Unlock()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-done
}

// stop stops the daemon gracefully.
func (d *daemon) stop() {
	d.mu.Lock()
	cmd, done := d.cmd, d.done
	d.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

type lockedWriter struct{ d *daemon }

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.d.mu.Lock()
	defer w.d.mu.Unlock()
	return w.d.log.Write(p)
}

func (d *daemon) logs() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.log.String()
}

// api calls the daemon's API with the token and returns the body of a 2xx
// answer.
func (d *daemon) api(t *testing.T, method, path, body string) []byte {
	t.Helper()
	req, err := http.NewRequest(method, d.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := d.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, data)
	}
	return data
}

// startRun starts a run of flow with params and returns its id.
func (d *daemon) startRun(t *testing.T, flow, params string) string {
	t.Helper()
	var run struct {
		RunID string `json:"run_id"`
	}
	if err := json.Unmarshal(d.api(t, "POST", "/v1/mobs/console/flows/"+flow+"/runs", `{"params":`+params+`}`), &run); err != nil || run.RunID == "" {
		t.Fatalf("start %s: %v", flow, err)
	}
	return run.RunID
}

// browser is one headless Chromium tab, with the errors its page logged.
type browser struct {
	ctx  context.Context
	arts string

	mu   sync.Mutex
	errs []string
}

func newBrowser(t *testing.T, chrome, arts string) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	b := &browser{ctx: ctx, arts: arts}
	// The first Run starts the browser; it must not have a timeout.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start Chromium (%s): %v", chrome, err)
	}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			// Exceptions, console.error calls of the page's code and
			// security errors (a Content-Security-Policy violation); not the
			// network's (failed requests while the daemon is down).
			if m.IsException() || (m.Type == chromedp.ConsoleError && m.Source != "network") {
				b.mu.Lock()
				b.errs = append(b.errs, fmt.Sprintf("%s (%s:%d)", m.String(), m.URL, m.Line))
				b.mu.Unlock()
			}
		}
	}()
	return b
}

func (b *browser) errors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errs...)
}

// do runs actions, each bounded in time.
func (b *browser) do(t *testing.T, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("browser: %v", err)
	}
}

// wait waits until the JavaScript expression is true.
func (b *browser) wait(t *testing.T, expr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 25*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(50*time.Millisecond),
		chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		b.shot(t, "failed-"+strings.NewReplacer("/", "-", " ", "-").Replace(t.Name()))
		t.Fatalf("waiting for %s: %v\npage errors: %v", expr, err, b.errors())
	}
}

// hash moves the console to another view (a same-document navigation,
// which Navigate would wait on for a load that never comes).
func (b *browser) hash(t *testing.T, hash string) {
	t.Helper()
	b.eval(t, fmt.Sprintf(`(location.hash = %q, true)`, hash))
}

// eval evaluates a JavaScript expression and returns its JSON.
func (b *browser) eval(t *testing.T, expr string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[json.RawMessage](expr))
	if err != nil && !strings.Contains(err.Error(), "undefined") {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return string(v)
}

func (b *browser) evalString(t *testing.T, expr string) string {
	t.Helper()
	var s string
	if err := json.Unmarshal([]byte(b.eval(t, expr)), &s); err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return s
}

// shot saves a screenshot of the whole page as name.png.
func (b *browser) shot(t *testing.T, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	// From the top: the sticky header would otherwise show mid-page.
	b.eval(t, `(window.scrollTo(0, 0), document.activeElement?.blur?.(), true)`)
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(b.arts, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return
	}
	t.Logf("screenshot: %s", path)
}
