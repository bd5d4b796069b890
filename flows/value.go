package flows

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// kind is the JSON type of a value in the document tree.
type kind uint8

const (
	kindNull kind = iota
	kindBool
	kindNumber
	kindString
	kindArray
	kindObject
)

func (k kind) String() string {
	return [...]string{"null", "boolean", "number", "string", "array", "object"}[k]
}

// value is one node of a decoded document. Objects keep their keys in
// document order, which the flow model needs: Meerkat keeps steps and frame
// nodes in an IndexMap, so declaration order is part of the definition.
type value struct {
	kind    kind
	b       bool
	s       string // string, or the number's literal text
	arr     []*value
	members []member
}

type member struct {
	key string
	val *value
}

// get returns the member named key, or nil.
func (v *value) get(key string) *value {
	for _, m := range v.members {
		if m.key == key {
			return m.val
		}
	}
	return nil
}

// isZero reports whether v carries nothing: null, false, 0, "", [] or {}.
func (v *value) isZero() bool {
	switch v.kind {
	case kindNull:
		return true
	case kindBool:
		return !v.b
	case kindNumber:
		f, err := strconv.ParseFloat(v.s, 64)
		return err == nil && f == 0
	case kindString:
		return v.s == ""
	case kindArray:
		return len(v.arr) == 0
	case kindObject:
		return len(v.members) == 0
	}
	return false
}

// maxDepth bounds nesting so hostile input cannot exhaust the stack.
const maxDepth = 512

// parseJSON decodes one JSON value (and nothing after it) into a tree,
// keeping object keys in order. Duplicate keys are an error.
func parseJSON(data []byte) (*value, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := readValue(dec, 0)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, errors.New("unexpected end of input")
		}
		return nil, fmt.Errorf("%w (near byte %d)", err, dec.InputOffset())
	}
	if _, err := dec.Token(); err != io.EOF {
		if err == nil {
			return nil, errors.New("unexpected data after the top-level value")
		}
		return nil, err
	}
	return v, nil
}

