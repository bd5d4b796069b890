package flows

import (
	"bytes"
	"encoding/json"
	"sort"
)

// MarshalJSON writes d as the JSON Meerkat accepts for a mob definition
// (mob/create's definition), with defaults left out and steps and frame
// nodes in declaration order. mobd extensions, when used, are written under
// "mobd" keys; use [Definition.MeerkatJSON] to refuse those. Named schema
// refs are written as refs; see [Definition.WithInlineSchemas].
func (d Definition) MarshalJSON() ([]byte, error) {
	type plain Definition
	return encodeValue(plain(d))
}

// MeerkatJSON is MarshalJSON for a definition that uses no mobd extension;
// otherwise it fails with a *NotExpressibleError (wrapping
// ErrNotExpressible) naming the first extension used.
func (d *Definition) MeerkatJSON() ([]byte, error) {
	ids := make([]string, 0, len(d.Flows))
	for id := range d.Flows {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		f := d.Flows[id]
		if err := f.extensionUse(pathKey("flows", id)); err != nil {
			return nil, err
		}
	}
	return d.MarshalJSON()
}

// MeerkatJSON writes the flow as a Meerkat FlowSpec, or fails with a
// *NotExpressibleError when it uses a mobd extension.
func (f *FlowSpec) MeerkatJSON() ([]byte, error) {
	if err := f.extensionUse(pathKey("flows", f.ID)); err != nil {
		return nil, err
	}
	return f.MarshalJSON()
}

// UsesExtensions reports whether the flow uses a mobd extension.
func (f *FlowSpec) UsesExtensions() bool { return f.extensionUse("") != nil }

func (f *FlowSpec) extensionUse(path string) *NotExpressibleError {
	if f.Mobd != nil && f.Mobd.Budget != nil {
		return &NotExpressibleError{Path: pathKey(path, "mobd") + ".budget", Feature: "budget"}
	}
	for _, s := range f.Steps {
		if s.Mobd == nil {
			continue
		}
		sp := pathKey(pathKey(path, "steps"), s.ID)
		switch {
		case s.Mobd.Retry != nil:
			return &NotExpressibleError{Path: sp + ".mobd.retry", Feature: "retry"}
		case s.Mobd.Budget != nil:
			return &NotExpressibleError{Path: sp + ".mobd.budget", Feature: "budget"}
		case s.Mobd.Approval != nil:
			return &NotExpressibleError{Path: sp + ".mobd.approval", Feature: "approval"}
		}
	}
	return nil
}

// WithInlineSchemas returns a copy of d in which every named
// expected_schema_ref is replaced by the text of the schema it resolved to,
// so the JSON is self-contained and loads without a base directory (the form
// to persist). d is not modified.
func (d *Definition) WithInlineSchemas() *Definition {
	c := *d
	c.Flows = make(map[string]FlowSpec, len(d.Flows))
	for id, f := range d.Flows {
		f.Steps = append([]StepSpec(nil), f.Steps...)
		for i := range f.Steps {
			s := &f.Steps[i]
			if s.ExpectedSchema != nil && !isInlineRef(s.ExpectedSchemaRef) && !s.IsApproval() {
				s.ExpectedSchemaRef = string(s.ExpectedSchema)
			}
		}
		c.Flows[id] = f
	}
	return &c
}

