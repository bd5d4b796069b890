package flowtest_test

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain runs the tests and checks that no goroutine outlives them.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		// A late answer to a run that already ended is a dead letter;
		// protoactor's dead-letter throttle keeps a goroutine for its
		// interval after one, then ends it.
		if err := goleak.Find(goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1")); err != nil {
			fmt.Fprintf(os.Stderr, "goroutine leak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}
