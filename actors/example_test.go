package actors_test

import (
	"context"
	"errors"
	"fmt"
	"syscall"

	"github.com/mobd-dev/mobd/actors"
	"github.com/mobd-dev/mobd/rpc"
)

// Start an engine, run turns through a session actor, and keep going when
// the runtime hosting the session is killed.
func Example() {
	ctx := context.Background()
	engine, err := actors.Start(ctx, actors.Config{
		PoolSize:   2,
		BinaryPath: simBin, // the simulated runtime; leave empty for rkat-rpc
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer engine.Shutdown(ctx)

	session, err := engine.CreateSession(ctx, rpc.Text("What is the capital of France?"), rpc.SessionOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(session.Created().Text)

	// Kill the runtime process under the session: the supervisor restarts
	// it, the session actor re-attaches, the next turn waits and runs.
	for _, r := range engine.Runtimes() {
		if r.Name == session.Runtime() {
			_ = syscall.Kill(r.PID, syscall.SIGKILL)
		}
	}
	res, err := session.Turn(ctx, rpc.Text("What about Germany?"), rpc.TurnOptions{})
	switch {
	case errors.Is(err, actors.ErrTurnOutcomeUnknown), errors.Is(err, actors.ErrTurnLost):
		fmt.Println("the turn was lost in the crash:", err)
	case err != nil:
		fmt.Println(err)
	default:
		fmt.Println(res.Text)
	}
	// Output:
	// The capital of France is Paris.
	// The capital of Germany is Berlin.
}
