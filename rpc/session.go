package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
)

// SessionOptions are the optional settings of a new session. Every field's
// zero value means "not sent": the runtime's default applies. Field names
// follow the wire names of session/create.
type SessionOptions struct {
	// Model and Provider choose the LLM ("anthropic", "openai", "gemini",
	// "self_hosted", "other").
	Model    string
	Provider string
	// SystemPrompt replaces the default system prompt.
	SystemPrompt string
	// DisableSystemPrompt suppresses every system prompt source (the
	// contract's SystemPromptOverride {"action":"disable"}). It cannot be
	// combined with SystemPrompt.
	DisableSystemPrompt bool
	// MaxTokens caps output tokens per turn.
	MaxTokens uint32
	// OutputSchema asks for structured output matching this JSON Schema
	// (raw, or the wrapper {"schema":{…},"name":"…"}).
	OutputSchema json.RawMessage
	// StructuredOutputRetries is how often extraction is retried; nil means
	// the runtime default (2).
	StructuredOutputRetries *uint32
	// HooksOverride adds or disables hooks for this run.
	HooksOverride json.RawMessage
	// EnableBuiltins, EnableShell, … switch tool families on.
	EnableBuiltins  bool
	EnableShell     bool
	EnableMemory    bool
	EnableSchedule  bool
	EnableWorkgraph bool
	EnableMob       bool
	EnableWebSearch bool
	// KeepAlive keeps the session's agent running between turns; it needs CommsName.
	KeepAlive bool
	// CommsName is the session's name for inter-agent comms.
	CommsName string
	// PeerMeta describes the session to its peers.
	PeerMeta json.RawMessage
	// BudgetLimits bounds tokens, time and tool calls.
	BudgetLimits json.RawMessage
	// ProviderParams are provider-specific settings (e.g. thinking).
	ProviderParams json.RawMessage
	// PreloadSkills are skills injected at creation.
	PreloadSkills []SkillKey
	// SkillRefs are skills resolved for the first turn.
	SkillRefs []SkillKey
	// Labels tag the session; ListSessions filters on them.
	Labels map[string]string
	// AdditionalInstructions are appended to the system prompt.
	AdditionalInstructions []string
	// AppContext is opaque application data stored with the session.
	AppContext json.RawMessage
	// ShellEnv is the environment for the shell tool.
	ShellEnv map[string]string
	// ExternalTools declares tools served outside the runtime.
	ExternalTools []json.RawMessage
	// AuthBinding selects credentials.
	AuthBinding map[string]string
	// InjectedContext is extra context for the first turn.
	InjectedContext []Content
	// TransientTurnContext is context for the first turn only (not for
	// deferred sessions).
	TransientTurnContext string
}

func setRaw(p map[string]any, key string, v json.RawMessage) {
	if len(v) > 0 {
		p[key] = v
	}
}

func setBool(p map[string]any, key string, v bool) {
	if v {
		p[key] = true
	}
}

func setString(p map[string]any, key, v string) {
	if v != "" {
		p[key] = v
	}
}

// disableSystemPrompt is the SystemPromptOverride that suppresses every
// system prompt source.
var disableSystemPrompt = map[string]string{"action": "disable"}

// setSystemPrompt sets system_prompt to prompt, or to the disable override.
func setSystemPrompt(p map[string]any, prompt string, disable bool) error {
	if disable {
		if prompt != "" {
			return fmt.Errorf("%w: SystemPrompt and DisableSystemPrompt are mutually exclusive", ErrInvalidArgs)
		}
		p["system_prompt"] = disableSystemPrompt
		return nil
	}
	setString(p, "system_prompt", prompt)
	return nil
}

// validateContexts reports an [ErrInvalidArgs] error for a malformed
// injected context entry.
func validateContexts(cs []Content) error {
	for i, c := range cs {
		if err := c.Validate(); err != nil {
			return fmt.Errorf("injected context %d: %w", i, err)
		}
	}
	return nil
}

