package flows

import (
	"encoding/json"
	"time"
)

// Definition is a Meerkat mob definition (MobDefinition): the profiles a
// mob's members are spawned from, how they are wired, and the flows the mob
// runs. It is plain data: every field is exported, it holds no pointers to
// live objects, and [Definition.MarshalJSON] writes it back as the JSON
// Meerkat accepts (plus the "mobd" extension keys, when used).
//
// Load one with [LoadJSON], [LoadTOML] or [LoadFile]; they decode strictly
// (an unknown or unsupported key is an error naming its path), fill the
// defaults (see [StepSpec]) and run [Definition.Validate].
type Definition struct {
	// ID is the mob id (required).
	ID string `json:"id"`
	// Orchestrator names the lead member's profile; nil when the mob has no
	// orchestrator.
	Orchestrator *Orchestrator `json:"orchestrator,omitempty"`
	// Profiles maps a profile name (a role) to the profile members of that
	// role are spawned with. At least one is required.
	Profiles map[string]Profile `json:"profiles"`
	// Models is the mob's custom model registry ([models.<id>]). A member
	// whose profile's model is listed gets the entry's provider (unless
	// its profile names one) and max_output_tokens as its session's
	// max_tokens.
	Models map[string]ModelConfig `json:"models,omitempty"`
	// Wiring says which members are wired to each other automatically.
	Wiring WiringRules `json:"wiring,omitzero"`
	// Skills maps a skill name to its source.
	Skills map[string]SkillSource `json:"skills,omitempty"`
	// Backend selects the member backend; only "session" is supported.
	Backend *BackendConfig `json:"backend,omitempty"`
	// Flows maps a flow id to its flow.
	Flows map[string]FlowSpec `json:"flows,omitempty"`
	// Topology restricts which roles may talk to which.
	Topology *TopologySpec `json:"topology,omitempty"`
	// Supervisor names the role that gets escalation turns.
	Supervisor *SupervisorSpec `json:"supervisor,omitempty"`
	// Limits bounds flow runs; nil means every default.
	Limits *LimitsSpec `json:"limits,omitempty"`
	// SpawnPolicy says whether members are spawned on demand (see
	// SpawnPolicy).
	SpawnPolicy *SpawnPolicy `json:"spawn_policy,omitempty"`
	// EventRouter configures the mob's event fan-out; accepted, without
	// effect (see EventRouter).
	EventRouter *EventRouter `json:"event_router,omitempty"`
}

// Orchestrator names the profile of the mob's lead member. In JSON it is the
// object {"profile": name}; in TOML's [mob] table it may also be a bare
// profile name.
type Orchestrator struct {
	// Profile is the orchestrator's profile name.
	Profile string `json:"profile"`
}

// Provider is an LLM provider: anthropic, openai, gemini, self_hosted or other.
type Provider string

// The providers Meerkat knows.
const (
	ProviderAnthropic  Provider = "anthropic"
	ProviderOpenAI     Provider = "openai"
	ProviderGemini     Provider = "gemini"
	ProviderSelfHosted Provider = "self_hosted"
	ProviderOther      Provider = "other"
)

func (Provider) enumValues() []string {
	return []string{"anthropic", "openai", "gemini", "self_hosted", "other"}
}

// RuntimeMode says how a member's runtime is driven.
type RuntimeMode string

// Runtime modes. The default is RuntimeAutonomousHost.
const (
	RuntimeAutonomousHost RuntimeMode = "autonomous_host"
	RuntimeTurnDriven     RuntimeMode = "turn_driven"
)

func (RuntimeMode) enumValues() []string { return []string{"autonomous_host", "turn_driven"} }

// ResumeOverride is a profile field that wins over durable session metadata
// when a member resumes: model, provider or provider_params.
type ResumeOverride string

func (ResumeOverride) enumValues() []string { return []string{"model", "provider", "provider_params"} }

