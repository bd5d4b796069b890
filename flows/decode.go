package flows

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"sync"
)

// The decoder turns a document tree into the model, strictly: every key must
// be a field of the model, every value of the field's type, and every
// problem is recorded with its path (decoding goes on, so one load reports
// them all). Fields that Meerkat has but mobd does not support are listed in
// unsupportedKeys: a present, non-empty one is an ErrUnsupportedField
// problem, never silently dropped (an empty one — null, false, "", [] or {}
// — says nothing and is accepted).

// unsupportedKeys lists, per model type, the Meerkat keys mobd rejects, with
// the feature they belong to.
var unsupportedKeys = map[reflect.Type]map[string]string{
	reflect.TypeFor[Definition](): {
		"image_generation_provider": "image generation",
		"source_identity":           "signed mobpack provenance",
		"mcp_servers":               "MCP servers",
		"mcp":                       "MCP servers",
	},
	reflect.TypeFor[Profile](): {
		"image_generation_provider": "image generation",
		"external_addressable":      "external peers (multi-host)",
		"placement":                 "multi-host placement",
	},
	reflect.TypeFor[ToolConfig](): {
		"mcp":              "MCP servers",
		"mcp_servers":      "MCP servers",
		"rust_bundles":     "Rust tool bundles",
		"image_generation": "image generation",
	},
	reflect.TypeFor[BackendConfig](): {
		"external": "external member backends",
	},
}

// valueDecoder is implemented (on the pointer) by model types whose document
// form is not a plain object of json-tagged fields.
type valueDecoder interface {
	decodeFrom(d *decoder, v *value, path string)
}

// enum is implemented by string types with a closed vocabulary.
type enum interface{ enumValues() []string }

// unsupportedEnum lists enum values mobd rejects as unsupported.
type unsupportedEnum interface{ unsupportedValues() map[string]string }

type decoder struct{ p *problems }

var rawMessageType = reflect.TypeFor[json.RawMessage]()

// decode stores v into rv (settable). null leaves rv at its zero value.
func (d *decoder) decode(rv reflect.Value, v *value, path string) {
	if v.kind == kindNull {
		return
	}
	if rv.CanAddr() {
		if vd, ok := rv.Addr().Interface().(valueDecoder); ok {
			vd.decodeFrom(d, v, path)
			return
		}
	}
	if rv.Type() == rawMessageType {
		rv.SetBytes(v.raw())
		return
	}
	switch rv.Kind() {
	case reflect.Pointer:
		n := reflect.New(rv.Type().Elem())
		d.decode(n.Elem(), v, path)
		rv.Set(n)
	case reflect.String:
		if !d.want(v, kindString, path) {
			return
		}
		if e, ok := rv.Interface().(enum); ok && !d.checkEnum(e, v.s, path) {
			return
		}
		rv.SetString(v.s)
	case reflect.Bool:
		if d.want(v, kindBool, path) {
			rv.SetBool(v.b)
		}
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if !d.want(v, kindNumber, path) {
			return
		}
		n, err := strconv.ParseUint(v.s, 10, rv.Type().Bits())
		if err != nil {
			d.intError(v.s, rv.Type().Bits(), false, path)
			return
		}
		rv.SetUint(n)
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if !d.want(v, kindNumber, path) {
			return
		}
		n, err := strconv.ParseInt(v.s, 10, rv.Type().Bits())
		if err != nil {
			d.intError(v.s, rv.Type().Bits(), true, path)
			return
		}
		rv.SetInt(n)
	case reflect.Float64:
		if !d.want(v, kindNumber, path) {
			return
		}
		f, err := strconv.ParseFloat(v.s, 64)
		if err != nil {
			d.p.add(path, "number %s is out of range", v.s)
			return
		}
		rv.SetFloat(f)
	case reflect.Slice:
		if !d.want(v, kindArray, path) {
			return
		}
		s := reflect.MakeSlice(rv.Type(), len(v.arr), len(v.arr))
		for i, e := range v.arr {
			d.decode(s.Index(i), e, pathIndex(path, i))
		}
		rv.Set(s)
	case reflect.Map:
		if !d.want(v, kindObject, path) {
			return
		}
		m := reflect.MakeMapWithSize(rv.Type(), len(v.members))
		for _, mb := range v.members {
			e := reflect.New(rv.Type().Elem()).Elem()
			d.decode(e, mb.val, pathKey(path, mb.key))
			m.SetMapIndex(reflect.ValueOf(mb.key).Convert(rv.Type().Key()), e)
		}
		rv.Set(m)
	case reflect.Struct:
		d.decodeStruct(rv, v, path, nil)
	case reflect.Interface:
		rv.Set(reflect.ValueOf(v.toAny()))
	default:
		d.p.add(path, "internal: cannot decode into %s", rv.Type())
	}
}

