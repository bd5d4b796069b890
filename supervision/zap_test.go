package supervision_test

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/mobd-dev/mobd/supervision"
)

func TestZapHookAndEventStrings(t *testing.T) {
	t.Parallel()
	info := supervision.EventInfo{Supervisor: "root", Child: "rt", Time: time.Unix(0, 0)}
	exit := &supervision.ExitReport{PID: 7, ExitCode: -1, Signal: syscall.SIGKILL, Stderr: []string{"panic: x"}}
	esc := &supervision.EscalationError{Supervisor: "root", Child: "rt", Intensity: 5, Period: 30 * time.Second}
	tests := []struct {
		ev     supervision.Event
		typ    string
		level  zapcore.Level
		msg    string
		fields map[string]any
		str    string
	}{
		{supervision.EventStarted{EventInfo: info, Attempt: 2, PID: 7}, "started", zapcore.InfoLevel, "child started",
			map[string]any{"attempt": int64(2), "pid": int64(7)}, "root/rt started (attempt 2) pid 7"},
		{supervision.EventCrashed{EventInfo: info, Attempt: 1, Err: exit, Exit: exit}, "crashed", zapcore.WarnLevel, "child crashed",
			map[string]any{"signal": "killed", "exit_code": int64(-1), "stderr": []any{"panic: x"}}, "root/rt crashed (attempt 1): supervision: process 7 exited (signal killed); last stderr: panic: x"},
		{supervision.EventBackoff{EventInfo: info, Attempt: 3, Delay: time.Second, Err: errBoom}, "backoff", zapcore.InfoLevel, "child restart scheduled",
			map[string]any{"delay": time.Second, "error": "boom"}, "root/rt restarting in 1s (attempt 3)"},
		{supervision.EventRestarted{EventInfo: info, Attempt: 3, Restarts: 4}, "restarted", zapcore.InfoLevel, "child restarted",
			map[string]any{"restarts": int64(4)}, "root/rt restarted (attempt 3)"},
		{supervision.EventGaveUp{EventInfo: info, Intensity: 5, Period: 30 * time.Second, Err: errBoom}, "gave_up", zapcore.ErrorLevel, "supervisor gave up on child",
			map[string]any{"intensity": int64(5), "period": 30 * time.Second}, "root/rt gave up: more than 5 restarts in 30s: boom"},
		{supervision.EventEscalated{EventInfo: info, Err: esc}, "escalated", zapcore.ErrorLevel, "supervisor escalated",
			map[string]any{"error": esc.Error()}, `root escalated: supervision: supervisor "root" gave up: child "rt" needed more than 5 restarts in 30s`},
		{supervision.EventProbeFailed{EventInfo: info, Consecutive: 1, Threshold: 3, Err: supervision.ErrProbeTimeout}, "probe_failed", zapcore.WarnLevel, "child probe failed",
			map[string]any{"consecutive": int64(1), "threshold": int64(3)}, "root/rt probe failed (1/3): supervision: probe timeout"},
		{supervision.EventStopped{EventInfo: info, Reason: supervision.StopRemoved}, "stopped", zapcore.InfoLevel, "child stopped",
			map[string]any{"reason": "removed"}, "root/rt stopped (removed)"},
	}
	for _, tt := range tests {
		core, logs := observer.New(zapcore.DebugLevel)
		supervision.ZapHook(zap.New(core))(tt.ev)
		if tt.ev.Type().String() != tt.typ {
			t.Errorf("%T: type %q", tt.ev, tt.ev.Type())
		}
		if got := tt.ev.String(); got != tt.str {
			t.Errorf("%T: String() = %q, want %q", tt.ev, got, tt.str)
		}
		if logs.Len() != 1 {
			t.Fatalf("%T: %d log entries", tt.ev, logs.Len())
		}
		e := logs.All()[0]
		if e.Level != tt.level || e.Message != tt.msg {
			t.Errorf("%T: logged %v %q", tt.ev, e.Level, e.Message)
		}
		fields := e.ContextMap()
		if fields["supervisor"] != "root" || fields["child"] != "rt" {
			t.Errorf("%T: fields %v", tt.ev, fields)
		}
		for k, want := range tt.fields {
			if got := fields[k]; !equalField(got, want) {
				t.Errorf("%T: field %s = %#v, want %#v", tt.ev, k, got, want)
			}
		}
	}
	supervision.ZapHook(nil)(tests[0].ev) // a nil logger is allowed
}

func equalField(got, want any) bool {
	if w, ok := want.([]any); ok {
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range w {
			if g[i] != w[i] {
				return false
			}
		}
		return true
	}
	return got == want
}

func TestStringers(t *testing.T) {
	t.Parallel()
	var names []string
	for _, s := range []interface{ String() string }{
		supervision.Permanent, supervision.Transient, supervision.Temporary, supervision.RestartPolicy(9),
		supervision.StateIdle, supervision.StateStarting, supervision.StateRunning, supervision.StateBackoff,
		supervision.StateStopping, supervision.StateExited, supervision.ChildState(9),
		supervision.StopExited, supervision.StopShutdown, supervision.StopRemoved, supervision.StopRestart, supervision.StopReason(9),
		supervision.EventType(0), supervision.New("sup", supervision.Spec{}),
	} {
		names = append(names, s.String())
	}
	want := "permanent transient temporary RestartPolicy(9) idle starting running backoff stopping exited ChildState(9) " +
		"exited shutdown removed restart StopReason(9) EventType(0) sup"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
