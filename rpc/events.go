package rpc

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Event is one typed agent event payload. Concrete types are pointers to
// the structs of this package, e.g. *TextDelta or *ToolCallRequested; a
// payload the SDK cannot type is an *UnknownEvent. Use a type switch:
//
//	switch ev := env.Event.(type) {
//	case *rpc.TextDelta:
//		fmt.Print(ev.Delta)
//	case *rpc.TurnCompleted:
//		...
//	}
type Event interface {
	// EventType returns the wire name of the event, the payload's "type"
	// (for an *UnknownEvent, "malformed_event" or the unrecognised type).
	EventType() string
}

// MalformedEventType is the EventType of an [*UnknownEvent] standing in for
// a payload that has no string "type", or whose fields do not fit the
// contract's shape for its type. A known event with a missing or mistyped
// required field is such an event, never a typed event with zero values.
const MalformedEventType = "malformed_event"

// InvalidEnvelopeType is the EventType of an [*UnknownEvent] standing in for
// a whole notification an [*EventStream] or [*Subscription] could not read
// (an envelope that breaks the contract, a stream event without an event).
// Raw holds the envelope or notification params and Err says why; the
// stream goes on.
const InvalidEnvelopeType = "invalid_envelope"

// invalidEnvelope returns the Envelope standing in for raw, which could not
// be read for err.
func invalidEnvelope(raw []byte, err error) Envelope {
	return Envelope{Event: &UnknownEvent{Type: InvalidEnvelopeType, Raw: json.RawMessage(raw), Err: err}, Payload: json.RawMessage(raw)}
}

// UnknownEvent is a payload the SDK could not turn into a typed event: one
// whose type is outside the contract's inventory (under lenient typing), or
// a malformed one (Type is [MalformedEventType]).
type UnknownEvent struct {
	// Type is the payload's type, or MalformedEventType.
	Type string
	// OriginalType is the payload's type when a payload of a known type was
	// malformedEvent; empty otherwise.
	OriginalType string
	// Raw is the payload JSON as received.
	Raw json.RawMessage
	// Err says why a malformed payload was rejected; nil for an unknown type.
	Err error
}

// EventType returns e.Type.
func (e *UnknownEvent) EventType() string { return e.Type }

// EventOptions controls how event payloads are typed. The zero value is
// lenient typing.
type EventOptions struct {
	// Strict makes a payload type outside the contract's inventory
	// ([KnownEventTypes]) an error wrapping [ErrUnknownEventType], failing
	// closed as the Python SDK does. When false (the default) such a payload
	// becomes an [*UnknownEvent], for forward compatibility with newer
	// runtimes.
	Strict bool

	// text is the turn's long text, when the reader already made it: a
	// run_completed event's result shares it rather than copying it again.
	text string
}

// Source identifies who emitted an event: the envelope's "source", tagged by
// Type. Exactly the field belonging to Type is set.
type Source struct {
	// Type is "session", "runtime", "interaction", "callback" or "external".
	Type string
	// SessionID is the emitting session (a canonical UUID) when Type is "session".
	SessionID string
	// RuntimeID is the emitting runtime when Type is "runtime".
	RuntimeID string
	// InteractionID is the interaction (a canonical UUID) when Type is "interaction".
	InteractionID string
	// SourceID names the external source when Type is "external".
	SourceID string
}

// ID returns the identifier belonging to s.Type, or "" for a callback source.
func (s Source) ID() string {
	switch s.Type {
	case "session":
		return s.SessionID
	case "runtime":
		return s.RuntimeID
	case "interaction":
		return s.InteractionID
	case "external":
		return s.SourceID
	}
	return ""
}

// Envelope is an event with its delivery metadata (the contract's
// EventEnvelope).
//
// The events of a stream are copied out of the runtime's output into
// shared blocks of up to 32 KiB, so a program that keeps one event's
// strings or Payload keeps its block alive; copy what you keep from a long
// stream (strings.Clone, bytes.Clone) if memory matters. Payload must not be
// modified. A stream keeps a streamed text event compactly and builds its
// Envelope when [EventStream.Envelope] is called: reading only
// [EventStream.Current] is the cheaper way through a long stream.
type Envelope struct {
	// EventID is the event's canonical lowercase UUID.
	EventID string
	// Source identifies the emitter.
	Source Source
	// Seq orders the events of one source.
	Seq uint64
	// TimestampMS is the emission time, in milliseconds since the Unix epoch.
	TimestampMS uint64
	// MobID names the mob the event belongs to; empty when absent.
	MobID string
	// Event is the typed payload. It is never nil: a payload the SDK cannot
	// type is an *UnknownEvent.
	Event Event
	// Payload is the payload JSON, verbatim.
	Payload json.RawMessage
	// ScopeID is the scope of a scoped event: one delivered in the scoped
	// wrapper form {scope_id, scope_path, event}, or a */stream_event whose
	// params carry scope_id and scope_path; empty otherwise.
	ScopeID string
	// ScopePath holds the scope frames of a scoped event, verbatim (objects
	// tagged by "scope": "primary" or "mob_member"); nil otherwise.
	ScopePath []json.RawMessage
	// Sequence is the subscription's sequence number of an event read from
	// a [Subscription] (the "sequence" of its */stream_event notification);
	// zero for the events of a turn's stream.
	Sequence uint64
}

