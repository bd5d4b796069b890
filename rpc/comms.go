package rpc

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
)

// CommsMessage is a comms/send request. Kind selects the message family,
// and with it the fields the contract (CommsSendParams) allows; Send
// rejects a field set for a kind that does not take it, and a missing
// required one, with [ErrInvalidArgs] before sending:
//
//	kind            required              optional
//	input           Body                  Blocks, Source, Stream, AllowSelfSession, HandlingMode
//	peer_message    To, Body              Blocks, ContentTaint, HandlingMode
//	peer_lifecycle  To, LifecycleKind,    (none)
//	                Params
//	peer_request    To, Intent, Params    Blocks, ContentTaint, HandlingMode, Stream
//	peer_response   To, InReplyTo, Status Blocks, ContentTaint, HandlingMode, Result
//
// Body is always sent for input and peer_message, even when empty; other
// zero-valued fields are not sent.
type CommsMessage struct {
	// Kind is "input", "peer_message", "peer_lifecycle", "peer_request" or
	// "peer_response".
	Kind string `json:"kind"`
	// To names the peer (its peer id or comms name) for peer_* kinds.
	To string `json:"to,omitempty"`
	// Body is the plain-text body of an input or peer_message.
	Body string `json:"body,omitempty"`
	// Blocks is a multimodal body.
	Blocks []Block `json:"blocks,omitempty"`
	// LifecycleKind is mob.peer_added, mob.peer_retired, mob.peer_unwired
	// or mob.dismiss.
	LifecycleKind string `json:"lifecycle_kind,omitempty"`
	// Intent ("supervisor.bridge" or "checksum_token") and Params describe
	// a peer_request; Params is also the required {peer, …} object of a
	// peer_lifecycle.
	Intent string          `json:"intent,omitempty"`
	Params json.RawMessage `json:"params,omitempty"`
	// InReplyTo, Status (accepted, completed or failed) and Result describe
	// a peer_response.
	InReplyTo string          `json:"in_reply_to,omitempty"`
	Status    string          `json:"status,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	// Source is tcp, uds, stdin, webhook or rpc.
	Source string `json:"source,omitempty"`
	// Stream is none or reserve_interaction.
	Stream string `json:"stream,omitempty"`
	// AllowSelfSession lets an input target the sending session itself.
	AllowSelfSession bool `json:"allow_self_session,omitempty"`
	// HandlingMode is queue or steer.
	HandlingMode string `json:"handling_mode,omitempty"`
	// ContentTaint overrides the outbound content-taint declaration of a
	// peer_message, peer_request or peer_response for this send; the zero
	// value inherits the runtime-level declaration.
	ContentTaint SendTaintOverride `json:"content_taint,omitempty"`
	// IdempotencyKey is not part of comms/send.
	//
	// Deprecated: contract 0.8.26 has no idempotency_key on any comms/send
	// variant, and the runtime rejects the unknown field, so this field was
	// wrong on the wire. Send now fails with [ErrInvalidArgs] when it is
	// set, rather than letting a retry believe it is deduplicated.
	IdempotencyKey string `json:"-"`
}

// SendTaintOverride is the per-send content-taint override of comms/send
// (the contract's SendTaintOverride): declare the content clean, declare it
// tainted, or send no declaration even when the runtime has one. The zero
// value means no override: the runtime-level declaration applies.
type SendTaintOverride string

// Content-taint overrides for [CommsMessage.ContentTaint].
const (
	// TaintDeclareClean declares the content clean: {"declare":"clean"}.
	TaintDeclareClean SendTaintOverride = "clean"
	// TaintDeclareTainted declares the content tainted (it embeds unvetted
	// third-party material): {"declare":"tainted"}.
	TaintDeclareTainted SendTaintOverride = "tainted"
	// TaintUndeclared sends no declaration: "undeclared".
	TaintUndeclared SendTaintOverride = "undeclared"
)

// MarshalJSON writes the override's wire form: {"declare":"clean"},
// {"declare":"tainted"}, "undeclared", or null for the zero value.
func (t SendTaintOverride) MarshalJSON() ([]byte, error) {
	switch t {
	case "":
		return []byte("null"), nil
	case TaintDeclareClean, TaintDeclareTainted:
		return json.Marshal(map[string]string{"declare": string(t)})
	case TaintUndeclared:
		return []byte(`"undeclared"`), nil
	}
	return nil, fmt.Errorf("%w: unknown content taint override %q", ErrInvalidArgs, string(t))
}

// UnmarshalJSON reads the wire form MarshalJSON writes.
func (t *SendTaintOverride) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		*t = ""
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err == nil {
		if s != string(TaintUndeclared) {
			return fmt.Errorf("content taint override: unknown value %q", s)
		}
		*t = TaintUndeclared
		return nil
	}
	var d struct {
		Declare string `json:"declare"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return fmt.Errorf("content taint override: %w", err)
	}
	switch SendTaintOverride(d.Declare) {
	case TaintDeclareClean, TaintDeclareTainted:
		*t = SendTaintOverride(d.Declare)
		return nil
	}
	return fmt.Errorf("content taint override: unknown declaration %q", d.Declare)
}

