package mob_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mobd-dev/mobd/actors"
	"github.com/mobd-dev/mobd/flows"
	"github.com/mobd-dev/mobd/journal"
	"github.com/mobd-dev/mobd/mob"
	"github.com/mobd-dev/mobd/supervision/supervisiontest"
)

// lifeDef has one worker profile and a flow whose single step takes a
// few hundred milliseconds.
const lifeDef = `{
  "id": "life",
  "profiles": {"worker": {"model": "sim-model", "peer_description": "works"}},
  "flows": {
    "slow": {"steps": {"s": {"role": "worker", "message": "[[sim:slow 20ms]] count to 15"}}},
    "quick": {"steps": {"q": {"role": "worker", "message": "echo: done"}}}
  }
}`

// recoverDef has an orchestrator wired to everyone, and a flow that asks
// every analyst.
const recoverDef = `{
  "id": "rec",
  "orchestrator": {"profile": "lead"},
  "profiles": {
    "lead": {"model": "sim-model", "peer_description": "plans"},
    "analyst": {"model": "sim-model", "peer_description": "digs"}
  },
  "wiring": {"auto_wire_orchestrator": true},
  "flows": {"survey": {"steps": {"ask": {"role": "analyst", "message": "What is the capital of France?"}}}}
}`

// types returns the types of evs.
func types(evs []mob.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.Type
	}
	return out
}

// ofTypes returns the events of evs whose type is one of ts.
func ofTypes(evs []mob.Event, ts ...string) []mob.Event {
	var out []mob.Event
	for _, ev := range evs {
		if slices.Contains(ts, ev.Type) {
			out = append(out, ev)
		}
	}
	return out
}

