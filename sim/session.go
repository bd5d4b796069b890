package sim

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// seqReserveBlock is how many event sequence numbers are reserved on disk at
// a time, so that a process started after a crash never reuses one.
const seqReserveBlock = 256

// sessionData is the persisted state of a session (one JSON file each).
type sessionData struct {
	Version           int               `json:"version"`
	ID                string            `json:"session_id"`
	CreatedAtMS       int64             `json:"created_at_ms"`
	UpdatedAtMS       int64             `json:"updated_at_ms"`
	Labels            map[string]string `json:"labels,omitempty"`
	Model             string            `json:"model"`
	Provider          string            `json:"provider"`
	SystemPrompt      string            `json:"system_prompt,omitempty"`
	MaxTokens         uint32            `json:"max_tokens,omitempty"`
	OutputSchema      json.RawMessage   `json:"output_schema,omitempty"`
	StructuredRetries *uint32           `json:"structured_output_retries,omitempty"`
	CommsName         string            `json:"comms_name,omitempty"`
	PeerMeta          json.RawMessage   `json:"peer_meta,omitempty"`
	KeepAlive         bool              `json:"keep_alive,omitempty"`
	PreloadSkills     []skillKey        `json:"preload_skills,omitempty"`
	MobID             string            `json:"mob_id,omitempty"`
	AgentIdentity     string            `json:"agent_identity,omitempty"`
	Role              string            `json:"role,omitempty"`
	Generation        uint64            `json:"generation,omitempty"`
	SeqReserved       uint64            `json:"seq_reserved"`
	TotalTokens       uint64            `json:"total_tokens"`
	Turns             uint64            `json:"turns"`
	LastAssistantText *string           `json:"last_assistant_text,omitempty"`
	History           []json.RawMessage `json:"history"`
	Inputs            []inputRecord     `json:"inputs,omitempty"`
}

// session is a live session. Lock order: emitMu → saveMu → mu.
type session struct {
	id    string
	realm *realm

	// Mob membership never changes for a session, so it is cached here.
	mobID, identity, role string
	generation            uint64

	emitMu  sync.Mutex // serialises event emission
	seq     uint64     // last emitted seq; guarded by emitMu
	envBuf  []byte     // scratch buffers; guarded by emitMu
	lineBuf []byte

	saveMu sync.Mutex // serialises writes of the session file

	mu      sync.Mutex
	data    sessionData
	stamp   fileStamp
	deleted bool

	// The parsed transcript of data.History and its word count, extended
	// as rows are added so a turn does not re-parse the whole history.
	histMu    sync.Mutex
	hist      []historyEntry
	histRows  int // rows of data.History parsed into hist
	histWords uint64

	busy chan struct{} // turn slot (capacity 1)

	turnMu     sync.Mutex
	turnCancel context.CancelCauseFunc
	turnDone   chan struct{}
}

func newSession(r *realm, data sessionData) *session {
	return &session{
		id: data.ID, realm: r, data: data, seq: data.SeqReserved, busy: make(chan struct{}, 1),
		mobID: data.MobID, identity: data.AgentIdentity, role: data.Role, generation: data.Generation,
	}
}

func nowMS() int64 { return time.Now().UnixMilli() }

func rfc3339(ms int64) string { return time.UnixMilli(ms).UTC().Format(time.RFC3339Nano) }

func (s *session) createdMS() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.data.CreatedAtMS
}

// snapshot returns a copy of the session data (history shared, read-only).
func (s *session) snapshot() sessionData {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.data
}

func (s *session) markDeleted() {
	s.mu.Lock()
	s.deleted = true
	s.mu.Unlock()
}

func (s *session) isDeleted() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deleted
}

// isBusy reports whether a turn holds the session.
func (s *session) isBusy() bool { return len(s.busy) > 0 }

// tryAcquire takes the turn slot without waiting.
func (s *session) tryAcquire() bool {
	select {
	case s.busy <- struct{}{}:
		return true
	default:
		return false
	}
}

