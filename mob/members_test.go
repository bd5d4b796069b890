package mob_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"

	"github.com/mobd-dev/mobd/actors"
	"github.com/mobd-dev/mobd/flows"
	"github.com/mobd-dev/mobd/journal"
	"github.com/mobd-dev/mobd/mob"
	"github.com/mobd-dev/mobd/rpc"
)

// teamDef has four profiles and no wiring rules.
const teamDef = `{
  "id": "team",
  "profiles": {
    "lead": {"model": "sim-model", "peer_description": "plans"},
    "writer": {"model": "sim-model", "peer_description": "writes"},
    "reviewer": {"model": "sim-model", "peer_description": "reviews"},
    "other": {"model": "sim-model"}
  }
}`

// autoDef wires the orchestrator to everyone and writers to reviewers.
const autoDef = `{
  "id": "auto",
  "orchestrator": {"profile": "lead"},
  "profiles": {
    "lead": {"model": "sim-model"},
    "writer": {"model": "sim-model"},
    "reviewer": {"model": "sim-model"},
    "other": {"model": "sim-model"}
  },
  "wiring": {"auto_wire_orchestrator": true, "role_wiring": [{"a": "writer", "b": "reviewer"}]}
}`

// topologyDef lets leads and workers talk both ways, and forbids workers
// to talk to each other (and anything to or from auditors, by having no
// rule for them). Workers are wired to each other by the wiring rules.
const topologyDef = `{
  "id": "topo",
  "profiles": {
    "lead": {"model": "sim-model"},
    "worker": {"model": "sim-model"},
    "auditor": {"model": "sim-model"}
  },
  "wiring": {"role_wiring": [{"a": "worker", "b": "worker"}]},
  "topology": {"mode": "MODE", "rules": [
    {"from_role": "lead", "to_role": "worker", "allowed": true},
    {"from_role": "worker", "to_role": "lead", "allowed": true},
    {"from_role": "worker", "to_role": "worker", "allowed": false}
  ]}
}`

// peersDef is the mob of the peer tool test: strict topology that forbids
// worker-to-worker messages, no wiring rules.
const peersDef = `{
  "id": "peers",
  "profiles": {
    "lead": {"model": "sim-model", "peer_description": "plans"},
    "worker": {"model": "sim-model", "peer_description": "works"}
  },
  "topology": {"mode": "strict", "rules": [
    {"from_role": "lead", "to_role": "worker", "allowed": true},
    {"from_role": "worker", "to_role": "lead", "allowed": true}
  ]}
}`

