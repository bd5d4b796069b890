package rpc

import "encoding/json"

// The fast path types the runtime's most frequent line, a session/event
// notification carrying a streamed text, in one pass over the line with no
// intermediate member lists. It has two tiers: a line written exactly as
// the runtime writes it (the contract's member order, no white space) is
// matched against that template, its constant parts compared rather than
// read; any other is read member by member, in any order, keys matched as
// they are read and values going straight into a fastEvent.
//
// Either tier accepts only a line that it can type completely and whose
// fastEvent's envelope is the Envelope the general path (frameScanner.scan,
// then fillFromParts) would type; anything else (another method, an
// unusual payload type, a scoped event, a duplicate or escaped key, an
// invalid value, a syntax error) is declined, and the general path handles
// the line from scratch, with its precise errors. A fuzz test checks that
// the paths agree on every line the fast path accepts.

// deltaBlock is how many text deltas the fast path allocates at once.
const deltaBlock = 128

// Members seen, to decline duplicates and find missing required ones.
const (
	fkEventID = 1 << iota
	fkSource
	fkSeq
	fkTimestamp
	fkPayload
	fkMobID
)

// fastState is the fast path's memory between lines.
type fastState struct {
	arena     *arena      // where ids, texts and payloads are copied
	sessionID string      // the source session id of the last event typed: a canonical UUID, or empty
	deltas    []TextDelta // the unused rest of a block of text deltas
	// The last timestamp the template tier read: its digits and value.
	tsDigits [20]byte
	tsLen    int
	ts       uint64
}

// stamp is fastUint for a template line's timestamp_ms. A stream's events
// mostly share their millisecond, so the digits of the last timestamp read
// are compared before any are parsed.
func (st *fastState) stamp(d []byte, i int) (n uint64, end int, ok bool) {
	if k := st.tsLen; k > 0 && len(d)-i > k && string(d[i:i+k]) == string(st.tsDigits[:k]) {
		switch c := d[i+k]; {
		case c >= '0' && c <= '9', c == '.', c == 'e', c == 'E':
			// longer, or not an integer: fastUint decides
		default:
			return st.ts, i + k, true
		}
	}
	if n, end, ok = fastUint(d, i); ok {
		st.tsLen = copy(st.tsDigits[:], d[i:end])
		st.ts = n
	}
	return n, end, ok
}

// fastEvent is an event the fast path typed, with all its envelope holds
// besides its session source. The event id is kept in the value itself (a
// canonical UUID), and a payload in the form the template tier reads,
// whose text needs no escapes, is not kept at all but rebuilt from the
// event: typing a streamed text copies little more than the text.
// envelope builds the Envelope when one is asked for.
type fastEvent struct {
	event   Event
	id      [36]byte
	session string // the source's session id
	mob     string
	seq, ts uint64
	payload []byte // nil: the canonical payload of event
}

// envelope returns f's Envelope, as the general path types its line.
func (f *fastEvent) envelope() Envelope {
	payload := f.payload
	if payload == nil {
		payload = canonicalPayload(f.event)
	}
	return Envelope{EventID: string(f.id[:]), Source: Source{Type: "session", SessionID: f.session},
		Seq: f.seq, TimestampMS: f.ts, MobID: f.mob, Event: f.event, Payload: payload}
}

// canonicalPayload returns the payload of a text event the fast path typed
// from a canonical payload: {"type":T,K:TEXT} with no white space, K the
// type's text member, and TEXT its text, which needed no escapes.
func canonicalPayload(ev Event) json.RawMessage {
	var typ, key, text string
	switch e := ev.(type) {
	case *TextDelta:
		typ, key, text = EventTypeTextDelta, "delta", e.Delta
	case *ReasoningDelta:
		typ, key, text = EventTypeReasoningDelta, "delta", e.Delta
	case *TextComplete:
		typ, key, text = EventTypeTextComplete, "content", e.Content
	case *ReasoningComplete:
		typ, key, text = EventTypeReasoningComplete, "content", e.Content
	}
	b := make([]byte, 0, len(`{"type":"","":""}`)+len(typ)+len(key)+len(text))
	b = append(b, `{"type":"`...)
	b = append(b, typ...)
	b = append(b, `","`...)
	b = append(b, key...)
	b = append(b, `":"`...)
	b = append(b, text...)
	return append(b, `"}`...)
}

