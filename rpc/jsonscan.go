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

func skipWS(data []byte, i int) int { return evSkipSpace(data, i) }

// eachField validates the JSON object at the start of data (after optional
// white space) and calls fn, when non-nil, with each member's raw key
// (quotes stripped, escapes left as they are) and raw value. It returns the
// offset just past the object.
func eachField(data []byte, depth int, fn func(key, val []byte)) (int, error) {
	return eachFieldNested(data, depth, fn, "", nil)
}

// eachFieldNested is eachField that, for the member named nest whose value
// is an object, also calls nestFn for that object's members, in the same
// validating pass. The scanning is the event parser's (evParseObjectNested),
// so the package has one JSON grammar.
func eachFieldNested(data []byte, depth int, fn func(key, val []byte), nest string, nestFn func(key, val []byte)) (int, error) {
	i := evSkipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return 0, syntaxErr(data, i, "expected an object")
	}
	var topBuf, subBuf [8]evMember
	var sub []evMember
	var hook func(key []byte, kesc bool, j, index int) (int, bool)
	if nestFn != nil {
		hook = func(key []byte, _ bool, j, _ int) (int, bool) {
			if data[j] != '{' || !keyIs(key, nest) {
				return 0, false
			}
			var end int
			sub, end, _ = evParseObject(data, j, depth+1, subBuf[:0])
			return end, true
		}
	}
	top, end, ok := evParseObjectNested(data, i, depth, topBuf[:0], hook)
	if !ok {
		return 0, syntaxErr(data, i, "not a valid JSON object")
	}
	if fn != nil {
		for _, m := range top {
			fn(m.key, m.val)
		}
	}
	for _, m := range sub {
		nestFn(m.key, m.val)
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
	if rest := skipWS(data, end); rest != len(data) {
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
