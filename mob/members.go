package mob

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/mobd-dev/mobd/actors"
	"github.com/mobd-dev/mobd/flows"
)

// SpawnSpec describes a member to spawn.
type SpawnSpec struct {
	// Profile is the member's profile (its role) in the definition.
	Profile string `json:"profile"`
	// Identity names the member in the mob; default: the profile name,
	// then profile-2, profile-3, … when taken. It must be valid UTF-8 of
	// at most 256 bytes without '/', whitespace or control characters:
	// Spawn refuses others with ErrInvalidArgument.
	Identity string `json:"agent_identity,omitempty"`
	// Prompt is the first turn of the member's session; default: an
	// introduction naming its identity, role and peer description.
	Prompt string `json:"prompt,omitempty"`
}

// MemberInfo is a member's status.
type MemberInfo struct {
	Identity  string   `json:"agent_identity"`
	Profile   string   `json:"profile"`
	SessionID string   `json:"session_id"`
	Peers     []string `json:"peers"`
	// Status is Meerkat's MobMemberStatus: "active", "retiring" or
	// "broken" (its actor does not answer).
	Status string `json:"status"`
	// Turns counts the turns the member answered on its session; a mob
	// reopened after a restart counts on from what its journal holds.
	// Pending counts the asks it accepted and has not answered.
	Turns   int `json:"turns"`
	Pending int `json:"pending"`
}

// qualify returns the engine-wide identity of a mob member.
func (m *Mob) qualify(identity string) string { return m.id + "/" + identity }

// checkIdentity returns an error matching ErrInvalidArgument when id
// cannot name a member: besides what any id must be (see idProblem), an
// identity is qualified with its mob's id and a '/' (qualify) and shown
// in prompts ("Message from <identity> (<role>): …"), so it has no '/'
// and no whitespace. It is a segment of the API's URLs, so idProblem's
// rule refuses "." and "..".
func checkIdentity(id string) error {
	if err := checkID("member identity", id); err != nil {
		return err
	}
	if strings.ContainsFunc(id, func(r rune) bool { return r == '/' || unicode.IsSpace(r) }) {
		return fmt.Errorf("%w: member identity %q must not contain '/' or whitespace", ErrInvalidArgument, id)
	}
	return nil
}

// Spawn spawns a member of a profile, wires it by the definition's wiring
// rules (as topology allows) and journals member_spawned. It fails with
// ErrInvalidArgument for an identity that cannot name a member (see
// SpawnSpec.Identity), ErrUnknownProfile, ErrDuplicateMember, or
// ErrLifecycle unless the mob is running.
func (m *Mob) Spawn(ctx context.Context, spec SpawnSpec) (MemberInfo, error) {
	if spec.Identity != "" {
		if err := checkIdentity(spec.Identity); err != nil {
			return MemberInfo{}, err
		}
	}
	m.mu.Lock()
	if err := m.allowed("spawn", StateRunning); err != nil {
		m.mu.Unlock()
		return MemberInfo{}, err
	}
	prof, ok := m.def.Profiles[spec.Profile]
	if !ok {
		m.mu.Unlock()
		return MemberInfo{}, fmt.Errorf("%w: %q in mob %q", ErrUnknownProfile, spec.Profile, m.id)
	}
	id := spec.Identity
	if id == "" {
		id = spec.Profile
		for n := 2; m.members[id] != nil; n++ {
			id = fmt.Sprintf("%s-%d", spec.Profile, n)
		}
	}
	if err := checkIdentity(id); err != nil { // one made of the profile's name
		m.mu.Unlock()
		return MemberInfo{}, err
	}
	if m.members[id] != nil {
		m.mu.Unlock()
		return MemberInfo{}, fmt.Errorf("%w: %q in mob %q", ErrDuplicateMember, id, m.id)
	}
	mem := &member{identity: id, profile: spec.Profile, peers: make(map[string]bool), retiring: true}
	m.members[id] = mem // reserved while spawning
	m.mu.Unlock()

	handle, err := m.cfg.Host.SpawnMember(ctx, m.memberSpec(id, spec.Profile, prof, spec.Prompt, ""))
	m.mu.Lock()
	if err != nil {
		delete(m.members, id)
		m.mu.Unlock()
		return MemberInfo{}, fmt.Errorf("mob: spawn %q: %w", id, err)
	}
	mem.handle, mem.session, mem.retiring = handle, handle.SessionID(), false
	err = m.emit(&Event{Type: EventMemberSpawned, Member: id, Role: spec.Profile, SessionID: mem.session})
	m.mu.Unlock()
	if err != nil {
		return MemberInfo{}, err
	}
	for _, peer := range m.autoPeers(id, spec.Profile) {
		if err := m.wire(ctx, id, peer, true); err != nil && !errors.Is(err, ErrTopology) {
			return MemberInfo{}, err
		}
	}
	return m.MemberStatus(ctx, id)
}