// commsFields lists, per kind, the fields a comms/send variant allows and,
// first, those it requires (CommsSendParams in params.json; every variant
// has additionalProperties false).
var commsFields = map[string]struct{ required, optional []string }{
	"input":          {[]string{"body"}, []string{"blocks", "source", "stream", "allow_self_session", "handling_mode"}},
	"peer_message":   {[]string{"to", "body"}, []string{"blocks", "content_taint", "handling_mode"}},
	"peer_lifecycle": {[]string{"to", "lifecycle_kind", "params"}, nil},
	"peer_request":   {[]string{"to", "intent", "params"}, []string{"blocks", "content_taint", "handling_mode", "stream"}},
	"peer_response":  {[]string{"to", "in_reply_to", "status"}, []string{"blocks", "content_taint", "handling_mode", "result"}},
}

// params returns the comms/send params of m for session sessionID, or an
// [ErrInvalidArgs] error when m does not fit its kind's variant.
func (m CommsMessage) params(sessionID string) (map[string]any, error) {
	spec, ok := commsFields[m.Kind]
	if !ok {
		return nil, fmt.Errorf("%w: unknown comms kind %q", ErrInvalidArgs, m.Kind)
	}
	if m.IdempotencyKey != "" {
		return nil, fmt.Errorf("%w: comms/send takes no idempotency key (contract %s)", ErrInvalidArgs, ContractVersion)
	}
	for _, b := range m.Blocks {
		if err := b.validate(); err != nil {
			return nil, fmt.Errorf("%w: comms blocks: %v", ErrInvalidArgs, err)
		}
	}
	switch m.ContentTaint {
	case "", TaintDeclareClean, TaintDeclareTainted, TaintUndeclared:
	default:
		return nil, fmt.Errorf("%w: unknown content taint override %q", ErrInvalidArgs, string(m.ContentTaint))
	}
	set := map[string]any{}
	put := func(key string, on bool, v any) {
		if on {
			set[key] = v
		}
	}
	put("to", m.To != "", m.To)
	put("body", m.Body != "" || m.Kind == "input" || m.Kind == "peer_message", m.Body)
	put("blocks", len(m.Blocks) > 0, m.Blocks)
	put("lifecycle_kind", m.LifecycleKind != "", m.LifecycleKind)
	put("intent", m.Intent != "", m.Intent)
	put("params", len(m.Params) > 0, m.Params)
	put("in_reply_to", m.InReplyTo != "", m.InReplyTo)
	put("status", m.Status != "", m.Status)
	put("result", len(m.Result) > 0, m.Result)
	put("source", m.Source != "", m.Source)
	put("stream", m.Stream != "", m.Stream)
	put("allow_self_session", m.AllowSelfSession, true)
	put("handling_mode", m.HandlingMode != "", m.HandlingMode)
	put("content_taint", m.ContentTaint != "", m.ContentTaint)
	for _, key := range spec.required {
		if _, ok := set[key]; !ok {
			return nil, fmt.Errorf("%w: comms kind %s needs %s", ErrInvalidArgs, m.Kind, key)
		}
	}
	for key := range set {
		if !slices.Contains(spec.required, key) && !slices.Contains(spec.optional, key) {
			return nil, fmt.Errorf("%w: comms kind %s does not take %s", ErrInvalidArgs, m.Kind, key)
		}
	}
	set["kind"] = m.Kind
	set["session_id"] = sessionID
	return set, nil
}

