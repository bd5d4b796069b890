package contract

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

//go:embed schemas
var handFS embed.FS

// baseURL is the made-up location the contract's documents are registered
// under. Nothing is ever fetched from it: every document is added to the
// compiler as a resource before anything is compiled, and the compiler has no
// HTTP loader.
const baseURL = "https://contract.mobd.invalid/meerkat-0.8.26/"

// Where a type's schema came from, as reported by [Contract.TypeSource].
const (
	SourceParams      = "params.json"
	SourceOpenAPI     = "rest-openapi.json"
	SourceHandWritten = "hand-written"
)

// schemaFiles are the contract files whose top-level keys are standalone
// schemas (each with its own $defs), searched after params.json and
// rest-openapi.json, in this order.
var schemaFiles = []string{"events.json", "capabilities.json", "errors.json", "models.json", "runtime-host.json"}

// Contract is the loaded, compiled contract. It is safe for concurrent use.
type Contract struct {
	dir           string
	version       string
	methods       []methodSpec
	byMethod      map[string]*methodSpec
	notifications []string
	isNotif       map[string]bool

	types map[string]typeSchema // contract type name -> schema

	// JSON-RPC frames and the hand-written shapes of server notifications
	// and requests.
	response, notification, request *jsonschema.Schema
	notifParams                     map[string]*jsonschema.Schema
	requestParams                   map[string]*jsonschema.Schema
	attributed                      *jsonschema.Schema
	noParams                        *jsonschema.Schema

	env envelopeSchemas
}

type methodSpec struct {
	name        string
	paramsType  string   // "" when the method takes no params
	resultTypes []string // alternatives of the result_type union
}

type typeSchema struct {
	source string
	schema *jsonschema.Schema
}

// envelopeSchemas validate event envelopes. Both AgentEvent schemas are a
// oneOf over ~40 variants told apart by the const of payload.type; the
// per-type maps hold each variant compiled on its own so a payload is checked
// against its own variant only (see [discriminate]), which is several times
// faster than the oneOf and gives a precise error. When a oneOf is not
// discriminable the map is nil and the full schema is used.
type envelopeSchemas struct {
	strict      *jsonschema.Schema            // hand-written SDK strictness
	frame       *jsonschema.Schema            // rest-openapi EventEnvelope with payload: true
	openapi     *jsonschema.Schema            // rest-openapi EventEnvelope, full
	openapiByTy map[string]*jsonschema.Schema // one rest-openapi AgentEvent variant
	events      *jsonschema.Schema            // events.json AgentEvent, full
	eventsByTy  map[string]*jsonschema.Schema // one events.json AgentEvent variant
}