// Profile is what members of one role are spawned with (an inline Meerkat
// profile; realm profile references are not supported).
type Profile struct {
	// Model is the model id (required).
	Model string `json:"model"`
	// Provider is the model's provider; empty means inferred by the runtime.
	Provider Provider `json:"provider,omitempty"`
	// SelfHostedServerID binds a self-hosted model alias to a server.
	SelfHostedServerID string `json:"self_hosted_server_id,omitempty"`
	// AutoCompactThreshold overrides the auto-compaction threshold (tokens, >0).
	AutoCompactThreshold *uint64 `json:"auto_compact_threshold,omitempty"`
	// ResumeOverrides lists fields that win over session metadata on resume.
	ResumeOverrides []ResumeOverride `json:"resume_overrides,omitempty"`
	// Skills names entries of [Definition.Skills] preloaded for the member.
	Skills []string `json:"skills,omitempty"`
	// Tools enables tool families.
	Tools ToolConfig `json:"tools,omitzero"`
	// PeerDescription is how the member is described to its peers.
	PeerDescription string `json:"peer_description,omitempty"`
	// RuntimeMode defaults to RuntimeAutonomousHost (filled in by the loader).
	RuntimeMode RuntimeMode `json:"runtime_mode,omitempty"`
	// MaxInlinePeerNotifications bounds peer notifications inlined into a turn.
	MaxInlinePeerNotifications *int32 `json:"max_inline_peer_notifications,omitempty"`
	// OutputSchema asks for structured output on every turn of the member.
	OutputSchema *OutputSchema `json:"output_schema,omitempty"`
	// ProviderParams is passed to the runtime as provider_params (canonical
	// JSON object), unchecked here.
	ProviderParams json.RawMessage `json:"provider_params,omitempty"`
	// Backend may only be "session" (the default); "external" is not supported.
	Backend BackendKind `json:"backend,omitempty"`
}

// ToolConfig enables tool families for a profile. MCP servers, Rust tool
// bundles and image generation are not supported by mobd.
type ToolConfig struct {
	Builtins  bool `json:"builtins,omitempty"`  // built-in tools
	Shell     bool `json:"shell,omitempty"`     // shell execution
	Comms     bool `json:"comms,omitempty"`     // peer messaging
	Memory    bool `json:"memory,omitempty"`    // memory store
	Workgraph bool `json:"workgraph,omitempty"` // work graph
	Mob       bool `json:"mob,omitempty"`       // mob management tools
	Schedule  bool `json:"schedule,omitempty"`  // scheduling
	// ReadOnly admits only read-only tools (enforced by the runtime).
	ReadOnly bool `json:"read_only,omitempty"`
}

// OutputSchema configures structured output for a profile. The loader
// accepts Meerkat's wrapper object {"schema": …, "name"?, "strict"?,
// "compat"?, "format"?} and, for convenience, a bare JSON Schema.
type OutputSchema struct {
	// Schema is the JSON Schema (canonical JSON); it must compile.
	Schema json.RawMessage `json:"schema"`
	// Name is an optional schema name some providers use.
	Name string `json:"name,omitempty"`
	// Strict asks the provider for strict schema adherence.
	Strict bool `json:"strict,omitempty"`
	// Compat is "lossy" (default) or "strict" provider lowering.
	Compat string `json:"compat,omitempty"`
	// Format is the schema format version, "meerkat_v1".
	Format string `json:"format,omitempty"`
}

// ModelConfig is a custom model registry entry ([models.<id>]).
type ModelConfig struct {
	Provider        Provider `json:"provider"`                    // required
	DisplayName     string   `json:"display_name,omitempty"`      // defaults to the id
	ContextWindow   *uint32  `json:"context_window,omitempty"`    // tokens
	MaxOutputTokens *uint32  `json:"max_output_tokens,omitempty"` // tokens per call
	Vision          *bool    `json:"vision,omitempty"`            // accepts images
	WebSearch       *bool    `json:"web_search,omitempty"`        // provider-native web search
	CallTimeoutSecs *uint64  `json:"call_timeout_secs,omitempty"` // default call timeout
}

// WiringRules says which members are wired automatically.
type WiringRules struct {
	// AutoWireOrchestrator wires every spawned member to the orchestrator.
	AutoWireOrchestrator bool `json:"auto_wire_orchestrator,omitempty"`
	// RoleWiring wires every member of role A to every member of role B.
	RoleWiring []RoleWiring `json:"role_wiring,omitempty"`
}

// RoleWiring is one role-to-role wiring rule; both are profile names.
type RoleWiring struct {
	A string `json:"a"`
	B string `json:"b"`
}

// SkillSource is where a skill's text comes from, tagged by Source:
// "inline" (Content holds the text) or "path" (Path names a file, resolved
// by whoever runs the mob).
type SkillSource struct {
	Source  string `json:"source"`
	Content string `json:"content,omitempty"`
	Path    string `json:"path,omitempty"`
}