func readValue(dec *json.Decoder, depth int) (*value, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("nesting deeper than %d", maxDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		if err == io.EOF {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	switch t := tok.(type) {
	case nil:
		return &value{kind: kindNull}, nil
	case bool:
		return &value{kind: kindBool, b: t}, nil
	case json.Number:
		return &value{kind: kindNumber, s: t.String()}, nil
	case string:
		return &value{kind: kindString, s: t}, nil
	case json.Delim:
		switch t {
		case '[':
			v := &value{kind: kindArray, arr: []*value{}}
			for dec.More() {
				e, err := readValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				v.arr = append(v.arr, e)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return v, nil
		case '{':
			v := &value{kind: kindObject, members: []member{}}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				key, ok := kt.(string)
				if !ok {
					return nil, fmt.Errorf("object key is %v, not a string", kt)
				}
				if v.get(key) != nil {
					return nil, fmt.Errorf("duplicate key %q", key)
				}
				e, err := readValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				v.members = append(v.members, member{key, e})
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return v, nil
		}
	}
	return nil, fmt.Errorf("unexpected token %v", tok)
}

// parseTOML decodes a TOML document into a tree. Keys keep the order in
// which they first appear in the document.
func parseTOML(data []byte) (*value, error) {
	var raw map[string]any
	md, err := toml.Decode(string(data), &raw)
	if err != nil {
		return nil, err
	}
	order := map[string]int{}
	for i, k := range md.Keys() {
		s := k.String()
		if _, ok := order[s]; !ok {
			order[s] = i
		}
	}
	return fromTOML(raw, "", order, 0)
}

func fromTOML(x any, prefix string, order map[string]int, depth int) (*value, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("nesting deeper than %d", maxDepth)
	}
	switch t := x.(type) {
	case nil:
		return &value{kind: kindNull}, nil
	case bool:
		return &value{kind: kindBool, b: t}, nil
	case int64:
		return &value{kind: kindNumber, s: strconv.FormatInt(t, 10)}, nil
	case float64:
		if math.IsNaN(t) || math.IsInf(t, 0) {
			return nil, fmt.Errorf("%s: nan and inf have no JSON form", orRoot(prefix))
		}
		return &value{kind: kindNumber, s: strconv.FormatFloat(t, 'g', -1, 64)}, nil
	case string:
		return &value{kind: kindString, s: t}, nil
	case time.Time:
		return nil, fmt.Errorf("%s: TOML date and time values have no JSON form; quote them", orRoot(prefix))
	case []any:
		v := &value{kind: kindArray, arr: []*value{}}
		for _, e := range t {
			ev, err := fromTOML(e, prefix, order, depth+1)
			if err != nil {
				return nil, err
			}
			v.arr = append(v.arr, ev)
		}
		return v, nil
	case []map[string]any:
		v := &value{kind: kindArray, arr: []*value{}}
		for _, e := range t {
			ev, err := fromTOML(e, prefix, order, depth+1)
			if err != nil {
				return nil, err
			}
			v.arr = append(v.arr, ev)
		}
		return v, nil
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		pos := func(k string) int {
			if i, ok := order[joinKey(prefix, k)]; ok {
				return i
			}
			return math.MaxInt
		}
		sort.Slice(keys, func(i, j int) bool {
			pi, pj := pos(keys[i]), pos(keys[j])
			if pi != pj {
				return pi < pj
			}
			return keys[i] < keys[j]
		})
		v := &value{kind: kindObject, members: []member{}}
		for _, k := range keys {
			ev, err := fromTOML(t[k], joinKey(prefix, k), order, depth+1)
			if err != nil {
				return nil, err
			}
			v.members = append(v.members, member{k, ev})
		}
		return v, nil
	}
	return nil, fmt.Errorf("%s: unsupported TOML value of type %T", orRoot(prefix), x)
}

// joinKey builds the dotted key the TOML decoder's MetaData reports,
// quoting parts the way toml.Key.String does.
func joinKey(prefix, k string) string {
	q := toml.Key{k}.String()
	if prefix == "" {
		return q
	}
	return prefix + "." + q
}

func orRoot(p string) string {
	if p == "" {
		return "document"
	}
	return p
}

// toAny converts v to the plain Go form encoding/json produces with
// UseNumber: map[string]any, []any, string, json.Number, bool, nil.
func (v *value) toAny() any {
	switch v.kind {
	case kindBool:
		return v.b
	case kindNumber:
		return json.Number(v.s)
	case kindString:
		return v.s
	case kindArray:
		out := make([]any, len(v.arr))
		for i, e := range v.arr {
			out[i] = e.toAny()
		}
		return out
	case kindObject:
		out := make(map[string]any, len(v.members))
		for _, m := range v.members {
			out[m.key] = m.val.toAny()
		}
		return out
	}
	return nil
}

// raw returns v as canonical compact JSON (object keys sorted), the form the
// model keeps free-form values in, so equal values compare equal whatever
// their source format or key order.
func (v *value) raw() json.RawMessage {
	b, err := json.Marshal(v.toAny())
	if err != nil {
		// toAny only yields encodable values; a number literal is valid by
		// construction.
		panic("flows: canonical JSON: " + err.Error())
	}
	return b
}

// canonicalJSON re-encodes arbitrary JSON text in the canonical form.
func canonicalJSON(data []byte) (json.RawMessage, error) {
	v, err := parseJSON(data)
	if err != nil {
		return nil, err
	}
	return v.raw(), nil
}

// decodeJSONValue decodes JSON text into the plain Go form used by Scope.
func decodeJSONValue(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("unexpected data after the value")
	}
	return x, nil
}

// pathKey renders a key for a field path, quoting keys that would be
// ambiguous in dotted form.
func pathKey(prefix, key string) string {
	if key == "" || strings.ContainsAny(key, ".[]\" ") {
		key = strconv.Quote(key)
	}
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

func pathIndex(prefix string, i int) string {
	return prefix + "[" + strconv.Itoa(i) + "]"
}
