package flows

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Scope is what templates and conditions are evaluated against: the run's
// params and the outputs steps have produced so far. Values are JSON-shaped
// (map[string]any, []any, string, float64 or json.Number, bool, nil), as
// encoding/json decodes them; a json.RawMessage anywhere is decoded on use.
// A Scope is read-only during evaluation and safe to share between
// goroutines that do not modify it.
type Scope struct {
	// Params are the run's params (mob/flow_run params); nil is {}.
	Params any
	// Steps maps a step id to its output. A step missing from the map has
	// not produced output, and references to it render as null.
	Steps map[string]any
	// Loops maps a loop id to its iterations (0-based), each mapping a body
	// step id to its output in that iteration.
	Loops map[string][]map[string]any
}

// root names of reference paths.
const (
	rootParams = "params"
	rootSteps  = "steps"
	rootLoops  = "loops"
)

// refPath is a parsed reference path:
//
//	params[.<field>…]
//	steps.<step>[.output][.<field>…]
//	loops.<loop>.iterations.<n>.steps.<step>[.<field>…]
type refPath struct {
	raw    string
	root   string
	step   string
	loop   string
	iter   int
	fields []string
}

// parsePath parses a reference path; errors are *PathError.
func parsePath(s string) (refPath, error) {
	p := refPath{raw: s}
	bad := func(format string, args ...any) (refPath, error) {
		return refPath{}, &PathError{Path: s, Msg: fmt.Sprintf(format, args...)}
	}
	if s == "" {
		return bad("empty path")
	}
	segs := strings.Split(s, ".")
	for _, seg := range segs {
		if seg == "" {
			return bad("empty segment")
		}
		if strings.ContainsAny(seg, " \t\r\n{}") {
			return bad("segment %q has a space or brace", seg)
		}
	}
	p.root = segs[0]
	switch p.root {
	case rootParams:
		p.fields = segs[1:]
	case rootSteps:
		if len(segs) < 2 {
			return bad("steps needs a step id: steps.<id>[.output].<path>")
		}
		p.step = segs[1]
		rest := segs[2:]
		if len(rest) > 0 && rest[0] == "output" {
			rest = rest[1:]
		}
		p.fields = rest
	case rootLoops:
		if len(segs) < 6 || segs[2] != "iterations" || segs[4] != "steps" {
			return bad("want loops.<loop>.iterations.<n>.steps.<id>[.<path>]")
		}
		p.loop = segs[1]
		n, err := strconv.Atoi(segs[3])
		if err != nil || n < 0 || segs[3] != strconv.Itoa(n) {
			return bad("iteration %q is not a non-negative integer", segs[3])
		}
		p.iter = n
		p.step = segs[5]
		p.fields = segs[6:]
	default:
		return bad("unknown root %q (want params, steps or loops)", p.root)
	}
	return p, nil
}

// resolve follows p through sc. produced is false, with no error, when the
// referenced step or loop iteration has not produced output.
func (p refPath) resolve(sc Scope) (v any, produced bool, err error) {
	var base any
	switch p.root {
	case rootParams:
		base = sc.Params
		if base == nil {
			base = map[string]any{}
		}
	case rootSteps:
		out, ok := sc.Steps[p.step]
		if !ok {
			return nil, false, nil
		}
		base = out
	case rootLoops:
		iters := sc.Loops[p.loop]
		if p.iter >= len(iters) {
			return nil, false, nil
		}
		out, ok := iters[p.iter][p.step]
		if !ok {
			return nil, false, nil
		}
		base = out
	default:
		return nil, false, &PathError{Path: p.raw, Msg: "unknown root"}
	}
	v, err = walk(base, p.fields, p.raw)
	return v, err == nil, err
}

// walk follows fields from base: object keys, or decimal indexes into arrays.
func walk(base any, fields []string, raw string) (any, error) {
	cur, err := plain(base, raw)
	if err != nil {
		return nil, err
	}
	for _, f := range fields {
		switch c := cur.(type) {
		case map[string]any:
			next, ok := c[f]
			if !ok {
				return nil, &PathError{Path: raw, At: f, Msg: "no such field"}
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(f)
			if err != nil || i < 0 || f != strconv.Itoa(i) {
				return nil, &PathError{Path: raw, At: f, Msg: "array index is not a non-negative integer"}
			}
			if i >= len(c) {
				return nil, &PathError{Path: raw, At: f, Msg: fmt.Sprintf("index out of range (length %d)", len(c))}
			}
			cur = c[i]
		default:
			return nil, &PathError{Path: raw, At: f, Msg: "cannot index into " + jsonKind(c)}
		}
		if cur, err = plain(cur, raw); err != nil {
			return nil, err
		}
	}
	return cur, nil
}

// plain decodes a json.RawMessage into its JSON-shaped form.
func plain(x any, raw string) (any, error) {
	if r, ok := x.(json.RawMessage); ok {
		v, err := decodeJSONValue(r)
		if err != nil {
			return nil, &PathError{Path: raw, Msg: "scope value is not valid JSON: " + err.Error(), badScope: true}
		}
		return v, nil
	}
	return x, nil
}

func jsonKind(x any) string {
	switch x.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case string:
		return "a string"
	case float64, float32, int, int64, int32, uint64, uint32, json.Number:
		return "a number"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	}
	return fmt.Sprintf("a %T", x)
}