// ParseEnvelope parses one event envelope (the "event" of a session/event
// or */stream_event notification).
//
// The envelope is validated strictly: event_id must be a canonical
// lowercase hyphenated UUID; seq and timestamp_ms non-negative integers
// that fit in a uint64; payload an object with a non-empty string "type";
// mob_id, when present and not null, a non-empty string; source an object
// tagged by type as [Source] describes (session and interaction ids must be
// canonical UUIDs, runtime and external ids non-empty strings). Any
// violation, and any JSON syntax error, returns an error wrapping
// [ErrInvalidResponse]. Unknown envelope keys are ignored.
//
// The payload is then typed leniently by [ParseEvent]; the only payload
// error is an unknown type under opts.Strict, which wraps
// [ErrUnknownEventType] (the returned Envelope is then filled in, with an
// *UnknownEvent).
//
// The scoped wrapper form {"scope_id":…, "scope_path":[…], "event":…} is
// accepted too, and ScopeID and ScopePath are set; scope_id must be a
// string and scope_path an array of objects. Its event is either a whole
// envelope, parsed as above, or, as the contract's ScopedAgentEvent has
// it, a bare AgentEvent payload (an object with a "type" and no
// "payload"): the Envelope then has the payload only, and no event id,
// source, seq or timestamp.
//
// ParseEnvelope does not copy data: Payload, ScopePath and the Raw of an
// *UnknownEvent refer into it, so data must not be modified afterwards.
// It is safe for concurrent use.
func ParseEnvelope(data []byte, opts EventOptions) (Envelope, error) {
	var env Envelope
	var topBuf [7]evMember
	var srcBuf [2]evMember
	var payBuf [4]evMember
	parts, err := parseEnvelopeDocument(data, topBuf[:0], srcBuf[:0], payBuf[:0])
	if err != nil {
		return env, envelopeErrorf("%v", err)
	}
	return env, fillFromParts(&env, parts, opts)
}

// fillFromParts fills env from the members of a valid envelope object, in
// either the plain or the scoped wrapper form.
func fillFromParts(env *Envelope, parts envelopeParts, opts EventOptions) error {
	if evFind(parts.top, "payload") < 0 {
		if i := evFind(parts.top, "event"); i >= 0 {
			return parseScopedEnvelope(env, parts.top, parts.top[i].val, opts)
		}
	}
	return fillEnvelope(env, parts, opts)
}

// isTerminal reports whether the envelope whose members are p (its raw
// JSON is raw) carries a run_completed or run_failed payload.
func (p *envelopeParts) isTerminal(raw []byte) bool {
	if p.payIdx < 0 || evFind(p.top, "payload") != p.payIdx {
		return isTerminalEvent(raw) // scoped, escaped or no payload: look closer
	}
	i := evFind(p.pay, "type")
	if i < 0 {
		return false
	}
	if p.pay[i].vesc {
		return isTerminalEvent(raw)
	}
	t := string(p.pay[i].val)
	return t == `"run_completed"` || t == `"run_failed"`
}

// envelopeParts holds the members of an envelope object and, when they
// were collected in the same pass, those of its source and payload objects
// (srcIdx and payIdx index the members in top they belong to, or are -1).
type envelopeParts struct {
	top, src, pay  []evMember
	srcIdx, payIdx int
}

// parseEnvelopeDocument parses data as one JSON object, optionally
// surrounded by white space, collecting the members of the object and of
// its "source" and "payload" objects in one pass.
func parseEnvelopeDocument(data []byte, top, src, pay []evMember) (envelopeParts, error) {
	i := evSkipSpace(data, 0)
	if i == len(data) || data[i] != '{' {
		return envelopeParts{}, evDocumentError(data, i)
	}
	parts, end, ok := parseEnvelopeObject(data, i, 0, top, src, pay)
	if !ok || evSkipSpace(data, end) != len(data) {
		return envelopeParts{}, errors.New("invalid JSON")
	}
	return parts, nil
}

