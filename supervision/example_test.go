package supervision_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"time"

	"github.com/mobd-dev/mobd/supervision"
)

// A child that fails twice before it comes up: the supervisor restarts it
// after growing delays, and reports every transition to its hook.
func ExampleNew() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	sup := supervision.New("root", supervision.Spec{
		Backoff: supervision.Backoff{Base: 10 * time.Millisecond, Jitter: -1},
		EventHook: func(e supervision.Event) {
			fmt.Println(e)
			if e.Type() == supervision.EventTypeStarted {
				cancel() // seen enough: shut down
			}
		},
	})
	attempts := 0
	worker := supervision.ChildFunc(func(ctx context.Context, ready func()) error {
		if attempts++; attempts < 3 {
			return errors.New("connection refused")
		}
		ready()
		<-ctx.Done()
		return nil
	})
	if err := sup.Add("worker", worker, supervision.ChildSpec{}); err != nil {
		fmt.Println(err)
	}
	if err := sup.Serve(ctx); err != nil {
		fmt.Println(err)
	}
	// Output:
	// root/worker crashed (attempt 0): connection refused
	// root/worker restarting in 10ms (attempt 1)
	// root/worker restarted (attempt 1)
	// root/worker crashed (attempt 1): connection refused
	// root/worker restarting in 20ms (attempt 2)
	// root/worker restarted (attempt 2)
	// root/worker started (attempt 2)
	// root/worker stopped (shutdown)
}

// A higher layer that owns a client over each incarnation of a process
// implements Child itself around Exec: start the process, attach, call
// ready, and stop the process when asked to.
func ExampleExec() {
	runtime := supervision.ChildFunc(func(ctx context.Context, ready func()) error {
		inc, err := supervision.Exec(exec.Command("rkat-rpc"), supervision.ExecOptions{})
		if err != nil {
			return err
		}
		// Stands in for an RPC client over inc.Stdin() and inc.Stdout().
		replies := bufio.NewScanner(inc.Stdout())
		if _, err := fmt.Fprintln(inc.Stdin(), `{"jsonrpc":"2.0","id":1,"method":"initialize"}`); err != nil || !replies.Scan() {
			return errors.Join(errors.New("handshake failed"), inc.Stop())
		}
		ready()
		select {
		case <-inc.Done():
			return inc.Wait() // an *ExitReport: exit status, last stderr lines
		case <-ctx.Done():
			return inc.Stop() // close stdin, SIGTERM, SIGKILL
		}
	})

	sup := supervision.New("runtimes", supervision.Spec{})
	_ = sup.Add("rt-1", runtime, supervision.ChildSpec{StartTimeout: 10 * time.Second})
}