// decodeStruct decodes an object into a struct by json tag. special, when
// non-nil, gets first look at every key and returns true for keys it handled.
func (d *decoder) decodeStruct(rv reflect.Value, v *value, path string, special func(key string, val *value, path string) bool) {
	if !d.want(v, kindObject, path) {
		return
	}
	fields := fieldsOf(rv.Type())
	unsupported := unsupportedKeys[rv.Type()]
	for _, mb := range v.members {
		fp := pathKey(path, mb.key)
		if special != nil && special(mb.key, mb.val, fp) {
			continue
		}
		if i, ok := fields[mb.key]; ok {
			f := rv.Field(i)
			d.decode(f, mb.val, fp)
			// An empty list or map says nothing, so it loads as nil and
			// round-trips; omitzero fields keep it, where it means "none".
			if (f.Kind() == reflect.Slice || f.Kind() == reflect.Map) && f.Len() == 0 && !keepsEmpty(rv.Type().Field(i)) {
				f.Set(reflect.Zero(f.Type()))
			}
			continue
		}
		if why, ok := unsupported[mb.key]; ok {
			if !mb.val.isZero() {
				d.p.unsupported(fp, why)
			}
			continue
		}
		d.p.add(fp, "unknown field")
	}
}

var fieldCache sync.Map // reflect.Type -> map[string]int

// fieldsOf maps the json names of t's fields to their indexes.
func fieldsOf(t reflect.Type) map[string]int {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string]int)
	}
	m := map[string]int{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if !f.IsExported() || name == "-" || name == "" {
			continue
		}
		m[name] = i
	}
	fieldCache.Store(t, m)
	return m
}

func (d *decoder) want(v *value, k kind, path string) bool {
	if v.kind == k {
		return true
	}
	d.p.add(path, "want %s, got %s", articled(k), articled(v.kind))
	d.p.silence(path)
	return false
}

func articled(k kind) string {
	switch k {
	case kindArray, kindObject:
		return "an " + k.String()
	case kindNull:
		return "null"
	}
	return "a " + k.String()
}

func (d *decoder) intError(lit string, bits int, signed bool, path string) {
	if strings.ContainsAny(lit, ".eE") {
		d.p.add(path, "want an integer, got %s", lit)
		d.p.silence(path)
		return
	}
	kind := "unsigned"
	if signed {
		kind = "signed"
	}
	d.p.add(path, "%s is out of range for a %d-bit %s integer", lit, bits, kind)
	d.p.silence(path)
}

func (d *decoder) checkEnum(e enum, s, path string) bool {
	if u, ok := e.(unsupportedEnum); ok {
		if why, ok := u.unsupportedValues()[s]; ok {
			d.p.unsupported(path, why)
			d.p.silence(path)
			return false
		}
	}
	for _, ok := range e.enumValues() {
		if s == ok {
			return true
		}
	}
	d.p.add(path, "unknown value %q (want one of %s)", s, strings.Join(e.enumValues(), ", "))
	d.p.silence(path)
	return false
}

