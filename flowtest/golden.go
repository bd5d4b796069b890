package flowtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mobd-dev/mobd/flows"
	"github.com/mobd-dev/mobd/mob"
	"github.com/mobd-dev/mobd/rpc"
)

// UpdateEnv is the environment variable that makes [AssertGolden] (and
// [Harness.Golden]) write golden files instead of comparing with them:
//
//	FLOWTEST_UPDATE=1 go test ./...
const UpdateEnv = "FLOWTEST_UPDATE"

// goldenEvent is a mob.Event without what differs from one recording of a
// run to the next: no cursor, time or mob id; run and session ids are
// placeholders.
type goldenEvent struct {
	Type      string                  `json:"type"`
	Run       string                  `json:"run_id,omitempty"`
	Flow      string                  `json:"flow_id,omitempty"`
	Frame     string                  `json:"frame,omitempty"`
	Step      string                  `json:"step_id,omitempty"`
	Loop      string                  `json:"loop_id,omitempty"`
	Iteration int                     `json:"iteration,omitempty"`
	Member    string                  `json:"member,omitempty"`
	Peer      string                  `json:"peer,omitempty"`
	Role      string                  `json:"role,omitempty"`
	SessionID string                  `json:"session_id,omitempty"`
	Attempt   int                     `json:"attempt,omitempty"`
	Key       string                  `json:"key,omitempty"`
	Output    json.RawMessage         `json:"output,omitempty"`
	Usage     *rpc.Usage              `json:"usage,omitempty"`
	Class     string                  `json:"class,omitempty"`
	Error     string                  `json:"error,omitempty"`
	Reason    string                  `json:"reason,omitempty"`
	DelayMS   int64                   `json:"delay_ms,omitempty"`
	Params    json.RawMessage         `json:"params,omitempty"`
	Spec      json.RawMessage         `json:"spec,omitempty"`
	Decision  *flows.ApprovalDecision `json:"decision,omitempty"`
	Text      string                  `json:"text,omitempty"`
}

// goldenRun is the placeholder of the recorded run's id.
const goldenRun = "run-1"

