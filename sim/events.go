package sim

import (
	"encoding/json"
	"time"
)

// emitOpt controls how one event is delivered.
type emitOpt struct {
	flush       bool // flush the output after writing
	injected    bool // deliberately malformed; marked in the transcript
	streamsOnly bool // deliver only to open subscriptions, not as session/event
}

// emitEvent assigns the session's next seq to payload (an encoded AgentEvent),
// wraps it in an EventEnvelope and writes it as a session/event notification
// and to every open stream that observes the session.
func (s *server) emitEvent(sess *session, payload []byte, opt emitOpt) {
	sess.emitMu.Lock()
	defer sess.emitMu.Unlock()
	seq := sess.nextSeq()
	env := appendEnvelope(sess.envBuf[:0], sess.id, sess.mobID, seq, payload)
	sess.envBuf = env
	if !opt.streamsOnly {
		line := sess.lineBuf[:0]
		line = append(line, `{"jsonrpc":"2.0","method":"session/event","params":{"session_id":`...)
		line = appendJSONString(line, sess.id)
		line = append(line, `,"event":`...)
		line = append(line, env...)
		line = append(line, "}}"...)
		sess.lineBuf = line
		s.out.write(kindNotification, "session/event", line, opt.injected, false)
	}
	s.streams.deliver(s, sess, env, opt)
	if opt.flush {
		s.out.flush()
	}
}

// appendEnvelope encodes an EventEnvelope around payload.
func appendEnvelope(dst []byte, sessionID, mobID string, seq uint64, payload []byte) []byte {
	dst = append(dst, `{"event_id":"`...)
	dst = appendUUIDv4(dst)
	dst = append(dst, `","source":{"type":"session","session_id":`...)
	dst = appendJSONString(dst, sessionID)
	dst = append(dst, `},"seq":`...)
	dst = appendUint(dst, seq)
	dst = append(dst, `,"timestamp_ms":`...)
	dst = appendUint(dst, uint64(time.Now().UnixMilli()))
	if mobID != "" {
		dst = append(dst, `,"mob_id":`...)
		dst = appendJSONString(dst, mobID)
	}
	dst = append(dst, `,"payload":`...)
	dst = append(dst, payload...)
	return append(dst, '}')
}

// appendTextDelta encodes a text_delta payload (the hot path).
func appendTextDelta(dst []byte, delta string) []byte {
	dst = append(dst, `{"type":"text_delta","delta":`...)
	dst = appendJSONString(dst, delta)
	return append(dst, '}')
}

// ---- AgentEvent payloads (events.json) ----

type runInputContent struct {
	Kind    string          `json:"kind"`
	Content json.RawMessage `json:"content"`
}

type evRunStarted struct {
	Type      string          `json:"type"`
	SessionID string          `json:"session_id"`
	Input     runInputContent `json:"input"`
}

// eventUsage is the events.json Usage shape.
type eventUsage struct {
	InputTokens  uint64 `json:"input_tokens"`
	OutputTokens uint64 `json:"output_tokens"`
}

type evRunCompleted struct {
	Type               string     `json:"type"`
	SessionID          string     `json:"session_id"`
	Result             string     `json:"result"`
	Usage              eventUsage `json:"usage"`
	ExtractionRequired bool       `json:"extraction_required"`
}

type errorReport struct {
	Class   string `json:"class"`
	Message string `json:"message"`
}

type evRunFailed struct {
	Type        string      `json:"type"`
	SessionID   string      `json:"session_id"`
	ErrorReport errorReport `json:"error_report"`
}

type evTurnStarted struct {
	Type       string `json:"type"`
	TurnNumber uint32 `json:"turn_number"`
}

type evTextComplete struct {
	Type    string `json:"type"`
	Content string `json:"content"`
}

type tokenAccounting struct {
	Provider        string `json:"provider"`
	Model           string `json:"model"`
	PresentedTokens uint64 `json:"presented_tokens"`
	Convention      string `json:"convention"`
	Aggregation     string `json:"aggregation"`
}

type turnUsage struct {
	InputTokens  uint64          `json:"input_tokens"`
	OutputTokens uint64          `json:"output_tokens"`
	Accounting   tokenAccounting `json:"accounting"`
}

type evTurnCompleted struct {
	Type       string     `json:"type"`
	StopReason string     `json:"stop_reason"`
	Usage      *turnUsage `json:"usage"`
}

type evToolCallRequested struct {
	Type string          `json:"type"`
	ID   string          `json:"id"`
	Name string          `json:"name"`
	Args json.RawMessage `json:"args"`
}

type evToolExecutionStarted struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Name string `json:"name"`
}

type evToolExecutionCompleted struct {
	Type       string          `json:"type"`
	ID         string          `json:"id"`
	Name       string          `json:"name"`
	Content    json.RawMessage `json:"content"`
	IsError    bool            `json:"is_error"`
	DurationMS uint64          `json:"duration_ms"`
}

type evToolResultReceived struct {
	Type    string          `json:"type"`
	ID      string          `json:"id"`
	Name    string          `json:"name"`
	Content json.RawMessage `json:"content"`
	IsError bool            `json:"is_error"`
}

type evSkillsResolved struct {
	Type           string     `json:"type"`
	Skills         []skillKey `json:"skills"`
	InjectionBytes uint64     `json:"injection_bytes"`
}

type skillFailureReason struct {
	ReasonType string   `json:"reason_type"`
	Key        skillKey `json:"key"`
}

type evSkillResolutionFailed struct {
	Type     string             `json:"type"`
	Reason   skillFailureReason `json:"reason"`
	SkillKey *skillKey          `json:"skill_key"`
}

type evExtractionSucceeded struct {
	Type             string          `json:"type"`
	SessionID        string          `json:"session_id"`
	StructuredOutput json.RawMessage `json:"structured_output"`
}

type evExtractionFailed struct {
	Type       string `json:"type"`
	SessionID  string `json:"session_id"`
	LastOutput string `json:"last_output"`
	Attempts   uint32 `json:"attempts"`
	Reason     string `json:"reason"`
}

type noticePeer struct {
	ID          string  `json:"id"`
	DisplayName *string `json:"display_name"`
}

type evPeerContentIngested struct {
	Type        string      `json:"type"`
	Kind        string      `json:"kind"`
	Peer        *noticePeer `json:"peer"`
	RequestID   *string     `json:"request_id"`
	SenderTaint string      `json:"sender_taint"`
}

// accountingFor describes how a provider presents input tokens.
func accountingFor(provider, model string, input uint64) tokenAccounting {
	a := tokenAccounting{Provider: provider, Model: model, PresentedTokens: input, Aggregation: "provider_inclusive_input_total"}
	switch provider {
	case "anthropic":
		a.Convention, a.Aggregation = "anthropic_disjoint_input_components", "sum_disjoint_provider_components"
	case "openai":
		a.Convention = "open_ai_input_includes_cached_subset"
	case "gemini":
		a.Convention = "gemini_prompt_includes_cached_subset"
	case "self_hosted":
		a.Convention = "open_ai_compatible_prompt_includes_cache_details"
	default:
		a.Convention = "host_declared_inclusive_input_total"
	}
	return a
}