func (o SessionOptions) params(prompt Content, deferred bool) (map[string]any, error) {
	if err := prompt.Validate(); err != nil {
		return nil, err
	}
	if o.KeepAlive && o.CommsName == "" {
		return nil, fmt.Errorf("%w: KeepAlive needs CommsName", ErrInvalidArgs)
	}
	if deferred && o.TransientTurnContext != "" {
		return nil, fmt.Errorf("%w: TransientTurnContext is not allowed for a deferred session", ErrInvalidArgs)
	}
	p := map[string]any{"prompt": prompt}
	setString(p, "model", o.Model)
	setString(p, "provider", o.Provider)
	if err := setSystemPrompt(p, o.SystemPrompt, o.DisableSystemPrompt); err != nil {
		return nil, err
	}
	if o.MaxTokens > 0 {
		p["max_tokens"] = o.MaxTokens
	}
	setRaw(p, "output_schema", o.OutputSchema)
	if o.StructuredOutputRetries != nil {
		p["structured_output_retries"] = *o.StructuredOutputRetries
	}
	setRaw(p, "hooks_override", o.HooksOverride)
	setBool(p, "enable_builtins", o.EnableBuiltins)
	setBool(p, "enable_shell", o.EnableShell)
	setBool(p, "enable_memory", o.EnableMemory)
	setBool(p, "enable_schedule", o.EnableSchedule)
	setBool(p, "enable_workgraph", o.EnableWorkgraph)
	setBool(p, "enable_mob", o.EnableMob)
	setBool(p, "enable_web_search", o.EnableWebSearch)
	setBool(p, "keep_alive", o.KeepAlive)
	setString(p, "comms_name", o.CommsName)
	setRaw(p, "peer_meta", o.PeerMeta)
	setRaw(p, "budget_limits", o.BudgetLimits)
	setRaw(p, "provider_params", o.ProviderParams)
	for _, k := range o.PreloadSkills {
		if err := k.validate(); err != nil {
			return nil, err
		}
	}
	if len(o.PreloadSkills) > 0 {
		p["preload_skills"] = o.PreloadSkills
	}
	refs, err := skillRefs(o.SkillRefs)
	if err != nil {
		return nil, err
	}
	if refs != nil {
		p["skill_refs"] = refs
	}
	if len(o.Labels) > 0 {
		p["labels"] = o.Labels
	}
	if len(o.AdditionalInstructions) > 0 {
		p["additional_instructions"] = o.AdditionalInstructions
	}
	setRaw(p, "app_context", o.AppContext)
	if len(o.ShellEnv) > 0 {
		p["shell_env"] = o.ShellEnv
	}
	if len(o.ExternalTools) > 0 {
		p["external_tools"] = o.ExternalTools
	}
	if len(o.AuthBinding) > 0 {
		p["auth_binding"] = o.AuthBinding
	}
	if len(o.InjectedContext) > 0 {
		if err := validateContexts(o.InjectedContext); err != nil {
			return nil, err
		}
		p["injected_context"] = o.InjectedContext
	}
	setString(p, "transient_turn_context", o.TransientTurnContext)
	if deferred {
		p["initial_turn"] = "deferred"
	}
	return p, nil
}

// TurnOptions are the optional settings of one turn (turn/start). Zero
// values are not sent.
type TurnOptions struct {
	// SkillRefs are skills resolved for this turn.
	SkillRefs []SkillKey
	// InjectedContext is extra context for this turn.
	InjectedContext []Content
	// TransientTurnContext is context for this turn only.
	TransientTurnContext string
	// TurnToolOverlay adjusts the tools of this turn, raw.
	TurnToolOverlay json.RawMessage
	// AdditionalInstructions are appended to the system prompt.
	AdditionalInstructions []string
	// KeepAlive changes whether the session's agent keeps running.
	KeepAlive *bool
	// Model and Provider choose the LLM for this turn.
	Model    string
	Provider string
	// SelfHostedServerID selects a self-hosted model server.
	SelfHostedServerID string
	// MaxTokens caps output tokens.
	MaxTokens uint32
	// SystemPrompt replaces the system prompt for this turn.
	SystemPrompt string
	// DisableSystemPrompt suppresses every system prompt source for this
	// turn ({"action":"disable"}). It cannot be combined with SystemPrompt.
	DisableSystemPrompt bool
	// OutputSchema asks for structured output matching this JSON Schema.
	OutputSchema json.RawMessage
	// StructuredOutputRetries is how often extraction is retried; nil means
	// the runtime default (2). It is named as in [SessionOptions].
	StructuredOutputRetries *uint32
	// StructuredOutputRetry is the former name of StructuredOutputRetries.
	//
	// Deprecated: use StructuredOutputRetries. When both are set they must
	// be equal.
	StructuredOutputRetry *uint32
	// ProviderParams are provider-specific settings (e.g. thinking).
	ProviderParams json.RawMessage
}

