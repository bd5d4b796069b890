package flows

import (
	"math"
	"time"
)

// This file holds the mobd extensions: features Meerkat's format cannot say.
// They live under a "mobd" key, on a step or on a flow, never mixed with
// Meerkat's own keys, so a Meerkat definition is never ambiguous and a
// definition that uses them is recognisably not pure Meerkat:
//
//	"steps": {"review": {"role": "critic", "message": "…",
//	    "mobd": {
//	      "retry":  {"attempts": 3, "initial_backoff_ms": 500, "max_backoff_ms": 8000,
//	                 "multiplier": 2, "retry_on": ["timeout", "runtime", "provider"]},
//	      "budget": {"max_tokens": 50000}}}}
//	"flows": {"f": {"mobd": {"budget": {"max_tokens": 400000}}, "steps": {…}}}
//	"steps": {"sign_off": {"message": "Ship {{ steps.draft.output.title }}?",
//	    "mobd": {"approval": {"approvers": ["ops"], "on_timeout": "reject"}}}}
//
// [Definition.MeerkatJSON] and [FlowSpec.MeerkatJSON] refuse such a
// definition with a *NotExpressibleError naming the first extension used.

// StepExtensions are the mobd extensions of one step.
type StepExtensions struct {
	// Retry replaces limits.max_step_retries for this step.
	Retry *RetryPolicy `json:"retry,omitempty"`
	// Budget bounds the tokens this step may use, over all targets and attempts.
	Budget *Budget `json:"budget,omitempty"`
	// Approval makes the step an approval step (see [Approval]).
	Approval *Approval `json:"approval,omitempty"`
}

// FlowExtensions are the mobd extensions of a whole flow run.
type FlowExtensions struct {
	// Budget bounds the tokens one run of the flow may use.
	Budget *Budget `json:"budget,omitempty"`
}

// FailureClass names a kind of step failure, for [RetryPolicy.RetryOn].
type FailureClass string

// Failure classes.
const (
	// FailureTimeout: the step (or one target) exceeded its timeout.
	FailureTimeout FailureClass = "timeout"
	// FailureRuntime: the member's runtime process died or became unreachable.
	FailureRuntime FailureClass = "runtime"
	// FailureProvider: the LLM provider failed (llm_failure).
	FailureProvider FailureClass = "provider"
	// FailureTool: a tool call failed the turn (tool_failure).
	FailureTool FailureClass = "tool"
	// FailureOutput: the output did not match the expected schema, or
	// structured output extraction failed.
	FailureOutput FailureClass = "output"
)

func (FailureClass) enumValues() []string {
	return []string{"timeout", "runtime", "provider", "tool", "output"}
}

// DefaultRetryOn is the failure classes retried when RetryOn is empty.
// Budget exhaustion, hook denials and cancellation are never retried.
var DefaultRetryOn = []FailureClass{FailureTimeout, FailureRuntime, FailureProvider}

// RetryPolicy retries a failed step target with capped exponential backoff:
// the n-th retry (n from 1) waits InitialBackoffMS * Multiplier^(n-1),
// capped at MaxBackoffMS.
type RetryPolicy struct {
	// Attempts is the total number of attempts, the first included (>= 1).
	Attempts uint32 `json:"attempts"`
	// InitialBackoffMS is the wait before the first retry (default 1000).
	InitialBackoffMS uint64 `json:"initial_backoff_ms,omitempty"`
	// MaxBackoffMS caps every wait (default 30000).
	MaxBackoffMS uint64 `json:"max_backoff_ms,omitempty"`
	// Multiplier grows the wait per retry (default 2, at least 1).
	Multiplier float64 `json:"multiplier,omitempty"`
	// RetryOn lists the failure classes retried; empty means DefaultRetryOn.
	RetryOn []FailureClass `json:"retry_on,omitempty"`
}

// Retry policy defaults for zero fields.
const (
	DefaultInitialBackoff = time.Second
	DefaultMaxBackoff     = 30 * time.Second
	DefaultMultiplier     = 2.0
)

// Backoff returns the wait before retry n (n >= 1).
func (r RetryPolicy) Backoff(n int) time.Duration {
	if n < 1 {
		return 0
	}
	initial, maxB, mult := DefaultInitialBackoff, DefaultMaxBackoff, DefaultMultiplier
	if r.InitialBackoffMS > 0 {
		initial = msDuration(r.InitialBackoffMS)
	}
	if r.MaxBackoffMS > 0 {
		maxB = msDuration(r.MaxBackoffMS)
	}
	if r.Multiplier >= 1 {
		mult = r.Multiplier
	}
	d := float64(initial) * math.Pow(mult, float64(n-1))
	if d >= float64(maxB) || math.IsInf(d, 0) || math.IsNaN(d) {
		return maxB
	}
	return time.Duration(d)
}

// Retries reports whether a failure of class c is retried.
func (r RetryPolicy) Retries(c FailureClass) bool {
	on := r.RetryOn
	if len(on) == 0 {
		on = DefaultRetryOn
	}
	for _, x := range on {
		if x == c {
			return true
		}
	}
	return false
}

// Budget bounds token use; a zero field is no limit. At least one must be set.
type Budget struct {
	MaxTokens       uint64 `json:"max_tokens,omitempty"`        // input + output
	MaxInputTokens  uint64 `json:"max_input_tokens,omitempty"`  // input only
	MaxOutputTokens uint64 `json:"max_output_tokens,omitempty"` // output only
}

// ApprovalTimeout is what an approval step decides when nobody answers in time.
type ApprovalTimeout string

// Approval timeout actions; ApprovalReject is the default.
const (
	ApprovalReject  ApprovalTimeout = "reject"
	ApprovalApprove ApprovalTimeout = "approve"
)

func (ApprovalTimeout) enumValues() []string { return []string{"reject", "approve"} }

// Approval makes a step wait for a human decision instead of dispatching to
// a role: the step has no role, its (templated) message is the question, and
// its output is an [ApprovalDecision] ({"approved": bool, "by": …,
// "comment": …}, output format json), so later steps can branch on
// steps.<id>.output.approved. A rejection completes the step (it is a
// decision, not a failure). Without timeout_ms the step waits until the
// flow deadline.
type Approval struct {
	// Approvers optionally names who may decide (free-form identities).
	Approvers []string `json:"approvers,omitempty"`
	// OnTimeout defaults to ApprovalReject.
	OnTimeout ApprovalTimeout `json:"on_timeout,omitempty"`
}

// ApprovalDecision is the output of an approval step.
type ApprovalDecision struct {
	Approved bool   `json:"approved"`
	By       string `json:"by,omitempty"`
	Comment  string `json:"comment,omitempty"`
}

// approvalSchema is the expected schema of every approval step.
const approvalSchema = `{"additionalProperties":false,"properties":{"approved":{"type":"boolean"},"by":{"type":"string"},"comment":{"type":"string"}},"required":["approved"],"type":"object"}`