// allEvents returns every event of m.
func allEvents(t testing.TB, ctx context.Context, m *mob.Mob) []mob.Event {
	t.Helper()
	evs, err := m.Events(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// checkCursors fails unless the events' cursors strictly increase.
func checkCursors(t testing.TB, evs []mob.Event) {
	t.Helper()
	for i := 1; i < len(evs); i++ {
		if evs[i].Cursor <= evs[i-1].Cursor {
			t.Fatalf("cursor %d (%s) after %d (%s)", evs[i].Cursor, evs[i].Type, evs[i-1].Cursor, evs[i-1].Type)
		}
	}
}

// waitEvent returns the first event of m after cursor that match
// accepts, waiting for it.
func waitEvent(t testing.TB, ctx context.Context, m *mob.Mob, after uint64, match func(mob.Event) bool) mob.Event {
	t.Helper()
	for ev, err := range m.Subscribe(ctx, after) {
		if err != nil {
			t.Fatalf("waiting for an event: %v", err)
		}
		if match(ev) {
			return ev
		}
	}
	t.Fatal("subscription ended")
	return mob.Event{}
}

// wantLifecycle fails unless err is a *mob.LifecycleError for state.
func wantLifecycle(t testing.TB, what string, err error, state mob.State) {
	t.Helper()
	var le *mob.LifecycleError
	if !errors.As(err, &le) || !errors.Is(err, mob.ErrLifecycle) {
		t.Fatalf("%s: err = %v, want a *mob.LifecycleError", what, err)
	}
	if le.State != state {
		t.Fatalf("%s: %v: state %s, want %s", what, err, le.State, state)
	}
}

func TestLifecycleStopResume(t *testing.T) {
	t.Parallel()
	f := newFixture(t, lifeDef)
	ctx := testCtx(t)
	m := f.mob
	if m.State() != mob.StateRunning || m.ID() != "life" {
		t.Fatalf("new mob %s is %s", m.ID(), m.State())
	}
	if _, err := m.Spawn(ctx, mob.SpawnSpec{Profile: "worker"}); err != nil {
		t.Fatal(err)
	}
	if err := m.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if m.State() != mob.StateStopped {
		t.Fatalf("state %s after Stop", m.State())
	}
	_, err := m.RunFlow(ctx, "quick", nil, mob.RunOptions{})
	wantLifecycle(t, "RunFlow", err, mob.StateStopped)
	_, err = m.Spawn(ctx, mob.SpawnSpec{Profile: "worker"})
	wantLifecycle(t, "Spawn", err, mob.StateStopped)
	_, err = m.Send(ctx, "", "worker", "echo: hi")
	wantLifecycle(t, "Send", err, mob.StateStopped)
	_, err = m.Respawn(ctx, "worker")
	wantLifecycle(t, "Respawn", err, mob.StateStopped)
	wantLifecycle(t, "Stop twice", m.Stop(ctx), mob.StateStopped)
	// The member is still there.
	if info, err := m.MemberStatus(ctx, "worker"); err != nil || info.Status != "active" {
		t.Fatalf("member of a stopped mob: %+v, %v", info, err)
	}

	if err := m.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	if m.State() != mob.StateRunning {
		t.Fatalf("state %s after Resume", m.State())
	}
	wantLifecycle(t, "Resume twice", m.Resume(ctx), mob.StateRunning)
	a, err := m.Send(ctx, "", "worker", "echo: hi")
	if err != nil || a.Text != "hi" {
		t.Fatalf("Send after Resume: %+v, %v", a, err)
	}
	run, err := m.RunFlow(ctx, "quick", nil, mob.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := run.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	got := types(ofTypes(allEvents(t, ctx, m), mob.EventMobCreated, mob.EventMobStopped, mob.EventMobResumed))
	want := []string{mob.EventMobCreated, mob.EventMobStopped, mob.EventMobResumed}
	if !slices.Equal(got, want) {
		t.Fatalf("lifecycle events %v, want %v", got, want)
	}
}

func TestLifecycleCompleteWaitsForRuns(t *testing.T) {
	t.Parallel()
	f := newFixture(t, lifeDef)
	ctx := testCtx(t)
	m := f.mob
	if _, err := m.Spawn(ctx, mob.SpawnSpec{Profile: "worker"}); err != nil {
		t.Fatal(err)
	}
	run, err := m.RunFlow(ctx, "slow", nil, mob.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	err = m.Complete(ctx)
	wantLifecycle(t, "Complete with an active run", err, mob.StateRunning)
	if !strings.Contains(err.Error(), "1 active run") {
		t.Fatalf("Complete: %v", err)
	}
	if m.State() != mob.StateRunning {
		t.Fatalf("state %s after a refused Complete", m.State())
	}
	if _, err := run.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Complete(ctx); err != nil {
		t.Fatalf("Complete once the run ended: %v", err)
	}
	if m.State() != mob.StateCompleted {
		t.Fatalf("state %s after Complete", m.State())
	}
	_, err = m.RunFlow(ctx, "quick", nil, mob.RunOptions{})
	wantLifecycle(t, "RunFlow", err, mob.StateCompleted)
	_, err = m.Spawn(ctx, mob.SpawnSpec{Profile: "worker"})
	wantLifecycle(t, "Spawn", err, mob.StateCompleted)
	_, err = m.Send(ctx, "", "worker", "echo: hi")
	wantLifecycle(t, "Send", err, mob.StateCompleted)
	wantLifecycle(t, "Resume", m.Resume(ctx), mob.StateCompleted)
	wantLifecycle(t, "Stop", m.Stop(ctx), mob.StateCompleted)
	wantLifecycle(t, "Complete twice", m.Complete(ctx), mob.StateCompleted)
}

func TestLifecycleEventsThroughDestroy(t *testing.T) {
	t.Parallel()
	f := newFixture(t, lifeDef)
	ctx := testCtx(t)
	m := f.mob

	// A subscriber from the start sees every lifecycle event, the last
	// one (mob_destroying) included, then ErrClosed.
	type result struct {
		evs []mob.Event
		err error
	}
	completed := make(chan struct{})
	done := make(chan result, 1)
	go func() {
		var r result
		for ev, err := range m.Subscribe(ctx, 0) {
			if err != nil {
				r.err = err
				break
			}
			r.evs = append(r.evs, ev)
			if ev.Type == mob.EventMobCompleted {
				close(completed)
			}
		}
		done <- r
	}()

	if _, err := m.Spawn(ctx, mob.SpawnSpec{Profile: "worker"}); err != nil {
		t.Fatal(err)
	}
	for _, step := range []func(context.Context) error{m.Stop, m.Resume, m.Stop, m.Complete} {
		if err := step(ctx); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{mob.EventMobCreated, mob.EventMemberSpawned, mob.EventMobStopped, mob.EventMobResumed,
		mob.EventMobStopped, mob.EventMobCompleted}
	before := allEvents(t, ctx, m)
	if got := types(before); !slices.Equal(got, want) {
		t.Fatalf("events before Destroy %v, want %v", got, want)
	}
	checkCursors(t, before)
	select {
	case <-completed:
	case <-ctx.Done():
		t.Fatal("the subscriber did not see mob_completed")
	}

	if err := m.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if !errors.Is(r.err, mob.ErrClosed) {
		t.Fatalf("subscription ended with %v, want ErrClosed", r.err)
	}
	want = append(want, mob.EventMemberRetirementStarted, mob.EventMemberRetired, mob.EventMobDestroying)
	if got := types(r.evs); !slices.Equal(got, want) {
		t.Fatalf("subscriber saw %v, want %v", got, want)
	}
	checkCursors(t, r.evs)
	if r.evs[0].Cursor != before[0].Cursor {
		t.Fatalf("subscriber's first cursor %d, journal's %d", r.evs[0].Cursor, before[0].Cursor)
	}
	if m.State() != mob.StateDestroyed {
		t.Fatalf("state %s after Destroy", m.State())
	}
	wantLifecycle(t, "Destroy twice", m.Destroy(ctx), mob.StateDestroyed)
	wantLifecycle(t, "Resume", m.Resume(ctx), mob.StateDestroyed)
	// A subscription to a destroyed mob yields its last events and ends.
	var last error
	n := 0
	for _, err := range m.Subscribe(ctx, r.evs[len(r.evs)-3].Cursor) {
		last = err
		if err == nil {
			n++
		}
	}
	if n != 2 || !errors.Is(last, mob.ErrClosed) {
		t.Fatalf("subscription to a destroyed mob: %d events, then %v", n, last)
	}
}

func TestDestroyCancelsRunsAndFreesID(t *testing.T) {
	t.Parallel()
	f, ctx := spawnedFixture(t, lifeDef, "worker", "worker")
	m := f.mob
	if err := m.Wire(ctx, "worker", "worker-2"); err != nil {
		t.Fatal(err)
	}
	done, err := m.RunFlow(ctx, "quick", nil, mob.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := done.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	run, err := m.RunFlow(ctx, "slow", nil, mob.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}

	if err := m.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	snap, err := run.Wait(ctx)
	var re *mob.RunError
	if !errors.As(err, &re) || snap.Status != mob.RunCanceled || re.Status != mob.RunCanceled {
		t.Fatalf("active run after Destroy: %+v, %v", snap, err)
	}
	if snap, err := done.Wait(ctx); err != nil || snap.Status != mob.RunCompleted {
		t.Fatalf("finished run after Destroy: %+v, %v", snap, err)
	}
	if got := m.Members(); len(got) != 0 {
		t.Fatalf("members after Destroy: %v", got)
	}
	for _, id := range f.engine.Members() {
		if strings.HasPrefix(id, "life/") {
			t.Fatalf("member %s still on the engine", id)
		}
	}
	if evs := allEvents(t, ctx, m); len(evs) != 0 {
		t.Fatalf("journal after Destroy: %v", types(evs))
	}
	if ids, err := f.journal.Mobs(ctx); err != nil || slices.Contains(ids, "life") {
		t.Fatalf("journalled mobs after Destroy: %v, %v", ids, err)
	}
	if _, err := mob.Open(ctx, "life", f.cfg); !errors.Is(err, mob.ErrMobNotFound) {
		t.Fatalf("Open of a destroyed mob: %v", err)
	}
	_, err = m.Spawn(ctx, mob.SpawnSpec{Profile: "worker"})
	wantLifecycle(t, "Spawn after Destroy", err, mob.StateDestroyed)

	// The id is free: a new mob takes it, and its members the identities.
	d, err := flows.LoadJSON([]byte(lifeDef))
	if err != nil {
		t.Fatal(err)
	}
	again, err := mob.Create(ctx, d, f.cfg)
	if err != nil {
		t.Fatalf("Create after Destroy: %v", err)
	}
	t.Cleanup(again.Close)
	if got := types(allEvents(t, ctx, again)); !slices.Equal(got, []string{mob.EventMobCreated}) {
		t.Fatalf("events of the new mob: %v", got)
	}
	if _, err := again.Spawn(ctx, mob.SpawnSpec{Profile: "worker"}); err != nil {
		t.Fatalf("Spawn in the new mob: %v", err)
	}
	if _, err := mob.Create(ctx, d, f.cfg); !errors.Is(err, mob.ErrMobExists) {
		t.Fatalf("Create of an existing mob: %v", err)
	}
}

// A destroy stopped after it journalled the mob's end, before it deleted
// the records (the process was killed), is finished by the next Open: the
// mob stays gone, and its id is free again.
func TestInterruptedDestroyFinishedByOpen(t *testing.T) {
	t.Parallel()
	f := newFixture(t, lifeDef)
	ctx := testCtx(t)
	f.mob.Close()
	if _, err := f.journal.AppendSync(ctx, journal.Record{Mob: "life", Kind: mob.EventMobDestroying, Data: json.RawMessage(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := mob.Open(ctx, "life", f.cfg); !errors.Is(err, mob.ErrMobNotFound) {
		t.Fatalf("Open of a destroyed mob: %v", err)
	}
	if ids, err := f.journal.Mobs(ctx); err != nil || slices.Contains(ids, "life") {
		t.Fatalf("journalled mobs after Open: %v, %v", ids, err)
	}
	d, err := flows.LoadJSON([]byte(lifeDef))
	if err != nil {
		t.Fatal(err)
	}
	again, err := mob.Create(ctx, d, f.cfg)
	if err != nil {
		t.Fatalf("Create after the interrupted destroy: %v", err)
	}
	again.Close()
}

func TestEventsCursor(t *testing.T) {
	t.Parallel()
	f, ctx := spawnedFixture(t, recoverDef, "lead", "analyst", "analyst")
	m := f.mob
	all := allEvents(t, ctx, m)
	// created, 3 spawned, 2 wired (analysts to the lead)
	if len(all) != 6 {
		t.Fatalf("events %v", types(all))
	}
	checkCursors(t, all)
	for _, ev := range all {
		if ev.Mob != "rec" || ev.At.IsZero() || ev.Cursor == 0 {
			t.Fatalf("event %+v", ev)
		}
	}
	for after := range all {
		for _, limit := range []int{0, 1, 2} {
			got, err := m.Events(ctx, all[after].Cursor, limit)
			if err != nil {
				t.Fatal(err)
			}
			want := all[after+1:]
			if limit > 0 && len(want) > limit {
				want = want[:limit]
			}
			if len(got) != len(want) {
				t.Fatalf("Events(after %d, limit %d) = %v, want %v", all[after].Cursor, limit, types(got), types(want))
			}
			for i := range got {
				if got[i].Cursor != want[i].Cursor || got[i].Type != want[i].Type || got[i].Member != want[i].Member {
					t.Fatalf("Events(after %d, limit %d)[%d] = %+v, want %+v", all[after].Cursor, limit, i, got[i], want[i])
				}
			}
		}
	}
}

func TestSubscribeResumesFromCursor(t *testing.T) {
	t.Parallel()
	f, ctx := spawnedFixture(t, recoverDef, "lead", "analyst")
	m := f.mob

	// First connection: read two of the journalled events and leave.
	var seen []mob.Event
	for ev, err := range m.Subscribe(ctx, 0) {
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, ev)
		if len(seen) == 2 {
			break
		}
	}

	// Events go on being journalled while nobody listens, and while the
	// second connection listens.
	produced := make(chan error, 1)
	go func() {
		for range 4 {
			if _, err := m.Spawn(ctx, mob.SpawnSpec{Profile: "analyst"}); err != nil {
				produced <- err
				return
			}
		}
		produced <- m.Stop(ctx)
	}()

	// Second connection: from the last cursor, until its context ends.
	sctx, cancel := context.WithCancel(ctx)
	for ev, err := range m.Subscribe(sctx, seen[len(seen)-1].Cursor) {
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("second subscription ended with %v", err)
			}
			break
		}
		seen = append(seen, ev)
		if len(seen) == 6 {
			cancel()
		}
	}
	cancel()
	if err := <-produced; err != nil {
		t.Fatal(err)
	}

	// Third connection: from the last cursor to the mob_stopped event.
	for ev, err := range m.Subscribe(ctx, seen[len(seen)-1].Cursor) {
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, ev)
		if ev.Type == mob.EventMobStopped {
			break
		}
	}

	all := allEvents(t, ctx, m)
	if len(seen) != len(all) {
		t.Fatalf("subscriber saw %d events, journal has %d:\n%v\n%v", len(seen), len(all), types(seen), types(all))
	}
	for i := range all {
		if seen[i].Cursor != all[i].Cursor || seen[i].Type != all[i].Type {
			t.Fatalf("event %d: subscriber saw %d %s, journal has %d %s", i, seen[i].Cursor, seen[i].Type, all[i].Cursor, all[i].Type)
		}
	}
	if all[len(all)-1].Type != mob.EventMobStopped {
		t.Fatalf("last event %s", all[len(all)-1].Type)
	}
}

// A subscription whose context ends yields no more events, even ones it has
// already read: the final pair carries ctx's error.
func TestSubscribeStopsWhenContextEnds(t *testing.T) {
	t.Parallel()
	f, ctx := spawnedFixture(t, recoverDef, "lead", "analyst")
	m := f.mob
	all := allEvents(t, ctx, m)
	if len(all) < 3 {
		t.Fatalf("want at least 3 journalled events, have %v", types(all))
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var seen []mob.Event
	var last error
	for ev, err := range m.Subscribe(sctx, 0) {
		if err != nil {
			last = err
			break
		}
		seen = append(seen, ev)
		cancel() // the rest of the batch is already read
	}
	if len(seen) != 1 || !errors.Is(last, context.Canceled) {
		t.Fatalf("after cancel: saw %v, then %v; want 1 event, then context.Canceled", types(seen), last)
	}
}

func TestSubscribeEndsWhenClosed(t *testing.T) {
	t.Parallel()
	f := newFixture(t, lifeDef)
	ctx := testCtx(t)
	m := f.mob
	errc := make(chan error, 1)
	var got []string
	started := make(chan struct{})
	go func() {
		for ev, err := range m.Subscribe(ctx, 0) {
			if err != nil {
				errc <- err
				return
			}
			got = append(got, ev.Type)
			if len(got) == 1 {
				close(started)
			}
		}
		errc <- nil
	}()
	<-started
	if err := m.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	m.Close()
	if err := <-errc; !errors.Is(err, mob.ErrClosed) {
		t.Fatalf("subscription ended with %v", err)
	}
	if !slices.Equal(got, []string{mob.EventMobCreated, mob.EventMobStopped}) {
		t.Fatalf("subscriber saw %v", got)
	}
	if err := m.Resume(ctx); !errors.Is(err, mob.ErrClosed) {
		t.Fatalf("Resume of a closed mob: %v", err)
	}
	if _, err := m.Spawn(ctx, mob.SpawnSpec{Profile: "worker"}); !errors.Is(err, mob.ErrClosed) {
		t.Fatalf("Spawn in a closed mob: %v", err)
	}
}

func TestCloseAndOpen(t *testing.T) {
	t.Parallel()
	f, ctx := spawnedFixture(t, recoverDef, "lead", "analyst", "analyst")
	m := f.mob
	if err := m.Wire(ctx, "analyst", "analyst-2"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Spawn(ctx, mob.SpawnSpec{Profile: "analyst", Identity: "temp"}); err != nil {
		t.Fatal(err)
	}
	if err := m.Unwire(ctx, "analyst", "analyst-2"); err != nil {
		t.Fatal(err)
	}
	if err := m.Retire(ctx, "temp"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Respawn(ctx, "analyst-2"); err != nil {
		t.Fatal(err)
	}
	run, err := m.RunFlow(ctx, "survey", nil, mob.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if snap, err := run.Wait(ctx); err != nil || snap.Status != mob.RunCompleted {
		t.Fatalf("survey: %+v, %v", snap, err)
	}
	if _, err := m.Send(ctx, "", "analyst", "My name is Ada."); err != nil {
		t.Fatal(err)
	}
	if err := m.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	before := map[string]mob.MemberInfo{}
	for _, id := range m.Members() {
		info, err := m.MemberStatus(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		before[id] = info
	}
	evsBefore := allEvents(t, ctx, m)
	m.Close()
	m.Close() // idempotent

	re, err := mob.Open(ctx, "rec", f.cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(re.Close)
	if re.State() != mob.StateStopped {
		t.Fatalf("reopened mob is %s, want stopped", re.State())
	}
	if got := re.Members(); !slices.Equal(got, []string{"analyst", "analyst-2", "lead"}) {
		t.Fatalf("reopened members %v", got)
	}
	for id, was := range before {
		info, err := re.MemberStatus(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if info.SessionID != was.SessionID || info.Profile != was.Profile || !slices.Equal(info.Peers, was.Peers) || info.Status != "active" ||
			info.Turns != was.Turns {
			t.Fatalf("member %s reopened as %+v, was %+v", id, info, was)
		}
	}
	// The turns counted on: the survey's and the message's; analyst-2's
	// respawn started its count again before the survey.
	for id, want := range map[string]int{"lead": 0, "analyst": 2, "analyst-2": 1} {
		if got := before[id].Turns; got != want {
			t.Errorf("%s answered %d turns before the restart, want %d", id, got, want)
		}
	}
	if got := before["lead"].Peers; !slices.Equal(got, []string{"analyst", "analyst-2"}) {
		t.Fatalf("lead's peers %v", got)
	}
	if got := allEvents(t, ctx, re); len(got) != len(evsBefore) || got[0].Cursor != evsBefore[0].Cursor {
		t.Fatalf("reopened mob's events %v, were %v", types(got), types(evsBefore))
	}

	if err := re.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	// Same session: it remembers.
	a, err := re.Send(ctx, "", "analyst", "What is my name?")
	if err != nil || !strings.Contains(a.Text, "Ada") {
		t.Fatalf("reattached member's answer %+v, %v", a, err)
	}
	// The wiring is back in the actors: wired peers talk, others do not.
	for _, pair := range [][2]string{{"lead", "analyst"}, {"analyst-2", "lead"}} {
		a, err := re.Send(ctx, pair[0], pair[1], "ping")
		if err != nil || !strings.Contains(a.Text, "Message from "+pair[0]) {
			t.Fatalf("Send %s → %s after Open: %+v, %v", pair[0], pair[1], a, err)
		}
	}
	if _, err := re.Send(ctx, "analyst", "analyst-2", "ping"); !errors.Is(err, actors.ErrNotPeer) {
		t.Fatalf("Send between unwired members after Open: %v", err)
	}
	// The reopened mob works as a new one.
	if _, err := re.Spawn(ctx, mob.SpawnSpec{Profile: "analyst"}); err != nil {
		t.Fatal(err)
	}
	if info, err := re.MemberStatus(ctx, "lead"); err != nil || !slices.Contains(info.Peers, "analyst-3") {
		t.Fatalf("lead after a spawn in the reopened mob: %+v, %v", info, err)
	}
	// It cannot be opened twice on one Host.
	if _, err := mob.Open(ctx, "rec", f.cfg); err == nil {
		t.Fatal("a second Open of an open mob succeeded")
	}
}

func TestRecoverListsAll(t *testing.T) {
	t.Parallel()
	f := newFixture(t, recoverDef)
	ctx := testCtx(t)
	if _, err := f.mob.Spawn(ctx, mob.SpawnSpec{Profile: "lead"}); err != nil {
		t.Fatal(err)
	}
	other := strings.Replace(recoverDef, `"id": "rec"`, `"id": "rec-b"`, 1)
	gone := strings.Replace(recoverDef, `"id": "rec"`, `"id": "rec-c"`, 1)
	var mobs []*mob.Mob
	for _, def := range []string{other, gone} {
		d, err := flows.LoadJSON([]byte(def))
		if err != nil {
			t.Fatal(err)
		}
		m, err := mob.Create(ctx, d, f.cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(m.Close)
		mobs = append(mobs, m)
	}
	if _, err := mobs[0].SpawnMany(ctx, []mob.SpawnSpec{{Profile: "lead"}, {Profile: "analyst"}}); err != nil {
		t.Fatal(err)
	}
	if err := mobs[0].Complete(ctx); err != nil {
		t.Fatal(err)
	}
	if err := mobs[1].Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	f.mob.Close()
	mobs[0].Close()

	got, err := mob.Recover(ctx, f.cfg)
	if err != nil {
		t.Fatalf("Recover: %v", err)
	}
	for _, m := range got {
		t.Cleanup(m.Close)
	}
	byID := map[string]*mob.Mob{}
	for _, m := range got {
		byID[m.ID()] = m
	}
	if len(got) != 2 || byID["rec"] == nil || byID["rec-b"] == nil {
		t.Fatalf("Recover returned %d mobs: %v", len(got), byID)
	}
	if s := byID["rec"].State(); s != mob.StateRunning {
		t.Fatalf("rec recovered %s", s)
	}
	if s := byID["rec-b"].State(); s != mob.StateCompleted {
		t.Fatalf("rec-b recovered %s", s)
	}
	if ms := byID["rec-b"].Members(); !slices.Equal(ms, []string{"analyst", "lead"}) {
		t.Fatalf("rec-b recovered members %v", ms)
	}
	if info, err := byID["rec-b"].MemberStatus(ctx, "analyst"); err != nil || !slices.Equal(info.Peers, []string{"lead"}) || info.Status != "active" {
		t.Fatalf("rec-b's analyst: %+v, %v", info, err)
	}
	for _, id := range []string{"rec-c", "nope"} {
		if _, err := mob.Open(ctx, id, f.cfg); !errors.Is(err, mob.ErrMobNotFound) {
			t.Fatalf("Open(%q): %v, want ErrMobNotFound", id, err)
		}
	}
}

// spawnedFixture is newFixture with one member spawned per profile given,
// and the test's context.
func spawnedFixture(t *testing.T, def string, profiles ...string) (*fixture, context.Context) {
	t.Helper()
	f := newFixture(t, def)
	ctx := testCtx(t)
	specs := make([]mob.SpawnSpec, len(profiles))
	for i, p := range profiles {
		specs[i].Profile = p
	}
	if _, err := f.mob.SpawnMany(ctx, specs); err != nil {
		t.Fatal(err)
	}
	return f, ctx
}

// A timer of a run goes on across Close and Open from where it was: an
// approval waiting 40s of its 60s before the mob closed times out 20s
// after it is opened again, not 60s.
func TestTimersGoOnAcrossOpen(t *testing.T) {
	t.Parallel()
	f := newFixture(t, `{"id": "timers", "profiles": {"w": {"model": "sim-model"}},
		"flows": {"f": {"steps": {"sign": {"message": "ship?", "timeout_ms": 60000, "mobd": {"approval": {}}}}}}}`)
	ctx := testCtx(t)
	clock := supervisiontest.NewFakeClock(time.Unix(1_700_000_000, 0))
	cfg := f.cfg
	cfg.Clock = clock
	f.mob.Close()
	m, err := mob.Open(ctx, "timers", cfg)
	if err != nil {
		t.Fatal(err)
	}
	run, err := m.RunFlow(ctx, "f", nil, mob.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	clock.BlockUntil(1) // the approval's timer
	clock.Advance(40 * time.Second)
	m.Close()

	re, err := mob.Open(ctx, "timers", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(re.Close)
	r, err := re.Run(ctx, run.ID())
	if err != nil {
		t.Fatal(err)
	}
	clock.BlockUntil(1)
	clock.Advance(20*time.Second - time.Millisecond)
	if st := r.Status(); st.Status.Terminal() {
		t.Fatalf("the approval timed out early: %+v", st)
	}
	clock.Advance(time.Millisecond)
	if _, err := r.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if out := string(r.Output("sign")); !strings.Contains(out, `"by":"timeout"`) {
		t.Fatalf("sign's output %s, want the decision of its timeout", out)
	}
}
