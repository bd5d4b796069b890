package flowtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mobd-dev/mobd/actors"
	"github.com/mobd-dev/mobd/rpc"
)

// Call is one ask a scripted member received.
type Call struct {
	// Member is the member's identity in the mob; Role its profile.
	Member string
	Role   string
	// Run is the flow run the ask belongs to, "" for an ask from outside
	// a run (Mob.Send). Frame, Step and Attempt locate a step target's
	// ask (from its idempotency key); Loop and Iteration name the
	// innermost loop iteration of the frame, if any.
	Run       string
	Frame     string
	Step      string
	Attempt   int
	Loop      string
	Iteration int
	// Escalation marks a supervisor escalation turn.
	Escalation bool
	// Canceled is set once the mob cancelled the turn (actors.CancelAsk)
	// before it was answered.
	Canceled bool
	// Prompt is the ask's text (the text blocks of a multimodal ask,
	// joined).
	Prompt string
	// Key is the ask's idempotency key.
	Key string
	// OutputSchema is the structured output the ask asked for, if any.
	OutputSchema json.RawMessage
	// ToolOverlay is the ask's tool overlay, if any.
	ToolOverlay json.RawMessage
	// From is the asking peer's identity, "" outside peer messages.
	From string
	// At is the fake clock's time when the member got the ask.
	At time.Time
	// Duplicate marks an ask whose key the member had seen already: it
	// got (or will get) the first ask's answer and consumed no reply of a
	// script.
	Duplicate bool
}

// Match selects the asks a script answers. Every non-zero field must
// hold; the zero Match matches every ask.
type Match struct {
	// Member is a member identity.
	Member string
	// Role is a profile name.
	Role string
	// Step is a step id (asks of supervisor escalations have none).
	Step string
	// Prompt is a substring of the ask's text.
	Prompt string
	// Escalation, when true, matches supervisor escalation asks only.
	Escalation bool
	// Func, when set, must return true. It runs inside the harness, which
	// it must not call.
	Func func(Call) bool
}

func (m Match) matches(c Call) bool {
	switch {
	case m.Member != "" && m.Member != c.Member,
		m.Role != "" && m.Role != c.Role,
		m.Step != "" && m.Step != c.Step,
		m.Prompt != "" && !strings.Contains(c.Prompt, m.Prompt),
		m.Escalation && !c.Escalation,
		m.Func != nil && !m.Func(c):
		return false
	}
	return true
}

// Reply is a scripted answer to an ask. Build one with [Text], [JSON],
// [Fail], [Never] or [Func], and refine it with its methods:
//
//	flowtest.JSON(plan{Steps: 3}).WithUsage(120, 40).After(2 * time.Second)
type Reply struct {
	// Text is the answer's text.
	Text string
	// Output is the structured output (JSON), for asks with an output
	// schema.
	Output json.RawMessage
	// ExtractionError reports structured output the runtime could not
	// extract (the turn itself completed).
	ExtractionError string
	// Usage is the turn's token usage.
	Usage rpc.Usage
	// Error, when set, fails the turn with this failure; the other fields
	// but Usage are then ignored.
	Error *actors.Failure
	// Delay holds the answer back until the fake clock has moved Delay
	// past the moment the member got the ask.
	Delay time.Duration
	// NoAnswer means the member never answers (until it is retired).
	NoAnswer bool

	fn func(Call) Reply
}

// Text returns a reply with text s.
func Text(s string) Reply { return Reply{Text: s} }

// JSON returns a reply whose structured output (and text) is v encoded as
// JSON; a json.RawMessage or []byte is used as it is. It panics if v does
// not encode.
func JSON(v any) Reply {
	var raw []byte
	switch x := v.(type) {
	case json.RawMessage:
		raw = x
	case []byte:
		raw = x
	default:
		var err error
		if raw, err = json.Marshal(v); err != nil {
			panic(fmt.Sprintf("flowtest: JSON reply: %v", err))
		}
	}
	if !json.Valid(raw) {
		panic(fmt.Sprintf("flowtest: JSON reply: invalid JSON %q", raw))
	}
	var buf bytes.Buffer
	_ = json.Compact(&buf, raw)
	return Reply{Text: buf.String(), Output: json.RawMessage(buf.String())}
}

// Fail returns a reply that fails the turn with code, one of the
// actors.Code* constants or "remote:" and a runtime's code (such as
// "remote:PROVIDER_ERROR"), which the executor classifies as the real
// failure would be. message defaults to a text naming the code.
func Fail(code string, message ...string) Reply {
	msg := "flowtest: scripted " + code + " failure"
	if len(message) > 0 {
		msg = strings.Join(message, " ")
	}
	return Reply{Error: &actors.Failure{Code: code, Message: msg}}
}

// Never returns a reply that never comes: the ask stays unanswered, which
// is how a test makes a step time out.
func Never() Reply { return Reply{NoAnswer: true} }

// Func returns a reply computed from the call when it comes. f runs
// inside the harness, which it must not call.
func Func(f func(Call) Reply) Reply { return Reply{fn: f} }

// WithUsage returns r with the given token usage.
func (r Reply) WithUsage(input, output uint64) Reply {
	r.Usage = rpc.Usage{InputTokens: input, OutputTokens: output}
	return r
}

