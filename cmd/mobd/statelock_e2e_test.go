//go:build unix

package main

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A second daemon on a state directory another one runs on is refused,
// naming the directory and the holder, and the first one goes on.
func TestE2ESecondDaemonOnStateRefused(t *testing.T) {
	t.Parallel()
	addr := freePort(t)
	state := filepath.Join(t.TempDir(), "state")
	first := startMobd(t, addr, state)
	cmd := exec.Command(mobdBin, "serve", "--runtime", "sim", "--listen", freePort(t), "--state", state, "--pool-size", "1")
	cmd.Env = cleanEnv("MOBD_AUTH_TOKEN=" + e2eToken)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || !strings.Contains(string(out), state) || !strings.Contains(string(out), fmt.Sprintf("pid %d", first.cmd.Process.Pid)) {
		t.Fatalf("second daemon: %v\n%s", err, out)
	}
	if out := cli(t, addr, "mobs"); !strings.Contains(out, "MOB") {
		t.Fatalf("the first daemon after the refused second: %s", out)
	}
}
