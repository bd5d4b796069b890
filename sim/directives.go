package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// toolCall is one scripted callback-tool invocation.
type toolCall struct {
	name string
	args json.RawMessage
}

// directives is the parsed set of [[sim:...]] instructions for one turn or
// request.
type directives struct {
	err            *rpcError
	slow           time.Duration
	hasSlow        bool
	tokens         int
	crash          bool
	hang           bool
	hangHard       bool
	garbage        bool
	tools          []toolCall
	extractionFail bool
	unknownEvent   bool
	orphanEvent    bool
	lateEvent      bool
	interruptError bool
	reply          *string
}

// merge adds o's instructions to d (o wins on conflicts).
func (d *directives) merge(o directives) {
	if o.err != nil {
		d.err = o.err
	}
	if o.hasSlow {
		d.slow, d.hasSlow = o.slow, true
	}
	if o.tokens > 0 {
		d.tokens = o.tokens
	}
	d.crash = d.crash || o.crash
	d.hang = d.hang || o.hang
	d.hangHard = d.hangHard || o.hangHard
	d.garbage = d.garbage || o.garbage
	d.tools = append(d.tools, o.tools...)
	d.extractionFail = d.extractionFail || o.extractionFail
	d.unknownEvent = d.unknownEvent || o.unknownEvent
	d.orphanEvent = d.orphanEvent || o.orphanEvent
	d.lateEvent = d.lateEvent || o.lateEvent
	d.interruptError = d.interruptError || o.interruptError
	if o.reply != nil {
		d.reply = o.reply
	}
}

const directivePrefix = "[[sim:"

// parseDirectives extracts every [[sim:NAME ARGS]] directive from text and
// returns the text with the directives removed (whitespace-normalised where a
// directive was cut out).
func parseDirectives(text string) (string, directives, error) {
	var d directives
	if !strings.Contains(text, directivePrefix) {
		return text, d, nil
	}
	var clean strings.Builder
	rest := text
	for {
		i := strings.Index(rest, directivePrefix)
		if i < 0 {
			clean.WriteString(rest)
			break
		}
		clean.WriteString(rest[:i])
		body, after, ok := cutDirective(rest[i+len(directivePrefix):])
		if !ok {
			return "", d, fmt.Errorf("unterminated directive %q", truncate(rest[i:], 40))
		}
		if err := d.apply(body); err != nil {
			return "", d, err
		}
		rest = after
	}
	return strings.Join(strings.Fields(clean.String()), " "), d, nil
}

// cutDirective finds the "]]" closing a directive body, skipping anything
// inside a JSON object argument (including its strings). Quotes outside an
// object are plain text (e.g. in an error message).
func cutDirective(s string) (body, after string, ok bool) {
	depth := 0
	inStr, esc := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if inStr {
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
			continue
		}
		switch c {
		case '"':
			inStr = depth > 0
		case '{':
			depth++
		case '}':
			if depth > 0 {
				depth--
			}
		case ']':
			if depth == 0 && i+1 < len(s) && s[i+1] == ']' {
				return s[:i], s[i+2:], true
			}
		}
	}
	return "", "", false
}

// apply parses one directive body ("NAME ARGS").
func (d *directives) apply(body string) error {
	name, args, _ := strings.Cut(strings.TrimSpace(body), " ")
	args = strings.TrimSpace(args)
	switch name {
	case "error":
		e, err := parseErrorDirective(args)
		if err != nil {
			return err
		}
		d.err = e
	case "slow":
		dur, err := time.ParseDuration(args)
		if err != nil || dur < 0 {
			return fmt.Errorf("sim:slow needs a duration, got %q", args)
		}
		d.slow, d.hasSlow = dur, true
	case "tokens":
		n, err := strconv.Atoi(args)
		if err != nil || n <= 0 || n > 50_000_000 {
			return fmt.Errorf("sim:tokens needs a positive count, got %q", args)
		}
		d.tokens = n
	case "crash":
		d.crash = true
	case "hang":
		d.hang = true
		d.hangHard = args == "hard"
	case "garbage":
		d.garbage = true
	case "tool":
		tname, targs, _ := strings.Cut(args, " ")
		if tname == "" {
			return errors.New("sim:tool needs a tool name")
		}
		raw := json.RawMessage(`{}`)
		if t := strings.TrimSpace(targs); t != "" {
			if jsonKind(json.RawMessage(t)) != "object" || !json.Valid([]byte(t)) {
				return fmt.Errorf("sim:tool %s: arguments must be a JSON object", tname)
			}
			c, err := compactJSON([]byte(t))
			if err != nil {
				return fmt.Errorf("sim:tool %s: %w", tname, err)
			}
			raw = c
		}
		d.tools = append(d.tools, toolCall{name: tname, args: raw})
	case "extraction_fail":
		d.extractionFail = true
	case "unknown_event":
		d.unknownEvent = true
	case "orphan_event":
		d.orphanEvent = true
	case "late_event":
		d.lateEvent = true
	case "interrupt_error":
		d.interruptError = true
	case "reply":
		r := args
		d.reply = &r
	default:
		return fmt.Errorf("unknown directive sim:%s", name)
	}
	return nil
}