func (o TurnOptions) params(sessionID string, prompt Content) (map[string]any, error) {
	if sessionID == "" {
		return nil, fmt.Errorf("%w: session id is empty", ErrInvalidArgs)
	}
	if err := prompt.Validate(); err != nil {
		return nil, err
	}
	p := map[string]any{"session_id": sessionID, "prompt": prompt}
	refs, err := skillRefs(o.SkillRefs)
	if err != nil {
		return nil, err
	}
	if refs != nil {
		p["skill_refs"] = refs
	}
	if len(o.InjectedContext) > 0 {
		if err := validateContexts(o.InjectedContext); err != nil {
			return nil, err
		}
		p["injected_context"] = o.InjectedContext
	}
	setString(p, "transient_turn_context", o.TransientTurnContext)
	setRaw(p, "turn_tool_overlay", o.TurnToolOverlay)
	if len(o.AdditionalInstructions) > 0 {
		p["additional_instructions"] = o.AdditionalInstructions
	}
	if o.KeepAlive != nil {
		p["keep_alive"] = *o.KeepAlive
	}
	setString(p, "model", o.Model)
	setString(p, "provider", o.Provider)
	setString(p, "self_hosted_server_id", o.SelfHostedServerID)
	if o.MaxTokens > 0 {
		p["max_tokens"] = o.MaxTokens
	}
	if err := setSystemPrompt(p, o.SystemPrompt, o.DisableSystemPrompt); err != nil {
		return nil, err
	}
	setRaw(p, "output_schema", o.OutputSchema)
	retries := o.StructuredOutputRetries
	if o.StructuredOutputRetry != nil {
		if retries != nil && *retries != *o.StructuredOutputRetry {
			return nil, fmt.Errorf("%w: StructuredOutputRetries (%d) and the deprecated StructuredOutputRetry (%d) disagree",
				ErrInvalidArgs, *retries, *o.StructuredOutputRetry)
		}
		retries = o.StructuredOutputRetry
	}
	if retries != nil {
		p["structured_output_retries"] = *retries
	}
	setRaw(p, "provider_params", o.ProviderParams)
	return p, nil
}

// RunResult is the outcome of a turn (WireRunResult).
type RunResult struct {
	SessionID         string          `json:"session_id"`
	SessionRef        string          `json:"session_ref,omitempty"`
	Text              string          `json:"text"`
	Turns             uint32          `json:"turns"`
	ToolCalls         uint32          `json:"tool_calls"`
	Usage             Usage           `json:"usage"`
	StructuredOutput  json.RawMessage `json:"structured_output,omitempty"`
	TerminalCauseKind string          `json:"terminal_cause_kind,omitempty"`
	ExtractionError   *struct {
		LastOutput string `json:"last_output"`
		Attempts   uint32 `json:"attempts"`
		Reason     string `json:"reason"`
	} `json:"extraction_error,omitempty"`
	SchemaWarnings []SchemaWarning `json:"schema_warnings,omitempty"`
	// SkillDiagnostics is the skills subsystem's runtime diagnostics, raw;
	// SkillHealth has them decoded.
	SkillDiagnostics json.RawMessage `json:"skill_diagnostics,omitempty"`
	// SkillHealth is SkillDiagnostics decoded (the contract's
	// SkillRuntimeDiagnostics); nil when the runtime sent none.
	SkillHealth *SkillDiagnostics `json:"-"`
	// Raw is the result exactly as the runtime sent it.
	Raw json.RawMessage `json:"-"`
}

// SkillDiagnostics is the skill health a run reports (the contract's
// SkillRuntimeDiagnostics): how the skill sources fared and which skill
// entries were quarantined as invalid. When CollectionFault is set the
// diagnostics could not be collected, and SourceHealth and Quarantined are
// placeholders, not observations.
type SkillDiagnostics struct {
	// CollectionFault says why diagnostics collection failed; nil when it
	// did not.
	CollectionFault *SkillResolutionFailureReason `json:"collection_fault,omitempty"`
	// Quarantined lists the skill entries rejected as invalid.
	Quarantined []SkillQuarantine `json:"quarantined"`
	// SourceHealth is the skill sources' health.
	SourceHealth SourceHealth `json:"source_health"`
	// Raw is the diagnostics object exactly as sent.
	Raw json.RawMessage `json:"-"`
}

// SkillQuarantine is one quarantined skill entry (the contract's
// SkillQuarantineDiagnostic).
type SkillQuarantine struct {
	// Identity names the entry; it is deliberately not a SkillKey, since
	// the entry failed validation.
	Identity QuarantinedSkill `json:"identity"`
	// Location is where the entry was found.
	Location string `json:"location"`
	// ErrorCode and ErrorClass classify the failure; Message describes it.
	ErrorCode  string `json:"error_code"`
	ErrorClass string `json:"error_class"`
	Message    string `json:"message"`
	// FirstSeenUnixSecs and LastSeenUnixSecs bound when it was seen.
	FirstSeenUnixSecs uint64 `json:"first_seen_unix_secs"`
	LastSeenUnixSecs  uint64 `json:"last_seen_unix_secs"`
}