// acquire waits for the turn slot.
func (s *session) acquire(ctx context.Context) bool {
	select {
	case s.busy <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (s *session) release() { <-s.busy }

// save writes the session file atomically (no-op in memory).
func (s *session) save() error {
	if !s.realm.persistent() {
		return nil
	}
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	s.mu.Lock()
	if s.deleted {
		s.mu.Unlock()
		return nil
	}
	data, err := marshal(&s.data)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	path := s.realm.sessionPath(s.id)
	if err := writeFileAtomic(path, data); err != nil {
		return err
	}
	if fi, err := os.Stat(path); err == nil {
		s.mu.Lock()
		s.stamp = stampOf(fi)
		s.mu.Unlock()
	}
	return nil
}

// saveLogged saves and logs (rather than returns) failures; used where the
// wire operation already succeeded.
func (s *session) saveLogged() {
	if err := s.save(); err != nil {
		s.realm.log.Warn("save session", zap.String("session_id", s.id), zap.Error(err))
	}
}

// refresh reloads the session if another process changed its file. It
// returns false if the session no longer exists.
func (s *session) refresh() bool {
	if s.isDeleted() {
		return false
	}
	if !s.realm.persistent() || s.isBusy() {
		return true
	}
	path := s.realm.sessionPath(s.id)
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		s.markDeleted()
		return false
	}
	if err != nil {
		return true
	}
	s.mu.Lock()
	same := s.stamp == stampOf(fi)
	s.mu.Unlock()
	if same {
		return true
	}
	var data sessionData
	stamp, err := readJSONFile(path, &data)
	if err != nil || data.ID != s.id {
		return true
	}
	s.emitMu.Lock()
	s.saveMu.Lock()
	s.mu.Lock()
	s.data, s.stamp = data, stamp
	if data.SeqReserved > s.seq {
		s.seq = data.SeqReserved
	}
	s.mu.Unlock()
	s.saveMu.Unlock()
	s.emitMu.Unlock()
	return true
}

// nextSeq allocates the next event sequence number; the caller holds emitMu.
// In a persistent realm sequence numbers are reserved on disk in blocks.
func (s *session) nextSeq() uint64 {
	s.seq++
	n := s.seq
	s.mu.Lock()
	need := n > s.data.SeqReserved
	if need {
		block := uint64(seqReserveBlock)
		if n > block {
			block = n // geometric growth keeps token floods cheap
		}
		s.data.SeqReserved = n + block
	}
	s.mu.Unlock()
	if need {
		s.saveLogged()
	}
	return n
}

// appendHistory adds rows and updates bookkeeping.
func (s *session) appendHistory(rows ...json.RawMessage) {
	s.mu.Lock()
	s.data.History = append(s.data.History, rows...)
	s.data.UpdatedAtMS = nowMS()
	s.mu.Unlock()
}

// ---- history rows ----

type userRow struct {
	Role          string          `json:"role"`
	Content       json.RawMessage `json:"content"`
	CreatedAt     string          `json:"created_at"`
	InteractionID *string         `json:"interaction_id,omitempty"`
}

type assistantRow struct {
	Role       string            `json:"role"`
	Blocks     []json.RawMessage `json:"blocks"`
	StopReason string            `json:"stop_reason"`
	CreatedAt  string            `json:"created_at"`
}

type toolResultRow struct {
	ToolUseID string `json:"tool_use_id"`
	Content   string `json:"content"`
	IsError   bool   `json:"is_error"`
}

type toolResultsRow struct {
	Role      string          `json:"role"`
	Results   []toolResultRow `json:"results"`
	CreatedAt string          `json:"created_at"`
}

type systemRow struct {
	Role      string `json:"role"`
	Content   string `json:"content"`
	CreatedAt string `json:"created_at"`
}

type noticeRow struct {
	Role      string            `json:"role"`
	Kind      string            `json:"kind"`
	Body      *string           `json:"body,omitempty"`
	Blocks    []json.RawMessage `json:"blocks,omitempty"`
	CreatedAt string            `json:"created_at"`
}

func assistantTextBlock(text string) json.RawMessage {
	return mustMarshal(struct {
		BlockType string `json:"block_type"`
		Data      struct {
			Text string `json:"text"`
		} `json:"data"`
	}{BlockType: "text", Data: struct {
		Text string `json:"text"`
	}{text}})
}

func assistantToolUseBlock(id, name string, args json.RawMessage) json.RawMessage {
	return mustMarshal(struct {
		BlockType string `json:"block_type"`
		Data      struct {
			ID   string          `json:"id"`
			Name string          `json:"name"`
			Args json.RawMessage `json:"args"`
		} `json:"data"`
	}{BlockType: "tool_use", Data: struct {
		ID   string          `json:"id"`
		Name string          `json:"name"`
		Args json.RawMessage `json:"args"`
	}{id, name, args}})
}

// historyEntry is the model-relevant view of one history row.
type historyEntry struct {
	role string
	text string
}

// transcript extracts role/text pairs from history rows.
// transcriptOf returns the parsed transcript of rows (a snapshot of this
// session's history) and its word count, parsing only rows not seen before.
func (s *session) transcriptOf(rows []json.RawMessage) ([]historyEntry, uint64) {
	s.histMu.Lock()
	defer s.histMu.Unlock()
	if len(rows) < s.histRows {
		s.hist, s.histRows, s.histWords = nil, 0, 0 // history was replaced; start over
	}
	for _, e := range transcript(rows[s.histRows:]) {
		s.hist = append(s.hist, e)
		s.histWords += uint64(wordCount(e.text))
	}
	s.histRows = len(rows)
	return s.hist[:len(s.hist):len(s.hist)], s.histWords
}

func transcript(rows []json.RawMessage) []historyEntry {
	out := make([]historyEntry, 0, len(rows))
	for _, raw := range rows {
		var row struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
			Body    *string         `json:"body"`
			Blocks  []struct {
				BlockType string `json:"block_type"`
				Data      struct {
					Text string `json:"text"`
				} `json:"data"`
			} `json:"blocks"`
		}
		if json.Unmarshal(raw, &row) != nil {
			continue
		}
		e := historyEntry{role: row.Role}
		switch row.Role {
		case "user":
			if c, err := parseContent(row.Content, "content"); err == nil {
				e.text = c.text
			}
		case "system":
			_ = json.Unmarshal(row.Content, &e.text)
		case "system_notice":
			if row.Body != nil {
				e.text = *row.Body
			}
		case "block_assistant":
			var parts []string
			for _, b := range row.Blocks {
				if b.BlockType == "text" {
					parts = append(parts, b.Data.Text)
				}
			}
			e.text = strings.Join(parts, "")
		}
		out = append(out, e)
	}
	return out
}

