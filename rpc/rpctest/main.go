package rpctest

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// IgnoreDeadLetterThrottle is the goleak option for protoactor's
// dead-letter throttle: after a message to a stopped actor (a late answer
// to a run that already ended, say) it keeps a goroutine for its interval,
// then ends it.
var IgnoreDeadLetterThrottle = goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1")

// MainWithSim is the body of a TestMain whose tests run the rkat-sim
// executable: it builds the simulator into a temporary directory, stores
// its path in *simBin, runs the tests and, when they pass, checks with
// goleak (and leakOpts) that no goroutine outlives them. It returns the
// exit code for os.Exit; the directory is removed before it returns.
func MainWithSim(m *testing.M, simBin *string, leakOpts ...goleak.Option) int {
	dir, err := os.MkdirTemp("", "rkat-sim-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	*simBin, err = BuildSim(ctx, dir)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(leakOpts...); err != nil {
			fmt.Fprintf(os.Stderr, "goroutine leak: %v\n", err)
			code = 1
		}
	}
	return code
}