// parseErrorDirective parses "CODE [MESSAGE] [JSON-DATA]".
func parseErrorDirective(args string) (*rpcError, error) {
	codeStr, rest, _ := strings.Cut(args, " ")
	code, err := strconv.Atoi(codeStr)
	if err != nil {
		return nil, fmt.Errorf("sim:error needs a numeric code, got %q", codeStr)
	}
	rest = strings.TrimSpace(rest)
	e := &rpcError{Code: code}
	if i := strings.IndexByte(rest, '{'); i >= 0 {
		raw := []byte(strings.TrimSpace(rest[i:]))
		if !json.Valid(raw) {
			return nil, fmt.Errorf("sim:error data is not valid JSON: %q", rest[i:])
		}
		data, err := compactJSON(raw)
		if err != nil {
			return nil, fmt.Errorf("sim:error data: %w", err)
		}
		e.Data = data
		rest = strings.TrimSpace(rest[:i])
		if rest == "" {
			var probe struct {
				Message string `json:"message"`
			}
			_ = json.Unmarshal(data, &probe)
			rest = probe.Message
		}
	}
	if rest == "" {
		if name, ok := semanticCodes[code]; ok {
			rest = name
		} else {
			rest = defaultSimulatedMessage
		}
	}
	e.Message = rest
	return e, nil
}

// script is a loaded RKAT_SIM_SCRIPT file.
type script struct {
	interruptError bool
	rules          []scriptRule
}

type scriptRule struct {
	PromptContains string            `json:"prompt_contains"`
	Labels         map[string]string `json:"labels"`
	Method         string            `json:"method"`
	Directives     string            `json:"directives"`
	Reply          *string           `json:"reply"`
	parsed         directives
}

// loadScript reads and validates a script file; an empty path yields an
// empty script.
func loadScript(path string) (*script, error) {
	if path == "" {
		return &script{}, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read script: %w", err)
	}
	var file struct {
		InterruptError bool         `json:"interrupt_error"`
		Rules          []scriptRule `json:"rules"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		return nil, fmt.Errorf("parse script %s: %w", path, err)
	}
	sc := &script{interruptError: file.InterruptError, rules: file.Rules}
	for i := range sc.rules {
		r := &sc.rules[i]
		_, d, err := parseDirectives(r.Directives)
		if err != nil {
			return nil, fmt.Errorf("script %s rule %d: %w", path, i, err)
		}
		if r.Reply != nil {
			d.reply = r.Reply
		}
		r.parsed = d
	}
	return sc, nil
}

// forTurn returns the directives of every rule matching a turn.
func (sc *script) forTurn(method, prompt string, labels map[string]string) directives {
	var d directives
	d.interruptError = sc.interruptError
	lower := strings.ToLower(prompt)
	for _, r := range sc.rules {
		if r.Method != "" && r.Method != method {
			continue
		}
		if r.PromptContains != "" && !strings.Contains(lower, strings.ToLower(r.PromptContains)) {
			continue
		}
		if !labelsMatch(labels, r.Labels) {
			continue
		}
		d.merge(r.parsed)
	}
	return d
}

// forMethod returns the directives of rules that target a non-turn method.
func (sc *script) forMethod(method string) (directives, bool) {
	var d directives
	found := false
	for _, r := range sc.rules {
		if r.Method == method && r.PromptContains == "" && len(r.Labels) == 0 {
			d.merge(r.parsed)
			found = true
		}
	}
	return d, found
}

// labelsMatch reports whether have contains every key/value of want.
func labelsMatch(have, want map[string]string) bool {
	for k, v := range want {
		if hv, ok := have[k]; !ok || hv != v {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