// ---- session/* handlers ----

// skillKey is a bare SkillKey.
type skillKey struct {
	SourceUUID string `json:"source_uuid"`
	SkillName  string `json:"skill_name"`
}

// skillRef is the tagged SkillRef form.
type skillRef struct {
	Kind       string `json:"kind"`
	SourceUUID string `json:"source_uuid"`
	SkillName  string `json:"skill_name"`
}

var providers = map[string]bool{"anthropic": true, "openai": true, "gemini": true, "self_hosted": true, "other": true}

func inferProvider(model string) string {
	m := strings.ToLower(model)
	switch {
	case strings.HasPrefix(m, "claude"):
		return "anthropic"
	case strings.HasPrefix(m, "gpt"), strings.HasPrefix(m, "o1"), strings.HasPrefix(m, "o3"), strings.HasPrefix(m, "o4"):
		return "openai"
	case strings.HasPrefix(m, "gemini"):
		return "gemini"
	default:
		return "other"
	}
}

// turnParams are the per-turn fields shared by session/create and turn/start.
type turnParams struct {
	Prompt                  json.RawMessage `json:"prompt"`
	Model                   *string         `json:"model"`
	Provider                *string         `json:"provider"`
	OutputSchema            json.RawMessage `json:"output_schema"`
	StructuredOutputRetries *uint32         `json:"structured_output_retries"`
	SkillRefs               []skillRef      `json:"skill_refs"`
	SystemPrompt            json.RawMessage `json:"system_prompt"`
	MaxTokens               *uint32         `json:"max_tokens"`
	KeepAlive               *bool           `json:"keep_alive"`
	InjectedContext         json.RawMessage `json:"injected_context"`
	AdditionalInstructions  []string        `json:"additional_instructions"`
	TransientTurnContext    *string         `json:"transient_turn_context"`
}

type createParams struct {
	turnParams
	Labels        map[string]string `json:"labels"`
	CommsName     *string           `json:"comms_name"`
	PeerMeta      json.RawMessage   `json:"peer_meta"`
	PreloadSkills []skillKey        `json:"preload_skills"`
	InitialTurn   *string           `json:"initial_turn"`
}