// parseEnvelopeObject is evParseObject for an envelope nested in depth
// containers: object values of the keys "source" and "payload" are parsed
// into src and pay in the same pass.
func parseEnvelopeObject(d []byte, i, depth int, top, src, pay []evMember) (envelopeParts, int, bool) {
	p := envelopeParts{srcIdx: -1, payIdx: -1}
	nested := func(key []byte, kesc bool, j, index int) (int, bool) {
		if kesc || d[j] != '{' {
			return 0, false
		}
		var vend int
		switch string(key) {
		case "source":
			p.src, vend, _ = evParseObject(d, j, depth+1, src[:0])
			p.srcIdx = index
		case "payload":
			p.pay, vend, _ = evParseObject(d, j, depth+1, pay[:0])
			p.payIdx = index
		default:
			return 0, false
		}
		return vend, true
	}
	var end int
	var ok bool
	p.top, end, ok = evParseObjectNested(d, i, depth, top, nested)
	return p, end, ok
}

// evDocumentError describes why data, whose first non-space byte is at i,
// is not a JSON object.
func evDocumentError(data []byte, i int) error {
	if i == len(data) {
		return errors.New("empty input")
	}
	if end := evScanValue(data, i, 0); end >= 0 && evSkipSpace(data, end) == len(data) {
		return errors.New("not a JSON object")
	}
	return errors.New("invalid JSON")
}

// parseScopedEnvelope parses the scoped wrapper form, whose members are ms, into env.
func parseScopedEnvelope(env *Envelope, ms []evMember, inner []byte, opts EventOptions) error {
	i := evFind(ms, "scope_id")
	if i < 0 {
		return envelopeErrorf("scoped event: scope_id is required")
	}
	scopeID, ok := evString(ms[i])
	if !ok {
		return envelopeErrorf("scoped event: scope_id must be a string")
	}
	i = evFind(ms, "scope_path")
	if i < 0 {
		return envelopeErrorf("scoped event: scope_path is required")
	}
	path, ok := evSplitArray(ms[i].val)
	if !ok {
		return envelopeErrorf("scoped event: scope_path must be an array of objects")
	}
	if inner[0] != '{' {
		return envelopeErrorf("scoped event: event must be an object")
	}
	var topBuf [8]evMember
	var srcBuf [4]evMember
	var payBuf [8]evMember
	parts, _, ok := parseEnvelopeObject(inner, 0, 0, topBuf[:0], srcBuf[:0], payBuf[:0])
	if !ok { // unreachable: inner was validated with the document
		return envelopeErrorf("scoped event: invalid event")
	}
	var err error
	switch {
	case evFind(parts.top, "payload") >= 0:
		err = fillEnvelope(env, parts, opts)
	case evFind(parts.top, "type") < 0 && evFind(parts.top, "event") >= 0:
		return envelopeErrorf("scoped event: nested scoped wrappers are not supported")
	default:
		// The contract's ScopedAgentEvent: a bare AgentEvent payload.
		env.Payload = inner
		env.Event, err = decodeEvent(inner, parts.top, opts)
	}
	env.ScopeID = scopeID
	env.ScopePath = path
	return err
}