// Skill sources.
const (
	SkillInline = "inline"
	SkillPath   = "path"
)

// BackendKind selects a member backend. Only "session" is supported by mobd.
type BackendKind string

func (BackendKind) enumValues() []string { return []string{"session", "external"} }
func (BackendKind) unsupportedValues() map[string]string {
	return map[string]string{"external": "external member backends"}
}

// BackendConfig selects the mob's default member backend.
type BackendConfig struct {
	Default BackendKind `json:"default,omitempty"`
}

// PolicyMode says how topology rules are applied.
type PolicyMode string

// Topology modes: advisory reports violations, strict rejects them.
const (
	PolicyAdvisory PolicyMode = "advisory"
	PolicyStrict   PolicyMode = "strict"
)

func (PolicyMode) enumValues() []string { return []string{"advisory", "strict"} }

// TopologySpec restricts which roles may wire to and dispatch to which.
type TopologySpec struct {
	Mode  PolicyMode     `json:"mode"`
	Rules []TopologyRule `json:"rules"`
}

// TopologyRule allows or forbids traffic from one role to another.
type TopologyRule struct {
	FromRole string `json:"from_role"`
	ToRole   string `json:"to_role"`
	Allowed  bool   `json:"allowed"`
}

// SupervisorSpec names the role that receives an escalation turn once a run
// has seen EscalationThreshold failures.
type SupervisorSpec struct {
	Role                    string  `json:"role"`
	EscalationThreshold     uint32  `json:"escalation_threshold"`
	EscalationTurnTimeoutMS *uint64 `json:"escalation_turn_timeout_ms,omitempty"`
}

// LimitsSpec bounds flow runs. A nil field takes Meerkat's default: no
// limit, except MaxStepRetries (0 retries). Zero also means "no limit" for
// the duration and count limits, as in Meerkat.
type LimitsSpec struct {
	// MaxFlowDurationMS is the flow deadline; step timeouts are clamped to it.
	MaxFlowDurationMS *uint64 `json:"max_flow_duration_ms,omitempty"`
	// MaxStepRetries is how often a failed step target is retried (mob-wide).
	MaxStepRetries *uint32 `json:"max_step_retries,omitempty"`
	// MaxOrphanedTurns bounds the member turns a mob leaves running after
	// their step target timed out ("orphaned"), DefaultMaxOrphanedTurns
	// when absent: such a turn finishes on its own while fewer than this
	// many run in the mob, and fewer than half of it (at least one) in its
	// run; otherwise it is cancelled. 0 cancels every one. A timed-out
	// target that is to be retried always has its turn cancelled: the
	// retry would wait for it in the member's session.
	MaxOrphanedTurns *uint32 `json:"max_orphaned_turns,omitempty"`
	// CancelGraceTimeoutMS is how long the member turns of a run's targets
	// in flight when the run ends (cancelled, failed, out of budget or
	// time) or when their step is cancelled may go on before they are
	// cancelled; DefaultCancelGrace when absent.
	CancelGraceTimeoutMS *uint64 `json:"cancel_grace_timeout_ms,omitempty"`
	// MaxActiveNodes bounds the step nodes of a run whose targets are
	// running at once, in all its frames: a step ready beyond it waits,
	// in plan order, until a running one ends. Loops do not count, nor do
	// approval steps waiting for a decision.
	MaxActiveNodes *uint64 `json:"max_active_nodes,omitempty"`
	// MaxActiveFrames bounds the loop bodies of a run open at once (the
	// root frame does not count). A loop ready to start beyond it waits
	// until a running loop ends; when only the loops around it hold the
	// frames, so that none can end, it fails (class "limit").
	MaxActiveFrames *uint64 `json:"max_active_frames,omitempty"`
	// MaxFrameDepth bounds loop nesting: the root frame is at depth 0, the
	// body of a loop in it at depth 1, and so on. A loop whose body would
	// be deeper fails when it is to start (class "limit").
	MaxFrameDepth *uint64 `json:"max_frame_depth,omitempty"`
}

