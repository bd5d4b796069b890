package sim

import (
	"encoding/json"
	"maps"
	"slices"
	"sort"
	"strings"
)

// inputRecord is the stored runtime state of one input (comms/send), kept
// for session/input_status.
type inputRecord struct {
	InputID        string          `json:"input_id"`
	IdempotencyKey string          `json:"idempotency_key,omitempty"`
	Kind           string          `json:"kind"`
	Result         json.RawMessage `json:"result"`
	State          string          `json:"state"`
	Outcome        string          `json:"outcome,omitempty"`
	CreatedAt      string          `json:"created_at"`
	UpdatedAt      string          `json:"updated_at"`
	TextPreview    string          `json:"text_preview,omitempty"`
	PeerName       string          `json:"peer_name,omitempty"`
}

type commsSendParams struct {
	SessionID     *string         `json:"session_id"`
	Kind          *string         `json:"kind"`
	To            *string         `json:"to"`
	Body          *string         `json:"body"`
	Blocks        json.RawMessage `json:"blocks"`
	LifecycleKind *string         `json:"lifecycle_kind"`
	Intent        *string         `json:"intent"`
	Params        json.RawMessage `json:"params"`
	InReplyTo     *string         `json:"in_reply_to"`
	Status        *string         `json:"status"`
	Stream        *string         `json:"stream"`
	HandlingMode  *string         `json:"handling_mode"`
}

// commsSendFields are the members each kind of comms/send takes (the
// contract's CommsSendParams variants, each additionalProperties:false): a
// runtime refuses any other, as rkat-sim does.
var commsSendFields = map[string][]string{
	"input":          {"allow_self_session", "blocks", "body", "handling_mode", "kind", "session_id", "source", "stream"},
	"peer_message":   {"blocks", "body", "content_taint", "handling_mode", "kind", "session_id", "to"},
	"peer_lifecycle": {"kind", "lifecycle_kind", "params", "session_id", "to"},
	"peer_request":   {"blocks", "content_taint", "handling_mode", "intent", "kind", "params", "session_id", "stream", "to"},
	"peer_response":  {"blocks", "content_taint", "handling_mode", "in_reply_to", "kind", "result", "session_id", "status", "to"},
}

