package supervision_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// helperEnv selects a helper-process scenario: the test binary re-executes
// itself with it set (go-plugin's helper-process pattern), and TestMain runs
// the scenario instead of the tests.
const helperEnv = "SUPERVISION_TEST_HELPER"

func TestMain(m *testing.M) {
	if s := os.Getenv(helperEnv); s != "" {
		os.Exit(helperMain(s))
	}
	goleak.VerifyTestMain(m)
}

// helperCmd returns a command running the helper scenario.
func helperCmd(scenario string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+scenario,
		// Under -race, a process sleeps 1 s at exit by default.
		strings.TrimSpace("GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	return cmd
}

// helperMain runs a helper-process scenario and returns its exit status.
func helperMain(scenario string) int {
	switch scenario {
	case "crash": // write a lot to stderr, exit 3
		for i := range 60 {
			fmt.Fprintf(os.Stderr, "line %d\n", i)
		}
		return 3
	case "serve": // say ready, run until stdin closes (or a signal)
		fmt.Println("ready")
		_, _ = io.Copy(io.Discard, os.Stdin)
		return 0
	case "ignore-term": // ignore SIGTERM and stdin EOF: only SIGKILL ends it
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("ready")
		_, _ = io.Copy(io.Discard, os.Stdin)
		fmt.Println("stdin closed")
		time.Sleep(time.Hour)
		return 0
	case "echo": // greet, then echo stdin lines with a prefix
		fmt.Println("hello")
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			fmt.Println("echo: " + sc.Text())
		}
		return 0
	}
	fmt.Fprintln(os.Stderr, "unknown scenario", scenario)
	return 100
}