// QuarantinedSkill identifies a quarantined entry: its source and its raw,
// possibly invalid, identifier.
type QuarantinedSkill struct {
	// SourceUUID is the source that holds the entry.
	SourceUUID string `json:"source_uuid"`
	// RawID is the entry's identifier as found there, not validated.
	RawID string `json:"raw_id"`
}

// SourceHealth is a skill source health snapshot (the contract's
// SourceHealthSnapshot).
type SourceHealth struct {
	// State is "healthy", "degraded" or "unhealthy".
	State string `json:"state"`
	// InvalidRatio is InvalidCount over TotalCount.
	InvalidRatio float64 `json:"invalid_ratio"`
	// InvalidCount and TotalCount count the entries seen.
	InvalidCount uint32 `json:"invalid_count"`
	TotalCount   uint32 `json:"total_count"`
	// FailureStreak counts consecutive failed refreshes.
	FailureStreak uint32 `json:"failure_streak"`
	// HandshakeFailed reports a failed source handshake.
	HandshakeFailed bool `json:"handshake_failed"`
}

// DecodeStructuredOutput unmarshals the structured output into v.
func (r *RunResult) DecodeStructuredOutput(v any) error {
	if len(r.StructuredOutput) == 0 || string(r.StructuredOutput) == "null" {
		return fmt.Errorf("rpc: run result has no structured output")
	}
	return json.Unmarshal(r.StructuredOutput, v)
}

func decodeRunResult(raw json.RawMessage, text string) (*RunResult, error) {
	var r RunResult
	if !fastRunResult(raw, text, &r) {
		r = RunResult{}
		if err := unmarshalLong(raw, &r, "text", text, func(t string) { r.Text = t }); err != nil {
			return nil, fmt.Errorf("%w: run result: %v", ErrInvalidResponse, err)
		}
	}
	if r.SessionID == "" {
		return nil, fmt.Errorf("%w: run result without session_id", ErrInvalidResponse)
	}
	if string(r.StructuredOutput) == "null" {
		r.StructuredOutput = nil
	}
	if string(r.SkillDiagnostics) == "null" {
		r.SkillDiagnostics = nil
	}
	if len(r.SkillDiagnostics) > 0 {
		var d SkillDiagnostics
		if err := json.Unmarshal(r.SkillDiagnostics, &d); err != nil {
			return nil, fmt.Errorf("%w: run result: skill_diagnostics: %v", ErrInvalidResponse, err)
		}
		d.Raw = r.SkillDiagnostics
		r.SkillHealth = &d
	}
	r.Raw = raw
	if len(raw) <= arenaBlock/4 {
		// raw may lie in one of the reader's arena blocks: a result is
		// what callers keep (a Session keeps its last), and it would keep
		// the whole block alive.
		r.Raw = bytes.Clone(raw)
	}
	return &r, nil
}

// Session is a handle on one runtime session. Its accessors report the
// last turn's result. It is safe for concurrent use, though the runtime
// runs one turn per session at a time (a second one fails with
// [ErrSessionBusy]).
type Session struct {
	c  *Client
	id string

	mu   sync.Mutex
	ref  string
	last *RunResult
}

func (c *Client) newSession(id, ref string, last *RunResult) *Session {
	return &Session{c: c, id: id, ref: ref, last: last}
}

// Session returns a handle on an existing session by id, e.g. one created
// by another process in the same realm. Nothing is sent.
func (c *Client) Session(id string) *Session { return c.newSession(id, "", nil) }

// ID returns the session's UUID.
func (s *Session) ID() string { return s.id }

// Ref returns the session's human-readable reference, if any.
func (s *Session) Ref() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ref
}

// LastResult returns the most recent turn's result, or nil.
func (s *Session) LastResult() *RunResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// Text returns the assistant text of the last turn.
func (s *Session) Text() string {
	if r := s.LastResult(); r != nil {
		return r.Text
	}
	return ""
}

// Usage returns the token usage of the last turn.
func (s *Session) Usage() Usage {
	if r := s.LastResult(); r != nil {
		return r.Usage
	}
	return Usage{}
}

// Turns returns the number of LLM turns of the last run.
func (s *Session) Turns() uint32 {
	if r := s.LastResult(); r != nil {
		return r.Turns
	}
	return 0
}

// ToolCalls returns the number of tool calls of the last run.
func (s *Session) ToolCalls() uint32 {
	if r := s.LastResult(); r != nil {
		return r.ToolCalls
	}
	return 0
}

// StructuredOutput returns the last run's structured output, or nil.
func (s *Session) StructuredOutput() json.RawMessage {
	if r := s.LastResult(); r != nil {
		return r.StructuredOutput
	}
	return nil
}

