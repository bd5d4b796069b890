package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
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
	// MobID is the mob's id.
	MobID string `json:"mob_id"`
	// Status is the mob's state, normalised as [Mob.Status] does.
	Status string `json:"-"`
	// Raw is the row exactly as the runtime sent it.
	Raw json.RawMessage `json:"-"`
}

// ListMobs lists the runtime's mobs. A row without a mob_id or without a
// status MobSummary can read (a name, or an object tagged by one) fails the
// call with [ErrInvalidResponse].
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
		if row.MobID == "" {
			return nil, fmt.Errorf("%w: mob/list row without mob_id: %s", ErrInvalidResponse, raw)
		}
		status, _, err := normaliseStatus(row.Status)
		if err != nil {
			return nil, fmt.Errorf("%w: mob/list: mob %q: %v", ErrInvalidResponse, row.MobID, err)
		}
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

// SpawnSpec describes a member to spawn (mob/spawn params, and one entry
// of mob/spawn_many's specs). Profile and AgentIdentity are required. The
// first group of fields is always sent, null when unset, as the Python SDK
// does; the optional fields after it are sent only when set.
type SpawnSpec struct {
	// Profile is the role (profile name) of the new member.
	Profile string `json:"profile"`
	// AgentIdentity is the member's stable id within the mob.
	AgentIdentity string `json:"agent_identity"`
	// InitialMessage is sent to the member when it starts.
	InitialMessage *Content `json:"initial_message"`
	// RuntimeMode is autonomous_host or turn_driven.
	RuntimeMode *string `json:"runtime_mode"`
	// Backend selects the member's backend: [MobBackendSession] or
	// [MobBackendExternal]; empty sends null (the profile's choice).
	Backend MobBackend `json:"backend"`
	// Labels tag the member.
	Labels map[string]string `json:"labels"`
	// Context is opaque context for the member, raw.
	Context json.RawMessage `json:"context"`
	// AdditionalInstructions extend the member's system prompt.
	AdditionalInstructions []string `json:"additional_instructions"`

	// AuthBinding selects the credentials the member uses.
	AuthBinding *AuthBindingRef `json:"auth_binding,omitempty"`
	// ModelOverride replaces the profile's model for this member.
	ModelOverride string `json:"model_override,omitempty"`
	// Placement is the host (its comms peer id) to place the member on;
	// empty places it on the controlling host.
	Placement string `json:"placement,omitempty"`

	// The fields below are taken by mob/spawn only: [Mob.SpawnMany] rejects
	// a spec that sets one, since its specs (MobSpawnSpecParams) do not
	// allow them.

	// AutoWireParent wires the member to the member that spawned it.
	AutoWireParent *bool `json:"auto_wire_parent,omitempty"`
	// Binding carries backend-specific binding details (the contract's
	// WireRuntimeBinding: {"kind":"session"} or {"kind":"external",
	// "address":…, "identity":{…}}), raw.
	Binding json.RawMessage `json:"binding,omitempty"`
	// InheritedToolFilter is the tool filter the member inherits.
	InheritedToolFilter *ToolFilter `json:"inherited_tool_filter,omitempty"`
	// LaunchMode says how the member starts: fresh, resumed or forked.
	LaunchMode *LaunchMode `json:"launch_mode,omitempty"`
	// OverrideProfile replaces the named profile with this profile object
	// (the contract's WireMobProfile), raw.
	OverrideProfile json.RawMessage `json:"override_profile,omitempty"`
	// ShellEnv is the environment of the member's shell tool.
	ShellEnv map[string]string `json:"shell_env,omitempty"`
	// ToolAccessPolicy restricts the tools the member may use.
	ToolAccessPolicy *ToolAccessPolicy `json:"tool_access_policy,omitempty"`
}

// MobBackend names a mob member's backend (the contract's
// WireMobBackendKind). The zero value means "not set" and is sent as null.
type MobBackend string

