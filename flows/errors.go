package flows

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// ErrInvalidDefinition is wrapped by every *ValidationError: the definition
// (or flow) could not be decoded or breaks a rule of the model. Check with
// errors.Is; get the individual problems with errors.As(err, &*ValidationError).
var ErrInvalidDefinition = errors.New("flows: invalid definition")

// ErrUnsupportedField is matched by a *ValidationError (errors.Is) when at
// least one of its problems is a Meerkat field that mobd understands but does
// not support yet (multi-host backends, realm profiles, MCP servers, image
// generation, ...). The field is named by its path; it is never ignored.
var ErrUnsupportedField = errors.New("flows: field not supported by mobd")

// ErrNotExpressible is wrapped by a *NotExpressibleError: a definition or
// flow uses a mobd extension that Meerkat's format cannot say, so it cannot
// be exported as pure Meerkat JSON.
var ErrNotExpressible = errors.New("flows: not expressible in Meerkat's format")

// ErrTemplate is wrapped by every *TemplateError (parse or render).
var ErrTemplate = errors.New("flows: template error")

// ErrPath is wrapped by every *PathError: a reference path (in a template or a
// condition) is malformed, or cannot be followed through the scope.
var ErrPath = errors.New("flows: bad path")

// FieldError is one problem in a definition, named by the path of the field
// in the document (dotted keys, [i] for array elements), for example
// "profiles.lead.tools.mcp_servers" or "flows.review.steps.dig.depends_on[0]".
type FieldError struct {
	// Path locates the field; "" is the document itself.
	Path string
	// Msg says what is wrong, in lower case, without the path.
	Msg string
	// Unsupported is set when the field is valid Meerkat that mobd does not
	// support yet.
	Unsupported bool
}

// Error returns "path: msg".
func (e FieldError) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

// ValidationError lists every problem found in a definition or flow, sorted
// by path (and message). It wraps ErrInvalidDefinition, and also matches
// ErrUnsupportedField when one of its problems is an unsupported field.
type ValidationError struct {
	Errors []FieldError
}

// Error joins the problems, one per line after a summary line.
func (e *ValidationError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "flows: invalid definition: %d problem", len(e.Errors))
	if len(e.Errors) != 1 {
		b.WriteString("s")
	}
	for _, fe := range e.Errors {
		b.WriteString("\n\t")
		b.WriteString(fe.Error())
	}
	return b.String()
}

// Is reports whether target is ErrInvalidDefinition, or ErrUnsupportedField
// when one of the problems is an unsupported field.
func (e *ValidationError) Is(target error) bool {
	switch target {
	case ErrInvalidDefinition:
		return true
	case ErrUnsupportedField:
		for _, fe := range e.Errors {
			if fe.Unsupported {
				return true
			}
		}
	}
	return false
}

// Has reports whether some problem has exactly this path and a message
// containing substr. It is a convenience for tests and tools.
func (e *ValidationError) Has(path, substr string) bool {
	for _, fe := range e.Errors {
		if fe.Path == path && strings.Contains(fe.Msg, substr) {
			return true
		}
	}
	return false
}

// problems accumulates FieldErrors while decoding and validating.
type problems struct {
	list  []FieldError
	quiet []string // paths whose (and whose children's) later problems are noise
}

func (p *problems) add(path, format string, args ...any) {
	if p.quieted(path) {
		return
	}
	p.list = append(p.list, FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// silence drops later problems at or under path: its value was rejected as
// a whole, so checks of its parts would only repeat that.
func (p *problems) silence(path string) { p.quiet = append(p.quiet, path) }

// quieted reports whether problems at path are silenced (the value there
// already failed to decode).
func (p *problems) quieted(path string) bool {
	for _, q := range p.quiet {
		if path == q || strings.HasPrefix(path, q+".") {
			return true
		}
	}
	return false
}

func (p *problems) unsupported(path, why string) {
	if p.quieted(path) {
		return
	}
	msg := "not supported by mobd"
	if why != "" {
		msg += " (" + why + ")"
	}
	p.list = append(p.list, FieldError{Path: path, Msg: msg, Unsupported: true})
}

// err returns nil or a *ValidationError with the problems sorted and
// de-duplicated.
func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	list := append([]FieldError(nil), p.list...)
	sort.SliceStable(list, func(i, j int) bool {
		if list[i].Path != list[j].Path {
			return list[i].Path < list[j].Path
		}
		return list[i].Msg < list[j].Msg
	})
	out := list[:0]
	for i, fe := range list {
		if i > 0 && fe == list[i-1] {
			continue
		}
		out = append(out, fe)
	}
	return &ValidationError{Errors: out}
}

// NotExpressibleError names a mobd extension that Meerkat's format cannot
// say. It wraps ErrNotExpressible.
type NotExpressibleError struct {
	// Path locates the first use of the feature, e.g. "flows.f.steps.s.mobd.retry".
	Path string
	// Feature names the extension: "retry", "budget", "approval".
	Feature string
}

// Error describes the feature and where it is used.
func (e *NotExpressibleError) Error() string {
	return fmt.Sprintf("flows: %s: mobd extension %q is not expressible in Meerkat's format", e.Path, e.Feature)
}

// Unwrap returns ErrNotExpressible.
func (e *NotExpressibleError) Unwrap() error { return ErrNotExpressible }

// TemplateError is a template that cannot be parsed or rendered. It wraps
// ErrTemplate and, for a path that cannot be followed, a *PathError.
type TemplateError struct {
	// Template is the source text.
	Template string
	// Offset is the byte offset of the offending placeholder, or -1.
	Offset int
	// Msg says what is wrong.
	Msg string
	// Err is the underlying *PathError, if any.
	Err error
}

// Error describes the problem and where it is.
func (e *TemplateError) Error() string {
	if e.Offset >= 0 {
		return fmt.Sprintf("flows: template at offset %d: %s", e.Offset, e.Msg)
	}
	return "flows: template: " + e.Msg
}

// Unwrap returns ErrTemplate and the underlying path error, if any.
func (e *TemplateError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrTemplate, e.Err}
	}
	return []error{ErrTemplate}
}

// PathError is a reference path that is malformed, names an unknown root, or
// cannot be followed through the scope (a missing field under a present
// value, or an index into a scalar). It wraps ErrPath.
type PathError struct {
	// Path is the whole path as written.
	Path string
	// At is the segment where resolution failed ("" for syntax errors).
	At string
	// Msg says what is wrong.
	Msg string

	badScope bool // the scope held invalid JSON
}

// Error describes the problem.
func (e *PathError) Error() string {
	if e.At != "" {
		return fmt.Sprintf("flows: path %q at %q: %s", e.Path, e.At, e.Msg)
	}
	return fmt.Sprintf("flows: path %q: %s", e.Path, e.Msg)
}

// Unwrap returns ErrPath.
func (e *PathError) Unwrap() error { return ErrPath }
