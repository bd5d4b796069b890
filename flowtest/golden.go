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
	"time"

	"github.com/mobd-dev/mobd/mob"
)

// UpdateEnv is the environment variable that makes [AssertGolden] (and
// [Harness.Golden]) write golden files instead of comparing with them:
//
//	FLOWTEST_UPDATE=1 go test ./...
const UpdateEnv = "FLOWTEST_UPDATE"

// goldenEvent is a mob.Event without what differs from one recording of a
// run to the next: no cursor, time or mob id; run and session ids are
// placeholders.
type goldenEvent = mob.Event

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
	g := ev
	g.Cursor, g.Mob, g.At = 0, "", time.Time{}
	g.Run, g.Key, g.Error, g.Reason, g.Text = n.str(ev.Run), n.str(ev.Key), n.str(ev.Error), n.str(ev.Reason), n.str(ev.Text)
	g.Member, g.Peer = strings.TrimPrefix(ev.Member, n.mob+"/"), strings.TrimPrefix(ev.Peer, n.mob+"/")
	g.SessionID = n.session(ev.SessionID)
	g.Definition = nil
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
