package actors_test

import (
	"os"
	"testing"

	"github.com/mobd-dev/mobd/rpc/rpctest"
)

// simBin is the rkat-sim executable built for this test binary.
var simBin string

// TestMain builds rkat-sim once, runs the tests and checks that no
// goroutine outlives them.
func TestMain(m *testing.M) {
	os.Exit(rpctest.MainWithSim(m, &simBin))
}
