package rpc

import (
	"bytes"
	"context"
	"encoding/json"
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
	setString(p, "system_prompt", o.SystemPrompt)
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
		for _, c := range o.InjectedContext {
			if err := c.Validate(); err != nil {
				return nil, err
			}
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
	SkillRefs              []SkillKey
	InjectedContext        []Content
	TransientTurnContext   string
	TurnToolOverlay        json.RawMessage
	AdditionalInstructions []string
	KeepAlive              *bool
	Model                  string
	Provider               string
	SelfHostedServerID     string
	MaxTokens              uint32
	SystemPrompt           string
	OutputSchema           json.RawMessage
	StructuredOutputRetry  *uint32
	ProviderParams         json.RawMessage
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
	setString(p, "system_prompt", o.SystemPrompt)
	setRaw(p, "output_schema", o.OutputSchema)
	if o.StructuredOutputRetry != nil {
		p["structured_output_retries"] = *o.StructuredOutputRetry
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
	SchemaWarnings   []SchemaWarning `json:"schema_warnings,omitempty"`
	SkillDiagnostics json.RawMessage `json:"skill_diagnostics,omitempty"`
	// Raw is the result exactly as the runtime sent it.
	Raw json.RawMessage `json:"-"`
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

// parseStreamEnvelope decodes a session/stream_event frame.
func (c *Client) parseStreamEnvelope(frame []byte) (Envelope, error) {
	var p struct {
		Event     json.RawMessage `json:"event"`
		ScopeID   string          `json:"scope_id"`
		ScopePath []json.RawMessage
	}
	if err := json.Unmarshal(frame, &p); err != nil || p.Event == nil {
		return Envelope{}, fmt.Errorf("%w: stream event without event", ErrInvalidResponse)
	}
	return ParseEnvelope(p.Event, EventOptions{Strict: c.opts.StrictEvents})
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
type HistoryMessage struct {
	Role string `json:"role"`
	// Content is the user's or system's content, when the row has one.
	Content *Content `json:"content,omitempty"`
	// StopReason is set on assistant rows.
	StopReason string `json:"stop_reason,omitempty"`
	// Raw is the row exactly as the runtime sent it.
	Raw json.RawMessage `json:"-"`
}

// UnmarshalJSON keeps the raw row beside the decoded fields.
func (m *HistoryMessage) UnmarshalJSON(data []byte) error {
	type plain HistoryMessage
	var p plain
	if err := json.Unmarshal(data, &p); err != nil {
		return err
	}
	*m = HistoryMessage(p)
	m.Raw = append(json.RawMessage(nil), data...)
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
