package rpc

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// This file holds a small validating JSON scanner used on the read path.
// The reader classifies and routes every line the runtime writes; doing that
// with encoding/json would decode each line several times. The scanner
// validates a line once and hands out raw sub-slices, which are decoded
// fully only where they are consumed.

var errSyntax = errors.New("invalid JSON")

func syntaxErr(data []byte, i int, what string) error {
	return fmt.Errorf("%w at offset %d: %s", errSyntax, i, what)
}

func skipWS(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipValue validates the JSON value starting at data[i] (after optional
// white space) and returns the offset just past it.
func skipValue(data []byte, i int, depth int) (int, error) {
	if depth > 10000 {
		return 0, syntaxErr(data, i, "nesting too deep")
	}
	i = skipWS(data, i)
	if i >= len(data) {
		return 0, syntaxErr(data, i, "unexpected end of input")
	}
	switch c := data[i]; {
	case c == '"':
		return skipString(data, i)
	case c == '{':
		return skipObject(data, i, depth)
	case c == '[':
		return skipArray(data, i, depth)
	case c == 't':
		return skipLiteral(data, i, "true")
	case c == 'f':
		return skipLiteral(data, i, "false")
	case c == 'n':
		return skipLiteral(data, i, "null")
	case c == '-' || (c >= '0' && c <= '9'):
		return skipNumber(data, i)
	default:
		return 0, syntaxErr(data, i, fmt.Sprintf("unexpected character %q", c))
	}
}

func skipLiteral(data []byte, i int, lit string) (int, error) {
	if len(data)-i < len(lit) || string(data[i:i+len(lit)]) != lit {
		return 0, syntaxErr(data, i, "invalid literal")
	}
	return i + len(lit), nil
}

func skipNumber(data []byte, i int) (int, error) {
	start := i
	if data[i] == '-' {
		i++
	}
	if i >= len(data) {
		return 0, syntaxErr(data, start, "invalid number")
	}
	switch {
	case data[i] == '0':
		i++
	case data[i] >= '1' && data[i] <= '9':
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
	default:
		return 0, syntaxErr(data, start, "invalid number")
	}
	if i < len(data) && data[i] == '.' {
		i++
		d := i
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
		if i == d {
			return 0, syntaxErr(data, start, "invalid number")
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		d := i
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
		if i == d {
			return 0, syntaxErr(data, start, "invalid number")
		}
	}
	return i, nil
}

// strStop marks the bytes that end the fast run of a string scan: the
// closing quote, an escape, and control characters (invalid in JSON).
var strStop = func() (t [256]bool) {
	for c := 0; c < 0x20; c++ {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// wordHasStop reports whether any of the eight bytes packed in w may be a
// quote, a backslash or a control character. It can report true for a word
// without one (the caller then scans byte by byte), never false for a word
// with one.
func wordHasStop(w uint64) bool {
	quote := w ^ (lsb * '"')
	slash := w ^ (lsb * '\\')
	zeroQuote := (quote - lsb) &^ quote
	zeroSlash := (slash - lsb) &^ slash
	control := (w - lsb*0x20) &^ w
	return (zeroQuote|zeroSlash|control)&msb != 0
}

// skipString validates the string starting at the quote data[i]. Invalid
// UTF-8 is accepted, as encoding/json does (it decodes to U+FFFD).
func skipString(data []byte, i int) (int, error) {
	start := i
	i++
	for {
		// Eight bytes at a time while none of them can end the fast run.
		for i+8 <= len(data) && !wordHasStop(binary.LittleEndian.Uint64(data[i:])) {
			i += 8
		}
		for i < len(data) && !strStop[data[i]] {
			i++
		}
		if i >= len(data) {
			return 0, syntaxErr(data, start, "unterminated string")
		}
		switch c := data[i]; {
		case c == '"':
			return i + 1, nil
		case c == '\\':
			if i+1 >= len(data) {
				return 0, syntaxErr(data, start, "unterminated string")
			}
			switch data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(data) {
					return 0, syntaxErr(data, i, "invalid unicode escape")
				}
				for _, h := range data[i+2 : i+6] {
					if !isHex(h) {
						return 0, syntaxErr(data, i, "invalid unicode escape")
					}
				}
				i += 6
			default:
				return 0, syntaxErr(data, i, "invalid escape")
			}
		default:
			return 0, syntaxErr(data, i, "control character in string")
		}
	}
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func skipObject(data []byte, i int, depth int) (int, error) {
	end, err := eachField(data[i:], depth, nil)
	return i + end, err
}

func skipArray(data []byte, i int, depth int) (int, error) {
	start := i
	i++
	i = skipWS(data, i)
	if i < len(data) && data[i] == ']' {
		return i + 1, nil
	}
	for {
		var err error
		i, err = skipValue(data, i, depth+1)
		if err != nil {
			return 0, err
		}
		i = skipWS(data, i)
		if i >= len(data) {
			return 0, syntaxErr(data, start, "unterminated array")
		}
		switch data[i] {
		case ',':
			i++
		case ']':
			return i + 1, nil
		default:
			return 0, syntaxErr(data, i, "expected , or ]")
		}
	}
}

// eachField validates the JSON object at the start of data (after optional
// white space) and calls fn, when non-nil, with each member's raw key
// (quotes stripped, escapes left as they are) and raw value. It returns the
// offset just past the object.
func eachField(data []byte, depth int, fn func(key, val []byte)) (int, error) {
	return eachFieldNested(data, depth, fn, "", nil)
}

// eachFieldNested is eachField that, for the member named nest whose value
// is an object, also calls nestFn for that object's members, in the same
// validating pass.
func eachFieldNested(data []byte, depth int, fn func(key, val []byte), nest string, nestFn func(key, val []byte)) (int, error) {
	i := skipWS(data, 0)
	if i >= len(data) || data[i] != '{' {
		return 0, syntaxErr(data, i, "expected an object")
	}
	start := i
	i = skipWS(data, i+1)
	if i < len(data) && data[i] == '}' {
		return i + 1, nil
	}
	for {
		i = skipWS(data, i)
		if i >= len(data) || data[i] != '"' {
			return 0, syntaxErr(data, i, "expected a member name")
		}
		kEnd, err := skipString(data, i)
		if err != nil {
			return 0, err
		}
		key := data[i+1 : kEnd-1]
		i = skipWS(data, kEnd)
		if i >= len(data) || data[i] != ':' {
			return 0, syntaxErr(data, i, "expected :")
		}
		vStart := skipWS(data, i+1)
		var vEnd int
		if nestFn != nil && vStart < len(data) && data[vStart] == '{' && keyIs(key, nest) {
			var n int
			n, err = eachFieldNested(data[vStart:], depth+1, nestFn, "", nil)
			vEnd = vStart + n
		} else {
			vEnd, err = skipValue(data, vStart, depth+1)
		}
		if err != nil {
			return 0, err
		}
		if fn != nil {
			fn(key, data[vStart:vEnd])
		}
		i = skipWS(data, vEnd)
		if i >= len(data) {
			return 0, syntaxErr(data, start, "unterminated object")
		}
		switch data[i] {
		case ',':
			i++
		case '}':
			return i + 1, nil
		default:
			return 0, syntaxErr(data, i, "expected , or }")
		}
	}
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