// Load reads the contract in dir and compiles every schema the validators
// use, once. The result is immutable.
func Load(dir string) (*Contract, error) {
	c := &Contract{
		dir:           dir,
		byMethod:      map[string]*methodSpec{},
		isNotif:       map[string]bool{},
		types:         map[string]typeSchema{},
		notifParams:   map[string]*jsonschema.Schema{},
		requestParams: map[string]*jsonschema.Schema{},
	}
	comp := jsonschema.NewCompiler()
	comp.DefaultDraft(jsonschema.Draft2020)
	comp.AssertFormat()
	registerFormats(comp)

	if err := c.loadIndex(); err != nil {
		return nil, err
	}

	// Register every document before compiling anything, so cross-document
	// references resolve and nothing is looked up elsewhere.
	params, err := readObject(dir, "params.json")
	if err != nil {
		return nil, err
	}
	for name, s := range params {
		if err := comp.AddResource(paramsURL(name), s); err != nil {
			return nil, fmt.Errorf("contract: params.json %s: %w", name, err)
		}
	}
	openapi, err := readObject(dir, "rest-openapi.json")
	if err != nil {
		return nil, err
	}
	if err := comp.AddResource(baseURL+"rest-openapi.json", openapi); err != nil {
		return nil, fmt.Errorf("contract: rest-openapi.json: %w", err)
	}
	components, err := dig(openapi, "components", "schemas")
	if err != nil {
		return nil, fmt.Errorf("contract: rest-openapi.json: %w", err)
	}
	others := map[string]map[string]any{}
	for _, f := range schemaFiles {
		doc, err := readObject(dir, f)
		if err != nil {
			return nil, err
		}
		others[f] = doc
		for name, s := range doc {
			if _, ok := s.(map[string]any); !ok {
				continue
			}
			if err := comp.AddResource(fileURL(f, name), s); err != nil {
				return nil, fmt.Errorf("contract: %s %s: %w", f, name, err)
			}
		}
	}
	hand, wire, err := addHandWritten(comp)
	if err != nil {
		return nil, err
	}

	// Named types: every params and result type rpc-methods.json mentions.
	locate := func(name string) (url, source string) {
		if _, ok := params[name]; ok {
			return paramsURL(name), SourceParams
		}
		if _, ok := components[name]; ok {
			return baseURL + "rest-openapi.json#/components/schemas/" + name, SourceOpenAPI
		}
		for _, f := range schemaFiles {
			if _, ok := others[f][name].(map[string]any); ok {
				return fileURL(f, name), f
			}
		}
		if hand[name] {
			return handURL(name), SourceHandWritten
		}
		return "", ""
	}
	for _, m := range c.methods {
		for _, name := range append([]string{m.paramsType}, m.resultTypes...) {
			if name == "" {
				continue
			}
			if _, done := c.types[name]; done {
				continue
			}
			url, source := locate(name)
			if url == "" {
				continue
			}
			s, err := comp.Compile(url)
			if err != nil {
				return nil, fmt.Errorf("contract: compile %s (%s): %w", name, source, err)
			}
			c.types[name] = typeSchema{source: source, schema: s}
		}
	}
	// Hand-written schemas that no method names (yet) still compile, so a
	// broken file is caught at Load.
	for name := range hand {
		if _, ok := c.types[name]; ok {
			continue
		}
		if _, err := comp.Compile(handURL(name)); err != nil {
			return nil, fmt.Errorf("contract: compile hand-written %s: %w", name, err)
		}
	}

	mustWire := func(file string) (*jsonschema.Schema, error) {
		if !wire[file] {
			return nil, fmt.Errorf("contract: hand-written wire schema %s missing", file)
		}
		s, err := comp.Compile(wireURL(file))
		if err != nil {
			return nil, fmt.Errorf("contract: compile wire/%s: %w", file, err)
		}
		return s, nil
	}
	for _, w := range []struct {
		dst  **jsonschema.Schema
		file string
	}{
		{&c.response, "response.json"},
		{&c.notification, "notification.json"},
		{&c.request, "request.json"},
		{&c.attributed, "attributed-event.json"},
		{&c.noParams, "no-params.json"},
		{&c.env.strict, "envelope-strict.json"},
	} {
		if *w.dst, err = mustWire(w.file); err != nil {
			return nil, err
		}
	}
	for method, file := range map[string]string{
		"session/event":        "session-event.json",
		"session/stream_event": "session-stream-event.json",
		"session/stream_end":   "session-stream-end.json",
		"mob/stream_event":     "mob-stream-event.json",
		"mob/stream_end":       "mob-stream-end.json",
	} {
		if !c.isNotif[method] {
			return nil, fmt.Errorf("contract: rpc-methods.json lacks notification %s", method)
		}
		if c.notifParams[method], err = mustWire(file); err != nil {
			return nil, err
		}
	}
	if c.requestParams["tool/execute"], err = mustWire("tool-execute.json"); err != nil {
		return nil, err
	}

	if err := c.compileEnvelope(comp, components, others["events.json"]); err != nil {
		return nil, err
	}
	return c, nil
}