// decodeFrom decodes a profile; realm profile references are unsupported.
func (p *Profile) decodeFrom(d *decoder, v *value, path string) {
	if v.kind == kindObject && v.get("realm_profile") != nil {
		d.p.unsupported(pathKey(path, "realm_profile"), "realm profile references")
		d.p.silence(path)
		return
	}
	d.decodeStruct(reflect.ValueOf(p).Elem(), v, path, nil)
}

// decodeFrom accepts Meerkat's wrapper {"schema": …} or a bare schema.
func (o *OutputSchema) decodeFrom(d *decoder, v *value, path string) {
	if !d.want(v, kindObject, path) {
		return
	}
	if v.get("schema") == nil {
		o.Schema = v.raw()
		return
	}
	d.decodeStruct(reflect.ValueOf(o).Elem(), v, path, nil)
}

// decodeFrom decodes a flow, keeping its steps in document order.
func (f *FlowSpec) decodeFrom(d *decoder, v *value, path string) {
	d.decodeStruct(reflect.ValueOf(f).Elem(), v, path, func(key string, val *value, fp string) bool {
		if key != "steps" {
			return false
		}
		if val.kind == kindNull || !d.want(val, kindObject, fp) {
			return true
		}
		f.Steps = make([]StepSpec, 0, len(val.members))
		for _, mb := range val.members {
			s := StepSpec{ID: mb.key}
			sp := pathKey(fp, mb.key)
			d.decodeStruct(reflect.ValueOf(&s).Elem(), mb.val, sp, nil)
			if mb.val.kind == kindObject {
				if m := mb.val.get("message"); m == nil || m.kind == kindNull {
					d.p.add(pathKey(sp, "message"), "required")
				}
			}
			f.Steps = append(f.Steps, s)
		}
		return true
	})
}

// decodeFrom decodes a frame, keeping its nodes in document order.
func (fr *FrameSpec) decodeFrom(d *decoder, v *value, path string) {
	if !d.want(v, kindObject, path) {
		return
	}
	seen := false
	for _, mb := range v.members {
		fp := pathKey(path, mb.key)
		if mb.key != "nodes" {
			d.p.add(fp, "unknown field")
			continue
		}
		seen = true
		if !d.want(mb.val, kindObject, fp) {
			continue
		}
		fr.Nodes = make([]Node, 0, len(mb.val.members))
		for _, nm := range mb.val.members {
			fr.Nodes = append(fr.Nodes, d.decodeNode(nm.key, nm.val, pathKey(fp, nm.key)))
		}
	}
	if !seen {
		d.p.add(pathKey(path, "nodes"), "required")
	}
}

func (d *decoder) decodeNode(id string, v *value, path string) Node {
	n := Node{ID: id}
	if !d.want(v, kindObject, path) {
		return n
	}
	kv := v.get("kind")
	if kv == nil || kv.kind != kindString {
		d.p.add(pathKey(path, "kind"), `required: "step" or "repeat_until"`)
		d.p.silence(path)
		return n
	}
	skipKind := func(key string, _ *value, _ string) bool { return key == "kind" }
	switch NodeKind(kv.s) {
	case NodeStep:
		n.Step = &FrameStepSpec{}
		d.decodeStruct(reflect.ValueOf(n.Step).Elem(), v, path, skipKind)
	case NodeRepeatUntil:
		n.RepeatUntil = &RepeatUntilSpec{}
		d.decodeStruct(reflect.ValueOf(n.RepeatUntil).Elem(), v, path, skipKind)
		for _, k := range []string{"body", "until", "max_iterations"} {
			if v.get(k) == nil {
				d.p.add(pathKey(path, k), "required")
				d.p.silence(pathKey(path, k))
			}
		}
	default:
		d.p.add(pathKey(path, "kind"), `unknown value %q (want step or repeat_until)`, kv.s)
		d.p.silence(path)
	}
	return n
}

// condition keys by operator.
var condKeys = map[CondOp][]string{
	OpEq: {"path", "value"}, OpGt: {"path", "value"}, OpLt: {"path", "value"},
	OpIn: {"path", "values"}, OpAnd: {"exprs"}, OpOr: {"exprs"}, OpNot: {"expr"},
}