// autoPeers returns the members a new member is wired to by the wiring
// rules: the orchestrator's members (auto_wire_orchestrator) and the
// members of roles paired with its role.
func (m *Mob) autoPeers(id, profile string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	roles := map[string]bool{}
	w := m.def.Wiring
	if w.AutoWireOrchestrator && m.def.Orchestrator != nil {
		if profile == m.def.Orchestrator.Profile {
			for r := range m.def.Profiles {
				roles[r] = true
			}
		} else {
			roles[m.def.Orchestrator.Profile] = true
		}
	}
	for _, rw := range w.RoleWiring {
		if rw.A == profile {
			roles[rw.B] = true
		}
		if rw.B == profile {
			roles[rw.A] = true
		}
	}
	var out []string
	for _, other := range m.members {
		if other.identity != id && !other.retiring && roles[other.profile] {
			out = append(out, other.identity)
		}
	}
	slices.Sort(out)
	return out
}

// SpawnMany spawns several members, in order; it stops at the first
// failure and returns the members spawned before it.
func (m *Mob) SpawnMany(ctx context.Context, specs []SpawnSpec) ([]MemberInfo, error) {
	out := make([]MemberInfo, 0, len(specs))
	for _, s := range specs {
		info, err := m.Spawn(ctx, s)
		if err != nil {
			return out, err
		}
		out = append(out, info)
	}
	return out, nil
}

// Ensure returns the member with spec.Identity (or the profile's name when
// empty), spawning it if the mob does not have it.
func (m *Mob) Ensure(ctx context.Context, spec SpawnSpec) (MemberInfo, error) {
	id := spec.Identity
	if id == "" {
		id = spec.Profile
	}
	m.mu.Lock()
	mem := m.members[id]
	m.mu.Unlock()
	if mem != nil {
		if mem.profile != spec.Profile {
			return MemberInfo{}, fmt.Errorf("%w: %q has profile %q, not %q", ErrDuplicateMember, id, mem.profile, spec.Profile)
		}
		return m.MemberStatus(ctx, id)
	}
	spec.Identity = id
	info, err := m.Spawn(ctx, spec)
	if errors.Is(err, ErrDuplicateMember) { // spawned concurrently
		return m.MemberStatus(ctx, id)
	}
	return info, err
}

// lookup returns a snapshot of the live member id: a copy of its fields
// as they are now, without its peers, that the caller may read without
// m.mu while Respawn replaces the member's handle and session. m.mu not
// held.
func (m *Mob) lookup(id string) (*member, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mem, err := m.liveLocked(id)
	if err != nil {
		return nil, err
	}
	c := *mem
	c.peers = nil
	return &c, nil
}

// handleOf returns the session and the actor handle of the live member
// id.
func (m *Mob) handleOf(id string) (session string, h Member, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mem, err := m.liveLocked(id)
	if err != nil {
		return "", nil, err
	}
	return mem.session, mem.handle, nil
}

// live returns the live member id itself, whose mutable fields (handle,
// session, peers, retiring) are read and written with m.mu held. m.mu not
// held.
func (m *Mob) live(id string) (*member, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.liveLocked(id)
}

func (m *Mob) liveLocked(id string) (*member, error) {
	mem := m.members[id]
	if mem == nil || mem.handle == nil {
		return nil, fmt.Errorf("%w: %q in mob %q", ErrMemberNotFound, id, m.id)
	}
	return mem, nil
}

