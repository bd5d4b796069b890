package flows

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"reflect"
	"strings"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// schemaURL is where a schema is registered for compilation; nothing is
// fetched from it.
const schemaURL = "https://mobd.invalid/flows/schema.json"

// noLoader refuses every external reference, so compiling a schema never
// reads a file or the network.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("external schema reference %q is not allowed", url)
}

// CompileSchema compiles a JSON Schema (draft 2020-12 unless the schema says
// otherwise). External references are refused.
func CompileSchema(schema []byte) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema))
	if err != nil {
		return nil, fmt.Errorf("flows: schema is not valid JSON: %w", err)
	}
	switch doc.(type) {
	case map[string]any, bool:
	default:
		return nil, errors.New("flows: a schema must be a JSON object or boolean")
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(noLoader{})
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, fmt.Errorf("flows: schema: %w", err)
	}
	s, err := c.Compile(schemaURL)
	if err != nil {
		return nil, fmt.Errorf("flows: invalid schema: %s", oneLine(err))
	}
	return s, nil
}

// ValidateOutput checks a step's structured output against its expected
// schema (a no-op without one). output is JSON-shaped, or a json.RawMessage.
// The schema is compiled on every call; an executor that validates often
// should compile [StepSpec.ExpectedSchema] once with [CompileSchema].
func (s *StepSpec) ValidateOutput(output any) error {
	if len(s.ExpectedSchema) == 0 {
		return nil
	}
	sch, err := CompileSchema(s.ExpectedSchema)
	if err != nil {
		return err
	}
	if r, ok := output.(json.RawMessage); ok {
		if output, err = jsonschema.UnmarshalJSON(bytes.NewReader(r)); err != nil {
			return fmt.Errorf("flows: step %s output is not valid JSON: %w", s.ID, err)
		}
	}
	if err := sch.Validate(output); err != nil {
		return fmt.Errorf("flows: step %s output does not match its expected schema: %s", s.ID, oneLine(err))
	}
	return nil
}

// isInlineRef reports whether an expected_schema_ref is an inline schema: a
// JSON object's text (after leading space).
func isInlineRef(ref string) bool {
	return strings.HasPrefix(strings.TrimLeft(ref, " \t\r\n"), "{")
}

// SchemaFor derives the JSON Schema of T's JSON form by reflection, as used
// for the expected output of a Go-defined step. Struct fields follow
// encoding/json (json tags, embedded structs, "-"); a field is required
// unless it is tagged omitempty/omitzero or is a pointer (which may also be
// null); objects admit no other properties. A `desc:"…"` tag becomes the property's description.
// Recursive types, channels, functions and complex numbers are errors.
func SchemaFor[T any]() (json.RawMessage, error) {
	s, err := reflectSchema(reflect.TypeFor[T](), map[reflect.Type]bool{})
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	return canonicalJSON(b)
}

var (
	timeType    = reflect.TypeFor[time.Time]()
	rawJSONType = reflect.TypeFor[json.RawMessage]()
)

func reflectSchema(t reflect.Type, seen map[reflect.Type]bool) (map[string]any, error) {
	switch t {
	case timeType:
		return map[string]any{"type": "string", "format": "date-time"}, nil
	case rawJSONType:
		return map[string]any{}, nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		s, err := reflectSchema(t.Elem(), seen)
		if err != nil {
			return nil, err
		}
		if typ, ok := s["type"].(string); ok {
			s["type"] = []any{typ, "null"} // a nil pointer encodes as null
		}
		return s, nil
	case reflect.Bool:
		return map[string]any{"type": "boolean"}, nil
	case reflect.String:
		return map[string]any{"type": "string"}, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		s := map[string]any{"type": "integer"}
		if t.Kind() >= reflect.Uint {
			s["minimum"] = 0
		}
		return s, nil
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}, nil
	case reflect.Interface:
		return map[string]any{}, nil
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "contentEncoding": "base64"}, nil
		}
		items, err := reflectSchema(t.Elem(), seen)
		if err != nil {
			return nil, err
		}
		return map[string]any{"type": "array", "items": items}, nil
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return nil, fmt.Errorf("flows: schema for %s: map keys must be strings", t)
		}
		vals, err := reflectSchema(t.Elem(), seen)
		if err != nil {
			return nil, err
		}
		return map[string]any{"type": "object", "additionalProperties": vals}, nil
	case reflect.Struct:
		if seen[t] {
			return nil, fmt.Errorf("flows: schema for %s: recursive types are not supported", t)
		}
		seen[t] = true
		defer delete(seen, t)
		props := map[string]any{}
		required := []string{}
		if err := structProps(t, seen, props, &required); err != nil {
			return nil, err
		}
		s := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
		if len(required) > 0 {
			s["required"] = required
		}
		return s, nil
	}
	return nil, fmt.Errorf("flows: schema for %s: %s has no JSON form", t, t.Kind())
}

