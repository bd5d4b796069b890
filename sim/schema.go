package sim

import (
	"encoding/json"
	"math"
	"sort"
	"strconv"
	"strings"
)

// resolveOutputSchema accepts output_schema as a raw JSON Schema or the
// wrapper {"schema":{...},"name":...,"strict":...} and returns the schema
// (nil when absent).
func resolveOutputSchema(raw json.RawMessage) (json.RawMessage, *rpcError) {
	switch jsonKind(raw) {
	case "", "null":
		return nil, nil
	case "object":
	case "bool":
		return compactOrInvalid(raw)
	default:
		return nil, invalidParams("Invalid params: output_schema must be a JSON Schema object")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, invalidParams("Invalid params: output_schema: %v", err)
	}
	if inner, ok := obj["schema"]; ok && jsonKind(inner) == "object" {
		wrapper := true
		for k := range obj {
			switch k {
			case "schema", "name", "strict", "compat", "format":
			default:
				wrapper = false
			}
		}
		if wrapper {
			return compactOrInvalid(inner)
		}
	}
	return compactOrInvalid(raw)
}

func compactOrInvalid(raw json.RawMessage) (json.RawMessage, *rpcError) {
	c, err := compactJSON(raw)
	if err != nil {
		return nil, invalidParams("Invalid params: output_schema: %v", err)
	}
	return c, nil
}

// generateValue builds a deterministic value that satisfies schema.
func generateValue(schema json.RawMessage) (json.RawMessage, error) {
	root, err := decodeAny(schema)
	if err != nil {
		return nil, err
	}
	g := &valueGen{root: root}
	return marshal(g.gen(root, "value", 0))
}

type valueGen struct{ root any }

const maxSchemaDepth = 12

func (g *valueGen) gen(node any, name string, depth int) any {
	switch n := node.(type) {
	case bool:
		if n {
			return "sim " + name
		}
		return nil
	case map[string]any:
		return g.genObjectSchema(n, name, depth)
	default:
		return nil
	}
}

func (g *valueGen) genObjectSchema(s map[string]any, name string, depth int) any {
	if depth > maxSchemaDepth {
		return nil
	}
	if ref, ok := s["$ref"].(string); ok {
		if target := g.resolveRef(ref); target != nil {
			return g.gen(target, name, depth+1)
		}
	}
	if c, ok := s["const"]; ok {
		return c
	}
	if e, ok := s["enum"].([]any); ok && len(e) > 0 {
		return e[0]
	}
	if all, ok := s["allOf"].([]any); ok && len(all) > 0 {
		merged := map[string]any{}
		for k, v := range s {
			if k != "allOf" {
				merged[k] = v
			}
		}
		for _, sub := range all {
			if m, ok := g.deref(sub).(map[string]any); ok {
				mergeSchema(merged, m)
			}
		}
		return g.genObjectSchema(merged, name, depth+1)
	}
	for _, key := range []string{"oneOf", "anyOf"} {
		if alts, ok := s[key].([]any); ok && len(alts) > 0 {
			pick := alts[0]
			for _, a := range alts {
				if m, ok := g.deref(a).(map[string]any); ok && m["type"] != "null" {
					pick = a
					break
				}
			}
			return g.gen(pick, name, depth+1)
		}
	}
	typ := schemaType(s)
	switch typ {
	case "object":
		return g.genObject(s, depth)
	case "array":
		return g.genArray(s, name, depth)
	case "string":
		return genString(s, name)
	case "integer":
		return genNumber(s, true)
	case "number":
		return genNumber(s, false)
	case "boolean":
		return true
	case "null":
		return nil
	}
	return "sim " + name
}

func (g *valueGen) deref(node any) any {
	if m, ok := node.(map[string]any); ok {
		if ref, ok := m["$ref"].(string); ok {
			if t := g.resolveRef(ref); t != nil {
				return t
			}
		}
	}
	return node
}

// resolveRef follows a local JSON pointer such as "#/$defs/Thing".
func (g *valueGen) resolveRef(ref string) any {
	if !strings.HasPrefix(ref, "#") {
		return nil
	}
	cur := g.root
	for _, part := range strings.Split(strings.TrimPrefix(ref, "#"), "/") {
		if part == "" {
			continue
		}
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[part]
	}
	return cur
}

func mergeSchema(dst, src map[string]any) {
	for k, v := range src {
		switch k {
		case "properties":
			dp, _ := dst[k].(map[string]any)
			if dp == nil {
				dp = map[string]any{}
			}
			if sp, ok := v.(map[string]any); ok {
				for pk, pv := range sp {
					dp[pk] = pv
				}
			}
			dst[k] = dp
		case "required":
			dr, _ := dst[k].([]any)
			if sr, ok := v.([]any); ok {
				dst[k] = append(dr, sr...)
			}
		default:
			if _, exists := dst[k]; !exists {
				dst[k] = v
			}
		}
	}
}

func schemaType(s map[string]any) string {
	switch t := s["type"].(type) {
	case string:
		return t
	case []any:
		for _, x := range t {
			if str, ok := x.(string); ok && str != "null" {
				return str
			}
		}
		if len(t) > 0 {
			if str, ok := t[0].(string); ok {
				return str
			}
		}
	}
	switch {
	case s["properties"] != nil || s["required"] != nil || s["additionalProperties"] != nil:
		return "object"
	case s["items"] != nil || s["prefixItems"] != nil:
		return "array"
	}
	return ""
}

