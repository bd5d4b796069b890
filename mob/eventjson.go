package mob

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/mobd-dev/mobd/flows"
	"github.com/mobd-dev/mobd/rpc"
)

// MarshalJSON encodes the event as AppendJSON does.
func (e Event) MarshalJSON() ([]byte, error) {
	return e.AppendJSON(make([]byte, 0, 256))
}

// AppendJSON appends the event's JSON encoding to b: byte for byte what
// encoding/json makes of its fields and their tags, without reflection.
// A mob journals every event it records, so this is on the path of every
// step of every flow. It fails where encoding/json fails: on a raw JSON
// field (Output, Params, Spec, Definition) that is not valid JSON, or a
// time outside the years 0 to 9999.
func (e *Event) AppendJSON(b []byte) ([]byte, error) {
	return e.appendJSON(b, true)
}

// appendPayload appends the event's journal payload to b: AppendJSON's
// encoding without the fields the journal record holds in columns of its
// own (cursor, mob_id, type, at and run_id), which DecodeEvent takes from
// the record. They were a third of a step event's bytes.
func (e *Event) appendPayload(b []byte) ([]byte, error) {
	return e.appendJSON(b, false)
}

// appendJSON is AppendJSON, or appendPayload without envelope.
func (e *Event) appendJSON(b []byte, envelope bool) ([]byte, error) {
	var err error
	b = append(b, '{')
	first := true
	key := func(k string) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '"')
		b = append(b, k...)
		b = append(b, '"', ':')
	}
	str := func(k, v string) {
		if v != "" {
			key(k)
			b = appendString(b, v)
		}
	}
	num := func(k string, v int64) {
		if v != 0 {
			key(k)
			b = strconv.AppendInt(b, v, 10)
		}
	}
	raw := func(k string, v json.RawMessage) {
		if len(v) > 0 && err == nil {
			key(k)
			b, err = appendRaw(b, v)
		}
	}
	if envelope {
		if e.Cursor != 0 {
			key("cursor")
			b = strconv.AppendUint(b, e.Cursor, 10)
		}
		str("mob_id", e.Mob)
		key("type")
		b = appendString(b, e.Type)
		if !e.At.IsZero() {
			key("at")
			if b, err = appendTime(b, e.At); err != nil {
				return nil, err
			}
		}
		str("run_id", e.Run)
	}
	str("flow_id", e.Flow)
	str("frame", e.Frame)
	str("step_id", e.Step)
	str("loop_id", e.Loop)
	num("iteration", int64(e.Iteration))
	str("member", e.Member)
	str("peer", e.Peer)
	str("role", e.Role)
	str("session_id", e.SessionID)
	num("attempt", int64(e.Attempt))
	str("key", e.Key)
	raw("output", e.Output)
	if e.Usage != nil {
		key("usage")
		b = appendUsage(b, e.Usage)
	}
	str("class", e.Class)
	str("error", e.Error)
	str("reason", e.Reason)
	num("delay_ms", e.DelayMS)
	raw("params", e.Params)
	raw("spec", e.Spec)
	raw("definition", e.Definition)
	if e.Decision != nil {
		key("decision")
		b = appendDecision(b, e.Decision)
	}
	str("text", e.Text)
	if err != nil {
		return nil, err
	}
	return append(b, '}'), nil
}

func appendUsage(b []byte, u *rpc.Usage) []byte {
	b = append(b, `{"input_tokens":`...)
	b = strconv.AppendUint(b, u.InputTokens, 10)
	b = append(b, `,"output_tokens":`...)
	b = strconv.AppendUint(b, u.OutputTokens, 10)
	if u.TotalTokens != 0 {
		b = append(b, `,"total_tokens":`...)
		b = strconv.AppendUint(b, u.TotalTokens, 10)
	}
	if u.CacheCreationTokens != nil {
		b = append(b, `,"cache_creation_tokens":`...)
		b = strconv.AppendUint(b, *u.CacheCreationTokens, 10)
	}
	if u.CacheReadTokens != nil {
		b = append(b, `,"cache_read_tokens":`...)
		b = strconv.AppendUint(b, *u.CacheReadTokens, 10)
	}
	return append(b, '}')
}

func appendDecision(b []byte, d *flows.ApprovalDecision) []byte {
	b = append(b, `{"approved":`...)
	b = strconv.AppendBool(b, d.Approved)
	if d.By != "" {
		b = append(b, `,"by":`...)
		b = appendString(b, d.By)
	}
	if d.Comment != "" {
		b = append(b, `,"comment":`...)
		b = appendString(b, d.Comment)
	}
	return append(b, '}')
}

// appendTime appends t as time.Time's MarshalJSON does.
func appendTime(b []byte, t time.Time) ([]byte, error) {
	if y := t.Year(); y < 0 || y >= 10000 {
		out, err := json.Marshal(t) // for its error
		if err != nil {
			return nil, err
		}
		return append(b, out...), nil
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), nil
}

// plainJSON reports whether c stands for itself in an encoding/json
// string: printable ASCII other than the quote, the backslash and the
// characters it escapes for HTML.
func plainJSON(c byte) bool {
	return c >= 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
}

// appendString appends s quoted as encoding/json quotes it.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if !plainJSON(s[i]) {
			out, _ := json.Marshal(s) // a string always encodes
			return append(b, out...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendRaw appends raw JSON as encoding/json writes a json.RawMessage
// field: validated and compacted, with HTML characters escaped. Raw JSON
// that is compact and plain ASCII is appended as it is.
func appendRaw(b []byte, raw json.RawMessage) ([]byte, error) {
	if rawIsPlain(raw) && json.Valid(raw) {
		return append(b, raw...), nil
	}
	out, err := json.Marshal(raw)
	if err != nil {
		return nil, err
	}
	return append(b, out...), nil
}

// rawIsPlain reports whether compacting and escaping raw would leave it
// unchanged: no white space outside strings, nothing but plain characters
// and escapes inside them, and no HTML characters or non-ASCII anywhere.
func rawIsPlain(raw []byte) bool {
	in, esc := false, false
	for _, c := range raw {
		switch {
		case esc:
			esc = false
			if !plainJSON(c) && c != '"' && c != '\\' {
				return false
			}
		case in:
			switch {
			case c == '\\':
				esc = true
			case c == '"':
				in = false
			case !plainJSON(c):
				return false
			}
		case c == '"':
			in = true
		case c <= ' ' || c >= 0x7f || c == '<' || c == '>' || c == '&':
			return false
		}
	}
	return true
}