// validate checks the shared turn fields; it returns the prompt and the
// resolved output schema (nil if none).
func (p *turnParams) validate() (*contentInput, json.RawMessage, *rpcError) {
	prompt, rerr := parseContent(p.Prompt, "prompt")
	if rerr != nil {
		return nil, nil, rerr
	}
	if p.Provider != nil && *p.Provider != "" && !providers[*p.Provider] {
		return nil, nil, invalidParams("Invalid params: unknown provider `%s`", *p.Provider)
	}
	for i, r := range p.SkillRefs {
		if r.Kind != "structured" {
			return nil, nil, invalidParams("Invalid params: skill_refs[%d]: kind must be \"structured\"", i)
		}
		if r.SourceUUID == "" || r.SkillName == "" {
			return nil, nil, invalidParams("Invalid params: skill_refs[%d]: source_uuid and skill_name are required", i)
		}
	}
	switch jsonKind(p.SystemPrompt) {
	case "", "null", "string":
	case "object":
		var o struct {
			Action string `json:"action"`
		}
		if json.Unmarshal(p.SystemPrompt, &o) != nil || o.Action != "disable" {
			return nil, nil, invalidParams("Invalid params: system_prompt override must be {\"action\":\"disable\"}")
		}
	default:
		return nil, nil, invalidParams("Invalid params: system_prompt must be a string")
	}
	if k := jsonKind(p.InjectedContext); k != "" && k != "null" && k != "array" {
		return nil, nil, invalidParams("Invalid params: injected_context must be an array")
	}
	schema, rerr := resolveOutputSchema(p.OutputSchema)
	if rerr != nil {
		return nil, nil, rerr
	}
	return prompt, schema, nil
}

func (s *server) handleSessionCreate(rc *reqCtx) (any, *rpcError) {
	var p createParams
	if rerr := decodeParams(rc.params, &p); rerr != nil {
		return nil, rerr
	}
	prompt, schema, rerr := p.validate()
	if rerr != nil {
		return nil, rerr
	}
	deferred := false
	if p.InitialTurn != nil {
		switch *p.InitialTurn {
		case "deferred":
			deferred = true
		case "run", "immediate":
		default:
			return nil, invalidParams("Invalid params: unknown initial_turn `%s`", *p.InitialTurn)
		}
	}
	comms := ""
	if p.CommsName != nil {
		comms = strings.TrimSpace(*p.CommsName)
	}
	if p.KeepAlive != nil && *p.KeepAlive && comms == "" {
		return nil, invalidParams("Invalid params: keep_alive requires comms_name")
	}
	for i, k := range p.PreloadSkills {
		if k.SourceUUID == "" || k.SkillName == "" {
			return nil, invalidParams("Invalid params: preload_skills[%d]: source_uuid and skill_name are required", i)
		}
	}
	data := s.newSessionData(p.Model, p.Provider)
	data.Labels = p.Labels
	data.CommsName = comms
	data.PeerMeta = p.PeerMeta
	data.KeepAlive = p.KeepAlive != nil && *p.KeepAlive
	data.PreloadSkills = p.PreloadSkills
	data.OutputSchema = schema
	data.StructuredRetries = p.StructuredOutputRetries
	if p.MaxTokens != nil {
		data.MaxTokens = *p.MaxTokens
	}
	if jsonKind(p.SystemPrompt) == "string" {
		_ = json.Unmarshal(p.SystemPrompt, &data.SystemPrompt)
		if data.SystemPrompt != "" {
			data.History = append(data.History, mustMarshal(systemRow{"system", data.SystemPrompt, rfc3339(data.CreatedAtMS)}))
		}
	}
	sess := newSession(s.realm, data)
	if err := s.realm.addSession(sess); err != nil {
		return nil, internalError(err)
	}
	if deferred {
		return struct {
			SessionID  string  `json:"session_id"`
			SessionRef *string `json:"session_ref"`
		}{sess.id, nil}, nil
	}
	if !sess.tryAcquire() {
		return nil, busyError(sess.id)
	}
	spec := &turnSpec{
		sess: sess, method: rc.method, prompt: prompt, schema: schema,
		retries: p.StructuredOutputRetries, skillRefs: p.SkillRefs,
		model: p.Model, provider: p.Provider,
	}
	return s.runHeldTurn(rc, spec)
}

