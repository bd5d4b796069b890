package rpc_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mobd-dev/mobd/internal/contract"
	"github.com/mobd-dev/mobd/rpc/rpctest"
	"go.uber.org/goleak"
)

// simBin is the rkat-sim executable built for this test binary.
var simBin string

// TestMain builds rkat-sim, records everything every simulated runtime in
// the suite writes, and checks the whole record against the contract's
// schemas once the tests have run: the simulator cannot drift from the
// real runtime's wire format without failing this package.
func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "rpc-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer os.RemoveAll(dir)
	transcripts := filepath.Join(dir, "transcripts")
	if err := os.Mkdir(transcripts, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	os.Setenv(rpctest.TranscriptEnv, transcripts)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if simBin, err = rpctest.BuildSim(ctx, dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	code := m.Run()
	if code != 0 {
		return code
	}
	if err := goleak.Find(); err != nil {
		fmt.Fprintf(os.Stderr, "goroutine leak: %v\n", err)
		return 1
	}
	if err := validateTranscripts(transcripts); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// validateTranscripts checks every recorded simulator message against the
// contract.
func validateTranscripts(dir string) error {
	cdir, err := contract.Dir()
	if err != nil {
		return fmt.Errorf("contract validation: %w", err)
	}
	c, err := contract.Load(cdir)
	if err != nil {
		return fmt.Errorf("contract validation: %w", err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		if f := flag.Lookup("test.run"); f != nil && f.Value.String() != "" {
			return nil // a filtered run may start no simulator
		}
		return fmt.Errorf("contract validation: no simulator transcript was recorded")
	}
	lines, byMethod := 0, map[string]int{}
	var failures []error
	for _, f := range files {
		rep, err := c.ValidateTranscript(f)
		lines += rep.Lines
		for m, n := range rep.ByMethod {
			byMethod[m] += n
		}
		if err != nil {
			failures = append(failures, fmt.Errorf("%s: %w", filepath.Base(f), err))
		}
	}
	if len(failures) > 0 {
		return fmt.Errorf("contract validation: simulator wrote messages the contract rejects:\n%v", failures)
	}
	if testing.Verbose() {
		fmt.Printf("contract validation: %d simulator messages in %d transcripts conform (%d message kinds)\n", lines, len(files), len(byMethod))
	}
	return nil
}