// decodeFrom decodes a ConditionExpr tagged by "op".
func (c *Condition) decodeFrom(d *decoder, v *value, path string) {
	if !d.want(v, kindObject, path) {
		return
	}
	ov := v.get("op")
	if ov == nil || ov.kind != kindString {
		d.p.add(pathKey(path, "op"), "required: one of eq, in, gt, lt, and, or, not")
		d.p.silence(path)
		return
	}
	c.Op = CondOp(ov.s)
	keys, ok := condKeys[c.Op]
	if !ok {
		d.p.add(pathKey(path, "op"), "unknown operator %q (want eq, in, gt, lt, and, or, not)", ov.s)
		d.p.silence(path)
		return
	}
	for _, k := range keys {
		if v.get(k) == nil {
			d.p.add(pathKey(path, k), "required for op %s", c.Op)
			d.p.silence(pathKey(path, k))
		}
	}
	for _, mb := range v.members {
		fp := pathKey(path, mb.key)
		allowed := mb.key == "op"
		for _, k := range keys {
			allowed = allowed || k == mb.key
		}
		if !allowed {
			d.p.add(fp, "unknown field for op %s", c.Op)
			continue
		}
		switch mb.key {
		case "path":
			if d.want(mb.val, kindString, fp) {
				c.Path = mb.val.s
			}
		case "value":
			c.Value = mb.val.raw()
		case "values":
			if d.want(mb.val, kindArray, fp) {
				c.Values = make([]json.RawMessage, len(mb.val.arr))
				for i, e := range mb.val.arr {
					c.Values[i] = e.raw()
				}
			}
		case "exprs":
			if d.want(mb.val, kindArray, fp) {
				c.Exprs = make([]Condition, len(mb.val.arr))
				for i, e := range mb.val.arr {
					c.Exprs[i].decodeFrom(d, e, pathIndex(fp, i))
				}
			}
		case "expr":
			c.Expr = &Condition{}
			c.Expr.decodeFrom(d, mb.val, fp)
		}
	}
}

// decodeFrom decodes a ContentInput: a string, or an array of blocks.
func (m *Message) decodeFrom(d *decoder, v *value, path string) {
	switch v.kind {
	case kindString:
		*m = Text(v.s)
	case kindArray:
		m.Blocks = make([]Block, len(v.arr))
		for i, e := range v.arr {
			m.Blocks[i] = decodeBlock(d.p, e, pathIndex(path, i))
		}
	default:
		d.p.add(path, "want a string or an array of content blocks, got %s", articled(v.kind))
	}
}

func decodeBlock(p *problems, v *value, path string) Block {
	if v.kind != kindObject {
		p.add(path, "want a content block object, got %s", articled(v.kind))
		return Block{}
	}
	tv := v.get("type")
	if tv == nil || tv.kind != kindString || tv.s == "" {
		p.add(pathKey(path, "type"), "required string")
		return Block{}
	}
	if tv.s != "text" {
		return Block{Type: tv.s, Raw: v.raw()}
	}
	b := Block{Type: "text"}
	seen := false
	for _, mb := range v.members {
		switch mb.key {
		case "type":
		case "text":
			if mb.val.kind != kindString {
				p.add(pathKey(path, "text"), "want a string, got %s", articled(mb.val.kind))
				continue
			}
			b.Text, seen = mb.val.s, true
		default:
			p.add(pathKey(path, mb.key), "unknown field of a text block")
		}
	}
	if !seen {
		p.add(pathKey(path, "text"), "required")
	}
	return b
}

// keepsEmpty reports whether a field distinguishes empty from absent (it is
// tagged omitzero), or is raw JSON.
func keepsEmpty(f reflect.StructField) bool {
	if f.Type == rawMessageType {
		return true
	}
	_, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
	for _, o := range strings.Split(opts, ",") {
		if o == "omitzero" {
			return true
		}
	}
	return false
}
