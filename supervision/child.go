package supervision

import (
	"context"
	"strconv"
	"time"
)

// Child is the unit a [Supervisor] runs and restarts.
//
// Run starts the child and blocks until it ends. It must call ready once the
// child is up and able to serve (within [ChildSpec.StartTimeout]); calling it
// again is harmless, and ready may be called from any goroutine. Run returns
// nil for a normal exit and an error otherwise; an error wrapping
// [ErrDoNotRestart] asks for no restart whatever the policy. A panic in Run
// is recovered and handled as a crash.
//
// Cancellation of ctx is the request to stop: the child SHOULD stop
// gracefully and return promptly. A child that does not return within the
// stop ladder ([ChildSpec.StopTimeout]) is killed if it implements [Killer],
// then abandoned: its goroutine is left running, which is a bug in the child.
//
// Run is called again, with a fresh ctx, for every restart, and is never
// called concurrently by one supervisor. When the supervisor stops a child
// for a failure (a start timeout, failed health probes), context.Cause of
// its ctx is that failure ([ErrStartTimeout], [ErrUnhealthy]); for an
// ordinary stop it is context.Canceled.
//
// A child may also implement [Prober] (health probes), [Killer] (forced
// termination) and a PID() int method, reported in [ChildStatus.PID] and
// [EventStarted.PID]; [*Process] implements all three. A [*Supervisor] is a
// Child, so supervisors nest into trees.
type Child interface {
	Run(ctx context.Context, ready func()) error
}

// ChildFunc adapts a function to the [Child] interface.
type ChildFunc func(ctx context.Context, ready func()) error

// Run calls f(ctx, ready).
func (f ChildFunc) Run(ctx context.Context, ready func()) error { return f(ctx, ready) }

// Prober is implemented by children that can report their health. The
// supervisor calls Probe periodically (see [ProbeSpec]) while the child is
// running, from a goroutine of its own. Probe returns nil when the child is
// healthy; it must honour ctx, which is cancelled at the probe deadline and
// when the child stops.
type Prober interface {
	Probe(ctx context.Context) error
}

// Killer is implemented by children that can be terminated forcibly, such as
// an OS process. The supervisor calls Kill on a child that failed its health
// probes, and on a child that ignores the stop request for longer than its
// StopTimeout. Kill must not block and must be safe to call at any time,
// including after Run returned; Run must return soon after it.
type Killer interface {
	Kill() error
}

// RestartPolicy says which endings of a child lead to a restart, with the
// semantics of Erlang/OTP supervisors.
type RestartPolicy int

const (
	// Permanent children are always restarted, even after a normal exit
	// (Run returning nil). This is the zero value.
	Permanent RestartPolicy = iota
	// Transient children are restarted only after an abnormal exit: an
	// error, a start timeout or failed health probes.
	Transient
	// Temporary children are never restarted. Once they end they are
	// removed from the supervisor.
	Temporary
)

// String returns "permanent", "transient" or "temporary".
func (p RestartPolicy) String() string {
	switch p {
	case Permanent:
		return "permanent"
	case Transient:
		return "transient"
	case Temporary:
		return "temporary"
	}
	return "RestartPolicy(" + strconv.Itoa(int(p)) + ")"
}

// ChildSpec configures one child. Its zero value is a Permanent child with
// the supervisor's defaults ([Spec]); every zero field inherits, field by
// field for Backoff and Probe.
type ChildSpec struct {
	// Restart is the restart policy. Default Permanent.
	Restart RestartPolicy
	// StartTimeout overrides [Spec.StartTimeout]; negative: no deadline.
	StartTimeout time.Duration
	// StopTimeout overrides [Spec.StopTimeout]; negative: wait forever.
	StopTimeout time.Duration
	// Backoff overrides the fields of [Spec.Backoff] it sets.
	Backoff Backoff
	// Probe overrides the fields of [Spec.Probe] it sets.
	Probe ProbeSpec
}

// resolve fills cs from the (defaulted) supervisor spec s. Nested
// supervisors get no start deadline and an unbounded stop wait by default.
func (cs ChildSpec) resolve(s Spec, nested bool) ChildSpec {
	if cs.StartTimeout == 0 {
		cs.StartTimeout = s.StartTimeout
		if nested {
			cs.StartTimeout = -1
		}
	}
	if cs.StopTimeout == 0 {
		cs.StopTimeout = s.StopTimeout
		if nested {
			cs.StopTimeout = -1
		}
	}
	cs.Backoff = cs.Backoff.inherit(s.Backoff)
	cs.Probe = cs.Probe.inherit(s.Probe)
	return cs
}

// ChildState is where a child is in its lifecycle.
type ChildState int

const (
	// StateIdle: registered but not started, because the supervisor is not
	// running (or is shutting down).
	StateIdle ChildState = iota
	// StateStarting: Run was called; ready not yet.
	StateStarting
	// StateRunning: the child called ready.
	StateRunning
	// StateBackoff: the child ended and waits for its restart.
	StateBackoff
	// StateStopping: the supervisor asked the child to stop and waits for
	// Run to return.
	StateStopping
	// StateExited: the child ended and will not be restarted during this
	// run of the supervisor (policy, ErrDoNotRestart, or intensity).
	StateExited
)

// String returns the state's lower-case name.
func (s ChildState) String() string {
	switch s {
	case StateIdle:
		return "idle"
	case StateStarting:
		return "starting"
	case StateRunning:
		return "running"
	case StateBackoff:
		return "backoff"
	case StateStopping:
		return "stopping"
	case StateExited:
		return "exited"
	}
	return "ChildState(" + strconv.Itoa(int(s)) + ")"
}

// ChildStatus is a snapshot of one child, as returned by [Supervisor.Status].
type ChildStatus struct {
	Name   string
	State  ChildState
	Policy RestartPolicy
	// Restarts counts the restarts of the child during the current run of
	// the supervisor.
	Restarts int
	// Attempt is the number of consecutive failures the backoff is at (0
	// once the child has been stable).
	Attempt int
	// LastError is the child's most recent failure, nil if none.
	LastError error
	// PID is the child's process id when it has one and is running, else 0.
	PID int
	// Uptime is how long the child has been running (since ready); 0 unless
	// State is StateRunning.
	Uptime time.Duration
}