// Retire retires a member: it answers what it accepted and stops; it is
// unwired from its peers. Its session stays in the realm.
func (m *Mob) Retire(ctx context.Context, id string) error {
	m.mu.Lock()
	if err := m.allowed("retire", StateRunning, StateStopped, StateCompleted); err != nil {
		m.mu.Unlock()
		return err
	}
	mem, err := m.liveLocked(id)
	if err != nil {
		m.mu.Unlock()
		return err
	}
	if mem.retiring {
		m.mu.Unlock()
		return fmt.Errorf("%w: %q is retiring", ErrMemberNotFound, id)
	}
	mem.retiring = true
	handle := mem.handle
	err = m.emit(&Event{Type: EventMemberRetirementStarted, Member: id, Role: mem.profile})
	peers := slices.Sorted(maps.Keys(mem.peers))
	m.mu.Unlock()
	if err != nil {
		return err
	}
	for _, p := range peers {
		if err := m.Unwire(ctx, id, p); err != nil && !errors.Is(err, ErrMemberNotFound) {
			return err
		}
	}
	if err := handle.Retire(ctx); err != nil && !errors.Is(err, actors.ErrMemberRetired) {
		return fmt.Errorf("mob: retire %q: %w", id, err)
	}
	m.mu.Lock()
	delete(m.members, id)
	err = m.emit(&Event{Type: EventMemberRetired, Member: id, Role: mem.profile, SessionID: mem.session})
	m.mu.Unlock()
	return err
}

// Respawn replaces a member's actor and session with fresh ones, keeping
// its identity, profile and wiring. If the new member cannot be spawned,
// the member is gone (its old actor was retired): that is journalled as
// member_retired and the error returned.
func (m *Mob) Respawn(ctx context.Context, id string) (MemberInfo, error) {
	m.mu.Lock()
	if err := m.allowed("respawn", StateRunning); err != nil {
		m.mu.Unlock()
		return MemberInfo{}, err
	}
	mem, err := m.liveLocked(id)
	if err != nil {
		m.mu.Unlock()
		return MemberInfo{}, err
	}
	if mem.retiring {
		m.mu.Unlock()
		return MemberInfo{}, fmt.Errorf("%w: %q is retiring", ErrMemberNotFound, id)
	}
	mem.retiring, mem.respawning = true, true
	old, oldSession := mem.handle, mem.session
	m.mu.Unlock()
	// Runs that held a step for the member go on, whatever the outcome.
	defer m.nudgeRuns()
	if err := old.Retire(ctx); err != nil && !errors.Is(err, actors.ErrMemberRetired) {
		m.mu.Lock()
		mem.retiring, mem.respawning = false, false
		m.mu.Unlock()
		return MemberInfo{}, fmt.Errorf("mob: respawn %q: retire: %w", id, err)
	}
	handle, err := m.cfg.Host.SpawnMember(ctx, m.memberSpec(id, mem.profile, m.def.Profiles[mem.profile], "", ""))
	if err != nil {
		m.gone(ctx, mem, oldSession, fmt.Sprintf("respawn failed: %v", err))
		return MemberInfo{}, fmt.Errorf("mob: respawn %q: %w", id, err)
	}
	// The new actor is wired before the mob hands it out, so that its
	// peers' messages find it wired.
	m.mu.Lock()
	peers := slices.Sorted(maps.Keys(mem.peers))
	m.mu.Unlock()
	for _, p := range peers {
		if err := m.wireActors(ctx, handle.PID(), id, p); err != nil {
			_ = handle.Retire(ctx) // best effort: the member is gone either way
			m.gone(ctx, mem, oldSession, fmt.Sprintf("respawn failed: %v", err))
			return MemberInfo{}, fmt.Errorf("mob: respawn %q: %w", id, err)
		}
	}
	m.mu.Lock()
	mem.handle, mem.session, mem.retiring, mem.respawning = handle, handle.SessionID(), false, false
	err = m.emit(&Event{Type: EventMemberRespawned, Member: id, Role: mem.profile, SessionID: mem.session})
	m.mu.Unlock()
	if err != nil {
		return MemberInfo{}, err
	}
	return m.MemberStatus(ctx, id)
}

