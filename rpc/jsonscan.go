package rpc

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// This file holds the read path's view of the package's validating JSON
// scanner (the ev* functions of events.go). The reader classifies and
// routes every line the runtime writes; doing that with encoding/json would
// decode each line several times. A line is validated once and handed out
// as raw sub-slices, which are decoded fully only where they are consumed.

var errSyntax = errors.New("invalid JSON")

func syntaxErr(data []byte, i int, what string) error {
	return fmt.Errorf("%w at offset %d: %s", errSyntax, i, what)
}

// eachField validates the JSON object at the start of data (after optional
// white space) and calls fn, when non-nil, with each member's raw key
// (quotes stripped, escapes left as they are) and raw value. It returns the
// offset just past the object. The scanning is the event parser's
// (evParseObject), so the package has one JSON grammar.
func eachField(data []byte, depth int, fn func(key, val []byte)) (int, error) {
	i := evSkipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return 0, syntaxErr(data, i, "expected an object")
	}
	var buf [8]evMember
	ms, end, ok := evParseObject(data, i, depth, buf[:0])
	if !ok {
		return 0, syntaxErr(data, i, "not a valid JSON object")
	}
	if fn != nil {
		for _, m := range ms {
			fn(m.key, m.val)
		}
	}
	return end, nil
}

// scanLine reports whether data is exactly one JSON object with nothing
// but white space after it, calling fn for each top-level member.
func scanLine(data []byte, fn func(key, val []byte)) error {
	end, err := eachField(data, 0, fn)
	if err != nil {
		return err
	}
	if rest := evSkipSpace(data, end); rest != len(data) {
		return syntaxErr(data, rest, "trailing data after the object")
	}
	return nil
}

// rawString returns the Go string for a raw JSON string value. Strings
// without escapes are converted directly; others go through strconv.
func rawString(val []byte) (string, bool) {
	if len(val) < 2 || val[0] != '"' || val[len(val)-1] != '"' {
		return "", false
	}
	inner := val[1 : len(val)-1]
	for _, c := range inner {
		if c == '\\' {
			s, err := strconv.Unquote(string(val))
			if err != nil {
				return unquoteJSON(val)
			}
			return s, true
		}
	}
	return string(inner), true
}

// unquoteJSON handles escapes strconv does not know (\/ and surrogate pairs).
func unquoteJSON(val []byte) (string, bool) {
	var s string
	if err := json.Unmarshal(val, &s); err != nil {
		return "", false
	}
	return s, true
}

// keyIs reports whether a raw key (from eachField) equals name. Keys with
// escapes are compared after decoding.
func keyIs(key []byte, name string) bool {
	if string(key) == name {
		return true
	}
	for _, c := range key {
		if c == '\\' {
			s, ok := rawString(append(append([]byte{'"'}, key...), '"'))
			return ok && s == name
		}
	}
	return false
}

// inFrame is the reader's view of one inbound line: the raw members of the
// top-level object and of its params object, and, when params.event is an
// object, that envelope's members, all collected in one validating pass.
type inFrame struct {
	id, method, params, result, errv []byte
	session, event, stream           []byte // members of params

	env    envelopeParts // the members of event, when hasEnv
	hasEnv bool
}

// frameScanner holds the reader's scratch space for scanning lines, so a
// line's members are collected without allocating.
type frameScanner struct {
	top, params, env [8]evMember
	src              [4]evMember
	pay              [8]evMember
	f                inFrame
}

// scan validates line as exactly one JSON object followed by nothing but
// white space, and returns its routing view. The view refers to line and
// to s, and is valid until the next scan.
func (s *frameScanner) scan(line []byte) (*inFrame, error) {
	f := &s.f
	*f = inFrame{}
	i := evSkipSpace(line, 0)
	if i >= len(line) || line[i] != '{' {
		return nil, syntaxErr(line, i, "expected an object")
	}
	var pms []evMember
	var env envelopeParts
	paramsAt, eventAt := -1, -1
	eventHook := func(key []byte, kesc bool, j, index int) (int, bool) {
		if kesc || line[j] != '{' || string(key) != "event" {
			return 0, false
		}
		var end int
		env, end, _ = parseEnvelopeObject(line, j, 2, s.env[:0], s.src[:0], s.pay[:0])
		eventAt = index
		return end, true
	}
	paramsHook := func(key []byte, kesc bool, j, index int) (int, bool) {
		if kesc || line[j] != '{' || string(key) != "params" {
			return 0, false
		}
		var end int
		eventAt = -1
		pms, end, _ = evParseObjectNested(line, j, 1, s.params[:0], eventHook)
		paramsAt = index
		return end, true
	}
	top, end, ok := evParseObjectNested(line, i, 0, s.top[:0], paramsHook)
	if !ok {
		return nil, syntaxErr(line, i, "not a valid JSON object")
	}
	if rest := evSkipSpace(line, end); rest != len(line) {
		return nil, syntaxErr(line, rest, "trailing data after the object")
	}
	last := -1 // the index of the params member that counts
	for k, m := range top {
		switch string(memberKey(m)) {
		case "id":
			f.id = m.val
		case "method":
			f.method = m.val
		case "params":
			f.params, last = m.val, k
		case "result":
			f.result = m.val
		case "error":
			f.errv = m.val
		}
	}
	if last < 0 || f.params[0] != '{' {
		return f, nil
	}
	if last != paramsAt {
		// The counting params key was written with escapes: collect its
		// members now, without the envelope (its consumer parses that).
		pms, _, _ = evParseObject(f.params, 0, 1, s.params[:0])
		eventAt = -1
	}
	last = -1
	for k, m := range pms {
		switch string(memberKey(m)) {
		case "session_id":
			f.session = m.val
		case "event":
			f.event, last = m.val, k
		case "stream_id":
			f.stream = m.val
		}
	}
	if last >= 0 && last == eventAt {
		f.env, f.hasEnv = env, true
	}
	return f, nil
}

// memberKey returns m's key, decoded when it has escapes.
func memberKey(m evMember) []byte {
	if m.kesc {
		return []byte(evUnquote(m.key))
	}
	return m.key
}
