package supervision

import "go.uber.org/zap"

// Log field keys used by [ZapHook].
const (
	logKeySupervisor  = "supervisor"
	logKeyChild       = "child"
	logKeyAttempt     = "attempt"
	logKeyRestarts    = "restarts"
	logKeyPID         = "pid"
	logKeyDelay       = "delay"
	logKeyUptime      = "uptime"
	logKeyStartup     = "startup"
	logKeyReason      = "reason"
	logKeyExitCode    = "exit_code"
	logKeySignal      = "signal"
	logKeyStderr      = "stderr"
	logKeyConsecutive = "consecutive"
	logKeyThreshold   = "threshold"
	logKeyIntensity   = "intensity"
	logKeyPeriod      = "period"
)

// ZapHook returns an [EventHook] that logs every event to logger: Started,
// Restarted, Backoff and Stopped at Info; Crashed and ProbeFailed at Warn;
// GaveUp and Escalated at Error. Each entry carries the supervisor and child
// names, the event's own fields, and for process exits the exit code,
// signal and last stderr lines. A nil logger logs nothing.
func ZapHook(logger *zap.Logger) EventHook {
	if logger == nil {
		logger = zap.NewNop()
	}
	return func(ev Event) {
		info := ev.Info()
		f := []zap.Field{zap.String(logKeySupervisor, info.Supervisor), zap.String(logKeyChild, info.Child)}
		switch e := ev.(type) {
		case EventStarted:
			f = append(f, zap.Int(logKeyAttempt, e.Attempt), zap.Duration(logKeyStartup, e.StartupTime))
			if e.PID != 0 {
				f = append(f, zap.Int(logKeyPID, e.PID))
			}
			logger.Info("child started", f...)
		case EventCrashed:
			f = append(f, zap.Int(logKeyAttempt, e.Attempt), zap.Duration(logKeyUptime, e.Uptime), zap.Error(e.Err))
			logger.Warn("child crashed", append(f, exitFields(e.Exit)...)...)
		case EventBackoff:
			f = append(f, zap.Int(logKeyAttempt, e.Attempt), zap.Duration(logKeyDelay, e.Delay))
			if e.Err != nil {
				f = append(f, zap.Error(e.Err))
			}
			logger.Info("child restart scheduled", f...)
		case EventRestarted:
			logger.Info("child restarted", append(f, zap.Int(logKeyAttempt, e.Attempt), zap.Int(logKeyRestarts, e.Restarts))...)
		case EventGaveUp:
			f = append(f, zap.Int(logKeyIntensity, e.Intensity), zap.Duration(logKeyPeriod, e.Period), zap.Error(e.Err))
			logger.Error("supervisor gave up on child", f...)
		case EventEscalated:
			logger.Error("supervisor escalated", append(f, zap.Error(e.Err))...)
		case EventProbeFailed:
			f = append(f, zap.Int(logKeyConsecutive, e.Consecutive), zap.Int(logKeyThreshold, e.Threshold), zap.Error(e.Err))
			logger.Warn("child probe failed", f...)
		case EventStopped:
			f = append(f, zap.Stringer(logKeyReason, e.Reason), zap.Duration(logKeyUptime, e.Uptime))
			if e.Err != nil {
				f = append(f, zap.Error(e.Err))
			}
			logger.Info("child stopped", append(f, exitFields(e.Exit)...)...)
		default:
			logger.Info(ev.String(), f...)
		}
	}
}

func exitFields(r *ExitReport) []zap.Field {
	if r == nil {
		return nil
	}
	f := []zap.Field{zap.Int(logKeyPID, r.PID), zap.Int(logKeyExitCode, r.ExitCode)}
	if r.Signal != 0 {
		f = append(f, zap.Stringer(logKeySignal, r.Signal))
	}
	if len(r.Stderr) > 0 {
		f = append(f, zap.Strings(logKeyStderr, r.Stderr))
	}
	return f
}
