package supervision

import (
	"fmt"
	"strconv"
	"time"
)

// EventHook receives the supervisor's events. See [Spec.EventHook] for the
// rules a hook must follow, [ZapHook] for a logging hook and [MultiHook] to
// feed several.
type EventHook func(Event)

// MultiHook returns a hook that calls each non-nil hook in order.
func MultiHook(hooks ...EventHook) EventHook {
	return func(e Event) {
		for _, h := range hooks {
			if h != nil {
				h(e)
			}
		}
	}
}

// EventType identifies the concrete type of an [Event].
type EventType int

// The event types, one per concrete event struct.
const (
	EventTypeStarted EventType = iota + 1
	EventTypeCrashed
	EventTypeBackoff
	EventTypeRestarted
	EventTypeGaveUp
	EventTypeEscalated
	EventTypeProbeFailed
	EventTypeStopped
)

var eventTypeNames = [...]string{
	EventTypeStarted:     "started",
	EventTypeCrashed:     "crashed",
	EventTypeBackoff:     "backoff",
	EventTypeRestarted:   "restarted",
	EventTypeGaveUp:      "gave_up",
	EventTypeEscalated:   "escalated",
	EventTypeProbeFailed: "probe_failed",
	EventTypeStopped:     "stopped",
}

// String returns the snake_case name of the type, e.g. "probe_failed",
// suitable as a metric label.
func (t EventType) String() string {
	if t > 0 && int(t) < len(eventTypeNames) {
		return eventTypeNames[t]
	}
	return "EventType(" + strconv.Itoa(int(t)) + ")"
}

// Event is a lifecycle transition of a supervised child. The concrete types
// are the Event* structs of this package, passed by value; switch on them:
//
//	switch e := ev.(type) {
//	case supervision.EventCrashed:
//		log.Printf("%s crashed: %v", e.Child, e.Err)
//	}
//
// The events of one child follow the lifecycle:
//
//	Started (ready) → Crashed | Stopped → Backoff → Restarted → Started ...
//	                                    ↘ GaveUp → Escalated (supervisor-wide)
//
// with ProbeFailed while running. A child that never becomes ready goes
// from Restarted (or its first launch, which has no event) straight to
// Crashed or Stopped.
type Event interface {
	fmt.Stringer
	// Type identifies the concrete type.
	Type() EventType
	// Info returns the fields every event has.
	Info() EventInfo
}

// EventInfo holds the fields common to all events. Every event struct
// embeds it.
type EventInfo struct {
	// Supervisor is the name of the supervisor that emitted the event.
	Supervisor string
	// Child is the name of the child concerned (for Escalated, the child
	// whose failure exceeded the intensity).
	Child string
	// Time is when the transition happened, by the supervisor's Clock.
	Time time.Time
}

// Info returns i; it makes the embedding structs satisfy [Event].
func (i EventInfo) Info() EventInfo { return i }

func (i EventInfo) who() string { return i.Supervisor + "/" + i.Child }

// StopReason says why a child stopped, in [EventStopped].
type StopReason int

const (
	// StopExited: the child's Run returned on its own, with nil or an error
	// wrapping ErrDoNotRestart.
	StopExited StopReason = iota
	// StopShutdown: the supervisor is shutting down (context cancelled or
	// escalation).
	StopShutdown
	// StopRemoved: [Supervisor.Remove].
	StopRemoved
	// StopRestart: [Supervisor.RestartChild].
	StopRestart
)

// String returns the reason's lower-case name.
func (r StopReason) String() string {
	switch r {
	case StopExited:
		return "exited"
	case StopShutdown:
		return "shutdown"
	case StopRemoved:
		return "removed"
	case StopRestart:
		return "restart"
	}
	return "StopReason(" + strconv.Itoa(int(r)) + ")"
}

// EventStarted: an incarnation of the child called ready.
type EventStarted struct {
	EventInfo
	// Attempt is the number of consecutive failures before this
	// incarnation: 0 for a first start or after a stable run.
	Attempt int
	// PID is the child's process id, if it reports one (0 otherwise).
	PID int
	// StartupTime is the time from Run to ready.
	StartupTime time.Duration
}

// EventCrashed: an incarnation ended abnormally: Run returned an error, or
// the supervisor stopped the child because it missed its start deadline
// ([ErrStartTimeout]) or failed its health probes ([ErrUnhealthy]).
type EventCrashed struct {
	EventInfo
	// Attempt is the Attempt of the incarnation that crashed.
	Attempt int
	// Err is the failure.
	Err error
	// Exit is the process exit report found in Err, nil if none.
	Exit *ExitReport
	// Uptime is how long the incarnation had been ready (0 if never).
	Uptime time.Duration
}

