package console_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// mobdBin is the mobd executable built for this test binary, with rkat-sim
// next to it (where `--runtime sim` looks first).
var mobdBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "console-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	mobdBin = filepath.Join(dir, "mobd")
	for pkg, out := range map[string]string{"../cmd/mobd": mobdBin, "../cmd/rkat-sim": filepath.Join(dir, "rkat-sim")} {
		if b, err := exec.CommandContext(ctx, "go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", pkg, err, b)
			cancel()
			os.RemoveAll(dir)
			os.Exit(2)
		}
	}
	cancel()
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