// loadIndex reads rpc-methods.json and version.json.
func (c *Contract) loadIndex() error {
	raw, err := os.ReadFile(filepath.Join(c.dir, "rpc-methods.json"))
	if err != nil {
		return fmt.Errorf("contract: %w", err)
	}
	var idx struct {
		Methods []struct {
			Name       string `json:"name"`
			ParamsType string `json:"params_type"`
			ResultType string `json:"result_type"`
		} `json:"methods"`
		Notifications []struct {
			Name string `json:"name"`
		} `json:"notifications"`
	}
	if err := json.Unmarshal(raw, &idx); err != nil {
		return fmt.Errorf("contract: rpc-methods.json: %w", err)
	}
	if len(idx.Methods) == 0 {
		return fmt.Errorf("contract: rpc-methods.json lists no methods")
	}
	for _, m := range idx.Methods {
		if m.Name == "" || c.byMethod[m.Name] != nil {
			return fmt.Errorf("contract: rpc-methods.json: empty or duplicate method %q", m.Name)
		}
		spec := methodSpec{name: m.Name, paramsType: strings.TrimSpace(m.ParamsType)}
		for alt := range strings.SplitSeq(m.ResultType, "|") {
			if alt = strings.TrimSpace(alt); alt != "" {
				spec.resultTypes = append(spec.resultTypes, alt)
			}
		}
		c.methods = append(c.methods, spec)
	}
	for i := range c.methods {
		c.byMethod[c.methods[i].name] = &c.methods[i]
	}
	for _, n := range idx.Notifications {
		c.notifications = append(c.notifications, n.Name)
		c.isNotif[n.Name] = true
	}

	raw, err = os.ReadFile(filepath.Join(c.dir, "version.json"))
	if err != nil {
		return fmt.Errorf("contract: %w", err)
	}
	var v struct {
		ContractVersion string `json:"contract_version"`
	}
	if err := json.Unmarshal(raw, &v); err != nil || v.ContractVersion == "" {
		return fmt.Errorf("contract: version.json: no contract_version (%v)", err)
	}
	c.version = v.ContractVersion
	return nil
}

// compileEnvelope compiles the event envelope and payload schemas, one per
// payload type where the oneOf allows it.
func (c *Contract) compileEnvelope(comp *jsonschema.Compiler, components map[string]any, events map[string]any) error {
	var err error
	const openapiURL = baseURL + "rest-openapi.json"
	if c.env.openapi, err = comp.Compile(openapiURL + "#/components/schemas/EventEnvelope"); err != nil {
		return fmt.Errorf("contract: compile rest-openapi EventEnvelope: %w", err)
	}
	eventsURL := fileURL("events.json", "AgentEvent")
	if c.env.events, err = comp.Compile(eventsURL); err != nil {
		return fmt.Errorf("contract: compile events.json AgentEvent: %w", err)
	}
	// perType compiles each variant; ptr is the JSON pointer URL of the
	// oneOf's schema ("…#" for a document root).
	perType := func(schema map[string]any, ptr string) (map[string]*jsonschema.Schema, error) {
		variants := discriminate(schema)
		if variants == nil {
			return nil, nil
		}
		out := make(map[string]*jsonschema.Schema, len(variants))
		for ty, i := range variants {
			s, err := comp.Compile(fmt.Sprintf("%s/oneOf/%d", ptr, i))
			if err != nil {
				return nil, fmt.Errorf("contract: compile AgentEvent %s: %w", ty, err)
			}
			out[ty] = s
		}
		return out, nil
	}
	agentEvent, _ := events["AgentEvent"].(map[string]any)
	if c.env.eventsByTy, err = perType(agentEvent, eventsURL+"#"); err != nil {
		return err
	}

	// rest-openapi EventEnvelope refers to the whole AgentEvent oneOf. When
	// that oneOf is discriminable, split the check in two: a copy of
	// EventEnvelope whose payload is unconstrained, and the payload against
	// its own variant. Properties are independent (no unevaluated*), so the
	// two together accept exactly what EventEnvelope accepts.
	envelope, _ := components["EventEnvelope"].(map[string]any)
	openapiEvent, _ := components["AgentEvent"].(map[string]any)
	payloadRef, _ := dig(envelope, "properties", "payload")
	if envelope == nil || openapiEvent == nil || len(payloadRef) != 1 || payloadRef["$ref"] != "#/components/schemas/AgentEvent" {
		return nil // not the expected shape: use the full schema
	}
	if c.env.openapiByTy, err = perType(openapiEvent, openapiURL+"#/components/schemas/AgentEvent"); err != nil || c.env.openapiByTy == nil {
		return err
	}
	doc := rebase(envelope, "../rest-openapi.json").(map[string]any)
	doc["properties"].(map[string]any)["payload"] = true
	const frameURL = baseURL + "derived/EventEnvelope.json"
	if err := comp.AddResource(frameURL, doc); err != nil {
		return fmt.Errorf("contract: derived EventEnvelope: %w", err)
	}
	if c.env.frame, err = comp.Compile(frameURL); err != nil {
		return fmt.Errorf("contract: compile derived EventEnvelope: %w", err)
	}
	return nil
}