func (s *server) handleCommsSend(rc *reqCtx) (any, *rpcError) {
	var p commsSendParams
	if rerr := decodeParams(rc.params, &p); rerr != nil {
		return nil, rerr
	}
	if p.SessionID == nil {
		return nil, invalidParams("Invalid params: missing field `session_id`")
	}
	if p.Kind == nil {
		return nil, invalidParams("Invalid params: missing field `kind`")
	}
	if fields, ok := commsSendFields[*p.Kind]; ok {
		m, _ := paramsObject(rc.params) // decoded above: an object
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if !slices.Contains(fields, k) {
				return nil, invalidParams("Invalid params: unknown field `%s` for comms kind `%s`, expected one of %s", k, *p.Kind, strings.Join(fields, ", "))
			}
		}
	}
	if p.HandlingMode != nil && *p.HandlingMode != "queue" && *p.HandlingMode != "steer" {
		return nil, invalidParams("Invalid params: unknown handling_mode `%s`", *p.HandlingMode)
	}
	sess := s.realm.session(*p.SessionID)
	if sess == nil {
		return nil, sessionNotFound(*p.SessionID)
	}
	now := rfc3339(nowMS())
	rec := inputRecord{Kind: *p.Kind, State: "consumed", Outcome: "completed", CreatedAt: now, UpdatedAt: now}
	var result any
	switch *p.Kind {
	case "input":
		if p.Body == nil {
			return nil, invalidParams("Invalid params: missing field `body`")
		}
		if p.Stream != nil && *p.Stream != "none" && *p.Stream != "reserve_interaction" {
			return nil, invalidParams("Invalid params: unknown stream mode `%s`", *p.Stream)
		}
		prompt, rerr := commsContent(*p.Body, p.Blocks)
		if rerr != nil {
			return nil, rerr
		}
		rec.InputID = newUUIDv4()
		rec.State, rec.Outcome = "queued", ""
		rec.TextPreview = truncate(*p.Body, 120)
		result = struct {
			Kind           string `json:"kind"`
			InteractionID  string `json:"interaction_id"`
			StreamReserved bool   `json:"stream_reserved"`
		}{"input_accepted", rec.InputID, p.Stream != nil && *p.Stream == "reserve_interaction"}
		inputID := rec.InputID
		defer s.runBackgroundTurn(&turnSpec{
			sess: sess, method: rc.method, prompt: prompt, interactionID: inputID,
			onDone: func(ok bool) { sess.finishInput(inputID, ok) },
		})
	case "peer_message", "peer_lifecycle", "peer_request", "peer_response":
		if p.To == nil || *p.To == "" {
			return nil, invalidParams("Invalid params: missing field `to`")
		}
		target := s.resolvePeer(sess, *p.To)
		if target == nil {
			return nil, invalidParams("Peer not found: %s", *p.To)
		}
		if target == sess {
			return nil, invalidParams("Invalid params: cannot send to the sending session itself")
		}
		env := newUUIDv4()
		rec.InputID = env
		rec.PeerName = target.displayName()
		n := peerNotice{kind: *p.Kind}
		switch *p.Kind {
		case "peer_message":
			if p.Body == nil {
				return nil, invalidParams("Invalid params: missing field `body`")
			}
			n.body = *p.Body
			result = struct {
				Kind       string `json:"kind"`
				EnvelopeID string `json:"envelope_id"`
				Delivery   string `json:"delivery"`
			}{"peer_message_sent", env, "acked"}
		case "peer_lifecycle":
			if p.LifecycleKind == nil {
				return nil, invalidParams("Invalid params: missing field `lifecycle_kind`")
			}
			switch *p.LifecycleKind {
			case "mob.peer_added", "mob.peer_retired", "mob.peer_unwired", "mob.dismiss":
			default:
				return nil, invalidParams("Invalid params: unknown lifecycle_kind `%s`", *p.LifecycleKind)
			}
			if jsonKind(p.Params) != "object" {
				return nil, invalidParams("Invalid params: missing field `params`")
			}
			n.body, n.intent = *p.LifecycleKind, *p.LifecycleKind
			result = struct {
				Kind       string `json:"kind"`
				EnvelopeID string `json:"envelope_id"`
				Delivery   string `json:"delivery"`
			}{"peer_lifecycle_sent", env, "acked"}
		case "peer_request":
			if p.Intent == nil {
				return nil, invalidParams("Invalid params: missing field `intent`")
			}
			if len(p.Params) == 0 {
				return nil, invalidParams("Invalid params: missing field `params`")
			}
			reqID := newUUIDv4()
			n.body, n.intent, n.requestID = "peer request: "+*p.Intent, *p.Intent, reqID
			result = struct {
				Kind           string `json:"kind"`
				EnvelopeID     string `json:"envelope_id"`
				InteractionID  string `json:"interaction_id"`
				RequestID      string `json:"request_id"`
				StreamReserved bool   `json:"stream_reserved"`
				Delivery       string `json:"delivery"`
			}{"peer_request_sent", env, newUUIDv4(), reqID, p.Stream != nil && *p.Stream == "reserve_interaction", "acked"}
		case "peer_response":
			if p.InReplyTo == nil {
				return nil, invalidParams("Invalid params: missing field `in_reply_to`")
			}
			if p.Status == nil || (*p.Status != "accepted" && *p.Status != "completed" && *p.Status != "failed") {
				return nil, invalidParams("Invalid params: status must be accepted, completed or failed")
			}
			n.body, n.requestID, n.status = "peer response: "+*p.Status, *p.InReplyTo, *p.Status
			result = struct {
				Kind       string `json:"kind"`
				EnvelopeID string `json:"envelope_id"`
				InReplyTo  string `json:"in_reply_to"`
				Delivery   string `json:"delivery"`
			}{"peer_response_sent", env, *p.InReplyTo, "acked"}
		}
		s.deliverPeer(sess, target, n)
	default:
		return nil, invalidParams("Invalid params: unknown comms kind `%s`", *p.Kind)
	}
	rec.Result = mustMarshal(result)
	sess.mu.Lock()
	sess.data.Inputs = append(sess.data.Inputs, rec)
	sess.mu.Unlock()
	sess.saveLogged()
	return rec.Result, nil
}

// commsContent turns body + optional blocks into a prompt.
func commsContent(body string, blocks json.RawMessage) (*contentInput, *rpcError) {
	if jsonKind(blocks) != "array" {
		return textContent(body), nil
	}
	var list []json.RawMessage
	if err := json.Unmarshal(blocks, &list); err != nil {
		return nil, invalidParams("Invalid params: blocks: %v", err)
	}
	if body != "" {
		list = append([]json.RawMessage{textBlockRaw(body)}, list...)
	}
	return parseContent(mustMarshal(list), "blocks")
}

func textBlockRaw(s string) json.RawMessage {
	return mustMarshal(wireBlock{Type: "text", Text: &s})
}

// finishInput records the terminal outcome of a queued input.
func (s *session) finishInput(inputID string, ok bool) {
	s.mu.Lock()
	for i := range s.data.Inputs {
		if s.data.Inputs[i].InputID == inputID {
			r := &s.data.Inputs[i]
			r.State, r.Outcome, r.UpdatedAt = "consumed", "completed", rfc3339(nowMS())
			if !ok {
				r.State, r.Outcome = "abandoned", "abandoned"
			}
		}
	}
	s.mu.Unlock()
	s.saveLogged()
}

