//go:build unix

package supervision_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/mobd-dev/mobd/supervision"
)

// awaitReady is an OnStart hook for the helpers that print "ready": the
// incarnation is ready once it said so; the rest of stdout is discarded.
func awaitReady(_ context.Context, inc *supervision.Incarnation) error {
	out := bufio.NewReader(inc.Stdout())
	if line, err := out.ReadString('\n'); err != nil || line != "ready\n" {
		return fmt.Errorf("no ready line (%q): %w", line, err)
	}
	go func() { _, _ = io.Copy(io.Discard, out) }() // ends at EOF
	return nil
}

// realHarness runs a supervisor on the wall clock, with short backoffs.
func realHarness(t *testing.T, spec supervision.Spec) *harness {
	t.Helper()
	spec.Clock = supervision.RealClock()
	if spec.Backoff.Base == 0 {
		spec.Backoff = supervision.Backoff{Base: 10 * ms, Jitter: -1}
	}
	return newHarness(t, spec)
}

func TestExecCrashReport(t *testing.T) {
	t.Parallel()
	inc, err := supervision.Exec(helperCmd("crash"), supervision.ExecOptions{StderrLines: 5})
	if err != nil {
		t.Fatal(err)
	}
	err = inc.Wait()
	var rep *supervision.ExitReport
	if !errors.As(err, &rep) {
		t.Fatalf("Wait = %v, want an *ExitReport", err)
	}
	var exitErr *exec.ExitError
	if rep.ExitCode != 3 || rep.Signal != 0 || rep.PID != inc.PID() || !errors.As(err, &exitErr) {
		t.Errorf("report %+v", rep)
	}
	if want := "line 55,line 56,line 57,line 58,line 59"; strings.Join(rep.Stderr, ",") != want {
		t.Errorf("Stderr = %q, want the last 5 lines", rep.Stderr)
	}
	if !strings.Contains(err.Error(), "exit code 3") || !strings.Contains(err.Error(), "line 59") {
		t.Errorf("Error() = %q", err)
	}
}

// A crashing process under a supervisor: the Crashed event carries the exit
// report, and the zap hook logs it with the stderr lines.
func TestProcessCrashReported(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zapcore.InfoLevel)
	h := realHarness(t, supervision.Spec{EventHook: supervision.ZapHook(zap.New(core))})
	h.add("rt", supervision.NewProcess(supervision.ProcessConfig{
		Command:     func() *exec.Cmd { return helperCmd("crash") },
		StderrLines: 3,
		Logger:      zap.New(core).Named("stderr"),
	}), supervision.ChildSpec{Restart: supervision.Temporary})
	h.serve()

	c := waitEvent[supervision.EventCrashed](h, nil)
	if c.Exit == nil || c.Exit.ExitCode != 3 || strings.Join(c.Exit.Stderr, ",") != "line 57,line 58,line 59" {
		t.Fatalf("Crashed = %+v (exit %+v)", c, c.Exit)
	}
	if err := h.shutdown(); err != nil {
		t.Fatal(err)
	}
	crashes := logs.FilterMessage("child crashed").All()
	if len(crashes) != 1 {
		t.Fatalf("%d crash log entries", len(crashes))
	}
	fields := crashes[0].ContextMap()
	if fields["child"] != "rt" || fields["exit_code"] != int64(3) || crashes[0].Level != zapcore.WarnLevel {
		t.Errorf("crash log fields %v", fields)
	}
	if n := logs.FilterLoggerName("stderr").FilterMessage("line 42").Len(); n != 1 {
		t.Errorf("stderr line logged %d times, want 1", n)
	}
}