func (g *valueGen) genObject(s map[string]any, depth int) any {
	out := map[string]any{}
	props, _ := s["properties"].(map[string]any)
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out[k] = g.gen(props[k], k, depth+1)
	}
	if req, ok := s["required"].([]any); ok {
		for _, r := range req {
			k, ok := r.(string)
			if !ok {
				continue
			}
			if _, done := out[k]; done {
				continue
			}
			var sub any = true
			if ap, ok := s["additionalProperties"].(map[string]any); ok {
				sub = ap
			}
			out[k] = g.gen(sub, k, depth+1)
		}
	}
	if minProps := intKeyword(s, "minProperties"); minProps > len(out) {
		var sub any = true
		if ap, ok := s["additionalProperties"].(map[string]any); ok {
			sub = ap
		}
		for i := len(out); i < minProps; i++ {
			k := "extra_" + strings.Repeat("x", i)
			out[k] = g.gen(sub, k, depth+1)
		}
	}
	return out
}

func (g *valueGen) genArray(s map[string]any, name string, depth int) any {
	var out []any
	if prefix, ok := s["prefixItems"].([]any); ok {
		for _, p := range prefix {
			out = append(out, g.gen(p, name, depth+1))
		}
	}
	n := max(intKeyword(s, "minItems"), 1)
	if maxItems, ok := s["maxItems"]; ok {
		if m := toInt(maxItems); m < n {
			n = m
		}
	}
	items, hasItems := s["items"]
	if !hasItems {
		items = map[string]any{"type": "string"}
	}
	if b, ok := items.(bool); ok && !b {
		return append([]any{}, out...)
	}
	unique := s["uniqueItems"] == true
	enumVals := []any(nil)
	if m, ok := g.deref(items).(map[string]any); ok {
		enumVals, _ = m["enum"].([]any)
	}
	for i := len(out); i < n; i++ {
		v := g.gen(items, name, depth+1)
		if unique {
			switch {
			case len(enumVals) > i:
				v = enumVals[i]
			case i > 0:
				switch x := v.(type) {
				case string:
					v = x + " " + strconv.Itoa(i+1)
				case json.Number:
					if f, err := x.Float64(); err == nil {
						v = f + float64(i)
					}
				case float64:
					v = x + float64(i)
				case int64:
					v = x + int64(i)
				}
			}
		}
		out = append(out, v)
	}
	if out == nil {
		out = []any{}
	}
	return out
}

func genString(s map[string]any, name string) any {
	var v string
	switch s["format"] {
	case "date-time":
		v = "2025-01-01T00:00:00Z"
	case "date":
		v = "2025-01-01"
	case "time":
		v = "00:00:00Z"
	case "email":
		v = "sim@example.com"
	case "uri", "url":
		v = "https://example.com/sim"
	case "uuid":
		v = "00000000-0000-4000-8000-000000000000"
	case "ipv4":
		v = "127.0.0.1"
	case "hostname":
		v = "example.com"
	default:
		v = "sim " + strings.ReplaceAll(name, "_", " ")
	}
	if minLen := intKeyword(s, "minLength"); len([]rune(v)) < minLen {
		v += strings.Repeat("x", minLen-len([]rune(v)))
	}
	if maxLen, ok := s["maxLength"]; ok {
		if m := toInt(maxLen); m >= 0 && len([]rune(v)) > m {
			v = string([]rune(v)[:m])
		}
	}
	return v
}

func genNumber(s map[string]any, integer bool) any {
	lo, hi := math.Inf(-1), math.Inf(1)
	if v, ok := numKeyword(s, "minimum"); ok {
		lo = v
	}
	if v, ok := numKeyword(s, "exclusiveMinimum"); ok {
		if integer {
			lo = math.Max(lo, math.Floor(v)+1)
		} else {
			lo = math.Max(lo, v+0.5)
		}
	}
	if v, ok := numKeyword(s, "maximum"); ok {
		hi = v
	}
	if v, ok := numKeyword(s, "exclusiveMaximum"); ok {
		if integer {
			hi = math.Min(hi, math.Ceil(v)-1)
		} else {
			hi = math.Min(hi, v-0.5)
		}
	}
	x := 42.0
	if !integer {
		x = 4.5
	}
	if x < lo {
		x = lo
	}
	if x > hi {
		x = hi
	}
	if integer {
		x = math.Ceil(x)
		if x > hi {
			x = math.Floor(hi)
		}
	}
	if m, ok := numKeyword(s, "multipleOf"); ok && m > 0 {
		x = math.Ceil(x/m) * m
		if x > hi {
			x -= m
		}
	}
	if integer {
		return int64(x)
	}
	return x
}

func numKeyword(s map[string]any, k string) (float64, bool) {
	switch v := s[k].(type) {
	case json.Number:
		f, err := v.Float64()
		return f, err == nil
	case float64:
		return v, true
	}
	return 0, false
}

func intKeyword(s map[string]any, k string) int {
	if v, ok := s[k]; ok {
		return toInt(v)
	}
	return 0
}

func toInt(v any) int {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return int(i)
		}
	case float64:
		return int(x)
	}
	return 0
}