// LoadFlowJSON loads raw, the JSON of one flow (as a run journals it), as
// the flow id of a copy of d: its roles, profiles and schemas are checked
// and resolved in d's context, as when the flow was part of d. d is not
// modified.
func (d *Definition) LoadFlowJSON(id string, raw json.RawMessage) (FlowSpec, error) {
	def, err := json.Marshal(d.WithInlineSchemas())
	if err != nil {
		return FlowSpec{}, err
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(def, &doc); err != nil {
		return FlowSpec{}, err
	}
	fl := map[string]json.RawMessage{}
	if f := doc["flows"]; f != nil {
		if err := json.Unmarshal(f, &fl); err != nil {
			return FlowSpec{}, err
		}
	}
	fl[id] = raw
	// RawMessage values are written as they are: the order of the flow's
	// steps, part of the flow, is kept.
	if doc["flows"], err = json.Marshal(fl); err != nil {
		return FlowSpec{}, err
	}
	if def, err = json.Marshal(doc); err != nil {
		return FlowSpec{}, err
	}
	loaded, err := LoadJSON(def)
	if err != nil {
		return FlowSpec{}, err
	}
	f, _ := loaded.Flow(id)
	return f, nil
}

// MarshalJSON writes the profile, leaving out default values.
func (p Profile) MarshalJSON() ([]byte, error) {
	type plain Profile
	if p.RuntimeMode == RuntimeAutonomousHost {
		p.RuntimeMode = ""
	}
	if p.Backend == "session" {
		p.Backend = ""
	}
	return encodeValue(plain(p))
}

// MarshalJSON writes the flow as a Meerkat FlowSpec (plus "mobd" when set),
// steps in declaration order.
func (f FlowSpec) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	first := true
	field := func(key string, v any) error {
		enc, err := encodeValue(v)
		if err != nil {
			return err
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		k, _ := encodeValue(key)
		b.Write(k)
		b.WriteByte(':')
		b.Write(enc)
		return nil
	}
	if f.Description != "" {
		if err := field("description", f.Description); err != nil {
			return nil, err
		}
	}
	steps := make([]orderedEntry, len(f.Steps))
	for i, s := range f.Steps {
		steps[i] = orderedEntry{s.ID, s}
	}
	if err := field("steps", orderedObject(steps)); err != nil {
		return nil, err
	}
	if f.Root != nil {
		if err := field("root", f.Root); err != nil {
			return nil, err
		}
	}
	if f.Mobd != nil {
		if err := field("mobd", f.Mobd); err != nil {
			return nil, err
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// MarshalJSON writes the step, leaving out default values.
func (s StepSpec) MarshalJSON() ([]byte, error) {
	type plain StepSpec
	if s.DependsOnMode == DependAll {
		s.DependsOnMode = ""
	}
	if s.DispatchMode == DispatchFanOut {
		s.DispatchMode = ""
	}
	if s.CollectionPolicy == (CollectionPolicy{Type: CollectAll}) {
		s.CollectionPolicy = CollectionPolicy{}
	}
	if s.FailurePolicy == FailEscalate {
		s.FailurePolicy = ""
	}
	if s.OutputFormat == s.defaultOutputFormat() {
		s.OutputFormat = ""
	}
	return encodeValue(plain(s))
}

// Format returns the step's output format: OutputFormat, or when it is
// empty (a step built in Go may leave it so) the model's default, json for
// a step with an expected schema or an approval step and text otherwise.
// Running a step goes by Format, so a definition runs the same whether its
// defaults were filled by a loader or not.
func (s *StepSpec) Format() OutputFormat {
	if s.OutputFormat != "" {
		return s.OutputFormat
	}
	return s.defaultOutputFormat()
}

// defaultOutputFormat is json when the step has an expected schema (or is
// an approval step), text otherwise.
func (s *StepSpec) defaultOutputFormat() OutputFormat {
	if s.ExpectedSchemaRef != "" || s.IsApproval() {
		return OutputJSON
	}
	return OutputText
}

// MarshalJSON writes {"nodes": {...}} in declaration order.
func (fr FrameSpec) MarshalJSON() ([]byte, error) {
	nodes := make([]orderedEntry, len(fr.Nodes))
	for i, n := range fr.Nodes {
		nodes[i] = orderedEntry{n.ID, n}
	}
	body, err := encodeValue(orderedObject(nodes))
	if err != nil {
		return nil, err
	}
	return append(append([]byte(`{"nodes":`), body...), '}'), nil
}

// MarshalJSON writes the node tagged by "kind", leaving out defaults.
func (n Node) MarshalJSON() ([]byte, error) {
	var inner any
	kind := NodeStep
	switch {
	case n.RepeatUntil != nil:
		kind = NodeRepeatUntil
		r := *n.RepeatUntil
		r.DependsOnMode, r.FailurePolicy = omitDefaultMode(r.DependsOnMode), omitDefaultPolicy(r.FailurePolicy)
		inner = r
	case n.Step != nil:
		s := *n.Step
		s.DependsOnMode, s.FailurePolicy = omitDefaultMode(s.DependsOnMode), omitDefaultPolicy(s.FailurePolicy)
		inner = s
	default:
		inner = struct{}{}
	}
	body, err := encodeValue(inner)
	if err != nil {
		return nil, err
	}
	out := []byte(`{"kind":"` + string(kind) + `"`)
	if len(body) > 2 {
		out = append(out, ',')
		out = append(out, body[1:]...)
	} else {
		out = append(out, '}')
	}
	return out, nil
}

func omitDefaultMode(m DependencyMode) DependencyMode {
	if m == DependAll {
		return ""
	}
	return m
}

func omitDefaultPolicy(p FailurePolicy) FailurePolicy {
	if p == FailEscalate {
		return ""
	}
	return p
}

// MarshalJSON writes the condition tagged by "op".
func (c Condition) MarshalJSON() ([]byte, error) {
	m := []orderedEntry{{"op", c.Op}}
	switch c.Op {
	case OpEq, OpGt, OpLt:
		m = append(m, orderedEntry{"path", c.Path}, orderedEntry{"value", rawOrNull(c.Value)})
	case OpIn:
		vals := make([]json.RawMessage, len(c.Values))
		for i, v := range c.Values {
			vals[i] = rawOrNull(v)
		}
		m = append(m, orderedEntry{"path", c.Path}, orderedEntry{"values", vals})
	case OpAnd, OpOr:
		exprs := c.Exprs
		if exprs == nil {
			exprs = []Condition{}
		}
		m = append(m, orderedEntry{"exprs", exprs})
	case OpNot:
		m = append(m, orderedEntry{"expr", c.Expr})
	}
	return encodeValue(orderedObject(m))
}

func rawOrNull(r json.RawMessage) json.RawMessage {
	if len(r) == 0 {
		return json.RawMessage("null")
	}
	return r
}

// MarshalJSON writes a string, or an array of blocks.
func (m Message) MarshalJSON() ([]byte, error) {
	if m.Blocks == nil {
		return encodeValue(m.Text)
	}
	return encodeValue(m.Blocks)
}

// MarshalJSON writes a text block, or the raw form of any other block.
func (b Block) MarshalJSON() ([]byte, error) {
	if b.Type == "text" || len(b.Raw) == 0 {
		return encodeValue(orderedObject{{"type", b.Type}, {"text", b.Text}})
	}
	return b.Raw, nil
}

// orderedObject is a JSON object written in slice order.
type orderedObject []orderedEntry

type orderedEntry struct {
	key string
	val any
}

func (o orderedObject) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, e := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := encodeValue(e.key)
		if err != nil {
			return nil, err
		}
		v, err := encodeValue(e.val)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}
