package flowtest_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/mobd-dev/mobd/flows"
	"github.com/mobd-dev/mobd/mob"
)

// define loads a definition of mob "m" with the profiles lead, w and
// boss; fields are the definition's other top-level fields (flows,
// limits, supervisor, ...), as JSON object members.
func define(t testing.TB, fields string) *flows.Definition {
	t.Helper()
	js := `{"id": "m", "profiles": {"lead": {"model": "x"}, "w": {"model": "x"}, "r": {"model": "x"}, "boss": {"model": "x"}}, ` + fields + `}`
	d, err := flows.LoadJSON([]byte(js))
	if err != nil {
		t.Fatalf("definition: %v\n%s", err, js)
	}
	return d
}

// members returns spawn specs: "profile" or "profile:identity".
func members(specs ...string) []mob.SpawnSpec {
	var out []mob.SpawnSpec
	for _, s := range specs {
		p, id, _ := strings.Cut(s, ":")
		out = append(out, mob.SpawnSpec{Profile: p, Identity: id})
	}
	return out
}

// step returns a step's ledger entry (the last one for steps in loops).
func step(t testing.TB, snap mob.Snapshot, id string) mob.StepRecord {
	t.Helper()
	var rec *mob.StepRecord
	for i := range snap.Steps {
		if snap.Steps[i].StepID == id {
			rec = &snap.Steps[i]
		}
	}
	if rec == nil {
		t.Fatalf("no step %q in the ledger: %+v", id, snap.Steps)
	}
	return *rec
}

// statuses returns the ledger's step statuses by step id (the last entry
// of a step in a loop).
func statuses(snap mob.Snapshot) map[string]mob.StepStatus {
	out := map[string]mob.StepStatus{}
	for _, s := range snap.Steps {
		out[s.StepID] = s.Status
	}
	return out
}

// ofType returns the events of one type.
func ofType(evs []mob.Event, typ string) []mob.Event {
	var out []mob.Event
	for _, e := range evs {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

// text decodes a JSON string output.
func text(t testing.TB, raw json.RawMessage) string {
	t.Helper()
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatalf("output %s is not a string: %v", raw, err)
	}
	return s
}

// jsonEq reports whether two JSON texts are equal as values.
func jsonEq(t testing.TB, got json.RawMessage, want string) {
	t.Helper()
	var a, b any
	if err := json.Unmarshal(got, &a); err != nil {
		t.Fatalf("got %s: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &b); err != nil {
		t.Fatalf("want %s: %v", want, err)
	}
	ga, _ := json.Marshal(a)
	gb, _ := json.Marshal(b)
	if string(ga) != string(gb) {
		t.Fatalf("got %s, want %s", ga, gb)
	}
}