func (s *Session) record(r *RunResult) {
	s.mu.Lock()
	s.last = r
	if r.SessionRef != "" {
		s.ref = r.SessionRef
	}
	s.mu.Unlock()
}

// CreateSession creates a session and runs its first turn.
func (c *Client) CreateSession(ctx context.Context, prompt Content, opts SessionOptions) (*Session, error) {
	if c.conn == nil {
		return nil, ErrNotConnected
	}
	p, err := opts.params(prompt, false)
	if err != nil {
		return nil, err
	}
	// The first turn's events are routed (and dropped) like a streamed
	// turn's, so a late one cannot leak into the session's next stream.
	st := newEventStream(ctx, c, "")
	st.q.detach()
	c.conn.startCreate(p, &turnSink{onEnd: st.finish})
	res, err := st.Wait(ctx)
	if err != nil {
		return nil, err
	}
	return c.newSession(res.SessionID, res.SessionRef, res), nil
}

// CreateSessionStreaming creates a session and streams its first turn.
// After the stream ends, SessionID and Result are set, and Session returns
// the new session's handle.
func (c *Client) CreateSessionStreaming(ctx context.Context, prompt Content, opts SessionOptions) *SessionStream {
	st := &SessionStream{EventStream: newEventStream(ctx, c, "")}
	p, err := opts.params(prompt, false)
	if err == nil && c.conn == nil {
		err = ErrNotConnected
	}
	if err != nil {
		st.EventStream = failedStream(ctx, c, err, nil)
		return st
	}
	st.onResult = func(r *RunResult) {
		st.sessMu.Lock()
		st.session = c.newSession(r.SessionID, r.SessionRef, r)
		st.sessMu.Unlock()
	}
	sink := &turnSink{q: st.q, onEnd: st.finish}
	c.conn.startCreate(p, sink)
	return st
}

// startCreate sends session/create for a turn sink.
func (c *conn) startCreate(params map[string]any, sink *turnSink) {
	pc := c.beginCreate(sink)
	_, err := c.send("session/create", params, func(raw json.RawMessage, err error) {
		if err != nil {
			c.createFailed(pc, err)
			return
		}
		var head struct {
			SessionID string `json:"session_id"`
		}
		if unmarshalLong(raw, &head, "text", "", func(string) {}) != nil || head.SessionID == "" {
			c.createFailed(pc, fmt.Errorf("%w: session/create result without session_id", ErrInvalidResponse))
			return
		}
		c.bindCreate(pc, head.SessionID, raw)
	})
	if err != nil {
		c.createFailed(pc, err)
	}
}

// SessionStream is the stream of a session's first turn, from
// [Client.CreateSessionStreaming].
type SessionStream struct {
	*EventStream
	sessMu  sync.Mutex
	session *Session
}

// Session returns the created session once the stream has ended, or nil.
func (s *SessionStream) Session() *Session {
	s.sessMu.Lock()
	defer s.sessMu.Unlock()
	return s.session
}

// DeferredSession is a session created without running its first turn.
type DeferredSession struct {
	*Session
	prompt Content
}

// CreateDeferredSession creates a session whose first turn runs later, via
// StartTurn or StartTurnStream.
func (c *Client) CreateDeferredSession(ctx context.Context, prompt Content, opts SessionOptions) (*DeferredSession, error) {
	p, err := opts.params(prompt, true)
	if err != nil {
		return nil, err
	}
	var res struct {
		SessionID  string  `json:"session_id"`
		SessionRef *string `json:"session_ref"`
	}
	if err := c.conn.call(ctx, "session/create", p, &res); err != nil {
		return nil, err
	}
	if res.SessionID == "" {
		return nil, fmt.Errorf("%w: deferred session/create result without session_id", ErrInvalidResponse)
	}
	ref := ""
	if res.SessionRef != nil {
		ref = *res.SessionRef
	}
	return &DeferredSession{Session: c.newSession(res.SessionID, ref, nil), prompt: prompt}, nil
}

// StartTurn runs the deferred first turn with the prompt given at creation.
func (d *DeferredSession) StartTurn(ctx context.Context, opts TurnOptions) (*RunResult, error) {
	return d.Turn(ctx, d.prompt, opts)
}

// StartTurnStream streams the deferred first turn.
func (d *DeferredSession) StartTurnStream(ctx context.Context, opts TurnOptions) *EventStream {
	return d.Stream(ctx, d.prompt, opts)
}

// Turn runs a turn and waits for its result. The turn's events are
// consumed and dropped; use Stream to see them.
func (s *Session) Turn(ctx context.Context, prompt Content, opts TurnOptions) (*RunResult, error) {
	st := s.startTurn(ctx, prompt, opts, false, nil)
	res, err := st.Wait(ctx)
	if err != nil {
		return nil, err
	}
	return res, nil
}

