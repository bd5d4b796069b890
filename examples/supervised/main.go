// Command supervised runs sessions as actors on a supervised pool of
// runtime processes, kills one of the processes with SIGKILL while turns
// are running on it, and shows the work continuing: turns queued behind the
// crash run on the restarted runtime, a turn that never reached the
// runtime's history is run again, a turn that had completed is recovered
// from the history, and a turn caught half-way is reported as such.
//
//	MEERKAT_BIN_PATH=bin/rkat-sim go run ./examples/supervised
//
// Flags: -pool (runtime processes), -sessions, -turns (per session), and
// -sim-delay, the per-token delay of the simulated runtime (rkat-sim reads
// RKAT_SIM_TOKEN_DELAY; a real runtime ignores it), which keeps turns in
// flight long enough to be hit.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/mobd-dev/mobd/actors"
	"github.com/mobd-dev/mobd/rpc"
)

func main() {
	pool := flag.Int("pool", 3, "runtime processes")
	sessions := flag.Int("sessions", 6, "sessions")
	turns := flag.Int("turns", 4, "turns per session")
	delay := flag.Duration("sim-delay", 10*time.Millisecond, "per-token delay of rkat-sim (RKAT_SIM_TOKEN_DELAY)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *pool, *sessions, *turns, *delay); err != nil {
		fmt.Fprintln(os.Stderr, "supervised:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, pool, nSessions, nTurns int, delay time.Duration) error {
	logCfg := zap.NewDevelopmentConfig()
	logCfg.Level = zap.NewAtomicLevelAt(zap.WarnLevel)
	logCfg.DisableStacktrace, logCfg.DisableCaller = true, true
	logger, err := logCfg.Build()
	if err != nil {
		return err
	}
	defer func() { _ = logger.Sync() }()

	engine, err := actors.Start(ctx, actors.Config{
		PoolSize: pool,
		Env:      []string{"RKAT_SIM_TOKEN_DELAY=" + delay.String()},
		Logger:   logger,
	})
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := engine.Shutdown(sctx); err != nil {
			fmt.Fprintln(os.Stderr, "shutdown:", err)
		}
	}()
	printRuntimes("pool started", engine)

	sessions := make([]*actors.SessionRef, nSessions)
	for i := range sessions {
		s, err := engine.CreateSession(ctx, rpc.Text(fmt.Sprintf("You are session %d.", i)), rpc.SessionOptions{})
		if err != nil {
			return err
		}
		sessions[i] = s
		fmt.Printf("session %d → %s (%s)\n", i, s.Runtime(), s.ID())
	}

	// Every session runs its turns; once a few have completed, the runtime
	// hosting the first session is killed.
	var wg sync.WaitGroup
	completed := make(chan struct{}, nSessions*nTurns)
	outcomes := make([][]string, nSessions)
	for i, s := range sessions {
		outcomes[i] = make([]string, nTurns)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range nTurns {
				res, err := s.Turn(ctx, rpc.Text(fmt.Sprintf("echo: session %d turn %d done", i, j)), rpc.TurnOptions{})
				outcomes[i][j] = describe(res, err)
				completed <- struct{}{}
			}
		}()
	}
	for range nSessions {
		select {
		case <-completed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	victim := sessions[0].Runtime()
	for _, r := range engine.Runtimes() {
		if r.Name == victim {
			fmt.Printf("\n*** SIGKILL %s (pid %d, hosting %d sessions) while turns run on it ***\n\n", r.Name, r.PID, r.Sessions)
			if err := syscall.Kill(r.PID, syscall.SIGKILL); err != nil {
				return err
			}
		}
	}
	wg.Wait()
	for i := range outcomes {
		for j, o := range outcomes[i] {
			fmt.Printf("session %d (%s) turn %d: %s\n", i, sessions[i].Runtime(), j, o)
		}
	}

	// Every session is usable after the crash.
	for i, s := range sessions {
		if _, err := s.Turn(ctx, rpc.Text("echo: still here"), rpc.TurnOptions{}); err != nil {
			return fmt.Errorf("session %d after the crash: %w", i, err)
		}
	}
	fmt.Println("\nevery session answered again after the crash")
	printRuntimes("pool after the crash", engine)
	return nil
}

// describe says how a turn ended.
func describe(res *actors.TurnResult, err error) string {
	var te *actors.TurnError
	switch {
	case err == nil && res.Recovered:
		return fmt.Sprintf("%q (completed before the crash; recovered from the history, not rerun)", res.Text)
	case err == nil && res.Attempts == 2:
		return fmt.Sprintf("%q (never reached the runtime's history; rerun once on the restarted runtime)", res.Text)
	case err == nil:
		return fmt.Sprintf("%q", res.Text)
	case errors.Is(err, actors.ErrTurnOutcomeUnknown) && errors.As(err, &te):
		return fmt.Sprintf("outcome unknown: the crash hit it half-way (its message committed=%v)", te.Committed)
	case errors.Is(err, actors.ErrTurnLost):
		return "lost: provably never ran; safe to resubmit"
	}
	return "error: " + err.Error()
}

func printRuntimes(title string, e *actors.Engine) {
	fmt.Printf("\n%s:\n", title)
	for _, r := range e.Runtimes() {
		fmt.Printf("  %-10s pid %-7d %-8s sessions %d  restarts %d  generation %d\n",
			r.Name, r.PID, r.State, r.Sessions, r.Restarts, r.Generation)
	}
	fmt.Println()
}