// Mob member backends.
const (
	// MobBackendSession runs the member as a runtime session.
	MobBackendSession MobBackend = "session"
	// MobBackendExternal runs the member in an external process.
	MobBackendExternal MobBackend = "external"
)

// MarshalJSON writes the backend's name, or null when it is not set.
func (b MobBackend) MarshalJSON() ([]byte, error) {
	if b == "" {
		return []byte("null"), nil
	}
	return json.Marshal(string(b))
}

// UnmarshalJSON reads a backend name; null is the zero value.
func (b *MobBackend) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		*b = ""
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("mob backend: %w", err)
	}
	*b = MobBackend(s)
	return nil
}

// AuthBindingRef names an auth binding (the contract's WireAuthBindingRef):
// a binding in a realm, optionally of one profile.
type AuthBindingRef struct {
	// Realm is the realm holding the binding.
	Realm string `json:"realm"`
	// Binding is the binding's id within the realm.
	Binding string `json:"binding"`
	// Profile narrows the binding to one profile; empty means none.
	Profile string `json:"profile,omitempty"`
}

// LaunchMode says how a spawned member starts (the contract's
// WireMemberLaunchMode), by Mode: "fresh"; "resume", continuing the bridge
// session BridgeSessionID; or "fork", from the history of member
// SourceMemberID (ForkContext, raw, selects how much; nil means the
// runtime's default, the full history).
type LaunchMode struct {
	// Mode is "fresh", "resume" or "fork".
	Mode string `json:"mode"`
	// BridgeSessionID is the session a "resume" continues.
	BridgeSessionID string `json:"bridge_session_id,omitempty"`
	// SourceMemberID is the member a "fork" starts from.
	SourceMemberID string `json:"source_member_id,omitempty"`
	// ForkContext is the fork's context selection, raw.
	ForkContext json.RawMessage `json:"fork_context,omitempty"`
}

func (l *LaunchMode) validate() error {
	switch l.Mode {
	case "fresh":
	case "resume":
		if l.BridgeSessionID == "" {
			return errors.New("launch mode resume needs BridgeSessionID")
		}
	case "fork":
		if l.SourceMemberID == "" {
			return errors.New("launch mode fork needs SourceMemberID")
		}
	default:
		return fmt.Errorf("unknown launch mode %q", l.Mode)
	}
	return nil
}

// ToolAccessPolicy restricts a spawned member's tools (the contract's
// WireToolAccessPolicy), by Type: "inherit"; "allow_list" or "deny_list"
// of the tools named in Value; or "read_only", only tools their dispatcher
// declares read-only.
type ToolAccessPolicy struct {
	// Type is "inherit", "allow_list", "deny_list" or "read_only".
	Type string `json:"type"`
	// Value names the tools of an allow_list or deny_list.
	Value []string `json:"value,omitempty"`
}

// MarshalJSON writes the policy; an allow_list or deny_list always carries
// its value, [] when empty.
func (p ToolAccessPolicy) MarshalJSON() ([]byte, error) {
	type plain ToolAccessPolicy
	if p.Type != "allow_list" && p.Type != "deny_list" {
		return json.Marshal(struct {
			Type string `json:"type"`
		}{p.Type})
	}
	if p.Value == nil {
		p.Value = []string{}
	}
	return json.Marshal(struct {
		Type  string   `json:"type"`
		Value []string `json:"value"`
	}{p.Type, p.Value})
}

func (p *ToolAccessPolicy) validate() error {
	switch p.Type {
	case "inherit", "read_only":
		if len(p.Value) > 0 {
			return fmt.Errorf("tool access policy %s takes no tool names", p.Type)
		}
	case "allow_list", "deny_list":
	default:
		return fmt.Errorf("unknown tool access policy %q", p.Type)
	}
	return nil
}