// Stream runs a turn and streams its typed events.
func (s *Session) Stream(ctx context.Context, prompt Content, opts TurnOptions) *EventStream {
	return s.startTurn(ctx, prompt, opts, true, nil)
}

// StartTurn starts a turn and returns once its request is written, without
// waiting for the turn to end: done is then called exactly once, with the
// result and error Turn would have returned. The turn's events are dropped.
//
// done runs on one of the client's goroutines: its reader, the timer that
// waits for a turn's late events, or the goroutine that closes the client;
// for a turn that fails before it is sent, on the caller's, before
// StartTurn returns. It must return quickly and must not wait for the
// client (nor close it): hand the result to a goroutine or actor of your
// own. A done ctx fails the turn unsent, with an
// error matching ErrNotSent and ctx's error; after the request is written,
// ctx no longer matters (use Interrupt to stop the turn). StartTurn lets a
// caller run many turns without a goroutine parked on each.
func (s *Session) StartTurn(ctx context.Context, prompt Content, opts TurnOptions, done func(*RunResult, error)) {
	if done == nil {
		done = func(*RunResult, error) {}
	}
	if err := ctx.Err(); err != nil {
		done(nil, notSent{err})
		return
	}
	s.startTurn(ctx, prompt, opts, false, done)
}

// startTurn sends a turn; done, when set, is StartTurn's.
func (s *Session) startTurn(ctx context.Context, prompt Content, opts TurnOptions, streaming bool, done func(*RunResult, error)) *EventStream {
	c := s.c
	if c.conn == nil {
		return failedStream(ctx, c, ErrNotConnected, done)
	}
	p, err := opts.params(s.id, prompt)
	if err != nil {
		return failedStream(ctx, c, err, done)
	}
	st := newEventStream(ctx, c, s.id)
	st.onResult = s.record
	st.onEnd = done
	sink := &turnSink{onEnd: st.finish}
	if streaming {
		sink.q = st.q
	} else {
		st.q.detach()
	}
	c.conn.addSink(s.id, sink)
	_, err = c.conn.send("turn/start", p, func(raw json.RawMessage, err error) {
		c.conn.turnResponded(s.id, sink, raw, err)
	})
	if err != nil {
		c.conn.mu.Lock()
		c.conn.removeSinkLocked(s.id, sink)
		c.conn.mu.Unlock()
		c.conn.finishSink(sink, nil, err)
	}
	return st
}

// InvokeSkill runs a turn with a skill. It needs the "skills" capability.
func (s *Session) InvokeSkill(ctx context.Context, skill SkillKey, prompt Content) (*RunResult, error) {
	if err := s.c.RequireCapability("skills"); err != nil {
		return nil, err
	}
	return s.Turn(ctx, prompt, TurnOptions{SkillRefs: []SkillKey{skill}})
}

// InterruptResult is the answer to turn/interrupt.
type InterruptResult struct {
	Interrupted bool   `json:"interrupted"`
	Result      string `json:"result"` // "interrupted" or "staged_noop"
	SessionID   string `json:"session_id"`
}

// Interrupt cancels the session's running turn; on an idle session it is a
// no-op reported as "staged_noop".
func (s *Session) Interrupt(ctx context.Context) (InterruptResult, error) {
	var r InterruptResult
	err := s.c.conn.call(ctx, "turn/interrupt", map[string]any{"session_id": s.id}, &r)
	return r, err
}

// Archive removes the session from the runtime.
func (s *Session) Archive(ctx context.Context) error {
	return s.c.conn.call(ctx, "session/archive", map[string]any{"session_id": s.id}, nil)
}

// History reads the session's committed transcript. limit 0 means the
// runtime's default (100; at most 1000).
func (s *Session) History(ctx context.Context, offset, limit int) (*History, error) {
	return s.c.ReadSessionHistory(ctx, s.id, offset, limit)
}

// Read returns the session's state.
func (s *Session) Read(ctx context.Context) (*SessionDetails, error) {
	return s.c.ReadSession(ctx, s.id)
}

// SubscribeEvents opens a standalone subscription to every event of the
// session (session/stream_open), across turns, until Close.
func (s *Session) SubscribeEvents(ctx context.Context) (*Subscription[Envelope], error) {
	return openSubscription(ctx, s.c, "session/stream_open", "session/stream_close",
		map[string]any{"session_id": s.id}, s.c.parseStreamEnvelope)
}

// streamEventParams are the params of a */stream_event notification.
type streamEventParams struct {
	Sequence  uint64          `json:"sequence"`
	Event     json.RawMessage `json:"event"`
	ScopeID   json.RawMessage `json:"scope_id"`
	ScopePath json.RawMessage `json:"scope_path"`
}