// fastSessionEvent parses line into f when it is a session/event
// notification of a delta or complete text event, returning the session id
// of its params (which refers into line); ok is false when it declines.
// f refers to nothing in line: its text, and its payload unless canonical
// (see fastEvent), are copied into st's arena (the source's session id is
// shared with the previous event when they are equal), and a text delta
// comes from st's block of them.
func fastSessionEvent(line []byte, f *fastEvent, st *fastState) (sid []byte, ok bool) {
	if sid, ok = fastTemplate(line, f, st); ok {
		return sid, true
	}
	*f = fastEvent{}
	d := line
	i := evSkipSpace(d, 0)
	if i >= len(d) || d[i] != '{' {
		return nil, false
	}
	var method, params bool
	i = evSkipSpace(d, i+1)
	for k := 0; ; k++ {
		key, j, ok := fastMember(d, i, lineKeys, k)
		if !ok {
			return nil, false
		}
		switch string(key) {
		case "jsonrpc":
			if fastLiteral(d, j, `"2.0"`) {
				j += len(`"2.0"`)
			} else {
				j = evScanValue(d, j, 1)
			}
		case "method":
			if method || !fastLiteral(d, j, `"session/event"`) {
				return nil, false
			}
			method, j = true, j+len(`"session/event"`)
		case "params":
			if params || j >= len(d) || d[j] != '{' {
				return nil, false
			}
			params = true
			if sid, j, ok = fastParams(d, j, f, st); !ok {
				return nil, false
			}
		default: // id, result, error: not a notification's
			return nil, false
		}
		var closed bool
		if i, closed, ok = fastNext(d, j); !ok {
			return nil, false
		}
		if closed {
			break
		}
	}
	if !method || !params || evSkipSpace(d, i) != len(d) {
		return nil, false
	}
	f.payload = st.arena.bytes(f.payload)
	return sid, true
}

// fastParams parses the params object at d[i] == '{'.
func fastParams(d []byte, i int, f *fastEvent, st *fastState) (id []byte, end int, ok bool) {
	var sid, event bool
	i = evSkipSpace(d, i+1)
	for k := 0; ; k++ {
		key, j, ok := fastMember(d, i, paramsKeys, k)
		if !ok {
			return nil, 0, false
		}
		switch string(key) {
		case "session_id":
			if sid {
				return nil, 0, false
			}
			if fastQuoted(d, j, st.sessionID) { // the usual: the previous event's session
				sid, id, j = true, d[j+1:j+37], j+38
				break
			}
			if j >= len(d) || d[j] != '"' {
				return nil, 0, false
			}
			vend, esc := evScanString(d, j)
			if vend < 0 || esc || vend-j < 3 {
				return nil, 0, false
			}
			sid, id, j = true, d[j+1:vend-1], vend
		case "event":
			if event || j >= len(d) || d[j] != '{' {
				return nil, 0, false
			}
			event = true
			if j, ok = fastEnvelope(d, j, f, st); !ok {
				return nil, 0, false
			}
		default:
			if j = evScanValue(d, j, 2); j < 0 {
				return nil, 0, false
			}
		}
		var closed bool
		if i, closed, ok = fastNext(d, j); !ok {
			return nil, 0, false
		}
		if closed {
			return id, i, sid && event
		}
	}
}