// newSessionData fills the defaults of a fresh session.
func (s *server) newSessionData(model, provider *string) sessionData {
	now := nowMS()
	m := ""
	if model != nil {
		m = strings.TrimSpace(*model)
	}
	if m == "" {
		m = s.realm.configDefaultModel()
	}
	if m == "" {
		m = "claude-sonnet-4-6"
	}
	prov := inferProvider(m)
	if provider != nil && *provider != "" {
		prov = *provider
	}
	return sessionData{Version: 1, ID: newSessionID(), CreatedAtMS: now, UpdatedAtMS: now, Model: m, Provider: prov}
}

func busyError(id string) *rpcError {
	return newError(codeSessionBusy, "Session busy: a turn is already running on %s", id)
}

// sessionIDParam decodes {session_id} and resolves the session.
func (s *server) sessionIDParam(raw json.RawMessage) (*session, *rpcError) {
	var p struct {
		SessionID *string `json:"session_id"`
	}
	if rerr := decodeParams(raw, &p); rerr != nil {
		return nil, rerr
	}
	if p.SessionID == nil {
		return nil, invalidParams("Invalid params: missing field `session_id`")
	}
	sess := s.realm.session(*p.SessionID)
	if sess == nil {
		return nil, sessionNotFound(*p.SessionID)
	}
	return sess, nil
}

func (s *server) handleTurnStart(rc *reqCtx) (any, *rpcError) {
	var p struct {
		turnParams
		SessionID *string `json:"session_id"`
	}
	if rerr := decodeParams(rc.params, &p); rerr != nil {
		return nil, rerr
	}
	if p.SessionID == nil {
		return nil, invalidParams("Invalid params: missing field `session_id`")
	}
	prompt, schema, rerr := p.validate()
	if rerr != nil {
		return nil, rerr
	}
	sess := s.realm.session(*p.SessionID)
	if sess == nil {
		return nil, sessionNotFound(*p.SessionID)
	}
	if !sess.tryAcquire() {
		return nil, busyError(sess.id)
	}
	if sess.isDeleted() {
		sess.release()
		return nil, sessionNotFound(sess.id)
	}
	spec := &turnSpec{
		sess: sess, method: rc.method, prompt: prompt, schema: schema,
		retries: p.StructuredOutputRetries, skillRefs: p.SkillRefs,
		model: p.Model, provider: p.Provider, maxTokens: p.MaxTokens,
	}
	return s.runHeldTurn(rc, spec)
}

// runHeldTurn runs a turn whose session slot the caller already holds and
// turns the outcome into a response.
func (s *server) runHeldTurn(rc *reqCtx, spec *turnSpec) (any, *rpcError) {
	out := s.executeTurn(rc.ctx, spec)
	if out.after != nil {
		rc.after = append(rc.after, out.after)
	}
	if out.err != nil {
		return nil, out.err
	}
	return out.result, nil
}

func (s *server) handleTurnInterrupt(rc *reqCtx) (any, *rpcError) {
	sess, rerr := s.sessionIDParam(rc.params)
	if rerr != nil {
		return nil, rerr
	}
	type result struct {
		Interrupted bool   `json:"interrupted"`
		Result      string `json:"result"`
		SessionID   string `json:"session_id"`
	}
	if done := sess.interrupt(errInterrupted); done != nil {
		select {
		case <-done:
		case <-rc.ctx.Done():
		case <-time.After(5 * time.Second):
		}
		return result{true, "interrupted", sess.id}, nil
	}
	return result{false, "staged_noop", sess.id}, nil
}

// interrupt cancels the running turn, returning a channel closed when it has
// wound down, or nil if the session is idle.
func (s *session) interrupt(cause error) <-chan struct{} {
	s.turnMu.Lock()
	defer s.turnMu.Unlock()
	if s.turnCancel == nil {
		return nil
	}
	s.turnCancel(cause)
	return s.turnDone
}

// sessionSummary is the WireSessionSummary shape.
type sessionSummary struct {
	SessionID    string            `json:"session_id"`
	CreatedAt    uint64            `json:"created_at"`
	UpdatedAt    uint64            `json:"updated_at"`
	MessageCount int               `json:"message_count"`
	TotalTokens  uint64            `json:"total_tokens"`
	IsActive     bool              `json:"is_active"`
	Labels       map[string]string `json:"labels,omitempty"`
}

