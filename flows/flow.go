package flows

import (
	"encoding/json"
	"time"
)

// FlowSpec is one flow of a mob: steps addressed to roles, with
// dependencies, conditions and loops. Steps keep declaration order (Meerkat
// keeps them in an IndexMap), so the order of Steps is part of the model.
//
// A flow has one of two shapes. Without Root, the steps' own DependsOn,
// DependsOnMode, Branch and FailurePolicy form the flow's single frame. With
// Root, the frame tree says how the steps run (each step placed by exactly
// one frame step node, nested in repeat_until loops as needed), and the
// steps' own dependency fields must be left empty.
type FlowSpec struct {
	// ID is the flow's key in [Definition.Flows]; it is not written inside
	// the flow's JSON.
	ID string `json:"-"`
	// Description is free text.
	Description string `json:"description,omitempty"`
	// Steps in declaration order; IDs are unique.
	Steps []StepSpec `json:"-"`
	// Root is the frame tree, or nil for a flat flow.
	Root *FrameSpec `json:"root,omitempty"`
	// Mobd holds mobd extensions for the whole run; nil in Meerkat flows.
	Mobd *FlowExtensions `json:"mobd,omitempty"`
}

// Step returns the step with the given id.
func (f FlowSpec) Step(id string) (*StepSpec, bool) {
	for i := range f.Steps {
		if f.Steps[i].ID == id {
			return &f.Steps[i], true
		}
	}
	return nil, false
}

// DependencyMode says when a node with dependencies runs.
type DependencyMode string

// Dependency modes. With DependAll (the default) one dependency that ends
// failed, skipped or canceled makes the dependent skipped; with DependAny it
// is skipped only when every dependency ends that way.
const (
	DependAll DependencyMode = "all"
	DependAny DependencyMode = "any"
)

func (DependencyMode) enumValues() []string { return []string{"all", "any"} }

// DispatchMode says how a step's message goes to the members of its role.
type DispatchMode string

// Dispatch modes; DispatchFanOut is the default.
const (
	DispatchFanOut   DispatchMode = "fan_out"
	DispatchOneToOne DispatchMode = "one_to_one"
	DispatchFanIn    DispatchMode = "fan_in"
)

func (DispatchMode) enumValues() []string { return []string{"fan_out", "one_to_one", "fan_in"} }

// FailurePolicy says what a node's failure does to its frame.
type FailurePolicy string

// Failure policies. FailEscalate (the default) fails the enclosing frame;
// FailContinue records the failure (step failed, failure ledger, step_failed
// event) but lets the frame classify on its other nodes. Either way the
// failed node's DependAll dependents are skipped.
const (
	FailEscalate FailurePolicy = "escalate"
	FailContinue FailurePolicy = "continue"
)

func (FailurePolicy) enumValues() []string { return []string{"escalate", "continue"} }

// OutputFormat is how a step's output is read: "json" or "text". The
// loader resolves an absent format to json when the step has an expected
// schema, text otherwise.
type OutputFormat string

// Output formats.
const (
	OutputJSON OutputFormat = "json"
	OutputText OutputFormat = "text"
)

func (OutputFormat) enumValues() []string { return []string{"json", "text"} }

// CollectionPolicy says how many of a step's targets must complete, tagged
// by Type: "all" (the default), "any", or "quorum" with N targets.
type CollectionPolicy struct {
	Type string `json:"type"`
	N    uint8  `json:"n,omitempty"`
}

// Collection policy types.
const (
	CollectAll    = "all"
	CollectAny    = "any"
	CollectQuorum = "quorum"
)

// StepSpec is one step of a flow (Meerkat FlowStepSpec). The loader fills the
// defaults, so a loaded step always has DependsOnMode, DispatchMode,
// CollectionPolicy.Type, OutputFormat and FailurePolicy set. TimeoutMS stays
// nil when absent: use [StepSpec.Timeout] for the effective, clamped timeout.
type StepSpec struct {
	// ID is the step's key in the flow.
	ID string `json:"-"`
	// Role is the profile name whose members receive the step (required,
	// except for mobd approval steps, which have none).
	Role string `json:"role,omitempty"`
	// Message is sent to the targets; its text is a template (see [ParseTemplate]).
	Message Message `json:"message"`
	// DependsOn lists step ids (flat flows only).
	DependsOn []string `json:"depends_on,omitempty"`
	// DependsOnMode defaults to DependAll.
	DependsOnMode DependencyMode `json:"depends_on_mode,omitempty"`
	// DispatchMode defaults to DispatchFanOut.
	DispatchMode DispatchMode `json:"dispatch_mode,omitempty"`
	// CollectionPolicy defaults to {Type: "all"}.
	CollectionPolicy CollectionPolicy `json:"collection_policy,omitzero"`
	// Condition, when set, must hold for the step to run; otherwise it is skipped.
	Condition *Condition `json:"condition,omitempty"`
	// TimeoutMS is the step timeout as written, nil when absent.
	TimeoutMS *uint64 `json:"timeout_ms,omitempty"`
	// ExpectedSchemaRef is as written: JSON-object text (an inline schema) or
	// a named ref such as "schemas/join.json".
	ExpectedSchemaRef string `json:"expected_schema_ref,omitempty"`
	// ExpectedSchema is the resolved schema (canonical JSON) the step's
	// structured output is validated against; nil without a schema. It is
	// filled by the loader and not written to JSON (the ref is).
	ExpectedSchema json.RawMessage `json:"-"`
	// OutputFormat is resolved by the loader (json with a schema, else text).
	OutputFormat OutputFormat `json:"output_format,omitempty"`
	// Branch groups mutually exclusive steps (see the package doc).
	Branch string `json:"branch,omitempty"`
	// AllowedTools, when non-nil, restricts the targets' tools for this step
	// (an empty non-nil list allows none).
	AllowedTools []string `json:"allowed_tools,omitzero"`
	// BlockedTools, when non-nil, removes tools for this step.
	BlockedTools []string `json:"blocked_tools,omitzero"`
	// FailurePolicy defaults to FailEscalate (flat flows only).
	FailurePolicy FailurePolicy `json:"failure_policy,omitempty"`
	// Mobd holds mobd extensions (retry, budget, approval); nil in Meerkat flows.
	Mobd *StepExtensions `json:"mobd,omitempty"`
}