// fastEnvelope parses the envelope object at d[i] == '{' into f.
func fastEnvelope(d []byte, i int, f *fastEvent, st *fastState) (int, bool) {
	var seen int
	var eventID, sourceID []byte
	var p fastText
	i = evSkipSpace(d, i+1)
	for k := 0; ; k++ {
		key, j, ok := fastMember(d, i, envelopeKeys, k)
		if !ok {
			return 0, false
		}
		var bit int
		switch string(key) {
		case "event_id":
			bit = fkEventID
			if !fastUUID(d, j) {
				return 0, false
			}
			eventID, j = d[j+1:j+37], j+38
		case "source":
			bit = fkSource
			if sourceID, j, ok = fastSource(d, j, st.sessionID); !ok {
				return 0, false
			}
		case "seq":
			bit = fkSeq
			if f.seq, j, ok = fastUint(d, j); !ok {
				return 0, false
			}
		case "timestamp_ms":
			bit = fkTimestamp
			if f.ts, j, ok = fastUint(d, j); !ok {
				return 0, false
			}
		case "payload":
			bit = fkPayload
			start := j
			if p, j, ok = fastPayload(d, j); !ok {
				return 0, false
			}
			f.payload = d[start:j]
		case "mob_id":
			bit = fkMobID
			if fastLiteral(d, j, "null") {
				j += len("null")
				break
			}
			if j >= len(d) || d[j] != '"' {
				return 0, false
			}
			vend, esc := evScanString(d, j)
			if vend < 0 || esc || vend-j < 3 {
				return 0, false
			}
			f.mob, j = string(d[j+1:vend-1]), vend
		case "event", "scope_id", "scope_path": // the scoped form
			return 0, false
		default:
			if j = evScanValue(d, j, 3); j < 0 {
				return 0, false
			}
		}
		if seen&bit != 0 {
			return 0, false
		}
		seen |= bit
		var closed bool
		if i, closed, ok = fastNext(d, j); !ok {
			return 0, false
		}
		if closed {
			break
		}
	}
	const required = fkEventID | fkSource | fkSeq | fkTimestamp | fkPayload
	if seen&required != required {
		return 0, false
	}
	if !p.complete() {
		return 0, false
	}
	fastFinish(f, st, eventID, sourceID, &p)
	return i, true
}

// complete reports whether p is a payload the fast path types: one of its
// four types, with that type's text member.
func (p *fastText) complete() bool {
	var delta bool // the type's text member is "delta" (else "content")
	switch string(p.ptype) {
	case EventTypeTextDelta, EventTypeReasoningDelta:
		delta = true
	case EventTypeTextComplete, EventTypeReasoningComplete:
	default:
		return false
	}
	return p.text != nil && p.delta == delta
}

// fastFinish fills in f's id, source and event from the raw event id and
// source id (both canonical UUIDs) and the complete payload p.
func fastFinish(f *fastEvent, st *fastState, eventID, sourceID []byte, p *fastText) {
	var content string
	if p.esc {
		content = evUnquote(p.text)
	} else {
		content = st.arena.string(p.text)
	}
	copy(f.id[:], eventID)
	if st.sessionID != string(sourceID) {
		st.sessionID = string(sourceID)
	}
	f.session = st.sessionID
	switch string(p.ptype) {
	case EventTypeTextDelta:
		if len(st.deltas) == 0 {
			st.deltas = make([]TextDelta, deltaBlock)
		}
		ev := &st.deltas[0]
		st.deltas = st.deltas[1:]
		ev.Delta = content
		f.event = ev
	case EventTypeReasoningDelta:
		f.event = &ReasoningDelta{Delta: content}
	case EventTypeTextComplete:
		f.event = &TextComplete{Content: content}
	case EventTypeReasoningComplete:
		f.event = &ReasoningComplete{Content: content}
	}
}