// discriminate maps payload type -> index of its oneOf variant, provided the
// schema is a bare oneOf whose every variant requires "type" and pins it to a
// distinct string const. Then an instance whose type is T can match no
// variant but T's, and validating against variant T alone is equivalent to
// validating against the oneOf. Otherwise it returns nil.
func discriminate(schema map[string]any) map[string]int {
	for k := range schema {
		switch k {
		case "oneOf", "$defs", "$schema", "title", "description":
		default:
			return nil
		}
	}
	variants, _ := schema["oneOf"].([]any)
	out := map[string]int{}
	for i, v := range variants {
		variant, _ := v.(map[string]any)
		ty, _ := dig(variant, "properties", "type")
		tag, ok := ty["const"].(string)
		required, _ := variant["required"].([]any)
		if !ok || !slices.Contains(required, any("type")) {
			return nil
		}
		if _, dup := out[tag]; dup {
			return nil
		}
		out[tag] = i
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// rebase deep-copies v, turning document-local "#/..." references into
// references to the document at prefix.
func rebase(v any, prefix string) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			if s, ok := e.(string); ok && k == "$ref" && strings.HasPrefix(s, "#") {
				out[k] = prefix + s
				continue
			}
			out[k] = rebase(e, prefix)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = rebase(e, prefix)
		}
		return out
	default:
		return v
	}
}

// addHandWritten registers the embedded schemas: schemas/types/<Type>.json
// (named after the contract type they stand in for) and schemas/wire/*.json.
func addHandWritten(comp *jsonschema.Compiler) (types, wire map[string]bool, err error) {
	types, wire = map[string]bool{}, map[string]bool{}
	for _, sub := range []string{"types", "wire"} {
		entries, err := fs.ReadDir(handFS, "schemas/"+sub)
		if err != nil {
			return nil, nil, fmt.Errorf("contract: embedded schemas: %w", err)
		}
		for _, e := range entries {
			if e.IsDir() || path.Ext(e.Name()) != ".json" {
				continue
			}
			raw, err := handFS.ReadFile("schemas/" + sub + "/" + e.Name())
			if err != nil {
				return nil, nil, fmt.Errorf("contract: embedded schemas: %w", err)
			}
			doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
			if err != nil {
				return nil, nil, fmt.Errorf("contract: schemas/%s/%s: %w", sub, e.Name(), err)
			}
			if err := comp.AddResource(baseURL+sub+"/"+e.Name(), doc); err != nil {
				return nil, nil, fmt.Errorf("contract: schemas/%s/%s: %w", sub, e.Name(), err)
			}
			if sub == "types" {
				types[strings.TrimSuffix(e.Name(), ".json")] = true
			} else {
				wire[e.Name()] = true
			}
		}
	}
	return types, wire, nil
}