// fillEnvelope validates the members of an envelope object and fills env.
func fillEnvelope(env *Envelope, p envelopeParts, opts EventOptions) error {
	ms := p.top
	pi := evFind(ms, "payload")
	if pi < 0 {
		return envelopeErrorf("payload is required")
	}
	payload := ms[pi].val
	if payload[0] != '{' {
		return envelopeErrorf("payload must be an object")
	}
	pms := p.pay
	if pi != p.payIdx { // the payload key was written with escapes
		var buf [8]evMember
		pms, _, _ = evParseObject(payload, 0, 1, buf[:0])
	}
	if ti := evFind(pms, "type"); ti < 0 || len(pms[ti].val) < 3 || pms[ti].val[0] != '"' {
		return envelopeErrorf("payload.type must be a non-empty string")
	}

	i := evFind(ms, "event_id")
	if i < 0 {
		return envelopeErrorf("event_id is required")
	}
	var idRaw []byte // the event id, still to be copied
	if !ms[i].vesc && len(ms[i].val) == 38 && isCanonicalUUID(ms[i].val[1:37]) {
		idRaw = ms[i].val[1:37]
	} else if id, ok := evString(ms[i]); ok && isCanonicalUUID(id) {
		env.EventID = id
	} else {
		return envelopeErrorf("event_id must be a canonical lowercase UUID, got %s", ms[i].val)
	}

	si := evFind(ms, "source")
	if si < 0 {
		return envelopeErrorf("source is required")
	}
	if ms[si].val[0] != '{' {
		return envelopeErrorf("source must be an object")
	}
	sms := p.src
	if si != p.srcIdx {
		var buf [4]evMember
		sms, _, _ = evParseObject(ms[si].val, 0, 1, buf[:0])
	}
	dst, srcRaw, err := parseEventSource(sms, &env.Source)
	if err != nil {
		return err
	}
	switch {
	case dst != nil && idRaw != nil:
		// Copy both ids with one allocation.
		var b strings.Builder
		b.Grow(len(idRaw) + len(srcRaw))
		b.Write(idRaw)
		b.Write(srcRaw)
		ids := b.String()
		env.EventID, *dst = ids[:len(idRaw)], ids[len(idRaw):]
	case dst != nil:
		*dst = string(srcRaw)
	case idRaw != nil:
		env.EventID = string(idRaw)
	}

	var ok bool
	if env.Seq, ok = evUint(ms, "seq"); !ok {
		return envelopeErrorf("seq must be a non-negative 64-bit integer")
	}
	if env.TimestampMS, ok = evUint(ms, "timestamp_ms"); !ok {
		return envelopeErrorf("timestamp_ms must be a non-negative 64-bit integer")
	}

	if i = evFind(ms, "mob_id"); i >= 0 && !evIsNull(ms[i].val) {
		mob, ok := evString(ms[i])
		if !ok || mob == "" {
			return envelopeErrorf("mob_id must be a non-empty string or null")
		}
		env.MobID = mob
	}

	env.Payload = payload
	ev, err := decodeEvent(payload, pms, opts)
	env.Event = ev
	return err
}

// parseEventSource validates the members ms of a tagged source object into
// s. When the source's id needs no decoding it is not stored: its raw bytes
// are returned with the field they belong in, for the caller to copy.
func parseEventSource(ms []evMember, s *Source) (dst *string, raw []byte, err error) {
	i := evFind(ms, "type")
	if i < 0 {
		return nil, nil, envelopeErrorf("source.type is required")
	}
	typ, ok := evRawString(ms[i])
	if !ok || len(typ) == 0 {
		return nil, nil, envelopeErrorf("source.type must be a non-empty string")
	}
	var field string
	var uuid bool
	switch string(typ) {
	case "session":
		s.Type, field, uuid, dst = "session", "session_id", true, &s.SessionID
	case "runtime":
		s.Type, field, dst = "runtime", "runtime_id", &s.RuntimeID
	case "interaction":
		s.Type, field, uuid, dst = "interaction", "interaction_id", true, &s.InteractionID
	case "external":
		s.Type, field, dst = "external", "source_id", &s.SourceID
	case "callback":
		s.Type = "callback"
		return nil, nil, nil
	default:
		return nil, nil, envelopeErrorf("source.type has unsupported value %q", typ)
	}
	if i = evFind(ms, field); i < 0 {
		return nil, nil, envelopeErrorf("source.%s is required for a %s source", field, s.Type)
	}
	m := ms[i]
	if !m.vesc && len(m.val) > 2 && m.val[0] == '"' && (!uuid || isCanonicalUUID(m.val[1:len(m.val)-1])) {
		return dst, m.val[1 : len(m.val)-1], nil
	}
	id, ok := evString(m)
	switch {
	case !ok || id == "":
		return nil, nil, envelopeErrorf("source.%s must be a non-empty string", field)
	case uuid && !isCanonicalUUID(id):
		return nil, nil, envelopeErrorf("source.%s must be a canonical lowercase UUID, got %s", field, m.val)
	}
	*dst = id
	return nil, nil, nil
}

// envelopeErrorf returns an error wrapping ErrInvalidResponse.
func envelopeErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: event envelope: %s", ErrInvalidResponse, fmt.Sprintf(format, args...))
}