// fastTemplate is fastSessionEvent for a line written exactly as the
// runtime writes it, member by member in the contract's order with no
// white space: the constant parts are compared, not read, and only the
// ids, numbers and text are looked at.
func fastTemplate(d []byte, f *fastEvent, st *fastState) (sid []byte, ok bool) {
	const (
		head     = `{"jsonrpc":"2.0","method":"session/event","params":{"session_id":"`
		eventID  = `","event":{"event_id":"`
		source   = `","source":{"type":"session","session_id":"`
		seq      = `"},"seq":`
		stamp    = `,"timestamp_ms":`
		payload  = `,"payload":`
		typ      = `{"type":"`
		tail     = `}}}`
		uuidLen  = 36
		minTotal = len(head) + uuidLen + len(eventID) + uuidLen + len(source) + uuidLen + len(seq) + 1 + len(stamp) + 1 + len(payload) + len(typ) + len(tail)
	)
	if len(d) < minTotal || string(d[:len(head)]) != head {
		return nil, false
	}
	i := len(head)
	sid = d[i : i+uuidLen]
	if string(sid) != st.sessionID && !isCanonicalUUID(sid) { // not a plain string of that length
		return nil, false
	}
	i += uuidLen
	if string(d[i:i+len(eventID)]) != eventID {
		return nil, false
	}
	i += len(eventID)
	id := d[i : i+uuidLen]
	if !isCanonicalUUID(id) {
		return nil, false
	}
	i += uuidLen
	if string(d[i:i+len(source)]) != source {
		return nil, false
	}
	i += len(source)
	src := d[i : i+uuidLen]
	if string(src) != st.sessionID && !isCanonicalUUID(src) {
		return nil, false
	}
	i += uuidLen
	if !fastLiteral(d, i, seq) {
		return nil, false
	}
	if f.seq, i, ok = fastUint(d, i+len(seq)); !ok || !fastLiteral(d, i, stamp) {
		return nil, false
	}
	if f.ts, i, ok = st.stamp(d, i+len(stamp)); !ok || !fastLiteral(d, i, payload) {
		return nil, false
	}
	i += len(payload)
	start := i
	var p fastText
	switch {
	case fastLiteral(d, i, typ+`text_delta","delta":"`):
		p.ptype, p.delta, i = d[i+len(typ):i+len(typ)+len("text_delta")], true, i+len(typ+`text_delta","delta":`)
	case fastLiteral(d, i, typ+`reasoning_delta","delta":"`):
		p.ptype, p.delta, i = d[i+len(typ):i+len(typ)+len("reasoning_delta")], true, i+len(typ+`reasoning_delta","delta":`)
	case fastLiteral(d, i, typ+`text_complete","content":"`):
		p.ptype, i = d[i+len(typ):i+len(typ)+len("text_complete")], i+len(typ+`text_complete","content":`)
	case fastLiteral(d, i, typ+`reasoning_complete","content":"`):
		p.ptype, i = d[i+len(typ):i+len(typ)+len("reasoning_complete")], i+len(typ+`reasoning_complete","content":`)
	default:
		return nil, false
	}
	end, esc := evScanString(d, i)
	if end < 0 || !fastLiteral(d, end, "}"+tail) || evSkipSpace(d, end+1+len(tail)) != len(d) {
		return nil, false
	}
	p.text, p.esc = d[i+1:end-1], esc
	f.payload, f.mob = nil, ""
	if esc { // else canonical: envelope rebuilds it
		f.payload = st.arena.bytes(d[start : end+1])
	}
	fastFinish(f, st, id, src, &p)
	return sid, true
}

// fastSource parses a session source object at d[i], returning its
// session id. known is a canonical UUID.
func fastSource(d []byte, i int, known string) (id []byte, end int, ok bool) {
	if i >= len(d) || d[i] != '{' {
		return nil, 0, false
	}
	var typed bool
	i = evSkipSpace(d, i+1)
	for k := 0; ; k++ {
		key, j, ok := fastMember(d, i, sourceKeys, k)
		if !ok {
			return nil, 0, false
		}
		switch string(key) {
		case "type":
			if typed || !fastLiteral(d, j, `"session"`) {
				return nil, 0, false
			}
			typed, j = true, j+len(`"session"`)
		case "session_id":
			// The id of the previous event's source was checked already.
			if id != nil || !(fastQuoted(d, j, known) || fastUUID(d, j)) {
				return nil, 0, false
			}
			id, j = d[j+1:j+37], j+38
		default:
			if j = evScanValue(d, j, 4); j < 0 {
				return nil, 0, false
			}
		}
		var closed bool
		if i, closed, ok = fastNext(d, j); !ok {
			return nil, 0, false
		}
		if closed {
			return id, i, typed && id != nil
		}
	}
}

// fastPayload parses a payload object at d[i], returning its raw type (no
// quotes) and its "delta" or "content" member's raw string value.
func fastPayload(d []byte, i int) (p fastText, end int, ok bool) {
	if i >= len(d) || d[i] != '{' {
		return p, 0, false
	}
	i = evSkipSpace(d, i+1)
	for k := 0; ; k++ {
		key, j, ok := fastMember(d, i, payloadKeys, k)
		if !ok {
			return p, 0, false
		}
		switch string(key) {
		case "type":
			if p.ptype != nil || j >= len(d) || d[j] != '"' {
				return p, 0, false
			}
			if fastLiteral(d, j, `"text_delta"`) {
				p.ptype, j = d[j+1:j+len(`"text_delta"`)-1], j+len(`"text_delta"`)
				break
			}
			vend, esc := evScanString(d, j)
			if vend < 0 || esc {
				return p, 0, false
			}
			p.ptype, j = d[j+1:vend-1], vend
		case "delta", "content":
			if p.text != nil || j >= len(d) || d[j] != '"' {
				return p, 0, false
			}
			vend, esc := evScanString(d, j)
			if vend < 0 {
				return p, 0, false
			}
			p.text, p.esc, p.delta, j = d[j+1:vend-1], esc, key[0] == 'd', vend
		default:
			if j = evScanValue(d, j, 4); j < 0 {
				return p, 0, false
			}
		}
		var closed bool
		if i, closed, ok = fastNext(d, j); !ok {
			return p, 0, false
		}
		if closed {
			return p, i, p.ptype != nil
		}
	}
}

