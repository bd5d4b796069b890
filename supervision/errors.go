package supervision

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"
)

// Sentinel errors. Match them with [errors.Is]: the errors this package
// returns wrap them with context.
var (
	// ErrIntensityExceeded is wrapped by the [*EscalationError] a Supervisor's
	// Run returns when its children needed more restarts than
	// [Spec.Intensity] allows within [Spec.Period].
	ErrIntensityExceeded = errors.New("supervision: restart intensity exceeded")
	// ErrUnknownChild is returned by [Supervisor.Remove] and
	// [Supervisor.RestartChild] for a name that was never added (or was
	// already removed).
	ErrUnknownChild = errors.New("supervision: unknown child")
	// ErrDuplicateChild is returned by [Supervisor.Add] when a child with the
	// same name is already registered.
	ErrDuplicateChild = errors.New("supervision: duplicate child name")
	// ErrAlreadyRunning is returned by [Supervisor.Run] (and Serve,
	// ServeBackground) while another Run of the same Supervisor is in
	// progress, and by [Process.Run] while its previous incarnation is alive.
	ErrAlreadyRunning = errors.New("supervision: already running")
	// ErrNotRunning is returned by [Supervisor.RestartChild] when the
	// supervisor is not running or is shutting down.
	ErrNotRunning = errors.New("supervision: supervisor not running")
	// ErrStartTimeout is the failure recorded for a child that did not call
	// ready within its [ChildSpec.StartTimeout]. It counts as a crash.
	ErrStartTimeout = errors.New("supervision: start timeout")
	// ErrStopTimeout is recorded for a child that did not return from Run
	// within its stop ladder. The supervisor stops waiting for it and
	// abandons its goroutine.
	ErrStopTimeout = errors.New("supervision: stop timeout")
	// ErrDoNotRestart, returned (possibly wrapped) by a child's Run, tells the
	// supervisor not to restart that child whatever its [RestartPolicy].
	ErrDoNotRestart = errors.New("supervision: do not restart")
	// ErrUnhealthy is the failure recorded for a child that failed
	// [ProbeSpec.Failures] consecutive health probes; the supervisor kills it
	// and applies its restart policy as for a crash.
	ErrUnhealthy = errors.New("supervision: child unhealthy")
	// ErrProbeTimeout is the probe failure recorded when [Prober.Probe] did
	// not return within [ProbeSpec.Timeout].
	ErrProbeTimeout = errors.New("supervision: probe timeout")
)

// EscalationError is returned by [Supervisor.Run] when the supervisor gave
// up: a child failed once more than the restart intensity allows. Before
// returning it the supervisor stopped all its other children. A parent
// supervisor sees it as the failure of its child (the nested supervisor) and
// applies that child's restart policy, so failures climb the tree until a
// supervisor with enough budget restarts the subtree, or the root's Run
// returns it.
//
// It matches [ErrIntensityExceeded] and the child's last failure with
// [errors.Is] and [errors.As].
type EscalationError struct {
	// Supervisor is the name of the supervisor that gave up.
	Supervisor string
	// Child is the name of the child whose failure exceeded the intensity.
	Child string
	// Intensity and Period are the budget that was exceeded.
	Intensity int
	Period    time.Duration
	// Err is the child's last failure; nil when it exited normally (a
	// Permanent child that kept returning nil).
	Err error
}

// Error implements error.
func (e *EscalationError) Error() string {
	msg := fmt.Sprintf("supervision: supervisor %q gave up: child %q needed more than %d restarts in %s",
		e.Supervisor, e.Child, e.Intensity, e.Period)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns [ErrIntensityExceeded] and the child's last failure.
func (e *EscalationError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrIntensityExceeded}
	}
	return []error{ErrIntensityExceeded, e.Err}
}

// ExitReport describes how an OS process ended. [Incarnation.Wait] and
// [Process.Run] return it (as the error) when the process did not exit
// cleanly with status 0; any child may return one, possibly wrapped, and the
// supervisor copies it into [EventCrashed.Exit] and [EventStopped.Exit].
type ExitReport struct {
	// PID is the process id the process had.
	PID int
	// ExitCode is the exit status; -1 when the process was killed by a
	// signal or the status is unknown.
	ExitCode int
	// Signal is the signal that killed the process, 0 if none.
	Signal syscall.Signal
	// Stderr holds the last lines the process wrote to stderr, oldest first.
	Stderr []string
	// Err is the underlying error, usually an [*exec.ExitError].
	Err error
}

// Error implements error.
func (r *ExitReport) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "supervision: process %d exited", r.PID)
	switch {
	case r.Signal != 0:
		fmt.Fprintf(&b, " (signal %s)", r.Signal)
	case r.ExitCode >= 0:
		fmt.Fprintf(&b, " (exit code %d)", r.ExitCode)
	case r.Err != nil:
		fmt.Fprintf(&b, ": %v", r.Err)
	}
	if len(r.Stderr) > 0 {
		b.WriteString("; last stderr: ")
		b.WriteString(strings.Join(r.Stderr, " | "))
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (r *ExitReport) Unwrap() error { return r.Err }

// exitReportOf extracts the *ExitReport err carries, or nil.
func exitReportOf(err error) *ExitReport {
	var rep *ExitReport
	if errors.As(err, &rep) {
		return rep
	}
	return nil
}
