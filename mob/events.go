package mob

import (
	"encoding/json"
	"time"

	"github.com/mobd-dev/mobd/flows"
	"github.com/mobd-dev/mobd/rpc"
)

// Event types. Mob, member and flow transitions use Meerkat's MobEventKind
// names; the mobd_ ones are transitions Meerkat has no kind for (approvals,
// budgets, loops, retries).
const (
	EventMobCreated                 = "mob_created"
	EventMobStopped                 = "mob_stopped"
	EventMobResumed                 = "mobd_mob_resumed"
	EventMobCompleted               = "mob_completed"
	EventMobDestroying              = "mob_destroying"
	EventMemberSpawned              = "member_spawned"
	EventMemberRetirementStarted    = "member_retirement_started"
	EventMemberRetired              = "member_retired"
	EventMemberRespawned            = "mobd_member_respawned"
	EventMembersWired               = "members_wired"
	EventMembersUnwired             = "members_unwired"
	EventMemberMessage              = "mobd_member_message"
	EventTopologyViolation          = "topology_violation"
	EventFlowStarted                = "flow_started"
	EventFlowCompleted              = "flow_completed"
	EventFlowFailed                 = "flow_failed"
	EventFlowCanceled               = "flow_canceled"
	EventStepDispatched             = "step_dispatched"
	EventStepTargetCompleted        = "step_target_completed"
	EventStepTargetFailed           = "step_target_failed"
	EventStepCompleted              = "step_completed"
	EventStepFailed                 = "step_failed"
	EventStepSkipped                = "step_skipped"
	EventStepCanceled               = "mobd_step_canceled"
	EventStepRetryScheduled         = "mobd_step_retry_scheduled"
	EventStepRedispatched           = "mobd_step_redispatched"
	EventLoopIterationStarted       = "mobd_loop_iteration_started"
	EventLoopCompleted              = "mobd_loop_completed"
	EventApprovalRequested          = "mobd_approval_requested"
	EventApprovalDecided            = "mobd_approval_decided"
	EventBudgetExceeded             = "mobd_budget_exceeded"
	EventSupervisorEscalation       = "supervisor_escalation"
	EventSupervisorEscalationFailed = "supervisor_escalation_failed"
)

// Event is one entry of a mob's append-only event log. Every mob, member
// and flow transition is one; the log is journalled before anything that
// depends on it is reported, and it is what a restarted mob replays.
//
// Cursor numbers the events of the journal in order (strictly increasing,
// not contiguous per mob): a subscriber resumes after the last cursor it saw
// ([Mob.Events], [Mob.Subscribe]). Fields that do not apply to a type are
// empty, and empty fields are left out of its JSON.
type Event struct {
	// Cursor is the event's position in the journal.
	Cursor uint64 `json:"cursor,omitzero"`
	// Mob is the mob's id.
	Mob string `json:"mob_id,omitzero"`
	// Type is one of the Event* constants.
	Type string `json:"type"`
	// At is when the event happened.
	At time.Time `json:"at,omitzero"`

	// Run, Flow, Frame and Step locate flow events. Frame is "" for the
	// root frame and "loop#iteration" (joined by "/" when nested) for loop
	// bodies.
	Run   string `json:"run_id,omitempty"`
	Flow  string `json:"flow_id,omitempty"`
	Frame string `json:"frame,omitempty"`
	Step  string `json:"step_id,omitempty"`
	// Loop and Iteration name a loop and one of its iterations (from 0).
	Loop      string `json:"loop_id,omitempty"`
	Iteration int    `json:"iteration,omitempty"`

	// Member is the member concerned (the target of a step dispatch); Peer
	// the other member of a wiring or message.
	Member    string `json:"member,omitempty"`
	Peer      string `json:"peer,omitempty"`
	Role      string `json:"role,omitempty"`
	SessionID string `json:"session_id,omitempty"`

	// Attempt numbers the attempts of a step target (from 1); Key is the
	// attempt's idempotency key.
	Attempt int    `json:"attempt,omitempty"`
	Key     string `json:"key,omitempty"`

	// Output is a step's or target's output (JSON; a string for text).
	Output json.RawMessage `json:"output,omitempty"`
	// Usage is a target turn's token usage.
	Usage *rpc.Usage `json:"usage,omitempty"`
	// Class is a failure's class (flows.FailureClass, or "budget",
	// "canceled", "template", "no_targets", "deadline", "exhausted").
	Class string `json:"class,omitempty"`
	// Error describes a failure.
	Error string `json:"error,omitempty"`
	// Reason says why a flow ended or a step was skipped.
	Reason string `json:"reason,omitempty"`
	// Delay is a retry's backoff.
	DelayMS int64 `json:"delay_ms,omitempty"`

	// Params are a run's params (flow_started).
	Params json.RawMessage `json:"params,omitempty"`
	// Spec is the flow a run runs (flow_started), as flow JSON.
	Spec json.RawMessage `json:"spec,omitempty"`
	// Definition is the mob's definition (mob_created), as JSON.
	Definition json.RawMessage `json:"definition,omitempty"`
	// Decision is an approval's decision.
	Decision *flows.ApprovalDecision `json:"decision,omitempty"`
	// Text is free text: an approval's question, a message's body, an
	// escalation's reply.
	Text string `json:"text,omitempty"`
}