// After returns r delayed by d on the fake clock.
func (r Reply) After(d time.Duration) Reply {
	r.Delay = d
	return r
}

// script is a scripted answer sequence: the replies of a Match, one per
// distinct ask, the last one repeating.
type script struct {
	match   Match
	replies []Reply
	used    int
}

func (s *script) next() Reply {
	if len(s.replies) == 0 {
		return Reply{}
	}
	i := min(s.used, len(s.replies)-1)
	s.used++
	return s.replies[i]
}

// defaultReply is the answer to an ask no script matches: the text
// "<member>: <prompt>", and, when the ask has an output schema, the
// smallest instance of it (see minimalInstance).
func defaultReply(c Call) Reply {
	r := Reply{Text: c.Member + ": " + c.Prompt}
	if len(c.OutputSchema) > 0 {
		var schema any
		if err := json.Unmarshal(c.OutputSchema, &schema); err != nil {
			r.ExtractionError = "flowtest: output schema is not JSON: " + err.Error()
			return r
		}
		out, _ := json.Marshal(minimalInstance(schema, 0))
		r.Text, r.Output = string(out), out
	}
	return r
}

// minimalInstance returns a small value satisfying simple JSON Schemas:
// const and enum give their (first) value; an object gets its required
// properties; an array its minItems items; a string minLength "x"s; a
// number its minimum (or 0, or exclusiveMinimum+1); a boolean false; a
// type list its first non-null type. Anything else (anyOf, patterns, $ref)
// is beyond it: script the reply instead.
func minimalInstance(schema any, depth int) any {
	s, ok := schema.(map[string]any)
	if !ok || depth > 32 {
		return map[string]any{}
	}
	if v, ok := s["const"]; ok {
		return v
	}
	if e, ok := s["enum"].([]any); ok && len(e) > 0 {
		return e[0]
	}
	typ, _ := s["type"].(string)
	if list, ok := s["type"].([]any); ok {
		for _, x := range list {
			if t, _ := x.(string); t != "" && t != "null" {
				typ = t
				break
			}
		}
	}
	if typ == "" {
		switch {
		case s["properties"] != nil || s["required"] != nil:
			typ = "object"
		case s["items"] != nil:
			typ = "array"
		default:
			return map[string]any{}
		}
	}
	num := func(key string) (float64, bool) {
		f, ok := s[key].(float64)
		return f, ok
	}
	switch typ {
	case "object":
		obj := map[string]any{}
		props, _ := s["properties"].(map[string]any)
		req, _ := s["required"].([]any)
		for _, r := range req {
			if name, ok := r.(string); ok {
				obj[name] = minimalInstance(props[name], depth+1)
			}
		}
		return obj
	case "array":
		n, _ := num("minItems")
		arr := make([]any, 0, int(n))
		for range int(n) {
			arr = append(arr, minimalInstance(s["items"], depth+1))
		}
		return arr
	case "string":
		n, _ := num("minLength")
		return strings.Repeat("x", int(n))
	case "number", "integer":
		if v, ok := num("minimum"); ok {
			return v
		}
		if v, ok := num("exclusiveMinimum"); ok {
			return v + 1
		}
		if v, ok := num("maximum"); ok && v < 0 {
			return v
		}
		if v, ok := num("exclusiveMaximum"); ok && v <= 0 {
			return v - 1
		}
		return 0
	case "boolean":
		return false
	case "null":
		return nil
	}
	return map[string]any{}
}

// parseKey fills c's Run, Frame, Step, Attempt, Loop, Iteration and
// Escalation from an idempotency key of the executor:
// "<run>/<frame>|<step>/<member>/<attempt>" for a step target,
// "<run>/escalation/<n>" for an escalation. runs are the mob's run ids (a
// run id may hold a "/").
func parseKey(c *Call, key string, runs []string) {
	if key == "" {
		return
	}
	run, rest := "", ""
	for _, r := range runs {
		if strings.HasPrefix(key, r+"/") && len(r) > len(run) {
			run = r
		}
	}
	if run == "" {
		var ok bool
		if run, rest, ok = strings.Cut(key, "/"); !ok {
			return
		}
	} else {
		rest = key[len(run)+1:]
	}
	c.Run = run
	if strings.HasPrefix(rest, "escalation/") {
		c.Escalation = true
		return
	}
	i := strings.LastIndexByte(rest, '/')
	if i < 0 {
		return
	}
	c.Attempt, _ = strconv.Atoi(rest[i+1:])
	rest = rest[:i]
	if i = strings.LastIndexByte(rest, '/'); i < 0 {
		return
	}
	rest = rest[:i] // drop the member: Call.Member says it
	frameStep := rest
	j := strings.LastIndexByte(frameStep, '|')
	if j < 0 {
		return
	}
	c.Frame, c.Step = frameStep[:j], frameStep[j+1:]
	if c.Frame != "" {
		last := c.Frame[strings.LastIndexByte(c.Frame, '/')+1:]
		if loop, it, ok := strings.Cut(last, "#"); ok {
			c.Loop = loop
			c.Iteration, _ = strconv.Atoi(it)
		}
	}
}
