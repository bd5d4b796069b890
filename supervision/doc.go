// Package supervision supervises children — typically OS processes such as
// the rkat-rpc runtimes — with the restart semantics of Erlang/OTP
// supervisors: restart policies, a restart intensity that makes a failing
// subtree give up and escalate, capped exponential backoff with jitter,
// start deadlines, health probes and a graceful stop ladder.
//
// Actor frameworks restart actor objects; this package restarts what sits
// under them. It depends only on the standard library and zap.
//
// # Children
//
// A [Child] is anything with
//
//	Run(ctx context.Context, ready func()) error
//
// Run starts the child, calls ready once it is up, and blocks until it ends;
// cancelling ctx asks it to stop. [ChildFunc] adapts a function, [Process]
// runs an OS command, and a [*Supervisor] is itself a Child, so supervisors
// nest into a tree:
//
//	root := supervision.New("root", supervision.Spec{EventHook: supervision.ZapHook(logger)})
//	runtimes := supervision.New("runtimes", supervision.Spec{})
//	root.Add("runtimes", runtimes, supervision.ChildSpec{})
//	runtimes.Add("rt-1", supervision.NewProcess(supervision.ProcessConfig{
//		Command: func() *exec.Cmd { return exec.Command("rkat-rpc") },
//	}), supervision.ChildSpec{})
//	err := root.Serve(ctx)
//
// # Restart policies
//
// [Permanent] children are always restarted, [Transient] ones only after an
// abnormal exit (an error, a start timeout, failed probes), [Temporary] ones
// never. A child returning an error that wraps [ErrDoNotRestart] is not
// restarted whatever its policy.
//
// # Backoff
//
// Every restart waits for a [Backoff] delay: Base, then Base×Multiplier,
// and so on up to Max, each spread by ±Jitter. A child that stayed up for
// ResetAfter starts the sequence over. So even a child that fails at once
// in a loop never makes the supervisor spin.
//
// # Intensity and escalation
//
// A supervisor performs at most [Spec.Intensity] restarts, all children
// together, within any [Spec.Period]. The failure that would need one more
// makes it give up: it emits [EventGaveUp], stops all its other children,
// emits [EventEscalated] and its Run returns an [*EscalationError] (which
// matches [ErrIntensityExceeded]). Its parent sees that as the failure of a
// child and restarts the whole subtree according to its own policy and
// budget, up to the root, whose Serve returns the error.
//
// # Start deadline, health probes and stopping
//
// A child that does not call ready within its StartTimeout is stopped and
// handled as a crash ([ErrStartTimeout]). A running child that implements
// [Prober] is probed every Probe.Interval with a Probe.Timeout deadline;
// after Probe.Failures consecutive failures it is deemed hung, killed (if it
// implements [Killer]) and handled as a crash ([ErrUnhealthy]).
//
// Stopping a child follows a ladder: its context is cancelled, the
// supervisor waits StopTimeout, kills it if it is a [Killer] and waits as
// long again, and finally abandons it ([ErrStopTimeout]). [Process] adds
// its own ladder for the OS process: close stdin, SIGTERM, wait StopGrace,
// SIGKILL. Shutdown stops all children in parallel.
//
// [Supervisor.RestartChild] forces a restart (for a problem detected
// elsewhere); [Supervisor.Remove] stops and forgets a child;
// [Supervisor.Status] reports every child's state, restart count, last
// error, pid and uptime.
//
// # Processes
//
// [Exec] starts one OS process and returns its [Incarnation]: its stdin and
// stdout pipes, the last lines of its stderr (which is also logged), its
// exit as an [*ExitReport] with exit code, signal and those stderr lines, and
// the stop ladder. [Process] is the Child that runs a fresh incarnation of a
// command on every start; its OnStart hook lets a higher layer attach to
// each new incarnation. A layer that needs full control, such as an actor
// owning an RPC client over the process, implements Child itself and calls
// Exec in its Run; see the example of Exec.
//
// # Events
//
// Every transition is reported as a typed [Event] — [EventStarted],
// [EventCrashed], [EventBackoff], [EventRestarted], [EventGaveUp],
// [EventEscalated], [EventProbeFailed], [EventStopped] — to the
// [Spec.EventHook], which nested supervisors inherit. [ZapHook] logs them;
// metrics can count them by [EventType].
//
// # Concurrency and time
//
// Each running supervisor is an actor: one goroutine owns all its state and
// handles control requests, child exits and timer ticks as messages. Every
// goroutine it starts (one per running child, one per probe in flight) is
// waited for before Run returns, except a child abandoned by the stop
// ladder.
//
// All timing goes through a [Clock]; tests use supervisiontest.FakeClock to
// drive backoff, intensity windows, deadlines and probes without sleeping.
// The supervisor arms its timer for a new state before it makes any effect
// of the transition visible (emitting the event, starting or cancelling a
// child, answering a call), so a test may advance the fake clock as soon as
// it observes the effect.
package supervision
