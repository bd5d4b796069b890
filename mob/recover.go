package mob

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"go.uber.org/zap"

	"github.com/mobd-dev/mobd/flows"
	"github.com/mobd-dev/mobd/journal"
)

// Open brings a journalled mob back, for example after the process was
// killed: it replays the mob's events to rebuild its definition, state and
// roster, re-attaches every member to its session on the Host, re-wires
// them, and resumes the runs that had not ended: steps that completed are
// not run again, and a step that was in flight is re-dispatched with the
// same idempotency key. It fails with ErrMobNotFound for an id the
// journal does not hold, and for a destroyed mob, whose records it
// deletes if a destroy was stopped before it could.
func Open(ctx context.Context, id string, cfg Config) (*Mob, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	evs, err := readEvents(ctx, cfg.Journal, journal.Query{Mob: id})
	if err != nil {
		return nil, err
	}
	if len(evs) == 0 || evs[0].Type != EventMobCreated {
		return nil, fmt.Errorf("%w: %q", ErrMobNotFound, id)
	}
	def, err := flows.LoadJSON(evs[0].Definition)
	if err != nil {
		return nil, fmt.Errorf("mob: journalled definition of %q: %w", id, err)
	}
	skills, err := skillTexts(def)
	if err != nil {
		return nil, err
	}
	m := newMob(def, cfg)
	m.skills = skills
	m.state = StateRunning
	type runLog struct {
		started Event
		events  []Event
	}
	runs := map[string]*runLog{}
	var runOrder []string
	turns := map[string]int{}
	for _, ev := range evs[1:] {
		countTurn(turns, &ev)
		if ev.Run != "" {
			rl := runs[ev.Run]
			if rl == nil {
				if ev.Type != EventFlowStarted {
					return nil, fmt.Errorf("mob: journal of %q: run %s starts with %s", id, ev.Run, ev.Type)
				}
				rl = &runLog{started: ev}
				runs[ev.Run] = rl
				runOrder = append(runOrder, ev.Run)
			}
			rl.events = append(rl.events, ev)
			continue
		}
		m.replayMobEvent(ev)
	}
	if m.state == StateDestroyed {
		// Destroy journalled the mob's end, but the process stopped before
		// it deleted the records: finish it, or they would keep the id
		// taken (Create would fail with ErrMobExists) for a mob that is
		// gone.
		n, err := cfg.Journal.DeleteMob(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("mob: finish the destroy of %q: %w", id, err)
		}
		cfg.Logger.Info("finished the destroy of a mob that a stop interrupted", zap.String("mob", id), zap.Int("records_deleted", n))
		return nil, fmt.Errorf("%w: %q was destroyed", ErrMobNotFound, id)
	}
	// A member whose retirement started but was not journalled as done
	// (the process died while it retired) is not brought back: its
	// retirement is finished here.
	for _, idn := range slices.Sorted(maps.Keys(m.members)) {
		mem := m.members[idn]
		if !mem.retiring {
			continue
		}
		delete(m.members, idn)
		for _, o := range m.members {
			delete(o.peers, idn)
		}
		if err := m.emit(&Event{Type: EventMemberRetired, Member: idn, Role: mem.profile, SessionID: mem.session,
			Reason: "retirement finished on open"}); err != nil {
			return nil, err
		}
	}

	// Re-attach the members, then re-wire them.
	for _, idn := range slices.Sorted(maps.Keys(m.members)) {
		mem := m.members[idn]
		spec := m.memberSpec(idn, mem.profile, def.Profiles[mem.profile], "", mem.session)
		spec.Turns = turns[idn]
		h, err := cfg.Host.SpawnMember(ctx, spec)
		if err != nil {
			m.closeMembers(ctx)
			return nil, fmt.Errorf("mob: re-attach member %q to session %s: %w", idn, mem.session, err)
		}
		mem.handle = h
	}
	for _, mem := range m.members {
		for p := range mem.peers {
			if err := m.wireActors(ctx, mem.handle.PID(), mem.identity, p); err != nil {
				m.closeMembers(ctx)
				return nil, err
			}
		}
	}

	m.mu.Lock()
	for _, rid := range runOrder {
		rl := runs[rid]
		ra, err := m.replayRun(rl.started, rl.events)
		if err != nil {
			m.mu.Unlock()
			m.Close()
			return nil, err
		}
		m.startRun(ra)
	}
	m.mu.Unlock()
	m.register()
	m.log.Info("mob opened", zap.Int("members", len(m.members)), zap.Int("runs", len(runOrder)))
	return m, nil
}

