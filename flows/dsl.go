package flows

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Flow builds a flow in Go. P is the type of the run's params: references
// to them ([Flow.Params]) are checked against P's JSON form, as references
// to a step's output are checked against the step's output type. The result
// is the same model a loaded flow has ([Flow.Spec]), and converts to
// Meerkat's JSON when it uses nothing beyond that format ([Flow.MeerkatJSON]).
//
// A Flow is a builder for one goroutine; mistakes (a reference to a field
// the type does not have, a duplicate id, ...) are collected and reported by
// Spec, so building code stays linear.
type Flow[P any] struct {
	b *builder
}

// Builder is where steps are added: a *Flow, or a *Loop for its body.
type Builder interface {
	frameOf() (*builder, *dslFrame)
}

// Dep is something a step can depend on: a step's [Ref] or a *Loop.
type Dep interface {
	nodeID() string
}

// builder is the shared state of a flow under construction.
type builder struct {
	spec  FlowSpec
	root  *dslFrame
	p     problems
	loops []*Loop
}

// dslFrame is a frame under construction.
type dslFrame struct {
	nodes []*dslNode
	loop  *Loop // nil for the root frame
}

type dslNode struct {
	id      string
	stepIdx int // index into spec.Steps, or -1 for a loop
	deps    []string
	mode    DependencyMode
	branch  string
	failure FailurePolicy
	loop    *Loop
}

// NewFlow starts a flow with the given id.
func NewFlow[P any](id string) *Flow[P] {
	return &Flow[P]{b: &builder{spec: FlowSpec{ID: id}, root: &dslFrame{}}}
}

func (f *Flow[P]) frameOf() (*builder, *dslFrame) { return f.b, f.b.root }

// Describe sets the flow's description.
func (f *Flow[P]) Describe(text string) *Flow[P] {
	f.b.spec.Description = text
	return f
}

// Budget bounds the tokens one run may use (a mobd extension).
func (f *Flow[P]) Budget(b Budget) *Flow[P] {
	f.b.spec.Mobd = &FlowExtensions{Budget: &b}
	return f
}

// Params returns a reference to the run's params.
func (f *Flow[P]) Params() Ref[P] {
	return Ref[P]{b: f.b, base: rootParams}
}

// Spec returns the flow as the model: flat when it has no loop, a root
// frame tree otherwise. Defaults are filled and the flow is validated as
// [FlowSpec.Validate] does (roles are checked when the flow is added to a
// Definition). Errors are a *ValidationError.
func (f *Flow[P]) Spec() (FlowSpec, error) {
	b := f.b
	spec := b.spec
	spec.Steps = append([]StepSpec(nil), b.spec.Steps...)
	for _, l := range b.loops {
		if !l.set {
			b.p.add(pathKey("flows", spec.ID), "loop %q has no exit condition: call Until", l.id)
			l.set = true // report once
		}
	}
	if len(b.loops) == 0 {
		for _, n := range b.root.nodes {
			s := &spec.Steps[n.stepIdx]
			s.DependsOn, s.DependsOnMode, s.Branch, s.FailurePolicy = n.deps, n.mode, n.branch, n.failure
		}
	} else {
		spec.Root = b.root.spec()
	}
	var p problems
	p.list = append(p.list, b.p.list...)
	validateFlow(&p, &spec, nil, nil, pathKey("flows", spec.ID))
	if err := p.err(); err != nil {
		return FlowSpec{}, err
	}
	spec.applyDefaults()
	return spec, nil
}

// MeerkatJSON returns the flow as Meerkat FlowSpec JSON, or a
// *NotExpressibleError when it uses a mobd extension (retry, budget,
// approval), or the error of Spec.
func (f *Flow[P]) MeerkatJSON() ([]byte, error) {
	spec, err := f.Spec()
	if err != nil {
		return nil, err
	}
	return spec.MeerkatJSON()
}