// fastText is a payload as the fast path reads it.
type fastText struct {
	ptype []byte // the type, unquoted
	text  []byte // the "delta" or "content" string's raw contents
	esc   bool   // text has escapes or non-ASCII bytes
	delta bool   // text is the "delta" member (else "content")
}

// The members of each object in the order the runtime writes them (the
// contract's envelope order). The fast path tries the expected key first,
// with one comparison, and reads any other key in full.
var (
	lineKeys     = []string{"jsonrpc", "method", "params"}
	paramsKeys   = []string{"session_id", "event"}
	envelopeKeys = []string{"event_id", "source", "seq", "timestamp_ms", "payload"}
	sourceKeys   = []string{"type", "session_id"}
	payloadKeys  = []string{"type", "delta"}
)

// fastMember is fastKey for the k-th member of an object whose members
// usually come in the order given by expected.
func fastMember(d []byte, i int, expected []string, k int) (key []byte, j int, ok bool) {
	if k < len(expected) {
		want := expected[k]
		n := i + 1 + len(want)
		if n+1 < len(d) && d[i] == '"' && d[n] == '"' && d[n+1] == ':' && string(d[i+1:n]) == want {
			return d[i+1 : n], evSkipSpace(d, n+2), true
		}
	}
	return fastKey(d, i)
}

// fastKey reads the member key at d[i] and the colon after it, returning
// the key and the offset of the value. It fails on anything but a plain
// key (escapes, a closing brace, bad syntax).
func fastKey(d []byte, i int) (key []byte, j int, ok bool) {
	if i >= len(d) || d[i] != '"' {
		return nil, 0, false
	}
	kend, esc := evScanString(d, i)
	if kend < 0 || esc {
		return nil, 0, false
	}
	j = evSkipSpace(d, kend)
	if j >= len(d) || d[j] != ':' {
		return nil, 0, false
	}
	return d[i+1 : kend-1], evSkipSpace(d, j+1), true
}

// fastNext reads what follows a member's value ending at j: a comma (the
// next member starts at i) or the object's closing brace (closed; i is
// just past it).
func fastNext(d []byte, j int) (i int, closed, ok bool) {
	if j < 0 {
		return 0, false, false
	}
	j = evSkipSpace(d, j)
	if j >= len(d) {
		return 0, false, false
	}
	switch d[j] {
	case ',':
		return evSkipSpace(d, j+1), false, true
	case '}':
		return j + 1, true, true
	}
	return 0, false, false
}

// fastLiteral reports whether d holds lit at offset i.
func fastLiteral(d []byte, i int, lit string) bool {
	return len(d)-i >= len(lit) && string(d[i:i+len(lit)]) == lit
}

// fastQuoted reports whether d holds s, quoted, at offset i, when s is a
// canonical UUID (s is otherwise the empty string).
func fastQuoted(d []byte, i int, s string) bool {
	return len(s) == 36 && len(d)-i >= 38 && d[i] == '"' && d[i+37] == '"' && string(d[i+1:i+37]) == s
}

// fastUUID reports whether d holds a quoted canonical UUID at offset i.
func fastUUID(d []byte, i int) bool {
	return len(d)-i >= 38 && d[i] == '"' && d[i+37] == '"' && isCanonicalUUID(d[i+1:i+37])
}

// fastUint reads the non-negative integer at d[i]; it fails on anything
// else, including a fraction or an exponent, and leaves integers of 20
// digits or more (which may not fit a uint64) to the general path.
func fastUint(d []byte, i int) (n uint64, end int, ok bool) {
	start := i
	for i < len(d) && d[i] >= '0' && d[i] <= '9' {
		n = n*10 + uint64(d[i]-'0')
		i++
	}
	switch {
	case i == start, i-start >= 20, d[start] == '0' && i-start > 1:
		return 0, 0, false
	case i < len(d) && (d[i] == '.' || d[i] == 'e' || d[i] == 'E'):
		return 0, 0, false
	}
	return n, i, true
}
