package flows

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
)

// Format is a definition file format.
type Format int

// Formats.
const (
	// FormatJSON is one JSON object with the mob's fields at top level.
	FormatJSON Format = iota
	// FormatTOML is Meerkat's TOML: id and orchestrator in a [mob] table,
	// everything else in top-level tables.
	FormatTOML
)

// LoadOptions configures [Load].
type LoadOptions struct {
	// Schemas resolves named expected_schema_ref values (a ref is a
	// slash-separated path inside it; ".." and absolute paths are refused).
	// nil means a named ref is an error. LoadFile uses the file's directory.
	Schemas fs.FS
}

// LoadJSON loads a definition from Meerkat's JSON form. Named schema refs
// cannot be resolved (there is no base directory): use [LoadFile] or [Load].
// See [Load] for what loading does.
func LoadJSON(data []byte) (*Definition, error) {
	return Load(data, FormatJSON, LoadOptions{})
}

// LoadTOML loads a definition from Meerkat's TOML form. See [LoadJSON].
func LoadTOML(data []byte) (*Definition, error) {
	return Load(data, FormatTOML, LoadOptions{})
}

// LoadFile loads a definition from a file, JSON or TOML by extension
// (.json, .toml), resolving named schema refs in the file's directory.
func LoadFile(path string) (*Definition, error) {
	var f Format
	switch strings.ToLower(filepath.Ext(path)) {
	case ".json":
		f = FormatJSON
	case ".toml":
		f = FormatTOML
	default:
		return nil, fmt.Errorf("flows: %s: unknown definition format (want .json or .toml)", path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("flows: %w", err)
	}
	def, err := Load(data, f, LoadOptions{Schemas: os.DirFS(filepath.Dir(path))})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return def, nil
}

// Load decodes a definition strictly, validates it and fills its defaults.
// Every problem is reported at once in a *ValidationError (wrapping
// ErrInvalidDefinition): syntax errors, unknown keys, values of the wrong
// type, Meerkat fields mobd does not support (also matching
// ErrUnsupportedField), and every rule of [Definition.Validate]. The
// definition is returned only when there is no problem.
func Load(data []byte, format Format, opts LoadOptions) (*Definition, error) {
	var (
		root           *value
		err            error
		p              problems
		layoutProblems int
	)
	switch format {
	case FormatJSON:
		root, err = parseJSON(data)
		if err != nil {
			p.add("", "invalid JSON: %v", err)
		}
	case FormatTOML:
		root, err = parseTOML(data)
		if err != nil {
			p.add("", "invalid TOML: %v", err)
		} else {
			root = fromTOMLLayout(&p, root)
		}
		layoutProblems = len(p.list)
	default:
		return nil, fmt.Errorf("flows: unknown format %d", format)
	}
	if root == nil {
		return nil, p.err()
	}
	def := &Definition{}
	d := &decoder{p: &p}
	d.decodeStruct(reflect.ValueOf(def).Elem(), root, "", nil)
	for id, f := range def.Flows {
		f.ID = id
		def.Flows[id] = f
	}
	validateDefinition(&p, def, opts.Schemas)
	if format == FormatTOML {
		for i := layoutProblems; i < len(p.list); i++ {
			switch pth := p.list[i].Path; {
			case pth == "id", pth == "orchestrator", strings.HasPrefix(pth, "orchestrator."):
				p.list[i].Path = "mob." + pth
			}
		}
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	def.applyDefaults()
	return def, nil
}

// fromTOMLLayout moves [mob].id and [mob].orchestrator to the top level,
// turning a bare orchestrator name into {profile = name}.
func fromTOMLLayout(p *problems, root *value) *value {
	if root.kind != kindObject {
		return root
	}
	out := &value{kind: kindObject}
	mob := root.get("mob")
	if mob == nil {
		p.add("mob", "required: the [mob] table with id (and optionally orchestrator)")
	} else if mob.kind != kindObject {
		p.add("mob", "want a table, got %s", articled(mob.kind))
		mob = nil
	}
	if mob != nil {
		for _, m := range mob.members {
			switch m.key {
			case "id":
				out.members = append(out.members, m)
			case "orchestrator":
				o := m.val
				if o.kind == kindString {
					o = &value{kind: kindObject, members: []member{{"profile", o}}}
				}
				out.members = append(out.members, member{"orchestrator", o})
			default:
				p.add(pathKey("mob", m.key), "unknown field of [mob] (only id and orchestrator belong there)")
			}
		}
	}
	for _, m := range root.members {
		switch m.key {
		case "mob":
		case "id", "orchestrator":
			p.add(m.key, "belongs in the [mob] table in TOML")
		default:
			out.members = append(out.members, m)
		}
	}
	return out
}

// applyDefaults fills the defaults the model documents, so a loaded
// definition carries explicit values.
func (d *Definition) applyDefaults() {
	for name, pr := range d.Profiles {
		if pr.RuntimeMode == "" {
			pr.RuntimeMode = RuntimeAutonomousHost
		}
		d.Profiles[name] = pr
	}
	for id, f := range d.Flows {
		f.applyDefaults()
		d.Flows[id] = f
	}
}

func (f *FlowSpec) applyDefaults() {
	for i := range f.Steps {
		s := &f.Steps[i]
		s.DependsOnMode = orMode(s.DependsOnMode)
		s.FailurePolicy = orPolicy(s.FailurePolicy)
		if s.DispatchMode == "" {
			s.DispatchMode = DispatchFanOut
		}
		if s.CollectionPolicy.Type == "" {
			s.CollectionPolicy.Type = CollectAll
		}
		if s.OutputFormat == "" {
			s.OutputFormat = s.defaultOutputFormat()
		}
		if len(s.DependsOn) == 0 {
			s.DependsOn = nil
		}
		if s.Mobd != nil && s.Mobd.Approval != nil && s.Mobd.Approval.OnTimeout == "" {
			s.Mobd.Approval.OnTimeout = ApprovalReject
		}
	}
	if f.Root != nil {
		f.Root.applyDefaults()
	}
}

func (fr *FrameSpec) applyDefaults() {
	for i := range fr.Nodes {
		n := &fr.Nodes[i]
		if n.Step != nil {
			n.Step.DependsOnMode = orMode(n.Step.DependsOnMode)
			n.Step.FailurePolicy = orPolicy(n.Step.FailurePolicy)
			if len(n.Step.DependsOn) == 0 {
				n.Step.DependsOn = nil
			}
		}
		if r := n.RepeatUntil; r != nil {
			r.DependsOnMode = orMode(r.DependsOnMode)
			r.FailurePolicy = orPolicy(r.FailurePolicy)
			if len(r.DependsOn) == 0 {
				r.DependsOn = nil
			}
			r.Body.applyDefaults()
		}
	}
}
