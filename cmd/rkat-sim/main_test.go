package main_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rkat-sim-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "rkat-sim")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build rkat-sim: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// proc is a running rkat-sim.
type proc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	stderr *strings.Builder
	done   chan struct{} // closed once the process has been waited for
	err    error         // cmd.Wait's result, set before done closes
}

func start(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, stdin: stdin, lines: make(chan string, 1000), stderr: &strings.Builder{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		defer close(p.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
	}()
	go func() {
		<-readDone
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	return p
}

func (p *proc) send(t *testing.T, line string) {
	t.Helper()
	if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// waitLine returns the first output line containing substr.
func (p *proc) waitLine(t *testing.T, substr string) string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				t.Fatalf("stdout closed before %q; stderr:\n%s", substr, p.stderr)
			}
			if !json.Valid([]byte(l)) && !strings.Contains(substr, "garbage") {
				t.Fatalf("non-JSON stdout line %q", l)
			}
			if strings.Contains(l, substr) {
				return l
			}
		case <-deadline:
			t.Fatalf("timed out waiting for %q", substr)
		}
	}
}

func (p *proc) exitCode(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
		err := p.err
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				return -int(ws.Signal())
			}
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(10 * time.Second):
		t.Fatal("process did not exit")
		return -1
	}
}

const initReq = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`

func TestExitZeroOnEOF(t *testing.T) {
	p := start(t, nil)
	p.send(t, initReq)
	p.waitLine(t, `"contract_version":"0.8.26"`)
	_ = p.stdin.Close()
	if code := p.exitCode(t); code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, p.stderr)
	}
}

func TestExitZeroOnSIGTERM(t *testing.T) {
	p := start(t, []string{"RKAT_SIM_LOG_LEVEL=debug"}, "--realm", "r", "--state-root", t.TempDir(), "--live-ws", "127.0.0.1:0", "--live-webrtc")
	p.send(t, initReq)
	p.waitLine(t, `"id":1`)
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.exitCode(t); code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, p.stderr)
	}
	if !strings.Contains(p.stderr.String(), "rkat-sim started") {
		t.Fatalf("no log on stderr: %q", p.stderr)
	}
}

func TestCrashExitsThree(t *testing.T) {
	p := start(t, nil)
	p.send(t, `{"jsonrpc":"2.0","id":1,"method":"session/create","params":{"prompt":"count to 20 [[sim:crash]]"}}`)
	p.waitLine(t, `"text_delta"`)
	if code := p.exitCode(t); code != 3 {
		t.Fatalf("exit %d", code)
	}
}

func TestHardHangNeedsKill(t *testing.T) {
	p := start(t, nil)
	p.send(t, `{"jsonrpc":"2.0","id":1,"method":"session/create","params":{"prompt":"hi [[sim:hang hard]]"}}`)
	p.waitLine(t, `"turn_started"`)
	// SIGTERM before EOF, then EOF: neither may end a hard hang.
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	time.Sleep(50 * time.Millisecond)
	_ = p.stdin.Close()
	select {
	case <-p.done:
		t.Fatalf("hard-hung process exited: %v", p.err)
	case <-time.After(300 * time.Millisecond):
	}
	_ = p.cmd.Process.Kill()
	if code := p.exitCode(t); code != -int(syscall.SIGKILL) {
		t.Fatalf("exit %d", code)
	}
}

func TestSoftHangExitsOnSIGTERM(t *testing.T) {
	p := start(t, []string{"RKAT_SIM_TOKEN_DELAY=1ms"})
	p.send(t, `{"jsonrpc":"2.0","id":1,"method":"session/create","params":{"prompt":"hi [[sim:hang]]"}}`)
	p.waitLine(t, `"turn_started"`)
	_ = p.stdin.Close()
	select {
	case <-p.done:
		t.Fatalf("hung process exited at EOF: %v", p.err)
	case <-time.After(200 * time.Millisecond):
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.exitCode(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

func TestTranscriptDirAndBadFlags(t *testing.T) {
	dir := t.TempDir()
	p := start(t, []string{"RKAT_SIM_TRANSCRIPT_DIR=" + dir})
	p.send(t, initReq)
	p.waitLine(t, `"id":1`)
	_ = p.stdin.Close()
	if code := p.exitCode(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
	files, _ := filepath.Glob(filepath.Join(dir, fmt.Sprintf("sim-%d-*.jsonl", p.cmd.Process.Pid)))
	if len(files) != 1 {
		t.Fatalf("transcript files = %v", files)
	}
	data, _ := os.ReadFile(files[0])
	if !strings.HasPrefix(string(data), `{"kind":"response","method":"initialize","msg":{`) {
		t.Fatalf("transcript = %q", data)
	}

	for _, args := range [][]string{{"--bogus"}, {"--realm", "a", "--isolated"}, {"--realm-backend", "mysql"}} {
		q := start(t, nil, args...)
		if code := q.exitCode(t); code != 2 {
			t.Errorf("%v: exit %d", args, code)
		}
	}
	q := start(t, []string{"RKAT_SIM_TOKEN_DELAY=bogus"})
	if code := q.exitCode(t); code != 2 {
		t.Errorf("bad env: exit %d", code)
	}
}