func (fr *dslFrame) spec() *FrameSpec {
	out := &FrameSpec{Nodes: []Node{}}
	for _, n := range fr.nodes {
		node := Node{ID: n.id}
		if n.loop != nil {
			node.RepeatUntil = &RepeatUntilSpec{
				LoopID: n.loop.id, DependsOn: n.deps, DependsOnMode: n.mode, FailurePolicy: n.failure,
				Body: *n.loop.frame.spec(), Until: n.loop.until, MaxIterations: n.loop.max,
			}
		} else {
			node.Step = &FrameStepSpec{StepID: n.id, DependsOn: n.deps, DependsOnMode: n.mode, Branch: n.branch, FailurePolicy: n.failure}
		}
		out.Nodes = append(out.Nodes, node)
	}
	return out
}

// Loop is a repeat_until loop under construction; add its body's steps
// with it as the Builder, and set its condition with Until.
type Loop struct {
	b     *builder
	id    string
	max   uint32
	until Condition
	set   bool
	frame *dslFrame
	node  *dslNode
}

// RepeatUntil adds a loop node to parent (a *Flow, or a *Loop to nest): its
// body runs up to maxIterations times, until the condition given to
// [Loop.Until] holds. Options that apply to nodes (After, DependAnyOf,
// ContinueOnFailure) apply to the loop node.
func RepeatUntil(parent Builder, loopID string, maxIterations uint32, opts ...StepOption) *Loop {
	b, fr := parent.frameOf()
	l := &Loop{b: b, id: loopID, max: maxIterations, frame: &dslFrame{}}
	b.loops = append(b.loops, l)
	l.frame.loop = l
	var o stepOpts
	for _, opt := range opts {
		opt(&o)
	}
	if o.step != (stepSettings{}) || o.ext != (StepExtensions{}) || o.cond != nil || o.branch != "" {
		b.p.add(pathKey("flows", b.spec.ID), "loop %q: only After, DependAnyOf and ContinueOnFailure apply to a loop", loopID)
	}
	l.node = &dslNode{id: loopID, stepIdx: -1, deps: o.deps, mode: o.mode, failure: o.failure, loop: l}
	fr.nodes = append(fr.nodes, l.node)
	return l
}

func (l *Loop) frameOf() (*builder, *dslFrame) { return l.b, l.frame }
func (l *Loop) nodeID() string                 { return l.id }

// Until sets the loop's exit condition, evaluated after each iteration
// (steps.<id> then names that iteration's outputs).
func (l *Loop) Until(c Condition) *Loop {
	l.until, l.set = c, true
	return l
}

// Ref is a typed reference to JSON of type T: the run's params, or a step's
// output. Its methods make template placeholders and condition paths, and
// check the fields they name against T's JSON form (json tags); a bad field
// is reported by [Flow.Spec].
type Ref[T any] struct {
	b      *builder
	base   string // "params", "steps.<id>.output" or "loops.<l>.iterations.<n>.steps.<id>"
	stepID string
	loop   *Loop // the loop whose body holds the step, if any
}

// ID returns the referenced step's id ("" for params).
func (r Ref[T]) ID() string { return r.stepID }

func (r Ref[T]) nodeID() string { return r.stepID }

// At returns the path of a field of T, for conditions: At("a", "0") is
// "steps.<id>.output.a.0". With no fields it is the whole value.
func (r Ref[T]) At(fields ...string) string {
	if err := typeHasPath(reflect.TypeFor[T](), fields); err != nil && r.b != nil {
		r.b.p.add(pathKey("flows", r.b.spec.ID), "reference %s: %v", strings.Join(append([]string{r.base}, fields...), "."), err)
	}
	return strings.Join(append([]string{r.base}, fields...), ".")
}

// Field returns the placeholder "{{ <path> }}" of a field of T, to build
// message text: flows.Text("Investigate " + plan.Field("topics", "0")).
func (r Ref[T]) Field(fields ...string) string { return "{{ " + r.At(fields...) + " }}" }

// String returns the placeholder of the whole value.
func (r Ref[T]) String() string { return r.Field() }