// Defaults from Meerkat's model (mobs.md).
const (
	// DefaultStepTimeout applies to a step without timeout_ms.
	DefaultStepTimeout = 30 * time.Second
	// DefaultMaxStepRetries applies when limits.max_step_retries is absent.
	DefaultMaxStepRetries = 0
	// DefaultMaxOrphanedTurns applies when limits.max_orphaned_turns is
	// absent.
	DefaultMaxOrphanedTurns = 8
	// DefaultCancelGrace applies when limits.cancel_grace_timeout_ms is
	// absent.
	DefaultCancelGrace = 5 * time.Second
	// DefaultEventRouterBufferSize applies when event_router.buffer_size is absent.
	DefaultEventRouterBufferSize = 256
)

// FlowDeadline returns the flow deadline and true, or 0 and false when the
// definition sets none. Safe on a nil receiver.
func (l *LimitsSpec) FlowDeadline() (time.Duration, bool) {
	if l == nil || l.MaxFlowDurationMS == nil || *l.MaxFlowDurationMS == 0 {
		return 0, false
	}
	return msDuration(*l.MaxFlowDurationMS), true
}

// StepRetries returns max_step_retries or its default. Safe on a nil receiver.
func (l *LimitsSpec) StepRetries() uint32 {
	if l == nil || l.MaxStepRetries == nil {
		return DefaultMaxStepRetries
	}
	return *l.MaxStepRetries
}

// OrphanedTurns returns max_orphaned_turns or its default. Safe on a nil
// receiver.
func (l *LimitsSpec) OrphanedTurns() uint32 {
	if l == nil || l.MaxOrphanedTurns == nil {
		return DefaultMaxOrphanedTurns
	}
	return *l.MaxOrphanedTurns
}

// CancelGrace returns cancel_grace_timeout_ms or its default. Safe on a
// nil receiver.
func (l *LimitsSpec) CancelGrace() time.Duration {
	if l == nil || l.CancelGraceTimeoutMS == nil {
		return DefaultCancelGrace
	}
	return msDuration(*l.CancelGraceTimeoutMS)
}

// ActiveNodes returns max_active_nodes, and false when it sets no bound
// (absent or 0). Safe on a nil receiver.
func (l *LimitsSpec) ActiveNodes() (uint64, bool) {
	if l == nil || l.MaxActiveNodes == nil || *l.MaxActiveNodes == 0 {
		return 0, false
	}
	return *l.MaxActiveNodes, true
}

// ActiveFrames returns max_active_frames, and false when it sets no bound
// (absent or 0). Safe on a nil receiver.
func (l *LimitsSpec) ActiveFrames() (uint64, bool) {
	if l == nil || l.MaxActiveFrames == nil || *l.MaxActiveFrames == 0 {
		return 0, false
	}
	return *l.MaxActiveFrames, true
}

// FrameDepth returns max_frame_depth, and false when it sets no bound
// (absent or 0). Safe on a nil receiver.
func (l *LimitsSpec) FrameDepth() (uint64, bool) {
	if l == nil || l.MaxFrameDepth == nil || *l.MaxFrameDepth == 0 {
		return 0, false
	}
	return *l.MaxFrameDepth, true
}

// SpawnPolicy says whether members are spawned on demand, tagged by Mode:
// "none", or "auto" with ProfileMap mapping a member identity to a
// profile: a message from outside the mob to a member it does not have
// spawns that member, of that profile, when ProfileMap names it. Flow
// steps never spawn members.
type SpawnPolicy struct {
	Mode       string            `json:"mode"`
	ProfileMap map[string]string `json:"profile_map,omitzero"`
}

// Spawn policy modes.
const (
	SpawnNone = "none"
	SpawnAuto = "auto"
)

// EventRouter configures the mob's event fan-out. Meerkat accepts it
// and routes with its defaults; so does mobd, whose journal keeps every
// event and whose subscriptions filter by mob, run and kind.
type EventRouter struct {
	// BufferSize defaults to DefaultEventRouterBufferSize.
	BufferSize      *uint64  `json:"buffer_size,omitempty"`
	IncludePatterns []string `json:"include_patterns,omitempty"`
	ExcludePatterns []string `json:"exclude_patterns,omitempty"`
}

// Flow returns the flow with the given id.
func (d *Definition) Flow(id string) (FlowSpec, bool) {
	f, ok := d.Flows[id]
	return f, ok
}

func msDuration(ms uint64) time.Duration {
	const maxMS = uint64(1<<63-1) / uint64(time.Millisecond)
	if ms > maxMS {
		ms = maxMS
	}
	return time.Duration(ms) * time.Millisecond
}