// IsApproval reports whether the step is a mobd approval step.
func (s *StepSpec) IsApproval() bool { return s.Mobd != nil && s.Mobd.Approval != nil }

// Timeout returns the step's effective timeout: TimeoutMS, or
// DefaultStepTimeout when absent, clamped to the flow deadline of limits
// (when set). An approval step without TimeoutMS waits until the flow
// deadline, or without limit (0) when there is none.
func (s *StepSpec) Timeout(limits *LimitsSpec) time.Duration {
	deadline, hasDeadline := limits.FlowDeadline()
	var t time.Duration
	switch {
	case s.TimeoutMS != nil:
		t = msDuration(*s.TimeoutMS)
	case s.IsApproval():
		if hasDeadline {
			return deadline
		}
		return 0
	default:
		t = DefaultStepTimeout
	}
	if hasDeadline && t > deadline {
		return deadline
	}
	return t
}

// FrameSpec is a frame: nodes in declaration order, each a step or a
// repeat_until loop. Dependencies name sibling nodes of the same frame.
type FrameSpec struct {
	Nodes []Node `json:"-"`
}

// NodeKind is a frame node's kind: "step" or "repeat_until".
type NodeKind string

// Node kinds.
const (
	NodeStep        NodeKind = "step"
	NodeRepeatUntil NodeKind = "repeat_until"
)

// Node is one node of a frame; exactly one of Step and RepeatUntil is set.
type Node struct {
	// ID is the node's key in its frame.
	ID          string
	Step        *FrameStepSpec
	RepeatUntil *RepeatUntilSpec
}

// Kind returns the node's kind.
func (n *Node) Kind() NodeKind {
	if n.RepeatUntil != nil {
		return NodeRepeatUntil
	}
	return NodeStep
}

// DependsOn returns the node's dependencies (sibling node ids).
func (n *Node) DependsOn() []string {
	if n.RepeatUntil != nil {
		return n.RepeatUntil.DependsOn
	}
	if n.Step != nil {
		return n.Step.DependsOn
	}
	return nil
}

// Mode returns the node's dependency mode.
func (n *Node) Mode() DependencyMode {
	if n.RepeatUntil != nil {
		return n.RepeatUntil.DependsOnMode
	}
	if n.Step != nil {
		return n.Step.DependsOnMode
	}
	return DependAll
}

// Failure returns the node's failure policy.
func (n *Node) Failure() FailurePolicy {
	if n.RepeatUntil != nil {
		return n.RepeatUntil.FailurePolicy
	}
	if n.Step != nil {
		return n.Step.FailurePolicy
	}
	return FailEscalate
}

// FrameStepSpec places a step of the flow in a frame.
type FrameStepSpec struct {
	StepID        string         `json:"step_id"`
	DependsOn     []string       `json:"depends_on,omitempty"`
	DependsOnMode DependencyMode `json:"depends_on_mode,omitempty"`
	Branch        string         `json:"branch,omitempty"`
	FailurePolicy FailurePolicy  `json:"failure_policy,omitempty"`
}

// RepeatUntilSpec is a loop node: Body runs once per iteration until Until
// holds (evaluated after each iteration, with steps.<id> naming that
// iteration's outputs) or MaxIterations iterations have run (the loop is
// then "exhausted").
type RepeatUntilSpec struct {
	LoopID        string         `json:"loop_id"`
	DependsOn     []string       `json:"depends_on,omitempty"`
	DependsOnMode DependencyMode `json:"depends_on_mode,omitempty"`
	Body          FrameSpec      `json:"body"`
	Until         Condition      `json:"until"`
	MaxIterations uint32         `json:"max_iterations"`
	FailurePolicy FailurePolicy  `json:"failure_policy,omitempty"`
}

// Message is a step's message (Meerkat ContentInput): plain text, or a list
// of content blocks when Blocks is non-nil. Text, and the text of text
// blocks, are templates; other blocks pass through unchanged.
type Message struct {
	Text   string
	Blocks []Block
}

// Text returns a plain-text message.
func Text(s string) Message { return Message{Text: s} }

// Blocks returns a multimodal message.
func Blocks(blocks ...Block) Message {
	if blocks == nil {
		blocks = []Block{}
	}
	return Message{Blocks: blocks}
}

// IsBlocks reports whether m is a block list.
func (m Message) IsBlocks() bool { return m.Blocks != nil }

// Block is one content block. A text block has Type "text" and Text; any
// other block (image, video, ...) is kept whole in Raw as canonical JSON.
type Block struct {
	Type string
	Text string
	Raw  json.RawMessage
}

// TextBlock returns a text block.
func TextBlock(text string) Block { return Block{Type: "text", Text: text} }

// RawBlock returns a non-text block from its JSON form, which must be an
// object with a string "type".
func RawBlock(data []byte) (Block, error) {
	v, err := parseJSON(data)
	if err != nil {
		return Block{}, err
	}
	var p problems
	b := decodeBlock(&p, v, "block")
	if err := p.err(); err != nil {
		return Block{}, err
	}
	return b, nil
}