// ToolFilter is a pre-resolved tool filter a spawned member inherits (the
// contract's WireToolFilter): all tools, or only the tools in Allow, or all
// but those in Deny. Set at most one of All, Allow and Deny; an empty
// (non-nil) Allow allows no tool.
type ToolFilter struct {
	// All lets every tool through: "All".
	All bool
	// Allow lets only these tools through: {"Allow":[…]}.
	Allow []string
	// Deny lets every tool but these through: {"Deny":[…]}.
	Deny []string
}

// MarshalJSON writes the filter's wire form.
func (f ToolFilter) MarshalJSON() ([]byte, error) {
	if err := f.validate(); err != nil {
		return nil, err
	}
	switch {
	case f.All:
		return []byte(`"All"`), nil
	case f.Allow != nil:
		return json.Marshal(map[string][]string{"Allow": f.Allow})
	default:
		return json.Marshal(map[string][]string{"Deny": f.Deny})
	}
}

// UnmarshalJSON reads the wire form MarshalJSON writes.
func (f *ToolFilter) UnmarshalJSON(data []byte) error {
	if string(data) == `"All"` {
		*f = ToolFilter{All: true}
		return nil
	}
	var m struct {
		Allow *[]string `json:"Allow"`
		Deny  *[]string `json:"Deny"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("tool filter: %w", err)
	}
	switch {
	case m.Allow != nil && m.Deny == nil:
		*f = ToolFilter{Allow: append([]string{}, *m.Allow...)}
	case m.Deny != nil && m.Allow == nil:
		*f = ToolFilter{Deny: append([]string{}, *m.Deny...)}
	default:
		return fmt.Errorf("tool filter: want \"All\", {\"Allow\":[…]} or {\"Deny\":[…]}, got %s", data)
	}
	return nil
}

func (f ToolFilter) validate() error {
	n := 0
	if f.All {
		n++
	}
	if f.Allow != nil {
		n++
	}
	if f.Deny != nil {
		n++
	}
	if n != 1 {
		return fmt.Errorf("%w: a tool filter sets exactly one of All, Allow and Deny", ErrInvalidArgs)
	}
	return nil
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
	if s.InitialMessage != nil {
		if err := s.InitialMessage.Validate(); err != nil {
			return err
		}
	}
	switch s.Backend {
	case "", MobBackendSession, MobBackendExternal:
	default:
		return fmt.Errorf("%w: unknown mob backend %q (want session or external)", ErrInvalidArgs, string(s.Backend))
	}
	if s.AuthBinding != nil && (s.AuthBinding.Realm == "" || s.AuthBinding.Binding == "") {
		return fmt.Errorf("%w: an auth binding needs realm and binding", ErrInvalidArgs)
	}
	if s.LaunchMode != nil {
		if err := s.LaunchMode.validate(); err != nil {
			return fmt.Errorf("%w: %v", ErrInvalidArgs, err)
		}
	}
	if s.ToolAccessPolicy != nil {
		if err := s.ToolAccessPolicy.validate(); err != nil {
			return fmt.Errorf("%w: %v", ErrInvalidArgs, err)
		}
	}
	if s.InheritedToolFilter != nil {
		if err := s.InheritedToolFilter.validate(); err != nil {
			return err
		}
	}
	for _, raw := range []json.RawMessage{s.Binding, s.OverrideProfile} {
		if len(raw) > 0 && !json.Valid(raw) {
			return fmt.Errorf("%w: spawn spec holds invalid JSON", ErrInvalidArgs)
		}
	}
	return nil
}

// spawnOnly names the fields of s that mob/spawn_many's specs do not take.
func (s SpawnSpec) spawnOnly() []string {
	var set []string
	for _, f := range []struct {
		name string
		on   bool
	}{
		{"auto_wire_parent", s.AutoWireParent != nil},
		{"binding", len(s.Binding) > 0},
		{"inherited_tool_filter", s.InheritedToolFilter != nil},
		{"launch_mode", s.LaunchMode != nil},
		{"override_profile", len(s.OverrideProfile) > 0},
		{"shell_env", len(s.ShellEnv) > 0},
		{"tool_access_policy", s.ToolAccessPolicy != nil},
	} {
		if f.on {
			set = append(set, f.name)
		}
	}
	return set
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
// on its own. Its specs take fewer fields than [Mob.Spawn] does (see
// [SpawnSpec]): a spec setting a mob/spawn-only field is rejected with
// [ErrInvalidArgs] before anything is sent.
func (m *Mob) SpawnMany(ctx context.Context, specs []SpawnSpec) ([]SpawnOutcome, error) {
	for i, s := range specs {
		if err := s.validate(); err != nil {
			return nil, err
		}
		// The spawn-only fields are omitted when unset: a spec without
		// them encodes as mob/spawn_many's MobSpawnSpecParams.
		if only := s.spawnOnly(); len(only) > 0 {
			return nil, fmt.Errorf("%w: spec %d (%s): mob/spawn_many specs do not take %s",
				ErrInvalidArgs, i, s.AgentIdentity, strings.Join(only, ", "))
		}
	}
	wire := specs
	var res struct {
		Results []struct {
			Status string          `json:"status"`
			Result json.RawMessage `json:"result"`
		} `json:"results"`
	}
	if err := m.c.conn.call(ctx, "mob/spawn_many", m.params("specs", wire), &res); err != nil {
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
	// ExecutionBinding is the answer's top-level execution_binding (where
	// and how the run executes), raw, when the runtime sent one; the
	// contract does not pin its shape. (The Python SDK merges it into the
	// run dict.)
	ExecutionBinding json.RawMessage `json:"-"`
	// Raw is the run object exactly as sent (step ledger, accounting, …).
	Raw json.RawMessage `json:"-"`
}

// FlowStatus returns a run's status, or nil when the runtime knows no such run.
func (m *Mob) FlowStatus(ctx context.Context, runID string) (*FlowRun, error) {
	var res struct {
		Run              json.RawMessage `json:"run"`
		ExecutionBinding json.RawMessage `json:"execution_binding"`
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
	if len(res.ExecutionBinding) > 0 && string(res.ExecutionBinding) != "null" {
		r.ExecutionBinding = res.ExecutionBinding
	}
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

// parseAttributed decodes the params of a mob-wide mob/stream_event. An
// event it cannot read becomes an AttributedEvent whose Envelope holds an
// invalid_envelope event (with whatever attribution could be read); it
// fails only for an unknown event type under strict typing.
func (c *Client) parseAttributed(frame []byte) (AttributedEvent, error) {
	p, err := decodeStreamParams(frame)
	if err != nil {
		return AttributedEvent{Envelope: invalidEnvelope(frame, err)}, nil
	}
	var a struct {
		Source struct {
			Identity   string `json:"identity"`
			Generation uint64 `json:"generation"`
		} `json:"source"`
		Role             string          `json:"role"`
		Envelope         json.RawMessage `json:"envelope"`
		SourceFenceToken json.RawMessage `json:"source_fence_token"`
	}
	err = json.Unmarshal(p.Event, &a)
	ev := AttributedEvent{
		Identity: a.Source.Identity, Generation: a.Source.Generation, Role: a.Role,
		SourceFenceToken: a.SourceFenceToken, Sequence: p.Sequence,
	}
	switch {
	case err != nil:
		err = fmt.Errorf("%w: mob stream event: %v", ErrInvalidResponse, err)
	case a.Source.Identity == "" || len(a.Envelope) == 0 || string(a.Envelope) == "null":
		err = fmt.Errorf("%w: mob stream event without source identity or envelope", ErrInvalidResponse)
	default:
		ev.Envelope, err = ParseEnvelope(a.Envelope, EventOptions{Strict: c.opts.StrictEvents})
		if errors.Is(err, ErrUnknownEventType) {
			return ev, err
		}
		if err == nil {
			err = p.applyScope(&ev.Envelope)
		}
	}
	if err != nil {
		ev.Envelope = invalidEnvelope(frame, err)
	}
	ev.Envelope.Sequence = p.Sequence
	return ev, nil
}