// jsonField is one field of a struct's JSON form.
type jsonField struct {
	name  string
	opts  string // the json tag's options after the name
	field reflect.StructField
}

// jsonFields yields the fields of struct t as encoding/json sees them:
// untagged embedded structs are flattened in place, "-" and unexported
// fields are skipped, and an empty tag name means the Go name.
func jsonFields(t reflect.Type) iter.Seq[jsonField] {
	return func(yield func(jsonField) bool) {
		var walk func(t reflect.Type) bool
		walk = func(t reflect.Type) bool {
			for i := 0; i < t.NumField(); i++ {
				f := t.Field(i)
				tag := f.Tag.Get("json")
				if tag == "-" {
					continue
				}
				name, opts, _ := strings.Cut(tag, ",")
				if f.Anonymous && name == "" {
					et := f.Type
					if et.Kind() == reflect.Pointer {
						et = et.Elem()
					}
					if et.Kind() == reflect.Struct {
						if !walk(et) {
							return false
						}
						continue
					}
				}
				if !f.IsExported() {
					continue
				}
				if name == "" {
					name = f.Name
				}
				if !yield(jsonField{name: name, opts: opts, field: f}) {
					return false
				}
			}
			return true
		}
		walk(t)
	}
}

func structProps(t reflect.Type, seen map[reflect.Type]bool, props map[string]any, required *[]string) error {
	for jf := range jsonFields(t) {
		f := jf.field
		s, err := reflectSchema(f.Type, seen)
		if err != nil {
			return err
		}
		if d := f.Tag.Get("desc"); d != "" {
			s["description"] = d
		}
		props[jf.name] = s
		optional := f.Type.Kind() == reflect.Pointer
		for _, o := range strings.Split(jf.opts, ",") {
			optional = optional || o == "omitempty" || o == "omitzero"
		}
		if !optional {
			*required = append(*required, jf.name)
		}
	}
	return nil
}

// typeHasPath reports whether the JSON form of t can have the field path
// (object keys, or decimal indexes into slices), for checking typed
// references in the Go DSL. Interfaces and raw JSON admit any path.
func typeHasPath(t reflect.Type, fields []string) error {
	for i, f := range fields {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t == rawJSONType || t.Kind() == reflect.Interface {
			return nil
		}
		switch t.Kind() {
		case reflect.Map:
			t = t.Elem()
		case reflect.Slice, reflect.Array:
			if _, err := fmt.Sscanf(f, "%d", new(int)); err != nil {
				return fmt.Errorf("%s: %q is not an index into %s", strings.Join(fields[:i+1], "."), f, t)
			}
			t = t.Elem()
		case reflect.Struct:
			ft, ok := fieldType(t, f)
			if !ok {
				return fmt.Errorf("%s: %s has no JSON field %q", strings.Join(fields[:i+1], "."), t, f)
			}
			t = ft
		default:
			return fmt.Errorf("%s: cannot index into %s", strings.Join(fields[:i+1], "."), t)
		}
	}
	return nil
}

// fieldType returns the type of struct t's JSON field name.
func fieldType(t reflect.Type, name string) (reflect.Type, bool) {
	for jf := range jsonFields(t) {
		if jf.name == name {
			return jf.field.Type, true
		}
	}
	return nil, false
}

// oneLine flattens the jsonschema package's multi-line errors.
func oneLine(err error) string {
	msg := strings.ReplaceAll(err.Error(), `"`+schemaURL+`#" is `, "")
	msg = strings.ReplaceAll(msg, schemaURL, "schema")
	var parts []string
	for _, l := range strings.Split(msg, "\n") {
		l = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "- "))
		if l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, "; ")
}