func paramsURL(name string) string { return baseURL + "params/" + name + ".json" }
func handURL(name string) string   { return baseURL + "types/" + name + ".json" }
func wireURL(file string) string   { return baseURL + "wire/" + file }
func fileURL(file, name string) string {
	return baseURL + strings.TrimSuffix(file, ".json") + "/" + name + ".json"
}

func readObject(dir, name string) (map[string]any, error) {
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		return nil, fmt.Errorf("contract: %w", err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		return nil, fmt.Errorf("contract: %s: %w", name, err)
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("contract: %s: not a JSON object", name)
	}
	return obj, nil
}

// dig walks object keys.
func dig(v map[string]any, keys ...string) (map[string]any, error) {
	for _, k := range keys {
		next, ok := v[k].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("no object at %q", k)
		}
		v = next
	}
	return v, nil
}

// Dir returns the directory the contract was loaded from.
func (c *Contract) Dir() string { return c.dir }

// Version returns the contract version from version.json ("0.8.26").
func (c *Contract) Version() string { return c.version }

// Methods returns the method names in rpc-methods.json, in file order.
func (c *Contract) Methods() []string {
	out := make([]string, len(c.methods))
	for i, m := range c.methods {
		out[i] = m.name
	}
	return out
}

// Notifications returns the notification names in rpc-methods.json, in file
// order. Two of them (initialized, cancel) go client to server.
func (c *Contract) Notifications() []string { return slices.Clone(c.notifications) }

// ResultTypes returns the alternatives of a method's result_type
// ("WireRunResult | DeferredCreateResult" gives two), or nil for an unknown
// method.
func (c *Contract) ResultTypes(method string) []string {
	if m := c.byMethod[method]; m != nil {
		return slices.Clone(m.resultTypes)
	}
	return nil
}

// TypeSource reports where the schema of a type named in rpc-methods.json
// comes from: [SourceParams], [SourceOpenAPI], another contract file's name
// (such as "runtime-host.json"), [SourceHandWritten], or "" when it has none.
func (c *Contract) TypeSource(name string) string { return c.types[name].source }

// UnvalidatedResults returns, sorted, the methods whose result cannot be
// checked because no alternative of their result type has a schema.
func (c *Contract) UnvalidatedResults() []string {
	var out []string
	for _, m := range c.methods {
		if !c.hasResultSchema(m) {
			out = append(out, m.name)
		}
	}
	sort.Strings(out)
	return out
}

func (c *Contract) hasResultSchema(m methodSpec) bool {
	for _, t := range m.resultTypes {
		if _, ok := c.types[t]; ok {
			return true
		}
	}
	return false
}

// registerFormats makes the integer-width formats that schemars writes
// (uint32, uint64, int64, …) assertive: the value must be an integer literal
// (serde rejects 1.0 for an integer field) within the type's range.
func registerFormats(comp *jsonschema.Compiler) {
	for name, bits := range map[string]int{"uint8": 8, "uint16": 16, "uint32": 32, "uint64": 64, "uint": 64} {
		comp.RegisterFormat(&jsonschema.Format{Name: name, Validate: intFormat(bits, false)})
	}
	for name, bits := range map[string]int{"int8": 8, "int16": 16, "int32": 32, "int64": 64} {
		comp.RegisterFormat(&jsonschema.Format{Name: name, Validate: intFormat(bits, true)})
	}
}

func intFormat(bits int, signed bool) func(any) error {
	return func(v any) error {
		n, ok := v.(json.Number)
		if !ok {
			return nil // not a number: the type keyword reports it
		}
		s := string(n)
		if strings.ContainsAny(s, ".eE") {
			return fmt.Errorf("%s is not an integer literal", s)
		}
		var err error
		if signed {
			_, err = strconv.ParseInt(s, 10, bits)
		} else {
			_, err = strconv.ParseUint(s, 10, bits)
		}
		if err != nil {
			kind := "u"
			if signed {
				kind = "i"
			}
			return fmt.Errorf("%s does not fit %s%d", s, kind, bits)
		}
		return nil
	}
}
