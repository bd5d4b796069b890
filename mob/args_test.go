package mob_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mobd-dev/mobd/flows"
	"github.com/mobd-dev/mobd/mob"
)

// argsDef has two quick flows on one profile.
const argsDef = `{
  "id": "args",
  "profiles": {"lead": {"model": "sim-model"}, "analyst": {"model": "sim-model"}},
  "flows": {
    "ask": {"steps": {"a": {"role": "lead", "message": "echo: {{ params.x }}"}}},
    "other": {"steps": {"b": {"role": "lead", "message": "echo: other"}}}
  }
}`

// TestInvalidArgumentsAreRefused checks that what the mob cannot take
// from its caller (malformed ids, a member wired to itself, params that
// are not JSON) is refused with an error matching ErrInvalidArgument,
// before anything is changed or journalled, rather than left to the
// journal (which refuses a NUL in an id with an error of its own).
func TestInvalidArgumentsAreRefused(t *testing.T) {
	t.Parallel()
	f, ctx := spawnedFixture(t, argsDef, "lead", "analyst")
	m := f.mob
	long := strings.Repeat("x", 257)
	run := func(id string) func() error {
		return func() error {
			_, err := m.RunFlow(ctx, "ask", nil, mob.RunOptions{RunID: id})
			return err
		}
	}
	spawn := func(identity string) func() error {
		return func() error {
			_, err := m.Spawn(ctx, mob.SpawnSpec{Profile: "analyst", Identity: identity})
			return err
		}
	}
	params := func(p any) func() error {
		return func() error {
			_, err := m.RunFlow(ctx, "ask", p, mob.RunOptions{})
			return err
		}
	}
	cases := []struct {
		name string
		call func() error
	}{
		{"run id with NUL", run("r\x001")},
		{"run id with a newline", run("r\n1")},
		{"run id with DEL", run("r\x7f")},
		{"run id not UTF-8", run("r\xff")},
		{"run id too long", run(long)},
		{"run of a Go spec with a bad run id", func() error {
			spec, _ := m.Definition().Flow("ask")
			_, err := m.RunSpec(ctx, spec, nil, mob.RunOptions{RunID: "r\x00"})
			return err
		}},
		{"params not JSON", params(json.RawMessage(`{"x":`))},
		{"params that do not encode", params(map[string]any{"x": make(chan int)})},
		{"identity with a space", spawn("a b")},
		{"identity with a slash", spawn("a/b")},
		{"identity with a tab", spawn("a\tb")},
		{"identity with NUL", spawn("a\x00b")},
		{"identity not UTF-8", spawn("a\xff")},
		{"identity too long", spawn(long)},
		{"wire a member to itself", func() error { return m.Wire(ctx, "lead", "lead") }},
		{"nil definition", func() error {
			_, err := mob.Create(ctx, nil, f.cfg)
			return err
		}},
		{"config without a host", func() error {
			cfg := f.cfg
			cfg.Host = nil
			_, err := mob.Create(ctx, m.Definition(), cfg)
			return err
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.call()
			if !errors.Is(err, mob.ErrInvalidArgument) {
				t.Fatalf("err = %v, want one matching ErrInvalidArgument", err)
			}
			if strings.Contains(err.Error(), "journal") {
				t.Errorf("the journal was the first to refuse it: %v", err)
			}
		})
	}
	// Nothing was done: no run, no new member, no wiring, nothing
	// journalled but the two spawns.
	if runs := m.Runs(); len(runs) != 0 {
		t.Errorf("runs after refused starts: %d", len(runs))
	}
	if got := m.Members(); !slices.Equal(got, []string{"analyst", "lead"}) {
		t.Errorf("members after refused spawns: %v", got)
	}
	if got := types(allEvents(t, ctx, m)); !slices.Equal(got, []string{mob.EventMobCreated, mob.EventMemberSpawned, mob.EventMemberSpawned}) {
		t.Errorf("events after refused calls: %v", got)
	}

	// Within the rules: spaces, slashes and non-ASCII letters in a run id,
	// and ids of exactly 256 bytes.
	for _, id := range []string{"run 1/é", strings.Repeat("r", 256)} {
		if _, err := m.RunFlow(ctx, "ask", nil, mob.RunOptions{RunID: id}); err != nil {
			t.Errorf("run id %.20q: %v", id, err)
		}
	}
	if _, err := m.Spawn(ctx, mob.SpawnSpec{Profile: "analyst", Identity: "analyst-é." + strings.Repeat("a", 245)}); err != nil {
		t.Errorf("identity of 256 bytes: %v", err)
	}
}

// TestCreateRefusesAnInvalidMobID checks that a definition whose id the
// journal cannot hold is refused by Create as an invalid definition that
// matches ErrInvalidArgument too, with flows' own problems reported along.
func TestCreateRefusesAnInvalidMobID(t *testing.T) {
	t.Parallel()
	f := newFixture(t, argsDef)
	ctx := testCtx(t)
	for _, c := range []struct {
		name   string
		edit   func(*flows.Definition)
		fields []string
	}{
		{"NUL", func(d *flows.Definition) { d.ID = "ar\x00gs" }, []string{"id"}},
		{"newline", func(d *flows.Definition) { d.ID = "args\n" }, []string{"id"}},
		{"too long", func(d *flows.Definition) { d.ID = strings.Repeat("m", 257) }, []string{"id"}},
		{"and no profiles", func(d *flows.Definition) { d.ID, d.Profiles = "a\x00", nil }, []string{"id", "profiles"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			def := *f.mob.Definition()
			c.edit(&def)
			_, err := mob.Create(ctx, &def, f.cfg)
			var verr *flows.ValidationError
			if !errors.Is(err, mob.ErrInvalidArgument) || !errors.As(err, &verr) {
				t.Fatalf("err = %v, want a *flows.ValidationError matching ErrInvalidArgument", err)
			}
			var paths []string
			for _, fe := range verr.Errors {
				paths = append(paths, fe.Path)
			}
			for _, want := range c.fields {
				if !slices.Contains(paths, want) || paths[0] != "id" {
					t.Fatalf("problems %+v, want the id's first and one at %q", verr.Errors, want)
				}
			}
		})
	}
	if ids, err := f.journal.Mobs(ctx); err != nil || !slices.Equal(ids, []string{"args"}) {
		t.Fatalf("journalled mobs: %q, %v", ids, err)
	}
}

