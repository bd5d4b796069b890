// Package mobdtest builds the mobd daemon for tests that run it as a
// process (end-to-end and browser tests).
package mobdtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Main is the body of a TestMain whose tests run the mobd executable: it
// builds mobd and rkat-sim (next to it, where `mobd serve --runtime sim`
// looks first) into a temporary directory, stores mobd's path in *mobdBin
// and runs the tests. With checkLeaks, passing tests are also checked with
// goleak for goroutines that outlive them. It returns the exit code for
// os.Exit; the directory is removed before it returns.
func Main(m *testing.M, mobdBin *string, checkLeaks bool) int {
	dir, err := os.MkdirTemp("", "mobd-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	*mobdBin = filepath.Join(dir, "mobd")
	for pkg, out := range map[string]string{
		"github.com/mobd-dev/mobd/cmd/mobd":     *mobdBin,
		"github.com/mobd-dev/mobd/cmd/rkat-sim": filepath.Join(dir, "rkat-sim"),
	} {
		if b, err := exec.CommandContext(ctx, "go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", pkg, err, b)
			return 2
		}
	}
	code := m.Run()
	if code == 0 && checkLeaks {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goroutine leak: %v\n", err)
			code = 1
		}
	}
	return code
}