// gone removes a member whose actor is no more (a failed respawn): it is
// unwired from its peers, in the mob and in their actors, and journalled
// as retired.
func (m *Mob) gone(ctx context.Context, mem *member, session, reason string) {
	m.mu.Lock()
	delete(m.members, mem.identity)
	pids := map[string]*actor.PID{}
	for p := range mem.peers {
		if o := m.members[p]; o != nil {
			delete(o.peers, mem.identity)
			if o.handle != nil {
				pids[p] = o.handle.PID()
			}
		}
	}
	if err := m.emit(&Event{Type: EventMemberRetired, Member: mem.identity, Role: mem.profile, SessionID: session, Reason: reason}); err != nil {
		m.log.Warn("journal member retired", errField(err))
	}
	m.mu.Unlock()
	for p, pid := range pids {
		if _, err := request(ctx, m.cfg.Host.System(), pid, &actors.UnwirePeer{Peer: m.qualify(mem.identity)}); err != nil {
			m.log.Warn("unwire a gone member", zap.String("member", p), errField(err))
		}
	}
}

// Wire wires two members to each other. Under strict topology a pair the
// rules forbid is refused with ErrTopology (and a topology_violation
// event); under advisory topology it is wired and the violation recorded.
// Wiring members already wired does nothing; wiring a member to itself
// is refused with ErrInvalidArgument.
func (m *Mob) Wire(ctx context.Context, a, b string) error { return m.wire(ctx, a, b, false) }

func (m *Mob) wire(ctx context.Context, a, b string, auto bool) error {
	if a == b {
		return fmt.Errorf("%w: cannot wire member %q to itself", ErrInvalidArgument, a)
	}
	m.mu.Lock()
	err := m.allowed("wire", StateRunning, StateStopped, StateCompleted)
	m.mu.Unlock()
	if err != nil {
		return err
	}
	ma, err := m.live(a)
	if err != nil {
		return err
	}
	mb, err := m.live(b)
	if err != nil {
		return err
	}
	m.mu.Lock()
	wired := ma.peers[b] && mb.peers[a]
	pa, pb := ma.handle.PID(), mb.handle.PID()
	m.mu.Unlock()
	if wired {
		return nil
	}
	if err := m.checkTopology(ma.profile, mb.profile, a, b, "wire"); err != nil {
		return err
	}
	if err := m.checkTopology(mb.profile, ma.profile, b, a, "wire"); err != nil {
		return err
	}
	if err := m.wireActors(ctx, pa, a, b); err != nil {
		return err
	}
	if err := m.wireActors(ctx, pb, b, a); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	ma.peers[b], mb.peers[a] = true, true
	reason := ""
	if auto {
		reason = "wiring rules"
	}
	err = m.emit(&Event{Type: EventMembersWired, Member: a, Peer: b, Reason: reason})
	return err
}

// wireActors wires peer into the actor pid of member id.
func (m *Mob) wireActors(ctx context.Context, pid *actor.PID, id, peer string) error {
	r, err := request(ctx, m.cfg.Host.System(), pid, &actors.WirePeer{Peer: m.qualify(peer)})
	if err != nil {
		return fmt.Errorf("mob: wire %q to %q: %w", id, peer, err)
	}
	if st, ok := r.(*actors.MemberState); ok && st.Error != nil {
		return fmt.Errorf("mob: wire %q to %q: %w", id, peer, st.Error.Err())
	}
	return nil
}

