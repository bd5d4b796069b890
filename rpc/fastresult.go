package rpc

import (
	"bytes"
	"math"
)

// Every turn ends with a run result, decoded on the connection's reader
// before the turn's caller hears of it. encoding/json's reflection took
// about 8 µs for a typical result of 300 bytes, and twice that when other
// work between turns had pushed its code and tables out of the CPU's
// caches. fastRunResult decodes the usual form directly.

// Run result members, in the order the runtime writes them.
var runResultKeys = []string{"session_id", "session_ref", "text", "turns", "tool_calls", "usage",
	"terminal_cause_kind", "structured_output", "extraction_error", "schema_warnings"}

var usageKeys = []string{"input_tokens", "output_tokens", "total_tokens", "cache_creation_tokens", "cache_read_tokens"}

// fastRunResult decodes raw into r as encoding/json would, when raw is a
// run result in the usual form: one object of the known members, each at
// most once and spelled exactly, a usage object of its known counters, and
// no extraction error, schema warnings or skill diagnostics (null, or
// absent). It reports false for anything else, leaving r to be decoded by
// encoding/json, which also reports any error. known, when not empty, is
// the turn's text as the reader already made it: a text member with the
// same bytes is that string.
func fastRunResult(raw []byte, known string, r *RunResult) bool {
	i := evSkipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return false
	}
	i = evSkipSpace(raw, i+1)
	if i < len(raw) && raw[i] == '}' {
		return false // leave the odd empty result to the general path
	}
	var seen uint32
	for k := 0; ; k++ {
		key, j, ok := fastMember(raw, i, runResultKeys, k)
		if !ok {
			return false
		}
		slot := claimKey(key, runResultKeys, &seen)
		if slot < 0 {
			return false
		}
		end := -1
		switch key := runResultKeys[slot]; key {
		case "session_id":
			r.SessionID, end, _ = fastString(raw, j, "")
		case "text":
			r.Text, end, _ = fastString(raw, j, known)
		case "session_ref", "terminal_cause_kind":
			var s string
			if end = evScanLiteral(raw, j, "null"); end < 0 {
				s, end, _ = fastString(raw, j, "")
			}
			if key == "session_ref" {
				r.SessionRef = s
			} else {
				r.TerminalCauseKind = s
			}
		case "turns", "tool_calls":
			var n uint64
			if n, end, ok = fastUint(raw, j); ok && n <= math.MaxUint32 {
				if key == "turns" {
					r.Turns = uint32(n)
				} else {
					r.ToolCalls = uint32(n)
				}
			} else {
				end = -1
			}
		case "usage":
			end = fastUsage(raw, j, &r.Usage)
		case "structured_output":
			// null leaves it nil, as decodeRunResult would make it.
			if end = evScanLiteral(raw, j, "null"); end < 0 {
				if end = evScanValue(raw, j, 1); end > 0 {
					r.StructuredOutput = bytes.Clone(raw[j:end])
				}
			}
		case "extraction_error", "schema_warnings":
			end = evScanLiteral(raw, j, "null")
		}
		if end < 0 {
			return false
		}
		var closed bool
		if i, closed, ok = fastNext(raw, end); !ok {
			return false
		}
		if closed {
			return evSkipSpace(raw, i) == len(raw)
		}
	}
}

// claimKey returns the index of key in keys and marks it in seen; it
// returns -1 for a key not in keys or already seen.
func claimKey(key []byte, keys []string, seen *uint32) int {
	for n, name := range keys {
		if string(key) == name {
			if *seen&(1<<n) != 0 {
				return -1
			}
			*seen |= 1 << n
			return n
		}
	}
	return -1
}

// fastString reads the JSON string at d[i], returning known itself when
// the string's bytes are known's.
func fastString(d []byte, i int, known string) (s string, end int, ok bool) {
	if i >= len(d) || d[i] != '"' {
		return "", -1, false
	}
	end, esc := evScanString(d, i)
	if end < 0 {
		return "", -1, false
	}
	return evStringKnown(evMember{val: d[i:end], vesc: esc}, known), end, true
}

// fastUsage reads a usage object of known counters at d[i] into u and
// returns the offset past it, or -1.
func fastUsage(d []byte, i int, u *Usage) int {
	if i >= len(d) || d[i] != '{' {
		return -1
	}
	i = evSkipSpace(d, i+1)
	if i < len(d) && d[i] == '}' {
		return i + 1
	}
	var seen uint32
	for k := 0; ; k++ {
		key, j, ok := fastMember(d, i, usageKeys, k)
		if !ok {
			return -1
		}
		slot := claimKey(key, usageKeys, &seen)
		if slot < 0 {
			return -1
		}
		// A null cache counter leaves its pointer nil.
		end := -1
		if slot >= 3 {
			end = evScanLiteral(d, j, "null")
		}
		if end < 0 {
			var n uint64
			if n, end, ok = fastUint(d, j); !ok {
				return -1
			}
			setUsage(u, slot, n)
		}
		var closed bool
		if i, closed, ok = fastNext(d, end); !ok {
			return -1
		}
		if closed {
			return i
		}
	}
}

// setUsage sets the counter of u that usageKeys[slot] names.
func setUsage(u *Usage, slot int, n uint64) {
	switch slot {
	case 0:
		u.InputTokens = n
	case 1:
		u.OutputTokens = n
	case 2:
		u.TotalTokens = n
	case 3:
		u.CacheCreationTokens = &n
	case 4:
		u.CacheReadTokens = &n
	}
}