// ParseEvent types one event payload object leniently. It never panics and
// returns a nil error except under opts.Strict:
//
//   - a payload that is not a JSON object, or has no non-empty string
//     "type", becomes &UnknownEvent{Type: "malformed_event"} with Err set;
//   - a payload of a known type whose required fields are missing, null or
//     of the wrong JSON type becomes &UnknownEvent{Type: "malformed_event",
//     OriginalType: type} with Err set;
//   - a type outside [KnownEventTypes] becomes &UnknownEvent{Type: type},
//     or, under opts.Strict, the same event together with an error
//     wrapping [ErrUnknownEventType];
//   - anything else becomes its typed event, e.g. *TextDelta.
//
// Unknown fields are ignored. The legacy field names of older runtimes
// (run_started.prompt, run_failed.error/error_class, hook_failed.error and
// the flat retrying fields) are accepted when the contract's names are absent.
//
// Like [ParseEnvelope], ParseEvent may keep references into payload.
func ParseEvent(payload []byte, opts EventOptions) (Event, error) {
	var buf [8]evMember
	ms, err := evParseDocument(payload, buf[:0])
	if err != nil {
		return malformedEvent(evTrimSpace(payload), "", err), nil
	}
	return decodeEvent(evTrimSpace(payload), ms, opts)
}

// malformedEvent returns the UnknownEvent standing in for a malformed payload.
func malformedEvent(raw []byte, originalType string, err error) *UnknownEvent {
	return &UnknownEvent{Type: MalformedEventType, OriginalType: originalType, Raw: raw, Err: err}
}

// decodeEvent types the payload object raw whose members are ms.
func decodeEvent(raw []byte, ms []evMember, opts EventOptions) (Event, error) {
	i := evFind(ms, "type")
	if i < 0 {
		return malformedEvent(raw, "", errors.New("payload has no type")), nil
	}
	tb, ok := evRawString(ms[i])
	if !ok || len(tb) == 0 {
		return malformedEvent(raw, "", errors.New("payload type must be a non-empty string")), nil
	}
	// Fast path for the streaming events carrying one string.
	switch string(tb) {
	case EventTypeTextDelta:
		s, err := evStringField(ms, "delta")
		if err != nil {
			return malformedEvent(raw, EventTypeTextDelta, err), nil
		}
		return &TextDelta{Delta: s}, nil
	case EventTypeReasoningDelta:
		s, err := evStringField(ms, "delta")
		if err != nil {
			return malformedEvent(raw, EventTypeReasoningDelta, err), nil
		}
		return &ReasoningDelta{Delta: s}, nil
	case EventTypeTextComplete:
		s, err := evStringField(ms, "content")
		if err != nil {
			return malformedEvent(raw, EventTypeTextComplete, err), nil
		}
		return &TextComplete{Content: s}, nil
	case EventTypeReasoningComplete:
		s, err := evStringField(ms, "content")
		if err != nil {
			return malformedEvent(raw, EventTypeReasoningComplete, err), nil
		}
		return &ReasoningComplete{Content: s}, nil
	}
	spec, ok := eventSpecs[string(tb)]
	if !ok {
		ev := &UnknownEvent{Type: string(tb), Raw: raw}
		if opts.Strict {
			return ev, fmt.Errorf("%w: %q", ErrUnknownEventType, ev.Type)
		}
		return ev, nil
	}
	if err := spec.checkRequired(ms); err != nil {
		return malformedEvent(raw, spec.name, err), nil
	}
	var ev Event
	var err error
	if spec.name == EventTypeRunCompleted && opts.text != "" {
		ev, err = decodeRunCompletedKnown(raw, opts.text)
	} else {
		ev, err = spec.decode(raw)
	}
	if err == nil {
		if v, ok := ev.(interface{ validate() error }); ok {
			err = v.validate()
		}
	}
	if err != nil {
		return malformedEvent(raw, spec.name, err), nil
	}
	return ev, nil
}

// evStringField returns the string value of the required member name.
func evStringField(ms []evMember, name string) (string, error) {
	i := evFind(ms, name)
	if i < 0 {
		return "", fmt.Errorf("missing required field %q", name)
	}
	s, ok := evString(ms[i])
	if !ok {
		return "", fmt.Errorf("field %q must be a string", name)
	}
	return s, nil
}

// KnownEventTypes returns the contract's event type inventory: the 41 payload
// types of the AgentEvent schema (the 39 of WireEvent.known_event_types plus
// server_tool_content and transcript_rewrite_audit_receipt_committed), in
// schema order. Each has a typed event in this package. The slice is a copy.
func KnownEventTypes() []string { return slices.Clone(knownEventTypes) }