// InIteration refers to the step's output in iteration n of its loop
// (loops.<loop>.iterations.<n>.steps.<id>), from after the loop or from a
// later iteration. The step must be in a loop body.
func (r Ref[T]) InIteration(n int) Ref[T] {
	if r.loop == nil {
		r.b.p.add(pathKey("flows", r.b.spec.ID), "InIteration: step %q is not in a loop body", r.stepID)
		return r
	}
	r.base = fmt.Sprintf("loops.%s.iterations.%d.steps.%s", r.loop.id, n, r.stepID)
	return r
}

// StepOption configures a step (or a loop node, where noted).
type StepOption func(*stepOpts)

type stepSettings struct {
	dispatch  DispatchMode
	collect   CollectionPolicy
	timeoutMS uint64
}

type stepOpts struct {
	deps    []string
	mode    DependencyMode
	branch  string
	failure FailurePolicy
	cond    *Condition
	step    stepSettings
	allowed []string
	blocked []string
	ext     StepExtensions
	retry   RetryPolicy
	budget  Budget
	approve Approval
}

// After makes the step (or loop) depend on steps and loops.
func After(deps ...Dep) StepOption {
	return func(o *stepOpts) {
		for _, d := range deps {
			if id := d.nodeID(); id != "" { // params have no node
				o.deps = append(o.deps, id)
			}
		}
	}
}

// DependAnyOf makes the step (or loop) run once any dependency completes
// (depends_on_mode any).
func DependAnyOf() StepOption { return func(o *stepOpts) { o.mode = DependAny } }

// ContinueOnFailure makes the step (or loop) advisory (failure_policy continue).
func ContinueOnFailure() StepOption { return func(o *stepOpts) { o.failure = FailContinue } }

// FanOut sends the step to every member of the role (the default).
func FanOut() StepOption { return func(o *stepOpts) { o.step.dispatch = DispatchFanOut } }

// OneToOne pairs the step's targets one to one with the previous step's.
func OneToOne() StepOption { return func(o *stepOpts) { o.step.dispatch = DispatchOneToOne } }

// FanIn gathers the previous step's outputs into one dispatch.
func FanIn() StepOption { return func(o *stepOpts) { o.step.dispatch = DispatchFanIn } }

// Quorum completes the step once n targets have completed.
func Quorum(n uint8) StepOption {
	return func(o *stepOpts) { o.step.collect = CollectionPolicy{Type: CollectQuorum, N: n} }
}

// FirstResult completes the step once any target has completed.
func FirstResult() StepOption {
	return func(o *stepOpts) { o.step.collect = CollectionPolicy{Type: CollectAny} }
}

// When runs the step only if c holds; otherwise it is skipped.
func When(c Condition) StepOption { return func(o *stepOpts) { o.cond = &c } }

// InBranch puts the step in a branch group of mutually exclusive steps.
func InBranch(name string) StepOption { return func(o *stepOpts) { o.branch = name } }

// Timeout sets the step timeout (rounded up to whole milliseconds).
func Timeout(d time.Duration) StepOption {
	return func(o *stepOpts) {
		ms := uint64((d + time.Millisecond - 1) / time.Millisecond)
		o.step.timeoutMS = ms
	}
}

// AllowTools restricts the step's tools to these.
func AllowTools(names ...string) StepOption {
	return func(o *stepOpts) { o.allowed = append([]string{}, names...) }
}

// BlockTools removes these tools for the step.
func BlockTools(names ...string) StepOption {
	return func(o *stepOpts) { o.blocked = append([]string{}, names...) }
}

// Retry sets the step's retry policy (a mobd extension).
func Retry(p RetryPolicy) StepOption {
	return func(o *stepOpts) { o.retry = p; o.ext.Retry = &o.retry }
}

// StepBudget bounds the step's tokens (a mobd extension).
func StepBudget(b Budget) StepOption {
	return func(o *stepOpts) { o.budget = b; o.ext.Budget = &o.budget }
}

// Approvers names who may decide an approval step.
func Approvers(ids ...string) StepOption {
	return func(o *stepOpts) { o.approve.Approvers = append([]string{}, ids...) }
}

// ApproveOnTimeout makes an approval step approve when nobody answers in time.
func ApproveOnTimeout() StepOption {
	return func(o *stepOpts) { o.approve.OnTimeout = ApprovalApprove }
}