// newToolFixture is newFixture with the peer tool: its engine's runtimes
// have a Directory's tool registered, and its mob is in the directory.
func newToolFixture(t testing.TB, def string) *fixture {
	t.Helper()
	d, err := flows.LoadJSON([]byte(def))
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	dir := mob.NewDirectory()
	e, err := actors.Start(ctx, actors.Config{
		PoolSize: 1, BinaryPath: simBin, StateRoot: t.TempDir(), Tools: []rpc.Tool{dir.Tool()},
		Logger: zaptest.NewLogger(t, zaptest.Level(zapcore.WarnLevel)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Shutdown(context.Background()) })
	j, err := journal.Open(ctx, ":memory:", journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	cfg := mob.Config{Host: mob.EngineHost(e), Journal: j, Directory: dir,
		Logger: zaptest.NewLogger(t, zaptest.Level(zapcore.WarnLevel))}
	m, err := mob.Create(ctx, d, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	if dir.Mob(d.ID) != m {
		t.Fatalf("directory does not list mob %s", d.ID)
	}
	return &fixture{engine: e, journal: j, mob: m, cfg: cfg}
}

// spawnAll spawns members of the profiles, in order.
func spawnAll(t testing.TB, ctx context.Context, m *mob.Mob, profiles ...string) {
	t.Helper()
	for _, p := range profiles {
		if _, err := m.Spawn(ctx, mob.SpawnSpec{Profile: p}); err != nil {
			t.Fatalf("spawn %s: %v", p, err)
		}
	}
}

// peersOf returns a member's peers, from the mob and from its actor.
func peersOf(t testing.TB, ctx context.Context, f *fixture, id string) []string {
	t.Helper()
	info, err := f.mob.MemberStatus(ctx, id)
	if err != nil {
		t.Fatalf("status of %s: %v", id, err)
	}
	ref := f.engine.Member(f.mob.ID() + "/" + id)
	if ref == nil {
		t.Fatalf("member %s is not on the engine", id)
	}
	st, err := ref.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var actorPeers []string
	for _, p := range st.Peers {
		actorPeers = append(actorPeers, strings.TrimPrefix(p, f.mob.ID()+"/"))
	}
	if !slices.Equal(info.Peers, actorPeers) && !(len(info.Peers) == 0 && len(actorPeers) == 0) {
		t.Fatalf("%s: the mob has peers %v, its actor %v", id, info.Peers, actorPeers)
	}
	return info.Peers
}

func wantPeers(t testing.TB, ctx context.Context, f *fixture, id string, want ...string) {
	t.Helper()
	if got := peersOf(t, ctx, f, id); !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
		t.Fatalf("peers of %s = %v, want %v", id, got, want)
	}
}

func TestSpawnIdentities(t *testing.T) {
	t.Parallel()
	f := newFixture(t, teamDef)
	ctx := testCtx(t)
	m := f.mob
	sessions := map[string]bool{}
	for i, want := range []string{"writer", "writer-2", "writer-3"} {
		info, err := m.Spawn(ctx, mob.SpawnSpec{Profile: "writer"})
		if err != nil {
			t.Fatal(err)
		}
		if info.Identity != want || info.Profile != "writer" || info.Status != "active" || info.SessionID == "" || len(info.Peers) != 0 {
			t.Fatalf("spawn %d: %+v", i, info)
		}
		sessions[info.SessionID] = true
	}
	infos, err := m.SpawnMany(ctx, []mob.SpawnSpec{
		{Profile: "reviewer"},
		{Profile: "reviewer", Identity: "rev-b", Prompt: "My name is Zed."},
		{Profile: "other"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, info := range infos {
		ids = append(ids, info.Identity)
		sessions[info.SessionID] = true
	}
	if !slices.Equal(ids, []string{"reviewer", "rev-b", "other"}) || len(sessions) != 6 {
		t.Fatalf("SpawnMany: %+v", infos)
	}
	// The spawn's prompt was the session's first turn.
	if a, err := m.Send(ctx, "", "rev-b", "What is my name?"); err != nil || !strings.Contains(a.Text, "Zed") {
		t.Fatalf("rev-b: %+v, %v", a, err)
	}

	// SpawnMany stops at the first failure.
	infos, err = m.SpawnMany(ctx, []mob.SpawnSpec{{Profile: "other"}, {Profile: "ghost"}, {Profile: "other"}})
	if !errors.Is(err, mob.ErrUnknownProfile) || len(infos) != 1 || infos[0].Identity != "other-2" {
		t.Fatalf("SpawnMany with an unknown profile: %+v, %v", infos, err)
	}
	if _, err := m.Spawn(ctx, mob.SpawnSpec{Profile: "writer", Identity: "writer-2"}); !errors.Is(err, mob.ErrDuplicateMember) {
		t.Fatalf("duplicate identity: %v", err)
	}
	for _, bad := range []string{"a/b", "a b"} {
		if _, err := m.Spawn(ctx, mob.SpawnSpec{Profile: "writer", Identity: bad}); err == nil {
			t.Fatalf("identity %q accepted", bad)
		}
	}
	want := []string{"other", "other-2", "rev-b", "reviewer", "writer", "writer-2", "writer-3"}
	if got := m.Members(); !slices.Equal(got, want) {
		t.Fatalf("members %v, want %v", got, want)
	}

	// One member_spawned per member, with its role and session.
	spawned := ofTypes(allEvents(t, ctx, m), mob.EventMemberSpawned)
	if len(spawned) != len(want) {
		t.Fatalf("member_spawned events %v", spawned)
	}
	for _, ev := range spawned {
		info, err := m.MemberStatus(ctx, ev.Member)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Role != info.Profile || ev.SessionID != info.SessionID {
			t.Fatalf("event %+v for member %+v", ev, info)
		}
	}
}

func TestEnsure(t *testing.T) {
	t.Parallel()
	f := newFixture(t, teamDef)
	ctx := testCtx(t)
	m := f.mob
	first, err := m.Ensure(ctx, mob.SpawnSpec{Profile: "writer"})
	if err != nil {
		t.Fatal(err)
	}
	if first.Identity != "writer" {
		t.Fatalf("Ensure: %+v", first)
	}
	again, err := m.Ensure(ctx, mob.SpawnSpec{Profile: "writer"})
	if err != nil {
		t.Fatal(err)
	}
	if again.SessionID != first.SessionID || again.Identity != "writer" {
		t.Fatalf("second Ensure %+v, first %+v", again, first)
	}
	named, err := m.Ensure(ctx, mob.SpawnSpec{Profile: "writer", Identity: "scribe"})
	if err != nil || named.Identity != "scribe" || named.SessionID == first.SessionID {
		t.Fatalf("Ensure with an identity: %+v, %v", named, err)
	}
	if again, err := m.Ensure(ctx, mob.SpawnSpec{Profile: "writer", Identity: "scribe"}); err != nil || again.SessionID != named.SessionID {
		t.Fatalf("second Ensure with an identity: %+v, %v", again, err)
	}
	if _, err := m.Ensure(ctx, mob.SpawnSpec{Profile: "reviewer", Identity: "writer"}); !errors.Is(err, mob.ErrDuplicateMember) {
		t.Fatalf("Ensure with another profile: %v", err)
	}
	if _, err := m.Ensure(ctx, mob.SpawnSpec{Profile: "ghost"}); !errors.Is(err, mob.ErrUnknownProfile) {
		t.Fatalf("Ensure of an unknown profile: %v", err)
	}
	if n := len(ofTypes(allEvents(t, ctx, m), mob.EventMemberSpawned)); n != 2 {
		t.Fatalf("%d member_spawned events, want 2", n)
	}
	if got := m.Members(); !slices.Equal(got, []string{"scribe", "writer"}) {
		t.Fatalf("members %v", got)
	}
}

func TestWireUnwireAndSend(t *testing.T) {
	t.Parallel()
	f := newFixture(t, teamDef)
	ctx := testCtx(t)
	m := f.mob
	spawnAll(t, ctx, m, "writer", "reviewer", "other")

	// From outside the mob: the body is the prompt.
	a, err := m.Send(ctx, "", "writer", "echo: hello")
	if err != nil || a.Text != "hello" || a.Identity != "team/writer" || a.SessionID == "" {
		t.Fatalf("Send from outside: %+v, %v", a, err)
	}
	if _, err := m.Send(ctx, "writer", "reviewer", "hi"); !errors.Is(err, actors.ErrNotPeer) {
		t.Fatalf("Send between unwired members: %v", err)
	}

	mark := allEvents(t, ctx, m)
	if err := m.Wire(ctx, "writer", "reviewer"); err != nil {
		t.Fatal(err)
	}
	if err := m.Wire(ctx, "reviewer", "writer"); err != nil { // already wired: nothing to do
		t.Fatal(err)
	}
	evs, err := m.Events(ctx, mark[len(mark)-1].Cursor, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Type != mob.EventMembersWired || evs[0].Member != "writer" || evs[0].Peer != "reviewer" || evs[0].Reason != "" {
		t.Fatalf("events of Wire: %+v", evs)
	}
	wantPeers(t, ctx, f, "writer", "reviewer")
	wantPeers(t, ctx, f, "reviewer", "writer")
	wantPeers(t, ctx, f, "other")

	// From a wired member, both ways.
	a, err = m.Send(ctx, "writer", "reviewer", "please review chapter one")
	if err != nil || !strings.Contains(a.Text, "Message from writer (writer): please review chapter one") || a.Identity != "team/reviewer" {
		t.Fatalf("Send writer → reviewer: %+v, %v", a, err)
	}
	a, err = m.Send(ctx, "reviewer", "writer", "looks good")
	if err != nil || !strings.Contains(a.Text, "Message from reviewer (reviewer): looks good") {
		t.Fatalf("Send reviewer → writer: %+v, %v", a, err)
	}
	if _, err := m.Send(ctx, "other", "writer", "hi"); !errors.Is(err, actors.ErrNotPeer) {
		t.Fatalf("Send from an unwired member: %v", err)
	}
	if _, err := m.Send(ctx, "ghost", "writer", "hi"); !errors.Is(err, mob.ErrMemberNotFound) {
		t.Fatalf("Send from an unknown member: %v", err)
	}
	if _, err := m.Send(ctx, "", "ghost", "hi"); !errors.Is(err, mob.ErrMemberNotFound) {
		t.Fatalf("Send to an unknown member: %v", err)
	}

	info, err := m.MemberStatus(ctx, "reviewer")
	if err != nil {
		t.Fatal(err)
	}
	if info.Turns != 1 || info.Pending != 0 || info.Status != "active" || info.Profile != "reviewer" {
		t.Fatalf("reviewer: %+v", info)
	}
	if info, err := m.MemberStatus(ctx, "writer"); err != nil || info.Turns != 2 {
		t.Fatalf("writer: %+v, %v", info, err)
	}
	if _, err := m.MemberStatus(ctx, "ghost"); !errors.Is(err, mob.ErrMemberNotFound) {
		t.Fatalf("status of an unknown member: %v", err)
	}

	if err := m.Wire(ctx, "writer", "writer"); err == nil {
		t.Fatal("a member was wired to itself")
	}
	if err := m.Wire(ctx, "writer", "ghost"); !errors.Is(err, mob.ErrMemberNotFound) {
		t.Fatalf("Wire to an unknown member: %v", err)
	}

	mark = allEvents(t, ctx, m)
	if err := m.Unwire(ctx, "reviewer", "writer"); err != nil {
		t.Fatal(err)
	}
	if err := m.Unwire(ctx, "reviewer", "writer"); err != nil { // not wired: nothing to do
		t.Fatal(err)
	}
	evs, err = m.Events(ctx, mark[len(mark)-1].Cursor, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Type != mob.EventMembersUnwired || evs[0].Member != "reviewer" || evs[0].Peer != "writer" {
		t.Fatalf("events of Unwire: %+v", evs)
	}
	wantPeers(t, ctx, f, "writer")
	wantPeers(t, ctx, f, "reviewer")
	if _, err := m.Send(ctx, "writer", "reviewer", "hi"); !errors.Is(err, actors.ErrNotPeer) {
		t.Fatalf("Send after Unwire: %v", err)
	}
	if err := m.Unwire(ctx, "writer", "ghost"); !errors.Is(err, mob.ErrMemberNotFound) {
		t.Fatalf("Unwire from an unknown member: %v", err)
	}
}

func TestRetire(t *testing.T) {
	t.Parallel()
	f := newFixture(t, teamDef)
	ctx := testCtx(t)
	m := f.mob
	spawnAll(t, ctx, m, "writer", "reviewer", "other")
	for _, p := range []string{"reviewer", "other"} {
		if err := m.Wire(ctx, "writer", p); err != nil {
			t.Fatal(err)
		}
	}
	old, err := m.MemberStatus(ctx, "writer")
	if err != nil {
		t.Fatal(err)
	}
	mark := allEvents(t, ctx, m)
	if err := m.Retire(ctx, "writer"); err != nil {
		t.Fatal(err)
	}
	evs, err := m.Events(ctx, mark[len(mark)-1].Cursor, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{mob.EventMemberRetirementStarted, mob.EventMembersUnwired, mob.EventMembersUnwired, mob.EventMemberRetired}
	if got := types(evs); !slices.Equal(got, want) {
		t.Fatalf("events of Retire %v, want %v", got, want)
	}
	if last := evs[len(evs)-1]; last.Member != "writer" || last.Role != "writer" || last.SessionID != old.SessionID {
		t.Fatalf("member_retired %+v", last)
	}
	if got := m.Members(); !slices.Equal(got, []string{"other", "reviewer"}) {
		t.Fatalf("members after Retire %v", got)
	}
	if f.engine.Member("team/writer") != nil {
		t.Fatal("the retired member's actor is still on the engine")
	}
	wantPeers(t, ctx, f, "reviewer")
	wantPeers(t, ctx, f, "other")
	if _, err := m.Send(ctx, "", "writer", "hi"); !errors.Is(err, mob.ErrMemberNotFound) {
		t.Fatalf("Send to a retired member: %v", err)
	}
	if _, err := m.Send(ctx, "writer", "reviewer", "hi"); !errors.Is(err, mob.ErrMemberNotFound) {
		t.Fatalf("Send from a retired member: %v", err)
	}
	if err := m.Retire(ctx, "writer"); !errors.Is(err, mob.ErrMemberNotFound) {
		t.Fatalf("Retire twice: %v", err)
	}
	if _, err := m.MemberStatus(ctx, "writer"); !errors.Is(err, mob.ErrMemberNotFound) {
		t.Fatalf("status of a retired member: %v", err)
	}
	if _, err := m.Respawn(ctx, "writer"); !errors.Is(err, mob.ErrMemberNotFound) {
		t.Fatalf("Respawn of a retired member: %v", err)
	}
	// The identity is free again; the new member has a new session.
	info, err := m.Spawn(ctx, mob.SpawnSpec{Profile: "writer"})
	if err != nil || info.Identity != "writer" || info.SessionID == old.SessionID || len(info.Peers) != 0 {
		t.Fatalf("Spawn after Retire: %+v, %v", info, err)
	}
	// A member can be retired while the mob is stopped.
	if err := m.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Retire(ctx, "other"); err != nil {
		t.Fatalf("Retire in a stopped mob: %v", err)
	}
}

func TestRespawn(t *testing.T) {
	t.Parallel()
	f := newFixture(t, teamDef)
	ctx := testCtx(t)
	m := f.mob
	spawnAll(t, ctx, m, "writer", "reviewer", "other")
	if err := m.Wire(ctx, "writer", "reviewer"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Send(ctx, "", "writer", "My name is Ada."); err != nil {
		t.Fatal(err)
	}
	old, err := m.MemberStatus(ctx, "writer")
	if err != nil {
		t.Fatal(err)
	}
	info, err := m.Respawn(ctx, "writer")
	if err != nil {
		t.Fatal(err)
	}
	if info.SessionID == old.SessionID || info.SessionID == "" || info.Identity != "writer" || info.Profile != "writer" ||
		!slices.Equal(info.Peers, []string{"reviewer"}) || info.Status != "active" || info.Turns != 0 {
		t.Fatalf("respawned %+v, was %+v", info, old)
	}
	last := allEvents(t, ctx, m)
	ev := last[len(last)-1]
	if ev.Type != mob.EventMemberRespawned || ev.Member != "writer" || ev.SessionID != info.SessionID || ev.Role != "writer" {
		t.Fatalf("last event %+v", ev)
	}
	wantPeers(t, ctx, f, "writer", "reviewer")
	wantPeers(t, ctx, f, "reviewer", "writer")
	// A fresh session: it does not remember.
	if a, err := m.Send(ctx, "", "writer", "What is my name?"); err != nil || strings.Contains(a.Text, "Ada") {
		t.Fatalf("respawned member's answer %+v, %v", a, err)
	}
	// Still wired both ways, in the actors too.
	for _, pair := range [][2]string{{"writer", "reviewer"}, {"reviewer", "writer"}} {
		if a, err := m.Send(ctx, pair[0], pair[1], "hi"); err != nil || !strings.Contains(a.Text, "Message from "+pair[0]) {
			t.Fatalf("Send %s → %s after Respawn: %+v, %v", pair[0], pair[1], a, err)
		}
	}
	if _, err := m.Send(ctx, "other", "writer", "hi"); !errors.Is(err, actors.ErrNotPeer) {
		t.Fatalf("Send from an unwired member after Respawn: %v", err)
	}
	if _, err := m.Respawn(ctx, "ghost"); !errors.Is(err, mob.ErrMemberNotFound) {
		t.Fatalf("Respawn of an unknown member: %v", err)
	}
}

func TestAutoWiring(t *testing.T) {
	t.Parallel()
	f := newFixture(t, autoDef)
	ctx := testCtx(t)
	m := f.mob
	// The writer comes before the orchestrator: it is wired when the lead
	// is spawned.
	spawnAll(t, ctx, m, "writer", "lead", "reviewer", "other", "writer")
	wantPeers(t, ctx, f, "lead", "other", "reviewer", "writer", "writer-2")
	wantPeers(t, ctx, f, "writer", "lead", "reviewer")
	wantPeers(t, ctx, f, "writer-2", "lead", "reviewer")
	wantPeers(t, ctx, f, "reviewer", "lead", "writer", "writer-2")
	wantPeers(t, ctx, f, "other", "lead")
	wired := ofTypes(allEvents(t, ctx, m), mob.EventMembersWired)
	if len(wired) != 6 {
		t.Fatalf("%d members_wired events: %+v", len(wired), wired)
	}
	for _, ev := range wired {
		if ev.Reason != "wiring rules" {
			t.Fatalf("members_wired %+v", ev)
		}
	}
	if _, err := m.Send(ctx, "other", "writer", "hi"); !errors.Is(err, actors.ErrNotPeer) {
		t.Fatalf("Send between members the rules do not wire: %v", err)
	}
	if a, err := m.Send(ctx, "other", "lead", "hi"); err != nil || !strings.Contains(a.Text, "Message from other (other): hi") {
		t.Fatalf("Send to the orchestrator: %+v, %v", a, err)
	}
}

func TestTopologyStrict(t *testing.T) {
	t.Parallel()
	f := newFixture(t, strings.Replace(topologyDef, "MODE", "strict", 1))
	ctx := testCtx(t)
	m := f.mob
	spawnAll(t, ctx, m, "lead", "worker", "worker", "auditor")
	// The wiring rules' worker pair is forbidden: not wired, and recorded.
	wantPeers(t, ctx, f, "worker")
	wantPeers(t, ctx, f, "worker-2")
	violations := ofTypes(allEvents(t, ctx, m), mob.EventTopologyViolation)
	if len(violations) != 1 || violations[0].Member != "worker-2" || violations[0].Peer != "worker" || violations[0].Class != "strict" {
		t.Fatalf("violations of the wiring rules: %+v", violations)
	}

	mark := allEvents(t, ctx, m)
	for _, pair := range [][2]string{{"worker", "worker-2"}, {"lead", "auditor"}, {"auditor", "worker"}} {
		if err := m.Wire(ctx, pair[0], pair[1]); !errors.Is(err, mob.ErrTopology) {
			t.Fatalf("Wire %s – %s: %v, want ErrTopology", pair[0], pair[1], err)
		}
	}
	evs, err := m.Events(ctx, mark[len(mark)-1].Cursor, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := types(evs); !slices.Equal(got, []string{mob.EventTopologyViolation, mob.EventTopologyViolation, mob.EventTopologyViolation}) {
		t.Fatalf("events of forbidden wirings: %v", got)
	}
	if evs[0].Member != "worker" || evs[0].Peer != "worker-2" || evs[0].Role != "worker" || !strings.Contains(evs[0].Reason, "wire") {
		t.Fatalf("violation %+v", evs[0])
	}
	wantPeers(t, ctx, f, "auditor")

	// What the rules allow is wired.
	if err := m.Wire(ctx, "lead", "worker"); err != nil {
		t.Fatal(err)
	}
	if a, err := m.Send(ctx, "worker", "lead", "done"); err != nil || !strings.Contains(a.Text, "Message from worker (worker): done") {
		t.Fatalf("allowed Send: %+v, %v", a, err)
	}
	mark = allEvents(t, ctx, m)
	if _, err := m.Send(ctx, "worker", "worker-2", "psst"); !errors.Is(err, mob.ErrTopology) {
		t.Fatalf("forbidden Send: %v", err)
	}
	evs, err = m.Events(ctx, mark[len(mark)-1].Cursor, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Type != mob.EventTopologyViolation || !strings.Contains(evs[0].Reason, "message") {
		t.Fatalf("events of a forbidden Send: %+v", evs)
	}
}

func TestTopologyAdvisory(t *testing.T) {
	t.Parallel()
	f := newFixture(t, strings.Replace(topologyDef, "MODE", "advisory", 1))
	ctx := testCtx(t)
	m := f.mob
	spawnAll(t, ctx, m, "lead", "worker", "worker", "auditor")
	// Wired by the rules despite the topology, and recorded.
	wantPeers(t, ctx, f, "worker", "worker-2")
	violations := ofTypes(allEvents(t, ctx, m), mob.EventTopologyViolation)
	if len(violations) == 0 || violations[0].Class != "advisory" {
		t.Fatalf("violations of the wiring rules: %+v", violations)
	}
	if err := m.Wire(ctx, "lead", "auditor"); err != nil {
		t.Fatalf("advisory Wire: %v", err)
	}
	wantPeers(t, ctx, f, "auditor", "lead")

	mark := allEvents(t, ctx, m)
	a, err := m.Send(ctx, "worker", "worker-2", "psst")
	if err != nil || !strings.Contains(a.Text, "Message from worker (worker): psst") {
		t.Fatalf("advisory Send: %+v, %v", a, err)
	}
	evs, err := m.Events(ctx, mark[len(mark)-1].Cursor, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].Type != mob.EventTopologyViolation || evs[0].Member != "worker" || evs[0].Peer != "worker-2" ||
		evs[0].Class != "advisory" || !strings.Contains(evs[0].Reason, "message from role worker to role worker") ||
		evs[1].Type != mob.EventMemberMessage || evs[1].Member != "worker" || evs[1].Peer != "worker-2" || evs[1].Text != "psst" {
		t.Fatalf("events of an advisory violation: %+v", evs)
	}
	// An allowed message records only itself.
	if err := m.Wire(ctx, "lead", "worker"); err != nil {
		t.Fatal(err)
	}
	mark = allEvents(t, ctx, m)
	if _, err := m.Send(ctx, "lead", "worker", "go"); err != nil {
		t.Fatal(err)
	}
	if evs, err := m.Events(ctx, mark[len(mark)-1].Cursor, 0); err != nil || len(evs) != 1 || evs[0].Type != mob.EventMemberMessage {
		t.Fatalf("events of an allowed Send: %+v, %v", evs, err)
	}
}

// toolPrompt makes the sim's model call the peer tool with args.
func toolPrompt(t testing.TB, args map[string]string, rest string) string {
	t.Helper()
	raw, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("[[sim:tool %s %s]] %s", mob.PeerToolName, raw, rest)
}

func TestPeerTool(t *testing.T) {
	t.Parallel()
	f := newToolFixture(t, peersDef)
	ctx := testCtx(t)
	m := f.mob
	spawnAll(t, ctx, m, "lead", "worker", "worker")
	if err := m.Wire(ctx, "lead", "worker"); err != nil {
		t.Fatal(err)
	}
	mark := allEvents(t, ctx, m)
	after := mark[len(mark)-1].Cursor

	// The lead messages its peer in the middle of a turn that goes on
	// for a while: the peer answers before the lead's turn ends.
	prompt := toolPrompt(t, map[string]string{"mob": "peers", "from": "lead", "to": "worker", "message": "status please"},
		"[[sim:slow 20ms]] count to 40")
	sent := make(chan error, 1)
	var answer *actors.Answer
	go func() {
		var err error
		answer, err = m.Send(ctx, "", "lead", prompt)
		sent <- err
	}()
	ev := waitEvent(t, ctx, m, after, func(ev mob.Event) bool { return ev.Type == mob.EventMemberMessage })
	lead, err := m.MemberStatus(ctx, "lead")
	if err != nil {
		t.Fatal(err)
	}
	if lead.Pending != 1 {
		t.Errorf("the peer answered after the lead's turn: lead %+v", lead)
	}
	var out string
	if err := json.Unmarshal(ev.Output, &out); err != nil {
		t.Fatalf("output %s: %v", ev.Output, err)
	}
	if ev.Member != "lead" || ev.Peer != "worker" || ev.Text != "status please" || ev.Error != "" ||
		!strings.Contains(out, "Message from lead (lead): status please") {
		t.Fatalf("member message %+v (%s)", ev, out)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(answer.Text, "The mob_send_message tool returned: delivered to worker") {
		t.Fatalf("lead's answer %q", answer.Text)
	}
	if info, err := m.MemberStatus(ctx, "worker"); err != nil || info.Turns != 1 {
		t.Fatalf("worker after the message: %+v, %v", info, err)
	}

	// Refused messages are tool errors; the sender's turn completes.
	for _, c := range []struct {
		from, to, mob string
		want          string
	}{
		{"lead", "worker-2", "peers", "not a peer"},              // not wired
		{"worker", "worker-2", "peers", "forbidden by topology"}, // strict topology
		{"worker", "ghost", "peers", "member not found"},         // no such member
		{"lead", "worker", "elsewhere", "mob not found"},         // no such mob
	} {
		a, err := m.Send(ctx, "", c.from, toolPrompt(t,
			map[string]string{"mob": c.mob, "from": c.from, "to": c.to, "message": "hello"}, "echo: finished"))
		if err != nil {
			t.Fatalf("%s → %s: the turn failed: %v", c.from, c.to, err)
		}
		if !strings.Contains(a.Text, "The mob_send_message tool reported an error") || !strings.Contains(a.Text, c.want) ||
			!strings.Contains(a.Text, "finished") {
			t.Fatalf("%s → %s in %s: answer %q, want a tool error with %q", c.from, c.to, c.mob, a.Text, c.want)
		}
	}
	violations := ofTypes(allEvents(t, ctx, m), mob.EventTopologyViolation)
	if len(violations) != 1 || violations[0].Member != "worker" || violations[0].Peer != "worker-2" {
		t.Fatalf("topology violations %+v", violations)
	}
	// Nothing was delivered between members but the first message; the
	// five messages from outside the mob are journalled too.
	time.Sleep(50 * time.Millisecond)
	var between, outside int
	for _, ev := range ofTypes(allEvents(t, ctx, m), mob.EventMemberMessage) {
		if ev.Member == "" {
			outside++
		} else {
			between++
		}
	}
	if between != 1 || outside != 5 {
		t.Fatalf("member messages: %d between members, %d from outside", between, outside)
	}
	if info, err := m.MemberStatus(ctx, "worker-2"); err != nil || info.Turns != 0 {
		t.Fatalf("worker-2: %+v, %v", info, err)
	}
}

func TestSendRacingRespawn(t *testing.T) {
	t.Parallel()
	f := newFixture(t, teamDef)
	ctx := testCtx(t)
	m := f.mob
	spawnAll(t, ctx, m, "writer", "reviewer")
	if err := m.Wire(ctx, "writer", "reviewer"); err != nil {
		t.Fatal(err)
	}
	// Messages sent while the member is respawned reach the old or the new
	// member, or fail because the old one retired; none waits for ever.
	stop := make(chan struct{})
	errc := make(chan error, 2)
	for _, from := range []string{"", "reviewer"} {
		go func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					errc <- nil
					return
				default:
				}
				sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				_, err := m.Send(sctx, from, "writer", fmt.Sprintf("echo: %d", n))
				cancel()
				switch {
				case err == nil, errors.Is(err, actors.ErrMemberRetired), errors.Is(err, mob.ErrMemberGone):
				default:
					errc <- fmt.Errorf("Send %d from %q: %w", n, from, err)
					return
				}
			}
		}()
	}
	sessions := map[string]bool{}
	for range 5 {
		info, err := m.Respawn(ctx, "writer")
		if err != nil {
			t.Fatal(err)
		}
		sessions[info.SessionID] = true
	}
	close(stop)
	for range 2 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	if len(sessions) != 5 {
		t.Fatalf("%d sessions for 5 respawns", len(sessions))
	}
	if a, err := m.Send(ctx, "reviewer", "writer", "hi"); err != nil || !strings.Contains(a.Text, "Message from reviewer") {
		t.Fatalf("Send after the respawns: %+v, %v", a, err)
	}
}

// With spawn_policy auto, a message from outside the mob to an identity
// the profile map names spawns that member, once, and is answered by it;
// other unknown identities, and members' messages, are refused as before.
func TestSpawnPolicyAuto(t *testing.T) {
	t.Parallel()
	f := newFixture(t, `{"id": "auto", "profiles": {"lead": {"model": "sim-model"}, "analyst": {"model": "sim-model"}},
		"spawn_policy": {"mode": "auto", "profile_map": {"helper": "analyst"}}}`)
	ctx := testCtx(t)
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			if a, err := f.mob.Send(ctx, "", "helper", "echo: hello"); err != nil || !strings.Contains(a.Text, "hello") {
				t.Errorf("send to helper = %+v, %v", a, err)
			}
		})
	}
	wg.Wait()
	if members := f.mob.Members(); len(members) != 1 || members[0] != "helper" {
		t.Fatalf("members %v, want helper", members)
	}
	evs, err := f.mob.Events(ctx, 0, 0)
	if err != nil || countType(evs, mob.EventMemberSpawned) != 1 {
		t.Fatalf("%d member_spawned events, %v", countType(evs, mob.EventMemberSpawned), err)
	}
	for _, ev := range evs {
		if ev.Type == mob.EventMemberSpawned && (ev.Member != "helper" || ev.Role != "analyst") {
			t.Errorf("member_spawned %+v, want helper as an analyst", ev)
		}
	}
	if _, err := f.mob.Send(ctx, "", "stranger", "echo: hi"); !errors.Is(err, mob.ErrMemberNotFound) {
		t.Errorf("send to an identity the map does not name: %v, want ErrMemberNotFound", err)
	}
	if _, err := f.mob.Send(ctx, "helper", "helper-2", "echo: hi"); !errors.Is(err, mob.ErrMemberNotFound) {
		t.Errorf("a member's message to an unknown member: %v, want ErrMemberNotFound", err)
	}
}

// A step of a role whose only member is being respawned waits for the
// respawn and goes to the new member, rather than failing for want of
// one.
func TestStepWaitsForRespawn(t *testing.T) {
	t.Parallel()
	f := newFixture(t, `{"id": "resp", "profiles": {"w": {"model": "sim-model"}},
		"flows": {"f": {"steps": {
			"a": {"role": "w", "message": "count to 5 [[sim:slow 20ms]]"},
			"b": {"role": "w", "message": "echo: after {{ steps.a.output }}", "depends_on": ["a"]}}}}}`)
	ctx := testCtx(t)
	if _, err := f.mob.Spawn(ctx, mob.SpawnSpec{Profile: "w"}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		run, err := f.mob.RunFlow(ctx, "f", nil, mob.RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		waitFirstDispatched(t, run)
		// The respawn waits for a's turn; a's answer lets b start meanwhile.
		if _, err := f.mob.Respawn(ctx, "w"); err != nil {
			t.Fatal(err)
		}
		snap, err := run.Wait(ctx)
		if err != nil || snap.Status != mob.RunCompleted {
			t.Fatalf("run %d: %s (%s), %v", i, snap.Status, snap.Reason, err)
		}
	}
}