// ---- peers ----

func (s *session) commsName() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.data.CommsName
}

func (s *session) displayName() string {
	if n := s.commsName(); n != "" {
		return n
	}
	return s.id
}

// visiblePeers lists the sessions sess can address: wired mob members for a
// member, other comms-enabled non-member sessions otherwise.
func (s *server) visiblePeers(sess *session) []*session {
	var out []*session
	if sess.mobID != "" {
		if m := s.realm.mob(sess.mobID); m != nil {
			for _, id := range m.wiredTo(sess.identity) {
				if mem := m.member(id); mem != nil {
					if ps := s.realm.session(mem.SessionID); ps != nil {
						out = append(out, ps)
					}
				}
			}
		}
		return out
	}
	for _, other := range s.realm.allSessions() {
		if other == sess || other.mobID != "" || other.commsName() == "" {
			continue
		}
		out = append(out, other)
	}
	return out
}

// resolvePeer finds the session addressed by to (peer id = session id, or
// comms name / member identity).
func (s *server) resolvePeer(from *session, to string) *session {
	if to == from.id || to == from.commsName() {
		return from
	}
	if from.mobID != "" {
		if m := s.realm.mob(from.mobID); m != nil {
			for _, mem := range m.activeMembers() {
				if mem.Identity == to || mem.SessionID == to {
					return s.realm.session(mem.SessionID)
				}
			}
		}
		return nil
	}
	for _, other := range s.realm.allSessions() {
		if other.mobID == "" && (other.id == to || (other.commsName() != "" && other.commsName() == to)) {
			return other
		}
	}
	return nil
}

// peerNotice is one comms delivery.
type peerNotice struct {
	kind, body, intent, requestID, status string
}

// deliverPeer writes a comms notice into the target's history, tells open
// subscriptions with peer_content_ingested, and wakes keep-alive targets.
func (s *server) deliverPeer(from, target *session, n peerNotice) {
	name := from.displayName()
	peer := &noticePeer{ID: from.id, DisplayName: &name}
	block := struct {
		Type      string          `json:"type"`
		Kind      string          `json:"kind"`
		Direction string          `json:"direction"`
		Peer      *noticePeer     `json:"peer"`
		Content   json.RawMessage `json:"content"`
		Intent    *string         `json:"intent,omitempty"`
		RequestID *string         `json:"request_id,omitempty"`
		Status    *string         `json:"status,omitempty"`
	}{Type: "comms", Kind: n.kind, Direction: "incoming", Peer: peer, Content: textBlocks(n.body)}
	if n.intent != "" {
		block.Intent = &n.intent
	}
	if n.requestID != "" {
		block.RequestID = &n.requestID
	}
	if n.status != "" {
		block.Status = &n.status
	}
	body := n.body
	target.appendHistory(mustMarshal(noticeRow{
		Role: "system_notice", Kind: "comms", Body: &body, Blocks: []json.RawMessage{mustMarshal(block)}, CreatedAt: rfc3339(nowMS()),
	}))
	target.saveLogged()
	if s.streams.observedSession(target.id) {
		ev := evPeerContentIngested{Type: "peer_content_ingested", Kind: n.kind, Peer: peer, SenderTaint: "clean"}
		if n.requestID != "" {
			ev.RequestID = &n.requestID
		}
		s.emitEvent(target, mustMarshal(ev), emitOpt{flush: true, streamsOnly: true})
	}
	target.mu.Lock()
	keepAlive := target.data.KeepAlive
	target.mu.Unlock()
	if keepAlive && n.kind == "peer_message" {
		s.runBackgroundTurn(&turnSpec{sess: target, method: "comms/send", prompt: textContent(n.body)})
	}
}

type peerEntry struct {
	PeerID        string   `json:"peer_id"`
	Name          string   `json:"name"`
	Address       peerAddr `json:"address"`
	Source        string   `json:"source"`
	SendableKinds []string `json:"sendable_kinds"`
	Capabilities  struct {
		Version    int            `json:"version"`
		Extensions map[string]any `json:"extensions"`
	} `json:"capabilities"`
	Meta peerMeta `json:"meta"`
}

type peerAddr struct {
	Transport string `json:"transport"`
	Endpoint  string `json:"endpoint"`
}

type peerMeta struct {
	Description *string           `json:"description"`
	Labels      map[string]string `json:"labels"`
}

