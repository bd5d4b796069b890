package mob

import (
	"errors"
	"fmt"

	"github.com/mobd-dev/mobd/flows"
)

// Sentinel errors. Match them with errors.Is; the errors returned wrap them
// with the mob, member, run or step concerned.
var (
	// ErrInvalidArgument: the caller passed something the mob cannot take:
	// a malformed id (see RunOptions.RunID, SpawnSpec.Identity), a member
	// wired to itself, params that are not JSON. The request had no
	// effect; the error says which argument and why.
	ErrInvalidArgument = errors.New("mob: invalid argument")
	// ErrMobNotFound: no mob with that id in the journal (or it was
	// destroyed).
	ErrMobNotFound = errors.New("mob: mob not found")
	// ErrMobExists: Create for an id the journal already holds.
	ErrMobExists = errors.New("mob: mob already exists")
	// ErrLifecycle: the operation is not allowed in the mob's current state
	// (e.g. a flow run on a stopped mob). The error is a *LifecycleError.
	ErrLifecycle = errors.New("mob: not allowed in this state")
	// ErrUnknownProfile: a spawn named a profile the definition lacks.
	ErrUnknownProfile = errors.New("mob: unknown profile")
	// ErrMemberNotFound: no live member with that identity in the mob.
	ErrMemberNotFound = errors.New("mob: member not found")
	// ErrDuplicateMember: a spawn for an identity the mob already has.
	ErrDuplicateMember = errors.New("mob: duplicate member")
	// ErrMemberGone: a member's actor stopped before it answered.
	ErrMemberGone = errors.New("mob: member gone")
	// ErrTopology: strict topology forbids the wiring or message.
	ErrTopology = errors.New("mob: forbidden by topology")
	// ErrFlowNotFound: the definition has no flow with that id.
	ErrFlowNotFound = errors.New("mob: flow not found")
	// ErrRunNotFound: no run with that id in the mob.
	ErrRunNotFound = errors.New("mob: run not found")
	// ErrRunIDConflict: a start with RunOptions.RunID naming a run the mob
	// already has, of another flow or with other params. The id is the
	// start's idempotency key: it may only be reused for the same request.
	ErrRunIDConflict = errors.New("mob: run id already used for another run")
	// ErrRunFinished: the run has already ended (cancel, approve).
	ErrRunFinished = errors.New("mob: run finished")
	// ErrStepNotFound: a step the run's flow does not have (Decide).
	ErrStepNotFound = errors.New("mob: step not found")
	// ErrNotAwaitingApproval: Decide for a step that is not waiting for a
	// decision.
	ErrNotAwaitingApproval = errors.New("mob: step not awaiting approval")
	// ErrNotApprover: Decide by someone the step's approvers do not list.
	ErrNotApprover = errors.New("mob: not an approver of this step")
	// ErrRunFailed: [Run.Wait] for a run that ended failed or canceled;
	// the error is a *RunError.
	ErrRunFailed = errors.New("mob: run did not complete")
	// ErrBudgetExceeded: a run or step used more tokens than its budget
	// allows; the run was canceled. The error is a *BudgetError (inside
	// the *RunError).
	ErrBudgetExceeded = errors.New("mob: token budget exceeded")
	// ErrClosed: the mob was closed (Close or Destroy).
	ErrClosed = errors.New("mob: closed")
)

// definitionError is a definition the mob refuses for a problem that
// flows' validation does not check (an id the mob cannot take), reported
// with flows' problems if it has any: a *flows.ValidationError that also
// matches ErrInvalidArgument.
type definitionError struct {
	*flows.ValidationError
}

// Unwrap returns ErrInvalidArgument and the *flows.ValidationError.
func (e *definitionError) Unwrap() []error { return []error{ErrInvalidArgument, e.ValidationError} }

// LifecycleError says that an operation is not allowed in a mob's state.
type LifecycleError struct {
	Mob   string
	State State
	Op    string
}

// Error implements error.
func (e *LifecycleError) Error() string {
	return fmt.Sprintf("mob %q is %s: %s not allowed", e.Mob, e.State, e.Op)
}

// Unwrap returns ErrLifecycle.
func (e *LifecycleError) Unwrap() error { return ErrLifecycle }

// BudgetError says which budget a run exceeded.
type BudgetError struct {
	// Step is the step whose budget was exceeded, "" for the run's.
	Step string
	// Limit names the limit: "max_tokens", "max_input_tokens" or
	// "max_output_tokens".
	Limit string
	// Max is the limit's value, Used what was used.
	Max, Used uint64
}

// Error implements error.
func (e *BudgetError) Error() string {
	scope := "run"
	if e.Step != "" {
		scope = "step " + e.Step
	}
	return fmt.Sprintf("%s used %d tokens, over its %s of %d", scope, e.Used, e.Limit, e.Max)
}

// Unwrap returns ErrBudgetExceeded.
func (e *BudgetError) Unwrap() error { return ErrBudgetExceeded }

// RunError is the outcome of a run that did not complete.
type RunError struct {
	Run    string
	Status RunStatus
	// Reason says why; Cause is the typed cause when there is one (a
	// *BudgetError, context.Canceled, ...).
	Reason string
	Cause  error
}

// Error implements error.
func (e *RunError) Error() string {
	return fmt.Sprintf("run %s %s: %s", e.Run, e.Status, e.Reason)
}

// Unwrap returns ErrRunFailed and the cause.
func (e *RunError) Unwrap() []error {
	if e.Cause != nil {
		return []error{ErrRunFailed, e.Cause}
	}
	return []error{ErrRunFailed}
}