// Normalize returns the golden form of one run: from a mob's events (all
// of them, as Mob.Events or a journal returns them), the run's roster
// (the members alive when it started, by identity, as member_spawned
// lines) and then the run's events, one JSON object a line, without
// cursors, times and mob ids, with the run's id replaced by "run-1" and
// session ids by "session-1", "session-2", … in order of appearance.
// Structured outputs and params are written with sorted keys.
func Normalize(events []mob.Event, runID string) ([]byte, error) {
	mobID := ""
	type rosterEntry struct{ role, session string }
	roster := map[string]rosterEntry{}
	var runEvents []mob.Event
	started := false
	for _, ev := range events {
		if mobID == "" {
			mobID = ev.Mob
		}
		if ev.Run == runID && ev.Run != "" {
			started = true
			runEvents = append(runEvents, ev)
			continue
		}
		if started {
			continue
		}
		switch ev.Type {
		case mob.EventMemberSpawned, mob.EventMemberRespawned:
			roster[ev.Member] = rosterEntry{ev.Role, ev.SessionID}
		case mob.EventMemberRetired:
			delete(roster, ev.Member)
		}
	}
	if len(runEvents) == 0 {
		return nil, fmt.Errorf("flowtest: no events of run %q", runID)
	}
	n := &normalizer{mob: mobID, run: runID, sessions: map[string]string{}}
	var buf bytes.Buffer
	for _, id := range slices.Sorted(maps.Keys(roster)) {
		r := roster[id]
		if err := n.write(&buf, goldenEvent{Type: mob.EventMemberSpawned, Member: id, Role: r.role, SessionID: n.session(r.session)}); err != nil {
			return nil, err
		}
	}
	for _, ev := range runEvents {
		g, err := n.event(ev)
		if err != nil {
			return nil, err
		}
		if err := n.write(&buf, g); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}

type normalizer struct {
	mob, run string
	sessions map[string]string
}

func (n *normalizer) session(s string) string {
	if s == "" {
		return ""
	}
	if p, ok := n.sessions[s]; ok {
		return p
	}
	p := fmt.Sprintf("session-%d", len(n.sessions)+1)
	n.sessions[s] = p
	return p
}

func (n *normalizer) str(s string) string {
	if n.run == "" || n.run == goldenRun {
		return s
	}
	return strings.ReplaceAll(s, n.run, goldenRun)
}

func (n *normalizer) event(ev mob.Event) (goldenEvent, error) {
	g := goldenEvent{
		Type: ev.Type, Run: n.str(ev.Run), Flow: ev.Flow, Frame: ev.Frame, Step: ev.Step, Loop: ev.Loop,
		Iteration: ev.Iteration, Member: strings.TrimPrefix(ev.Member, n.mob+"/"), Peer: strings.TrimPrefix(ev.Peer, n.mob+"/"),
		Role: ev.Role, SessionID: n.session(ev.SessionID), Attempt: ev.Attempt, Key: n.str(ev.Key), Usage: ev.Usage,
		Class: ev.Class, Error: n.str(ev.Error), Reason: n.str(ev.Reason), DelayMS: ev.DelayMS, Decision: ev.Decision,
		Text: n.str(ev.Text),
	}
	var err error
	if g.Output, err = canonical(ev.Output); err != nil {
		return g, fmt.Errorf("flowtest: %s output: %w", ev.Type, err)
	}
	if len(g.Output) > 0 {
		g.Output = json.RawMessage(n.str(string(g.Output)))
	}
	if g.Params, err = canonical(ev.Params); err != nil {
		return g, fmt.Errorf("flowtest: %s params: %w", ev.Type, err)
	}
	if len(ev.Spec) > 0 {
		// Compact only: the order of a flow's steps is part of it.
		var b bytes.Buffer
		if err := json.Compact(&b, ev.Spec); err != nil {
			return g, fmt.Errorf("flowtest: %s spec: %w", ev.Type, err)
		}
		g.Spec = b.Bytes()
	}
	return g, nil
}

func (n *normalizer) write(buf *bytes.Buffer, g goldenEvent) error {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	return enc.Encode(g) // one line, newline-terminated
}

// canonical re-encodes JSON with sorted object keys and numbers as written.
func canonical(raw json.RawMessage) (json.RawMessage, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Record returns the golden form ([Normalize]) of a run of m. It works on
// any mob, one on real runtimes too: record a run there, commit the file,
// and [Replay] it in tests without them.
func Record(ctx context.Context, m *mob.Mob, runID string) ([]byte, error) {
	evs, err := m.Events(ctx, 0, 0)
	if err != nil {
		return nil, err
	}
	return Normalize(evs, runID)
}

// Golden settles the mob and checks the golden form of run against the
// file at path (see [AssertGolden]).
func (h *Harness) Golden(run *mob.Run, path string) {
	h.t.Helper()
	h.Settle()
	got, err := Record(h.ctx, h.mob, run.ID())
	if err != nil {
		h.t.Fatalf("flowtest: record %s: %v", run.ID(), err)
	}
	AssertGolden(h.t, got, path)
}

// AssertGolden compares got with the golden file at path and reports a
// line diff as a test error. With FLOWTEST_UPDATE set (to anything but
// "" or "0") it writes got to path instead, creating its directory.
func AssertGolden(t testing.TB, got []byte, path string) {
	t.Helper()
	if v := os.Getenv(UpdateEnv); v != "" && v != "0" {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatalf("flowtest: %v", err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatalf("flowtest: %v", err)
		}
		t.Logf("flowtest: wrote %s", path)
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("flowtest: %v (run with %s=1 to create it)", err, UpdateEnv)
	}
	if d := diff(string(want), string(got)); d != "" {
		t.Errorf("flowtest: events differ from %s (-want +got; %s=1 rewrites it):\n%s", path, UpdateEnv, d)
	}
}

// diff returns a line diff of want and got, "" when they are equal.
func diff(want, got string) string {
	if want == got {
		return ""
	}
	a, b := splitLines(want), splitLines(got)
	// Longest common subsequence, fine for golden files of a few hundred
	// lines.
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out strings.Builder
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			fmt.Fprintf(&out, "  %s\n", a[i])
			i++
			j++
		case j < len(b) && (i == len(a) || lcs[i][j+1] >= lcs[i+1][j]):
			fmt.Fprintf(&out, "+ %s\n", b[j])
			j++
		default:
			fmt.Fprintf(&out, "- %s\n", a[i])
			i++
		}
	}
	return out.String()
}

func splitLines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 0, 64*1024), 64*1024*1024)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}