// decodeStreamParams decodes a */stream_event frame's params.
func decodeStreamParams(frame []byte) (streamEventParams, error) {
	var p streamEventParams
	if err := json.Unmarshal(frame, &p); err != nil {
		return p, fmt.Errorf("%w: stream event: %v", ErrInvalidResponse, err)
	}
	if len(p.Event) == 0 || string(p.Event) == "null" {
		return p, fmt.Errorf("%w: stream event without event", ErrInvalidResponse)
	}
	return p, nil
}

// applyScope sets env's scope from a stream event's params scope_id and
// scope_path, when they are there (they win over the event's own).
func (p streamEventParams) applyScope(env *Envelope) error {
	if len(p.ScopeID) == 0 && len(p.ScopePath) == 0 {
		return nil
	}
	var id string
	if err := json.Unmarshal(p.ScopeID, &id); err != nil || id == "" {
		return fmt.Errorf("%w: stream event: scope_id must be a non-empty string", ErrInvalidResponse)
	}
	var path []json.RawMessage
	if err := json.Unmarshal(p.ScopePath, &path); err != nil || path == nil {
		return fmt.Errorf("%w: stream event: scope_path must be an array of objects", ErrInvalidResponse)
	}
	for _, f := range path {
		if t := evTrimSpace(f); len(t) == 0 || t[0] != '{' {
			return fmt.Errorf("%w: stream event: scope_path must be an array of objects", ErrInvalidResponse)
		}
	}
	env.ScopeID, env.ScopePath = id, path
	return nil
}

// parseStreamEnvelope decodes the params of a session/stream_event, or of a
// per-member mob/stream_event, whose event is a bare envelope. An event it
// cannot read becomes an invalid_envelope event; it fails only for an
// unknown event type under strict typing.
func (c *Client) parseStreamEnvelope(frame []byte) (Envelope, error) {
	p, err := decodeStreamParams(frame)
	if err != nil {
		return invalidEnvelope(frame, err), nil
	}
	env, err := ParseEnvelope(p.Event, EventOptions{Strict: c.opts.StrictEvents})
	if errors.Is(err, ErrUnknownEventType) {
		return env, err
	}
	if err == nil {
		err = p.applyScope(&env)
	}
	if err != nil {
		env = invalidEnvelope(frame, err)
	}
	env.Sequence = p.Sequence
	return env, nil
}

// SessionInfo is one row of session/list.
type SessionInfo struct {
	SessionID    string            `json:"session_id"`
	SessionRef   string            `json:"session_ref,omitempty"`
	CreatedAt    uint64            `json:"created_at"`
	UpdatedAt    uint64            `json:"updated_at"`
	MessageCount uint64            `json:"message_count"`
	TotalTokens  uint64            `json:"total_tokens"`
	Labels       map[string]string `json:"labels,omitempty"`
	IsActive     bool              `json:"is_active"`
}

// ListSessionsOptions filter session/list. Zero values are not sent.
type ListSessionsOptions struct {
	Labels map[string]string
	Limit  int
	Offset int
}

// ListSessions lists the realm's sessions.
func (c *Client) ListSessions(ctx context.Context, opts ListSessionsOptions) ([]SessionInfo, error) {
	p := map[string]any{}
	if len(opts.Labels) > 0 {
		p["labels"] = opts.Labels
	}
	if opts.Limit > 0 {
		p["limit"] = opts.Limit
	}
	if opts.Offset > 0 {
		p["offset"] = opts.Offset
	}
	var res struct {
		Sessions []SessionInfo `json:"sessions"`
	}
	if err := c.conn.call(ctx, "session/list", p, &res); err != nil {
		return nil, err
	}
	return res.Sessions, nil
}

// SessionDetails is the answer to session/read.
type SessionDetails struct {
	SessionID         string            `json:"session_id"`
	SessionRef        string            `json:"session_ref,omitempty"`
	CreatedAt         uint64            `json:"created_at"`
	UpdatedAt         uint64            `json:"updated_at"`
	MessageCount      uint64            `json:"message_count"`
	Labels            map[string]string `json:"labels,omitempty"`
	IsActive          bool              `json:"is_active"`
	Model             string            `json:"model"`
	Provider          string            `json:"provider"`
	LastAssistantText string            `json:"last_assistant_text,omitempty"`
	// Raw is the answer exactly as the runtime sent it.
	Raw json.RawMessage `json:"-"`
}

