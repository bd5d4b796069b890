package actors_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/mobd-dev/mobd/rpc/rpctest"
	"go.uber.org/goleak"
)

// simBin is the rkat-sim executable built for this test binary.
var simBin string

// TestMain builds rkat-sim once, runs the tests and checks that no
// goroutine outlives them.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "actors-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	simBin, err = rpctest.BuildSim(ctx, dir)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(2)
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goroutine leak: %v\n", err)
			code = 1
		}
	}
	os.RemoveAll(dir)
	os.Exit(code)
}