// Unwire removes the wiring between two members. Unwiring members that
// are not wired does nothing; b may be a member that is gone as long as a
// is still wired to it.
func (m *Mob) Unwire(ctx context.Context, a, b string) error {
	m.mu.Lock()
	if err := m.allowed("unwire", StateRunning, StateStopped, StateCompleted); err != nil {
		m.mu.Unlock()
		return err
	}
	ma, err := m.liveLocked(a)
	if err != nil {
		m.mu.Unlock()
		return err
	}
	_, berr := m.liveLocked(b)
	wired := ma.peers[b]
	m.mu.Unlock()
	if !wired {
		return berr
	}
	for _, pair := range [][2]string{{a, b}, {b, a}} {
		m.mu.Lock()
		mem, err := m.liveLocked(pair[0])
		var pid *actor.PID
		if err == nil {
			pid = mem.handle.PID()
		}
		m.mu.Unlock()
		if err != nil {
			continue
		}
		r, err := request(ctx, m.cfg.Host.System(), pid, &actors.UnwirePeer{Peer: m.qualify(pair[1])})
		if err != nil {
			return fmt.Errorf("mob: unwire %q from %q: %w", pair[0], pair[1], err)
		}
		if st, ok := r.(*actors.MemberState); ok && st.Error != nil {
			return fmt.Errorf("mob: unwire %q from %q: %w", pair[0], pair[1], st.Error.Err())
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(ma.peers, b)
	if mb := m.members[b]; mb != nil {
		delete(mb.peers, a)
	}
	err = m.emit(&Event{Type: EventMembersUnwired, Member: a, Peer: b})
	return err
}

// checkTopology applies the topology rules to traffic from one role to
// another. Strict topology allows only what a rule allows; advisory
// topology allows everything but records what a strict one would refuse.
func (m *Mob) checkTopology(fromRole, toRole, from, to, what string) error {
	t := m.def.Topology
	if t == nil {
		return nil
	}
	allowed := false
	for _, r := range t.Rules {
		if (r.FromRole == fromRole || r.FromRole == "*") && (r.ToRole == toRole || r.ToRole == "*") {
			allowed = r.Allowed
			if !r.Allowed {
				break
			}
		}
	}
	if allowed {
		return nil
	}
	strict := t.Mode == flows.PolicyStrict
	m.mu.Lock()
	err := m.emit(&Event{Type: EventTopologyViolation, Member: from, Peer: to, Role: fromRole,
		Reason: fmt.Sprintf("%s from role %s to role %s", what, fromRole, toRole), Class: string(t.Mode)})
	m.mu.Unlock()
	if err != nil {
		return err
	}
	if strict {
		return fmt.Errorf("%w: %s from %q (%s) to %q (%s)", ErrTopology, what, from, fromRole, to, toRole)
	}
	return nil
}

// Members returns the identities of the mob's live members, sorted.
func (m *Mob) Members() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for id, mem := range m.members {
		if mem.handle != nil {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// membersOf returns the identities of the live members of a role, sorted.
func (m *Mob) membersOf(role string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.roleLocked(nil, role)
}

// roleLocked appends to ids the identities of the role's live members
// (with an actor, not retiring), sorted. m.mu held.
func (m *Mob) roleLocked(ids []string, role string) []string {
	for _, mem := range m.members {
		if mem.profile == role && mem.handle != nil && !mem.retiring {
			ids = append(ids, mem.identity)
		}
	}
	slices.Sort(ids)
	return ids
}

// respawningIn reports whether a member of role is being respawned.
func (m *Mob) respawningIn(role string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, mem := range m.members {
		if mem.profile == role && mem.respawning {
			return true
		}
	}
	return false
}

// nudgeRuns has every active run look again at what it can start (a step
// it held for a member being respawned).
func (m *Mob) nudgeRuns() {
	m.mu.Lock()
	var pids []*actor.PID
	for _, r := range m.runs {
		select {
		case <-r.done: // ended
		default:
			if r.pid != nil {
				pids = append(pids, r.pid)
			}
		}
	}
	m.mu.Unlock()
	for _, pid := range pids {
		m.cfg.Host.System().Root.Send(pid, nudge{})
	}
}

// nudge asks a run actor to look again at what it can start.
type nudge struct{}

// MemberStatus returns a member's status, asking its actor for its counts.
func (m *Mob) MemberStatus(ctx context.Context, id string) (MemberInfo, error) {
	m.mu.Lock()
	mem, err := m.liveLocked(id)
	if err != nil {
		m.mu.Unlock()
		return MemberInfo{}, err
	}
	info := MemberInfo{Identity: id, Profile: mem.profile, SessionID: mem.session,
		Peers: slices.Sorted(maps.Keys(mem.peers)), Status: "active"}
	if mem.retiring {
		info.Status = "retiring"
	}
	pid := mem.handle.PID()
	m.mu.Unlock()
	r, err := request(ctx, m.cfg.Host.System(), pid, &actors.GetState{})
	if err != nil {
		if ctx.Err() != nil {
			return info, err
		}
		info.Status = "broken"
		return info, nil
	}
	if st, ok := r.(*actors.MemberState); ok {
		info.Turns, info.Pending = st.Turns, st.Pending
		if st.Retired {
			info.Status = "retiring"
		}
	}
	return info, nil
}

// Send delivers body to member to and returns its answer. from is the
// sending member ("" for someone outside the mob); a member may send only
// to a wired peer, and topology applies. The peer's turn prompt is
// "Message from <from> (<role>): <body>". The message and its answer (or
// failure) are journalled as a mobd_member_message event.
func (m *Mob) Send(ctx context.Context, from, to, body string) (*actors.Answer, error) {
	ask, target, err := m.message(ctx, from, to, body)
	if err != nil {
		return nil, err
	}
	r, err := request(ctx, m.cfg.Host.System(), target, ask)
	return m.journalMessage(from, to, body, r, err)
}

// journalMessage takes the reply r to a message from from to member to,
// or the failure err to get one: it records the message with its answer
// or failure as a mobd_member_message event, and returns the answer (nil
// when there was none) and the failure.
func (m *Mob) journalMessage(from, to, body string, r any, err error) (*actors.Answer, error) {
	a, _ := r.(*actors.Answer)
	switch {
	case err != nil:
	case a == nil:
		err = fmt.Errorf("mob: member %q answered %T", to, r)
	default:
		err = a.Error.Err()
	}
	ev := Event{Type: EventMemberMessage, Member: from, Peer: to, Text: body}
	if a != nil {
		ev.Output = jsonString(a.Text)
	}
	if err != nil {
		ev.Error = err.Error()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.emit(&ev); err != nil {
		m.log.Warn("journal member message", errField(err))
	}
	return a, err
}

// Deliver is Send without waiting: the message is queued in to's mailbox
// and runs as a turn of its own; the answer is journalled as a
// mobd_member_message event. It is what a member's peer tool uses while
// the member works.
func (m *Mob) Deliver(ctx context.Context, from, to, body string) error {
	ask, target, err := m.message(ctx, from, to, body)
	if err != nil {
		return err
	}
	if !m.goUntilClosed(func(ctx context.Context) {
		r, err := request(ctx, m.cfg.Host.System(), target, ask)
		_, _ = m.journalMessage(from, to, body, r, err) // journalled: nobody waits for it
	}) {
		return ErrClosed
	}
	return nil
}

// target returns member to of a message from from. A message from
// outside the mob to a member it does not have spawns that member when
// the definition's spawn_policy is auto and its profile_map names the
// identity, as Meerkat spawns on an external turn.
func (m *Mob) target(ctx context.Context, from, to string) (*member, error) {
	target, err := m.lookup(to)
	if err == nil || from != "" || !errors.Is(err, ErrMemberNotFound) {
		return target, err
	}
	sp := m.def.SpawnPolicy
	if sp == nil || sp.Mode != flows.SpawnAuto {
		return nil, err
	}
	profile, ok := sp.ProfileMap[to]
	if !ok {
		return nil, err
	}
	// One spawn at a time: a concurrent message may be spawning it.
	m.autoSpawn.Lock()
	defer m.autoSpawn.Unlock()
	if target, err := m.lookup(to); err == nil {
		return target, nil
	}
	if _, err := m.Spawn(ctx, SpawnSpec{Profile: profile, Identity: to}); err != nil {
		return nil, fmt.Errorf("mob: spawn_policy: spawn %q (%s): %w", to, profile, err)
	}
	return m.lookup(to)
}

// message checks a member message and returns the ask and the target's
// actor.
func (m *Mob) message(ctx context.Context, from, to, body string) (*actors.Ask, *actor.PID, error) {
	m.mu.Lock()
	err := m.allowed("member send", StateRunning)
	m.mu.Unlock()
	if err != nil {
		return nil, nil, err
	}
	target, err := m.target(ctx, from, to)
	if err != nil {
		return nil, nil, err
	}
	if from == "" {
		return &actors.Ask{Prompt: body}, target.handle.PID(), nil
	}
	sender, err := m.lookup(from)
	if err != nil {
		return nil, nil, err
	}
	if err := m.checkTopology(sender.profile, target.profile, from, to, "message"); err != nil {
		return nil, nil, err
	}
	m.mu.Lock()
	wired := false
	if s := m.members[from]; s != nil {
		wired = s.peers[to]
	}
	m.mu.Unlock()
	if !wired {
		return nil, nil, fmt.Errorf("%w: %q is not wired to %q", actors.ErrNotPeer, from, to)
	}
	prompt := fmt.Sprintf("Message from %s (%s): %s", from, sender.profile, body)
	return &actors.Ask{Prompt: prompt, From: m.qualify(from)}, target.handle.PID(), nil
}