func (s *server) handleCommsPeers(rc *reqCtx) (any, *rpcError) {
	sess, rerr := s.sessionIDParam(rc.params)
	if rerr != nil {
		return nil, rerr
	}
	if sess.commsName() == "" && sess.mobID == "" {
		return nil, invalidParams("Session not found or comms not enabled: %s", sess.id)
	}
	peers := []peerEntry{}
	for _, p := range s.visiblePeers(sess) {
		d := p.snapshot()
		name := d.CommsName
		if name == "" {
			name = p.displayName()
		}
		e := peerEntry{PeerID: p.id, Name: name, Address: peerAddr{"inproc", "inproc://" + name}, Source: "inproc",
			SendableKinds: []string{"peer_message", "peer_request", "peer_response"}}
		e.Capabilities.Version = 1
		e.Capabilities.Extensions = map[string]any{}
		var meta struct {
			Description *string           `json:"description"`
			Labels      map[string]string `json:"labels"`
		}
		_ = json.Unmarshal(d.PeerMeta, &meta)
		e.Meta = peerMeta{Description: meta.Description, Labels: meta.Labels}
		if e.Meta.Labels == nil {
			e.Meta.Labels = map[string]string{}
		}
		peers = append(peers, e)
	}
	sort.Slice(peers, func(i, j int) bool { return peers[i].Name < peers[j].Name })
	return struct {
		Peers []peerEntry `json:"peers"`
	}{peers}, nil
}

// ---- session/input_status ----

func (s *server) handleInputStatus(rc *reqCtx) (any, *rpcError) {
	var p struct {
		SessionID *string `json:"session_id"`
		Selector  *struct {
			By    string `json:"by"`
			Value string `json:"value"`
		} `json:"selector"`
	}
	if rerr := decodeParams(rc.params, &p); rerr != nil {
		return nil, rerr
	}
	if p.SessionID == nil {
		return nil, invalidParams("Invalid params: missing field `session_id`")
	}
	if p.Selector == nil {
		return nil, invalidParams("Invalid params: missing field `selector`")
	}
	if p.Selector.By != "input_id" && p.Selector.By != "idempotency_key" {
		return nil, invalidParams("Invalid params: selector.by must be input_id or idempotency_key")
	}
	sess := s.realm.session(*p.SessionID)
	if sess == nil {
		return nil, sessionNotFound(*p.SessionID)
	}
	var rec *inputRecord
	sess.mu.Lock()
	for i := range sess.data.Inputs {
		r := sess.data.Inputs[i]
		if (p.Selector.By == "input_id" && r.InputID == p.Selector.Value) ||
			(p.Selector.By == "idempotency_key" && r.IdempotencyKey != "" && r.IdempotencyKey == p.Selector.Value) {
			rec = &r
			break
		}
	}
	sess.mu.Unlock()
	type historyEntry struct {
		Timestamp string `json:"timestamp"`
		From      string `json:"from"`
		To        string `json:"to"`
	}
	type state struct {
		InputID              string         `json:"input_id"`
		CurrentState         string         `json:"current_state"`
		CreatedAt            string         `json:"created_at"`
		UpdatedAt            string         `json:"updated_at"`
		IdempotencyKey       *string        `json:"idempotency_key"`
		TerminalOutcome      *string        `json:"terminal_outcome"`
		History              []historyEntry `json:"history"`
		AttemptCount         uint32         `json:"attempt_count"`
		RecoveryCount        uint32         `json:"recovery_count"`
		Durability           string         `json:"durability"`
		Policy               string         `json:"policy"`
		PersistedInput       map[string]any `json:"persisted_input"`
		ReconstructionSource string         `json:"reconstruction_source"`
	}
	if rec == nil {
		return struct {
			State *state `json:"state"`
		}{nil}, nil
	}
	st := &state{
		InputID: rec.InputID, CurrentState: rec.State, CreatedAt: rec.CreatedAt, UpdatedAt: rec.UpdatedAt,
		History:    []historyEntry{{rec.CreatedAt, "accepted", rec.State}},
		Durability: "durable", Policy: "queue", ReconstructionSource: "live",
	}
	if s.realm.persistent() {
		st.ReconstructionSource = "snapshot"
	}
	if rec.IdempotencyKey != "" {
		k := rec.IdempotencyKey
		st.IdempotencyKey = &k
	}
	if rec.Outcome != "" {
		o := rec.Outcome
		st.TerminalOutcome = &o
	}
	if rec.State == "queued" {
		st.History = []historyEntry{{rec.CreatedAt, "accepted", "queued"}}
	}
	if strings.HasPrefix(rec.Kind, "peer_") {
		st.PersistedInput = map[string]any{"kind": "peer_message", "peer_name": rec.PeerName}
	} else {
		st.PersistedInput = map[string]any{"kind": "prompt", "text_preview": rec.TextPreview}
	}
	return struct {
		State *state `json:"state"`
	}{st}, nil
}