func (s *server) handleSessionList(rc *reqCtx) (any, *rpcError) {
	var p struct {
		Labels map[string]string `json:"labels"`
		Limit  *uint64           `json:"limit"`
		Offset *uint64           `json:"offset"`
	}
	if rerr := decodeParams(rc.params, &p); rerr != nil {
		return nil, rerr
	}
	list := []sessionSummary{}
	for _, sess := range s.realm.allSessions() {
		d := sess.snapshot()
		if d.MobID != "" || !labelsMatch(d.Labels, p.Labels) {
			continue
		}
		list = append(list, sessionSummary{
			SessionID: d.ID, CreatedAt: uint64(d.CreatedAtMS / 1000), UpdatedAt: uint64(d.UpdatedAtMS / 1000),
			MessageCount: len(d.History), TotalTokens: d.TotalTokens, IsActive: sess.isBusy(), Labels: d.Labels,
		})
	}
	if p.Offset != nil {
		if *p.Offset >= uint64(len(list)) {
			list = list[:0]
		} else {
			list = list[*p.Offset:]
		}
	}
	if p.Limit != nil && *p.Limit < uint64(len(list)) {
		list = list[:*p.Limit]
	}
	return struct {
		Sessions []sessionSummary `json:"sessions"`
	}{list}, nil
}

func (s *server) handleSessionRead(rc *reqCtx) (any, *rpcError) {
	sess, rerr := s.sessionIDParam(rc.params)
	if rerr != nil {
		return nil, rerr
	}
	d := sess.snapshot()
	return struct {
		SessionID         string            `json:"session_id"`
		SessionRef        *string           `json:"session_ref"`
		CreatedAt         uint64            `json:"created_at"`
		UpdatedAt         uint64            `json:"updated_at"`
		MessageCount      int               `json:"message_count"`
		Labels            map[string]string `json:"labels,omitempty"`
		IsActive          bool              `json:"is_active"`
		Model             string            `json:"model"`
		Provider          string            `json:"provider"`
		LastAssistantText *string           `json:"last_assistant_text"`
	}{
		SessionID: d.ID, CreatedAt: uint64(d.CreatedAtMS / 1000), UpdatedAt: uint64(d.UpdatedAtMS / 1000),
		MessageCount: len(d.History), Labels: d.Labels, IsActive: sess.isBusy(), Model: d.Model,
		Provider: d.Provider, LastAssistantText: d.LastAssistantText,
	}, nil
}

func (s *server) handleSessionHistory(rc *reqCtx) (any, *rpcError) {
	var p struct {
		SessionID *string `json:"session_id"`
		Offset    *uint64 `json:"offset"`
		Limit     *uint64 `json:"limit"`
	}
	if rerr := decodeParams(rc.params, &p); rerr != nil {
		return nil, rerr
	}
	if p.SessionID == nil {
		return nil, invalidParams("Invalid params: missing field `session_id`")
	}
	sess := s.realm.session(*p.SessionID)
	if sess == nil {
		return nil, sessionNotFound(*p.SessionID)
	}
	limit := uint64(100)
	if p.Limit != nil {
		if *p.Limit > 1000 {
			return nil, invalidParams("Invalid params: limit must be at most 1000")
		}
		limit = *p.Limit
	}
	var offset uint64
	if p.Offset != nil {
		offset = *p.Offset
	}
	d := sess.snapshot()
	total := uint64(len(d.History))
	start := min(offset, total)
	end := min(start+limit, total)
	msgs := d.History[start:end]
	if msgs == nil {
		msgs = []json.RawMessage{}
	}
	return struct {
		SessionID    string            `json:"session_id"`
		SessionRef   *string           `json:"session_ref"`
		MessageCount uint64            `json:"message_count"`
		Offset       uint64            `json:"offset"`
		Limit        *uint64           `json:"limit"`
		HasMore      bool              `json:"has_more"`
		Messages     []json.RawMessage `json:"messages"`
	}{d.ID, nil, total, offset, &limit, end < total, msgs}, nil
}

func (s *server) handleSessionArchive(rc *reqCtx) (any, *rpcError) {
	sess, rerr := s.sessionIDParam(rc.params)
	if rerr != nil {
		return nil, rerr
	}
	if done := sess.interrupt(errSessionArchived); done != nil {
		select {
		case <-done:
		case <-rc.ctx.Done():
		}
	}
	if err := s.realm.removeSession(sess); err != nil {
		return nil, internalError(err)
	}
	s.streams.endSession(s, sess.id, "remote_end")
	return struct {
		Archived bool `json:"archived"`
	}{true}, nil
}
