package rpc

import (
	"context"
	"encoding/json"
	"fmt"
)

// Mob is a handle on a runtime-hosted mob (a team of agents), driven
// through the runtime's mob/* methods. mobd's own orchestration engine
// (package flows) does not use it; it is the SDK surface for programs that
// let the runtime run the mob.
type Mob struct {
	c  *Client
	id string
}

// requireMob reports whether the runtime offers mobs.
func (c *Client) requireMob() error {
	if c.HasCapability("mob") {
		return nil
	}
	return fmt.Errorf("%w: runtime offers no mob/* methods", ErrCapabilityUnavailable)
}

// CreateMob creates a mob from a Meerkat mob definition (a JSON object).
func (c *Client) CreateMob(ctx context.Context, definition any) (*Mob, error) {
	if err := c.requireMob(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(definition)
	if err != nil || len(b) == 0 || b[0] != '{' {
		return nil, fmt.Errorf("%w: a mob definition must be a JSON object", ErrInvalidArgs)
	}
	var res struct {
		MobID string `json:"mob_id"`
	}
	if err := c.conn.call(ctx, "mob/create", map[string]any{"definition": json.RawMessage(b)}, &res); err != nil {
		return nil, err
	}
	if res.MobID == "" {
		return nil, fmt.Errorf("%w: mob/create returned no mob_id", ErrInvalidResponse)
	}
	return &Mob{c: c, id: res.MobID}, nil
}

// Mob returns a handle on an existing mob. Nothing is sent.
func (c *Client) Mob(id string) *Mob { return &Mob{c: c, id: id} }

// MobSummary is one row of mob/list.
type MobSummary struct {
	MobID  string `json:"mob_id"`
	Status string `json:"-"`
	// Raw is the row exactly as the runtime sent it.
	Raw json.RawMessage `json:"-"`
}

// ListMobs lists the runtime's mobs.
func (c *Client) ListMobs(ctx context.Context) ([]MobSummary, error) {
	if err := c.requireMob(); err != nil {
		return nil, err
	}
	var res struct {
		Mobs []json.RawMessage `json:"mobs"`
	}
	if err := c.conn.call(ctx, "mob/list", struct{}{}, &res); err != nil {
		return nil, err
	}
	out := make([]MobSummary, 0, len(res.Mobs))
	for _, raw := range res.Mobs {
		var row struct {
			MobID  string          `json:"mob_id"`
			Status json.RawMessage `json:"status"`
		}
		if err := json.Unmarshal(raw, &row); err != nil {
			return nil, fmt.Errorf("%w: mob/list row: %v", ErrInvalidResponse, err)
		}
		status, _, _ := normaliseStatus(row.Status)
		out = append(out, MobSummary{MobID: row.MobID, Status: status, Raw: raw})
	}
	return out, nil
}

// ID returns the mob's id.
func (m *Mob) ID() string { return m.id }

func (m *Mob) params(kv ...any) map[string]any {
	p := map[string]any{"mob_id": m.id}
	for i := 0; i+1 < len(kv); i += 2 {
		p[kv[i].(string)] = kv[i+1]
	}
	return p
}

// Status returns the mob's state: Creating, Running, Stopped, Completed or
// Destroyed (a tagged status object yields its tag).
func (m *Mob) Status(ctx context.Context) (string, error) {
	var res struct {
		Status json.RawMessage `json:"status"`
	}
	if err := m.c.conn.call(ctx, "mob/status", m.params(), &res); err != nil {
		return "", err
	}
	s, _, err := normaliseStatus(res.Status)
	if err != nil {
		return "", fmt.Errorf("%w: mob/status: %v", ErrInvalidResponse, err)
	}
	return s, nil
}

// Lifecycle actions for [Mob.Lifecycle].
const (
	MobStop     = "stop"
	MobResume   = "resume"
	MobComplete = "complete"
	MobReset    = "reset"
	MobDestroy  = "destroy"
)

// Lifecycle applies a lifecycle action: stop, resume, complete, reset or destroy.
func (m *Mob) Lifecycle(ctx context.Context, action string) error {
	switch action {
	case MobStop, MobResume, MobComplete, MobReset, MobDestroy:
	default:
		return fmt.Errorf("%w: unknown mob lifecycle action %q", ErrInvalidArgs, action)
	}
	return m.c.conn.call(ctx, "mob/lifecycle", m.params("action", action), nil)
}

// SpawnSpec describes a member to spawn.
type SpawnSpec struct {
	// Profile is the role (profile name) of the new member.
	Profile string `json:"profile"`
	// AgentIdentity is the member's stable id within the mob.
	AgentIdentity string `json:"agent_identity"`
	// InitialMessage is sent to the member when it starts.
	InitialMessage *Content `json:"initial_message"`
	// RuntimeMode is autonomous_host or turn_driven.
	RuntimeMode *string `json:"runtime_mode"`
	// Backend selects the member's backend, raw.
	Backend json.RawMessage `json:"backend"`
	// Labels tag the member.
	Labels map[string]string `json:"labels"`
	// Context is opaque context for the member, raw.
	Context json.RawMessage `json:"context"`
	// AdditionalInstructions extend the member's system prompt.
	AdditionalInstructions []string `json:"additional_instructions"`
}

// SpawnResult identifies a spawned member.
type SpawnResult struct {
	AgentIdentity string          `json:"agent_identity"`
	MemberRef     json.RawMessage `json:"member_ref"`
}

func (s SpawnSpec) validate() error {
	if s.Profile == "" || s.AgentIdentity == "" {
		return fmt.Errorf("%w: a spawn spec needs profile and agent_identity", ErrInvalidArgs)
	}
	return nil
}

// Spawn adds a member to the mob.
func (m *Mob) Spawn(ctx context.Context, spec SpawnSpec) (*SpawnResult, error) {
	if err := spec.validate(); err != nil {
		return nil, err
	}
	p, err := mergeSessionID("", spec)
	if err != nil {
		return nil, err
	}
	delete(p, "session_id")
	p["mob_id"] = m.id
	var r SpawnResult
	if err := m.c.conn.call(ctx, "mob/spawn", p, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// SpawnOutcome is one result of SpawnMany: Spawned is set on success,
// otherwise Cause and Message say why.
type SpawnOutcome struct {
	Spawned *SpawnResult
	Cause   string
	Message string
}

// SpawnMany adds several members in one call; each spec succeeds or fails
// on its own.
func (m *Mob) SpawnMany(ctx context.Context, specs []SpawnSpec) ([]SpawnOutcome, error) {
	for _, s := range specs {
		if err := s.validate(); err != nil {
			return nil, err
		}
	}
	var res struct {
		Results []struct {
			Status string          `json:"status"`
			Result json.RawMessage `json:"result"`
		} `json:"results"`
	}
	if err := m.c.conn.call(ctx, "mob/spawn_many", m.params("specs", specs), &res); err != nil {
		return nil, err
	}
	out := make([]SpawnOutcome, len(res.Results))
	for i, r := range res.Results {
		switch r.Status {
		case "spawned":
			var s SpawnResult
			if err := json.Unmarshal(r.Result, &s); err != nil {
				return nil, fmt.Errorf("%w: mob/spawn_many result: %v", ErrInvalidResponse, err)
			}
			out[i].Spawned = &s
		case "failed":
			var f struct {
				Cause   string `json:"cause"`
				Message string `json:"message"`
			}
			if err := json.Unmarshal(r.Result, &f); err != nil {
				return nil, fmt.Errorf("%w: mob/spawn_many result: %v", ErrInvalidResponse, err)
			}
			out[i].Cause, out[i].Message = f.Cause, f.Message
		default:
			return nil, fmt.Errorf("%w: mob/spawn_many status %q", ErrInvalidResponse, r.Status)
		}
	}
	return out, nil
}

// Retire removes a member.
func (m *Mob) Retire(ctx context.Context, agentIdentity string) error {
	return m.c.conn.call(ctx, "mob/retire", m.params("agent_identity", agentIdentity), nil)
}

// RespawnResult is the answer to mob/respawn.
type RespawnResult struct {
	Status        string          `json:"status"`
	Receipt       json.RawMessage `json:"receipt"`
	FailedPeerIDs []string        `json:"failed_peer_ids,omitempty"`
}

// Respawn restarts a member with a fresh runtime identity; initialMessage
// may be nil.
func (m *Mob) Respawn(ctx context.Context, agentIdentity string, initialMessage *Content) (*RespawnResult, error) {
	var r RespawnResult
	err := m.c.conn.call(ctx, "mob/respawn", m.params("agent_identity", agentIdentity, "initial_message", initialMessage), &r)
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// Wire connects two members for comms.
func (m *Mob) Wire(ctx context.Context, a, b string) error {
	return m.c.conn.call(ctx, "mob/wire", m.params("member", a, "peer", map[string]string{"local": b}), nil)
}

// Unwire removes the comms link between two members.
func (m *Mob) Unwire(ctx context.Context, a, b string) error {
	return m.c.conn.call(ctx, "mob/unwire", m.params("member", a, "peer", map[string]string{"local": b}), nil)
}

// Member is one row of mob/members.
type Member struct {
	AgentIdentity string            `json:"agent_identity"`
	MemberRef     json.RawMessage   `json:"member_ref"`
	Role          string            `json:"role"`
	RuntimeMode   string            `json:"runtime_mode,omitempty"`
	WiredTo       []string          `json:"wired_to,omitempty"`
	Labels        map[string]string `json:"labels,omitempty"`
	Status        string            `json:"status,omitempty"`
	Error         string            `json:"error,omitempty"`
	IsFinal       bool              `json:"is_final,omitempty"`
	PeerID        string            `json:"peer_id,omitempty"`
}

// Members lists the mob's members.
func (m *Mob) Members(ctx context.Context) ([]Member, error) {
	var res struct {
		Members []Member `json:"members"`
	}
	if err := m.c.conn.call(ctx, "mob/members", m.params(), &res); err != nil {
		return nil, err
	}
	return res.Members, nil
}

// MobMember addresses one member of a mob.
type MobMember struct {
	m        *Mob
	identity string
}

// Member returns a handle on a member. Nothing is sent.
func (m *Mob) Member(agentIdentity string) *MobMember {
	return &MobMember{m: m, identity: agentIdentity}
}

// MemberSendResult is the answer to mob/member_send.
type MemberSendResult struct {
	MobID         string          `json:"mob_id"`
	AgentIdentity string          `json:"agent_identity"`
	MemberRef     json.RawMessage `json:"member_ref"`
	HandlingMode  string          `json:"handling_mode"`
}

// Send delivers work to the member. handlingMode is "queue" (default when
// empty) or "steer".
func (mm *MobMember) Send(ctx context.Context, content Content, handlingMode string) (*MemberSendResult, error) {
	if handlingMode == "" {
		handlingMode = "queue"
	}
	if handlingMode != "queue" && handlingMode != "steer" {
		return nil, fmt.Errorf("%w: handling mode must be queue or steer", ErrInvalidArgs)
	}
	if err := content.Validate(); err != nil {
		return nil, err
	}
	var r MemberSendResult
	err := mm.m.c.conn.call(ctx, "mob/member_send", mm.m.params(
		"agent_identity", mm.identity, "content", content, "handling_mode", handlingMode, "render_metadata", nil), &r)
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// Flows lists the mob's flow ids.
func (m *Mob) Flows(ctx context.Context) ([]string, error) {
	var res struct {
		Flows []string `json:"flows"`
	}
	if err := m.c.conn.call(ctx, "mob/flows", m.params(), &res); err != nil {
		return nil, err
	}
	return res.Flows, nil
}

// RunFlow starts a flow run and returns its id. params may be nil.
func (m *Mob) RunFlow(ctx context.Context, flowID string, params map[string]any) (string, error) {
	if flowID == "" {
		return "", fmt.Errorf("%w: flow id is empty", ErrInvalidArgs)
	}
	if params == nil {
		params = map[string]any{}
	}
	var res struct {
		RunID string `json:"run_id"`
	}
	if err := m.c.conn.call(ctx, "mob/flow_run", m.params("flow_id", flowID, "params", params), &res); err != nil {
		return "", err
	}
	if res.RunID == "" {
		return "", fmt.Errorf("%w: mob/flow_run returned no run_id", ErrInvalidResponse)
	}
	return res.RunID, nil
}

// FlowRun is a flow run's status as the runtime reports it.
type FlowRun struct {
	RunID  string `json:"run_id"`
	MobID  string `json:"mob_id"`
	FlowID string `json:"flow_id"`
	// Status is pending, running, completed, failed or canceled.
	Status string `json:"status"`
	// Raw is the run object exactly as sent (step ledger, accounting, …).
	Raw json.RawMessage `json:"-"`
}

// FlowStatus returns a run's status, or nil when the runtime knows no such run.
func (m *Mob) FlowStatus(ctx context.Context, runID string) (*FlowRun, error) {
	var res struct {
		Run json.RawMessage `json:"run"`
	}
	if err := m.c.conn.call(ctx, "mob/flow_status", m.params("run_id", runID), &res); err != nil {
		return nil, err
	}
	if len(res.Run) == 0 || string(res.Run) == "null" {
		return nil, nil
	}
	var r FlowRun
	if err := json.Unmarshal(res.Run, &r); err != nil {
		return nil, fmt.Errorf("%w: mob/flow_status: %v", ErrInvalidResponse, err)
	}
	r.Raw = res.Run
	return &r, nil
}

// CancelFlow cancels a run.
func (m *Mob) CancelFlow(ctx context.Context, runID string) error {
	return m.c.conn.call(ctx, "mob/flow_cancel", m.params("run_id", runID), nil)
}

// AttributedEvent is a mob-wide event: the envelope plus which member
// emitted it.
type AttributedEvent struct {
	// Identity and Generation identify the emitting member incarnation.
	Identity   string
	Generation uint64
	// Role is the member's profile name.
	Role string
	// Envelope is the event itself.
	Envelope Envelope
	// SourceFenceToken guards against stale writers, raw.
	SourceFenceToken json.RawMessage
	// Sequence is the subscription's sequence number.
	Sequence uint64
}

// SubscribeEvents subscribes to every event of the mob.
func (m *Mob) SubscribeEvents(ctx context.Context) (*Subscription[AttributedEvent], error) {
	return openSubscription(ctx, m.c, "mob/stream_open", "mob/stream_close", m.params(), m.c.parseAttributed)
}

// SubscribeMemberEvents subscribes to one member's events.
func (m *Mob) SubscribeMemberEvents(ctx context.Context, agentIdentity string) (*Subscription[Envelope], error) {
	return openSubscription(ctx, m.c, "mob/stream_open", "mob/stream_close",
		m.params("agent_identity", agentIdentity), m.c.parseStreamEnvelope)
}

func (c *Client) parseAttributed(frame []byte) (AttributedEvent, error) {
	var p struct {
		Sequence uint64 `json:"sequence"`
		Event    struct {
			Source struct {
				Identity   string `json:"identity"`
				Generation uint64 `json:"generation"`
			} `json:"source"`
			Role             string          `json:"role"`
			Envelope         json.RawMessage `json:"envelope"`
			SourceFenceToken json.RawMessage `json:"source_fence_token"`
		} `json:"event"`
	}
	if err := json.Unmarshal(frame, &p); err != nil {
		return AttributedEvent{}, fmt.Errorf("%w: mob stream event: %v", ErrInvalidResponse, err)
	}
	if p.Event.Source.Identity == "" || p.Event.Envelope == nil {
		return AttributedEvent{}, fmt.Errorf("%w: mob stream event without source identity or envelope", ErrInvalidResponse)
	}
	env, err := ParseEnvelope(p.Event.Envelope, EventOptions{Strict: c.opts.StrictEvents})
	if err != nil {
		return AttributedEvent{}, err
	}
	return AttributedEvent{
		Identity: p.Event.Source.Identity, Generation: p.Event.Source.Generation, Role: p.Event.Role,
		Envelope: env, SourceFenceToken: p.Event.SourceFenceToken, Sequence: p.Sequence,
	}, nil
}