// Step adds a step addressed to role, with message msg, whose output has
// type Out: a string output is read as text; json.RawMessage or an
// interface type as JSON without a schema; any other type as JSON validated
// against the schema [SchemaFor] derives from it (written inline as the
// step's expected_schema_ref).
func Step[Out any](in Builder, id, role string, msg Message, opts ...StepOption) Ref[Out] {
	b, fr := in.frameOf()
	s := StepSpec{ID: id, Role: role, Message: msg}
	t := reflect.TypeFor[Out]()
	switch {
	case t.Kind() == reflect.String:
		s.OutputFormat = OutputText
	case t == rawJSONType || t.Kind() == reflect.Interface:
		s.OutputFormat = OutputJSON
	default:
		schema, err := SchemaFor[Out]()
		if err != nil {
			b.p.add(pathKey(pathKey(pathKey("flows", b.spec.ID), "steps"), id), "output type: %s", trimPrefix(err))
		} else {
			s.ExpectedSchemaRef = string(schema)
		}
	}
	return addStep[Out](b, fr, s, opts)
}

// Then adds a step whose input is the output of from: it depends on from,
// and msg builds its message from the typed reference to from's output.
func Then[Out, In any](in Builder, from Ref[In], id, role string, msg func(in Ref[In]) Message, opts ...StepOption) Ref[Out] {
	return Step[Out](in, id, role, msg(from), append([]StepOption{After(from)}, opts...)...)
}

// Approve adds a mobd approval step: it waits for a human decision on
// question and outputs an [ApprovalDecision].
func Approve(in Builder, id string, question Message, opts ...StepOption) Ref[ApprovalDecision] {
	b, fr := in.frameOf()
	s := StepSpec{ID: id, Message: question}
	s.Mobd = &StepExtensions{Approval: &Approval{}}
	return addStep[ApprovalDecision](b, fr, s, opts)
}

func addStep[Out any](b *builder, fr *dslFrame, s StepSpec, opts []StepOption) Ref[Out] {
	var o stepOpts
	for _, opt := range opts {
		opt(&o)
	}
	s.DispatchMode = o.step.dispatch
	s.CollectionPolicy = o.step.collect
	if o.step.timeoutMS > 0 {
		ms := o.step.timeoutMS
		s.TimeoutMS = &ms
	}
	s.Condition = o.cond
	s.AllowedTools, s.BlockedTools = o.allowed, o.blocked
	if o.ext.Retry != nil || o.ext.Budget != nil {
		if s.Mobd == nil {
			s.Mobd = &StepExtensions{}
		}
		s.Mobd.Retry, s.Mobd.Budget = o.ext.Retry, o.ext.Budget
	}
	if s.IsApproval() {
		a := o.approve
		s.Mobd.Approval = &a
	} else if o.approve.Approvers != nil || o.approve.OnTimeout != "" {
		b.p.add(pathKey(pathKey(pathKey("flows", b.spec.ID), "steps"), s.ID), "Approvers and ApproveOnTimeout apply to approval steps only")
	}
	b.spec.Steps = append(b.spec.Steps, s)
	fr.nodes = append(fr.nodes, &dslNode{
		id: s.ID, stepIdx: len(b.spec.Steps) - 1,
		deps: o.deps, mode: o.mode, branch: o.branch, failure: o.failure,
	})
	return Ref[Out]{b: b, base: "steps." + s.ID + ".output", stepID: s.ID, loop: fr.loop}
}

// Decode decodes a step output (as JSON) into the reference's type, for an
// executor or a test reading typed results.
func (r Ref[T]) Decode(output json.RawMessage) (T, error) {
	var v T
	if reflect.TypeFor[T]().Kind() == reflect.String {
		if s, err := strconv.Unquote(string(output)); err == nil {
			return any(s).(T), nil
		}
	}
	if err := json.Unmarshal(output, &v); err != nil {
		return v, fmt.Errorf("flows: output of %s: %w", r.base, err)
	}
	return v, nil
}
