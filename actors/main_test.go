package actors_test

import (
	"os"
	"testing"

	"github.com/mobd-dev/mobd/rpc/rpctest"
)

// simBin is the rkat-sim executable built for this test binary.
var simBin string

// TestMain builds rkat-sim once, runs the tests and checks that no
// goroutine outlives them (but protoactor's dead-letter log throttle,
// which outlives a test that stops actors under their users on purpose
// for a second).
func TestMain(m *testing.M) {
	os.Exit(rpctest.MainWithSim(m, &simBin, rpctest.IgnoreDeadLetterThrottle))
}
