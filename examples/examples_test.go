// Package examples_test builds every example and runs it against the
// simulated runtime, as a user would run it.
package examples_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mobd-dev/mobd/rpc/rpctest"
	"go.uber.org/goleak"
)

var binDir, simBin string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "examples-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if simBin, err = rpctest.BuildSim(ctx, dir); err != nil {
		panic(err)
	}
	binDir = filepath.Join(dir, "examples")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", binDir+"/", "github.com/mobd-dev/mobd/examples/...").CombinedOutput(); err != nil {
		panic(string(out))
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			panic(err)
		}
	}
	return code
}

// runExample runs an example with env and returns its combined output.
func runExample(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, name), args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s failed: %v\n%s", name, err, out)
	}
	return string(out)
}

func TestExamplesOnSimulator(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"quickstart", []string{"What", "is", "the", "capital", "of", "France?"}, []string{"Paris", "tokens]"}},
		{"getting-started", nil, []string{"Paris", "Berlin"}},
		{"multiturn", nil, []string{"Turn 1:", "180", "Turn 2:", "60"}},
		{"streaming", nil, []string{"First turn:", "Tokens:", "Run total:"}},
		{"structured-output", nil, []string{`"city"`, "decoded:"}},
		{"builtin-tools", nil, []string{"Response:", "Tool calls made:"}},
		{"multimodal", nil, []string{"1 image"}},
		{"capabilities", nil, []string{"Available capabilities:", "sessions:", "Comms capability confirmed"}},
		{"skills", nil, []string{"Invoking skill", "Using skill"}},
		{"callback-tools", nil, []string{"18°C", "Tool calls made: 1"}},
		{"mob", nil, []string{"member lead-1 (lead)", "completed", "mob events seen:"}},
		{"supervised", nil, []string{"every session answered again after the crash"}},
		{"research", nil, []string{"flow research is expressible as Meerkat JSON", "journal: ", "step dig dispatched to analyst-2",
			"step dig completed", "flow research completed", "dig        completed analyst-1=completed/1 analyst-2=completed/1 analyst-3=completed/1",
			`plan: questions ["sim questions"]`, "analyst-3 on \"sim question\"", "report: {Summary:sim summary Sources:42}", "usage (turn_sum): "}},
		{"meerkat-mob", nil, []string{"incident.json and incident.toml load to equal models", "investigator-2  investigator  active",
			"flow respond: completed", "ticket       skipped    branch response took page", "page         completed  lead completed",
			`assess       (json) {"customer_impact":true,"severity":"high","summary":"sim summary"}`, `report       (json) {"follow_ups":["sim follow ups"]`}},
		{"meerkat-mob", []string{"quiet=true", "incident=disk full on db-3"}, []string{`"quiet":true`, "disk full on db-3", "flow respond: completed",
			"page         skipped    branch response took ticket", "ticket       completed  scribe completed", `report       (json) {"follow_ups"`}},
	}
	env := []string{"MEERKAT_BIN_PATH=" + simBin, "RKAT_SIM_TRANSCRIPT_DIR="}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out := runExample(t, env, tt.name, tt.args...)
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// TestQuickstartWithAnotherRuntime runs the quickstart unchanged against a
// different rkat-rpc-compatible executable: once named by
// MEERKAT_BIN_PATH, once found as rkat-rpc on PATH.
func TestQuickstartWithAnotherRuntime(t *testing.T) {
	dir := t.TempDir()
	wrapper := filepath.Join(dir, "rkat-rpc")
	script := "#!/bin/sh\nexec " + simBin + " \"$@\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	out := runExample(t, []string{"MEERKAT_BIN_PATH=" + wrapper, "RKAT_SIM_TRANSCRIPT_DIR="}, "quickstart", "echo:", "hello", "there")
	if !strings.Contains(out, "hello there") {
		t.Fatalf("via MEERKAT_BIN_PATH:\n%s", out)
	}
	out = runExample(t, []string{"MEERKAT_BIN_PATH=", "PATH=" + dir + ":" + os.Getenv("PATH"), "RKAT_SIM_TRANSCRIPT_DIR="}, "quickstart", "echo:", "found", "on", "PATH")
	if !strings.Contains(out, "found on PATH") {
		t.Fatalf("via PATH:\n%s", out)
	}
}

func TestQuickstartUsage(t *testing.T) {
	cmd := exec.Command(filepath.Join(binDir, "quickstart"))
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "usage:") {
		t.Fatalf("no prompt: err=%v out=%s", err, out)
	}
}