// A process killed from outside is restarted as a new process.
func TestProcessKilledFromOutside(t *testing.T) {
	t.Parallel()
	h := realHarness(t, supervision.Spec{})
	h.add("rt", supervision.NewProcess(supervision.ProcessConfig{
		Command: func() *exec.Cmd { return helperCmd("serve") },
		OnStart: awaitReady,
	}), supervision.ChildSpec{})
	h.serve()

	s1 := waitEvent[supervision.EventStarted](h, nil)
	if st, _ := status(h.sup, "rt"); s1.PID == 0 || st.PID != s1.PID {
		t.Fatalf("pid %d, status %+v", s1.PID, st)
	}
	if err := syscall.Kill(s1.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c := waitEvent[supervision.EventCrashed](h, nil)
	if c.Exit == nil || c.Exit.Signal != syscall.SIGKILL || c.Exit.ExitCode != -1 {
		t.Fatalf("Crashed = %v (exit %+v)", c, c.Exit)
	}
	waitEvent[supervision.EventRestarted](h, nil)
	s2 := waitEvent[supervision.EventStarted](h, nil)
	if s2.PID == 0 || s2.PID == s1.PID || s2.Attempt != 1 {
		t.Fatalf("restarted as %+v after pid %d", s2, s1.PID)
	}
	// Shutdown: stdin closes, the helper exits cleanly.
	if err := h.shutdown(); err != nil {
		t.Fatal(err)
	}
	st := waitEvent[supervision.EventStopped](h, nil)
	if st.Reason != supervision.StopShutdown || st.Err != nil {
		t.Errorf("Stopped = %+v", st)
	}
}

// The stop ladder: a process that exits on stdin EOF stops at once; one
// that ignores SIGTERM is killed after the grace.
func TestStopLadderProcess(t *testing.T) {
	t.Parallel()
	t.Run("graceful", func(t *testing.T) {
		t.Parallel()
		inc, err := supervision.Exec(helperCmd("serve"), supervision.ExecOptions{CloseGrace: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if err := awaitReady(context.Background(), inc); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := inc.Stop(); err != nil {
			t.Fatalf("Stop = %v", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("graceful stop took %v", d)
		}
		if err := inc.Stop(); err != nil { // idempotent
			t.Errorf("second Stop = %v", err)
		}
	})
	t.Run("ignores SIGTERM", func(t *testing.T) {
		t.Parallel()
		const grace = 300 * ms
		inc, err := supervision.Exec(helperCmd("ignore-term"), supervision.ExecOptions{CloseGrace: grace, StopGrace: grace})
		if err != nil {
			t.Fatal(err)
		}
		if err := awaitReady(context.Background(), inc); err != nil { // signals ignored from now on
			t.Fatal(err)
		}
		start := time.Now()
		err = inc.Stop()
		elapsed := time.Since(start)
		var rep *supervision.ExitReport
		if !errors.As(err, &rep) || rep.Signal != syscall.SIGKILL {
			t.Fatalf("Stop = %v, want killed by SIGKILL", err)
		}
		if elapsed < 2*grace {
			t.Errorf("killed after %v, before the graces (2 × %v)", elapsed, grace)
		}
	})
}

// A process that crashes at once, in a loop, exhausts the intensity after
// exactly Intensity restarts, each after its backoff: no busy loop.
func TestCrashLoopEscalates(t *testing.T) {
	t.Parallel()
	var launches atomic.Int32
	h := realHarness(t, supervision.Spec{
		Intensity: 3,
		Period:    time.Minute,
		Backoff:   supervision.Backoff{Base: 50 * ms, Multiplier: 2, Jitter: -1},
	})
	h.add("rt", supervision.NewProcess(supervision.ProcessConfig{
		Command: func() *exec.Cmd { launches.Add(1); return helperCmd("crash") },
	}), supervision.ChildSpec{})
	start := time.Now()
	h.serve()
	err := h.result()
	elapsed := time.Since(start)
	if !errors.Is(err, supervision.ErrIntensityExceeded) {
		t.Fatalf("Serve = %v", err)
	}
	var rep *supervision.ExitReport
	if !errors.As(err, &rep) || rep.ExitCode != 3 {
		t.Errorf("escalation does not carry the exit report: %v", err)
	}
	if n := launches.Load(); n != 4 {
		t.Errorf("%d launches, want 4 (1 + 3 restarts)", n)
	}
	if min := 350 * ms; elapsed < min { // 50 + 100 + 200 ms of backoff
		t.Errorf("gave up after %v, faster than the backoff allows (%v)", elapsed, min)
	}
}

// OnStart attaches to every new incarnation's stdio.
func TestProcessOnStart(t *testing.T) {
	t.Parallel()
	h := realHarness(t, supervision.Spec{})
	replies := make(chan string, 10)
	var incarnations atomic.Int32
	proc := supervision.NewProcess(supervision.ProcessConfig{
		Command: func() *exec.Cmd { return helperCmd("echo") },
		OnStart: func(ctx context.Context, inc *supervision.Incarnation) error {
			n := incarnations.Add(1)
			out := bufio.NewReader(inc.Stdout())
			if hello, err := out.ReadString('\n'); err != nil || hello != "hello\n" {
				return fmt.Errorf("greeting %q: %w", hello, err)
			}
			if _, err := fmt.Fprintf(inc.Stdin(), "ping %d\n", n); err != nil {
				return err
			}
			go func() { // the "client" reads until the process ends
				for {
					line, err := out.ReadString('\n')
					if err != nil {
						return
					}
					replies <- strings.TrimSpace(line)
				}
			}()
			return nil
		},
	})
	h.add("rt", proc, supervision.ChildSpec{})
	h.serve()
	waitEvent[supervision.EventStarted](h, nil)
	if got := <-replies; got != "echo: ping 1" {
		t.Fatalf("reply %q", got)
	}
	if err := h.sup.RestartChild("rt"); err != nil {
		t.Fatal(err)
	}
	waitEvent[supervision.EventStarted](h, nil)
	if got := <-replies; got != "echo: ping 2" {
		t.Fatalf("reply %q after restart", got)
	}
	if err := h.shutdown(); err != nil {
		t.Fatal(err)
	}
}

// A start hook that fails kills the process and fails the run.
func TestProcessOnStartFails(t *testing.T) {
	t.Parallel()
	h := realHarness(t, supervision.Spec{})
	hookErr := errors.New("handshake refused")
	h.add("rt", supervision.NewProcess(supervision.ProcessConfig{
		Command: func() *exec.Cmd { return helperCmd("serve") },
		OnStart: func(context.Context, *supervision.Incarnation) error { return hookErr },
	}), supervision.ChildSpec{Restart: supervision.Temporary})
	h.serve()
	c := waitEvent[supervision.EventCrashed](h, nil)
	if !errors.Is(c.Err, hookErr) || c.Exit == nil || c.Exit.Signal != syscall.SIGKILL {
		t.Fatalf("Crashed = %v (exit %+v)", c.Err, c.Exit)
	}
}

// A hung process (failing probes) is killed by the supervisor and
// restarted; at shutdown, a process ignoring SIGTERM is killed by the
// supervisor's stop ladder. Driven by the fake clock.
func TestProcessHungIsKilled(t *testing.T) {
	t.Parallel()
	h := newHarness(t, supervision.Spec{})
	stdinClosed := make(chan int, 10) // pids
	proc := &probedProcess{Process: supervision.NewProcess(supervision.ProcessConfig{
		Command:   func() *exec.Cmd { return helperCmd("ignore-term") },
		StopGrace: time.Minute, // only the supervisor's kill can end it quickly
		OnStart: func(_ context.Context, inc *supervision.Incarnation) error {
			go func() {
				sc := bufio.NewScanner(inc.Stdout())
				for sc.Scan() {
					if sc.Text() == "stdin closed" {
						stdinClosed <- inc.PID()
					}
				}
			}()
			return nil
		},
	})}
	h.add("rt", proc, supervision.ChildSpec{Probe: supervision.ProbeSpec{Interval: time.Second, Timeout: time.Minute, Failures: 1}})
	h.serve()
	s := waitEvent[supervision.EventStarted](h, nil)
	h.clk.Advance(time.Second)
	c := waitEvent[supervision.EventCrashed](h, nil)
	if !errors.Is(c.Err, supervision.ErrUnhealthy) || c.Exit == nil || c.Exit.Signal != syscall.SIGKILL || c.Exit.PID != s.PID {
		t.Fatalf("Crashed = %v (exit %+v)", c.Err, c.Exit)
	}
	b := waitEvent[supervision.EventBackoff](h, nil)
	h.clk.Advance(b.Delay)
	s2 := waitEvent[supervision.EventStarted](h, nil)
	if s2.PID == s.PID {
		t.Fatal("not a new process")
	}

	h.stop()
	for asked := false; !asked; { // until the new process is asked to stop
		select {
		case pid := <-stdinClosed:
			asked = pid == s2.PID
		case <-h.ctx.Done():
			t.Fatal("process not asked to stop")
		}
	}
	h.clk.Advance(supervision.DefaultStopTimeout)
	if err := h.result(); err != nil {
		t.Fatal(err)
	}
	st := waitEvent[supervision.EventStopped](h, nil)
	if st.Exit == nil || st.Exit.Signal != syscall.SIGKILL {
		t.Errorf("Stopped = %v (exit %+v)", st, st.Exit)
	}
}

// probedProcess is a Process whose probe always fails: it is "hung".
type probedProcess struct{ *supervision.Process }

func (probedProcess) Probe(context.Context) error { return errors.New("no answer") }