// SendResult is the answer to comms/send, tagged by Kind:
// input_accepted, peer_message_sent, peer_lifecycle_sent,
// peer_request_sent or peer_response_sent.
type SendResult struct {
	Kind           string `json:"kind"`
	InteractionID  string `json:"interaction_id,omitempty"`
	StreamReserved bool   `json:"stream_reserved,omitempty"`
	EnvelopeID     string `json:"envelope_id,omitempty"`
	// Delivery is acked, handed_off (also spelled volatile_handed_off) or
	// queued; some runtimes send an object, kept raw.
	Delivery  json.RawMessage `json:"delivery,omitempty"`
	RequestID string          `json:"request_id,omitempty"`
	InReplyTo string          `json:"in_reply_to,omitempty"`
	// Raw is the answer exactly as the runtime sent it.
	Raw json.RawMessage `json:"-"`
}

// Send pushes a comms message into the session (comms/send). The message
// is checked against its kind's variant first (see [CommsMessage]).
func (s *Session) Send(ctx context.Context, msg CommsMessage) (*SendResult, error) {
	params, err := msg.params(s.id)
	if err != nil {
		return nil, err
	}
	var raw json.RawMessage
	if err := s.c.conn.call(ctx, "comms/send", params, &raw); err != nil {
		return nil, err
	}
	var r SendResult
	if err := json.Unmarshal(raw, &r); err != nil || r.Kind == "" {
		return nil, fmt.Errorf("%w: comms/send result %s", ErrInvalidResponse, raw)
	}
	r.Raw = raw
	return &r, nil
}

// mergeSessionID encodes v as an object and adds session_id to it.
func mergeSessionID(sessionID string, v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidArgs, err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidArgs, err)
	}
	m["session_id"] = sessionID
	return m, nil
}

// Peer is a comms peer visible to a session. Its fields vary by runtime;
// the common ones are decoded and the rest kept raw.
type Peer struct {
	Name   string `json:"name"`
	PeerID string `json:"peer_id,omitempty"`
	// Raw is the entry exactly as the runtime sent it.
	Raw json.RawMessage `json:"-"`
}

// UnmarshalJSON keeps the raw entry beside the decoded fields.
func (p *Peer) UnmarshalJSON(data []byte) error {
	type plain Peer
	var q plain
	if err := json.Unmarshal(data, &q); err != nil {
		return err
	}
	*p = Peer(q)
	p.Raw = append(json.RawMessage(nil), data...)
	return nil
}

// Peers lists the peers visible to the session's comms runtime.
func (s *Session) Peers(ctx context.Context) ([]Peer, error) {
	var res struct {
		Peers []Peer `json:"peers"`
	}
	if err := s.c.conn.call(ctx, "comms/peers", map[string]any{"session_id": s.id}, &res); err != nil {
		return nil, err
	}
	return res.Peers, nil
}

// InputStatus reports the stored runtime state of an input (its terminal
// outcome and run association) by its input id (by "input_id") or by the
// idempotency key it was submitted with (by "idempotency_key")
// (session/input_status). Idempotency keys belong to the methods that take
// one (session/inject_context, tools/register, …); comms/send, and so
// [Session.Send], has none. The answer is returned raw.
func (s *Session) InputStatus(ctx context.Context, by, value string) (json.RawMessage, error) {
	if by != "idempotency_key" && by != "input_id" {
		return nil, fmt.Errorf("%w: selector must be idempotency_key or input_id", ErrInvalidArgs)
	}
	var raw json.RawMessage
	err := s.c.conn.call(ctx, "session/input_status", map[string]any{
		"session_id": s.id,
		"selector":   map[string]any{"by": by, "value": value},
	}, &raw)
	return raw, err
}