// EventBackoff: the supervisor decided to restart the child and waits Delay
// first. The restart is counted against the intensity at this point.
type EventBackoff struct {
	EventInfo
	// Attempt is the Attempt the next incarnation will have (≥ 1).
	Attempt int
	// Delay is the wait before the restart.
	Delay time.Duration
	// Err is the failure that caused the restart; nil for a Permanent
	// child's normal exit or a requested restart.
	Err error
}

// EventRestarted: the backoff elapsed and the supervisor called the child's
// Run again. An EventStarted follows once the child is ready.
type EventRestarted struct {
	EventInfo
	// Attempt is the new incarnation's Attempt.
	Attempt int
	// Restarts is the child's restart count in this run of the supervisor.
	Restarts int
}

// EventGaveUp: the child failed once more than the restart intensity
// allows; the supervisor will not restart it and is about to stop its other
// children and escalate.
type EventGaveUp struct {
	EventInfo
	// Intensity and Period are the budget that was exceeded.
	Intensity int
	Period    time.Duration
	// Err is the child's last failure.
	Err error
}

// EventEscalated: the supervisor stopped all its children after giving up
// and its Run is returning Err, an [*EscalationError], to its parent.
type EventEscalated struct {
	EventInfo
	// Err is the *EscalationError returned by Run.
	Err error
}

// EventProbeFailed: a health probe of a running child failed or timed out.
type EventProbeFailed struct {
	EventInfo
	// Consecutive counts the failed probes in a row, this one included.
	Consecutive int
	// Threshold is the count at which the child is killed.
	Threshold int
	// Err is the probe's error, or ErrProbeTimeout.
	Err error
}

// EventStopped: an incarnation ended without it being a failure: it exited
// normally, or the supervisor stopped it (shutdown, Remove, RestartChild).
type EventStopped struct {
	EventInfo
	// Reason says why it stopped.
	Reason StopReason
	// Err is what Run returned (or ErrStopTimeout if it never did); often
	// nil.
	Err error
	// Exit is the process exit report found in Err, nil if none.
	Exit *ExitReport
	// Uptime is how long the incarnation had been ready (0 if never).
	Uptime time.Duration
}

// Type implements [Event].
func (EventStarted) Type() EventType { return EventTypeStarted }

// Type implements [Event].
func (EventCrashed) Type() EventType { return EventTypeCrashed }

// Type implements [Event].
func (EventBackoff) Type() EventType { return EventTypeBackoff }

// Type implements [Event].
func (EventRestarted) Type() EventType { return EventTypeRestarted }

// Type implements [Event].
func (EventGaveUp) Type() EventType { return EventTypeGaveUp }

// Type implements [Event].
func (EventEscalated) Type() EventType { return EventTypeEscalated }

// Type implements [Event].
func (EventProbeFailed) Type() EventType { return EventTypeProbeFailed }

// Type implements [Event].
func (EventStopped) Type() EventType { return EventTypeStopped }

// String describes the event in one line.
func (e EventStarted) String() string {
	s := fmt.Sprintf("%s started (attempt %d)", e.who(), e.Attempt)
	if e.PID != 0 {
		s += fmt.Sprintf(" pid %d", e.PID)
	}
	return s
}

// String describes the event in one line.
func (e EventCrashed) String() string {
	return fmt.Sprintf("%s crashed (attempt %d): %v", e.who(), e.Attempt, e.Err)
}

// String describes the event in one line.
func (e EventBackoff) String() string {
	return fmt.Sprintf("%s restarting in %s (attempt %d)", e.who(), e.Delay, e.Attempt)
}

// String describes the event in one line.
func (e EventRestarted) String() string {
	return fmt.Sprintf("%s restarted (attempt %d)", e.who(), e.Attempt)
}

// String describes the event in one line.
func (e EventGaveUp) String() string {
	return fmt.Sprintf("%s gave up: more than %d restarts in %s: %v", e.who(), e.Intensity, e.Period, e.Err)
}

// String describes the event in one line.
func (e EventEscalated) String() string {
	return fmt.Sprintf("%s escalated: %v", e.Supervisor, e.Err)
}

// String describes the event in one line.
func (e EventProbeFailed) String() string {
	return fmt.Sprintf("%s probe failed (%d/%d): %v", e.who(), e.Consecutive, e.Threshold, e.Err)
}

// String describes the event in one line.
func (e EventStopped) String() string {
	s := fmt.Sprintf("%s stopped (%s)", e.who(), e.Reason)
	if e.Err != nil {
		s += fmt.Sprintf(": %v", e.Err)
	}
	return s
}