// TestRunIDIsAnIdempotencyKey checks that a start with the id of a run
// the mob has returns that run only when it asks for the same flow with
// the same params, and fails with ErrRunIDConflict when it does not,
// whether the run is in memory or read back from the journal.
func TestRunIDIsAnIdempotencyKey(t *testing.T) {
	t.Parallel()
	f, ctx := spawnedFixture(t, argsDef, "lead")
	def := *f.mob.Definition()
	def.ID = "forgetful"
	cfg := f.cfg
	cfg.RetainRuns = -1 // finished runs are read back from the journal
	forgetful, err := mob.Create(ctx, &def, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer forgetful.Close()
	if _, err := forgetful.Spawn(ctx, mob.SpawnSpec{Profile: "lead"}); err != nil {
		t.Fatal(err)
	}

	for _, m := range []*mob.Mob{f.mob, forgetful} {
		t.Run(m.ID(), func(t *testing.T) {
			first, started, err := m.StartFlow(ctx, "ask", map[string]any{"x": "France", "n": 1}, mob.RunOptions{RunID: "r1"})
			if err != nil || !started {
				t.Fatalf("first start: started %v, %v", started, err)
			}
			if _, err := first.Wait(ctx); err != nil {
				t.Fatal(err)
			}
			if m == forgetful && len(m.Runs()) != 0 {
				t.Fatal("the finished run stayed in memory")
			}
			// Replays: the same request, spelt otherwise.
			for _, p := range []json.RawMessage{
				json.RawMessage(`{"n":1,"x":"France"}`),
				json.RawMessage(` { "x" : "\u0046rance", "n" : 1 } `),
			} {
				again, started, err := m.StartFlow(ctx, "ask", p, mob.RunOptions{RunID: "r1"})
				if err != nil || started || again.ID() != "r1" || again.FlowID() != "ask" {
					t.Fatalf("replay with params %s: started %v, %v", p, started, err)
				}
				if m == f.mob && again != first {
					t.Fatal("a replay returned another handle than the run in memory")
				}
				if snap := again.Status(); snap.Status != mob.RunCompleted {
					t.Fatalf("replayed run: %+v", snap)
				}
			}
			// Conflicts: another flow, or other params.
			for _, c := range []struct {
				name   string
				flow   string
				params any
			}{
				{"another flow", "other", map[string]any{"x": "France", "n": 1}},
				{"other params", "ask", map[string]any{"x": "Spain", "n": 1}},
				{"a param less", "ask", map[string]any{"x": "France"}},
				{"no params", "ask", nil},
				{"a number spelt otherwise", "ask", json.RawMessage(`{"x":"France","n":1.0}`)},
			} {
				_, err := m.RunFlow(ctx, c.flow, c.params, mob.RunOptions{RunID: "r1"})
				if !errors.Is(err, mob.ErrRunIDConflict) {
					t.Errorf("%s: %v, want ErrRunIDConflict", c.name, err)
				}
			}
			spec, _ := m.Definition().Flow("other")
			if _, err := m.RunSpec(ctx, spec, nil, mob.RunOptions{RunID: "r1"}); !errors.Is(err, mob.ErrRunIDConflict) {
				t.Errorf("RunSpec of another flow: %v, want ErrRunIDConflict", err)
			}
			evs, err := m.RunEvents(ctx, "r1", 0)
			if err != nil || countType(evs, mob.EventFlowStarted) != 1 {
				t.Fatalf("r1 started %d times, %v", countType(evs, mob.EventFlowStarted), err)
			}
		})
	}
}

// TestConcurrentStartsWithOneRunID checks that of concurrent starts with
// the same run id and request exactly one starts the run, and the others
// get it.
func TestConcurrentStartsWithOneRunID(t *testing.T) {
	t.Parallel()
	f, ctx := spawnedFixture(t, argsDef, "lead")
	const n = 8
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		starts  int
		runs    = map[string]bool{} // by id: a finished run's handle is read back from the journal
		errs    []error
		request = map[string]string{"x": "go"}
	)
	for range n {
		wg.Go(func() {
			r, started, err := f.mob.StartFlow(ctx, "ask", request, mob.RunOptions{RunID: "same"})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			runs[r.ID()] = true
			if started {
				starts++
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 || starts != 1 || len(runs) != 1 {
		t.Fatalf("%d starts, %d runs, errors %v", starts, len(runs), errs)
	}
	evs, err := f.mob.RunEvents(ctx, "same", 0)
	if err != nil || countType(evs, mob.EventFlowStarted) != 1 {
		t.Fatalf("run started %d times, %v", countType(evs, mob.EventFlowStarted), err)
	}
}