// isCanonicalUUID reports whether s is a UUID in canonical form: 36
// characters, lowercase hex digits in groups of 8-4-4-4-12 joined by hyphens.
// The 32 digits are checked eight at a time.
func isCanonicalUUID[T string | []byte](s T) bool {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return false
	}
	return lowerHex8(le64(s, 0)) &&
		lowerHex8(le32(s, 9)|le32(s, 14)<<32) &&
		lowerHex8(le32(s, 19)|le32(s, 24)<<32) &&
		lowerHex8(le64(s, 28))
}

// lowerHex8 reports whether the eight bytes packed in x are all lowercase
// hex digits. For a byte below 0x80 none of the sums or differences below
// carries into the next byte, and each one's high bit answers one bound:
// b >= '0', b <= '9', b >= 'a', b <= 'f'.
func lowerHex8(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	if x&highs != 0 {
		return false
	}
	digit := (x + (0x80-'0')*ones) & ((0x80+'9')*ones - x)
	letter := (x + (0x80-'a')*ones) & ((0x80+'f')*ones - x)
	return (digit|letter)&highs == highs
}

// le64 returns the eight bytes of s from i, little-endian.
func le64[T string | []byte](s T, i int) uint64 {
	_ = s[i+7]
	return uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
		uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
}

// le32 returns the four bytes of s from i, little-endian.
func le32[T string | []byte](s T, i int) uint64 {
	_ = s[i+3]
	return uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24
}

// Byte classes for the string scanner; 0 is a byte that needs no look.
const (
	evClassQuote  = 1 + iota // "
	evClassEscape            // \
	evClassCtl               // bytes below 0x20
	evClassHigh              // bytes from 0x80
)

// evByteClass classifies every byte value.
var evByteClass = func() (t [256]uint8) {
	t['"'] = evClassQuote
	t['\\'] = evClassEscape
	for c := 0; c < 0x20; c++ {
		t[c] = evClassCtl
	}
	for c := 0x80; c < 0x100; c++ {
		t[c] = evClassHigh
	}
	return t
}()

// ---- A small validating JSON scanner ----
//
// The envelope is scanned by hand instead of with encoding/json: text_delta
// envelopes arrive by the hundred thousand, and decoding them through
// reflection would cost several times the read loop itself. The scanner
// accepts exactly the documents json.Valid accepts (the fuzz test checks
// this) and decodes strings with encoding/json's semantics.

// evMaxNesting is the deepest nesting of arrays and objects accepted, as in
// encoding/json.
const evMaxNesting = 10000

// evMember is one member of a JSON object.
type evMember struct {
	key  []byte // the key's raw bytes, between the quotes
	val  []byte // the value's raw JSON
	kesc bool   // the key has escapes or non-ASCII bytes
	vesc bool   // the value is a string with escapes or non-ASCII bytes
}

// evParseDocument parses data as one JSON object, optionally surrounded by
// white space, appending its members to ms.
func evParseDocument(data []byte, ms []evMember) ([]evMember, error) {
	i := evSkipSpace(data, 0)
	if i == len(data) || data[i] != '{' {
		return ms, evDocumentError(data, i)
	}
	ms, end, ok := evParseObject(data, i, 0, ms)
	if !ok || evSkipSpace(data, end) != len(data) {
		return ms, errors.New("invalid JSON")
	}
	return ms, nil
}

// evParseObject parses the object starting at d[i] == '{', nested in depth
// containers, appends its members to ms and returns the index just past the
// closing brace.
func evParseObject(d []byte, i, depth int, ms []evMember) ([]evMember, int, bool) {
	return evParseObjectNested(d, i, depth, ms, nil)
}

// evParseObjectNested is evParseObject where nested, when non-nil, may parse
// a member's value itself (it gets the key, whether the key has escapes,
// the value's offset and the member's index) and report where it ends.
func evParseObjectNested(d []byte, i, depth int, ms []evMember, nested func(key []byte, kesc bool, j, index int) (int, bool)) ([]evMember, int, bool) {
	if depth >= evMaxNesting {
		return ms, 0, false
	}
	i = evSkipSpace(d, i+1)
	if i < len(d) && d[i] == '}' {
		return ms, i + 1, true
	}
	for {
		if i >= len(d) || d[i] != '"' {
			return ms, 0, false
		}
		kend, kesc := evScanString(d, i)
		if kend < 0 {
			return ms, 0, false
		}
		key := d[i+1 : kend-1]
		i = evSkipSpace(d, kend)
		if i >= len(d) || d[i] != ':' {
			return ms, 0, false
		}
		i = evSkipSpace(d, i+1)
		var vend int
		vesc := false
		handled := false
		if nested != nil && i < len(d) {
			vend, handled = nested(key, kesc, i, len(ms))
		}
		switch {
		case handled:
		case i < len(d) && d[i] == '"':
			vend, vesc = evScanString(d, i)
		default:
			vend = evScanValue(d, i, depth+1)
		}
		if vend <= 0 {
			return ms, 0, false
		}
		ms = append(ms, evMember{key: key, val: d[i:vend], kesc: kesc, vesc: vesc})
		i = evSkipSpace(d, vend)
		if i >= len(d) {
			return ms, 0, false
		}
		switch d[i] {
		case ',':
			i = evSkipSpace(d, i+1)
		case '}':
			return ms, i + 1, true
		default:
			return ms, 0, false
		}
	}
}