// ReadSession returns a session's state.
func (c *Client) ReadSession(ctx context.Context, sessionID string) (*SessionDetails, error) {
	if sessionID == "" {
		return nil, fmt.Errorf("%w: session id is empty", ErrInvalidArgs)
	}
	var raw json.RawMessage
	if err := c.conn.call(ctx, "session/read", map[string]any{"session_id": sessionID}, &raw); err != nil {
		return nil, err
	}
	var d SessionDetails
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, fmt.Errorf("%w: session/read: %v", ErrInvalidResponse, err)
	}
	d.Raw = raw
	return &d, nil
}

// History is a page of a session's committed transcript.
type History struct {
	SessionID    string           `json:"session_id"`
	SessionRef   string           `json:"session_ref,omitempty"`
	MessageCount uint64           `json:"message_count"`
	Offset       uint64           `json:"offset"`
	Limit        *uint64          `json:"limit,omitempty"`
	HasMore      bool             `json:"has_more"`
	Messages     []HistoryMessage `json:"messages"`
}

// HistoryMessage is one transcript row, tagged by Role: "system",
// "system_notice", "user", "block_assistant" or "tool_results". The
// role-specific fields are in Raw; the common ones are decoded.
//
// Decoding is lenient: a row whose content this type cannot hold keeps it
// in Raw and ContentBlocks rather than failing the whole history.
type HistoryMessage struct {
	Role string `json:"role"`
	// Content is the user's or system's content, when the row has one that
	// a [Content] can hold: text, or text, image and video blocks. It is
	// nil for content with other blocks (e.g. "structured" tool output);
	// ContentBlocks has those.
	Content *Content `json:"content,omitempty"`
	// ContentBlocks is the content of a row whose content is a block list,
	// every block included ("structured", "skill_context", …); nil for
	// plain-text content and for rows without content.
	ContentBlocks ContentBlocks `json:"-"`
	// StopReason is set on assistant rows.
	StopReason string `json:"stop_reason,omitempty"`
	// Raw is the row exactly as the runtime sent it.
	Raw json.RawMessage `json:"-"`
}

// UnmarshalJSON keeps the raw row beside the decoded fields. Only a row
// that is not an object with a string role fails; content that does not
// decode is left to Raw.
func (m *HistoryMessage) UnmarshalJSON(data []byte) error {
	var p struct {
		Role       string          `json:"role"`
		Content    json.RawMessage `json:"content"`
		StopReason json.RawMessage `json:"stop_reason"`
	}
	if err := json.Unmarshal(data, &p); err != nil {
		return err
	}
	*m = HistoryMessage{Role: p.Role, Raw: append(json.RawMessage(nil), data...)}
	_ = json.Unmarshal(p.StopReason, &m.StopReason)
	c := evTrimSpace(p.Content)
	switch {
	case len(c) == 0:
	case c[0] == '"':
		var s string
		if json.Unmarshal(c, &s) == nil {
			t := Text(s)
			m.Content = &t
		}
	case c[0] == '[':
		var bs ContentBlocks
		if json.Unmarshal(c, &bs) != nil {
			return nil
		}
		if bs == nil {
			bs = ContentBlocks{}
		}
		m.ContentBlocks = bs
		blocks := make([]Block, 0, len(bs))
		for _, cb := range bs {
			b, ok := cb.Block()
			if !ok {
				return nil
			}
			blocks = append(blocks, b)
		}
		content := Blocks(blocks...)
		m.Content = &content
	}
	return nil
}

// AssistantText returns the text blocks of a block_assistant row joined.
func (m HistoryMessage) AssistantText() string {
	if m.Role != "block_assistant" {
		return ""
	}
	var row struct {
		Blocks []struct {
			BlockType string `json:"block_type"`
			Data      struct {
				Text string `json:"text"`
			} `json:"data"`
		} `json:"blocks"`
	}
	if json.Unmarshal(m.Raw, &row) != nil {
		return ""
	}
	var s string
	for _, b := range row.Blocks {
		if b.BlockType == "text" {
			s += b.Data.Text
		}
	}
	return s
}

// ReadSessionHistory reads a session's committed transcript. limit 0 means
// the runtime's default.
func (c *Client) ReadSessionHistory(ctx context.Context, sessionID string, offset, limit int) (*History, error) {
	if sessionID == "" {
		return nil, fmt.Errorf("%w: session id is empty", ErrInvalidArgs)
	}
	if offset < 0 || limit < 0 {
		return nil, fmt.Errorf("%w: offset and limit must not be negative", ErrInvalidArgs)
	}
	p := map[string]any{"session_id": sessionID, "offset": offset}
	if limit > 0 {
		p["limit"] = limit
	}
	var h History
	if err := c.conn.call(ctx, "session/history", p, &h); err != nil {
		return nil, err
	}
	return &h, nil
}
