package rpc

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// process is one runtime subprocess: its pipes, its stderr tail and the
// stop ladder (close stdin, SIGTERM, wait, SIGKILL).
type process struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout io.ReadCloser
	log    *zap.Logger
	tail   *lineRing

	waitOnce sync.Once
	exited   chan struct{}
	waitErr  error
	stderrWG sync.WaitGroup
}

// startProcess starts bin with args. The child gets the parent's
// environment plus env.
func startProcess(bin string, args, env []string, dir string, log *zap.Logger, tailLines int) (*process, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = dir
	cmd.SysProcAttr = procAttr()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("rpc: stdin pipe: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("rpc: stdout pipe: %w", err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("rpc: stderr pipe: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("rpc: start runtime %s: %w", bin, err)
	}
	growPipe(stdout)
	p := &process{
		cmd:    cmd,
		stdin:  stdin,
		stdout: stdout,
		log:    log.With(zap.Int("pid", cmd.Process.Pid)),
		tail:   newLineRing(tailLines),
		exited: make(chan struct{}),
	}
	p.stderrWG.Add(1)
	go p.drainStderr(stderr)
	return p, nil
}

// drainStderr copies the runtime's stderr into the logger and the tail
// ring until the pipe closes.
func (p *process) drainStderr(r io.Reader) {
	defer p.stderrWG.Done()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 16<<10), 1<<20)
	lg := p.log.Named("stderr")
	for sc.Scan() {
		line := sc.Text()
		p.tail.add(line)
		lg.Debug(line)
	}
	// Drain anything past an overlong line so the child never blocks.
	_, _ = io.Copy(io.Discard, r)
}

// wait reaps the process once and returns how it exited.
func (p *process) wait() error {
	p.waitOnce.Do(func() {
		// Stderr must be fully read before Wait closes the pipe.
		p.stderrWG.Wait()
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	})
	<-p.exited
	return p.waitErr
}

// exitError describes how the process ended, waiting up to d for it.
func (p *process) exitError(d time.Duration, cause error) *ExitError {
	go func() { _ = p.wait() }()
	e := &ExitError{ExitCode: -1, Err: cause}
	select {
	case <-p.exited:
		var ee *exec.ExitError
		switch {
		case p.waitErr == nil:
			e.ExitCode = 0
		case errors.As(p.waitErr, &ee):
			e.ExitCode = ee.ExitCode()
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				e.Signal = ws.Signal().String()
			}
		}
	case <-time.After(d):
	}
	e.Stderr = p.tail.lines()
	return e
}

// stop runs the ladder: close stdin, SIGTERM, wait up to grace, SIGKILL.
// It returns once the process has been reaped.
func (p *process) stop(grace time.Duration) {
	_ = p.stdin.Close()
	go func() { _ = p.wait() }()
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return
	case <-time.After(grace):
	}
	p.log.Warn("runtime did not stop after SIGTERM; killing it", zap.Duration("grace", grace))
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// lineRing keeps the last n lines written to it.
type lineRing struct {
	mu    sync.Mutex
	buf   []string
	next  int
	count int
}

func newLineRing(n int) *lineRing {
	if n <= 0 {
		n = 1
	}
	return &lineRing{buf: make([]string, n)}
}

func (r *lineRing) add(line string) {
	const maxLen = 2048
	if len(line) > maxLen {
		line = line[:maxLen] + "…"
	}
	r.mu.Lock()
	r.buf[r.next] = line
	r.next = (r.next + 1) % len(r.buf)
	if r.count < len(r.buf) {
		r.count++
	}
	r.mu.Unlock()
}

// lines returns the kept lines, oldest first.
func (r *lineRing) lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, r.count)
	start := (r.next - r.count + len(r.buf)) % len(r.buf)
	for i := 0; i < r.count; i++ {
		out = append(out, r.buf[(start+i)%len(r.buf)])
	}
	return out
}