// evSplitArray splits the valid JSON array v into its elements, each of which
// must be an object.
func evSplitArray(v []byte) ([]json.RawMessage, bool) {
	if v[0] != '[' {
		return nil, false
	}
	out := []json.RawMessage{}
	i := evSkipSpace(v, 1)
	if v[i] == ']' {
		return out, true
	}
	for {
		end := evScanValue(v, i, 1)
		if end < 0 || v[i] != '{' {
			return nil, false
		}
		out = append(out, v[i:end])
		i = evSkipSpace(v, end)
		if v[i] == ']' {
			return out, true
		}
		i = evSkipSpace(v, i+1) // past ','
	}
}

// evFind returns the index of the last member named name (the one
// encoding/json and the Python SDK would keep), or -1.
func evFind(ms []evMember, name string) int {
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].kesc {
			if evUnquote(ms[i].key) == name {
				return i
			}
		} else if string(ms[i].key) == name {
			return i
		}
	}
	return -1
}

// evUint returns the value of member name if it is a non-negative
// integer that fits in a uint64.
func evUint(ms []evMember, name string) (uint64, bool) {
	i := evFind(ms, name)
	if i < 0 || len(ms[i].val) > 20 {
		return 0, false
	}
	var n uint64
	for _, c := range ms[i].val {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (1<<64-1-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// evIsNull reports whether the raw JSON value v is null.
func evIsNull(v []byte) bool { return string(v) == "null" }

// evTrimSpace strips JSON white space from both ends of b.
func evTrimSpace(b []byte) []byte {
	i := evSkipSpace(b, 0)
	j := len(b)
	for j > i && (b[j-1] == ' ' || b[j-1] == '\t' || b[j-1] == '\n' || b[j-1] == '\r') {
		j--
	}
	return b[i:j]
}

func evSkipSpace(d []byte, i int) int {
	for i < len(d) {
		switch d[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// evScanValue returns the index just past the JSON value starting at d[i],
// or -1 if there is no valid value there. depth counts enclosing containers.
func evScanValue(d []byte, i, depth int) int {
	if i >= len(d) {
		return -1
	}
	switch c := d[i]; c {
	case '"':
		end, _ := evScanString(d, i)
		return end
	case '{':
		if depth >= evMaxNesting {
			return -1
		}
		i = evSkipSpace(d, i+1)
		if i < len(d) && d[i] == '}' {
			return i + 1
		}
		for {
			if i >= len(d) || d[i] != '"' {
				return -1
			}
			if i, _ = evScanString(d, i); i < 0 {
				return -1
			}
			i = evSkipSpace(d, i)
			if i >= len(d) || d[i] != ':' {
				return -1
			}
			if i = evScanValue(d, evSkipSpace(d, i+1), depth+1); i < 0 {
				return -1
			}
			i = evSkipSpace(d, i)
			if i >= len(d) {
				return -1
			}
			switch d[i] {
			case ',':
				i = evSkipSpace(d, i+1)
			case '}':
				return i + 1
			default:
				return -1
			}
		}
	case '[':
		if depth >= evMaxNesting {
			return -1
		}
		i = evSkipSpace(d, i+1)
		if i < len(d) && d[i] == ']' {
			return i + 1
		}
		for {
			if i = evScanValue(d, i, depth+1); i < 0 {
				return -1
			}
			i = evSkipSpace(d, i)
			if i >= len(d) {
				return -1
			}
			switch d[i] {
			case ',':
				i = evSkipSpace(d, i+1)
			case ']':
				return i + 1
			default:
				return -1
			}
		}
	case 't':
		return evScanLiteral(d, i, "true")
	case 'f':
		return evScanLiteral(d, i, "false")
	case 'n':
		return evScanLiteral(d, i, "null")
	default:
		if c == '-' || (c >= '0' && c <= '9') {
			return evScanNumber(d, i)
		}
		return -1
	}
}

func evScanLiteral(d []byte, i int, lit string) int {
	if len(d)-i < len(lit) || string(d[i:i+len(lit)]) != lit {
		return -1
	}
	return i + len(lit)
}

// evScanNumber scans -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
func evScanNumber(d []byte, i int) int {
	if d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && d[i] >= '1' && d[i] <= '9':
		i = evSkipDigits(d, i+1)
	default:
		return -1
	}
	if i < len(d) && d[i] == '.' {
		j := evSkipDigits(d, i+1)
		if j == i+1 {
			return -1
		}
		i = j
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		j := evSkipDigits(d, i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}

func evSkipDigits(d []byte, i int) int {
	for i < len(d) && d[i] >= '0' && d[i] <= '9' {
		i++
	}
	return i
}

// evScanString returns the index just past the string starting at d[i] == '"',
// or -1 if it is not a valid JSON string, and whether the string has
// escapes or non-ASCII bytes (and so must be decoded with evUnquote).
func evScanString(d []byte, i int) (int, bool) {
	esc := false
	i++
	for {
		// Skip plain ASCII eight bytes at a time, up to the first byte that
		// needs a look.
		for i+8 <= len(d) {
			m := evSpecialBytes(binary.LittleEndian.Uint64(d[i:]))
			if m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		if i >= len(d) {
			return -1, esc
		}
		switch evByteClass[d[i]] {
		case 0:
			i++
		case evClassQuote:
			return i + 1, esc
		case evClassHigh:
			esc = true
			i++
		case evClassEscape:
			esc = true
			if i+1 >= len(d) {
				return -1, esc
			}
			switch d[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if evGetU4(d[i:]) < 0 {
					return -1, esc
				}
				i += 6
			default:
				return -1, esc
			}
		default: // control character
			return -1, esc
		}
	}
}

// evSpecialBytes returns a mask whose lowest set bit is the high bit of the
// first of the eight bytes packed little-endian in w that needs a look
// inside a string: a quote, a backslash, a control character or a
// non-ASCII byte. It is zero when there is none. (Bits above the lowest
// may be spurious.)
func evSpecialBytes(w uint64) uint64 {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	q := w ^ ('"' * ones)
	b := w ^ ('\\' * ones)
	ctl := (w - 0x20*ones) &^ w
	quote := (q - ones) &^ q
	backslash := (b - ones) &^ b
	return (ctl | quote | backslash | w) & highs
}

func evHexVal(c byte) rune {
	switch {
	case c >= '0' && c <= '9':
		return rune(c - '0')
	case c >= 'a' && c <= 'f':
		return rune(c - 'a' + 10)
	case c >= 'A' && c <= 'F':
		return rune(c - 'A' + 10)
	}
	return -1
}

// evRawString returns the contents of the string member m, decoded only when
// it has escapes or non-ASCII bytes.
func evRawString(m evMember) ([]byte, bool) {
	if len(m.val) < 2 || m.val[0] != '"' {
		return nil, false
	}
	s := m.val[1 : len(m.val)-1]
	if m.vesc {
		s = []byte(evUnquote(s))
	}
	return s, true
}

// evString decodes the value of m if it is a string.
func evString(m evMember) (string, bool) {
	if len(m.val) < 2 || m.val[0] != '"' {
		return "", false
	}
	s := m.val[1 : len(m.val)-1]
	if !m.vesc {
		return string(s), true
	}
	return evUnquote(s), true
}

// evUnquote decodes the contents of a valid JSON string the way encoding/json
// does: invalid UTF-8 and unpaired surrogates become U+FFFD.
func evUnquote(s []byte) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if c == '\\' && i+1 < len(s) {
			switch s[i+1] {
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'u':
				r := evGetU4(s[i:])
				if r < 0 {
					return string(s) // unreachable for scanned input
				}
				i += 6
				if utf16.IsSurrogate(r) {
					if r2 := evGetU4(s[i:]); r2 >= 0 {
						if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
							b.WriteRune(dec)
							i += 6
							continue
						}
					}
					r = utf8.RuneError
				}
				b.WriteRune(r)
				continue
			default: // '"', '\\', '/'
				b.WriteByte(s[i+1])
			}
			i += 2
			continue
		}
		if c < utf8.RuneSelf {
			b.WriteByte(c)
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.Write(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// evGetU4 decodes the \uXXXX escape at the start of s, or returns -1.
func evGetU4(s []byte) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range s[2:6] {
		h := evHexVal(c)
		if h < 0 {
			return -1
		}
		r = r<<4 | h
	}
	return r
}
