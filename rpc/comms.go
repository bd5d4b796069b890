package rpc

import (
	"context"
	"encoding/json"
	"fmt"
)

// CommsMessage is a comms/send request. Kind selects the message family:
// "input", "peer_message", "peer_lifecycle", "peer_request" or
// "peer_response". Zero-valued fields are not sent.
type CommsMessage struct {
	Kind string `json:"kind"`
	// To names the peer (by comms name) for peer_* kinds.
	To string `json:"to,omitempty"`
	// Body is a plain-text body; Blocks a multimodal one.
	Body   string  `json:"body,omitempty"`
	Blocks []Block `json:"blocks,omitempty"`
	// LifecycleKind is mob.peer_added, mob.peer_retired or mob.peer_unwired.
	LifecycleKind string `json:"lifecycle_kind,omitempty"`
	// Intent and Params describe a peer_request.
	Intent string          `json:"intent,omitempty"`
	Params json.RawMessage `json:"params,omitempty"`
	// InReplyTo, Status and Result describe a peer_response.
	InReplyTo string          `json:"in_reply_to,omitempty"`
	Status    string          `json:"status,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	// Source is tcp, uds, stdin, webhook or rpc.
	Source string `json:"source,omitempty"`
	// Stream is none or reserve_interaction.
	Stream           string `json:"stream,omitempty"`
	AllowSelfSession bool   `json:"allow_self_session,omitempty"`
	// HandlingMode is queue or steer.
	HandlingMode string `json:"handling_mode,omitempty"`
	// IdempotencyKey makes a retried send safe: the runtime records the
	// input once under this key (see [Session.InputStatus]).
	IdempotencyKey string `json:"idempotency_key,omitempty"`
}

var commsKinds = map[string]bool{"input": true, "peer_message": true, "peer_lifecycle": true, "peer_request": true, "peer_response": true}

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

// Send pushes a comms message into the session.
func (s *Session) Send(ctx context.Context, msg CommsMessage) (*SendResult, error) {
	if !commsKinds[msg.Kind] {
		return nil, fmt.Errorf("%w: unknown comms kind %q", ErrInvalidArgs, msg.Kind)
	}
	params, err := mergeSessionID(s.id, msg)
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

// InputStatus reports the stored outcome of an input sent with an
// idempotency key (by "idempotency_key") or by input id ("input_id")
// (session/input_status). The answer is returned raw.
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
