// Package rpctest runs the simulated Meerkat runtime for tests: in-process
// over pipes (fast, no build step) or as the real rkat-sim executable
// (for process-level behaviour such as crashes and signals).
//
// Both honour RKAT_SIM_TRANSCRIPT_DIR: when it is set, every message the
// simulated runtime writes is recorded there, so a test binary can check
// the whole transcript against the runtime's published contract.
package rpctest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mobd-dev/mobd/rpc"
	"github.com/mobd-dev/mobd/sim"
	"go.uber.org/zap/zaptest"
)

// TranscriptEnv names the directory where simulated runtimes record what
// they write.
const TranscriptEnv = "RKAT_SIM_TRANSCRIPT_DIR"

var transcriptSeq atomic.Int64

// transcriptPath returns a fresh transcript file path, or "" when
// recording is off.
func transcriptPath() string {
	dir := os.Getenv(TranscriptEnv)
	if dir == "" {
		return ""
	}
	return filepath.Join(dir, fmt.Sprintf("inproc-%d-%d.jsonl", os.Getpid(), transcriptSeq.Add(1)))
}

// Runtime is an in-process simulated runtime with a connected client.
type Runtime struct {
	// Client is connected to the simulated runtime.
	Client *rpc.Client
	done   chan error
}

// Start runs sim.Serve in-process, connects a client to it over pipes and
// registers cleanup that closes both and checks the runtime ended cleanly.
// A nil opts.Logger is replaced by a test logger.
func Start(t testing.TB, simOpts sim.Options, opts rpc.Options) *Runtime {
	t.Helper()
	rt, err := StartE(context.Background(), t, simOpts, opts)
	if err != nil {
		t.Fatalf("rpctest: start simulated runtime: %v", err)
	}
	return rt
}

// StartE is Start returning the connect error instead of failing the test.
func StartE(ctx context.Context, t testing.TB, simOpts sim.Options, opts rpc.Options) (*Runtime, error) {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = zaptest.NewLogger(t)
	}
	if simOpts.TranscriptPath == "" {
		simOpts.TranscriptPath = transcriptPath()
	}
	toSim, fromClient := io.Pipe()
	toClient, fromSim := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := sim.Serve(context.Background(), toSim, fromSim, simOpts)
		_ = fromSim.Close()
		_ = toSim.Close()
		done <- err
	}()
	c, err := rpc.ConnectStreams(ctx, toClient, fromClient, opts)
	if err != nil {
		_ = fromClient.Close()
		_ = toClient.Close()
		<-done
		return nil, err
	}
	rt := &Runtime{Client: c, done: done}
	t.Cleanup(func() {
		_ = c.Close()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, io.ErrClosedPipe) {
				t.Errorf("rpctest: simulated runtime ended with %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("rpctest: simulated runtime did not stop within 10s of the client closing")
		}
	})
	return rt, nil
}

// BuildSim builds cmd/rkat-sim into dir and returns the executable's path.
// Call it once from TestMain; it needs the go command.
func BuildSim(ctx context.Context, dir string) (string, error) {
	out := filepath.Join(dir, "rkat-sim")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "github.com/mobd-dev/mobd/cmd/rkat-sim")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("rpctest: build rkat-sim: %v\n%s", err, b)
	}
	return out, nil
}
