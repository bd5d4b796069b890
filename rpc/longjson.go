package rpc

import (
	"encoding/json"
	"strings"
)

// longString is the length above which a string member is decoded by the
// package's scanner: a turn that streamed a long answer returns all of it,
// in its result and in its run_completed event, and encoding/json reads a
// long string several times more slowly.
const longString = 4 << 10

// unmarshalLong is json.Unmarshal(raw, v) for an object one of whose
// members, name, may be a long string: that string is decoded by the
// package's scanner and handed to set, and the rest of the object by
// encoding/json. The member is the one encoding/json would decode into the
// field (the last whose key folds to name); v's field for it, if any, must
// be a string. Results and errors are encoding/json's. When the member's
// value is known (a string the caller has already made), set gets known
// itself rather than a copy.
func unmarshalLong(raw []byte, v any, name, known string, set func(string)) error {
	if len(raw) < longString {
		return json.Unmarshal(raw, v)
	}
	var buf [16]evMember
	ms, err := evParseDocument(raw, buf[:0])
	at := -1
	if err == nil {
		for i, m := range ms {
			if strings.EqualFold(string(memberKey(m)), name) {
				at = i
			}
		}
	}
	if at < 0 || len(ms[at].val) < longString || ms[at].val[0] != '"' {
		return json.Unmarshal(raw, v) // and its errors
	}
	rest := make([]byte, 0, len(raw)-len(ms[at].val))
	rest = append(rest, '{')
	for _, m := range ms {
		if strings.EqualFold(string(memberKey(m)), name) {
			continue
		}
		if len(rest) > 1 {
			rest = append(rest, ',')
		}
		rest = append(rest, '"')
		rest = append(rest, m.key...)
		rest = append(rest, '"', ':')
		rest = append(rest, m.val...)
	}
	rest = append(rest, '}')
	if err := json.Unmarshal(rest, v); err != nil {
		return err
	}
	set(evStringKnown(ms[at], known))
	return nil
}

// evStringKnown is evString for a string member m, returning known itself,
// not a copy, when m's value has known's bytes.
func evStringKnown(m evMember, known string) string {
	if known != "" && !m.vesc && string(m.val[1:len(m.val)-1]) == known {
		return known
	}
	s, _ := evString(m)
	return s
}
