package flows

import (
	"bytes"
	"encoding/json"
	"strings"
)

// Template is a parsed message template: literal text with placeholders
// {{ <path> }}, where path is
//
//	params.<path>                                    the run's params
//	steps.<id>.output.<path>  or  steps.<id>.<path>  a step's output
//	loops.<loop>.iterations.<n>.steps.<id>.<path>    a loop body step's output in iteration n
//
// (the path after the step may be empty: the whole output). Segments are
// object keys or decimal array indexes. A Template is immutable and safe for
// concurrent use.
type Template struct {
	src   string
	parts []part
}

type part struct {
	lit    string
	ref    *refPath
	offset int
}

// ParseTemplate parses s. Errors are *TemplateError (wrapping a *PathError
// for a malformed path): an unclosed "{{", an empty placeholder, a "{{"
// inside a placeholder, an unknown root or a malformed path.
func ParseTemplate(s string) (*Template, error) {
	t := &Template{src: s}
	rest, off := s, 0
	for {
		i := strings.Index(rest, "{{")
		if i < 0 {
			if rest != "" {
				t.parts = append(t.parts, part{lit: rest})
			}
			return t, nil
		}
		if i > 0 {
			t.parts = append(t.parts, part{lit: rest[:i]})
		}
		body := rest[i+2:]
		j := strings.Index(body, "}}")
		if j < 0 {
			return nil, &TemplateError{Template: s, Offset: off + i, Msg: `unclosed "{{"`}
		}
		expr := body[:j]
		if strings.Contains(expr, "{{") {
			return nil, &TemplateError{Template: s, Offset: off + i, Msg: `"{{" inside a placeholder`}
		}
		expr = strings.TrimSpace(expr)
		if expr == "" {
			return nil, &TemplateError{Template: s, Offset: off + i, Msg: "empty placeholder"}
		}
		p, err := parsePath(expr)
		if err != nil {
			return nil, &TemplateError{Template: s, Offset: off + i, Msg: trimPrefix(err), Err: err}
		}
		t.parts = append(t.parts, part{ref: &p, offset: off + i})
		consumed := i + 2 + j + 2
		rest = rest[consumed:]
		off += consumed
	}
}

// String returns the template's source.
func (t *Template) String() string { return t.src }

// References returns the paths of the template's placeholders, in order.
func (t *Template) References() []string {
	var out []string
	for _, p := range t.parts {
		if p.ref != nil {
			out = append(out, p.ref.raw)
		}
	}
	return out
}

// Render fills the placeholders from sc. A string value renders as its
// text, any other value as compact JSON; a step or loop iteration that has
// not produced output renders as null. A missing field under a present
// value, or an index into a scalar, fails with a *TemplateError wrapping a
// *PathError. Render does not modify sc.
func (t *Template) Render(sc Scope) (string, error) {
	var b strings.Builder
	for _, p := range t.parts {
		if p.ref == nil {
			b.WriteString(p.lit)
			continue
		}
		v, produced, err := p.ref.resolve(sc)
		if err != nil {
			return "", &TemplateError{Template: t.src, Offset: p.offset, Msg: trimPrefix(err), Err: err}
		}
		if !produced {
			b.WriteString("null")
			continue
		}
		if s, ok := v.(string); ok {
			b.WriteString(s)
			continue
		}
		enc, err := encodeValue(v)
		if err != nil {
			return "", &TemplateError{Template: t.src, Offset: p.offset, Msg: "value cannot be encoded as JSON: " + err.Error()}
		}
		b.Write(enc)
	}
	return b.String(), nil
}

// encodeValue writes v as compact JSON without HTML escaping.
func encodeValue(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Templates parses the templates of m: its text, or the text of each text
// block. Other blocks have none.
func (m Message) Templates() ([]*Template, error) {
	if !m.IsBlocks() {
		t, err := ParseTemplate(m.Text)
		if err != nil {
			return nil, err
		}
		return []*Template{t}, nil
	}
	var out []*Template
	for _, b := range m.Blocks {
		if b.Type != "text" {
			continue
		}
		t, err := ParseTemplate(b.Text)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// Render returns m with its templates rendered from sc: the text, or the
// text of every text block; other blocks pass through unchanged. Errors are
// as for [Template.Render].
func (m Message) Render(sc Scope) (Message, error) {
	if !m.IsBlocks() {
		if !strings.Contains(m.Text, "{{") {
			return m, nil // no placeholder: the text is the message
		}
		t, err := ParseTemplate(m.Text)
		if err != nil {
			return Message{}, err
		}
		s, err := t.Render(sc)
		if err != nil {
			return Message{}, err
		}
		return Text(s), nil
	}
	out := make([]Block, len(m.Blocks))
	for i, b := range m.Blocks {
		if b.Type != "text" {
			out[i] = b
			continue
		}
		t, err := ParseTemplate(b.Text)
		if err != nil {
			return Message{}, err
		}
		s, err := t.Render(sc)
		if err != nil {
			return Message{}, err
		}
		out[i] = TextBlock(s)
	}
	return Message{Blocks: out}, nil
}