// Recover opens every mob of the journal (see Open). A mob that fails to
// open is reported in the joined error; the others are returned.
func Recover(ctx context.Context, cfg Config) ([]*Mob, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	ids, err := cfg.Journal.Mobs(ctx)
	if err != nil {
		return nil, fmt.Errorf("mob: list journalled mobs: %w", err)
	}
	var out []*Mob
	var errs []error
	for _, id := range ids {
		m, err := Open(ctx, id, cfg)
		if errors.Is(err, ErrMobNotFound) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, m)
	}
	return out, errors.Join(errs...)
}

func (m *Mob) closeMembers(ctx context.Context) {
	for _, mem := range m.members {
		if mem.handle != nil {
			_ = mem.handle.Retire(ctx) // best effort while giving up on Open
		}
	}
}

// replayMobEvent applies a journalled mob-level event to the mob's state.
func (m *Mob) replayMobEvent(ev Event) {
	switch ev.Type {
	case EventMobStopped:
		m.state = StateStopped
	case EventMobResumed:
		m.state = StateRunning
	case EventMobCompleted:
		m.state = StateCompleted
	case EventMobDestroying:
		m.state = StateDestroyed
	case EventMemberSpawned, EventMemberRespawned:
		mem := m.members[ev.Member]
		if mem == nil {
			mem = &member{identity: ev.Member, peers: map[string]bool{}}
			m.members[ev.Member] = mem
		}
		mem.profile, mem.session = ev.Role, ev.SessionID
	case EventMemberRetirementStarted:
		if mem := m.members[ev.Member]; mem != nil {
			mem.retiring = true
		}
	case EventMemberRetired:
		delete(m.members, ev.Member)
		for _, o := range m.members {
			delete(o.peers, ev.Member)
		}
	case EventMembersWired:
		if a, b := m.members[ev.Member], m.members[ev.Peer]; a != nil && b != nil {
			a.peers[ev.Peer], b.peers[ev.Member] = true, true
		}
	case EventMembersUnwired:
		if a := m.members[ev.Member]; a != nil {
			delete(a.peers, ev.Peer)
		}
		if b := m.members[ev.Peer]; b != nil {
			delete(b.peers, ev.Member)
		}
	}
}

// countTurn counts, in turns, the turn ev journals a member to have
// answered since its session began (MemberInfo.Turns, which a member's
// actor counts while it runs): a step target completed, an escalation
// answered, a message answered. A turn whose answer a step refused for its
// structured output, or one that finished after its step or its sender gave
// up on it, counted while the actor ran but is not in the journal.
func countTurn(turns map[string]int, ev *Event) {
	switch ev.Type {
	case EventMemberSpawned, EventMemberRespawned:
		turns[ev.Member] = 0
	case EventStepTargetCompleted, EventSupervisorEscalation:
		turns[ev.Member]++
	case EventMemberMessage:
		if ev.Error == "" {
			turns[ev.Peer]++
		}
	}
}

// replayRun rebuilds a run actor from its journalled events.
func (m *Mob) replayRun(started Event, evs []Event) (*runActor, error) {
	spec, err := m.flowFromJournal(started)
	if err != nil {
		return nil, err
	}
	plan, err := spec.Plan()
	if err != nil {
		return nil, fmt.Errorf("mob: plan journalled flow of run %s: %w", started.Run, err)
	}
	ra := newRunActor(m, started.Run, spec, plan, started.Params)
	for i := range evs {
		ra.apply(&evs[i])
	}
	return ra, nil
}

// flowFromJournal decodes the flow a run was started with: the journalled
// spec, loaded into the mob's definition so that its roles and schemas are
// checked and resolved as at the start.
func (m *Mob) flowFromJournal(started Event) (flows.FlowSpec, error) {
	spec, err := m.def.LoadFlowJSON(started.Flow, started.Spec)
	if err != nil {
		return flows.FlowSpec{}, fmt.Errorf("mob: journalled flow %q of run %s: %w", started.Flow, started.Run, err)
	}
	return spec, nil
}
